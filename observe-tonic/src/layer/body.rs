//! The bodies of an observed call: [`RequestBody`] counts the messages the handler
//! reads; [`ResponseBody`] counts the messages sent, polls the response stream
//! inside the call's span, and ends the call with the status in the trailers.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use observe_core::server::InboundRpc;
use observe_core::server::grpc::{INTERNAL, UNKNOWN};
use pin_project_lite::pin_project;

use crate::wire::{self, MessageCounter, SharedCount};

pin_project! {
    /// The request body the handler reads: the client's messages, counted.
    #[derive(Debug)]
    pub struct RequestBody<B> {
        #[pin]
        inner: B,
        // Inline: tonic boxes the body it hands the handler anyway, and a box of
        // its own was an allocation per call, freed on another thread.
        counter: Option<(MessageCounter, SharedCount)>,
    }
}

impl<B> RequestBody<B> {
    pub(crate) fn new(inner: B, count: Option<SharedCount>) -> Self {
        RequestBody {
            inner,
            counter: count.map(|c| (MessageCounter::default(), c)),
        }
    }

    pub(crate) fn unobserved(inner: B) -> Self {
        RequestBody {
            inner,
            counter: None,
        }
    }
}

impl<B> Body for RequestBody<B>
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
        if let (Poll::Ready(Some(Ok(frame))), Some(counter)) = (&polled, this.counter.as_mut())
            && let Some(data) = frame.data_ref()
        {
            let (messages, shared) = counter;
            messages.frame(data);
            wire::store(shared, messages.count());
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

/// A call between its response headers and its status.
#[derive(Debug)]
pub(crate) struct Call {
    inbound: Option<InboundRpc>,
    received: Option<SharedCount>,
    sent: MessageCounter,
}

impl Call {
    pub(crate) fn new(inbound: InboundRpc, received: Option<SharedCount>) -> Self {
        Call {
            inbound: Some(inbound),
            received,
            sent: MessageCounter::default(),
        }
    }

    pub(crate) fn inbound(&self) -> Option<&InboundRpc> {
        self.inbound.as_ref()
    }

    fn counts(&self, inbound: &InboundRpc) {
        let span = inbound.span();
        if let Some(received) = &self.received {
            span.set_attribute("observe.rpc.messages_received", wire::load(received));
        }
        span.set_attribute("observe.rpc.messages_sent", self.sent.count());
    }

    /// Ends the call with its status; `Server-Timing` goes into `metadata`.
    pub(crate) fn finish(&mut self, code: u32, message: Option<&str>, metadata: &mut HeaderMap) {
        if let Some(inbound) = self.inbound.take() {
            self.counts(&inbound);
            inbound.finish(code, message, metadata);
        }
    }

    pub(crate) fn record_panic(&self, payload: &(dyn std::any::Any + Send)) {
        if let Some(inbound) = &self.inbound {
            inbound.record_panic(payload);
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        // Unfinished: the client cancelled, or the connection went away.
        if let Some(inbound) = self.inbound.take() {
            self.counts(&inbound);
            inbound.cancel();
        }
    }
}

pin_project! {
    /// The response body of an observed call: the handler's messages, polled inside
    /// the call's span; the status in its trailers ends the call.
    #[derive(Debug)]
    pub struct ResponseBody<B> {
        // `None`: a trailers-only answer observe made (a panic, a refused bullet).
        #[pin]
        inner: Option<B>,
        call: Option<Box<Call>>,
        catch_panic: bool,
        // The stream panicked: its trailers were sent, nothing more.
        done: bool,
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn new(inner: B, call: Option<Box<Call>>, catch_panic: bool) -> Self {
        ResponseBody {
            inner: Some(inner),
            call,
            catch_panic,
            done: false,
        }
    }

    /// The empty body of a trailers-only answer.
    pub(crate) fn empty() -> Self {
        ResponseBody {
            inner: None,
            call: None,
            catch_panic: false,
            done: false,
        }
    }
}

/// The trailers of a call that panicked.
pub(crate) fn internal_error_metadata() -> HeaderMap {
    let mut metadata = HeaderMap::new();
    metadata.insert("grpc-status", http::HeaderValue::from(INTERNAL));
    metadata.insert(
        "grpc-message",
        http::HeaderValue::from_static("internal%20error"),
    );
    metadata
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        let Some(inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(None);
        };
        let Some(call) = this.call.as_deref_mut() else {
            return inner.poll_frame(cx);
        };
        let polled = match call.inbound() {
            Some(inbound) => inbound
                .span()
                .in_scope(|| catch_unwind(AssertUnwindSafe(|| inner.poll_frame(cx)))),
            None => catch_unwind(AssertUnwindSafe(|| inner.poll_frame(cx))),
        };
        match polled {
            Ok(Poll::Ready(Some(Ok(mut frame)))) => {
                if let Some(data) = frame.data_ref() {
                    call.sent.frame(data);
                } else if let Some(trailers) = frame.trailers_mut() {
                    let (code, message) = wire::status(trailers).unwrap_or((UNKNOWN, None));
                    call.finish(code, message.as_deref(), trailers);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Ok(Poll::Ready(None)) => {
                // The stream ended without trailers: no status was sent.
                call.finish(UNKNOWN, Some("no grpc-status"), &mut HeaderMap::new());
                Poll::Ready(None)
            }
            Ok(Poll::Ready(Some(Err(e)))) => {
                call.finish(UNKNOWN, Some(&e.to_string()), &mut HeaderMap::new());
                Poll::Ready(Some(Err(e)))
            }
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => {
                call.record_panic(payload.as_ref());
                let mut trailers = internal_error_metadata();
                call.finish(INTERNAL, None, &mut trailers);
                if !*this.catch_panic {
                    resume_unwind(payload);
                }
                *this.done = true;
                Poll::Ready(Some(Ok(Frame::trailers(trailers))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        // While the call is open, the end must be polled for: it ends the call.
        let open = self.call.as_ref().is_some_and(|c| c.inbound().is_some());
        self.done
            || (!open
                && self
                    .inner
                    .as_ref()
                    .is_none_or(http_body::Body::is_end_stream))
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), http_body::Body::size_hint)
    }
}
