//! The `Host` check of an admin listener: a defence against DNS rebinding, shared by
//! the core's listener and the axum and tonic adapters.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response, StatusCode};

/// Refuses (421 Misdirected Request) a request not addressed to the admin listener
/// bound to `local`: after a DNS rebinding, a browser sends the attacker's host name.
/// `None` when the request may pass (see [`host_allowed`]); a request without a
/// `Host` is refused too.
pub fn check_host<B>(request: &http::Request<B>, local: SocketAddr) -> Option<Response<Bytes>> {
    let host = addressed_to(request.uri(), request.headers())
        .as_ref()
        .and_then(valid_host);
    match host {
        Some(host) if host_allowed(&host, local) => None,
        _ => {
            // JSON, as every error of the admin API (`{"error": ...}`).
            let mut response = Response::new(Bytes::from_static(
                b"{\"error\":\"misdirected request: the observe admin listener answers requests \
                  addressed to localhost, a loopback address or its own address only\"}\n",
            ));
            *response.status_mut() = StatusCode::MISDIRECTED_REQUEST;
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            Some(response)
        }
    }
}

/// Where a request was sent: its URI's authority (HTTP/2), else its one `Host`
/// header. `None` without one, or with two `Host` headers: which one is meant is
/// anyone's guess (RFC 9112 asks for a 400; the admin checks refuse it like any
/// request not clearly addressed to them).
pub(super) fn addressed_to(
    uri: &http::Uri,
    headers: &http::HeaderMap,
) -> Option<http::uri::Authority> {
    let mut hosts = headers.get_all(http::header::HOST).iter();
    match (uri.authority(), hosts.next(), hosts.next()) {
        (_, Some(_), Some(_)) => None,
        (Some(authority), _, _) => Some(authority.clone()),
        (None, Some(v), None) => v.to_str().ok()?.parse().ok(),
        (None, None, _) => None,
    }
}

/// The host of `authority`, unless it has a port that is not a port number
/// (`localhost:abc`, `localhost:99999`).
fn valid_host(authority: &http::uri::Authority) -> Option<String> {
    let has_port = authority.as_str().len() > authority.host().len();
    if has_port && authority.port_u16().is_none() {
        return None;
    }
    Some(authority.host().to_owned())
}

/// `localhost`, a loopback address, the listener's own address, or any address when
/// the listener is bound to all of them (`0.0.0.0`, `::`). Never another name: a
/// name is what DNS rebinding changes.
pub fn host_allowed(host: &str, local: SocketAddr) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match literal.parse::<IpAddr>() {
        Ok(ip) => {
            let ip = ip.to_canonical();
            ip.is_loopback() || ip == local.ip().to_canonical() || local.ip().is_unspecified()
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_names_and_addresses_pass() {
        let local: SocketAddr = "127.0.0.1:9464".parse().unwrap();
        for ok in [
            "localhost",
            "LOCALHOST",
            "localhost.",
            "127.0.0.1",
            "127.0.0.2",
            "[::1]",
        ] {
            assert!(host_allowed(ok, local), "{ok}");
        }
        for refused in [
            "evil.example",
            "localhost.evil.example",
            "10.0.0.1",
            "[fd00::1]",
            "",
        ] {
            assert!(!host_allowed(refused, local), "{refused}");
        }
        let wildcard: SocketAddr = "0.0.0.0:9464".parse().unwrap();
        assert!(host_allowed("10.0.0.1", wildcard));
        assert!(!host_allowed("metrics.internal", wildcard));
        let own: SocketAddr = "10.0.0.5:9464".parse().unwrap();
        assert!(host_allowed("10.0.0.5", own));
        assert!(!host_allowed("10.0.0.6", own));
    }

    #[test]
    fn a_request_with_a_foreign_host_header_is_refused() {
        let local: SocketAddr = "127.0.0.1:9464".parse().unwrap();
        let request = |host: Option<&str>| {
            let mut b = http::Request::get("/metrics");
            if let Some(host) = host {
                b = b.header("host", host);
            }
            b.body(()).unwrap()
        };
        assert!(check_host(&request(None), local).is_some());
        assert!(check_host(&request(Some("localhost:9464")), local).is_none());
        let refused = check_host(&request(Some("evil.example:9464")), local).unwrap();
        assert_eq!(refused.status(), 421);
        assert!(check_host(&request(Some("not a host")), local).is_some());
        for bad_port in ["localhost:abc", "localhost:99999", "127.0.0.1:"] {
            assert!(
                check_host(&request(Some(bad_port)), local).is_some(),
                "{bad_port}"
            );
        }
        assert!(check_host(&request(Some("[::1]:9464")), local).is_none());
        let twice = http::Request::get("/metrics")
            .header("host", "localhost")
            .header("host", "evil.example")
            .body(())
            .unwrap();
        assert_eq!(check_host(&twice, local).unwrap().status(), 421);
    }
}
