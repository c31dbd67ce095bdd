//! The internal-host matcher (`OBSERVE_INTERNAL_HOSTS`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The hosts that count as *internal*: they receive W3C `baggage` (user, account,
/// request type, flags), `x-request-id`, the tracer-bullet mode and its token. Every
/// other host receives `traceparent`/`tracestate` only, so user and account ids never
/// leak to third parties.
///
/// Built from `OBSERVE_INTERNAL_HOSTS` or [`Builder::internal_hosts`]: a comma list of
/// patterns, each one of
///
/// | pattern | matches |
/// | --- | --- |
/// | `orders.internal` | that host exactly (case-insensitive, a trailing dot ignored) |
/// | `*.svc.cluster.local` | any host *below* `svc.cluster.local`, at any depth, but not `svc.cluster.local` itself |
/// | `10.0.0.7`, `[fd00::7]` | that IP address (IPv6 compared as addresses, so `[fd00:0::7]` is the same) |
/// | any of the above + `:8443` | the same hosts, on that port only |
///
/// A pattern without a port matches every port. The default is empty: no host is
/// internal until one is configured.
///
/// ```
/// use observe_core::Builder;
///
/// let config = Builder::new()
///     .ignore_env()
///     .internal_hosts(["*.svc.cluster.local", "billing.example.com:8443"])
///     .build_config()?;
/// let hosts = &config.propagation.internal_hosts;
/// assert!(hosts.is_internal("orders.default.svc.cluster.local", Some(80)));
/// assert!(hosts.is_internal("billing.example.com", Some(8443)));
/// assert!(!hosts.is_internal("billing.example.com", Some(443)));
/// assert!(!hosts.is_internal("api.stripe.com", Some(443)));
/// # Ok::<(), observe_core::config::ConfigError>(())
/// ```
///
/// [`Builder::internal_hosts`]: crate::Builder::internal_hosts
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InternalHosts {
    patterns: Vec<HostPattern>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct HostPattern {
    host: HostMatch,
    port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum HostMatch {
    /// A host name, lowercase, without a trailing dot.
    Exact(Box<str>),
    /// A `*.suffix` wildcard stored as `.suffix`, lowercase.
    Suffix(Box<str>),
    /// An IP address.
    Ip(IpAddr),
}

pub(crate) const HOST_PATTERNS: &str = "a comma-separated list of host patterns: exact hosts (orders.internal), `*.suffix` wildcards (*.svc.cluster.local) or IP addresses ([fd00::1]), each with an optional :port";

impl InternalHosts {
    /// Parses a list of patterns; the error is the phrase after "expected", naming
    /// the first bad pattern.
    pub(crate) fn parse<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut parsed = Vec::new();
        for pattern in patterns {
            let pattern = pattern.trim();
            if pattern.is_empty() {
                continue;
            }
            match HostPattern::parse(pattern) {
                Ok(p) => parsed.push(p),
                Err(reason) => return Err(format!("{HOST_PATTERNS} ({pattern:?} {reason})")),
            }
        }
        Ok(InternalHosts { patterns: parsed })
    }

    /// `true` when `host` (on `port`) matches one of the patterns.
    ///
    /// `host` is a host name or an IP address as found in a URL or a `Host` header:
    /// case does not matter, a trailing dot is ignored, and IPv6 addresses may keep
    /// their brackets (`[::1]`, as [`http::Uri::host`] returns them). Pass as `port`
    /// the port the request goes to: the URL's explicit port, or its scheme's default
    /// (80, 443). A pattern with a port never matches `None`.
    ///
    /// It does not allocate; its cost grows with the number of patterns.
    pub fn is_internal(&self, host: &str, port: Option<u16>) -> bool {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let host = host.strip_suffix('.').unwrap_or(host);
        if host.is_empty() {
            return false;
        }
        let mut ip: Option<Option<IpAddr>> = None;
        self.patterns.iter().any(|pattern| {
            if pattern.port.is_some() && pattern.port != port {
                return false;
            }
            match &pattern.host {
                HostMatch::Exact(name) => name.eq_ignore_ascii_case(host),
                HostMatch::Suffix(suffix) => {
                    host.len() > suffix.len()
                        && host.is_char_boundary(host.len() - suffix.len())
                        && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
                }
                HostMatch::Ip(addr) => *ip.get_or_insert_with(|| host.parse().ok()) == Some(*addr),
            }
        })
    }

    /// `true` when no host is internal.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// How many patterns there are.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }
}

/// The patterns in their canonical form, comma-separated (`*.svc.cluster.local,[fd00::1]:8443`).
impl fmt::Display for InternalHosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, pattern) in self.patterns.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match &pattern.host {
                HostMatch::Exact(name) => f.write_str(name)?,
                HostMatch::Suffix(suffix) => write!(f, "*{suffix}")?,
                HostMatch::Ip(IpAddr::V4(v4)) => write!(f, "{v4}")?,
                HostMatch::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]")?,
            }
            if let Some(port) = pattern.port {
                write!(f, ":{port}")?;
            }
        }
        Ok(())
    }
}

impl HostPattern {
    fn parse(pattern: &str) -> Result<Self, &'static str> {
        let (host, port) = if let Some(rest) = pattern.strip_prefix('[') {
            let (inside, after) = rest.split_once(']').ok_or("has no closing `]`")?;
            let addr: Ipv6Addr = inside.parse().map_err(|_| "is not an IPv6 address")?;
            let port = match after {
                "" => None,
                _ => Some(parse_port(
                    after.strip_prefix(':').ok_or("has text after `]`")?,
                )?),
            };
            return Ok(HostPattern {
                host: HostMatch::Ip(IpAddr::V6(addr)),
                port,
            });
        } else if pattern.bytes().filter(|&b| b == b':').count() > 1 {
            let addr: Ipv6Addr = pattern
                .parse()
                .map_err(|_| "is not an IPv6 address (write [addr]:port to add a port)")?;
            return Ok(HostPattern {
                host: HostMatch::Ip(IpAddr::V6(addr)),
                port: None,
            });
        } else if let Some((host, port)) = pattern.split_once(':') {
            (host, Some(parse_port(port)?))
        } else {
            (pattern, None)
        };
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        let host = if let Some(suffix) = host.strip_prefix("*.") {
            check_host_name(suffix)?;
            HostMatch::Suffix(format!(".{suffix}").into())
        } else if let Ok(v4) = host.parse::<Ipv4Addr>() {
            HostMatch::Ip(IpAddr::V4(v4))
        } else {
            check_host_name(&host)?;
            HostMatch::Exact(host.into())
        };
        Ok(HostPattern { host, port })
    }
}

fn parse_port(port: &str) -> Result<u16, &'static str> {
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err("has a port that is not a number from 1 to 65535"),
        Ok(p) => Ok(p),
    }
}

fn check_host_name(host: &str) -> Result<(), &'static str> {
    if host.contains('*') {
        return Err("has a `*` that is not the leading `*.` of a wildcard");
    }
    if host.contains('/') {
        return Err("is not a host (CIDR ranges and URLs are not supported)");
    }
    let labels_ok = host.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    if host.is_empty() || !labels_ok {
        return Err("is not a host name (ASCII letters, digits, `-`, `_` between dots)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(list: &str) -> InternalHosts {
        InternalHosts::parse(list.split(',')).unwrap()
    }

    #[test]
    fn exact_hosts_match_case_insensitively_and_ignore_a_trailing_dot() {
        let h = hosts("Orders.Internal.");
        assert!(h.is_internal("orders.internal", Some(80)));
        assert!(h.is_internal("ORDERS.INTERNAL.", None));
        assert!(!h.is_internal("orders.internal.evil.com", Some(80)));
        assert!(!h.is_internal("xorders.internal", Some(80)));
        assert!(!h.is_internal("", Some(80)));
    }

    #[test]
    fn wildcards_match_subdomains_at_any_depth_but_not_the_suffix_itself() {
        let h = hosts("*.svc.cluster.local");
        assert!(h.is_internal("a.svc.cluster.local", Some(80)));
        assert!(h.is_internal("a.b.svc.cluster.local", None));
        assert!(h.is_internal("A.SVC.cluster.local.", None));
        assert!(!h.is_internal("svc.cluster.local", None));
        assert!(!h.is_internal("evilsvc.cluster.local", None));
        assert!(!h.is_internal("a.svc.cluster.local.evil.com", None));
        assert!(!h.is_internal(".svc.cluster.local", None));
    }

    #[test]
    fn ports_restrict_a_pattern_and_none_never_matches_a_port() {
        let h = hosts("api.internal:8443");
        assert!(h.is_internal("api.internal", Some(8443)));
        assert!(!h.is_internal("api.internal", Some(443)));
        assert!(!h.is_internal("api.internal", None));
    }

    #[test]
    fn ip_addresses_compare_as_addresses() {
        let h = hosts("10.0.0.7, [fd00::7]:9000 ,::1");
        assert!(h.is_internal("10.0.0.7", Some(1)));
        assert!(!h.is_internal("10.0.0.70", Some(1)));
        assert!(h.is_internal("[fd00:0:0::7]", Some(9000)));
        assert!(h.is_internal("fd00::7", Some(9000)));
        assert!(!h.is_internal("[fd00::7]", Some(9001)));
        assert!(h.is_internal("[::1]", None));
        assert!(h.is_internal("0:0::1", Some(5)));
    }

    #[test]
    fn display_is_the_canonical_list() {
        let h = hosts(" B.example.com:80 ,*.X.local,[fd00::7]:9,::1,10.1.2.3 ");
        assert_eq!(
            h.to_string(),
            "b.example.com:80,*.x.local,[fd00::7]:9,[::1],10.1.2.3"
        );
        assert_eq!(h.len(), 5);
        assert!(InternalHosts::default().is_empty());
    }

    #[test]
    fn bad_patterns_name_the_pattern_and_the_reason() {
        let cases = [
            ("*", "has a `*` that is not"),
            ("a.*.b", "has a `*` that is not"),
            ("*example.com", "has a `*` that is not"),
            ("api.internal:0", "port that is not a number"),
            ("api.internal:http", "port that is not a number"),
            ("api.internal:70000", "port that is not a number"),
            ("[fd00::7", "no closing"),
            ("[nope]", "not an IPv6 address"),
            ("[::1]x", "text after"),
            ("fd00::zz", "not an IPv6 address"),
            ("10.0.0.0/8", "CIDR"),
            ("http://api.internal", "port that is not a number"),
            ("a..b", "is not a host name"),
            ("bücher.de", "is not a host name"),
            ("a b", "is not a host name"),
        ];
        for (pattern, reason) in cases {
            let err = InternalHosts::parse([pattern]).unwrap_err();
            assert!(err.starts_with(HOST_PATTERNS), "{err}");
            assert!(err.contains(&format!("{pattern:?}")), "{err}");
            assert!(err.contains(reason), "{pattern}: {err}");
        }
    }
}
