//! Outgoing gRPC: the request's context goes to every service it calls.
//!
//! [`connect`] (or [`connect_lazy`]) builds an observed [`Channel`] in one line;
//! [`ObserveClientLayer`] adds the same to a channel built with
//! `tower::ServiceBuilder`. Per call:
//!
//! | what | where |
//! | --- | --- |
//! | `traceparent`, `tracestate` | every target |
//! | `baggage` (user, account, request type, flags), `x-request-id`, `observe-tracer-bullet` | internal targets only (`OBSERVE_INTERNAL_HOSTS`) |
//! | client span `package.Service/Method` (`rpc.system`, `rpc.service`, `rpc.method`, `rpc.grpc.status_code`, `server.address`, `server.port`, message counts) | from the call to its status, the whole stream |
//! | `rpc.client.call.duration` | per target, service, method, status code and request type |
//!
//! In a tracer bullet, a call to a target that is neither internal nor allowed
//! ([`ClientOptions::allow_in_tracer_bullet`]) is **not sent**: it fails with the
//! status `FAILED_PRECONDITION` ([`TRACER_BULLET_BLOCKED`]), whose source is
//! observe's [`TracerBulletBlocked`].
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let channel = observe_tonic::client::connect("http://orders.internal:50051").await?;
//! // let mut orders = OrdersClient::new(channel);
//! # let _ = channel;
//! # Ok(()) }
//! ```

mod body;
mod future;
#[allow(clippy::module_inception)]
mod layer;

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use observe_core::client::OutgoingRpc;
use tonic::body::Body;
use tonic::transport::{Channel, Endpoint};
use tower_service::Service;

pub use body::ClientBody;
pub use future::ClientFuture;
pub use layer::ObserveClientLayer;
pub use observe_core::client::{BoxError, ClientOptions, TracerBulletBlocked};

use crate::wire::SharedCount;

/// The status code of a call not sent because the request is a tracer bullet and
/// the target is not internal: `FAILED_PRECONDITION`. The status's source is a
/// [`TracerBulletBlocked`] naming the host.
pub const TRACER_BULLET_BLOCKED: tonic::Code = tonic::Code::FailedPrecondition;

/// An observed [`Channel`]: what [`connect`] returns; generated clients take it
/// like a channel (`OrdersClient::new(channel)`).
pub type ObservedChannel = ObserveClientService<Channel>;

/// Connects to `dst` (`"http://host:port"`, a [`http::Uri`], an [`Endpoint`], ...)
/// and observes the channel: the one line for a client.
///
/// # Errors
/// An invalid endpoint or a failed connection, as [`Endpoint::connect`].
pub async fn connect<D>(dst: D) -> Result<ObservedChannel, tonic::transport::Error>
where
    D: TryInto<Endpoint>,
    D::Error: Into<BoxError>,
{
    let endpoint = Endpoint::new(dst)?;
    let channel = endpoint.connect().await?;
    Ok(observe(&endpoint, channel))
}

/// An observed channel to `dst` that connects on its first call
/// ([`Endpoint::connect_lazy`]).
///
/// # Errors
/// An invalid endpoint.
pub fn connect_lazy<D>(dst: D) -> Result<ObservedChannel, tonic::transport::Error>
where
    D: TryInto<Endpoint>,
    D::Error: Into<BoxError>,
{
    let endpoint = Endpoint::new(dst)?;
    let channel = endpoint.connect_lazy();
    Ok(observe(&endpoint, channel))
}

/// Observes a channel built from `endpoint`.
pub fn observe(endpoint: &Endpoint, channel: Channel) -> ObservedChannel {
    tower_layer::Layer::layer(&ObserveClientLayer::for_endpoint(endpoint), channel)
}

/// The service [`ObserveClientLayer`] wraps around a channel. Its error type is
/// [`BoxError`]: the channel's errors, or the status of a call it did not send
/// ([`TRACER_BULLET_BLOCKED`]); generated clients turn either into a `Status`.
#[derive(Debug, Clone)]
pub struct ObserveClientService<S> {
    inner: S,
    layer: ObserveClientLayer,
}

impl<S> ObserveClientService<S> {
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

fn blocked_status(blocked: TracerBulletBlocked) -> tonic::Status {
    let mut status = tonic::Status::new(TRACER_BULLET_BLOCKED, blocked.to_string());
    status.set_source(Arc::new(blocked));
    status
}

impl<S, ResBody> Service<Request<Body>> for ObserveClientService<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
{
    type Response = Response<ClientBody<ResBody>>;
    type Error = BoxError;
    type Future = ClientFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let target = if request.uri().host().is_some() {
            request.uri().clone()
        } else {
            self.layer.target.clone()
        };
        let path = request.uri().path().to_owned();
        match OutgoingRpc::start(&self.layer.options, &target, &path, request.headers_mut()) {
            Ok(outgoing) => {
                let sent: Option<SharedCount> = outgoing.span().is_enabled().then(Default::default);
                let request = match &sent {
                    Some(sent) => request.map(|b| Body::new(body::SentBody::new(b, sent.clone()))),
                    None => request,
                };
                let inner = &mut self.inner;
                let future = outgoing.span().in_scope(|| inner.call(request));
                ClientFuture::sent(future, outgoing, sent)
            }
            Err(blocked) => ClientFuture::not_sent(Box::new(blocked_status(blocked))),
        }
    }
}
