//! [`ObserveLayer`]: the configuration of the middleware.

use std::sync::Arc;

use observe_core::config::InboundContext;
use observe_core::server::{QueryRecording, ServerOptions};
use observe_core::tracer_bullet::InboundPolicy;
use tower_layer::Layer;

use super::ObserveService;

/// A tower [`Layer`] that makes every request of an axum router observable: W3C
/// context in and out, a server span named after the route template, the request
/// context, the access-log line, latency metrics, `traceresponse` and
/// `Server-Timing` on the response, and panics turned into recorded 500s.
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

    /// Trust the caller's trace context, or restart it (a public edge); overrides
    /// `OBSERVE_INBOUND_CONTEXT`.
    pub fn inbound_context(self, inbound: InboundContext) -> Self {
        self.map(|o| o.inbound_context(inbound))
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
