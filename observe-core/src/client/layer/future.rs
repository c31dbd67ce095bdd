//! [`ClientFuture`]: the outgoing request, polled inside its client span.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use pin_project_lite::pin_project;

use crate::client::{BoxError, Outgoing};

pin_project! {
    /// The response future of [`ClientService`](super::ClientService).
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
        Sent { #[pin] future: F, outgoing: Option<Outgoing> },
        NotSent { error: Option<BoxError> },
    }
}

impl<F> ClientFuture<F> {
    pub(crate) fn sent(future: F, outgoing: Outgoing) -> Self {
        ClientFuture {
            kind: Kind::Sent {
                future,
                outgoing: Some(outgoing),
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
    type Output = Result<Response<B>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::NotSent { error } => Poll::Ready(Err(error
                .take()
                .unwrap_or_else(|| "observe: client future polled after completion".into()))),
            KindProj::Sent { future, outgoing } => {
                let polled = match outgoing.as_ref() {
                    Some(o) => o.span().in_scope(|| future.poll(cx)),
                    None => future.poll(cx),
                };
                match polled {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Ok(response)) => {
                        if let Some(o) = outgoing.take() {
                            o.finish(response.status().as_u16(), response.headers());
                        }
                        Poll::Ready(Ok(response))
                    }
                    Poll::Ready(Err(e)) => {
                        let e: BoxError = e.into();
                        if let Some(o) = outgoing.take() {
                            o.fail(&*e);
                        }
                        Poll::Ready(Err(e))
                    }
                }
            }
        }
    }
}
