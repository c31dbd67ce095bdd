//! [`ObserveMiddleware`]: the outgoing integration for `reqwest-middleware`.

use std::future::Future as _;
use std::sync::Arc;

use reqwest_middleware::{Middleware, Next};

use crate::client::{ClientOptions, Outgoing};

/// A [`reqwest_middleware::Middleware`] that does for reqwest what
/// [`ObserveClientLayer`](crate::client::ObserveClientLayer) does for tower clients
/// (see [`client`](crate::client)).
///
/// ```
/// use observe_core::client::ObserveMiddleware;
///
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(ObserveMiddleware::new())
///     .build();
/// # let _ = client;
/// ```
///
/// A request it does not send (a tracer bullet to an external host) fails with
/// `reqwest_middleware::Error::Middleware` wrapping a
/// [`TracerBulletBlocked`](crate::client::TracerBulletBlocked).
#[derive(Debug, Clone, Default)]
pub struct ObserveMiddleware {
    options: Arc<ClientOptions>,
}

impl ObserveMiddleware {
    /// The middleware with the default options.
    pub fn new() -> Self {
        ObserveMiddleware::default()
    }

    /// The middleware with these options.
    pub fn with_options(options: ClientOptions) -> Self {
        ObserveMiddleware {
            options: Arc::new(options),
        }
    }
}

#[async_trait::async_trait]
impl Middleware for ObserveMiddleware {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let uri: http::Uri = match req.url().as_str().parse() {
            Ok(uri) => uri,
            // Not expressible as an http::Uri: send it unobserved.
            Err(_) => return next.run(req, extensions).await,
        };
        let method = req.method().clone();
        let outgoing = match Outgoing::start(&self.options, &method, &uri, req.headers_mut()) {
            Ok(outgoing) => outgoing,
            Err(blocked) => return Err(reqwest_middleware::Error::middleware(blocked)),
        };
        // Poll the request inside the client span, so what reqwest and hyper log
        // belongs to it.
        let mut sent = std::pin::pin!(next.run(req, extensions));
        let result =
            std::future::poll_fn(|cx| outgoing.span().in_scope(|| sent.as_mut().poll(cx))).await;
        match &result {
            Ok(response) => outgoing.finish(response.status().as_u16(), response.headers()),
            Err(e) => outgoing.fail(e),
        }
        result
    }
}
