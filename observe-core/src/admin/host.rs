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
    let host = match request.uri().authority() {
        Some(authority) => Some(authority.host().to_owned()),
        None => request
            .headers()
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<http::uri::Authority>().ok())
            .map(|a| a.host().to_owned()),
    };
    match host {
        Some(host) if host_allowed(&host, local) => None,
        _ => {
            let mut response = Response::new(Bytes::from_static(
                b"misdirected request: the observe admin listener answers requests addressed to \
                  localhost, a loopback address or its own address only\n",
            ));
            *response.status_mut() = StatusCode::MISDIRECTED_REQUEST;
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            Some(response)
        }
    }
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
    }
}
