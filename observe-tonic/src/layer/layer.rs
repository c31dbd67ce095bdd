//! [`ObserveLayer`]: the configuration of the server middleware.

use std::sync::Arc;

use observe_core::config::{InboundContext, TrustedCallers, UntrustedMarker};
use observe_core::server::ServerOptions;
use observe_core::tracer_bullet::InboundPolicy;
use tower_layer::Layer;

use super::ObserveService;

/// The services left out of traces, metrics and the access log by default: the
/// standard health check and server reflection, which load balancers and tools
/// call all the time.
pub const DEFAULT_SKIPPED_SERVICES: [&str; 3] = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// A tower [`Layer`] that makes every call of a tonic server observable: W3C
/// context in, a server span named `package.Service/Method` with the
/// OpenTelemetry RPC attributes covering the whole call (the last message of a
/// stream included), the request context on every log line, the access-log line,
/// `rpc.server.call.duration` with exemplars, `traceresponse` and `x-request-id`
/// in the response headers and `Server-Timing` with the status, and panics turned
/// into recorded `INTERNAL` statuses.
///
/// Add it with [`Server::layer`](tonic::transport::Server::layer);
/// [`serve`](crate::serve()) does this for you.
///
/// ```
/// use tonic::transport::Server;
///
/// let server = Server::builder().layer(observe_tonic::layer());
/// # let _ = server;
/// ```
#[derive(Debug, Clone)]
pub struct ObserveLayer {
    pub(crate) options: Arc<ServerOptions>,
    pub(crate) catch_panic: bool,
    pub(crate) skipped: Arc<[Box<str>]>,
}

impl Default for ObserveLayer {
    fn default() -> Self {
        ObserveLayer::new()
    }
}

impl ObserveLayer {
    /// The layer with the defaults: policies from the running configuration, access
    /// log at `INFO`, panics caught, [`DEFAULT_SKIPPED_SERVICES`] skipped.
    pub fn new() -> Self {
        ObserveLayer::with_options(ServerOptions::default())
    }

    /// The layer with explicit inbound options.
    pub fn with_options(options: ServerOptions) -> Self {
        ObserveLayer {
            options: Arc::new(options),
            catch_panic: true,
            skipped: DEFAULT_SKIPPED_SERVICES
                .iter()
                .map(|s| (*s).into())
                .collect(),
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

    /// The callers whose identity and tracer-bullet marker are believed, by peer
    /// address; overrides `OBSERVE_TRUSTED_CALLERS`.
    pub fn trusted_callers(self, callers: TrustedCallers) -> Self {
        self.map(|o| o.trusted_callers(callers))
    }

    /// How many calls a second from untrusted callers may have their `sampled`
    /// flag honoured; overrides `OBSERVE_UNTRUSTED_SAMPLED_PER_SECOND`.
    pub fn untrusted_sampled_per_second(self, per_second: u32) -> Self {
        self.map(|o| o.untrusted_sampled_per_second(per_second))
    }

    /// Refuse (the default) or, for a public edge, serve as standard calls with the
    /// marker removed the calls marked as tracer bullets by their baggage alone
    /// that the policy does not accept; overrides
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

    /// Whether statuses carry `Server-Timing: observe;dur=<ms>` (in the trailers,
    /// or the headers of a trailers-only response).
    pub fn server_timing(self, on: bool) -> Self {
        self.map(|o| o.server_timing(on))
    }

    /// Whether a panicking handler (or response stream) is answered with
    /// `INTERNAL` (the default, recorded on the span as an `exception`), or the
    /// panic propagates to the server (which resets the stream).
    pub fn catch_panic(mut self, on: bool) -> Self {
        self.catch_panic = on;
        self
    }

    /// The services (`package.Service`) whose calls pass through unobserved,
    /// instead of [`DEFAULT_SKIPPED_SERVICES`]; an empty list observes every call.
    ///
    /// ```
    /// // Trace health checks too, skip an internal admin service.
    /// let layer = observe_tonic::layer().skip_services(["acme.Admin"]);
    /// # let _ = layer;
    /// ```
    pub fn skip_services<'a>(mut self, services: impl IntoIterator<Item = &'a str>) -> Self {
        self.skipped = services.into_iter().map(Into::into).collect();
        self
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = ObserveService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ObserveService {
            inner,
            layer: self.clone(),
        }
    }
}
