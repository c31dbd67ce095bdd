//! The outgoing tower middleware: [`ObserveClientLayer`], [`ClientService`],
//! [`ClientFuture`].

mod future;
#[allow(clippy::module_inception)]
mod layer;

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

pub use future::ClientFuture;
pub use layer::ObserveClientLayer;

use crate::client::{BoxError, ClientOptions, Outgoing};

/// The service [`ObserveClientLayer`] wraps around an HTTP client. Its error type is
/// [`BoxError`]: the inner client's errors, or a
/// [`TracerBulletBlocked`](crate::client::TracerBulletBlocked) for a request it did
/// not send.
#[derive(Debug, Clone)]
pub struct ClientService<S> {
    inner: S,
    options: Arc<ClientOptions>,
}

impl<S> ClientService<S> {
    /// Wraps `inner` with the default options.
    pub fn new(inner: S) -> Self {
        ClientService {
            inner,
            options: Arc::default(),
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ClientService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
{
    type Response = Response<ResBody>;
    type Error = BoxError;
    type Future = ClientFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // Taken apart, so that the method and URI are borrowed beside the headers
        // rather than cloned.
        let (mut parts, body) = request.into_parts();
        let started = Outgoing::start(&self.options, &parts.method, &parts.uri, &mut parts.headers);
        let request = Request::from_parts(parts, body);
        match started {
            Ok(outgoing) => {
                let inner = &mut self.inner;
                let future = outgoing.span().in_scope(|| inner.call(request));
                ClientFuture::sent(future, outgoing)
            }
            Err(blocked) => ClientFuture::not_sent(Box::new(blocked)),
        }
    }
}
