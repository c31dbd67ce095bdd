//! Outgoing HTTP: the request's context goes to every service it calls.
//!
//! For each outgoing request, [`Outgoing::start`] opens a client span (a child of
//! the current span), decides the audience of the host, and writes the headers:
//!
//! | header | sent to |
//! | --- | --- |
//! | `traceparent`, `tracestate` | every host |
//! | `baggage` (user, account, request type, flags, other members), `x-request-id`, `observe-tracer-bullet` | internal hosts only (`OBSERVE_INTERNAL_HOSTS`) |
//!
//! so user and account ids never leak to third parties: a `baggage` header the
//! application set itself (a gateway copying its caller's metadata) is removed
//! too when the host is not internal. In a tracer bullet, a
//! request to a host outside the internal set is **not sent** (third parties'
//! quotas and side effects count too): it fails with [`TracerBulletBlocked`],
//! recorded on the span, unless the host is allowed explicitly
//! ([`ClientOptions::allow_in_tracer_bullet`], for idempotent reads).
//!
//! **The token vouches only for what this service checked.** A service that holds
//! the tracer-bullet key signs a fresh `observe-tracer-bullet` token for internal
//! calls only when the bullet was [`Verified`](crate::context::TracerBulletOrigin::Verified)
//! on the way in or [`Started`](crate::context::TracerBulletOrigin::Started) here;
//! a bullet [`Relayed`](crate::context::TracerBulletOrigin::Relayed) by a trusted
//! caller's marker carries the mode downstream, and that caller's token unchanged
//! when this service has no key to check it, never a token of this service. So an
//! unsigned marker never becomes a signed one on its way through. An
//! `observe-tracer-bullet` header the application set itself is removed: only
//! observe decides what it carries.
//!
//! **Redirects.** Every request observe sees is decided on its own: audience,
//! headers, tracer-bullet block. A client that follows redirects *itself* sends the
//! next hop without observe: reqwest's default client keeps `baggage`,
//! `x-request-id` and the token on a redirect to another host. The reqwest
//! integration therefore follows redirects itself, hop by hop, on a client that
//! does not ([`ObserveMiddleware::client_builder`]); see [`ObserveMiddleware`] for
//! what happens with a client you built. hyper-util's client does not follow
//! redirects; with tower-http's `FollowRedirect`, put it *outside*
//! [`ObserveClientLayer`] so that each hop passes through observe.
//!
//! [`Outgoing::finish`] records the status (4xx and 5xx are errors for a client, as
//! OpenTelemetry says) and, from the callee's `Server-Timing: observe;dur=<ms>`, its
//! own duration next to the one seen here (`observe.callee.duration_ms`,
//! `observe.network.duration_ms`: the difference is network and queueing).
//!
//! Two integrations use it: [`ObserveClientLayer`], a tower layer for
//! `hyper-util`'s client or any tower HTTP service (feature `http-client`), and
//! [`ObserveMiddleware`] for `reqwest-middleware` (feature `reqwest`).
//!
//! ```
//! use observe_core::client::{ClientOptions, Outgoing};
//! use observe_core::span::Span;
//!
//! let capture = observe_core::testing::capture();
//! Span::new("job").in_scope(|| {
//!     let mut headers = http::HeaderMap::new();
//!     let uri: http::Uri = "https://api.example.com/v1/rates?key=s3cret".parse().unwrap();
//!     let outgoing = Outgoing::start(&ClientOptions::default(), &http::Method::GET, &uri, &mut headers)
//!         .expect("not a tracer bullet");
//!     assert!(headers.contains_key("traceparent"));
//!     assert!(!headers.contains_key("baggage")); // not an internal host
//!     outgoing.finish(200, &http::HeaderMap::new());
//! });
//! capture.flush();
//! let span = capture.span("GET");
//! assert_eq!(span.attribute("server.address").unwrap().to_string(), "api.example.com");
//! assert_eq!(span.attribute("url.full").unwrap().to_string(), "https://api.example.com/v1/rates?key=REDACTED");
//! ```

pub mod grpc;
#[cfg(feature = "http-client")]
mod layer;
#[cfg(feature = "reqwest")]
mod reqwest;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use http::HeaderMap;

pub use grpc::OutgoingRpc;
#[cfg(feature = "http-client")]
pub use layer::{ClientFuture, ClientService, ObserveClientLayer};
#[cfg(feature = "reqwest")]
pub use reqwest::{DEFAULT_MAX_REDIRECTS, ObserveMiddleware, UNCHECKED_REDIRECTS};

use crate::clock::Tick;
use crate::config::InternalHosts;
use crate::context::{RequestContext, RequestType};
use crate::pipeline::Pipeline;
use crate::propagation::{self, Audience, Baggage, PropagationData, RequestId, TraceState};
use crate::span::{Span, SpanKind, SpanName};

pub use crate::context::TracerBulletOrigin;

/// A boxed error, what the client integrations return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An outgoing request that was not sent because the current request is a tracer
/// bullet and its host is not internal (nor allowed explicitly), or observe could
/// not read its URL to tell.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TracerBulletBlocked {
    /// The host it was for (empty when unknown).
    pub host: String,
    /// Why.
    pub reason: BlockedReason,
}

/// Why a tracer bullet's outgoing request was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockedReason {
    /// The host is not internal (`OBSERVE_INTERNAL_HOSTS`) nor allowed explicitly.
    External,
    /// The URL cannot be read as an HTTP URI, so its audience cannot be decided.
    UnreadableUrl,
}

impl TracerBulletBlocked {
    /// A request to `host`, which is not internal.
    pub fn external(host: impl Into<String>) -> Self {
        TracerBulletBlocked {
            host: host.into(),
            reason: BlockedReason::External,
        }
    }
}

impl fmt::Display for TracerBulletBlocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            BlockedReason::External => write!(
                f,
                "not sent: the request is a tracer bullet and {} is not an internal host \
                 (OBSERVE_INTERNAL_HOSTS); allow it with ClientOptions::allow_in_tracer_bullet \
                 if the call has no side effect",
                self.host
            ),
            BlockedReason::UnreadableUrl => write!(
                f,
                "not sent: the request is a tracer bullet and its URL (host {:?}) cannot be \
                 read as an HTTP URI, so whether it is internal cannot be decided",
                self.host
            ),
        }
    }
}

impl std::error::Error for TracerBulletBlocked {}

/// Settings of the outgoing integrations.
///
/// ```
/// use observe_core::client::ClientOptions;
///
/// let options = ClientOptions::new()
///     .peer_service("fx-rates")
///     .allow_in_tracer_bullet(["api.fx-rates.example"])?;
/// # let _ = options;
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    peer_service: Option<Arc<str>>,
    allowed: InternalHosts,
    internal: Option<InternalHosts>,
}

impl ClientOptions {
    /// The defaults: internal hosts from the configuration, `peer.service` = the
    /// host, nothing external allowed in a tracer bullet.
    pub fn new() -> Self {
        ClientOptions::default()
    }

    /// The logical name of the service called (`peer.service`); default: its host.
    pub fn peer_service(mut self, name: impl Into<Arc<str>>) -> Self {
        self.peer_service = Some(name.into());
        self
    }

    /// Hosts that tracer bullets may call although they are not internal (idempotent
    /// reads), with the patterns of `OBSERVE_INTERNAL_HOSTS`.
    ///
    /// # Errors
    /// A pattern that is not a host pattern, named in the message.
    pub fn allow_in_tracer_bullet<'a>(
        mut self,
        patterns: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, String> {
        self.allowed = InternalHosts::parse(patterns).map_err(|e| format!("expected {e}"))?;
        Ok(self)
    }

    /// The internal hosts for this client, instead of `OBSERVE_INTERNAL_HOSTS`.
    ///
    /// # Errors
    /// A pattern that is not a host pattern, named in the message.
    pub fn internal_hosts<'a>(
        mut self,
        patterns: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, String> {
        self.internal = Some(InternalHosts::parse(patterns).map_err(|e| format!("expected {e}"))?);
        Ok(self)
    }
}

/// One outgoing request while it is in flight. See the [module docs](self).
#[derive(Debug)]
pub struct Outgoing {
    span: Span,
    start: Tick,
    metric: Option<Box<MetricKey>>,
    /// A tracer bullet's call to an internal host: where the callee's footprint
    /// goes.
    callee: Option<Box<crate::footprint::CalleeFootprint>>,
}

#[derive(Debug)]
struct MetricKey {
    host: String,
    method: &'static str,
    request_type: crate::metrics::RequestType,
}

fn host_and_port(uri: &http::Uri, headers: &HeaderMap) -> Option<(String, u16)> {
    let default_port = match uri.scheme_str() {
        Some("https") | Some("wss") => 443,
        _ => 80,
    };
    if let Some(host) = uri.host() {
        return Some((host.to_owned(), uri.port_u16().unwrap_or(default_port)));
    }
    let host = headers.get(http::header::HOST)?.to_str().ok()?;
    let authority: http::uri::Authority = host.parse().ok()?;
    Some((
        authority.host().to_owned(),
        authority.port_u16().unwrap_or(default_port),
    ))
}

/// The baggage of a request context (its `state`, read once by the caller):
/// observe's keys and the other members.
fn baggage_of(ctx: &RequestContext, state: &crate::context::ContextState) -> Baggage {
    crate::context::outgoing_baggage(ctx, state)
}

/// The token an internal call of a tracer bullet carries: signed here only for a
/// bullet this process verified or started; a relayed one keeps its caller's token
/// (which the request context holds only when this process has no key to check
/// it), so an unsigned marker never becomes a signed one.
fn outgoing_token(
    ctx: &RequestContext,
    key: Option<&crate::config::TracerBulletKey>,
    trace_id: crate::ids::TraceId,
) -> Option<String> {
    use crate::context::TracerBulletOrigin;
    match (ctx.tracer_bullet_origin(), key) {
        (Some(TracerBulletOrigin::Started | TracerBulletOrigin::Verified), Some(key)) => {
            Some(crate::tracer_bullet::sign_now(key, trace_id))
        }
        (Some(TracerBulletOrigin::Relayed), Some(_)) => None,
        _ => ctx.tracer_bullet_token().map(str::to_owned),
    }
}

/// `url.full` with query values redacted.
fn url_full(uri: &http::Uri, host: &str, port: u16) -> String {
    let scheme = uri.scheme_str().unwrap_or("http");
    let default = matches!((scheme, port), ("http", 80) | ("https", 443));
    let mut out = String::with_capacity(64);
    out.push_str(scheme);
    out.push_str("://");
    out.push_str(host);
    if !default {
        out.push(':');
        out.push_str(itoa::Buffer::new().format(port));
    }
    out.push_str(uri.path());
    if let Some(q) = uri.query()
        && !q.is_empty()
    {
        out.push('?');
        out.push_str(&crate::config::redact_query(q));
    }
    out
}

impl Outgoing {
    /// An outgoing request that records nothing (observe is not initialised).
    pub const fn disabled() -> Outgoing {
        Outgoing {
            span: Span::disabled(),
            start: Tick(0),
            metric: None,
            callee: None,
        }
    }

    /// Opens the client span and writes the propagation headers into `headers`.
    ///
    /// # Errors
    /// [`TracerBulletBlocked`] when the current request is a tracer bullet and the
    /// host is neither internal nor allowed: do not send the request (the span
    /// records why).
    pub fn start(
        options: &ClientOptions,
        method: &http::Method,
        uri: &http::Uri,
        headers: &mut HeaderMap,
    ) -> Result<Outgoing, TracerBulletBlocked> {
        let Some(pipeline) = Pipeline::current() else {
            return Ok(Outgoing::disabled());
        };
        let start = Tick::now();
        let (host, port) = host_and_port(uri, headers).unwrap_or_else(|| (String::new(), 80));
        let config = &pipeline.settings.config.propagation;
        let internal = options
            .internal
            .as_ref()
            .unwrap_or(&config.internal_hosts)
            .is_internal(&host, Some(port));
        let audience = if internal {
            Audience::Internal
        } else {
            Audience::External
        };
        let current = crate::context::current_request_context();
        let tracer_bullet = current
            .as_ref()
            .is_some_and(|ctx| ctx.request_type() == RequestType::TracerBullet);

        let (method_label, method_index) = crate::server::method_label(method);
        let name = SpanName::Static(crate::server::client_span_name(method_index));
        let peer_service: Cow<'static, str> = match &options.peer_service {
            Some(name) => Cow::Owned(name.to_string()),
            None => Cow::Owned(host.clone()),
        };
        let mut builder = Span::builder(name)
            .kind(SpanKind::Client)
            .start_time(start)
            .attribute("http.request.method", method_label)
            .attribute("server.address", host.clone())
            .attribute("server.port", port)
            .attribute("url.full", url_full(uri, &host, port))
            .attribute("peer.service", peer_service)
            .attribute(
                "observe.audience",
                if internal { "internal" } else { "external" },
            );
        if method_label == crate::metrics::names::OTHER {
            builder = builder.attribute("http.request.method_original", method.as_str().to_owned());
        }
        let span = builder.start();

        let request_type = if tracer_bullet {
            crate::metrics::RequestType::TracerBullet
        } else {
            crate::metrics::RequestType::Standard
        };
        // Only observe decides what goes in its own header.
        headers.remove(propagation::OBSERVE_TRACER_BULLET);
        if !internal {
            // No identity to a host outside the internal set, whoever set it: a
            // gateway that copies its caller's metadata onto its own calls would
            // otherwise pass user and account ids (`baggage`) on to third parties.
            // A request id the application sets is its own business.
            headers.remove(propagation::BAGGAGE);
        }
        if tracer_bullet && !internal && !options.allowed.is_internal(&host, Some(port)) {
            if let Some(footprint) = current.as_ref().and_then(|c| c.footprint()) {
                footprint.record_blocked(crate::footprint::service_name(pipeline), &host);
            }
            let blocked = TracerBulletBlocked::external(host);
            span.set_attribute("error.type", "tracer_bullet_blocked");
            span.set_error(blocked.to_string());
            span.end();
            return Err(blocked);
        }

        if let Some(cx) = span.span_context() {
            propagate(
                config,
                current.as_ref(),
                audience,
                tracer_bullet,
                cx,
                headers,
            );
        }
        // Only an internal callee's footprint is believed: an external host allowed
        // for reads has no say in what this bullet did.
        let callee = match &current {
            Some(ctx) if tracer_bullet && internal => {
                Some(Box::new(crate::footprint::CalleeFootprint::new(
                    ctx.clone(),
                    crate::footprint::service_name(pipeline),
                    host.clone(),
                )))
            }
            _ => None,
        };
        Ok(Outgoing {
            span,
            start,
            metric: Some(Box::new(MetricKey {
                host,
                method: method_label,
                request_type,
            })),
            callee,
        })
    }

    /// Merges the callee's tracer-bullet footprint from `headers` into the current
    /// request's ([`crate::footprint`]), when this is a tracer bullet's call to an
    /// internal host; a refusal it answered with is recorded too. [`finish`](Self::finish)
    /// does it with the response headers; call this for headers that arrive
    /// separately (gRPC trailers).
    pub fn merge_footprint(&self, headers: &HeaderMap) {
        if let Some(callee) = &self.callee {
            callee.merge(headers);
        }
    }

    /// The client span (poll the request inside it).
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Records the response: status (4xx and 5xx are errors), the callee's own
    /// duration from its `Server-Timing`, and in a tracer bullet the callee's
    /// footprint ([`merge_footprint`](Self::merge_footprint)).
    pub fn finish(mut self, status: u16, headers: &HeaderMap) {
        let span = self.take_span();
        if !span.is_enabled() {
            return;
        }
        self.merge_footprint(headers);
        let elapsed = self.start.duration_until(Tick::now());
        record(self.metric.as_deref(), Ok(status), elapsed, &span);
        span.set_attribute("http.response.status_code", u64::from(status));
        if status >= 400 {
            span.set_attribute("error.type", itoa::Buffer::new().format(status).to_owned());
            span.set_error(format!("HTTP {status}"));
        }
        let response = callee_response(&span, headers);
        if let Some(callee) = response.server_duration.filter(|d| *d <= elapsed) {
            span.set_attribute("observe.callee.duration_ms", crate::clock::millis(callee));
            span.set_attribute(
                "observe.network.duration_ms",
                crate::clock::millis(elapsed.saturating_sub(callee)),
            );
        }
        if let Some(callee) = response.callee {
            span.set_attribute("observe.callee.span_id", callee.span_id.to_string());
        }
        span.end();
    }

    /// Records a failure to get a response (connection refused, timeout, ...).
    pub fn fail(mut self, error: &(dyn std::error::Error + 'static)) {
        if !self.span.is_enabled() {
            return;
        }
        let kind = if error.is::<TracerBulletBlocked>() {
            "tracer_bullet_blocked"
        } else {
            "transport"
        };
        self.end_failed(kind, error.to_string().into());
    }

    /// The span, leaving a disabled one behind: the call is ended.
    fn take_span(&mut self) -> Span {
        std::mem::replace(&mut self.span, Span::disabled())
    }

    fn end_failed(&mut self, kind: &'static str, message: std::borrow::Cow<'static, str>) {
        let span = self.take_span();
        if !span.is_enabled() {
            return;
        }
        let elapsed = self.start.duration_until(Tick::now());
        record(self.metric.as_deref(), Err(kind), elapsed, &span);
        span.set_attribute("error.type", kind);
        span.set_error(message);
        if kind == CANCELLED {
            span.set_attribute("observe.cancelled", true);
        }
        span.end();
    }
}

/// `error.type` of a call the caller stopped waiting for.
const CANCELLED: &str = "cancelled";

impl Drop for Outgoing {
    /// A call dropped before its response (the caller timed out, or went away) is
    /// an error of type `cancelled`, with `observe.cancelled`, and its duration is
    /// recorded: a dependency callers give up on never looks healthy.
    fn drop(&mut self) {
        if self.span.is_enabled() {
            self.end_failed(
                CANCELLED,
                "the caller stopped waiting before the response (a timeout, or the caller \
                 went away)"
                    .into(),
            );
        }
    }
}

/// What a response says about its callee, as far as it is believed: invalid
/// `traceresponse` or `Server-Timing` values are counted in
/// `observe.propagation.rejected{header}`, and a `traceresponse` of another trace
/// than the call's is ignored (it names no span of this call).
pub(crate) fn callee_response(span: &Span, headers: &HeaderMap) -> propagation::ResponseData {
    let mut response = propagation::extract_response(headers);
    crate::server::count_rejected(&response.rejections);
    let trace_id = span.span_context().map(|c| c.trace_id);
    if response
        .callee
        .is_some_and(|c| Some(c.trace_id) != trace_id)
    {
        response.callee = None;
    }
    response
}

/// Writes the propagation headers of a call from the span `cx`, with the request
/// context `current` (read once by the caller), for a host of this audience: the
/// trace context always; baggage, request id and tracer-bullet token to internal
/// hosts only. Shared by HTTP ([`Outgoing`]) and gRPC ([`OutgoingRpc`]).
fn propagate(
    config: &crate::config::PropagationConfig,
    current: Option<&Arc<RequestContext>>,
    audience: Audience,
    tracer_bullet: bool,
    cx: crate::ids::SpanContext,
    headers: &mut HeaderMap,
) {
    let empty_state = TraceState::new();
    let ctx = current.map(|c| &**c);
    let trace_state = ctx.map_or(&empty_state, |c| c.trace_state());
    let (baggage, request_id, token) = match (audience, ctx) {
        (Audience::Internal, Some(ctx)) => {
            let state = ctx.snapshot();
            let request_id = state
                .request_id
                .as_deref()
                .and_then(|id| RequestId::parse(id.as_bytes()).ok());
            let token = if tracer_bullet {
                outgoing_token(ctx, config.tracer_bullet_key.as_ref(), cx.trace_id)
            } else {
                None
            };
            (baggage_of(ctx, &state), request_id, token)
        }
        _ => (Baggage::new(), None, None),
    };
    let data = PropagationData {
        span: cx,
        trace_state,
        baggage: &baggage,
        request_id: request_id.as_ref(),
        tracer_bullet_token: token.as_deref(),
    };
    propagation::inject(&data, headers, audience);
}

/// `http.client.request.duration` per dependency (`server.address`), method,
/// status (or, without a response, the `error.type`) and request type: what the
/// dependency view reads. 4xx, 5xx and no response are failures.
fn record(
    key: Option<&MetricKey>,
    outcome: Result<u16, &str>,
    elapsed: std::time::Duration,
    span: &Span,
) {
    let Some(key) = key else { return };
    let trace_id = span.span_context().map(|c| c.trace_id).unwrap_or_default();
    let (histogram, failed) = match outcome {
        Ok(status) => (
            crate::metrics::http_client_duration(
                &key.host,
                key.method,
                Some(status),
                key.request_type,
            ),
            status >= 400,
        ),
        Err(error_type) => (
            crate::metrics::http_client_duration_failed(
                &key.host,
                key.method,
                error_type,
                key.request_type,
            ),
            true,
        ),
    };
    histogram.record_with_exemplar(
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
        trace_id,
        failed,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::propagation::keys;

    #[test]
    fn host_and_port_default_by_scheme_and_fall_back_to_the_host_header() {
        let h = HeaderMap::new();
        let uri: http::Uri = "https://a.example/x".parse().unwrap();
        assert_eq!(host_and_port(&uri, &h), Some(("a.example".into(), 443)));
        let uri: http::Uri = "http://a.example:8080/x".parse().unwrap();
        assert_eq!(host_and_port(&uri, &h), Some(("a.example".into(), 8080)));
        let uri: http::Uri = "/x".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("host", "b.internal:9000".parse().unwrap());
        assert_eq!(host_and_port(&uri, &h), Some(("b.internal".into(), 9000)));
    }

    #[test]
    fn url_full_omits_default_ports_and_redacts_query_values() {
        let uri: http::Uri = "https://a.example/p?token=1".parse().unwrap();
        assert_eq!(
            url_full(&uri, "a.example", 443),
            "https://a.example/p?token=REDACTED"
        );
        let uri: http::Uri = "http://a.example:81/p".parse().unwrap();
        assert_eq!(url_full(&uri, "a.example", 81), "http://a.example:81/p");
    }

    #[test]
    fn a_key_holder_signs_only_bullets_it_verified_or_started() {
        use crate::context::TracerBulletOrigin;
        let key = crate::config::TracerBulletKey::from_bytes([5u8; 32]).unwrap();
        let trace = crate::ids::TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        let bullet = |origin: TracerBulletOrigin, token: Option<&str>| {
            let mut b = RequestContext::builder()
                .request_type(RequestType::TracerBullet)
                .tracer_bullet_origin(origin);
            if let Some(t) = token {
                b = b.tracer_bullet_token(t);
            }
            b.build()
        };
        let verifies = |token: Option<String>| {
            token.is_some_and(|t| {
                crate::tracer_bullet::verify(
                    &key,
                    t.as_bytes(),
                    trace,
                    crate::tracer_bullet::unix_now(),
                    std::time::Duration::from_secs(60),
                )
                .is_ok()
            })
        };
        for origin in [TracerBulletOrigin::Started, TracerBulletOrigin::Verified] {
            assert!(verifies(outgoing_token(
                &bullet(origin, None),
                Some(&key),
                trace
            )));
        }
        // Relayed from a trusted caller's marker: never signed here.
        let relayed = bullet(TracerBulletOrigin::Relayed, Some("v1.1.caller"));
        assert_eq!(outgoing_token(&relayed, Some(&key), trace), None);
        // Without a key, the caller's token passes unchanged (the next service
        // verifies it).
        assert_eq!(
            outgoing_token(&relayed, None, trace).as_deref(),
            Some("v1.1.caller")
        );
        assert_eq!(
            outgoing_token(&bullet(TracerBulletOrigin::Started, None), None, trace),
            None
        );
        // A standard request keeps no token at all.
        let standard = RequestContext::builder()
            .tracer_bullet_token("v1.1.x")
            .build();
        assert_eq!(standard.tracer_bullet_token(), None);
    }

    #[test]
    fn only_observe_decides_the_token_header() {
        let _capture = crate::testing::capture();
        let uri: http::Uri = "http://orders.internal/x".parse().unwrap();
        let options = ClientOptions::new()
            .internal_hosts(["orders.internal"])
            .unwrap();
        // An application relaying its inbound headers: a standard request.
        let mut headers = HeaderMap::new();
        headers.insert(
            propagation::OBSERVE_TRACER_BULLET,
            http::HeaderValue::from_static("v1.1.forged"),
        );
        let request = Span::new("request");
        let outgoing = request
            .in_scope(|| Outgoing::start(&options, &http::Method::GET, &uri, &mut headers))
            .unwrap();
        assert!(!headers.contains_key(propagation::OBSERVE_TRACER_BULLET));
        outgoing.finish(200, &HeaderMap::new());
    }

    /// A gateway that copies its caller's headers onto its own calls: no baggage
    /// goes to a third party; to an internal host the same headers are observe's
    /// (or the application's where observe has none). The application's request
    /// id is left alone.
    #[test]
    fn application_headers_with_identity_reach_internal_hosts_only() {
        let _capture = crate::testing::capture();
        let options = ClientOptions::new()
            .internal_hosts(["orders.internal"])
            .unwrap();
        let relayed = || {
            let mut headers = HeaderMap::new();
            headers.insert(
                propagation::BAGGAGE,
                http::HeaderValue::from_static("observe.user_id=u-1,tenant=acme"),
            );
            headers.insert(
                propagation::X_REQUEST_ID,
                http::HeaderValue::from_static("relayed-id"),
            );
            headers
        };
        let request = Span::new("request");
        for (uri, internal) in [
            ("https://api.third-party.example/v1", false),
            ("http://orders.internal/x", true),
        ] {
            let uri: http::Uri = uri.parse().unwrap();
            let mut headers = relayed();
            let outgoing = request
                .in_scope(|| Outgoing::start(&options, &http::Method::GET, &uri, &mut headers))
                .unwrap();
            assert!(headers.contains_key(propagation::TRACEPARENT), "{uri}");
            assert_eq!(
                headers.contains_key(propagation::BAGGAGE),
                internal,
                "{uri}"
            );
            assert_eq!(headers[propagation::X_REQUEST_ID], "relayed-id", "{uri}");
            outgoing.finish(200, &HeaderMap::new());
        }
    }

    #[test]
    fn baggage_carries_observe_keys_and_other_members() {
        let ctx = RequestContext::builder()
            .user("u 1")
            .account("acme")
            .flag("beta", "on")
            .build();
        let b = baggage_of(&ctx, &ctx.snapshot());
        assert_eq!(b.get(keys::USER_ID), Some("u 1"));
        assert_eq!(b.get(keys::ACCOUNT_ID), Some("acme"));
        assert_eq!(b.get("observe.flag.beta"), Some("on"));
        assert_eq!(b.get(keys::REQUEST_TYPE), None);
    }

    /// A key that is not an HTTP token would forge members (`a,observe.user_id`):
    /// the builder leaves it out, as does forwarding if one got into the state.
    #[test]
    fn baggage_keys_that_are_not_tokens_never_reach_the_wire() {
        let ctx = RequestContext::builder()
            .baggage("a,observe.user_id", "admin")
            .baggage("tenant", "acme")
            .baggage("tenant", "other")
            .build();
        let b = baggage_of(&ctx, &ctx.snapshot());
        assert_eq!(b.to_string(), "tenant=acme,tenant=other");
        let mut state = (*ctx.snapshot()).clone();
        state.baggage.insert(
            0,
            crate::propagation::BaggageMember::from_parts("x=1,y", "2", ""),
        );
        let b = baggage_of(&ctx, &state);
        assert_eq!(b.get(keys::USER_ID), None);
        assert_eq!(b.to_string(), "tenant=acme,tenant=other");
    }
}
