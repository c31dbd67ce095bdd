//! [`ResponseFuture`]: the handler's future, polled inside the call's span.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderMap, Response};
use observe_core::server::grpc::{INTERNAL, UNKNOWN};
use observe_core::server::{InboundRpc, Refusal};
use pin_project_lite::pin_project;

use super::body::{Call, ResponseBody, internal_error_metadata};
use crate::wire::{self, SharedCount};

pin_project! {
    /// The response future of [`ObserveService`](super::ObserveService). Each poll
    /// enters the call's span; the response gets observe's headers; a trailers-only
    /// response (an error status, `UNIMPLEMENTED`) ends the call here, any other
    /// hands it to the [`ResponseBody`], which ends it with the trailers. A panic
    /// in the handler becomes a recorded `INTERNAL`. Dropped before the response
    /// (the client cancelled), the call ends as cancelled.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
        call: Option<Box<Call>>,
        catch_panic: bool,
    }
}

pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<F> {
        Future { #[pin] future: F },
        // `call` itself panicked; the payload is already recorded.
        Panicked,
        // A tracer-bullet marker this service does not accept: answered
        // `PERMISSION_DENIED` without calling the service (fail closed).
        Refused,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(
        future: F,
        inbound: InboundRpc,
        received: Option<SharedCount>,
        catch_panic: bool,
    ) -> Self {
        ResponseFuture {
            kind: Kind::Future { future },
            call: Some(Box::new(Call::new(inbound, received))),
            catch_panic,
        }
    }

    pub(crate) fn unobserved(future: F) -> Self {
        ResponseFuture {
            kind: Kind::Future { future },
            call: None,
            catch_panic: false,
        }
    }

    pub(crate) fn refused(inbound: InboundRpc, received: Option<SharedCount>) -> Self {
        ResponseFuture {
            kind: Kind::Refused,
            call: Some(Box::new(Call::new(inbound, received))),
            catch_panic: false,
        }
    }

    pub(crate) fn panicked(inbound: InboundRpc, received: Option<SharedCount>) -> Self {
        ResponseFuture {
            kind: Kind::Panicked,
            call: Some(Box::new(Call::new(inbound, received))),
            catch_panic: true,
        }
    }
}

/// A trailers-only response with this metadata. Its body is empty whatever the
/// service's body type: observe asks nothing of that type, so layers that wrap
/// the body (tower-http's `TraceLayer`, a second observe layer) can sit inside.
fn trailers_only<B>(metadata: HeaderMap) -> Response<ResponseBody<B>> {
    let mut response = Response::new(ResponseBody::empty());
    *response.headers_mut() = metadata;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    response
}

/// The metadata of a refused tracer bullet: `PERMISSION_DENIED` and a message
/// naming the reason (the refusal header is added when the call finishes).
fn refused_metadata(reason: &str) -> HeaderMap {
    let mut metadata = HeaderMap::new();
    metadata.insert("grpc-status", http::HeaderValue::from(Refusal::GRPC_CODE));
    if let Ok(message) =
        http::HeaderValue::from_str(&format!("tracer%20bullet%20refused:%20{reason}"))
    {
        metadata.insert("grpc-message", message);
    }
    metadata
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let future = match this.kind.project() {
            KindProj::Future { future } => future,
            KindProj::Panicked => {
                let mut response = trailers_only::<B>(internal_error_metadata());
                if let Some(mut call) = this.call.take() {
                    if let Some(inbound) = call.inbound() {
                        inbound.response_headers(response.headers_mut());
                    }
                    call.finish(INTERNAL, None, response.headers_mut());
                }
                return Poll::Ready(Ok(response));
            }
            KindProj::Refused => {
                let mut call = this.call.take();
                let reason = call
                    .as_deref()
                    .and_then(Call::inbound)
                    .and_then(InboundRpc::refusal)
                    .map_or("refused", |r| r.as_str());
                let mut response = trailers_only::<B>(refused_metadata(reason));
                if let Some(call) = call.as_deref_mut() {
                    if let Some(inbound) = call.inbound() {
                        inbound.response_headers(response.headers_mut());
                    }
                    call.finish(
                        Refusal::GRPC_CODE,
                        Some("tracer bullet refused"),
                        response.headers_mut(),
                    );
                }
                return Poll::Ready(Ok(response));
            }
        };
        let Some(call) = this.call.as_deref() else {
            // Not observed (a skipped service).
            return future
                .poll(cx)
                .map_ok(|r| r.map(|b| ResponseBody::new(b, None, false)));
        };
        let polled = match call.inbound() {
            Some(inbound) => inbound
                .span()
                .in_scope(|| catch_unwind(AssertUnwindSafe(|| future.poll(cx)))),
            None => catch_unwind(AssertUnwindSafe(|| future.poll(cx))),
        };
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(Ok(mut response))) => {
                let mut call = this.call.take();
                if let Some(c) = call.as_deref_mut() {
                    if let Some(inbound) = c.inbound() {
                        inbound.response_headers(response.headers_mut());
                    }
                    let status = match wire::status(response.headers()) {
                        Some(status) => Some(status),
                        None if response.status() != http::StatusCode::OK => {
                            Some((wire::code_from_http(response.status()), None))
                        }
                        None => None,
                    };
                    if let Some((code, message)) = status {
                        // Trailers-only: the status is in the headers.
                        c.finish(code, message.as_deref(), response.headers_mut());
                        call = None;
                    }
                }
                let catch_panic = *this.catch_panic;
                Poll::Ready(Ok(response.map(|b| ResponseBody::new(b, call, catch_panic))))
            }
            Ok(Poll::Ready(Err(e))) => {
                if let Some(mut call) = this.call.take() {
                    call.finish(UNKNOWN, Some("the service failed"), &mut HeaderMap::new());
                }
                Poll::Ready(Err(e))
            }
            Err(payload) => {
                let mut call = this.call.take();
                if let Some(c) = &call {
                    c.record_panic(payload.as_ref());
                }
                if !*this.catch_panic {
                    if let Some(c) = call.as_deref_mut() {
                        c.finish(INTERNAL, None, &mut HeaderMap::new());
                    }
                    resume_unwind(payload);
                }
                let mut response = trailers_only::<B>(internal_error_metadata());
                if let Some(c) = call.as_deref_mut() {
                    if let Some(inbound) = c.inbound() {
                        inbound.response_headers(response.headers_mut());
                    }
                    c.finish(INTERNAL, None, response.headers_mut());
                }
                Poll::Ready(Ok(response))
            }
        }
    }
}
