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
//! so user and account ids never leak to third parties. In a tracer bullet, a
//! request to a host outside the internal set is **not sent** (third parties'
//! quotas and side effects count too): it fails with [`TracerBulletBlocked`],
//! recorded on the span, unless the host is allowed explicitly
//! ([`ClientOptions::allow_in_tracer_bullet`], for idempotent reads).
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
pub use reqwest::ObserveMiddleware;

use crate::clock::Tick;
use crate::config::InternalHosts;
use crate::context::{RequestContext, RequestType};
use crate::pipeline::Pipeline;
use crate::propagation::{self, Audience, Baggage, PropagationData, RequestId, TraceState, keys};
use crate::span::{Span, SpanKind, SpanName};

/// A boxed error, what the client integrations return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An outgoing request that was not sent because the current request is a tracer
/// bullet and its host is not internal (nor allowed explicitly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracerBulletBlocked {
    /// The host it was for.
    pub host: String,
}

impl fmt::Display for TracerBulletBlocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not sent: the request is a tracer bullet and {} is not an internal host \
             (OBSERVE_INTERNAL_HOSTS); allow it with ClientOptions::allow_in_tracer_bullet \
             if the call has no side effect",
            self.host
        )
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
    let mut baggage = Baggage::new();
    // Values that do not fit (over the W3C limits) are dropped, never sent broken.
    for (key, value) in &state.baggage {
        let _ = baggage.insert(key, value);
    }
    if let Some(user) = &state.user_id {
        let _ = baggage.insert(keys::USER_ID, user);
    }
    if let Some(account) = &state.account_id {
        let _ = baggage.insert(keys::ACCOUNT_ID, account);
    }
    if ctx.request_type() == RequestType::TracerBullet {
        let _ = baggage.insert(keys::REQUEST_TYPE, keys::REQUEST_TYPE_TRACER_BULLET);
    }
    let mut flag_key = String::new();
    for (name, value) in &state.flags {
        flag_key.clear();
        flag_key.push_str(keys::FLAG_PREFIX);
        flag_key.push_str(name);
        let _ = baggage.insert(&flag_key, value);
    }
    baggage
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
        out.push_str(&crate::server::redact_query(q));
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
        if tracer_bullet && !internal && !options.allowed.is_internal(&host, Some(port)) {
            let blocked = TracerBulletBlocked { host };
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
        Ok(Outgoing {
            span,
            start,
            metric: Some(Box::new(MetricKey {
                host,
                method: method_label,
                request_type,
            })),
        })
    }

    /// The client span (poll the request inside it).
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Records the response: status (4xx and 5xx are errors), and the callee's own
    /// duration from its `Server-Timing`.
    pub fn finish(self, status: u16, headers: &HeaderMap) {
        if !self.span.is_enabled() {
            return;
        }
        let elapsed = self.start.duration_until(Tick::now());
        record(
            self.metric.as_deref(),
            Some(status),
            elapsed,
            &self.span,
            status >= 400,
        );
        let span = self.span;
        span.set_attribute("http.response.status_code", u64::from(status));
        if status >= 400 {
            span.set_attribute("error.type", itoa::Buffer::new().format(status).to_owned());
            span.set_error(format!("HTTP {status}"));
        }
        let response = propagation::extract_response(headers);
        if let Some(callee) = response.server_duration {
            span.set_attribute("observe.callee.duration_ms", callee.as_secs_f64() * 1e3);
            span.set_attribute(
                "observe.network.duration_ms",
                elapsed.saturating_sub(callee).as_secs_f64() * 1e3,
            );
        }
        if let Some(callee) = response.callee {
            span.set_attribute("observe.callee.span_id", callee.span_id.to_string());
        }
        span.end();
    }

    /// Records a failure to get a response (connection refused, timeout, ...).
    pub fn fail(self, error: &(dyn std::error::Error + 'static)) {
        if !self.span.is_enabled() {
            return;
        }
        let elapsed = self.start.duration_until(Tick::now());
        record(self.metric.as_deref(), None, elapsed, &self.span, true);
        let span = self.span;
        let kind = if error.is::<TracerBulletBlocked>() {
            "tracer_bullet_blocked"
        } else {
            "transport"
        };
        span.set_attribute("error.type", kind);
        span.set_error(error.to_string());
        span.end();
    }
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
                match &config.tracer_bullet_key {
                    Some(key) => Some(crate::tracer_bullet::sign_now(key, cx.trace_id)),
                    None => ctx.tracer_bullet_token().map(str::to_owned),
                }
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
/// status and request type: what the dependency view reads.
fn record(
    key: Option<&MetricKey>,
    status: Option<u16>,
    elapsed: std::time::Duration,
    span: &Span,
    failed: bool,
) {
    let Some(key) = key else { return };
    let trace_id = span.span_context().map(|c| c.trace_id).unwrap_or_default();
    crate::metrics::http_client_duration(&key.host, key.method, status, key.request_type)
        .record_with_exemplar(
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            trace_id,
            failed,
        );
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
