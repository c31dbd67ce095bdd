//! The heap footprint of records, counted from what they own: the flight
//! recorder's byte budget, the export queues' and the pipeline's budget for records
//! in flight are only as good as this.
//!
//! The recorder counts every allocation as the allocator lays it out ([`block`]:
//! glibc's chunk, an 8-byte header and 16-byte rounding, 32 bytes at least), so its
//! budget bounds the heap it really holds rather than the bytes its records asked
//! for; on a record made of many small strings the two differ by a third. So do
//! the rings' records in flight ([`in_flight`]). The export queues count requested
//! bytes ([`span_heap`], [`log_heap`]), as they
//! always did.
//!
//! Every count errs on the high side: a shared string (a span name made at run
//! time, a request context kept by several log lines) is counted in full for each
//! record holding it.

use std::borrow::Cow;
use std::mem::size_of;

use crate::log::LogRecord;
use crate::span::{Event, ExtraBox, KeyValue, Link, SpanName, SpanRecord, Value};

/// `Arc<str>`'s allocation: two counters and the bytes.
pub(crate) const ARC_HEADER: usize = 2 * size_of::<usize>();

/// What one allocation of `n` bytes takes from the heap: glibc's chunk for it (the
/// request plus an 8-byte size header, rounded up to 16 bytes, at least 32), or the
/// whole pages of a block large enough to be mapped on its own. Nothing for no
/// allocation (`n == 0`).
pub(crate) const fn block(n: usize) -> usize {
    /// glibc's default `M_MMAP_THRESHOLD`: larger blocks are mapped pages.
    const MMAP: usize = 128 * 1024;
    const PAGE: usize = 4096;
    if n == 0 {
        0
    } else if n >= MMAP {
        (n + 16).div_ceil(PAGE) * PAGE
    } else {
        let chunk = (n + 8 + 15) & !15;
        if chunk < 32 { 32 } else { chunk }
    }
}

/// How allocations are counted: as asked for, or as the allocator lays them out.
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
enum Count {
    Requested,
    Allocated,
}

impl Count {
    #[inline]
    fn of(self, n: usize) -> usize {
        match self {
            Count::Requested => n,
            Count::Allocated => block(n),
        }
    }
}

// The variant matters: only an owned string has heap of its own.
#[allow(clippy::ptr_arg)]
fn cow(c: Count, s: &Cow<'static, str>) -> usize {
    match s {
        Cow::Borrowed(_) => 0,
        Cow::Owned(s) => c.of(s.capacity()),
    }
}

fn value(c: Count, v: &Value) -> usize {
    match v {
        Value::Str(s) => cow(c, s),
        _ => 0,
    }
}

fn attributes(c: Count, v: &Vec<KeyValue>) -> usize {
    c.of(v.capacity() * size_of::<KeyValue>())
        + v.iter()
            .map(|kv| cow(c, &kv.key) + value(c, &kv.value))
            .sum::<usize>()
}

fn events(c: Count, v: &Vec<Event>) -> usize {
    c.of(v.capacity() * size_of::<Event>())
        + v.iter()
            .map(|e| cow(c, &e.name) + attributes(c, &e.attributes))
            .sum::<usize>()
}

fn links(c: Count, v: &Vec<Link>) -> usize {
    c.of(v.capacity() * size_of::<Link>())
        + v.iter()
            .map(|l| attributes(c, &l.attributes))
            .sum::<usize>()
}

fn name(c: Count, n: &SpanName) -> usize {
    match n {
        SpanName::Static(_) => 0,
        SpanName::Shared(s) => c.of(ARC_HEADER + s.len()),
    }
}

fn span(c: Count, s: &SpanRecord) -> usize {
    let extra = s.extra.as_ref().map_or(0, |e| {
        let boxed = match e {
            ExtraBox::Plain(_) => size_of::<crate::span::Extra>(),
            ExtraBox::Server(_) => size_of::<crate::span::ServerExtra>(),
        };
        c.of(boxed)
            + attributes(c, &e.attributes)
            // What a server span's typed attributes hold, and their rendered
            // copies once a sink has read them.
            + e.deferred()
                .map_or(0, |d| c.of(d.heap(&e.attributes, |v| value(c, v))))
            + events(c, &e.events)
            + links(c, &e.links)
            + e.status_message.as_ref().map_or(0, |m| cow(c, m))
    });
    name(c, &s.name) + extra
}

/// Everything a log record owns besides its own `LogRecord`.
fn log(c: Count, l: &LogRecord) -> usize {
    let context = l.context.as_ref().map_or(0, |ctx| {
        let s =
            |v: &Option<std::sync::Arc<str>>| v.as_ref().map_or(0, |v| c.of(ARC_HEADER + v.len()));
        c.of(ARC_HEADER + size_of::<crate::context::ContextState>())
            + s(&ctx.request_id)
            + s(&ctx.user_id)
            + s(&ctx.account_id)
            // A B-tree node per few entries: count each entry with room for its node.
            + ctx.flags
                .iter()
                .map(|(k, v)| {
                    c.of(ARC_HEADER + k.len()) + c.of(ARC_HEADER + v.len()) + 4 * size_of::<usize>()
                })
                .sum::<usize>()
            + c.of(ctx.baggage.capacity() * size_of::<crate::propagation::BaggageMember>())
            + ctx.baggage
                .iter()
                .map(|m| c.of(m.key().len() + m.value().len() + m.properties().len()))
                .sum::<usize>()
    });
    log_own(c, l) + context
}

/// What a log record owns alone: its message, its fields and its span's name (not
/// its request context, shared with the request).
#[inline]
fn log_own(c: Count, l: &LogRecord) -> usize {
    let span = l.span.as_ref().map_or(0, |s| name(c, &s.name));
    // Fields kept inline are inside `size_of::<LogRecord>()`; spilled ones on the heap.
    let field_heap = if l.fields.spilled() {
        c.of(l.fields.capacity() * size_of::<KeyValue>())
    } else {
        0
    };
    let field_text = l
        .fields
        .iter()
        .map(|kv| cow(c, &kv.key) + value(c, &kv.value))
        .sum::<usize>();
    let message = match &l.message {
        Cow::Owned(m) => c.of(m.capacity()),
        Cow::Borrowed(_) => 0,
    };
    message + field_heap + field_text + span
}

/// The heap a span record owns (not counting the record itself), in requested
/// bytes (what the export queues count).
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) fn span_heap(s: &SpanRecord) -> usize {
    span(Count::Requested, s)
}

/// The heap a log record owns, including its box, in requested bytes.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) fn log_heap(l: &LogRecord) -> usize {
    size_of::<LogRecord>() + log(Count::Requested, l)
}

/// What a span shared as an `Arc` takes from the heap, its own allocation
/// included, as the allocator lays it out.
pub(crate) fn span_allocated(s: &SpanRecord) -> usize {
    block(ARC_HEADER + size_of::<SpanRecord>()) + span(Count::Allocated, s)
}

/// What a log record shared as an `Arc` takes from the heap, its own allocation
/// included, as the allocator lays it out.
pub(crate) fn log_allocated(l: &LogRecord) -> usize {
    block(ARC_HEADER + size_of::<LogRecord>()) + log(Count::Allocated, l)
}

/// What a record waiting in a ring or a staging buffer holds on the heap besides
/// its slot, as the allocator lays it out: a span's run-time name and attributes
/// (nothing for most `#[traced]` spans), a log record's box, message and fields. A
/// log record's request context is shared with its request and is not counted.
///
/// The common span that holds nothing (a `#[traced]` span: a static name, no rare
/// parts) is one inline check; the call it replaced was 20 instructions of every
/// such span's end (counted). A server span's record pays the call instead (its
/// layer counts about 60 more per request, within the count's noise of 100).
#[inline(always)]
pub(crate) fn in_flight(r: &super::Record) -> usize {
    match r {
        super::Record::Span(s) if s.extra.is_none() && matches!(s.name, SpanName::Static(_)) => 0,
        _ => in_flight_counted(r),
    }
}

/// [`in_flight`] for a record that holds something, out of line: inlined, it
/// made the common case's check cost more than the call it saved.
#[inline(never)]
fn in_flight_counted(r: &super::Record) -> usize {
    match r {
        super::Record::Span(s) => span(Count::Allocated, s),
        super::Record::Log(l) => block(size_of::<LogRecord>()) + log_own(Count::Allocated, l),
    }
}

/// The block a `HashMap` with this capacity allocates for `(K, V)` entries
/// (hashbrown: a power-of-two bucket count of at least 8/7 of the capacity, one
/// control byte per bucket plus a group's worth), as the allocator lays it out.
pub(crate) fn hash_map(capacity: usize, entry: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = (capacity * 8 / 7).next_power_of_two().max(4);
    block(buckets * (entry + 1) + 16)
}

#[cfg(test)]
mod tests {
    use super::block;

    #[test]
    fn blocks_follow_glibcs_layout() {
        assert_eq!(block(0), 0);
        assert_eq!(block(1), 32);
        assert_eq!(block(24), 32);
        assert_eq!(block(25), 48);
        assert_eq!(block(40), 48);
        assert_eq!(block(41), 64);
        assert_eq!(block(1000), 1008);
        assert_eq!(block(200 * 1024), 204 * 1024);
    }
}
