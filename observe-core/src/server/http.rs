//! The HTTP specifics of an inbound request: what an HTTP adapter knows
//! ([`RequestInfo`]) and the server span it opens ([`ServerSpan::http`]): its name
//! `METHOD /route/{template}` and OpenTelemetry's HTTP attributes.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::SocketAddr;

use http::HeaderMap;

use super::{Protocol, QueryRecording, ServerSpan, names};
use crate::clock::Tick;
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
        let name = names::span_name(method_index, request.route);
        let route_at = request.route.map(|r| name.as_str().len() - r.len());
        let mut builder = Span::builder(name.clone()).attribute("http.request.method", method);
        if method == names::OTHER_METHOD {
            builder = builder.attribute(
                "http.request.method_original",
                request.method.as_str().to_owned(),
            );
        }
        if let Some(route) = request.route {
            builder = builder.attribute("http.route", route.to_owned());
        }
        builder = builder.attribute("url.path", request.uri.path().to_owned());
        if let Some(q) = request.uri.query()
            && !q.is_empty()
        {
            match query {
                QueryRecording::Redacted => {
                    builder = builder.attribute("url.query", redact_query(q));
                }
                QueryRecording::Full => builder = builder.attribute("url.query", q.to_owned()),
                QueryRecording::Off => {}
            }
        }
        builder = builder.attribute(
            "url.scheme",
            request.uri.scheme_str().map_or(Cow::Borrowed("http"), |s| {
                if s == "https" {
                    Cow::Borrowed("https")
                } else if s == "http" {
                    Cow::Borrowed("http")
                } else {
                    Cow::Owned(s.to_owned())
                }
            }),
        );
        if let Some((host, port)) = server_address(request) {
            builder = builder.attribute("server.address", host);
            if let Some(port) = port {
                builder = builder.attribute("server.port", port);
            }
        }
        if let Some(peer) = request.peer {
            builder = builder
                .attribute("client.address", peer.ip().to_string())
                .attribute("client.port", peer.port());
        }
        if let Some(ua) = request
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
        {
            builder = builder.attribute("user_agent.original", truncate(ua, 512).to_owned());
        }
        builder = builder.attribute(
            "network.protocol.version",
            protocol_version(request.version),
        );
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
fn server_address(request: &RequestInfo<'_>) -> Option<(String, Option<u16>)> {
    if let Some(host) = request.uri.host() {
        return Some((host.to_owned(), request.uri.port_u16()));
    }
    let host = request.headers.get(http::header::HOST)?.to_str().ok()?;
    let authority: http::uri::Authority = host.parse().ok()?;
    Some((authority.host().to_owned(), authority.port_u16()))
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

/// `a=1&b=2` becomes `a=REDACTED&b=REDACTED` (keys are kept, at most 1 KiB of them).
pub(crate) fn redact_query(query: &str) -> String {
    let mut out = String::with_capacity(query.len().min(1024) + 16);
    for (i, pair) in query.split('&').enumerate() {
        if out.len() >= 1024 {
            out.push_str("&…");
            break;
        }
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((k, _)) => {
                let _ = write!(out, "{}=REDACTED", truncate(k, 128));
            }
            None => out.push_str(truncate(pair, 128)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_redacted_and_keys_kept() {
        assert_eq!(redact_query("a=1&b=two&flag"), "a=REDACTED&b=REDACTED&flag");
        assert_eq!(redact_query("=x"), "=REDACTED");
        let long = "k=v&".repeat(1000);
        assert!(redact_query(&long).len() < 1100);
    }

    #[test]
    fn server_address_comes_from_the_authority_or_the_host_header() {
        let req = http::Request::get("/x")
            .header("host", "shop.example:8080")
            .body(())
            .unwrap();
        let info = RequestInfo::from_request(&req);
        assert_eq!(
            server_address(&info),
            Some(("shop.example".into(), Some(8080)))
        );
        let req = http::Request::get("http://[::1]:9/x").body(()).unwrap();
        let info = RequestInfo::from_request(&req);
        assert_eq!(server_address(&info), Some(("[::1]".into(), Some(9))));
        let req = http::Request::get("/x")
            .header("host", "bad host")
            .body(())
            .unwrap();
        assert_eq!(server_address(&RequestInfo::from_request(&req)), None);
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 5), "abc");
    }
}
