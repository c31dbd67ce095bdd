//! Inbound gRPC calls: what `observe-tonic` (or any gRPC server adapter) does for a
//! call except talk to its framework.
//!
//! [`InboundRpc`] is the gRPC front of [`Inbound`]: the same extraction, trust
//! policy, tracer-bullet decision, request context and end of the request as HTTP,
//! with the OpenTelemetry RPC conventions: a
//! server span named `package.Service/Method` with `rpc.system=grpc`,
//! `rpc.service`, `rpc.method`, `rpc.grpc.status_code`, and
//! `rpc.server.call.duration` per service, method, status code and request type
//! (with the trace id as exemplar). Errors follow OpenTelemetry's gRPC server rule:
//! `UNKNOWN`, `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE` and
//! `DATA_LOSS` are errors; the other codes are the client's business. A call to a
//! method the server does not have (`UNIMPLEMENTED`) is measured under [`OTHER`], a
//! status outside 0..=16 is `UNKNOWN`, and a call dropped unfinished ends as
//! `CANCELLED`, or `DEADLINE_EXCEEDED` once the client's `grpc-timeout` passed.
//!
//! ```
//! use observe_core::server::{InboundRpc, RpcRequestInfo, ServerOptions};
//!
//! let capture = observe_core::testing::capture();
//! let mut headers = http::HeaderMap::new();
//! headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
//! let uri: http::Uri = "http://orders.internal:50051/shop.Orders/Get".parse().unwrap();
//! let call = InboundRpc::start(&ServerOptions::default(), &RpcRequestInfo::new(&uri, &headers));
//! let mut response = http::HeaderMap::new();
//! call.response_headers(&mut response);
//! assert!(response.contains_key("traceresponse"));
//! call.finish(5, Some("no such order"), &mut http::HeaderMap::new()); // NOT_FOUND
//!
//! capture.flush();
//! let span = capture.span("shop.Orders/Get");
//! assert_eq!(span.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! assert_eq!(span.attribute("rpc.grpc.status_code").unwrap().to_string(), "5");
//! // NOT_FOUND is not an error of the server.
//! assert_eq!(span.status(), observe_core::span::StatusCode::Unset);
//! ```

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName};

use super::http::truncate;
use super::{Admission, Inbound, Protocol, Refusal, ServerOptions, ServerSpan, trace_headers};
use crate::clock::Tick;
use crate::context::RequestType;
use crate::ids::SpanContext;
use crate::log::GrpcAccessFields;
use crate::pipeline::Pipeline;
use crate::span::ServerExtra;
use crate::span::{Span, SpanName};

/// The `rpc.system` of gRPC.
pub const GRPC: &str = crate::metrics::names::GRPC;

/// The `rpc.service` and `rpc.method` label of a call whose method the server does
/// not have (answered `UNIMPLEMENTED`), or whose path is not `/Service/Method`: a
/// client cannot grow the metrics by calling made-up methods.
pub const OTHER: &str = crate::metrics::names::OTHER;

/// The span name of a call whose path is not `/Service/Method`.
const INVALID_PATH_NAME: &str = GRPC;

/// The longest `Service/Method` taken as a name; longer paths are [`OTHER`].
const MAX_NAME: usize = 256;

/// gRPC status codes, by value: what `error.type` and the access log say.
const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// `CANCELLED`: the client went away.
pub const CANCELLED: u32 = 1;
/// `UNKNOWN`: what a code outside 0..=16 means.
pub const UNKNOWN: u32 = 2;
/// `DEADLINE_EXCEEDED`.
pub const DEADLINE_EXCEEDED: u32 = 4;
/// `FAILED_PRECONDITION`: what a tracer bullet's call to an external target gets
/// (observe-tonic's `client::TRACER_BULLET_BLOCKED`).
pub const FAILED_PRECONDITION: u32 = 9;
/// `UNIMPLEMENTED`: no such method.
pub const UNIMPLEMENTED: u32 = 12;
/// `INTERNAL`: what a panicking handler is answered with.
pub const INTERNAL: u32 = 13;

/// The name of a gRPC status code (`NOT_FOUND`); `UNKNOWN` outside 0..=16.
pub fn code_name(code: u32) -> &'static str {
    CODE_NAMES
        .get(code as usize)
        .copied()
        .unwrap_or(CODE_NAMES[UNKNOWN as usize])
}

/// Whether a status code is an error of the server (OpenTelemetry's gRPC
/// conventions for server spans).
pub fn is_server_error(code: u32) -> bool {
    crate::metrics::grpc_server_error(code)
}

/// A status code as recorded: `UNKNOWN` outside 0..=16.
pub(super) fn known_code(code: u32) -> u32 {
    if code > 16 { UNKNOWN } else { code }
}

/// What an adapter knows about an inbound gRPC call.
#[derive(Debug, Clone, Copy)]
pub struct RpcRequestInfo<'a> {
    /// The request target: its path is `/package.Service/Method`; its authority,
    /// when present (HTTP/2's `:authority`), is `server.address`.
    pub uri: &'a http::Uri,
    /// The request metadata.
    pub headers: &'a HeaderMap,
    /// The peer's address.
    pub peer: Option<SocketAddr>,
    /// The local address the call arrived on (`server.port` when the authority has
    /// none).
    pub local: Option<SocketAddr>,
    /// When the call started, if the adapter saw it before now.
    pub start: Option<Tick>,
}

impl<'a> RpcRequestInfo<'a> {
    /// A call to `uri` with these headers.
    pub fn new(uri: &'a http::Uri, headers: &'a HeaderMap) -> Self {
        RpcRequestInfo {
            uri,
            headers,
            peer: None,
            local: None,
            start: None,
        }
    }

    /// Sets the peer address.
    pub fn peer(mut self, peer: Option<SocketAddr>) -> Self {
        self.peer = peer;
        self
    }

    /// Sets the local address.
    pub fn local(mut self, local: Option<SocketAddr>) -> Self {
        self.local = local;
        self
    }
}

/// One inbound gRPC call while it is handled, from its headers to its status
/// (after the last message of a stream): an [`Inbound`] with gRPC's status. See the
/// [module docs](self).
///
/// Dropped before [`finish`](InboundRpc::finish) (the client cancelled, or the
/// connection broke), it ends the call as `CANCELLED`, or as `DEADLINE_EXCEEDED`
/// when the client's `grpc-timeout` had passed.
#[derive(Debug)]
pub struct InboundRpc {
    inbound: Inbound,
}

/// What the end of an [`Inbound`] needs to know of a gRPC call.
#[derive(Debug)]
pub(super) struct Call {
    names: Arc<Names>,
    /// The client's deadline (`grpc-timeout`), from the start.
    deadline: Option<Duration>,
}

impl Call {
    /// `package.Service/Method` (`grpc` for a path that is not one, as the span).
    pub(super) fn name(&self) -> &str {
        if self.names.other {
            INVALID_PATH_NAME
        } else {
            &self.names.span
        }
    }

    pub(super) fn service(&self) -> &str {
        self.names.service()
    }

    pub(super) fn method(&self) -> &str {
        self.names.method()
    }

    /// The call was answered with `code` (see `Names::answered`).
    pub(super) fn answered(&self, code: u32) {
        self.names.answered(u64::from(code));
    }

    /// The access-log line's fields, for its capture (see `log::Prepared`).
    pub(super) fn access_fields(
        &self,
        status: &'static str,
        code: u64,
        duration_ms: f64,
    ) -> GrpcAccessFields {
        GrpcAccessFields {
            name: self.names.span_name(),
            method_at: self.names.method_at,
            invalid_path: self.names.other,
            ok_message: if code == 0 && !self.names.other {
                self.names.ok_message()
            } else {
                None
            },
            status,
            code,
            duration_ms,
        }
    }

    /// `rpc.service` and `rpc.method` of the duration metric: a made-up method
    /// (`UNIMPLEMENTED`) must not become a metric key of its own.
    pub(super) fn labels(&self, code: u32) -> (&str, &str) {
        if code == UNIMPLEMENTED {
            (OTHER, OTHER)
        } else {
            (self.service(), self.method())
        }
    }

    /// The status of a call whose client went away after `elapsed`.
    pub(super) fn cancelled_code(&self, elapsed: Duration) -> u32 {
        match self.deadline {
            Some(deadline) if elapsed >= deadline => DEADLINE_EXCEEDED,
            _ => CANCELLED,
        }
    }
}

/// The names of one method, shared between the calls of a thread.
#[derive(Debug)]
struct Names {
    /// `package.Service/Method`, the span name.
    span: Arc<str>,
    /// Where `Method` starts in `span`.
    method_at: usize,
    /// `span` kept for the process (`names::intern_grpc_name`), once a call of the
    /// method was answered `OK`: later calls' span names and access-log lines
    /// borrow it (no reference count shared between threads, no copy of the
    /// service and method). `Some(None)`: beyond the bound.
    interned: std::sync::OnceLock<Option<super::names::InternedGrpcName>>,
    /// The names of every call whose path is not `/Service/Method`
    /// (`_OTHER/_OTHER`): its span and access line are named [`INVALID_PATH_NAME`].
    other: bool,
}

impl Names {
    fn new(span: Arc<str>, method_at: usize) -> Names {
        Names {
            span,
            method_at,
            interned: std::sync::OnceLock::new(),
            other: false,
        }
    }

    /// The name for a span or an access-log line: interned if it was.
    fn span_name(&self) -> SpanName {
        match self.interned.get() {
            Some(Some(interned)) => SpanName::Static(interned.name),
            _ => SpanName::Shared(self.span.clone()),
        }
    }

    /// The access-log message of a call answered `OK`, when the name is interned.
    fn ok_message(&self) -> Option<&'static str> {
        self.interned.get().copied().flatten().map(|i| i.ok_message)
    }

    /// A call of the method was answered with `code`. `OK`: the method exists and
    /// the caller may call it, so its name is kept for the process. Any other code
    /// could come from before routing (an authentication interceptor answering
    /// `UNAUTHENTICATED`, observe's own `PERMISSION_DENIED`) for a made-up name.
    fn answered(&self, code: u64) {
        if code == 0 {
            self.interned
                .get_or_init(|| super::names::intern_grpc_name(&self.span));
        }
    }

    fn service(&self) -> &str {
        &self.span[..self.method_at - 1]
    }

    fn method(&self) -> &str {
        &self.span[self.method_at..]
    }
}

/// Method names remembered per thread before the cache starts over: the methods of
/// a server are a bounded set; this bounds a client calling made-up ones.
const CAPACITY: usize = 1024;

thread_local! {
    static NAMES: RefCell<NameCache> = RefCell::new(NameCache::default());
}

/// The method names a thread has seen, and the last one: a server's calls mostly
/// repeat a method, and comparing the path with it costs less than validating and
/// hashing it.
#[derive(Default)]
struct NameCache {
    last: Option<Arc<Names>>,
    map: HashMap<Box<str>, Arc<Names>>,
}

/// `Service/Method` from a path `/Service/Method`, when it is one: both parts
/// non-empty, letters, digits, `_` and `.` only (protobuf names), at most
/// [`MAX_NAME`] bytes.
fn valid_name(path: &str) -> Option<(&str, usize)> {
    let name = path.strip_prefix('/')?;
    if name.len() > MAX_NAME {
        return None;
    }
    let slash = name.find('/')?;
    let (service, method) = (&name[..slash], &name[slash + 1..]);
    let ok = |s: &str, dot: bool| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || (dot && b == b'.'))
    };
    (ok(service, true) && ok(method, false)).then_some((name, slash + 1))
}

fn names(path: &str) -> Option<Arc<Names>> {
    let last = NAMES
        .try_with(|cache| {
            let cache = cache.try_borrow().ok()?;
            let last = cache.last.as_ref()?;
            // Validated when it was cached.
            (path.strip_prefix('/') == Some(&*last.span)).then(|| last.clone())
        })
        .ok()
        .flatten();
    if last.is_some() {
        return last;
    }
    let (name, method_at) = valid_name(path)?;
    let make = || Arc::new(Names::new(name.into(), method_at));
    let cached = NAMES
        .try_with(|cache| {
            let mut cache = cache.try_borrow_mut().ok()?;
            let names = match cache.map.get(name) {
                Some(names) => names.clone(),
                None => {
                    if cache.map.len() >= CAPACITY {
                        cache.map.clear();
                    }
                    let names = make();
                    cache.map.insert(name.into(), names.clone());
                    names
                }
            };
            cache.last = Some(names.clone());
            Some(names)
        })
        .ok()
        .flatten();
    Some(cached.unwrap_or_else(make))
}

/// The names of a call whose path is not `/Service/Method`.
fn other_names() -> Arc<Names> {
    static OTHER_NAMES: std::sync::OnceLock<Arc<Names>> = std::sync::OnceLock::new();
    OTHER_NAMES
        .get_or_init(|| {
            Arc::new(Names {
                other: true,
                ..Names::new(Arc::from(format!("{OTHER}/{OTHER}")), OTHER.len() + 1)
            })
        })
        .clone()
}

/// `grpc-timeout`: at most 8 digits and a unit (`H`, `M`, `S`, `m`, `u`, `n`).
fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    // A name as a constant: a `&str` is parsed and checked on every lookup.
    const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");
    let v = headers.get(GRPC_TIMEOUT)?.as_bytes();
    let (unit, digits) = v.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

impl ServerSpan {
    /// The server span of a gRPC call: named `package.Service/Method` (`grpc` when
    /// the path is not one), with `rpc.system`, `rpc.service`, `rpc.method`,
    /// `server.address`, `server.port` and the peer's attributes; measured in
    /// `rpc.server.call.duration`.
    fn grpc(request: &RpcRequestInfo<'_>) -> ServerSpan {
        let (names, name) = match names(request.uri.path()) {
            Some(names) => {
                let name = names.span_name();
                (names, name)
            }
            None => (other_names(), SpanName::Static(INVALID_PATH_NAME)),
        };
        // Typed until read (see `span::deferred`): one allocation for all of them,
        // no string per attribute per call. The status code, the message counts
        // and at most `error.type` and `observe.cancelled` join them at the end.
        let mut server = Box::<ServerExtra>::default();
        let a = &mut server.deferred;
        a.push_value("rpc.system", GRPC);
        a.push_text("rpc.service", names.service());
        a.push_text("rpc.method", names.method());
        let authority = request
            .uri
            .host()
            .map(|h| (h, super::http::uri_port(request.uri)));
        match (authority, request.local) {
            (Some((host, port)), local) => {
                a.push_text("server.address", host);
                if let Some(port) = port.or(local.map(|l| l.port())) {
                    a.push_value("server.port", port);
                }
            }
            (None, Some(local)) => {
                a.push_ip("server.address", local.ip());
                a.push_value("server.port", local.port());
            }
            (None, None) => {}
        }
        if let Some(peer) = request.peer {
            a.push_ip("client.address", peer.ip());
            a.push_value("client.port", peer.port());
            a.push_ip("network.peer.address", peer.ip());
            a.push_value("network.peer.port", peer.port());
            a.push_value("network.transport", "tcp");
            a.push_value("network.type", if peer.is_ipv4() { "ipv4" } else { "ipv6" });
        }
        let builder = Span::builder(name.clone()).deferred(server);
        ServerSpan {
            name,
            builder,
            start: request.start,
            protocol: Protocol::Grpc(Call {
                names,
                deadline: grpc_timeout(request.headers),
            }),
        }
    }
}

impl InboundRpc {
    /// A call that records nothing (observe is not initialised).
    pub const fn disabled() -> InboundRpc {
        InboundRpc {
            inbound: Inbound::disabled(),
        }
    }

    /// Starts handling a call: phases 1 to 3 of the [module table](super)
    /// (extraction, policies, context and server span). Does nothing (and costs
    /// one load) when observe is not initialised.
    pub fn start(options: &ServerOptions, request: &RpcRequestInfo<'_>) -> InboundRpc {
        if Pipeline::current().is_none() {
            return InboundRpc::disabled();
        }
        let start = request.start.unwrap_or_else(Tick::now);
        let admission = Admission::decide(options, request.headers, request.peer.map(|p| p.ip()));
        if !admission.enabled {
            return InboundRpc::disabled();
        }
        let span = ServerSpan::grpc(request).start_time(start);
        InboundRpc {
            inbound: Inbound::open(options, admission, span),
        }
    }

    /// The server span: poll the handler, and the response stream, inside it
    /// ([`Span::in_scope`]).
    pub fn span(&self) -> &Span {
        self.inbound.span()
    }

    /// The server span's context (what `traceresponse` carries).
    pub fn span_context(&self) -> Option<SpanContext> {
        self.inbound.span_context()
    }

    /// The request id (echoed in `x-request-id`).
    pub fn request_id(&self) -> Option<&str> {
        self.inbound.request_id()
    }

    /// Whether this call is a tracer bullet.
    pub fn request_type(&self) -> RequestType {
        self.inbound.request_type()
    }

    /// A tracer-bullet marker this service does not accept (fail closed): the
    /// adapter answers [`Refusal::GRPC_CODE`] (`PERMISSION_DENIED`) without calling
    /// the service, and [`finish`](Self::finish) adds the refusal header.
    pub fn refusal(&self) -> Option<Refusal> {
        self.inbound.refusal()
    }

    fn call(&self) -> Option<&Call> {
        match &self.inbound.state.as_ref()?.protocol {
            Protocol::Grpc(call) => Some(call),
            Protocol::Http { .. } | Protocol::Other => None,
        }
    }

    /// `rpc.service`, or `None` when disabled.
    pub fn service(&self) -> Option<&str> {
        self.call().map(Call::service)
    }

    /// `rpc.method`, or `None` when disabled.
    pub fn method(&self) -> Option<&str> {
        self.call().map(Call::method)
    }

    /// The response's initial metadata: `traceresponse` and `x-request-id`
    /// (`Server-Timing` goes with the status, when the call's duration is known).
    pub fn response_headers(&self, headers: &mut HeaderMap) {
        if let Some(state) = &self.inbound.state {
            trace_headers(&self.inbound.span, &state.request_id, headers);
        }
    }

    /// Records a panic of the handler on the span (status error and an `exception`
    /// event), before the adapter answers `INTERNAL`.
    pub fn record_panic(&self, payload: &(dyn std::any::Any + Send)) {
        self.inbound.record_panic(payload);
    }

    /// Ends a call whose client went away: `CANCELLED`, or `DEADLINE_EXCEEDED`
    /// once the client's deadline passed; the span is marked `observe.cancelled`.
    /// Dropping an unfinished call does the same.
    pub fn cancel(self) {
        self.inbound.cancel();
    }

    /// Finishes the call with its status: `rpc.grpc.status_code` (a server error
    /// per OpenTelemetry is the span's error, with `error.type` the code's name
    /// and the message as status message), `Server-Timing` into `trailers` (the
    /// response's trailers, or its headers for a trailers-only response), the
    /// `rpc.server.call.duration` observation, the access-log line, and the end of
    /// the span.
    pub fn finish(mut self, code: u32, message: Option<&str>, trailers: &mut HeaderMap) {
        self.inbound.end(code, message, trailers);
    }
}

/// A span's status message: the code's name and at most 1 KiB of the status
/// message.
pub(crate) fn status_message(code: u32, message: Option<&str>) -> String {
    match message {
        // The peer's text: control characters (a forged line, a terminal escape)
        // and bidirectional overrides are written escaped, as `\n`, `\u{202e}`.
        Some(m) if !m.is_empty() => {
            let m = truncate(m, 1024);
            let unsafe_char = |c: char| {
                c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
            };
            if m.chars().any(unsafe_char) {
                format!("{}: {}", code_name(code), m.escape_debug())
            } else {
                format!("{}: {m}", code_name(code))
            }
        }
        _ => code_name(code).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_message_keeps_control_characters_escaped() {
        assert_eq!(
            status_message(2, Some("\u{202e}\0\r\nforged")),
            "UNKNOWN: \\u{202e}\\0\\r\\nforged"
        );
        assert_eq!(
            status_message(5, Some("no such order")),
            "NOT_FOUND: no such order"
        );
        assert_eq!(status_message(0, None), "OK");
    }

    #[test]
    fn a_method_name_is_kept_for_the_process_once_a_call_of_it_was_answered_ok() {
        let names = Names::new(Arc::from("shop.Orders/Made_up"), "shop.Orders/".len());
        // Unimplemented, refused before routing, or failed: not kept.
        for code in [12, 16, 7, 5, 13] {
            names.answered(code);
            assert!(matches!(names.span_name(), SpanName::Shared(_)), "{code}");
            assert_eq!(names.ok_message(), None);
        }
        let names = Names::new(Arc::from("shop.Orders/Get"), "shop.Orders/".len());
        assert!(matches!(names.span_name(), SpanName::Shared(_)), "not yet");
        names.answered(0);
        assert!(matches!(
            names.span_name(),
            SpanName::Static("shop.Orders/Get")
        ));
        // Another thread's names for the same method get the same string.
        let again = Names::new(Arc::from("shop.Orders/Get"), "shop.Orders/".len());
        again.answered(0);
        let (SpanName::Static(a), SpanName::Static(b)) = (names.span_name(), again.span_name())
        else {
            panic!("not interned")
        };
        assert!(std::ptr::eq(a, b));
        // The access line's message of an `OK` answer comes with the name.
        assert_eq!(names.ok_message(), Some("shop.Orders/Get OK"));
        assert!(std::ptr::eq(
            names.ok_message().unwrap(),
            again.ok_message().unwrap()
        ));
    }

    #[test]
    fn interned_method_names_are_bounded() {
        // Other tests of this process may have interned a few names already.
        let kept: Vec<bool> = (0..1100)
            .map(|i| crate::server::names::intern_grpc_name(&format!("svc.S/M{i}")).is_some())
            .collect();
        let first_refused = kept.iter().position(|k| !k).expect("a bound");
        assert!((1000..=1024).contains(&first_refused), "{first_refused}");
        assert!(kept[first_refused..].iter().all(|k| !k));
        let names = Names::new(Arc::from("svc.S/Late"), "svc.S/".len());
        names.answered(0);
        assert!(matches!(names.span_name(), SpanName::Shared(_)));
    }

    #[test]
    fn paths_become_service_and_method_only_when_well_formed() {
        assert_eq!(
            valid_name("/helloworld.Greeter/SayHello"),
            Some(("helloworld.Greeter/SayHello", 19))
        );
        for bad in [
            "",
            "/",
            "//x",
            "/svc/",
            "/svc",
            "svc/m",
            "/a b/m",
            "/svc/m/extra",
            "/svc/m.x",
        ] {
            assert_eq!(valid_name(bad), None, "{bad:?}");
        }
        let long = format!("/{}/m", "s".repeat(MAX_NAME));
        assert_eq!(valid_name(&long), None);
    }

    #[test]
    fn method_names_are_shared_between_calls() {
        let a = names("/shop.Orders/Get").unwrap();
        let b = names("/shop.Orders/Get").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!((a.service(), a.method()), ("shop.Orders", "Get"));
        let other = names("/shop.Orders/List").unwrap();
        assert_eq!(other.method(), "List");
        assert!(Arc::ptr_eq(&names("/shop.Orders/Get").unwrap(), &a));
        // The last method is compared whole: neither a longer path nor an invalid
        // one is taken for it.
        assert_eq!(names("/shop.Orders/Get").unwrap().method(), "Get");
        assert_eq!(names("/shop.Orders/Gets").unwrap().method(), "Gets");
        assert!(names("/shop.Orders/Get/").is_none());
    }

    #[test]
    fn grpc_timeout_units() {
        let mut h = HeaderMap::new();
        for (v, d) in [
            ("5S", Duration::from_secs(5)),
            ("100m", Duration::from_millis(100)),
            ("2H", Duration::from_secs(7200)),
            ("7n", Duration::from_nanos(7)),
        ] {
            h.insert("grpc-timeout", v.parse().unwrap());
            assert_eq!(grpc_timeout(&h), Some(d), "{v}");
        }
        for bad in ["S", "123456789S", "5x", "-5S", "5"] {
            h.insert("grpc-timeout", bad.parse().unwrap());
            assert_eq!(grpc_timeout(&h), None, "{bad}");
        }
    }

    #[test]
    fn server_errors_follow_the_opentelemetry_grpc_rule() {
        let errors: Vec<u32> = (0..=16).filter(|&c| is_server_error(c)).collect();
        assert_eq!(errors, [2, 4, 12, 13, 14, 15]);
        assert!(is_server_error(99));
        assert_eq!(code_name(5), "NOT_FOUND");
        assert_eq!(code_name(99), "UNKNOWN");
    }
}
