//! The outbound guard: which addresses Hookline may call.
//!
//! Every outbound call (deliveries, provider registration) goes to an address
//! a user configured, so without a guard anyone who can register a receiver
//! could make Hookline call its own loopback services, the private network or
//! a cloud metadata endpoint (SSRF). The guard refuses those ranges unless an
//! operator allow-lists them with `HOOKLINE_ALLOWED_TARGETS`.
//!
//! It works at two moments:
//! - [`OutboundGuard::check_url`] up front (a registration naming a refused
//!   receiver is answered 422), refusing when *any* resolved address is
//!   refused;
//! - [`GuardedResolver`] at connect time, installed as the HTTP client's DNS
//!   resolver, so a name that resolves differently later (DNS rebinding)
//!   still cannot reach a refused address. The HTTP client does not consult
//!   a resolver for IP-literal hosts; [`crate::client::send`] checks those
//!   itself with [`OutboundGuard::check_target`].

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use url::{Host, Url};

/// IPv4 ranges that are not the public internet, with why each is refused.
const REFUSED_V4: &[(Ipv4Net, &str)] = &[
    (
        v4(0, 0, 0, 0, 8),
        "\"this network\" (includes the unspecified address)",
    ),
    (v4(10, 0, 0, 0, 8), "private (RFC 1918)"),
    (v4(100, 64, 0, 0, 10), "carrier-grade NAT (RFC 6598)"),
    (v4(127, 0, 0, 0, 8), "loopback"),
    (
        v4(169, 254, 0, 0, 16),
        "link-local (includes cloud metadata 169.254.169.254)",
    ),
    (v4(172, 16, 0, 0, 12), "private (RFC 1918)"),
    (v4(192, 0, 0, 0, 24), "IETF protocol assignments"),
    (v4(192, 0, 2, 0, 24), "documentation (TEST-NET-1)"),
    (v4(192, 168, 0, 0, 16), "private (RFC 1918)"),
    (v4(198, 18, 0, 0, 15), "benchmarking"),
    (v4(198, 51, 100, 0, 24), "documentation (TEST-NET-2)"),
    (v4(203, 0, 113, 0, 24), "documentation (TEST-NET-3)"),
    (v4(224, 0, 0, 0, 4), "multicast"),
    (
        v4(240, 0, 0, 0, 4),
        "reserved (includes broadcast 255.255.255.255)",
    ),
];

/// IPv6 ranges that are not the public internet. Forms that embed an IPv4
/// address (mapped, compatible, NAT64) are judged by that address instead.
const REFUSED_V6: &[(Ipv6Net, &str)] = &[
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "unspecified"),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "loopback"),
    (v6([0x0100, 0, 0, 0, 0, 0, 0, 0], 64), "discard-only"),
    (
        v6([0x0064, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        "local-use NAT64 (RFC 8215)",
    ),
    (v6([0x2001, 0x0db8, 0, 0, 0, 0, 0, 0], 32), "documentation"),
    (
        v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        "unique-local (includes AWS metadata fd00:ec2::254)",
    ),
    (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), "link-local"),
    (
        v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),
        "site-local (deprecated)",
    ),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "multicast"),
];

/// The NAT64 well-known prefix: `64:ff9b::a.b.c.d` reaches `a.b.c.d` through a
/// translator, so it is judged as that IPv4 address.
const NAT64: Ipv6Net = v6([0x0064, 0xff9b, 0, 0, 0, 0, 0, 0], 96);

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

const fn v6(s: [u16; 8], len: u8) -> Ipv6Net {
    Ipv6Net::new_assert(
        Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
        len,
    )
}

/// Why a URL may not be called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// The host is, or resolves to, a refused address.
    #[error(
        "{host} resolves to {addr}, a {why} address that Hookline does not call by default; \
         set HOOKLINE_ALLOWED_TARGETS={range} (or {addr_net} for this address only) to allow it"
    )]
    NotAllowed {
        host: String,
        addr: IpAddr,
        /// What kind of range the address is in ("loopback", …).
        why: &'static str,
        /// The refused range the address falls in, the usual thing to allow.
        range: IpNet,
        /// The single-address network of `addr` (IPv4 form for mapped addresses).
        addr_net: IpNet,
    },
    /// DNS gave no address. Kept apart from [`GuardError::NotAllowed`] so a
    /// caller can decide: a registration may name a host that resolves only
    /// later, while a delivery attempt simply fails.
    #[error("{host} could not be resolved: {reason}")]
    Unresolvable { host: String, reason: String },
    #[error("the URL scheme `{0}` is not allowed; use http or https")]
    Scheme(String),
    #[error("the URL has no host")]
    NoHost,
}

impl GuardError {
    /// Stable snake_case code, for the HTTP layer's error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            GuardError::NotAllowed { .. } => "target_not_allowed",
            GuardError::Unresolvable { .. } => "target_unresolvable",
            GuardError::Scheme(_) | GuardError::NoHost => "invalid_target",
        }
    }
}

/// Decides which addresses outbound calls may reach. Cheap to share behind an
/// `Arc`; it holds only the operator's allow-list.
#[derive(Debug, Clone, Default)]
pub struct OutboundGuard {
    /// CIDRs the operator allowed although they are refused by default
    /// (`HOOKLINE_ALLOWED_TARGETS`). Public addresses need no entry.
    allowed: Vec<IpNet>,
}

/// Where a refused address falls: the range and its description.
struct Refusal {
    range: IpNet,
    why: &'static str,
    /// The address as judged (the embedded IPv4 address for mapped forms).
    judged: IpAddr,
}

impl OutboundGuard {
    pub fn new(allowed: Vec<IpNet>) -> Self {
        // `trunc` so that `10.1.2.3/8` means the network the operator meant.
        let allowed = allowed.into_iter().map(|n| n.trunc()).collect();
        OutboundGuard { allowed }
    }

    /// The allow-list as configured (normalised to network addresses).
    pub fn allowed(&self) -> &[IpNet] {
        &self.allowed
    }

    /// Whether an outbound call may reach `ip`.
    pub fn is_allowed(&self, ip: IpAddr) -> bool {
        self.refusal(ip).is_none()
    }

    fn refusal(&self, ip: IpAddr) -> Option<Refusal> {
        let judged = embedded_v4(ip).map_or(ip, IpAddr::V4);
        // An allow-list entry matches either form, so `127.0.0.0/8` also
        // allows `::ffff:127.0.0.1`, and `::ffff:0:0/96` can be listed as is.
        if self
            .allowed
            .iter()
            .any(|n| n.contains(&ip) || n.contains(&judged))
        {
            return None;
        }
        let found = match judged {
            IpAddr::V4(v4) => REFUSED_V4
                .iter()
                .find(|(net, _)| net.contains(&v4))
                .map(|(net, why)| (IpNet::V4(*net), *why)),
            IpAddr::V6(v6) => REFUSED_V6
                .iter()
                .find(|(net, _)| net.contains(&v6))
                .map(|(net, why)| (IpNet::V6(*net), *why)),
        };
        found.map(|(range, why)| Refusal { range, why, judged })
    }

    fn not_allowed(&self, host: &str, addr: IpAddr) -> Option<GuardError> {
        self.refusal(addr).map(|r| GuardError::NotAllowed {
            host: host.to_owned(),
            addr,
            why: r.why,
            range: r.range,
            addr_net: IpNet::from(r.judged),
        })
    }

    /// Checks what can be checked without DNS: the scheme, and the address
    /// when the host is an IP literal. Returns the host name when DNS is
    /// still needed. The send path relies on this because the HTTP client
    /// skips its resolver for IP literals.
    pub fn check_target<'u>(&self, url: &'u Url) -> Result<Option<&'u str>, GuardError> {
        match url.scheme() {
            "http" | "https" => {}
            other => return Err(GuardError::Scheme(other.to_owned())),
        }
        let host = url.host().ok_or(GuardError::NoHost)?;
        let ip = match host {
            Host::Domain(name) => return Ok(Some(name)),
            Host::Ipv4(v4) => IpAddr::V4(v4),
            Host::Ipv6(v6) => IpAddr::V6(v6),
        };
        match self.not_allowed(&ip.to_string(), ip) {
            Some(err) => Err(err),
            None => Ok(None),
        }
    }

    /// Resolves the URL's host and refuses it when any of its addresses is
    /// refused, or when it is not http(s).
    pub async fn check_url(&self, url: &Url) -> Result<(), GuardError> {
        let Some(host) = self.check_target(url)? else {
            return Ok(());
        };
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs = lookup(host, port).await?;
        match addrs.iter().find_map(|a| self.not_allowed(host, a.ip())) {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

/// The IPv4 address an IPv6 address stands for, if it is an IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, deprecated but still
/// routed by some stacks) or NAT64 (`64:ff9b::a.b.c.d`) form.
fn embedded_v4(ip: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(v6) = ip else { return None };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    let compatible = s[..6] == [0; 6] && v6 != Ipv6Addr::UNSPECIFIED && v6 != Ipv6Addr::LOCALHOST;
    if compatible || NAT64.contains(&v6) {
        let o = v6.octets();
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    None
}

async fn lookup(host: &str, port: u16) -> Result<Vec<SocketAddr>, GuardError> {
    let unresolvable = |reason: String| GuardError::Unresolvable {
        host: host.to_owned(),
        reason,
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| unresolvable(e.to_string()))?
        .collect();
    if addrs.is_empty() {
        return Err(unresolvable("no addresses".to_owned()));
    }
    Ok(addrs)
}

/// The HTTP client's DNS resolver: resolves like the system resolver, then
/// drops refused addresses. When none remain the connection fails with
/// [`GuardError::NotAllowed`], which [`crate::client::send`] finds in the
/// error chain.
#[derive(Clone)]
pub struct GuardedResolver {
    guard: Arc<OutboundGuard>,
}

impl GuardedResolver {
    pub fn new(guard: Arc<OutboundGuard>) -> Self {
        GuardedResolver { guard }
    }
}

impl fmt::Debug for GuardedResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedResolver").finish_non_exhaustive()
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.guard.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: the client substitutes the URL's port.
            let addrs = lookup(&host, 0).await?;
            let mut refused = None;
            let kept: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| match guard.not_allowed(&host, a.ip()) {
                    None => true,
                    Some(err) => {
                        tracing::debug!(%host, addr = %a.ip(), "dropping refused address");
                        refused.get_or_insert(err);
                        false
                    }
                })
                .collect();
            match refused {
                Some(err) if kept.is_empty() => Err(Box::new(err) as _),
                _ => Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn refuses_non_public_ranges_by_default() {
        let guard = OutboundGuard::new(vec![]);
        let table = [
            // (address, allowed)
            ("8.8.8.8", true),
            ("1.1.1.1", true),
            ("93.184.216.34", true),
            ("172.32.0.1", true),
            ("100.128.0.1", true),
            ("2606:4700:4700::1111", true),
            ("2001:4860::8888", true),
            ("127.0.0.1", false),
            ("127.255.255.254", false),
            ("0.0.0.0", false),
            ("10.1.2.3", false),
            ("172.16.0.1", false),
            ("172.31.255.255", false),
            ("192.168.1.1", false),
            ("100.64.0.1", false),
            ("100.127.255.255", false),
            ("169.254.169.254", false),
            ("169.254.0.1", false),
            ("192.0.2.10", false),
            ("198.51.100.7", false),
            ("203.0.113.9", false),
            ("198.18.0.1", false),
            ("224.0.0.1", false),
            ("239.255.255.250", false),
            ("255.255.255.255", false),
            ("240.0.0.1", false),
            ("::", false),
            ("::1", false),
            ("fe80::1", false),
            ("febf::1", false),
            ("fc00::1", false),
            ("fd00:ec2::254", false),
            ("ff02::1", false),
            ("2001:db8::1", false),
            // IPv4 forms hidden in IPv6 addresses.
            ("::ffff:127.0.0.1", false),
            ("::ffff:169.254.169.254", false),
            ("::ffff:10.0.0.1", false),
            ("::ffff:8.8.8.8", true),
            ("::127.0.0.1", false),
            ("::8.8.8.8", true),
            ("64:ff9b::7f00:1", false),
            ("64:ff9b::808:808", true),
            ("64:ff9b:1::1", false),
        ];
        for (addr, allowed) in table {
            assert_eq!(guard.is_allowed(ip(addr)), allowed, "{addr}");
        }
    }

    #[test]
    fn allow_list_opens_exactly_its_ranges() {
        let guard = OutboundGuard::new(nets(&["127.0.0.0/8", "::1/128", "10.1.0.0/16"]));
        let table = [
            ("127.0.0.1", true),
            ("127.1.2.3", true),
            ("::ffff:127.0.0.1", true),
            ("::1", true),
            ("10.1.200.3", true),
            ("10.2.0.1", false),
            ("192.168.1.1", false),
            ("169.254.169.254", false),
            ("fe80::1", false),
            ("8.8.8.8", true),
        ];
        for (addr, allowed) in table {
            assert_eq!(guard.is_allowed(ip(addr)), allowed, "{addr}");
        }
        // A host-bits-set CIDR means its network.
        let guard = OutboundGuard::new(nets(&["192.168.7.9/24"]));
        assert!(guard.is_allowed(ip("192.168.7.200")));
        assert!(!guard.is_allowed(ip("192.168.8.1")));
    }

    #[test]
    fn refusal_says_how_to_allow_it() {
        let guard = OutboundGuard::new(vec![]);
        let url = Url::parse("http://[::ffff:127.0.0.1]:8080/hook").unwrap();
        let err = guard.check_target(&url).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("HOOKLINE_ALLOWED_TARGETS=127.0.0.0/8"),
            "{text}"
        );
        assert!(text.contains("127.0.0.1/32"), "{text}");
        assert!(text.contains("loopback"), "{text}");
        assert_eq!(err.code(), "target_not_allowed");
    }

    #[test]
    fn check_target_handles_schemes_and_literals() {
        let guard = OutboundGuard::new(vec![]);
        let check = |u: &str| {
            guard
                .check_target(&Url::parse(u).unwrap())
                .map(|h| h.map(str::to_owned))
        };
        assert_eq!(
            check("https://example.com/x"),
            Ok(Some("example.com".to_owned()))
        );
        assert_eq!(check("http://8.8.8.8/x"), Ok(None));
        assert!(matches!(check("ftp://example.com/"), Err(GuardError::Scheme(s)) if s == "ftp"));
        assert!(matches!(
            check("file:///etc/passwd"),
            Err(GuardError::Scheme(_))
        ));
        // The URL parser normalises odd IPv4 spellings; they stay refused.
        assert!(matches!(
            check("http://2130706433/"),
            Err(GuardError::NotAllowed { .. })
        ));
        assert!(matches!(
            check("http://0x7f.1/"),
            Err(GuardError::NotAllowed { .. })
        ));
        assert!(matches!(
            check("http://[fd00:ec2::254]/"),
            Err(GuardError::NotAllowed { .. })
        ));
    }

    #[tokio::test]
    async fn check_url_resolves_names() {
        let url = Url::parse("http://localhost:9/hook").unwrap();
        let refused = OutboundGuard::new(vec![]).check_url(&url).await;
        assert!(
            matches!(refused, Err(GuardError::NotAllowed { ref host, .. }) if host == "localhost"),
            "{refused:?}"
        );
        let allowed = OutboundGuard::new(nets(&["127.0.0.0/8", "::1/128"]));
        assert_eq!(allowed.check_url(&url).await, Ok(()));
        let missing = Url::parse("http://nonexistent.invalid/").unwrap();
        assert!(matches!(
            allowed.check_url(&missing).await,
            Err(GuardError::Unresolvable { .. })
        ));
    }
}
