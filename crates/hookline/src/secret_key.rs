//! The key that seals secrets at rest (see `hookline_store::sealed`):
//! `HOOKLINE_SECRET_KEY` (32 bytes, base64) when set; otherwise generated on
//! first start and saved with mode 0600 as `<data_dir>/secret.key`. Nodes
//! sharing a PostgreSQL database must share the key.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hookline_store::DocCipher;
use std::io::Write;
use std::path::Path;

const FILE: &str = "secret.key";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("secret_key must be 32 bytes in base64 (e.g. `openssl rand -base64 32`)")]
    Malformed,
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

fn decode(text: &str) -> Result<[u8; DocCipher::KEY_LEN], KeyError> {
    let t = text.trim();
    let bytes = STANDARD
        .decode(t)
        .or_else(|_| URL_SAFE_NO_PAD.decode(t))
        .map_err(|_| KeyError::Malformed)?;
    bytes.try_into().map_err(|_| KeyError::Malformed)
}

pub fn load(configured: &str, data_dir: &Path) -> Result<DocCipher, KeyError> {
    if !configured.is_empty() {
        return Ok(DocCipher::new(&decode(configured)?));
    }
    let path = data_dir.join(FILE);
    let io = |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    };
    if path.exists() {
        return Ok(DocCipher::new(&decode(
            &std::fs::read_to_string(&path).map_err(io)?,
        )?));
    }
    let key = DocCipher::generate_key();
    std::fs::create_dir_all(data_dir).map_err(io)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&path).map_err(io)?;
    writeln!(f, "{}", STANDARD.encode(key)).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(DocCipher::new(&key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reused_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let a = load("", dir.path()).unwrap();
        let b = load("", dir.path()).unwrap();
        assert_eq!(b.open(&a.seal("x")).unwrap(), "x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn configured_key_must_be_32_bytes() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            load("c2hvcnQ=", dir.path()),
            Err(KeyError::Malformed)
        ));
        let key = STANDARD.encode([7u8; 32]);
        let c = load(&key, dir.path()).unwrap();
        assert_eq!(
            load(&key, dir.path()).unwrap().open(&c.seal("y")).unwrap(),
            "y"
        );
        assert!(!dir.path().join(FILE).exists());
    }
}
