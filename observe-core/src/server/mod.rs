//! Inbound HTTP handling shared by the server adapters (`observe-axum`,
//! `observe-tonic`): everything an adapter does for a request except talking to its
//! framework.
//!
//! An adapter calls [`Inbound::start`] with the request's method, URI, headers,
//! route template and peer address, polls the application inside
//! [`Inbound::span`], and calls [`Inbound::finish`] with the response status and
//! headers. In between, observe has:
//!
//! - extracted `traceparent`, `tracestate`, `baggage` and `x-request-id` (W3C rules;
//!   a request id is generated when absent);
//! - applied the trust policy ([`InboundContext`]): continue the caller's trace, or
//!   start a new one that links to it (public edges), and take user, account and
//!   feature flags from baggage only from a trusted caller;
//! - decided whether the request is a tracer bullet ([`crate::tracer_bullet`]):
//!   an attempt the policy refuses is logged, counted and served as standard;
//! - opened a server span named `METHOD /route/{template}` with OpenTelemetry's HTTP
//!   attributes, and the request context every log line of the request carries.
//!
//! [`Inbound::finish`] sets the status attributes (5xx is an error), answers with
//! `traceresponse`, `Server-Timing: observe;dur=<ms>` and `x-request-id`, writes the
//! access-log line and ends the span.
//!
//! ```
//! use observe_core::server::{Inbound, RequestInfo, ServerOptions};
//!
//! let capture = observe_core::testing::capture();
//! let request = http::Request::get("/orders/7?card=4242")
//!     .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
//!     .body(())
//!     .unwrap();
//! let options = ServerOptions::default();
//! let info = RequestInfo::from_request(&request).route(Some("/orders/{id}"));
//! let inbound = Inbound::start(&options, &info);
//! inbound.span().in_scope(|| tracing::info!("handling"));
//! let mut headers = http::HeaderMap::new();
//! inbound.finish(200, &mut headers);
//! assert!(headers.contains_key("traceresponse"));
//! assert!(headers["server-timing"].to_str().unwrap().starts_with("observe;dur="));
//!
//! capture.flush();
//! let span = capture.span("GET /orders/{id}");
//! assert_eq!(span.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! assert_eq!(span.attribute("url.query").unwrap().to_string(), "card=REDACTED");
//! ```

mod accept;
pub mod grpc;
mod names;

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use tracing_core::Level;

pub use grpc::{InboundRpc, RpcRequestInfo};
#[cfg(feature = "http-client")]
pub(crate) use names::{method_label, method_span_name as client_span_name};

use crate::clock::Tick;
use crate::config::{InboundContext, TracerBulletPolicy};
use crate::context::RequestType;
use crate::ids::SpanContext;
use crate::pipeline::Pipeline;
use crate::propagation::{self, RequestId};
use crate::span::{Span, SpanName};
use crate::tracer_bullet::InboundPolicy;

/// How the query string is recorded on the server span (`url.query`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum QueryRecording {
    /// Keys kept, every value replaced by `REDACTED` (the default): query strings
    /// carry tokens and personal data too often.
    #[default]
    Redacted,
    /// The query string as received.
    Full,
    /// No `url.query` attribute.
    Off,
}

/// What a server adapter does per request. Settings left unset follow the running
/// observe configuration ([`config::current`](crate::config::current)).
///
/// ```
/// use observe_core::config::InboundContext;
/// use observe_core::server::{QueryRecording, ServerOptions};
///
/// let options = ServerOptions::new()
///     .inbound_context(InboundContext::Restart) // a public edge
///     .access_log(Some(tracing::Level::DEBUG))
///     .query(QueryRecording::Off);
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
pub struct ServerOptions {
    inbound_context: Option<InboundContext>,
    tracer_bullet: Option<InboundPolicy>,
    access_log: Option<Level>,
    query: QueryRecording,
    server_timing: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            inbound_context: None,
            tracer_bullet: None,
            access_log: Some(Level::INFO),
            query: QueryRecording::Redacted,
            server_timing: true,
        }
    }
}

impl ServerOptions {
    /// The defaults: policies from the configuration, access log at `INFO`, query
    /// values redacted, `Server-Timing` on.
    pub fn new() -> Self {
        ServerOptions::default()
    }

    /// Trust the caller's trace context or restart (overrides
    /// `OBSERVE_INBOUND_CONTEXT`).
    pub fn inbound_context(mut self, inbound: InboundContext) -> Self {
        self.inbound_context = Some(inbound);
        self
    }

    /// The tracer-bullet policy (overrides `OBSERVE_TRACER_BULLET_POLICY`).
    pub fn tracer_bullet_policy(mut self, policy: InboundPolicy) -> Self {
        self.tracer_bullet = Some(policy);
        self
    }

    /// The level of the access-log line, or `None` for no access log (default
    /// `INFO`; the line is subject to the log filter like any event, under the
    /// target `observe::access`).
    pub fn access_log(mut self, level: Option<Level>) -> Self {
        self.access_log = level;
        self
    }

    /// How `url.query` is recorded (default [`QueryRecording::Redacted`]).
    pub fn query(mut self, query: QueryRecording) -> Self {
        self.query = query;
        self
    }

    /// Whether responses carry `Server-Timing: observe;dur=<ms>` (default `true`).
    pub fn server_timing(mut self, on: bool) -> Self {
        self.server_timing = on;
        self
    }
}

/// What an adapter knows about an inbound request.
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
    /// The peer's address.
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

/// One inbound request while it is handled. See the [module docs](self).
#[derive(Debug)]
pub struct Inbound {
    span: Span,
    state: Option<Box<State>>,
}

#[derive(Debug)]
struct State {
    start: Tick,
    method: &'static str,
    name: SpanName,
    /// Where the route starts in `name` (after `METHOD `), when a route matched.
    route_at: Option<usize>,
    request_id: RequestId,
    request_type: RequestType,
    access_log: Option<Level>,
    server_timing: bool,
    /// A panic was recorded: its message stays the span's status message.
    panicked: std::sync::atomic::AtomicBool,
}

impl Inbound {
    /// An inbound request that records nothing (observe is not initialised).
    pub const fn disabled() -> Inbound {
        Inbound {
            span: Span::disabled(),
            state: None,
        }
    }

    /// Starts handling a request: extraction, policies, context and server span.
    /// Does nothing (and costs one load) when observe is not initialised.
    pub fn start(options: &ServerOptions, request: &RequestInfo<'_>) -> Inbound {
        let Some(pipeline) = Pipeline::current() else {
            return Inbound::disabled();
        };
        let start = request.start.unwrap_or_else(Tick::now);
        let accepted = accept::accept(pipeline, options, request.headers);

        // The server span.
        let (method, method_index) = names::method_label(request.method);
        let name = names::span_name(method_index, request.route);
        let route_at = request.route.map(|r| name.as_str().len() - r.len());
        let mut builder = accepted
            .span(name.clone(), start)
            .attribute("http.request.method", method);
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
            match options.query {
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
        let span = accepted.attributes(builder).start();
        accepted.report(&span);

        active_requests().inc();
        Inbound {
            span,
            state: Some(Box::new(State {
                start,
                method,
                name,
                route_at,
                request_id: accepted.request_id,
                request_type: accepted.request_type,
                access_log: options.access_log,
                server_timing: options.server_timing,
                panicked: std::sync::atomic::AtomicBool::new(false),
            })),
        }
    }

    /// The server span: poll the application inside it
    /// ([`Span::in_scope`]) so its spans and log lines belong to the request.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// The server span's context (what `traceresponse` carries).
    pub fn span_context(&self) -> Option<SpanContext> {
        self.span.span_context()
    }

    /// The request id (echoed in `x-request-id`).
    pub fn request_id(&self) -> Option<&str> {
        self.state.as_ref().map(|s| s.request_id.as_str())
    }

    /// Whether this request is a tracer bullet.
    pub fn request_type(&self) -> RequestType {
        self.state
            .as_ref()
            .map_or(RequestType::Standard, |s| s.request_type)
    }

    /// Records a panic of the handler on the span (status error and an `exception`
    /// event), before the adapter answers 500.
    pub fn record_panic(&self, payload: &(dyn std::any::Any + Send)) {
        self.span.record_panic(payload);
        self.span.set_attribute("error.type", "panic");
        if let Some(state) = &self.state {
            state
                .panicked
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Ends a request whose client went away before the response was ready: the
    /// span is marked `observe.cancelled` and the request is logged and measured
    /// with status 499 (client closed request). Dropping an unfinished `Inbound`
    /// does the same.
    pub fn cancel(mut self) {
        self.end_cancelled();
    }

    fn end_cancelled(&mut self) {
        if self.state.is_some() {
            self.span.set_attribute("observe.cancelled", true);
            self.end(499, &mut HeaderMap::new());
        }
    }

    /// Finishes the request with `status`: response headers (`traceresponse`,
    /// `Server-Timing`, `x-request-id`) into `headers`, status attributes (5xx is an
    /// error), the access-log line, and the end of the span.
    pub fn finish(mut self, status: u16, headers: &mut HeaderMap) {
        self.end(status, headers);
    }

    fn end(&mut self, status: u16, headers: &mut HeaderMap) {
        let Some(state) = self.state.take() else {
            return;
        };
        let span = std::mem::replace(&mut self.span, Span::disabled());
        let end = Tick::now();
        let elapsed = state.start.duration_until(end);

        if let Some(cx) = span.span_context() {
            headers.insert(
                propagation::TRACERESPONSE,
                header_value(propagation::format_traceresponse(&cx).as_str()),
            );
        }
        if state.server_timing {
            headers.append(
                propagation::SERVER_TIMING,
                header_value(propagation::format_server_timing(elapsed).as_str()),
            );
        }
        if let Ok(v) = HeaderValue::from_str(state.request_id.as_str()) {
            headers.insert(propagation::X_REQUEST_ID, v);
        }

        span.set_attribute("http.response.status_code", u64::from(status));
        let panicked = state.panicked.load(std::sync::atomic::Ordering::Relaxed);
        let failed = status >= 500 || panicked;
        if status >= 500 && !panicked {
            span.set_attribute("error.type", status_text(status));
            span.set_error(format!("HTTP {status}"));
        }

        let route = state.route_at.map(|at| &state.name.as_str()[at..]);
        let trace_id = span.span_context().map(|c| c.trace_id).unwrap_or_default();
        crate::metrics::http_server_duration(
            route.unwrap_or(""),
            state.method,
            status,
            state.request_type,
        )
        .record_with_exemplar(
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            trace_id,
            failed,
        );
        active_requests().dec();

        if let Some(level) = state.access_log {
            span.in_scope(|| access_log(level, &state, route, status, elapsed));
        }
        span.end();
    }
}

impl Drop for Inbound {
    fn drop(&mut self) {
        self.end_cancelled();
    }
}

/// `http.server.active_requests`: requests in flight in this process.
fn active_requests() -> &'static crate::metrics::Gauge {
    static ACTIVE: std::sync::OnceLock<crate::metrics::Gauge> = std::sync::OnceLock::new();
    ACTIVE.get_or_init(|| crate::metrics::gauge(ACTIVE_REQUESTS, &[]))
}

/// The in-flight gauge's name (OpenTelemetry's).
pub const ACTIVE_REQUESTS: &str = "http.server.active_requests";

/// The counter of refused tracer-bullet attempts, labelled `reason`.
pub const TRACER_BULLET_DENIED: &str = "observe.tracer_bullet.denied";

/// The counter of inbound propagation headers (or members) ignored as invalid,
/// labelled `header`.
pub const PROPAGATION_REJECTED: &str = "observe.propagation.rejected";

fn access_log(level: Level, state: &State, route: Option<&str>, status: u16, elapsed: Duration) {
    let method = state.method;
    let route = route.unwrap_or(crate::server::UNMATCHED_ROUTE);
    let duration_ms = elapsed.as_secs_f64() * 1e3;
    macro_rules! log_at {
        ($level:expr) => {
            tracing::event!(
                target: "observe::access",
                $level,
                http.request.method = method,
                http.route = route,
                http.response.status_code = status,
                duration_ms,
                "{method} {route} {status}"
            )
        };
    }
    match level {
        Level::ERROR => log_at!(Level::ERROR),
        Level::WARN => log_at!(Level::WARN),
        Level::INFO => log_at!(Level::INFO),
        Level::DEBUG => log_at!(Level::DEBUG),
        _ => log_at!(Level::TRACE),
    }
}

/// The route label of requests that matched no route.
pub const UNMATCHED_ROUTE: &str = crate::metrics::names::UNMATCHED_ROUTE;

fn header_value(s: &str) -> HeaderValue {
    // Formatted by observe: visible ASCII only.
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn status_text(status: u16) -> String {
    itoa::Buffer::new().format(status).to_owned()
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

fn truncate(s: &str, max: usize) -> &str {
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

/// Whether the configured tracer-bullet policy for inbound requests honours
/// anything at all (for pages that explain why a button is disabled).
pub fn tracer_bullets_honoured(options: &ServerOptions) -> bool {
    match &options.tracer_bullet {
        Some(p) => p.policy() != TracerBulletPolicy::Deny,
        None => crate::config::current()
            .is_some_and(|c| c.propagation.tracer_bullet_policy != TracerBulletPolicy::Deny),
    }
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
