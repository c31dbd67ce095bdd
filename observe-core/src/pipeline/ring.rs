//! Per-thread staging buffers and single-producer rings (`rtrb`), one of each per
//! pipeline a thread writes to. They live in the thread's state next to its span
//! stack (see `span::stack`).
//!
//! A record is first appended to a small staging buffer, which stays hot in this
//! core's cache; the buffer is moved into the ring in one bulk copy when it fills,
//! or as soon as the thread leaves its outermost span. Flushing whenever the span
//! stack empties means a thread never keeps records once it goes idle: at most the
//! records of the spans it is still inside are staged.

use super::{Pipeline, Record};
use crate::span::stack::{self, ThreadState};

/// The background side of one thread's ring.
pub(crate) struct Consumer {
    pub(crate) inner: rtrb::Consumer<Record>,
}

/// The application side of one thread's ring for one pipeline.
pub(crate) struct Local {
    pipeline: &'static Pipeline,
    staging: Vec<Record>,
    producer: rtrb::Producer<Record>,
}

/// Records staged per thread before a bulk move into the ring.
const STAGE: usize = 64;

/// Queues a finished span's record for `pipeline`, building it in place in the
/// staging buffer. It waits there while the thread is inside a span; otherwise it
/// goes to the ring at once.
#[inline]
pub(crate) fn push_span(
    pipeline: &'static Pipeline,
    data: &mut crate::span::SpanData,
    end: crate::clock::Tick,
    status: crate::span::StatusCode,
    request_type: crate::context::RequestType,
) {
    let pushed = stack::with_state(|s| {
        push_in(s, pipeline, || {
            Record::Span(data.take_record(end, status, request_type))
        })
    });
    if pushed.is_none() {
        pipeline.count_dropped_span();
    }
}

/// Queues a log record for `pipeline` (staged while the thread is inside a span).
#[inline]
pub(crate) fn push_log(pipeline: &'static Pipeline, log: std::sync::Arc<crate::log::LogRecord>) {
    let mut log = Some(log);
    stack::with_state(|s| {
        if let Some(l) = log.take() {
            push_in(s, pipeline, || Record::Log(l));
        }
    });
    if log.is_some() {
        pipeline.count_dropped_log();
    }
}

#[inline]
fn push_in(s: &mut ThreadState, pipeline: &'static Pipeline, make: impl FnOnce() -> Record) {
    if !pipeline.is_running() {
        pipeline.count_dropped(&[make()]);
        return;
    }
    // Inside a span of the code running now (not merely above another task's
    // `tracing` entry, which may stay on this thread's stack while it is suspended).
    let inside = stack::inside(s);
    let local = local_for(&mut s.rings, pipeline);
    // Built straight into its slot. `push(make())` builds the record on the stack
    // first (the push may reallocate before it knows where the record goes) and then
    // copies it; the copy's wide loads over the narrow stores that built it stalled on
    // store forwarding, the largest single cost of ending a span.
    match local.staging.spare_capacity_mut().first_mut() {
        Some(slot) => {
            slot.write(make());
            let len = local.staging.len() + 1;
            // SAFETY: the slot just written is the first past the length, within the
            // capacity, and now initialised.
            unsafe { local.staging.set_len(len) };
        }
        // Never in practice: the buffer is made with room for `STAGE` records and
        // moved to the ring when it holds that many.
        None => local.staging.push(make()),
    }
    if inside && local.staging.len() < STAGE {
        s.staged = true;
    } else {
        move_to_ring(local);
    }
}

#[inline]
fn local_for<'a>(rings: &'a mut Vec<Local>, pipeline: &'static Pipeline) -> &'a mut Local {
    // Nearly always the first (and only) entry.
    let idx = match rings
        .iter()
        .position(|l| std::ptr::eq(l.pipeline, pipeline))
    {
        Some(i) => i,
        None => {
            // Forget rings of pipelines that were shut down (tests start many).
            rings.retain(|l| l.pipeline.is_running());
            let (producer, consumer) = rtrb::RingBuffer::new(pipeline.settings.ring_capacity);
            pipeline.register(Consumer { inner: consumer });
            rings.push(Local {
                pipeline,
                staging: Vec::with_capacity(STAGE),
                producer,
            });
            rings.len() - 1
        }
    };
    &mut rings[idx]
}

/// Moves the staging buffer into the ring; what does not fit is dropped and counted.
fn move_to_ring(local: &mut Local) {
    let n = local.staging.len();
    if n == 0 {
        return;
    }
    let free = local.producer.slots();
    let fit = free.min(n);
    if let Ok(chunk) = local.producer.write_chunk_uninit(fit) {
        chunk.fill_from_iter(local.staging.drain(..fit));
    }
    if !local.staging.is_empty() {
        local.pipeline.count_dropped(&local.staging);
        local.staging.clear();
    }
    // Wake the worker when the ring passes half full, rather than letting it
    // overflow before the next periodic drain.
    if free - fit < local.pipeline.settings.ring_capacity / 2 {
        local.pipeline.wake();
    }
}

/// Moves every staged record of this thread into its rings.
pub(crate) fn flush_all(s: &mut ThreadState) {
    s.staged = false;
    for local in s.rings.iter_mut() {
        move_to_ring(local);
    }
}
