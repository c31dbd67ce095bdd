//! The trusted-caller matcher (`OBSERVE_TRUSTED_CALLERS`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The callers whose identity a service believes: their W3C `baggage` (user,
/// account, feature flags, request type, other members) is taken as the request's
/// own, and under the `trusted` tracer-bullet policy their marker is honoured.
/// Every other caller still continues its trace (`traceparent`, `tracestate`), but
/// its baggage is ignored and its `sampled` flag is honoured only within a rate
/// (`OBSERVE_UNTRUSTED_SAMPLED_PER_SECOND`).
///
/// A caller is known by the **peer address of its connection** (axum's
/// `ConnectInfo`, tonic's remote address), never by a header a client could write.
/// Behind a proxy or a service mesh sidecar the peer is the proxy: trusting it
/// trusts everything it forwards, so trust a network only when whatever sits in it
/// strips `baggage` and `observe-tracer-bullet` from outside traffic.
///
/// Built from `OBSERVE_TRUSTED_CALLERS` or
/// [`Builder::trusted_callers`](crate::Builder::trusted_callers): a comma list, each
/// item one of
///
/// | item | matches |
/// | --- | --- |
/// | `10.1.2.3`, `fd00::7` | that address |
/// | `10.0.0.0/8`, `fd00::/8` | that network (bits after the prefix must be zero) |
/// | `loopback` | `127.0.0.0/8` and `::1` |
/// | `private` | `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16` and `fc00::/7` |
/// | `any` | every caller, even one whose address is unknown (the old default) |
/// | `none` | no caller (the default), alone |
///
/// IPv4 callers seen on an IPv6 socket (`::ffff:10.1.2.3`) match as IPv4. Host names
/// are not accepted: names resolve, addresses do not change under the check.
///
/// ```
/// use observe_core::config::TrustedCallers;
///
/// let trusted = TrustedCallers::from_patterns(["10.0.0.0/8", "loopback"])?;
/// assert!(trusted.contains(Some("10.20.30.40".parse()?)));
/// assert!(trusted.contains(Some("::ffff:127.0.0.1".parse()?)));
/// assert!(!trusted.contains(Some("203.0.113.9".parse()?)));
/// assert!(!trusted.contains(None), "an unknown peer is not trusted");
/// assert!(!TrustedCallers::default().contains(Some("127.0.0.1".parse()?)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedCallers {
    any: bool,
    networks: Vec<Network>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Network {
    V4 { addr: u32, prefix: u8 },
    V6 { addr: u128, prefix: u8 },
}

impl Network {
    fn v4(a: [u8; 4], prefix: u8) -> Network {
        Network::V4 {
            addr: u32::from_be_bytes(a),
            prefix,
        }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (*self, ip) {
            (Network::V4 { addr, prefix }, IpAddr::V4(v4)) => {
                mask32(prefix) & u32::from(v4) == addr
            }
            (Network::V6 { addr, prefix }, IpAddr::V6(v6)) => {
                mask128(prefix) & u128::from(v6) == addr
            }
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

pub(crate) const CALLERS: &str = "a comma-separated list of IP addresses (10.1.2.3, fd00::7), CIDR networks (10.0.0.0/8, fd00::/8) and the words loopback, private, any, or none alone";

impl TrustedCallers {
    /// No caller is trusted (the default).
    pub fn none() -> Self {
        TrustedCallers::default()
    }

    /// Every caller is trusted, including one whose address is unknown: an
    /// internal service reachable only through vetted hops.
    pub fn any() -> Self {
        TrustedCallers {
            any: true,
            networks: Vec::new(),
        }
    }

    /// Parses items in the syntax of `OBSERVE_TRUSTED_CALLERS` (see the type's
    /// docs).
    ///
    /// # Errors
    /// The phrase after "expected", naming the first bad item.
    pub fn from_patterns<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut callers = TrustedCallers::default();
        let mut none = false;
        let mut count = 0;
        for item in items {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            count += 1;
            match item.to_ascii_lowercase().as_str() {
                "none" => none = true,
                "any" => callers.any = true,
                "loopback" => callers.networks.extend([
                    Network::v4([127, 0, 0, 0], 8),
                    Network::V6 {
                        addr: u128::from(Ipv6Addr::LOCALHOST),
                        prefix: 128,
                    },
                ]),
                "private" => callers.networks.extend([
                    Network::v4([10, 0, 0, 0], 8),
                    Network::v4([172, 16, 0, 0], 12),
                    Network::v4([192, 168, 0, 0], 16),
                    Network::V6 {
                        addr: 0xfc00 << 112,
                        prefix: 7,
                    },
                ]),
                _ => match parse_network(item) {
                    Ok(network) => callers.networks.push(network),
                    Err(reason) => return Err(format!("{CALLERS} ({item:?} {reason})")),
                },
            }
        }
        if none && count > 1 {
            return Err(format!(
                "{CALLERS} (none cannot be combined with other items)"
            ));
        }
        Ok(callers)
    }

    /// Whether a caller at `peer` is trusted. An unknown peer (`None`) is trusted
    /// only by `any`.
    ///
    /// It does not allocate; its cost grows with the number of networks.
    pub fn contains(&self, peer: Option<IpAddr>) -> bool {
        if self.any {
            return true;
        }
        let Some(ip) = peer else {
            return false;
        };
        let ip = ip.to_canonical();
        self.networks.iter().any(|n| n.contains(ip))
    }

    /// `true` when no caller is trusted.
    pub fn is_empty(&self) -> bool {
        !self.any && self.networks.is_empty()
    }

    /// `true` when every caller is trusted.
    pub fn is_any(&self) -> bool {
        self.any
    }
}

fn parse_network(item: &str) -> Result<Network, &'static str> {
    let (addr, prefix) = match item.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (item, None),
    };
    let addr = addr
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(addr);
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return Err("is not an IP address or network (host names are not accepted)");
    };
    let ip = ip.to_canonical();
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => match p.parse::<u8>() {
            Ok(p) if p <= max => p,
            _ => return Err("has a prefix length that is not a number from 0 to the address size"),
        },
    };
    let network = match ip {
        IpAddr::V4(v4) => {
            let addr = u32::from(v4);
            if addr & !mask32(prefix) != 0 {
                return Err("has bits set after the prefix length (write the network address)");
            }
            Network::V4 { addr, prefix }
        }
        IpAddr::V6(v6) => {
            let addr = u128::from(v6);
            if addr & !mask128(prefix) != 0 {
                return Err("has bits set after the prefix length (write the network address)");
            }
            Network::V6 { addr, prefix }
        }
    };
    Ok(network)
}

/// The canonical list (`10.0.0.0/8,::1/128`), `any`, or `none`.
impl fmt::Display for TrustedCallers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.any {
            return f.write_str("any");
        }
        if self.networks.is_empty() {
            return f.write_str("none");
        }
        for (i, network) in self.networks.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match *network {
                Network::V4 { addr, prefix } => write!(f, "{}/{prefix}", Ipv4Addr::from(addr))?,
                Network::V6 { addr, prefix } => write!(f, "{}/{prefix}", Ipv6Addr::from(addr))?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn callers(list: &str) -> TrustedCallers {
        TrustedCallers::from_patterns(list.split(',')).unwrap()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn networks_match_by_prefix() {
        let c = callers("10.0.0.0/8, 192.168.1.7, fd00::/8");
        assert!(c.contains(ip("10.255.0.1")));
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(c.contains(ip("192.168.1.7")));
        assert!(!c.contains(ip("192.168.1.8")));
        assert!(c.contains(ip("fd12::1")));
        assert!(!c.contains(ip("fe80::1")));
        assert!(c.contains(ip("::ffff:10.1.1.1")), "IPv4-mapped");
        assert!(!c.contains(None));
        assert_eq!(c.to_string(), "10.0.0.0/8,192.168.1.7/32,fd00::/8");
    }

    #[test]
    fn words_cover_loopback_private_and_any() {
        let c = callers("loopback");
        assert!(c.contains(ip("127.0.0.1")) && c.contains(ip("127.9.9.9")));
        assert!(c.contains(ip("::1")));
        assert!(!c.contains(ip("10.0.0.1")));
        let c = callers("PRIVATE");
        for yes in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "fd00::1",
            "fc00::1",
        ] {
            assert!(c.contains(ip(yes)), "{yes}");
        }
        for no in [
            "172.32.0.1",
            "8.8.8.8",
            "127.0.0.1",
            "fe80::1",
            "2001:db8::1",
        ] {
            assert!(!c.contains(ip(no)), "{no}");
        }
        let c = callers("any");
        assert!(c.contains(None) && c.contains(ip("8.8.8.8")) && c.is_any());
        assert!(callers("none").is_empty());
        assert!(TrustedCallers::from_patterns([""; 0]).unwrap().is_empty());
        let zero = callers("0.0.0.0/0");
        assert!(zero.contains(ip("8.8.8.8")) && !zero.contains(ip("::2")));
    }

    #[test]
    fn bad_items_name_the_item_and_the_reason() {
        let cases = [
            ("gateway.internal", "host names are not accepted"),
            ("10.0.0.1/8", "bits set after the prefix"),
            ("10.0.0.0/33", "prefix length"),
            ("fd00::/129", "prefix length"),
            ("10.0.0.0/x", "prefix length"),
            ("*", "is not an IP address"),
        ];
        for (item, reason) in cases {
            let err = TrustedCallers::from_patterns([item]).unwrap_err();
            assert!(err.starts_with(CALLERS), "{err}");
            assert!(err.contains(&format!("{item:?}")), "{err}");
            assert!(err.contains(reason), "{item}: {err}");
        }
        let err = TrustedCallers::from_patterns(["none", "loopback"]).unwrap_err();
        assert!(err.contains("none cannot be combined"), "{err}");
    }
}
