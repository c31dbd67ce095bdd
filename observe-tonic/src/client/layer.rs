//! [`ObserveClientLayer`]: the configuration of the client middleware.

use std::sync::Arc;

use observe_core::client::ClientOptions;
use tonic::transport::Endpoint;
use tower_layer::Layer;

use super::ObserveClientService;

/// A tower [`Layer`] for a gRPC client (a [`Channel`](tonic::transport::Channel),
/// or any tower service of `http::Request<tonic::body::Body>`): a client span per
/// call covering its whole stream, W3C context out (baggage, request id and the
/// tracer-bullet token to internal targets only), `rpc.client.call.duration` per
/// target, and, in a tracer bullet, no call to a target that is not internal.
///
/// A channel's requests carry only their path: the layer is told the target,
/// whose host decides the audience (`OBSERVE_INTERNAL_HOSTS`).
///
/// ```
/// use tonic::transport::{Channel, Endpoint};
/// use tower::ServiceBuilder;
///
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let endpoint = Endpoint::from_static("http://orders.internal:50051");
/// let channel = ServiceBuilder::new()
///     .layer(observe_tonic::client::ObserveClientLayer::for_endpoint(&endpoint))
///     .service(endpoint.connect_lazy());
/// // let client = OrdersClient::new(channel);
/// # let _ = channel;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ObserveClientLayer {
    pub(crate) options: Arc<ClientOptions>,
    pub(crate) target: http::Uri,
}

impl ObserveClientLayer {
    /// The layer for calls to `target` (`http://host:port`), with the default
    /// options.
    pub fn new(target: http::Uri) -> Self {
        ObserveClientLayer {
            options: Arc::default(),
            target,
        }
    }

    /// The layer for calls to an [`Endpoint`].
    pub fn for_endpoint(endpoint: &Endpoint) -> Self {
        ObserveClientLayer::new(endpoint.uri().clone())
    }

    /// These options (`peer.service`, targets allowed in a tracer bullet, internal
    /// hosts).
    pub fn with_options(mut self, options: ClientOptions) -> Self {
        self.options = Arc::new(options);
        self
    }
}

impl<S> Layer<S> for ObserveClientLayer {
    type Service = ObserveClientService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ObserveClientService {
            inner,
            layer: self.clone(),
        }
    }
}
