//! The heap footprint of stored records, counted from what they own: the flight
//! recorder's byte budget is only as good as this.
//!
//! Every count errs on the high side: a shared string (a span name made at run
//! time, a request context kept by several log lines) is counted in full for each
//! record holding it, and allocator rounding is left to the margin documented in
//! `docs/traces.md`.

use std::borrow::Cow;
use std::mem::size_of;

use crate::log::LogRecord;
use crate::span::{Event, KeyValue, Link, SpanName, SpanRecord, Value};

/// `Arc<str>`'s allocation: two counters and the bytes.
pub(crate) const ARC_HEADER: usize = 2 * size_of::<usize>();

// The variant matters: only an owned string has heap of its own.
#[allow(clippy::ptr_arg)]
fn cow(s: &Cow<'static, str>) -> usize {
    match s {
        Cow::Borrowed(_) => 0,
        Cow::Owned(s) => s.capacity(),
    }
}

fn value(v: &Value) -> usize {
    match v {
        Value::Str(s) => cow(s),
        _ => 0,
    }
}

fn attributes(v: &Vec<KeyValue>) -> usize {
    v.capacity() * size_of::<KeyValue>()
        + v.iter()
            .map(|kv| cow(&kv.key) + value(&kv.value))
            .sum::<usize>()
}

fn events(v: &Vec<Event>) -> usize {
    v.capacity() * size_of::<Event>()
        + v.iter()
            .map(|e| cow(&e.name) + attributes(&e.attributes))
            .sum::<usize>()
}

fn links(v: &Vec<Link>) -> usize {
    v.capacity() * size_of::<Link>() + v.iter().map(|l| attributes(&l.attributes)).sum::<usize>()
}

fn name(n: &SpanName) -> usize {
    match n {
        SpanName::Static(_) => 0,
        SpanName::Shared(s) => ARC_HEADER + s.len(),
    }
}

/// The heap a span record owns (not counting the record itself).
pub(crate) fn span_heap(s: &SpanRecord) -> usize {
    let extra = s.extra.as_ref().map_or(0, |e| {
        size_of::<crate::span::Extra>()
            + attributes(&e.attributes)
            + e.deferred
                .as_ref()
                .map_or(0, |d| d.heap(&e.attributes, value))
            + events(&e.events)
            + links(&e.links)
            + e.status_message.as_ref().map_or(0, cow)
    });
    name(&s.name) + extra
}

/// The heap a log record owns, including its box.
pub(crate) fn log_heap(l: &LogRecord) -> usize {
    let context = l.context.as_ref().map_or(0, |c| {
        let s = |v: &Option<std::sync::Arc<str>>| v.as_ref().map_or(0, |v| ARC_HEADER + v.len());
        ARC_HEADER
            + size_of::<crate::context::ContextState>()
            + s(&c.request_id)
            + s(&c.user_id)
            + s(&c.account_id)
            // A B-tree node per few entries: count each entry with room for its node.
            + c.flags
                .iter()
                .map(|(k, v)| 2 * ARC_HEADER + k.len() + v.len() + 4 * size_of::<usize>())
                .sum::<usize>()
            + c.baggage.capacity() * 2 * size_of::<std::sync::Arc<str>>()
            + c.baggage
                .iter()
                .map(|(k, v)| 2 * ARC_HEADER + k.len() + v.len())
                .sum::<usize>()
    });
    let span = l.span.as_ref().map_or(0, |s| name(&s.name));
    // Fields kept inline are inside `size_of::<LogRecord>()`; spilled ones on the heap.
    let field_heap = if l.fields.spilled() {
        l.fields.capacity() * size_of::<KeyValue>()
    } else {
        0
    };
    let field_text = l
        .fields
        .iter()
        .map(|kv| cow(&kv.key) + value(&kv.value))
        .sum::<usize>();
    size_of::<LogRecord>() + l.message.capacity() + field_heap + field_text + context + span
}

/// The bytes a `HashMap` with this capacity allocates for `(K, V)` entries
/// (hashbrown: a power-of-two bucket count of at least 8/7 of the capacity, one
/// control byte per bucket plus a group's worth).
pub(crate) fn hash_map(capacity: usize, entry: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = (capacity * 8 / 7).next_power_of_two().max(4);
    buckets * (entry + 1) + 16
}
