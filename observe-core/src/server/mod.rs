//! Inbound requests, shared by the server adapters (`observe-axum`,
//! `observe-tonic`): everything an adapter does for a request except talking to its
//! framework.
//!
//! # The four phases (for adapter authors)
//!
//! | phase | function | protocol |
//! | --- | --- | --- |
//! | 1. read the headers, decide trust and the tracer bullet | [`Admission::decide`] | any: a [`HeaderMap`] (HTTP headers, or gRPC metadata at the tower layer) and the peer's address |
//! | 2. build the request context | [`Admission::request_context`] | any |
//! | 3. open the server span, given its name, kind and attributes | [`Inbound::open`] with a [`ServerSpan`] | [`ServerSpan::http`] (from a [`RequestInfo`]), or [`ServerSpan::new`] for a protocol observe has no metric for |
//! | 4. finish: status → span status, metrics, response headers, access log | [`Inbound::finish`] | an HTTP status (5xx is an error) |
//!
//! [`Inbound::start`] runs phases 1 to 3 for an HTTP request. Between phases 3 and 4
//! the adapter polls the application inside [`Inbound::span`], unless
//! [`Inbound::refusal`] says the request must be answered without it.
//!
//! A gRPC call is an [`InboundRpc`] ([`grpc`]): [`InboundRpc::start`] runs phases 1
//! to 3 from the call's path and metadata ([`RpcRequestInfo`]), and
//! [`InboundRpc::finish`] is phase 4 with a gRPC status code and message. It is the
//! gRPC front of the same [`Inbound`]: one end of a request for every protocol, with
//! gRPC's status names, error rule, `rpc.server.call.duration` and deadline-aware
//! cancellation as the protocol's data.
//!
//! What observe does along the way:
//!
//! - extracts `traceparent`, `tracestate`, `baggage` and `x-request-id` (W3C rules;
//!   a request id is generated when absent);
//! - decides whether the caller is trusted, by its address
//!   ([`TrustedCallers`], `OBSERVE_TRUSTED_CALLERS`):
//!   the trace continues from anyone (or restarts with a link for untrusted
//!   callers, [`InboundContext::Restart`]), identity (user, account, flags) and the
//!   other baggage members are believed only from trusted callers, and an
//!   untrusted caller's `sampled` flag is honoured at a bounded rate;
//! - decides whether the request is a tracer bullet ([`crate::tracer_bullet`]): a
//!   marked request the policy does not accept is **refused** (fail closed:
//!   [`Refusal`], 403 with `observe-tracer-bullet-refused: <reason>`, logged at
//!   `WARN` and counted in `observe.tracer_bullet.refused{reason}`); it is never
//!   served as a standard request and never gets a dry run. An edge may opt into
//!   serving a marker that carries no token as a standard request with the marker
//!   removed ([`UntrustedMarker::Strip`], counted in
//!   `observe.tracer_bullet.stripped{reason}`);
//! - opens a server span (`METHOD /route/{template}` for HTTP) with OpenTelemetry's
//!   attributes, carrying the request context every log line of the request has.
//!
//! Finishing sets the status attributes (HTTP 5xx, or a gRPC code the server is
//! responsible for, is an error), answers with `traceresponse`,
//! `Server-Timing: observe;dur=<ms>`, `x-request-id` (and the refusal header),
//! records the duration metric, writes the access-log line and ends the span. A
//! tracer bullet is also answered with its footprint
//! ([`crate::footprint::HEADER`]: what it skipped here and downstream), which is
//! recorded as a `tracer_bullet.footprint` event on the server span and logged as
//! the request's last line; whatever header map the adapter gives phase 4 gets it
//! (HTTP response headers, or gRPC trailers).
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
//! assert!(inbound.refusal().is_none());
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
//!
//! The same phases for a protocol observe has no metric for:
//!
//! ```
//! use observe_core::server::{Admission, Inbound, ServerOptions, ServerSpan};
//!
//! let capture = observe_core::testing::capture();
//! let options = ServerOptions::default();
//! let metadata = http::HeaderMap::new();
//! let mut admission = Admission::decide(&options, &metadata, None);     // 1
//! let _context = admission.request_context();                          // 2
//! let span = ServerSpan::new("jobs.run")                                // 3
//!     .attribute("server.address", "jobs.internal");
//! let inbound = Inbound::open(&options, admission, span);
//! let mut headers = http::HeaderMap::new();
//! match inbound.refusal() {
//!     // answered without running the job
//!     Some(_) => inbound.finish(observe_core::server::Refusal::HTTP_STATUS, &mut headers),
//!     None => inbound.finish(200, &mut headers),                        // 4
//! }
//! capture.flush();
//! assert_eq!(capture.span("jobs.run").attribute("http.response.status_code").unwrap().to_string(), "200");
//! ```

mod admission;
pub mod grpc;
mod http;
mod names;
pub mod serve;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ::http::{HeaderMap, HeaderName, HeaderValue};
use tracing_core::Level;

pub use admission::{Admission, Refusal};
pub use grpc::{InboundRpc, RpcRequestInfo};
pub use http::RequestInfo;
#[cfg(feature = "http-client")]
pub(crate) use names::{method_label, method_span_name as client_span_name};

use crate::clock::Tick;
use crate::config::{InboundContext, TrustedCallers, UntrustedMarker};
use crate::context::RequestType;
use crate::ids::{SpanContext, TraceId};
use crate::pipeline::Pipeline;
use crate::propagation::{self, RequestId};
use crate::span::{KeyValue, Parent, Span, SpanBuilder, SpanKind, SpanName};
use crate::tracer_bullet::InboundPolicy;

use admission::SampledBudget;

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
/// observe configuration ([`Observe::current_config`](crate::Observe::current_config)).
///
/// Clones share one budget of untrusted `sampled` flags
/// (`OBSERVE_UNTRUSTED_SAMPLED_PER_SECOND`): give one `ServerOptions` (or one
/// layer) to every route of a server.
///
/// ```
/// use observe_core::config::{InboundContext, TrustedCallers};
/// use observe_core::server::{QueryRecording, ServerOptions};
///
/// let options = ServerOptions::new()
///     .inbound_context(InboundContext::Restart) // a public edge
///     .trusted_callers(TrustedCallers::from_patterns(["10.0.0.0/8"]).unwrap())
///     .access_log(Some(tracing::Level::DEBUG))
///     .query(QueryRecording::Off);
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
pub struct ServerOptions {
    inbound_context: Option<InboundContext>,
    trusted_callers: Option<TrustedCallers>,
    untrusted_sampled_per_second: Option<u32>,
    tracer_bullet: Option<InboundPolicy>,
    untrusted_marker: Option<UntrustedMarker>,
    access_log: Option<Level>,
    query: QueryRecording,
    server_timing: bool,
    sampled_budget: Arc<SampledBudget>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            inbound_context: None,
            trusted_callers: None,
            untrusted_sampled_per_second: None,
            tracer_bullet: None,
            untrusted_marker: None,
            access_log: Some(Level::INFO),
            query: QueryRecording::Redacted,
            server_timing: true,
            sampled_budget: Arc::default(),
        }
    }
}

impl ServerOptions {
    /// The defaults: policies from the configuration, access log at `INFO`, query
    /// values redacted, `Server-Timing` on.
    pub fn new() -> Self {
        ServerOptions::default()
    }

    /// Continue the caller's trace or restart it for untrusted callers (overrides
    /// `OBSERVE_INBOUND_CONTEXT`).
    pub fn inbound_context(mut self, inbound: InboundContext) -> Self {
        self.inbound_context = Some(inbound);
        self
    }

    /// The callers whose identity and tracer-bullet marker are believed (overrides
    /// `OBSERVE_TRUSTED_CALLERS`).
    pub fn trusted_callers(mut self, callers: TrustedCallers) -> Self {
        self.trusted_callers = Some(callers);
        self
    }

    /// How many requests a second from untrusted callers may have their `sampled`
    /// flag honoured (overrides `OBSERVE_UNTRUSTED_SAMPLED_PER_SECOND`).
    pub fn untrusted_sampled_per_second(mut self, per_second: u32) -> Self {
        self.untrusted_sampled_per_second = Some(per_second);
        self
    }

    /// The tracer-bullet policy (overrides `OBSERVE_TRACER_BULLET_POLICY`).
    pub fn tracer_bullet_policy(mut self, policy: InboundPolicy) -> Self {
        self.tracer_bullet = Some(policy);
        self
    }

    /// What a request marked by its baggage alone gets when the marker is not
    /// accepted: refused (the default) or, for a public edge, served as a standard
    /// request with the marker removed (overrides
    /// `OBSERVE_TRACER_BULLET_UNTRUSTED_MARKER`).
    pub fn untrusted_tracer_bullet_marker(mut self, marker: UntrustedMarker) -> Self {
        self.untrusted_marker = Some(marker);
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

/// Phase 3's input: the server span's name, attributes and start, and the protocol
/// that decides its metric and status in phase 4.
#[derive(Debug)]
#[must_use = "a server span does nothing until given to Inbound::open"]
pub struct ServerSpan {
    name: SpanName,
    builder: SpanBuilder,
    start: Option<Tick>,
    protocol: Protocol,
}

/// What phase 4 does in a protocol's terms: the status attribute and error rule,
/// the duration metric, the access-log line, cancellation.
#[derive(Debug)]
enum Protocol {
    /// HTTP status codes (5xx is an error), `http.server.request.duration`; the
    /// route is `name[route_at..]`.
    Http {
        method: &'static str,
        route_at: Option<usize>,
        /// `url.scheme` of the request, for `http.server.request.duration`.
        scheme: &'static str,
        /// The access-log message of a `200` answer, kept with the interned name.
        ok_message: Option<&'static str>,
    },
    /// gRPC status codes, `rpc.server.call.duration` (an [`InboundRpc`]).
    Grpc(grpc::Call),
    /// No metric, an HTTP-like status.
    Other,
}

impl ServerSpan {
    /// A server span for a protocol observe has no metric for: named `name`, with
    /// only the attributes added, finished with an HTTP-like status.
    pub fn new(name: impl Into<SpanName>) -> Self {
        let name = name.into();
        ServerSpan {
            builder: Span::builder(name.clone()),
            name,
            start: None,
            protocol: Protocol::Other,
        }
    }

    /// Adds an attribute.
    pub fn attribute(
        mut self,
        key: impl Into<std::borrow::Cow<'static, str>>,
        value: impl Into<crate::span::Value>,
    ) -> Self {
        self.builder = self.builder.attribute(key, value);
        self
    }

    /// When the request started, if the adapter saw it before now.
    pub fn start_time(mut self, start: Tick) -> Self {
        self.start = Some(start);
        self
    }
}

/// One inbound request while it is handled. See the [module docs](self).
///
/// The one implementation of a request's end for every protocol: gRPC's
/// [`InboundRpc`] is its front for gRPC calls.
#[derive(Debug)]
pub struct Inbound {
    span: Span,
    /// Inline, not boxed: the adapter's response future holds the `Inbound`, and is
    /// allocated anyway; a box was one more allocation per request, freed on
    /// another thread.
    state: Option<State>,
}

#[derive(Debug)]
struct State {
    start: Tick,
    name: SpanName,
    protocol: Protocol,
    request_id: RequestId,
    request_type: RequestType,
    refusal: Option<Refusal>,
    access_log: Option<Level>,
    server_timing: bool,
    /// A panic was recorded: its message stays the span's status message.
    panicked: AtomicBool,
    /// Counts a tracer bullet in flight in the process while it is served.
    tracer_bullet: Option<crate::task::TracerBulletInFlight>,
}

impl Inbound {
    /// An inbound request that records nothing (observe is not initialised).
    pub const fn disabled() -> Inbound {
        Inbound {
            span: Span::disabled(),
            state: None,
        }
    }

    /// Phases 1 to 3 for an HTTP request: [`Admission::decide`],
    /// [`ServerSpan::http`], [`Inbound::open`]. Does nothing (and costs one load)
    /// when observe is not initialised. Check [`refusal`](Self::refusal) before
    /// calling the application.
    pub fn start(options: &ServerOptions, request: &RequestInfo<'_>) -> Inbound {
        if Pipeline::current().is_none() {
            return Inbound::disabled();
        }
        let start = request.start.unwrap_or_else(Tick::now);
        let admission = Admission::decide(options, request.headers, request.peer.map(|p| p.ip()));
        let span = ServerSpan::http(request, options.query).start_time(start);
        Inbound::open(options, admission, span)
    }

    /// Phase 3: opens the server span with the admission's parent (or link), its
    /// request context (phase 2, built here if the adapter did not), the refusal or
    /// tracer-bullet attributes, and logs and counts what the admission decided
    /// (a refused request at `WARN`; a stripped marker, ignored baggage and rejected headers
    /// at `DEBUG`).
    pub fn open(options: &ServerOptions, admission: Admission, span: ServerSpan) -> Inbound {
        let Some(pipeline) = Pipeline::current().filter(|_| admission.enabled) else {
            return Inbound::disabled();
        };
        let ServerSpan {
            name,
            builder,
            start,
            protocol,
        } = span;
        let start = start.unwrap_or_else(Tick::now);
        let opened = Opened::new(pipeline, admission, &name, builder, start);
        if protocol.counts_active() {
            active_requests().inc();
        }
        Inbound {
            span: opened.span,
            state: Some(State {
                start,
                name,
                protocol,
                request_id: opened.request_id,
                request_type: opened.request_type,
                refusal: opened.refusal,
                access_log: options.access_log,
                server_timing: options.server_timing,
                panicked: AtomicBool::new(false),
                tracer_bullet: opened.tracer_bullet,
            }),
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

    /// The request is marked as a tracer bullet that this service does not accept:
    /// answer it with [`Refusal::HTTP_STATUS`] **without calling the application**,
    /// then finish as usual (the refusal header is added then).
    pub fn refusal(&self) -> Option<Refusal> {
        self.state.as_ref().and_then(|s| s.refusal)
    }

    /// Records a panic of the handler on the span (status error and an `exception`
    /// event), before the adapter answers 500.
    pub fn record_panic(&self, payload: &(dyn std::any::Any + Send)) {
        self.span.record_panic(payload);
        self.span.set_attribute("error.type", "panic");
        if let Some(state) = &self.state {
            state.panicked.store(true, Ordering::Relaxed);
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
        let Some(state) = &self.state else { return };
        let code = match &state.protocol {
            Protocol::Grpc(call) => call.cancelled_code(state.start.duration_until(Tick::now())),
            Protocol::Http { .. } | Protocol::Other => 499,
        };
        self.span.set_attribute("observe.cancelled", true);
        self.end(code, None, &mut HeaderMap::new());
    }

    /// Phase 4: response headers into `headers` (`traceresponse`, `Server-Timing`,
    /// `x-request-id`, and [`Refusal::HEADER`] for a refused request), the HTTP
    /// status on the span (5xx is an error), `http.server.request.duration` (with
    /// the trace id as exemplar; none for a [`ServerSpan::new`]), the access-log
    /// line, and the end of the span.
    pub fn finish(mut self, status: u16, headers: &mut HeaderMap) {
        self.end(u32::from(status), None, headers);
    }

    /// The end of a request, for every protocol: `code` and `message` are the
    /// protocol's status (an HTTP status has no message).
    fn end(&mut self, code: u32, message: Option<&str>, headers: &mut HeaderMap) {
        let Some(state) = self.state.take() else {
            return;
        };
        let span = std::mem::replace(&mut self.span, Span::disabled());
        let elapsed = state.start.duration_until(Tick::now());
        response_headers(&span, &state, elapsed, headers);
        let footprint = state
            .tracer_bullet
            .is_some()
            .then(|| finish_footprint(&span, headers))
            .flatten();

        let panicked = state.panicked.load(Ordering::Relaxed);
        let (code, status_error) = match &state.protocol {
            Protocol::Grpc(_) => {
                let code = grpc::known_code(code);
                span.set_attribute("rpc.grpc.status_code", i64::from(code));
                (code, grpc::is_server_error(code))
            }
            Protocol::Http { .. } | Protocol::Other => {
                span.set_attribute("http.response.status_code", u64::from(code));
                (code, code >= 500)
            }
        };
        let failed = status_error || panicked;
        if status_error && !panicked {
            match &state.protocol {
                Protocol::Grpc(_) => {
                    span.set_attribute("error.type", grpc::code_name(code));
                    span.set_error(grpc::status_message(code, message));
                }
                Protocol::Http { .. } | Protocol::Other => {
                    span.set_attribute("error.type", itoa::Buffer::new().format(code).to_owned());
                    span.set_error(format!("HTTP {code}"));
                }
            }
        }

        let trace_id = span.span_context().map(|c| c.trace_id).unwrap_or_default();
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        match &state.protocol {
            Protocol::Http { method, scheme, .. } => {
                crate::metrics::http_server_duration(
                    state.route().unwrap_or(""),
                    method,
                    u16::try_from(code).unwrap_or(u16::MAX),
                    scheme,
                    panicked.then_some("panic"),
                    state.request_type,
                )
                .record_with_exemplar(nanos, trace_id, failed);
            }
            Protocol::Grpc(call) => {
                call.answered(code);
                let (service, method) = call.labels(code);
                crate::metrics::rpc_server_duration(
                    grpc::GRPC,
                    service,
                    method,
                    Some(code),
                    state.request_type,
                )
                .record_with_exemplar(nanos, trace_id, failed);
            }
            Protocol::Other => {}
        }
        if state.protocol.counts_active() {
            active_requests().dec();
        }

        if let Some(level) = state.access_log {
            span.in_scope(|| access_log(level, &state, code, elapsed));
        }
        if let Some(footprint) = footprint {
            log_footprint(&span, &footprint);
        }
        span.end();
    }
}

impl Protocol {
    /// Whether the request is counted in `http.server.active_requests` (gRPC calls
    /// are not).
    fn counts_active(&self) -> bool {
        !matches!(self, Protocol::Grpc(_))
    }
}

/// The bullet's last log line at this service: what it skipped here and downstream.
pub(crate) fn log_footprint(span: &Span, footprint: &crate::footprint::Summary) {
    let (header, text) = (footprint.to_string(), footprint.describe());
    span.in_scope(|| {
        tracing::info!(
            target: "observe::tracer_bullet",
            footprint = header.as_str(),
            "tracer bullet footprint: {text}"
        );
    });
}

/// A tracer bullet's footprint at its end: the response header, and an event on
/// the server span (`tracer_bullet.footprint`).
pub(crate) fn finish_footprint(
    span: &Span,
    headers: &mut HeaderMap,
) -> Option<crate::footprint::Summary> {
    let ctx = span.request_context()?;
    let summary = ctx.footprint()?.summary();
    crate::footprint::insert_header(&summary, headers);
    span.add_event(
        "tracer_bullet.footprint",
        vec![
            KeyValue::new("observe.footprint", summary.to_string()),
            KeyValue::new("observe.footprint.services", summary.services().join(",")),
            KeyValue::new("observe.footprint.skipped", summary.skipped_total()),
            KeyValue::new("observe.footprint.blocked", summary.blocked_total()),
            KeyValue::new("observe.footprint.cut", summary.cut()),
        ],
    );
    Some(summary)
}

impl State {
    /// The HTTP route template as a `'static` string: interned, or the fixed label
    /// of an unmatched request; `None` for one beyond the interning bound.
    fn static_route(&self) -> Option<&'static str> {
        match (&self.protocol, &self.name) {
            (Protocol::Http { route_at: None, .. }, _) => Some(UNMATCHED_ROUTE),
            (
                Protocol::Http {
                    route_at: Some(at), ..
                },
                SpanName::Static(name),
            ) => name.get(*at..),
            _ => None,
        }
    }

    /// The HTTP route template, when one matched.
    fn route(&self) -> Option<&str> {
        match self.protocol {
            Protocol::Http {
                route_at: Some(at), ..
            } => self.name.as_str().get(at..),
            _ => None,
        }
    }
}

impl Drop for Inbound {
    fn drop(&mut self) {
        self.end_cancelled();
    }
}

/// A server span opened from an admission: what [`Inbound::open`] keeps of phases
/// 1 to 3, whatever the protocol.
pub(crate) struct Opened {
    pub(crate) span: Span,
    pub(crate) request_id: RequestId,
    pub(crate) request_type: RequestType,
    pub(crate) refusal: Option<Refusal>,
    /// A tracer bullet in flight (this service added to its footprint), until the
    /// request ends.
    pub(crate) tracer_bullet: Option<crate::task::TracerBulletInFlight>,
}

impl Opened {
    /// Opens the server span named `name` from `builder` with the admission's
    /// parent (or link), its request context (phase 2, built here if the adapter
    /// did not), the refusal or tracer-bullet attributes, and logs and counts what
    /// the admission decided.
    pub(crate) fn new(
        pipeline: &'static Pipeline,
        mut admission: Admission,
        name: &SpanName,
        builder: SpanBuilder,
        start: Tick,
    ) -> Opened {
        let ctx = admission.request_context();
        let request_type = admission.request_type();

        let mut parent = admission.parent;
        if admission.sampled_limited
            && let Some(p) = parent.as_mut()
        {
            // Beyond the budget, the local sampler decides, on a fresh draw: a
            // caller choosing trace ids cannot pick ones the ratio keeps.
            let sampled = pipeline
                .sampler()
                .sample_root(TraceId::random(), name, None);
            p.flags = p.flags.with_sampled(sampled);
        }
        let mut builder = builder
            .kind(SpanKind::Server)
            .parent(parent.map_or(Parent::Root, Parent::Remote))
            .context(ctx)
            .start_time(start);
        if let Some(link) = admission.link {
            builder = builder.link(
                link,
                vec![KeyValue::new(
                    "observe.link.reason",
                    "inbound_context_restart",
                )],
            );
        }
        if request_type == RequestType::TracerBullet {
            builder = builder.attribute("observe.request_type", RequestType::TracerBullet.as_str());
        }
        if let Some(refusal) = admission.refusal {
            builder = builder.attribute("observe.tracer_bullet.refused", refusal.as_str());
        }
        if let Some(reason) = admission.stripped {
            builder = builder.attribute("observe.tracer_bullet.stripped", reason.as_str());
        }
        if admission.sampled_limited {
            builder = builder.attribute("observe.sampling.untrusted_limited", true);
        }
        let rejections = admission.rejections();
        if !rejections.is_empty() {
            builder = builder.attribute("observe.propagation.rejected", rejections.total() as u64);
        }
        let span = builder.start();
        log_admission(&admission, &span);
        let tracer_bullet = (request_type == RequestType::TracerBullet).then(|| {
            if let Some(footprint) = span
                .request_context()
                .as_deref()
                .and_then(|c| c.footprint())
            {
                footprint.add_service(crate::footprint::service_name(pipeline));
            }
            crate::task::TracerBulletInFlight::enter()
        });
        Opened {
            span,
            request_id: admission.request_id,
            request_type,
            refusal: admission.refusal,
            tracer_bullet,
        }
    }
}

/// Logs and counts what phase 1 decided, inside the new span.
fn log_admission(admission: &Admission, span: &Span) {
    if let Some(refusal) = admission.refusal {
        crate::metrics::counter(TRACER_BULLET_REFUSED, &[("reason", refusal.as_str())]).inc();
        let reason = refusal.reason();
        span.in_scope(|| {
            tracing::warn!(
                target: "observe::tracer_bullet",
                reason = reason.as_str(),
                "tracer bullet refused ({}): {reason}; answered without running the request",
                reason.as_str(),
            );
        });
    }
    if let Some(reason) = admission.stripped {
        crate::metrics::counter(TRACER_BULLET_STRIPPED, &[("reason", reason.as_str())]).inc();
        // Expected traffic on the edge that opted in: the counter is the signal.
        span.in_scope(|| {
            tracing::debug!(
                target: "observe::tracer_bullet",
                reason = reason.as_str(),
                "tracer-bullet marker removed, served as a standard request (OBSERVE_TRACER_BULLET_UNTRUSTED_MARKER=strip): {reason}"
            );
        });
    }
    if admission.sampled_limited {
        crate::metrics::counter(UNTRUSTED_SAMPLED_LIMITED, &[]).inc();
    }
    if admission.ignored_baggage > 0 {
        crate::metrics::counter(UNTRUSTED_BAGGAGE, &[]).inc();
        let ignored = admission.ignored_baggage;
        span.in_scope(|| {
            tracing::debug!(
                target: "observe::propagation",
                ignored,
                "ignored {ignored} baggage member(s) of an untrusted caller (OBSERVE_TRUSTED_CALLERS)"
            );
        });
    }
    let rejections = admission.rejections();
    if !rejections.is_empty() {
        count_rejected(rejections);
        span.in_scope(|| {
            for rejection in rejections.iter() {
                tracing::debug!(target: "observe::propagation", "ignored inbound header: {rejection}");
            }
        });
    }
}

/// Counts each rejected header value in `observe.propagation.rejected{header}`
/// (inbound request headers here, a callee's response headers in the clients).
pub(crate) fn count_rejected(rejections: &propagation::Rejections) {
    for rejection in rejections.iter() {
        crate::metrics::counter(PROPAGATION_REJECTED, &[("header", rejection.header)]).inc();
    }
}

/// `traceresponse`, `Server-Timing`, `x-request-id` and the refusal header (for
/// gRPC, `Server-Timing` and the refusal header into the trailers: the other two
/// went into the initial metadata, [`InboundRpc::response_headers`]).
fn response_headers(span: &Span, state: &State, elapsed: Duration, headers: &mut HeaderMap) {
    const SERVER_TIMING: HeaderName = HeaderName::from_static(propagation::SERVER_TIMING);
    if !matches!(state.protocol, Protocol::Grpc(_)) {
        trace_headers(span, &state.request_id, headers);
    }
    if state.server_timing
        && let Some(v) = header_value(propagation::format_server_timing(elapsed).as_bytes())
    {
        headers.append(SERVER_TIMING, v);
    }
    if let Some(refusal) = state.refusal {
        refusal.insert_header(headers);
    }
}

/// `traceresponse` and `x-request-id`.
fn trace_headers(span: &Span, request_id: &RequestId, headers: &mut HeaderMap) {
    // Names as constants: a `&'static str` name is parsed and checked on every
    // insert (about 600 instructions each, docs/bench/http.md).
    const TRACERESPONSE: HeaderName = HeaderName::from_static(propagation::TRACERESPONSE);
    const X_REQUEST_ID: HeaderName = HeaderName::from_static(propagation::X_REQUEST_ID);
    if let Some(cx) = span.span_context()
        && let Some(v) = header_value(propagation::format_traceresponse(&cx).as_bytes())
    {
        headers.insert(TRACERESPONSE, v);
    }
    if let Some(v) = header_value(request_id.as_bytes()) {
        headers.insert(X_REQUEST_ID, v);
    }
}

/// `http.server.active_requests`: requests in flight in this process.
fn active_requests() -> &'static crate::metrics::Gauge {
    static ACTIVE: std::sync::OnceLock<crate::metrics::Gauge> = std::sync::OnceLock::new();
    ACTIVE.get_or_init(|| crate::metrics::gauge(ACTIVE_REQUESTS, &[]))
}

/// The in-flight gauge's name (OpenTelemetry's).
pub const ACTIVE_REQUESTS: &str = "http.server.active_requests";

/// The counter of refused tracer-bullet attempts, labelled `reason`
/// ([`DenyReason::as_str`](crate::tracer_bullet::DenyReason::as_str)).
pub const TRACER_BULLET_REFUSED: &str = "observe.tracer_bullet.refused";

/// The counter of tracer-bullet markers removed and served as standard requests
/// (an edge with [`UntrustedMarker::Strip`]), labelled `reason`.
pub const TRACER_BULLET_STRIPPED: &str = "observe.tracer_bullet.stripped";

/// The counter of requests whose untrusted caller's `sampled` flag was over the
/// budget, so the local sampler decided.
pub const UNTRUSTED_SAMPLED_LIMITED: &str = "observe.sampling.untrusted_limited";

/// The counter of requests whose baggage was ignored because the caller is not
/// trusted.
pub const UNTRUSTED_BAGGAGE: &str = "observe.propagation.untrusted_baggage";

/// The counter of inbound propagation headers (or members) ignored as invalid,
/// labelled `header`.
pub const PROPAGATION_REJECTED: &str = "observe.propagation.rejected";

/// `tracing::event!` needs its level as a constant.
macro_rules! at_level {
    ($level:expr, $log:ident) => {
        match $level {
            Level::ERROR => $log!(Level::ERROR),
            Level::WARN => $log!(Level::WARN),
            Level::INFO => $log!(Level::INFO),
            Level::DEBUG => $log!(Level::DEBUG),
            _ => $log!(Level::TRACE),
        }
    };
}

fn access_log(level: Level, state: &State, code: u32, elapsed: Duration) {
    let duration_ms = crate::clock::millis(elapsed);
    match &state.protocol {
        Protocol::Grpc(call) => {
            let (name, service, method) = (call.name(), call.service(), call.method());
            let status = grpc::code_name(code);
            // Observe's capture of the line reads these instead of the event's fields.
            let _prepared = crate::log::Prepared::set_grpc(call.access_fields(
                status,
                u64::from(code),
                duration_ms,
            ));
            macro_rules! log_at {
                ($level:expr) => {
                    tracing::event!(
                        target: "observe::access",
                        $level,
                        rpc.service = service,
                        rpc.method = method,
                        rpc.grpc.status_code = code,
                        duration_ms,
                        "{name} {status}"
                    )
                };
            }
            at_level!(level, log_at);
        }
        Protocol::Http {
            method, ok_message, ..
        } => {
            let route = state.route().unwrap_or(UNMATCHED_ROUTE);
            let code = u64::from(code);
            // Observe's capture of the line reads these instead of the event's fields.
            let _prepared = state.static_route().map(|route| {
                crate::log::Prepared::set(crate::log::AccessFields {
                    method,
                    route,
                    code,
                    duration_ms,
                    ok_message: ok_message.filter(|_| code == 200),
                })
            });
            macro_rules! log_at {
                ($level:expr) => {
                    tracing::event!(
                        target: "observe::access",
                        $level,
                        http.request.method = *method,
                        http.route = route,
                        http.response.status_code = code,
                        duration_ms,
                        "{method} {route} {code}"
                    )
                };
            }
            at_level!(level, log_at);
        }
        Protocol::Other => {
            let name = state.name.as_str();
            macro_rules! log_at {
                ($level:expr) => {
                    tracing::event!(target: "observe::access", $level, duration_ms, "{name} {code}")
                };
            }
            at_level!(level, log_at);
        }
    }
}

/// The route label of requests that matched no route.
pub const UNMATCHED_ROUTE: &str = crate::metrics::names::UNMATCHED_ROUTE;

/// A per-response header value from bytes observe formatted (ids, digits) or
/// validated (a request id), sent never-indexed ([`per_call`]). They are checked
/// to be visible ASCII eight bytes at a time, then handed to `HeaderValue` without
/// its own byte-by-byte check (about 2.5 instructions a byte: 290 a request for
/// the three values, counted). Bytes that fail are given to `HeaderValue`'s
/// checked constructor, and `None` means it refused them too.
fn header_value(bytes: &[u8]) -> Option<HeaderValue> {
    let v = if crate::log::visible_ascii(bytes) {
        // SAFETY: `from_maybe_shared_unchecked` needs bytes valid in a header value
        // (http accepts 0x20..=0x7e, tab and 0x80..=0xff); every byte was just
        // checked to be in 0x20..=0x7e.
        unsafe { HeaderValue::from_maybe_shared_unchecked(bytes::Bytes::copy_from_slice(bytes)) }
    } else {
        HeaderValue::from_bytes(bytes).ok()?
    };
    Some(per_call(v))
}

/// A value that differs on every response (a trace id, a request id, a duration):
/// never indexed by HTTP/2's header compression. Indexed, each one took a slot of
/// the connection's HPACK table and pushed out the entries that repeat (the
/// content type, `grpc-status`), which then went out literally again.
fn per_call(mut v: HeaderValue) -> HeaderValue {
    v.set_sensitive(true);
    v
}

/// The server layers that [`claim`] requests: one per protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayerKind {
    /// An HTTP server layer (observe-axum's).
    Http,
    /// A gRPC server layer (observe-tonic's).
    Grpc,
}

/// The mark a server layer leaves on a request it observes ([`claim`]).
#[derive(Debug, Clone, Copy)]
struct Observed(LayerKind);

/// Claims `extensions`' request for the server layer of `kind` about to observe
/// it: `false` when a layer of the same kind outside this one has it already,
/// `true` otherwise. The adapters pass a request they could not claim through
/// untouched, so that a layer added twice (by `serve!` and by the application's
/// router, say) records one span, one duration and one access line per request,
/// not two traces; the outer layer's options are the ones that apply, and the
/// first time it happens a warning says how to keep only one. A layer of another
/// kind still observes it: a tonic service inside an axum router is both an HTTP
/// request and a gRPC call.
pub fn claim(extensions: &mut ::http::Extensions, kind: LayerKind) -> bool {
    if extensions.get::<Observed>().is_some_and(|o| o.0 == kind) {
        warn_nested();
        return false;
    }
    extensions.insert(Observed(kind));
    true
}

#[cold]
fn warn_nested() {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            target: "observe::serve",
            "observe's server layer is applied twice to the same requests (`serve!` adds it \
             around every route, and the application added its own): only the outer one \
             observes them, with its own options. Keep one: remove the application's \
             `layer()`, or, to keep the application's, `serve!(..).without_layer()` \
             (observe-axum)"
        );
    }
}

/// Whether the configured tracer-bullet policy for inbound requests honours
/// anything at all (for pages that explain why a button is disabled).
pub fn tracer_bullets_honoured(options: &ServerOptions) -> bool {
    Admission::policy_honours_any(options)
}

#[cfg(test)]
mod tests {
    use super::{Inbound, RequestInfo, ServerOptions};

    #[test]
    fn a_request_is_claimed_once_per_kind_of_layer() {
        use super::{LayerKind, claim};
        let mut extensions = http::Extensions::new();
        assert!(claim(&mut extensions, LayerKind::Http));
        assert!(
            !claim(&mut extensions, LayerKind::Http),
            "an inner HTTP layer"
        );
        assert!(
            claim(&mut extensions, LayerKind::Grpc),
            "a tonic layer inside"
        );
        assert!(
            !claim(&mut extensions, LayerKind::Grpc),
            "a second tonic layer"
        );
    }

    #[test]
    fn per_response_values_are_never_indexed_by_http2_header_compression() {
        let _capture = crate::testing::capture();
        let request = http::Request::get("/orders/7").body(()).unwrap();
        let options = ServerOptions::default();
        let info = RequestInfo::from_request(&request);
        let inbound = Inbound::start(&options, &info);
        let mut headers = http::HeaderMap::new();
        inbound.finish(200, &mut headers);
        for name in ["traceresponse", "x-request-id", "server-timing"] {
            let value = &headers[name];
            assert!(value.is_sensitive(), "{name}: {value:?}");
        }
    }
}
