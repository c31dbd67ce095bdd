//! [`ClientFuture`]: the outgoing call, polled inside its client span.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use observe_core::client::OutgoingRpc;
use pin_project_lite::pin_project;

use super::body::{ClientBody, ClientCall};
use crate::client::BoxError;
use crate::wire::{self, SharedCount};

pin_project! {
    /// The response future of [`ObserveClientService`](super::ObserveClientService):
    /// polled inside the call's client span; a trailers-only response ends the
    /// call here, any other hands it to the [`ClientBody`].
    #[derive(Debug)]
    pub struct ClientFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<F> {
        Sent { #[pin] future: F, call: Option<Box<ClientCall>> },
        NotSent { error: Option<BoxError> },
    }
}

impl<F> ClientFuture<F> {
    pub(crate) fn sent(future: F, outgoing: OutgoingRpc, sent: Option<SharedCount>) -> Self {
        ClientFuture {
            kind: Kind::Sent {
                future,
                call: Some(Box::new(ClientCall::new(outgoing, sent))),
            },
        }
    }

    pub(crate) fn not_sent(error: BoxError) -> Self {
        ClientFuture {
            kind: Kind::NotSent { error: Some(error) },
        }
    }
}

impl<F, B, E> Future for ClientFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<ClientBody<B>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::NotSent { error } => Poll::Ready(Err(error
                .take()
                .unwrap_or_else(|| "observe: client future polled after completion".into()))),
            KindProj::Sent { future, call } => {
                let polled = match call.as_deref_mut().and_then(ClientCall::outgoing) {
                    Some(outgoing) => outgoing.span().in_scope(|| future.poll(cx)),
                    None => future.poll(cx),
                };
                match polled {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Ok(response)) => {
                        let mut call = call.take();
                        if let Some(c) = call.as_deref_mut() {
                            if let Some(outgoing) = c.outgoing() {
                                outgoing.response_headers(response.headers());
                            }
                            let status = match wire::status(response.headers()) {
                                Some(status) => Some(status),
                                None if response.status() != http::StatusCode::OK => {
                                    Some((wire::code_from_http(response.status()), None))
                                }
                                None => None,
                            };
                            if let Some((code, message)) = status {
                                c.finish(code, message.as_deref(), response.headers());
                                call = None;
                            }
                        }
                        Poll::Ready(Ok(response.map(|b| ClientBody::new(b, call))))
                    }
                    Poll::Ready(Err(e)) => {
                        let e: BoxError = e.into();
                        if let Some(mut c) = call.take() {
                            c.fail(&*e);
                        }
                        Poll::Ready(Err(e))
                    }
                }
            }
        }
    }
}
