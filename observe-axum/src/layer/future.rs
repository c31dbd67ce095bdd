//! [`ResponseFuture`]: the handler's future, polled inside the request's span.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderMap, Response, StatusCode};
use observe_core::server::{Inbound, Refusal};
use pin_project_lite::pin_project;

pin_project! {
    /// The response future of [`ObserveService`](super::ObserveService). Each poll
    /// enters the request's span; the response gets observe's headers; a panic in
    /// the handler becomes a recorded 500; a refused tracer bullet is answered 403
    /// without the handler. Dropped before the response is ready (the client went
    /// away), its `Inbound` ends the request as cancelled.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
        inbound: Option<Inbound>,
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
        // A tracer bullet this service does not accept: the handler never runs.
        Refused,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(future: F, inbound: Inbound, catch_panic: bool) -> Self {
        ResponseFuture {
            kind: Kind::Future { future },
            inbound: Some(inbound),
            catch_panic,
        }
    }

    /// Another observe layer, outside this one, observes the request: passed
    /// through, a panic left to that layer.
    pub(crate) fn unobserved(future: F) -> Self {
        ResponseFuture {
            kind: Kind::Future { future },
            inbound: None,
            catch_panic: false,
        }
    }

    pub(crate) fn refused(inbound: Inbound) -> Self {
        ResponseFuture {
            kind: Kind::Refused,
            inbound: Some(inbound),
            catch_panic: true,
        }
    }

    pub(crate) fn panicked(inbound: Inbound) -> Self {
        ResponseFuture {
            kind: Kind::Panicked,
            inbound: Some(inbound),
            catch_panic: true,
        }
    }
}

fn internal_error<B: Default>() -> Response<B> {
    let mut response = Response::new(B::default());
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Default,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let future = match this.kind.project() {
            KindProj::Future { future } => future,
            KindProj::Panicked => {
                let mut response = internal_error();
                if let Some(inbound) = this.inbound.take() {
                    inbound.finish(500, response.headers_mut());
                }
                return Poll::Ready(Ok(response));
            }
            KindProj::Refused => {
                let mut response = Response::new(B::default());
                *response.status_mut() =
                    StatusCode::from_u16(Refusal::HTTP_STATUS).unwrap_or(StatusCode::FORBIDDEN);
                if let Some(inbound) = this.inbound.take() {
                    // Adds `observe-tracer-bullet-refused: <reason>`.
                    inbound.finish(Refusal::HTTP_STATUS, response.headers_mut());
                }
                return Poll::Ready(Ok(response));
            }
        };
        let polled = match this.inbound.as_ref() {
            Some(inbound) => inbound
                .span()
                .in_scope(|| catch_unwind(AssertUnwindSafe(|| future.poll(cx)))),
            None => catch_unwind(AssertUnwindSafe(|| future.poll(cx))),
        };
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(Ok(mut response))) => {
                if let Some(inbound) = this.inbound.take() {
                    let status = response.status().as_u16();
                    inbound.finish(status, response.headers_mut());
                }
                Poll::Ready(Ok(response))
            }
            Ok(Poll::Ready(Err(e))) => {
                if let Some(inbound) = this.inbound.take() {
                    inbound.finish(500, &mut HeaderMap::new());
                }
                Poll::Ready(Err(e))
            }
            Err(payload) => {
                let inbound = this.inbound.take();
                if let Some(inbound) = &inbound {
                    inbound.record_panic(payload.as_ref());
                }
                if !*this.catch_panic {
                    if let Some(inbound) = inbound {
                        inbound.finish(500, &mut HeaderMap::new());
                    }
                    resume_unwind(payload);
                }
                let mut response = internal_error();
                if let Some(inbound) = inbound {
                    inbound.finish(500, response.headers_mut());
                }
                Poll::Ready(Ok(response))
            }
        }
    }
}
