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
                            match status_of_error(&*e) {
                                Some((code, message)) => {
                                    c.finish(code, Some(&message), &http::HeaderMap::new());
                                }
                                None => c.fail(&*e),
                            }
                        }
                        Poll::Ready(Err(e))
                    }
                }
            }
        }
    }
}

/// The status tonic gives the application for a call that failed before any
/// answer, when the error says which (`tonic::Status::from_error`'s rules for
/// what it recognises, read without taking the error): a `Status` in its chain,
/// `TimeoutExpired` (the channel enforcing the call's `grpc-timeout` or the
/// endpoint's timeout) as `CANCELLED` "Timeout expired", `ConnectError` as
/// `UNAVAILABLE`. `None` for other transport errors (recorded as such).
fn status_of_error(error: &(dyn std::error::Error + 'static)) -> Option<(u32, String)> {
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(status) = e.downcast_ref::<tonic::Status>() {
            return Some((status.code() as u32, status.message().to_owned()));
        }
        if let Some(timeout) = e.downcast_ref::<tonic::TimeoutExpired>() {
            return Some((tonic::Code::Cancelled as u32, timeout.to_string()));
        }
        if let Some(connect) = e.downcast_ref::<tonic::ConnectError>() {
            return Some((tonic::Code::Unavailable as u32, connect.to_string()));
        }
        source = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::status_of_error;

    #[test]
    fn errors_tonic_recognises_become_its_status() {
        let timeout: crate::client::BoxError = Box::new(tonic::TimeoutExpired(()));
        assert_eq!(
            status_of_error(&*timeout),
            Some((1, "Timeout expired".to_owned()))
        );
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let connect: crate::client::BoxError = Box::new(tonic::ConnectError(Box::new(refused)));
        assert_eq!(status_of_error(&*connect).map(|(c, _)| c), Some(14));
        let other: crate::client::BoxError = "a reset".into();
        assert_eq!(status_of_error(&*other), None);
    }
}
