//! The server middleware: [`ObserveLayer`], [`ObserveService`], [`ResponseFuture`].

mod future;
#[allow(clippy::module_inception)] // tower's layout: layer/{mod,layer,future}.rs
mod layer;

use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, MatchedPath, OriginalUri};
use http::{Request, Response};
use observe_core::server::{Inbound, LayerKind, RequestInfo, ServerOptions};
use tower_service::Service;

pub use future::ResponseFuture;
pub use layer::ObserveLayer;

/// The service [`ObserveLayer`] wraps around each route. See the layer for what it
/// does per request.
#[derive(Debug, Clone)]
pub struct ObserveService<S> {
    inner: S,
    options: Arc<ServerOptions>,
    catch_panic: bool,
}

impl<S> ObserveService<S> {
    /// Wraps `inner` with the default options.
    pub fn new(inner: S) -> Self {
        tower_layer::Layer::layer(&ObserveLayer::new(), inner)
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ObserveService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        if !observe_core::server::claim(request.extensions_mut(), LayerKind::Http) {
            // An observe layer outside this one observes the request already.
            return ResponseFuture::unobserved(self.inner.call(request));
        }
        let extensions = request.extensions();
        let info = RequestInfo::from_request(&request)
            .route(extensions.get::<MatchedPath>().map(MatchedPath::as_str))
            .peer(
                extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|ConnectInfo(addr)| *addr),
            );
        // Nested routers see their path with the prefix stripped: record the one
        // the client sent.
        let info = match extensions.get::<OriginalUri>() {
            Some(OriginalUri(uri)) => info.uri(uri),
            None => info,
        };
        let inbound = Inbound::start(&self.options, &info);
        if inbound.refusal().is_some() {
            // Fail closed: a tracer bullet this service does not accept is never
            // served (that would write) and never dry-run.
            return ResponseFuture::refused(inbound);
        }
        let inner = &mut self.inner;
        let called = inbound
            .span()
            .in_scope(|| catch_unwind(AssertUnwindSafe(|| inner.call(request))));
        match called {
            Ok(future) => ResponseFuture::new(future, inbound, self.catch_panic),
            Err(payload) => {
                inbound.record_panic(payload.as_ref());
                if !self.catch_panic {
                    drop(inbound);
                    resume_unwind(payload);
                }
                ResponseFuture::panicked(inbound)
            }
        }
    }
}
