//! [`ObserveLayer`]: the configuration of the middleware.

use std::sync::Arc;

use observe_core::config::{InboundContext, TrustedCallers, UntrustedMarker};
use observe_core::server::{QueryRecording, ServerOptions};
use observe_core::tracer_bullet::InboundPolicy;
use tower_layer::Layer;

use super::ObserveService;

/// A tower [`Layer`] that makes every request of an axum router observable: W3C
/// context in and out, a server span named after the route template, the request
/// context, the access-log line, latency metrics, `traceresponse` and
/// `Server-Timing` on the response, and panics turned into recorded 500s. A request
/// marked as a tracer bullet that the service does not accept is answered 403 with
/// `observe-tracer-bullet-refused: <reason>`, without calling the handler.
///
/// The caller's identity (baggage) is believed only from trusted callers, known by
/// their address: serve the router with
/// `into_make_service_with_connect_info::<SocketAddr>()` (as
/// [`serve`](crate::serve()) does) so that the layer sees it; without it no caller
/// is trusted unless `OBSERVE_TRUSTED_CALLERS=any`.
///
/// Add it with [`Router::layer`](axum::Router::layer) (not around the whole router
/// as a service) so that it sees axum's [`MatchedPath`](axum::extract::MatchedPath);
/// [`serve`](crate::serve()) does this for you.
///
/// ```
/// use axum::{Router, routing::get};
///
/// let app: Router = Router::new()
///     .route("/orders/{id}", get(|| async { "order" }))
///     .layer(observe_axum::layer());
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct ObserveLayer {
    pub(crate) options: Arc<ServerOptions>,
    pub(crate) catch_panic: bool,
}

impl Default for ObserveLayer {
    fn default() -> Self {
        ObserveLayer::new()
    }
}

impl ObserveLayer {
    /// The layer with the defaults: policies from the running configuration, access
    /// log at `INFO`, query values redacted, panics caught.
    pub fn new() -> Self {
        ObserveLayer::with_options(ServerOptions::default())
    }

    /// The layer with explicit inbound options.
    pub fn with_options(options: ServerOptions) -> Self {
        ObserveLayer {
            options: Arc::new(options),
            catch_panic: true,
        }
    }

    fn map(mut self, f: impl FnOnce(ServerOptions) -> ServerOptions) -> Self {
        let options = Arc::unwrap_or_clone(self.options);
        self.options = Arc::new(f(options));
        self
    }

    /// Continue the caller's trace, or restart it for untrusted callers (a public
    /// edge); overrides `OBSERVE_INBOUND_CONTEXT`.
    pub fn inbound_context(self, inbound: InboundContext) -> Self {
        self.map(|o| o.inbound_context(inbound))
    }

    /// The callers whose identity and tracer-bullet marker are believed; overrides
    /// `OBSERVE_TRUSTED_CALLERS`.
    pub fn trusted_callers(self, callers: TrustedCallers) -> Self {
        self.map(|o| o.trusted_callers(callers))
    }

    /// How many requests a second from untrusted callers may have their `sampled`
    /// flag honoured; overrides `OBSERVE_UNTRUSTED_SAMPLED_PER_SECOND`.
    pub fn untrusted_sampled_per_second(self, per_second: u32) -> Self {
        self.map(|o| o.untrusted_sampled_per_second(per_second))
    }

    /// Refuse (the default) or, for a public edge, serve as standard requests with
    /// the marker removed the requests marked as tracer bullets by their baggage
    /// alone that the policy does not accept; overrides
    /// `OBSERVE_TRACER_BULLET_UNTRUSTED_MARKER`.
    pub fn untrusted_tracer_bullet_marker(self, marker: UntrustedMarker) -> Self {
        self.map(|o| o.untrusted_tracer_bullet_marker(marker))
    }

    /// The tracer-bullet policy; overrides `OBSERVE_TRACER_BULLET_POLICY`.
    pub fn tracer_bullet_policy(self, policy: InboundPolicy) -> Self {
        self.map(|o| o.tracer_bullet_policy(policy))
    }

    /// The access-log level, or `None` to switch the access log off.
    pub fn access_log(self, level: Option<tracing::Level>) -> Self {
        self.map(|o| o.access_log(level))
    }

    /// How `url.query` is recorded (values redacted by default).
    pub fn query(self, query: QueryRecording) -> Self {
        self.map(|o| o.query(query))
    }

    /// Whether responses carry `Server-Timing: observe;dur=<ms>`.
    pub fn server_timing(self, on: bool) -> Self {
        self.map(|o| o.server_timing(on))
    }

    /// Whether a panicking handler is answered with a 500 (the default, recorded on
    /// the span as an `exception`), or the panic propagates to the server (which
    /// closes the connection).
    pub fn catch_panic(mut self, on: bool) -> Self {
        self.catch_panic = on;
        self
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = ObserveService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ObserveService {
            inner,
            options: self.options.clone(),
            catch_panic: self.catch_panic,
        }
    }
}
