//! The bodies of an observed outgoing call: [`SentBody`] counts the messages sent;
//! [`ClientBody`] counts those received and ends the call with the status in the
//! trailers.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use observe_core::client::OutgoingRpc;
use observe_core::server::grpc::UNKNOWN;
use pin_project_lite::pin_project;

use crate::wire::{self, MessageCounter, SharedCount};

pin_project! {
    /// The request body of an observed call: the caller's messages, counted.
    pub(crate) struct SentBody<B> {
        #[pin]
        inner: B,
        counter: MessageCounter,
        shared: SharedCount,
    }
}

impl<B> SentBody<B> {
    pub(crate) fn new(inner: B, shared: SharedCount) -> Self {
        SentBody {
            inner,
            counter: MessageCounter::default(),
            shared,
        }
    }
}

impl<B> Body for SentBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            this.counter.frame(data);
            wire::store(this.shared, this.counter.count());
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// An outgoing call between its response headers and its status.
#[derive(Debug)]
pub(crate) struct ClientCall {
    outgoing: Option<OutgoingRpc>,
    sent: Option<SharedCount>,
    received: MessageCounter,
}

impl ClientCall {
    pub(crate) fn new(outgoing: OutgoingRpc, sent: Option<SharedCount>) -> Self {
        ClientCall {
            outgoing: Some(outgoing),
            sent,
            received: MessageCounter::default(),
        }
    }

    pub(crate) fn outgoing(&mut self) -> Option<&mut OutgoingRpc> {
        self.outgoing.as_mut()
    }

    fn take(&mut self) -> Option<OutgoingRpc> {
        let outgoing = self.outgoing.take()?;
        let span = outgoing.span();
        if let Some(sent) = &self.sent {
            span.set_attribute("observe.rpc.messages_sent", wire::load(sent));
        }
        span.set_attribute("observe.rpc.messages_received", self.received.count());
        Some(outgoing)
    }

    /// Ends the call with the status in `metadata` (trailers, or the headers of a
    /// trailers-only response).
    pub(crate) fn finish(&mut self, code: u32, message: Option<&str>, metadata: &HeaderMap) {
        if let Some(outgoing) = self.take() {
            outgoing.finish(code, message, metadata);
        }
    }

    pub(crate) fn fail(&mut self, error: &(dyn std::error::Error + 'static)) {
        if let Some(outgoing) = self.take() {
            outgoing.fail(error);
        }
    }
}

impl Drop for ClientCall {
    fn drop(&mut self) {
        // Unfinished: the caller dropped the response or the stream.
        if let Some(outgoing) = self.take() {
            outgoing.cancel();
        }
    }
}

pin_project! {
    /// The response body of an observed call: the callee's messages, counted; the
    /// status in its trailers ends the call.
    #[derive(Debug)]
    pub struct ClientBody<B> {
        #[pin]
        inner: B,
        call: Option<Box<ClientCall>>,
    }
}

impl<B> ClientBody<B> {
    pub(crate) fn new(inner: B, call: Option<Box<ClientCall>>) -> Self {
        ClientBody { inner, call }
    }
}

impl<B> Body for ClientBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: std::error::Error + 'static,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        let Some(call) = this.call.as_deref_mut() else {
            return polled;
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    call.received.frame(data);
                } else if let Some(trailers) = frame.trailers_ref() {
                    let (code, message) = wire::status(trailers).unwrap_or((UNKNOWN, None));
                    call.finish(code, message.as_deref(), trailers);
                }
            }
            Poll::Ready(None) => {
                call.finish(UNKNOWN, Some("no grpc-status"), &HeaderMap::new());
            }
            Poll::Ready(Some(Err(e))) => call.fail(e),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let open = self.call.as_ref().is_some_and(|c| c.outgoing.is_some());
        !open && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
