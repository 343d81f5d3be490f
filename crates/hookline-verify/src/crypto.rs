//! The crate's only HMAC computation and constant-time comparisons, plus the
//! hex/base64 decoders that turn signatures from headers into bytes.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use subtle::{Choice, ConstantTimeEq};

use crate::{HmacAlgorithm, VerifyError};

/// Standard base64 alphabet; encodes with padding, decodes with or without it
/// (providers and secret stores are not consistent about padding).
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// HMAC of the concatenation of `parts` under `key`.
///
/// Signed payloads are assembled from borrowed pieces (`"{t}." + body`) so the
/// body is never copied.
pub(crate) fn hmac(
    algorithm: HmacAlgorithm,
    key: &[u8],
    parts: &[&[u8]],
) -> Result<Vec<u8>, VerifyError> {
    fn run<M: Mac + hmac::digest::KeyInit>(
        key: &[u8],
        parts: &[&[u8]],
    ) -> Result<Vec<u8>, VerifyError> {
        // HMAC accepts keys of any length; the error arm is unreachable in
        // practice but is mapped rather than unwrapped.
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key)
            .map_err(|_| VerifyError::invalid_secret("the HMAC key was rejected"))?;
        for part in parts {
            mac.update(part);
        }
        Ok(mac.finalize().into_bytes().to_vec())
    }
    match algorithm {
        HmacAlgorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
        HmacAlgorithm::Sha256 => run::<Hmac<Sha256>>(key, parts),
        HmacAlgorithm::Sha512 => run::<Hmac<Sha512>>(key, parts),
    }
}

/// Whether any candidate equals `expected`. Every candidate is compared in
/// constant time and all of them are compared, so timing reveals neither
/// which one matched nor how many bytes of any of them were right.
pub(crate) fn matches_any<'c>(
    expected: &[u8],
    candidates: impl IntoIterator<Item = &'c [u8]>,
) -> bool {
    let mut matched = Choice::from(0);
    for candidate in candidates {
        matched |= expected.ct_eq(candidate);
    }
    matched.into()
}

/// Constant-time equality of two secrets of possibly different lengths.
///
/// Both sides are hashed first so that neither the length of the configured
/// secret nor a common prefix leaks through timing.
pub(crate) fn secret_eq(given: &[u8], configured: &[u8]) -> bool {
    Sha256::digest(given)
        .as_slice()
        .ct_eq(Sha256::digest(configured).as_slice())
        .into()
}

/// Hex (either case) to bytes.
pub(crate) fn decode_hex(s: &str) -> Option<Vec<u8>> {
    hex::decode(s).ok()
}

/// Standard base64, padding optional, to bytes.
pub(crate) fn decode_base64(s: &str) -> Option<Vec<u8>> {
    BASE64.decode(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values from RFC 4231 test case 2 and the RFC 2202 equivalent.
    const KEY: &[u8] = b"Jefe";
    const DATA: &[u8] = b"what do ya want for nothing?";

    #[test]
    fn hmac_matches_rfc_vectors_and_concatenates_parts() {
        let split: [&[u8]; 3] = [&DATA[..4], &DATA[4..10], &DATA[10..]];
        let cases = [
            (
                HmacAlgorithm::Sha1,
                "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
            ),
            (
                HmacAlgorithm::Sha256,
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                HmacAlgorithm::Sha512,
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
            ),
        ];
        for (alg, want) in cases {
            assert_eq!(hex::encode(hmac(alg, KEY, &[DATA]).unwrap()), want);
            assert_eq!(hex::encode(hmac(alg, KEY, &split).unwrap()), want);
        }
    }

    #[test]
    fn matches_any_finds_a_match_in_any_position() {
        let expected = [1u8, 2, 3];
        assert!(matches_any(&expected, [&[9u8][..], &[1, 2, 3]]));
        assert!(matches_any(&expected, [&[1u8, 2, 3][..], &[9]]));
        assert!(!matches_any(&expected, [&[1u8, 2][..], &[1, 2, 3, 4]]));
        assert!(!matches_any(&expected, std::iter::empty()));
    }

    #[test]
    fn secret_eq_compares_exactly() {
        assert!(secret_eq(b"user:pw", b"user:pw"));
        assert!(!secret_eq(b"user:pw", b"user:pw "));
        assert!(!secret_eq(b"", b"x"));
    }

    #[test]
    fn base64_accepts_missing_padding() {
        assert_eq!(decode_base64("aGk=").unwrap(), b"hi");
        assert_eq!(decode_base64("aGk").unwrap(), b"hi");
        assert!(decode_base64("a").is_none());
        assert!(decode_base64("!!!!").is_none());
    }
}
