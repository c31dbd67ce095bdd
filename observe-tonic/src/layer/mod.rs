//! The server middleware: [`ObserveLayer`], [`ObserveService`], [`ResponseFuture`],
//! and the bodies it wraps ([`RequestBody`], [`ResponseBody`]).

mod body;
mod future;
#[allow(clippy::module_inception)] // tower's layout: layer/{mod,layer,future}.rs
mod layer;

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::task::{Context, Poll};

use http::{Request, Response};
use observe_core::server::{InboundRpc, RpcRequestInfo};
use tonic::transport::server::TcpConnectInfo;
use tower_service::Service;

pub use body::{RequestBody, ResponseBody};
pub use future::ResponseFuture;
pub use layer::{DEFAULT_SKIPPED_SERVICES, ObserveLayer};

use crate::wire::SharedCount;

/// The service [`ObserveLayer`] wraps around a tonic server's routes. See the layer
/// for what it does per call.
#[derive(Debug, Clone)]
pub struct ObserveService<S> {
    inner: S,
    layer: ObserveLayer,
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

    fn skipped(&self, path: &str) -> bool {
        let service = path
            .strip_prefix('/')
            .and_then(|p| p.split_once('/'))
            .map(|(service, _)| service);
        service.is_some_and(|s| self.layer.skipped.iter().any(|k| **k == *s))
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ObserveService<S>
where
    S: Service<Request<RequestBody<ReqBody>>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // Skipped, or observed by an observe layer outside this one already.
        if self.skipped(request.uri().path())
            || !observe_core::server::claim(
                request.extensions_mut(),
                observe_core::server::LayerKind::Grpc,
            )
        {
            let request = request.map(RequestBody::unobserved);
            return ResponseFuture::unobserved(self.inner.call(request));
        }
        let connection = request.extensions().get::<TcpConnectInfo>();
        let info = RpcRequestInfo::new(request.uri(), request.headers())
            .peer(connection.and_then(TcpConnectInfo::remote_addr))
            .local(connection.and_then(TcpConnectInfo::local_addr));
        let inbound = InboundRpc::start(&self.layer.options, &info);
        let received: Option<SharedCount> = inbound.span().is_enabled().then(Default::default);
        if inbound.refusal().is_some() {
            // Fail closed: a tracer bullet this service does not accept never
            // reaches the service, neither as a standard call nor as a dry run.
            return ResponseFuture::refused(inbound, received);
        }
        let request = request.map(|body| RequestBody::new(body, received.clone()));
        let inner = &mut self.inner;
        let called = inbound
            .span()
            .in_scope(|| catch_unwind(AssertUnwindSafe(|| inner.call(request))));
        match called {
            Ok(future) => ResponseFuture::new(future, inbound, received, self.layer.catch_panic),
            Err(payload) => {
                inbound.record_panic(payload.as_ref());
                if !self.layer.catch_panic {
                    drop(inbound);
                    resume_unwind(payload);
                }
                ResponseFuture::panicked(inbound, received)
            }
        }
    }
}
