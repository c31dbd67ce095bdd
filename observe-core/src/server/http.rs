//! The HTTP specifics of an inbound request: what an HTTP adapter knows
//! ([`RequestInfo`]) and the server span it opens ([`ServerSpan::http`]): its name
//! `METHOD /route/{template}` and OpenTelemetry's HTTP attributes.

use std::net::SocketAddr;

use http::HeaderMap;

use super::{Protocol, QueryRecording, ServerSpan, names};
use crate::clock::Tick;
use crate::span::ServerExtra;
use crate::span::Span;

/// What an adapter knows about an inbound HTTP request.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo<'a> {
    /// The method.
    pub method: &'a http::Method,
    /// The request target (its path and query; scheme and authority when absolute).
    pub uri: &'a http::Uri,
    /// The HTTP version.
    pub version: http::Version,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The matched route template (`/orders/{id}`), `None` when no route matched.
    pub route: Option<&'a str>,
    /// The peer's address: the connection's remote end, which decides whether the
    /// caller is trusted (`OBSERVE_TRUSTED_CALLERS`). `None` (unknown) is never
    /// trusted, except by `any`.
    pub peer: Option<SocketAddr>,
    /// When the request started, if the adapter saw it before now.
    pub start: Option<Tick>,
}

impl<'a> RequestInfo<'a> {
    /// The method, target, version and headers of `request`.
    pub fn from_request<B>(request: &'a http::Request<B>) -> Self {
        RequestInfo {
            method: request.method(),
            uri: request.uri(),
            version: request.version(),
            headers: request.headers(),
            route: None,
            peer: None,
            start: None,
        }
    }

    /// Sets the matched route template.
    pub fn route(mut self, route: Option<&'a str>) -> Self {
        self.route = route;
        self
    }

    /// Sets the peer address.
    pub fn peer(mut self, peer: Option<SocketAddr>) -> Self {
        self.peer = peer;
        self
    }

    /// Sets the uri (for adapters that know the original one, before nesting
    /// stripped a prefix).
    pub fn uri(mut self, uri: &'a http::Uri) -> Self {
        self.uri = uri;
        self
    }
}

impl ServerSpan {
    /// The server span of an HTTP request: named `METHOD /route/{template}` (the
    /// method alone when no route matched, never the raw path; `HTTP` for methods
    /// outside the nine HTTP defines), with `http.request.method`, `http.route`,
    /// `url.path`, `url.query` (as `query` says), `url.scheme`, `server.address`,
    /// `server.port`, `client.address`, `client.port`, `user_agent.original` and
    /// `network.protocol.version`; measured in `http.server.request.duration`.
    pub fn http(request: &RequestInfo<'_>, query: QueryRecording) -> ServerSpan {
        let (method, method_index) = names::method_label(request.method);
        let names = names::route_names(method_index, request.route);
        let name = names.name.clone();
        let route_at = request.route.map(|r| name.as_str().len() - r.len());
        // Typed until read (see `span::deferred`): one allocation for all of them.
        let mut server = Box::<ServerExtra>::default();
        let a = &mut server.deferred;
        a.push_value("http.request.method", method);
        if method == names::OTHER_METHOD {
            a.push_text("http.request.method_original", request.method.as_str());
        }
        if let Some(route) = names.static_route() {
            a.push_value("http.route", route);
        } else if let Some(route) = names.route() {
            a.push_text("http.route", route);
        }
        a.push_text("url.path", request.uri.path());
        if let Some(q) = request.uri.query()
            && !q.is_empty()
        {
            match query {
                QueryRecording::Redacted => {
                    a.push_value("url.query", crate::config::redact_query(q));
                }
                QueryRecording::Full => {
                    a.push_text("url.query", q);
                }
                QueryRecording::Off => {}
            }
        }
        match request.uri.scheme_str() {
            None | Some("http") => a.push_value("url.scheme", "http"),
            Some("https") => a.push_value("url.scheme", "https"),
            Some(s) => a.push_text("url.scheme", s),
        };
        if let Some((host, port)) = server_address(request) {
            a.push_text("server.address", host);
            if let Some(port) = port {
                a.push_value("server.port", port);
            }
        }
        if let Some(peer) = request.peer {
            a.push_ip("client.address", peer.ip());
            a.push_value("client.port", peer.port());
        }
        if let Some(ua) = request
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
        {
            a.push_text("user_agent.original", truncate(ua, 512));
        }
        a.push_value(
            "network.protocol.version",
            protocol_version(request.version),
        );
        // The status code and `error.type` join them at the end.
        let builder = Span::builder(name.clone()).deferred(server);
        let scheme = match request.uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => "https",
            Some(s) if !s.eq_ignore_ascii_case("http") => "_OTHER",
            _ => "http",
        };
        ServerSpan {
            name,
            builder,
            start: request.start,
            protocol: Protocol::Http {
                method,
                route_at,
                scheme,
                ok_message: names.ok_message,
            },
        }
    }
}

/// `network.protocol.version`.
fn protocol_version(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_11 => "1.1",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => "unknown",
    }
}

/// `server.address` and `server.port`: the URI's authority (HTTP/2, absolute
/// targets), else the `Host` header.
fn server_address<'a>(request: &RequestInfo<'a>) -> Option<(&'a str, Option<u16>)> {
    if let Some(host) = request.uri.host() {
        return Some((host, uri_port(request.uri)));
    }
    let host = request.headers.get(http::header::HOST)?.as_bytes();
    split_host_header(host)
}

/// The bytes of RFC 3986's `host` and `port` (unreserved, sub-delims, `:`, `[`, `]`,
/// `%`), looked up rather than matched byte by byte.
const HOST_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'['
                    | b']'
                    | b'%'
            );
        b += 1;
    }
    table
};

/// A `Host` header's host and port, as `http::uri::Authority` reads them, without
/// its copy into `Bytes` (an allocation per request). `None` for a value that is
/// no authority by `Authority`'s rules (brackets that do not pair, two `:` outside
/// them, a `%` outside them, a ninth `:` before or after the literal), for a byte
/// outside RFC 3986's `host` and `port` (so no userinfo, path or space, which a
/// `Host` header may not hold either), and for an empty host, which names nothing.
/// The host is what `Authority::host` gives (the bracketed literal, else what
/// comes before the first `:`), the port what `Authority::port_u16` gives (the
/// number after the last `:`, `None` when absent or not a number).
fn split_host_header(value: &[u8]) -> Option<(&str, Option<u16>)> {
    // One pass, `Authority`'s own (`validate_authority_bytes`) for these bytes: a
    // search per character set cost more than the rest of the span's attributes.
    const MAX_COLONS: u32 = 8;
    let (mut colons, mut first_colon, mut last_colon) = (0u32, None, None);
    let (mut open, mut close, mut percent) = (false, false, false);
    for (i, &b) in value.iter().enumerate() {
        if !HOST_BYTES[usize::from(b)] {
            return None;
        }
        match b {
            b':' => {
                if colons >= MAX_COLONS {
                    return None;
                }
                colons += 1;
                first_colon.get_or_insert(i);
                last_colon = Some(i);
            }
            b'[' => {
                if percent || open {
                    return None;
                }
                open = true;
            }
            b']' => {
                if !open || close {
                    return None;
                }
                close = true;
                // Those were the literal's.
                colons = 0;
                percent = false;
            }
            b'%' => percent = true,
            _ => {}
        }
    }
    if value.is_empty() || open != close || colons > 1 || percent {
        return None;
    }
    // Checked ASCII above.
    let value = std::str::from_utf8(value).ok()?;
    let host = if value.starts_with('[') {
        &value[..=value.find(']')?]
    } else {
        &value[..first_colon.unwrap_or(value.len())]
    };
    if host.is_empty() {
        return None;
    }
    let port = last_colon.and_then(|i| value[i + 1..].parse().ok());
    Some((host, port))
}

/// `uri.port_u16()`: the digits after the authority's last `:`. `http` looks for
/// that `:` with a substring search, about 300 instructions a request.
pub(super) fn uri_port(uri: &http::Uri) -> Option<u16> {
    let (_, port) = uri.authority()?.as_str().rsplit_once(':')?;
    port.parse().ok()
}

pub(super) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_address_comes_from_the_authority_or_the_host_header() {
        let req = http::Request::get("/x")
            .header("host", "shop.example:8080")
            .body(())
            .unwrap();
        let info = RequestInfo::from_request(&req);
        assert_eq!(server_address(&info), Some(("shop.example", Some(8080))));
        let req = http::Request::get("http://[::1]:9/x").body(()).unwrap();
        let info = RequestInfo::from_request(&req);
        assert_eq!(server_address(&info), Some(("[::1]", Some(9))));
        let req = http::Request::get("/x")
            .header("host", "bad host")
            .body(())
            .unwrap();
        assert_eq!(server_address(&RequestInfo::from_request(&req)), None);
    }

    #[test]
    fn ports_read_as_http_reads_them() {
        for uri in [
            "/p",
            "http://h/p",
            "http://h:8080/p",
            "http://h:/p",
            "http://[::1]/p",
            "http://[::1]:50051/p",
            "http://u:pw@h/p",
            "http://u:pw@h:9/p",
            "http://h:+5/p",
            "http://h:65535/p",
            "h:1",
        ] {
            let uri: http::Uri = uri.parse().unwrap();
            assert_eq!(uri_port(&uri), uri.port_u16(), "{uri}");
        }
    }

    #[test]
    fn host_headers_split_as_an_authority_would() {
        for value in [
            "shop.example:8080",
            "shop.example",
            "shop.example:",
            "[::1]:9",
            "[::1]",
            "127.0.0.1:3000",
            "a%20b",
            "[fe80::1%25eth0]:8",
            "h*!$:7",
            "bad host",
            "",
            ":80",
            "x:y",
            "[::1",
            "[::1]x",
            "a]:1",
            "u@h:1",
            "h/p",
            "h:99999",
            "h:+5",
            "h:1:2",
            "h:1]",
            "h:1%",
            "h:[1",
            "a[b:1",
            "h%:1",
            "::",
            "h:",
        ] {
            let authority = value.parse::<http::uri::Authority>().ok();
            let expected = authority
                .as_ref()
                .filter(|a| !a.as_str().contains('@') && !a.host().is_empty())
                .map(|a| (a.host(), a.port_u16()));
            assert_eq!(split_host_header(value.as_bytes()), expected, "{value:?}");
        }
    }

    /// Every value of up to six bytes from the characters that matter (brackets,
    /// colons, percent, a name, digits) reads as `Authority` reads it, but for an
    /// empty host.
    #[test]
    fn host_headers_of_the_tricky_characters_split_as_an_authority_would() {
        const CHARS: &[u8] = b"a1:[]%.";
        let mut value = Vec::new();
        let mut checked = 0;
        for len in 0..=6u32 {
            for mut n in 0..CHARS.len().pow(len) {
                value.clear();
                for _ in 0..len {
                    value.push(CHARS[n % CHARS.len()]);
                    n /= CHARS.len();
                }
                let text = std::str::from_utf8(&value).unwrap();
                let authority = text.parse::<http::uri::Authority>().ok();
                let expected = authority
                    .as_ref()
                    .filter(|a| !a.host().is_empty())
                    .map(|a| (a.host(), a.port_u16()));
                assert_eq!(split_host_header(&value), expected, "{text:?}");
                checked += 1;
            }
        }
        assert!(checked > 130_000);
        // Colons in a row: eight are read (and rejected as two outside brackets),
        // nine are refused by the count, as `Authority` refuses them.
        for value in [
            "[1:2:3:4:5:6:7:8]:9",
            "[1:2:3:4:5:6:7:8:9]",
            "a[b:c]",
            "[::1]x:80",
        ] {
            let expected = value
                .parse::<http::uri::Authority>()
                .ok()
                .map(|a| (a.host().to_owned(), a.port_u16()));
            let got = split_host_header(value.as_bytes()).map(|(h, p)| (h.to_owned(), p));
            assert_eq!(got, expected, "{value:?}");
        }
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 5), "abc");
    }
}
