//! The SSRF guard for deliveries.
//!
//! Tenants choose the URLs Hookrail posts to, so a URL is untrusted input that
//! could aim the delivery worker at its own network: loopback services, the
//! cloud metadata endpoint, private subnets. Addresses are checked at the last
//! moment that counts: literal IP hosts before the request is built
//! ([`check_url`]), and names inside the HTTP client's resolver
//! ([`GuardedResolver`]), whose checked addresses are exactly the ones the
//! client connects to, so DNS rebinding between check and connect is moot.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

const UNSPECIFIED: &str = "unspecified";
const LOOPBACK: &str = "loopback";
const PRIVATE: &str = "private";
const LINK_LOCAL: &str = "link-local";
const CLOUD_METADATA: &str = "cloud-metadata";
const CGNAT: &str = "CGNAT";
const UNIQUE_LOCAL: &str = "unique-local";
const MULTICAST: &str = "multicast";
const BROADCAST: &str = "broadcast";
const RESERVED: &str = "reserved";

/// The User-Agent of every delivery.
const USER_AGENT: &str = "Hookrail-Webhooks/1.0";
/// Upper bound on connecting, so a black-holed endpoint fails fast even when
/// the overall timeout is generous.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

const fn v4(a: u8, b: u8, c: u8, d: u8) -> u32 {
    u32::from_be_bytes([a, b, c, d])
}

#[allow(clippy::too_many_arguments)]
const fn v6(a: u16, b: u16, c: u16, d: u16, e: u16, f: u16, g: u16, h: u16) -> u128 {
    Ipv6Addr::new(a, b, c, d, e, f, g, h).to_bits()
}

/// IPv4 special-purpose ranges, most specific first: the first match names the range.
/// Sources: the IANA IPv4 Special-Purpose Address Registry and RFC 5771 (multicast).
const V4_RANGES: &[(u32, u8, &str)] = &[
    // Checked before link-local so the refusal names what the attacker was after.
    (v4(169, 254, 169, 254), 32, CLOUD_METADATA),
    (v4(255, 255, 255, 255), 32, BROADCAST),
    (v4(0, 0, 0, 0), 8, UNSPECIFIED),
    (v4(127, 0, 0, 0), 8, LOOPBACK),
    (v4(10, 0, 0, 0), 8, PRIVATE),
    (v4(172, 16, 0, 0), 12, PRIVATE),
    (v4(192, 168, 0, 0), 16, PRIVATE),
    (v4(169, 254, 0, 0), 16, LINK_LOCAL),
    (v4(100, 64, 0, 0), 10, CGNAT),
    (v4(224, 0, 0, 0), 4, MULTICAST),
    (v4(240, 0, 0, 0), 4, RESERVED),
    // IETF protocol assignments (DS-Lite, NAT64 discovery, some cloud metadata).
    (v4(192, 0, 0, 0), 24, RESERVED),
    // Benchmarking.
    (v4(198, 18, 0, 0), 15, RESERVED),
    // Documentation (TEST-NET-1/2/3).
    (v4(192, 0, 2, 0), 24, RESERVED),
    (v4(198, 51, 100, 0), 24, RESERVED),
    (v4(203, 0, 113, 0), 24, RESERVED),
    // Deprecated 6to4 relay anycast.
    (v4(192, 88, 99, 0), 24, RESERVED),
];

/// IPv6 special-purpose ranges that carry no IPv4 address, most specific first.
/// Sources: the IANA IPv6 Special-Purpose Address Registry and RFC 4291.
const V6_RANGES: &[(u128, u8, &str)] = &[
    (v6(0, 0, 0, 0, 0, 0, 0, 0), 128, UNSPECIFIED),
    (v6(0, 0, 0, 0, 0, 0, 0, 1), 128, LOOPBACK),
    // AWS's IPv6 instance metadata endpoint, inside unique-local space.
    (
        v6(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254),
        128,
        CLOUD_METADATA,
    ),
    (v6(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, LINK_LOCAL),
    (v6(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, UNIQUE_LOCAL),
    (v6(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, MULTICAST),
    // Deprecated site-local.
    (v6(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, RESERVED),
    // Discard-only and the dummy prefix next to it.
    (v6(0x0100, 0, 0, 0, 0, 0, 0, 0), 64, RESERVED),
    (v6(0x0100, 0, 0, 1, 0, 0, 0, 0), 64, RESERVED),
    // Local-use IPv4/IPv6 translation: maps onto whatever the local translator reaches.
    (v6(0x0064, 0xff9b, 0x0001, 0, 0, 0, 0, 0), 48, RESERVED),
    // Benchmarking.
    (v6(0x2001, 0x0002, 0, 0, 0, 0, 0, 0), 48, RESERVED),
    // Documentation.
    (v6(0x2001, 0x0db8, 0, 0, 0, 0, 0, 0), 32, RESERVED),
    (v6(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20, RESERVED),
    // SRv6 segment identifiers.
    (v6(0x5f00, 0, 0, 0, 0, 0, 0, 0), 16, RESERVED),
];

/// NAT64 well-known prefix 64:ff9b::/96: the low 32 bits are an IPv4 address.
const NAT64: (u128, u8) = (v6(0x0064, 0xff9b, 0, 0, 0, 0, 0, 0), 96);
/// 6to4 2002::/16: bits 16..48 are an IPv4 address.
const SIX_TO_FOUR: (u128, u8) = (v6(0x2002, 0, 0, 0, 0, 0, 0, 0), 16);
/// IPv4-compatible ::/96 (deprecated): the low 32 bits are an IPv4 address.
const V4_COMPATIBLE: (u128, u8) = (0, 96);

fn in_v4(ip: u32, base: u32, prefix: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    ip & mask == base
}

fn in_v6(ip: u128, (base, prefix): (u128, u8)) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    ip & mask == base
}

fn classify_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = ip.to_bits();
    V4_RANGES
        .iter()
        .find(|(base, prefix, _)| in_v4(bits, *base, *prefix))
        .map(|(_, _, name)| *name)
}

/// The IPv4 address an IPv6 address stands for when connecting to it can end
/// up at that IPv4 address: mapped (dual-stack sockets), compatible, NAT64, 6to4.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(mapped) = ip.to_ipv4_mapped() {
        return Some(mapped);
    }
    let bits = ip.to_bits();
    // `::` and `::1` sit inside ::/96 but are IPv6's own, not IPv4-compatible.
    if (bits > 1 && in_v6(bits, V4_COMPATIBLE)) || in_v6(bits, NAT64) {
        // Truncation keeps exactly the low 32 bits, which is the embedded address.
        return Some(Ipv4Addr::from_bits(bits as u32));
    }
    if in_v6(bits, SIX_TO_FOUR) {
        return Some(Ipv4Addr::from_bits((bits >> 80) as u32));
    }
    None
}

/// The special-purpose range an address falls in, if any.
pub fn classify(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return classify_v4(v4);
            }
            let bits = v6.to_bits();
            V6_RANGES
                .iter()
                .find(|(base, prefix, _)| in_v6(bits, (*base, *prefix)))
                .map(|(_, _, name)| *name)
        }
    }
}

/// Why an allow-list could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// An entry is neither a CIDR range nor a bare IP address; holds the entry.
    #[error("allow-list entry {0:?} is not a CIDR range (e.g. 127.0.0.0/8) or an IP address")]
    InvalidEntry(String),
}

/// Which address ranges deliveries may reach.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    allowed: Vec<IpNet>,
}

impl AddressPolicy {
    /// Blocks every special-purpose range.
    pub fn strict() -> Self {
        Self::default()
    }

    /// Opens `allowed` ranges (operator allow-list), e.g. 127.0.0.0/8 for local development.
    pub fn allowing(allowed: Vec<IpNet>) -> Self {
        Self { allowed }
    }

    /// Parses a comma-separated CIDR list ("127.0.0.0/8,::1/128"); error names the bad entry.
    ///
    /// Blank entries are skipped so an empty setting means "nothing opened", and
    /// a bare address counts as a single-address range.
    pub fn parse_allow_list(list: &str) -> Result<Vec<IpNet>, PolicyError> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    // Shown back to the operator, so normalise 10.1.2.3/8 to 10.0.0.0/8.
                    .map(|net| net.trunc())
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| PolicyError::InvalidEntry(entry.to_owned()))
            })
            .collect()
    }

    /// Ok, or why this address is refused.
    pub fn check(&self, ip: IpAddr) -> Result<(), Blocked> {
        let Some(range) = classify(ip) else {
            return Ok(());
        };
        // A mapped address is the IPv4 address on the wire, so an IPv4 entry
        // opens it too; NAT64/6to4 forms are not, as they go via a translator.
        let mapped = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let opened = self
            .allowed
            .iter()
            .any(|net| net.contains(&ip) || mapped.is_some_and(|v4| net.contains(&v4)));
        if opened {
            Ok(())
        } else {
            Err(Blocked { ip, range })
        }
    }

    /// The allow-list, to tell the operator what is open.
    pub fn allowed(&self) -> &[IpNet] {
        &self.allowed
    }
}

/// A refused address and the special-purpose range it falls in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ip} is a {range} address")]
pub struct Blocked {
    /// The refused address.
    pub ip: IpAddr,
    /// The range's name, e.g. "loopback" or "cloud-metadata".
    pub range: &'static str,
}

/// Why a delivery target is refused before or while connecting.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// Not a usable absolute URL (unparsable, no host, or carries credentials).
    #[error("invalid target URL: {0}")]
    InvalidUrl(String),
    /// A scheme other than http or https; holds the scheme.
    #[error("unsupported URL scheme {0:?}: only http and https are delivered to")]
    UnsupportedScheme(String),
    /// The target address is in a blocked range.
    #[error(transparent)]
    Blocked(#[from] Blocked),
    /// The name could not be resolved.
    #[error("DNS resolution failed: {0}")]
    Dns(String),
    /// The HTTP client could not be built (e.g. the TLS backend failed to start).
    #[error("cannot build the delivery client: {0}")]
    Client(String),
}

/// Checks a target URL before any connection: http/https only, a host, no userinfo; a literal IP host is checked against the policy (DNS names are checked at connect time by the resolver).
///
/// This check is not optional: the HTTP client connects to literal IP hosts
/// without consulting any resolver, so [`GuardedResolver`] never sees them.
pub fn check_url(url: &str, policy: &AddressPolicy) -> Result<url::Url, TargetError> {
    // The parse error never quotes the URL, which may carry tokens in its query.
    let parsed = url::Url::parse(url).map_err(|err| TargetError::InvalidUrl(err.to_string()))?;
    match parsed.scheme() {
        "http" | "https" => {}
        other => return Err(TargetError::UnsupportedScheme(other.to_owned())),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // Credentials in the URL would be sent as Basic auth and logged with the URL.
        return Err(TargetError::InvalidUrl(
            "credentials (user:password@) are not allowed in the URL".to_owned(),
        ));
    }
    // The parser already turned numeric hosts such as "2130706433" or
    // "0x7f.1" into IP addresses, so no alternative spelling escapes here.
    match parsed.host() {
        None => return Err(TargetError::InvalidUrl("the URL has no host".to_owned())),
        Some(url::Host::Ipv4(ip)) => policy.check(IpAddr::V4(ip))?,
        Some(url::Host::Ipv6(ip)) => policy.check(IpAddr::V6(ip))?,
        Some(url::Host::Domain(_)) => {}
    }
    Ok(parsed)
}

/// A reqwest DNS resolver that resolves with the system resolver (tokio::net::lookup_host) and refuses the name if ANY resolved address is blocked (error text says which address and range), so a name cannot smuggle a private address in among public ones.
///
/// A refusal surfaces as a [`TargetError::Blocked`] in the source chain of the
/// `reqwest::Error`, so callers can tell it from a transient failure.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: Arc<AddressPolicy>,
}

impl GuardedResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: Arc<AddressPolicy>) -> Self {
        Self { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0 is a placeholder: the connector sets the URL's port.
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|err| TargetError::Dns(format!("{host}: {err}")))?
                .collect();
            if addrs.is_empty() {
                return Err(TargetError::Dns(format!("{host}: no addresses")).into());
            }
            for addr in &addrs {
                policy.check(addr.ip()).map_err(TargetError::Blocked)?;
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The delivery HTTP client: the guarded resolver, redirects NOT followed (reqwest::redirect::Policy::none()), no proxy (`.no_proxy()`), the given total timeout, connect timeout min(timeout, 5s), a "Hookrail-Webhooks/1.0" user agent.
///
/// Redirects are refused because a redirect target is a second URL that
/// would skip [`check_url`]; proxies because a proxy resolves names itself,
/// out of the guard's reach.
pub fn delivery_client(
    policy: Arc<AddressPolicy>,
    timeout: Duration,
) -> Result<reqwest::Client, TargetError> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver::new(policy)))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout.min(MAX_CONNECT_TIMEOUT))
        .user_agent(USER_AGENT)
        .build()
        .map_err(|err| TargetError::Client(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    use std::time::Instant;
    use tokio::net::{TcpListener, TcpStream};
    use tokio::task::JoinHandle;

    fn ip(text: &str) -> IpAddr {
        text.parse()
            .unwrap_or_else(|_| panic!("test address {text:?}"))
    }

    fn nets(list: &str) -> Vec<IpNet> {
        AddressPolicy::parse_allow_list(list).unwrap()
    }

    /// Asserts each (address, expected range) pair, reporting every mismatch at once.
    fn assert_classes(cases: &[(&str, Option<&str>)]) {
        let wrong: Vec<String> = cases
            .iter()
            .filter_map(|(text, want)| {
                let got = classify(ip(text));
                (got != *want).then(|| format!("{text}: got {got:?}, want {want:?}"))
            })
            .collect();
        assert!(wrong.is_empty(), "misclassified:\n{}", wrong.join("\n"));
    }

    #[test]
    fn ipv4_ranges_first_last_and_just_outside() {
        assert_classes(&[
            ("0.0.0.0", Some(UNSPECIFIED)),
            ("0.255.255.255", Some(UNSPECIFIED)),
            ("1.0.0.0", None),
            ("126.255.255.255", None),
            ("127.0.0.0", Some(LOOPBACK)),
            ("127.255.255.255", Some(LOOPBACK)),
            ("128.0.0.0", None),
            ("9.255.255.255", None),
            ("10.0.0.0", Some(PRIVATE)),
            ("10.255.255.255", Some(PRIVATE)),
            ("11.0.0.0", None),
            ("172.15.255.255", None),
            ("172.16.0.0", Some(PRIVATE)),
            ("172.31.255.255", Some(PRIVATE)),
            ("172.32.0.0", None),
            ("192.167.255.255", None),
            ("192.168.0.0", Some(PRIVATE)),
            ("192.168.255.255", Some(PRIVATE)),
            ("192.169.0.0", None),
            ("169.253.255.255", None),
            ("169.254.0.0", Some(LINK_LOCAL)),
            ("169.254.255.255", Some(LINK_LOCAL)),
            ("169.255.0.0", None),
            ("169.254.169.253", Some(LINK_LOCAL)),
            ("169.254.169.254", Some(CLOUD_METADATA)),
            ("169.254.169.255", Some(LINK_LOCAL)),
            ("100.63.255.255", None),
            ("100.64.0.0", Some(CGNAT)),
            ("100.127.255.255", Some(CGNAT)),
            ("100.128.0.0", None),
            ("223.255.255.255", None),
            ("224.0.0.0", Some(MULTICAST)),
            ("239.255.255.255", Some(MULTICAST)),
            ("240.0.0.0", Some(RESERVED)),
            ("255.255.255.254", Some(RESERVED)),
            ("255.255.255.255", Some(BROADCAST)),
            ("191.255.255.255", None),
            ("192.0.0.0", Some(RESERVED)),
            ("192.0.0.255", Some(RESERVED)),
            ("192.0.1.0", None),
            ("192.0.1.255", None),
            ("192.0.2.0", Some(RESERVED)),
            ("192.0.2.255", Some(RESERVED)),
            ("192.0.3.0", None),
            ("198.17.255.255", None),
            ("198.18.0.0", Some(RESERVED)),
            ("198.19.255.255", Some(RESERVED)),
            ("198.20.0.0", None),
            ("198.51.99.255", None),
            ("198.51.100.0", Some(RESERVED)),
            ("198.51.100.255", Some(RESERVED)),
            ("198.51.101.0", None),
            ("203.0.112.255", None),
            ("203.0.113.0", Some(RESERVED)),
            ("203.0.113.255", Some(RESERVED)),
            ("203.0.114.0", None),
            ("192.88.98.255", None),
            ("192.88.99.0", Some(RESERVED)),
            ("192.88.99.255", Some(RESERVED)),
            ("192.88.100.0", None),
            ("8.8.8.8", None),
            ("1.1.1.1", None),
        ]);
    }

    #[test]
    fn ipv6_ranges_first_last_and_just_outside() {
        assert_classes(&[
            ("::", Some(UNSPECIFIED)),
            ("::1", Some(LOOPBACK)),
            ("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
            ("fe80::", Some(LINK_LOCAL)),
            ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(LINK_LOCAL)),
            ("fec0::", Some(RESERVED)),
            ("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(RESERVED)),
            ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
            ("fc00::", Some(UNIQUE_LOCAL)),
            (
                "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                Some(UNIQUE_LOCAL),
            ),
            ("fe00::", None),
            ("fd00:ec2::253", Some(UNIQUE_LOCAL)),
            ("fd00:ec2::254", Some(CLOUD_METADATA)),
            ("fd00:ec2::255", Some(UNIQUE_LOCAL)),
            ("ff00::", Some(MULTICAST)),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(MULTICAST)),
            ("ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
            ("100::", Some(RESERVED)),
            ("100::ffff:ffff:ffff:ffff", Some(RESERVED)),
            ("100:0:0:1::", Some(RESERVED)),
            ("100:0:0:1:ffff:ffff:ffff:ffff", Some(RESERVED)),
            ("100:0:0:2::", None),
            ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", None),
            ("2001:db8::", Some(RESERVED)),
            ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", Some(RESERVED)),
            ("2001:db9::", None),
            ("2001:1:ffff:ffff:ffff:ffff:ffff:ffff", None),
            ("2001:2::", Some(RESERVED)),
            ("2001:2:0:ffff:ffff:ffff:ffff:ffff", Some(RESERVED)),
            ("2001:2:1::", None),
            ("3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
            ("3fff::", Some(RESERVED)),
            ("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", Some(RESERVED)),
            ("3fff:1000::", None),
            ("5eff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
            ("5f00::", Some(RESERVED)),
            ("5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(RESERVED)),
            ("5f01::", None),
            ("64:ff9b:1::", Some(RESERVED)),
            ("64:ff9b:1:ffff:ffff:ffff:ffff:ffff", Some(RESERVED)),
            ("64:ff9b:2::", None),
            ("2606:4700:4700::1111", None),
            ("2001:4860:4860::8888", None),
        ]);
    }

    #[test]
    fn ipv6_forms_of_ipv4_are_classified_by_the_embedded_address() {
        assert_classes(&[
            // IPv4-mapped.
            ("::ffff:127.0.0.1", Some(LOOPBACK)),
            ("::ffff:0.0.0.0", Some(UNSPECIFIED)),
            ("::ffff:10.1.2.3", Some(PRIVATE)),
            ("::ffff:169.254.169.254", Some(CLOUD_METADATA)),
            ("::ffff:169.254.1.1", Some(LINK_LOCAL)),
            ("::ffff:100.64.0.1", Some(CGNAT)),
            ("::ffff:255.255.255.255", Some(BROADCAST)),
            ("::ffff:8.8.8.8", None),
            // IPv4-compatible (deprecated).
            ("::127.0.0.1", Some(LOOPBACK)),
            ("::10.0.0.1", Some(PRIVATE)),
            ("::0.0.0.2", Some(UNSPECIFIED)),
            ("::8.8.8.8", None),
            // NAT64 well-known prefix.
            ("64:ff9b::127.0.0.1", Some(LOOPBACK)),
            ("64:ff9b::169.254.169.254", Some(CLOUD_METADATA)),
            ("64:ff9b::192.168.0.1", Some(PRIVATE)),
            ("64:ff9b::8.8.8.8", None),
            // 6to4.
            ("2002:7f00:1::", Some(LOOPBACK)),
            ("2002:c0a8:101::1", Some(PRIVATE)),
            ("2002:a9fe:a9fe::", Some(CLOUD_METADATA)),
            ("2002:808:808::1", None),
        ]);
    }

    #[test]
    fn strict_policy_blocks_with_a_readable_reason() {
        let policy = AddressPolicy::strict();
        assert!(policy.allowed().is_empty());
        let blocked = policy.check(ip("127.0.0.1")).unwrap_err();
        assert_eq!(
            blocked,
            Blocked {
                ip: ip("127.0.0.1"),
                range: LOOPBACK
            }
        );
        assert_eq!(blocked.to_string(), "127.0.0.1 is a loopback address");
        assert_eq!(
            policy.check(ip("169.254.169.254")).unwrap_err().to_string(),
            "169.254.169.254 is a cloud-metadata address"
        );
        assert!(policy.check(ip("93.184.216.34")).is_ok());
        assert!(policy.check(ip("2606:4700:4700::1111")).is_ok());
        assert!(AddressPolicy::default().check(ip("10.0.0.1")).is_err());
    }

    #[test]
    fn allow_list_opens_exactly_its_range() {
        let policy = AddressPolicy::allowing(nets("127.0.0.0/8"));
        assert_eq!(policy.allowed(), nets("127.0.0.0/8").as_slice());
        for open in [
            "127.0.0.0",
            "127.0.0.1",
            "127.255.255.255",
            "::ffff:127.0.0.1",
        ] {
            assert!(policy.check(ip(open)).is_ok(), "{open} should be open");
        }
        for shut in [
            "::1",
            "0.0.0.0",
            "10.0.0.1",
            "169.254.169.254",
            // Translated forms go through a gateway, not to this host.
            "64:ff9b::127.0.0.1",
            "2002:7f00:1::",
        ] {
            assert!(
                policy.check(ip(shut)).is_err(),
                "{shut} should stay blocked"
            );
        }

        let policy = AddressPolicy::allowing(nets("10.1.0.0/16"));
        assert!(policy.check(ip("10.1.0.0")).is_ok());
        assert!(policy.check(ip("10.1.255.255")).is_ok());
        assert!(policy.check(ip("10.0.255.255")).is_err());
        assert!(policy.check(ip("10.2.0.0")).is_err());

        let policy = AddressPolicy::allowing(nets("::1/128"));
        assert!(policy.check(ip("::1")).is_ok());
        assert!(policy.check(ip("127.0.0.1")).is_err());
    }

    #[test]
    fn parse_allow_list_accepts_cidrs_and_names_the_bad_entry() {
        assert_eq!(
            AddressPolicy::parse_allow_list("127.0.0.0/8,::1/128").unwrap(),
            vec![
                "127.0.0.0/8".parse::<IpNet>().unwrap(),
                "::1/128".parse::<IpNet>().unwrap()
            ]
        );
        assert_eq!(
            AddressPolicy::parse_allow_list(" 127.0.0.0/8 , ::1/128 ,").unwrap(),
            nets("127.0.0.0/8,::1/128")
        );
        assert!(AddressPolicy::parse_allow_list("").unwrap().is_empty());
        assert!(AddressPolicy::parse_allow_list(" , ").unwrap().is_empty());
        assert_eq!(
            AddressPolicy::parse_allow_list("10.1.2.3/8").unwrap(),
            vec!["10.0.0.0/8".parse::<IpNet>().unwrap()]
        );
        assert_eq!(
            AddressPolicy::parse_allow_list("127.0.0.1").unwrap(),
            vec!["127.0.0.1/32".parse::<IpNet>().unwrap()]
        );
        for (list, bad) in [
            ("127.0.0.0/8,nope", "nope"),
            ("10.0.0.0/33", "10.0.0.0/33"),
            ("::1/128, 300.1.1.1/8", "300.1.1.1/8"),
            ("localhost", "localhost"),
        ] {
            let err = AddressPolicy::parse_allow_list(list).unwrap_err();
            assert_eq!(err, PolicyError::InvalidEntry(bad.to_owned()));
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn check_url_rules() {
        let strict = AddressPolicy::strict();
        let blocked = |url: &str| match check_url(url, &strict) {
            Err(TargetError::Blocked(blocked)) => blocked.range,
            other => panic!("{url}: expected a block, got {other:?}"),
        };
        assert_eq!(blocked("http://127.0.0.1/"), LOOPBACK);
        assert_eq!(blocked("https://[::1]:8443/hook"), LOOPBACK);
        // Numeric spellings of 127.0.0.1 are normalised by the URL parser first.
        assert_eq!(blocked("http://2130706433/"), LOOPBACK);
        assert_eq!(blocked("http://0x7f.1/"), LOOPBACK);
        assert_eq!(blocked("http://127.1/"), LOOPBACK);
        assert_eq!(
            blocked("http://169.254.169.254/latest/meta-data/"),
            CLOUD_METADATA
        );
        assert_eq!(blocked("http://[::ffff:169.254.169.254]/"), CLOUD_METADATA);
        assert_eq!(blocked("http://[fd00:ec2::254]/"), CLOUD_METADATA);
        assert_eq!(blocked("http://10.0.0.5:8080/x"), PRIVATE);

        let ok = check_url("https://hooks.example.com/in?token=abc", &strict).unwrap();
        assert_eq!(ok.host_str(), Some("hooks.example.com"));
        // Names are left to the resolver at connect time.
        assert!(check_url("http://localhost:9/", &strict).is_ok());
        assert!(check_url("http://93.184.216.34/", &strict).is_ok());

        assert!(matches!(
            check_url("ftp://example.com/", &strict),
            Err(TargetError::UnsupportedScheme(scheme)) if scheme == "ftp"
        ));
        assert!(matches!(
            check_url("file:///etc/passwd", &strict),
            Err(TargetError::UnsupportedScheme(_))
        ));
        assert!(matches!(
            check_url("unix:/run/x.sock", &strict),
            Err(TargetError::UnsupportedScheme(_))
        ));
        for bad in [
            "not a url",
            "",
            "http://",
            "http://exa mple.com/",
            "/relative",
        ] {
            assert!(
                matches!(check_url(bad, &strict), Err(TargetError::InvalidUrl(_))),
                "{bad:?}"
            );
        }
        for with_credentials in [
            "http://user:hunter2@example.com/",
            "https://user@example.com/",
        ] {
            let err = check_url(with_credentials, &strict).unwrap_err();
            assert!(matches!(err, TargetError::InvalidUrl(_)), "{err:?}");
            assert!(!err.to_string().contains("hunter2"));
        }

        let open = AddressPolicy::allowing(nets("127.0.0.0/8"));
        assert!(check_url("http://127.0.0.1:8080/", &open).is_ok());
        assert!(matches!(
            check_url("http://[::1]/", &open),
            Err(TargetError::Blocked(_))
        ));
    }

    // ---- the client against real servers on 127.0.0.1 -------------------

    /// A hand-rolled HTTP/1.1 server on 127.0.0.1 that answers every request
    /// with `response` (or never answers if it is `None`).
    struct TestServer {
        addr: SocketAddr,
        hits: Arc<AtomicUsize>,
        heads: Arc<Mutex<Vec<String>>>,
        task: JoinHandle<()>,
    }

    impl TestServer {
        async fn start(response: Option<String>) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let hits = Arc::new(AtomicUsize::new(0));
            let heads = Arc::new(Mutex::new(Vec::new()));
            let (task_hits, task_heads) = (Arc::clone(&hits), Arc::clone(&heads));
            let task = tokio::spawn(async move {
                // Held, never answered, until the task is aborted.
                let mut silent = Vec::new();
                while let Ok((stream, _)) = listener.accept().await {
                    task_hits.fetch_add(1, Ordering::SeqCst);
                    let Some(response) = response.clone() else {
                        silent.push(stream);
                        continue;
                    };
                    let heads = Arc::clone(&task_heads);
                    tokio::spawn(async move {
                        if let Ok(head) = read_head(&stream).await {
                            heads.lock().unwrap().push(head);
                            let _ = write_all(&stream, response.as_bytes()).await;
                        }
                    });
                }
            });
            Self {
                addr,
                hits,
                heads,
                task,
            }
        }

        fn port(&self) -> u16 {
            self.addr.port()
        }
    }

    impl Drop for TestServer {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    // Readiness-based I/O keeps the tests to tokio's "net" feature.
    async fn read_head(stream: &TcpStream) -> std::io::Result<String> {
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.len() < 16 * 1024 {
            stream.readable().await?;
            match stream.try_read(&mut buf) {
                Ok(0) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(err),
            }
        }
        Ok(String::from_utf8_lossy(&seen).into_owned())
    }

    async fn write_all(stream: &TcpStream, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            stream.writable().await?;
            match stream.try_write(data) {
                Ok(n) => data = &data[n..],
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    fn ok_response() -> Option<String> {
        Some("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".to_owned())
    }

    /// Every message in an error's source chain, outermost first.
    fn chain(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
        let mut messages = vec![err.to_string()];
        let mut source = err.source();
        while let Some(inner) = source {
            messages.push(inner.to_string());
            source = inner.source();
        }
        messages
    }

    fn client(policy: AddressPolicy, timeout: Duration) -> reqwest::Client {
        delivery_client(Arc::new(policy), timeout).unwrap()
    }

    /// Bounds every request so no test can hang.
    async fn get(client: &reqwest::Client, url: &str) -> reqwest::Result<reqwest::Response> {
        tokio::time::timeout(Duration::from_secs(10), client.get(url).send())
            .await
            .unwrap_or_else(|_| panic!("request to {url} hung past 10 s"))
    }

    #[tokio::test]
    async fn strict_policy_refuses_localhost_in_the_resolver() {
        let server = TestServer::start(ok_response()).await;
        let strict = AddressPolicy::strict();
        let url = format!("http://localhost:{}/", server.port());
        // The name passes the pre-check; the refusal happens when it resolves.
        check_url(&url, &strict).unwrap();
        let err = get(&client(strict, Duration::from_secs(5)), &url)
            .await
            .unwrap_err();
        let messages = chain(&err);
        assert!(
            messages.iter().any(|m| m.contains("is a loopback address")),
            "{messages:#?}"
        );
        let mut source = err.source();
        let mut refused = None;
        while let Some(inner) = source {
            if let Some(TargetError::Blocked(blocked)) = inner.downcast_ref::<TargetError>() {
                refused = Some(blocked.clone());
            }
            source = inner.source();
        }
        assert_eq!(refused.map(|b| b.range), Some(LOOPBACK), "{messages:#?}");
        assert_eq!(server.hits.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn strict_policy_refuses_a_literal_loopback_url_before_connecting() {
        let server = TestServer::start(ok_response()).await;
        let url = format!("http://127.0.0.1:{}/", server.port());
        let err = check_url(&url, &AddressPolicy::strict()).unwrap_err();
        assert!(matches!(
            err,
            TargetError::Blocked(Blocked {
                range: LOOPBACK,
                ..
            })
        ));
        assert_eq!(err.to_string(), "127.0.0.1 is a loopback address");
        assert_eq!(server.hits.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn allowing_loopback_lets_both_forms_through() {
        let server = TestServer::start(ok_response()).await;
        let mut allowed = nets("127.0.0.0/8");
        // Some systems also map localhost to ::1, which 127.0.0.0/8 does not
        // open, and the resolver refuses a name if any address is blocked.
        let localhost_has_v6 = tokio::net::lookup_host(("localhost", 0))
            .await
            .unwrap()
            .any(|addr| addr.is_ipv6());
        if localhost_has_v6 {
            allowed.extend(nets("::1/128"));
        }
        let literal_policy = AddressPolicy::allowing(nets("127.0.0.0/8"));
        let literal = format!("http://127.0.0.1:{}/", server.port());
        let checked = check_url(&literal, &literal_policy).unwrap();
        let response = get(
            &client(literal_policy, Duration::from_secs(5)),
            checked.as_str(),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "ok");

        let name_policy = AddressPolicy::allowing(allowed);
        let name = format!("http://localhost:{}/", server.port());
        let checked = check_url(&name, &name_policy).unwrap();
        let response = get(
            &client(name_policy, Duration::from_secs(5)),
            checked.as_str(),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(server.hits.load(Ordering::SeqCst), 2);

        let heads = server.heads.lock().unwrap().clone();
        assert!(
            heads.iter().all(|head| head
                .to_ascii_lowercase()
                .contains("user-agent: hookrail-webhooks/1.0\r\n")),
            "{heads:#?}"
        );
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let target = TestServer::start(ok_response()).await;
        let redirect = format!(
            "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{}/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            target.port()
        );
        let server = TestServer::start(Some(redirect)).await;
        let client = client(
            AddressPolicy::allowing(nets("127.0.0.0/8")),
            Duration::from_secs(5),
        );
        let response = get(&client, &format!("http://127.0.0.1:{}/", server.port()))
            .await
            .unwrap();
        assert_eq!(response.status(), 302);
        assert_eq!(server.hits.load(Ordering::SeqCst), 1);
        assert_eq!(target.hits.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        let server = TestServer::start(None).await;
        let timeout = Duration::from_millis(300);
        let client = client(AddressPolicy::allowing(nets("127.0.0.0/8")), timeout);
        let started = Instant::now();
        let err = get(&client, &format!("http://127.0.0.1:{}/", server.port()))
            .await
            .unwrap_err();
        let elapsed = started.elapsed();
        assert!(err.is_timeout(), "{:#?}", chain(&err));
        assert!(elapsed >= timeout, "gave up early: {elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
        assert_eq!(server.hits.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn delivery_client_builds_with_a_zero_timeout() {
        assert!(delivery_client(Arc::new(AddressPolicy::strict()), Duration::ZERO).is_ok());
    }
}
