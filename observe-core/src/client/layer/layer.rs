//! [`ObserveClientLayer`]: the configuration of the outgoing middleware.

use std::sync::Arc;

use tower_layer::Layer;

use super::ClientService;
use crate::client::ClientOptions;

/// A tower [`Layer`] for outgoing HTTP requests (`http::Request` in,
/// `http::Response` out): `hyper-util`'s client, or any tower HTTP service. See
/// [`client`](crate::client) for what it does per request.
///
/// ```
/// use observe_core::client::{ClientOptions, ObserveClientLayer};
///
/// let layer = ObserveClientLayer::new();
/// let for_fx = ObserveClientLayer::with_options(ClientOptions::new().peer_service("fx-rates"));
/// # let _ = (layer, for_fx);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ObserveClientLayer {
    options: Arc<ClientOptions>,
}

impl ObserveClientLayer {
    /// The layer with the default options.
    pub fn new() -> Self {
        ObserveClientLayer::default()
    }

    /// The layer with these options.
    pub fn with_options(options: ClientOptions) -> Self {
        ObserveClientLayer {
            options: Arc::new(options),
        }
    }
}

impl<S> Layer<S> for ObserveClientLayer {
    type Service = ClientService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientService {
            inner,
            options: self.options.clone(),
        }
    }
}
