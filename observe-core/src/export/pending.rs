//! Log events waiting for their span on the exporter thread.
//!
//! A `tracing` event logged inside a sampled span is exported as an event of that
//! span, but the span record comes after its events (a span ends after what
//! happens inside it). The events wait here, by span id, until the span arrives.
//! A span that never arrives (filtered, dropped from a full ring, never ended) or a
//! flood of events must not grow this without bound, nor cost a scan per event:
//!
//! - bounded in spans ([`MAX_SPANS`]) and in bytes ([`MAX_BYTES`]); each span
//!   keeps at most [`MAX_EVENTS_PER_SPAN`] events;
//! - O(1) per event: a map by span id, and a queue of span ids in arrival order;
//!   stale entries in the queue (spans that arrived) are skipped when they reach
//!   its front, and the queue is compacted when it holds twice the bound, so each
//!   entry is examined a bounded number of times;
//! - the oldest waiting span is evicted first, when a bound is reached or when it
//!   waited longer than [`MAX_AGE`];
//! - every event dropped is counted (`ExportStats::span_events_dropped`).

use std::collections::{HashMap, VecDeque};
use std::mem::size_of;
use std::time::{Duration, Instant};

use opentelemetry::trace::Event;

use crate::ids::SpanId;
use crate::otel::convert::MAX_EVENTS_PER_SPAN;

/// The most spans whose events may wait.
pub(super) const MAX_SPANS: usize = 4096;
/// The most bytes the waiting events may hold.
pub(super) const MAX_BYTES: usize = 4 * 1024 * 1024;
/// How long events wait for their span. A span that lasts longer loses them as
/// span events (they are still exported as log records, with its ids).
pub(super) const MAX_AGE: Duration = Duration::from_secs(60);

struct Waiting {
    events: Vec<Event>,
    bytes: usize,
    /// Which arrival of this span id the entry is (a span id seen again after its
    /// entry was taken is a new entry; the old queue slot must not evict it).
    seq: u64,
}

/// See the module documentation.
#[derive(Default)]
pub(super) struct PendingEvents {
    by_span: HashMap<SpanId, Waiting, foldhash::fast::RandomState>,
    order: VecDeque<(SpanId, u64, Instant)>,
    bytes: usize,
    next_seq: u64,
    /// Events dropped, not yet reported (taken by [`take_dropped`](Self::take_dropped)).
    dropped: u64,
    /// Queue slots examined, for tests to count work instead of timing it.
    #[cfg(test)]
    examined: u64,
}

/// The bytes an event holds, as it will sit in its span's list: the event, its
/// attributes and their owned strings.
pub(super) fn event_size(e: &Event) -> usize {
    let text = |s: &str| s.len();
    size_of::<Event>()
        + text(&e.name)
        + e.attributes.capacity() * size_of::<opentelemetry::KeyValue>()
        + e.attributes
            .iter()
            .map(|kv| text(kv.key.as_str()) + value_size(&kv.value))
            .sum::<usize>()
}

fn value_size(v: &opentelemetry::Value) -> usize {
    match v {
        opentelemetry::Value::String(s) => s.as_str().len(),
        opentelemetry::Value::Array(a) => format!("{a}").len(),
        _ => 0,
    }
}

/// The bytes of one map entry and its queue slot, besides the events.
const ENTRY: usize = size_of::<(SpanId, Waiting)>() + size_of::<(SpanId, u64, Instant)>() + 8;

impl PendingEvents {
    /// Keeps `event` for span `span` until the span arrives; `now` is the time of
    /// the batch being prepared.
    pub(super) fn add(&mut self, span: SpanId, event: Event, now: Instant) {
        self.expire(now);
        let size = event_size(&event);
        if let Some(w) = self.by_span.get_mut(&span) {
            if w.events.len() >= MAX_EVENTS_PER_SPAN || size > MAX_BYTES {
                self.dropped += 1;
                return;
            }
            w.events.push(event);
            w.bytes += size;
            self.bytes += size;
            // Evict the oldest other spans if this one pushed past the budget.
            while self.bytes > MAX_BYTES && self.evict_oldest(Some(span)) {}
            if self.bytes > MAX_BYTES {
                // Only this span is left and it alone is over: drop the event again.
                if let Some(w) = self.by_span.get_mut(&span)
                    && let Some(e) = w.events.pop()
                {
                    let s = event_size(&e);
                    w.bytes -= s;
                    self.bytes -= s;
                    self.dropped += 1;
                }
            }
            return;
        }
        if size + ENTRY > MAX_BYTES {
            self.dropped += 1;
            return;
        }
        while (self.by_span.len() >= MAX_SPANS || self.bytes + size + ENTRY > MAX_BYTES)
            && self.evict_oldest(None)
        {}
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_span.insert(
            span,
            Waiting {
                events: vec![event],
                bytes: size + ENTRY,
                seq,
            },
        );
        self.bytes += size + ENTRY;
        self.order.push_back((span, seq, now));
        if self.order.len() > 2 * MAX_SPANS {
            self.compact();
        }
    }

    /// The events waiting for `span`, which just arrived.
    pub(super) fn take(&mut self, span: SpanId) -> Vec<Event> {
        if self.by_span.is_empty() {
            return Vec::new();
        }
        match self.by_span.remove(&span) {
            Some(w) => {
                self.bytes -= w.bytes;
                w.events
            }
            None => Vec::new(),
        }
    }

    /// Drops the events of spans that waited longer than [`MAX_AGE`].
    pub(super) fn expire(&mut self, now: Instant) {
        while let Some(&(_, _, at)) = self.order.front() {
            if now.saturating_duration_since(at) < MAX_AGE {
                break;
            }
            self.evict_oldest(None);
        }
    }

    /// Evicts the oldest waiting span (not `keep`), counting its events. Returns
    /// whether there was one.
    fn evict_oldest(&mut self, keep: Option<SpanId>) -> bool {
        let mut kept = None;
        let mut evicted = false;
        while let Some((span, seq, at)) = self.order.pop_front() {
            #[cfg(test)]
            {
                self.examined += 1;
            }
            let live = self.by_span.get(&span).is_some_and(|w| w.seq == seq);
            if !live {
                continue; // its span arrived: a stale slot
            }
            if Some(span) == keep {
                kept = Some((span, seq, at));
                continue;
            }
            if let Some(w) = self.by_span.remove(&span) {
                self.bytes -= w.bytes;
                self.dropped += w.events.len() as u64;
            }
            evicted = true;
            break;
        }
        if let Some(k) = kept {
            self.order.push_front(k);
        }
        evicted
    }

    /// Removes the stale slots of the arrival queue. Runs when the queue holds
    /// twice [`MAX_SPANS`] slots and leaves at most `MAX_SPANS`, so it costs O(1)
    /// per event over time.
    fn compact(&mut self) {
        #[cfg(test)]
        {
            self.examined += self.order.len() as u64;
        }
        let by_span = &self.by_span;
        self.order
            .retain(|(span, seq, _)| by_span.get(span).is_some_and(|w| w.seq == *seq));
    }

    /// Counts events dropped before they got here.
    pub(super) fn count_dropped(&mut self, n: u64) {
        self.dropped += n;
    }

    /// Events waiting, plus those dropped and not reported yet (what is lost if
    /// the table goes away now).
    pub(super) fn waiting_events(&self) -> u64 {
        self.by_span
            .values()
            .map(|w| w.events.len() as u64)
            .sum::<u64>()
            + self.dropped
    }

    /// Events dropped since the last call.
    pub(super) fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }

    /// Spans with waiting events.
    #[cfg(test)]
    pub(super) fn spans(&self) -> usize {
        self.by_span.len()
    }

    /// Bytes held.
    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(text: &str) -> Event {
        Event::new(
            text.to_owned(),
            std::time::SystemTime::UNIX_EPOCH,
            vec![opentelemetry::KeyValue::new("level", "INFO")],
            0,
        )
    }

    fn id(n: u64) -> SpanId {
        SpanId::new(n.wrapping_add(1).max(1))
    }

    #[test]
    fn events_wait_for_their_span_and_are_handed_over() {
        let mut p = PendingEvents::default();
        let now = Instant::now();
        p.add(id(1), event("a"), now);
        p.add(id(1), event("b"), now);
        p.add(id(2), event("c"), now);
        let got: Vec<String> = p.take(id(1)).iter().map(|e| e.name.to_string()).collect();
        assert_eq!(got, ["a", "b"]);
        assert!(p.take(id(1)).is_empty());
        assert_eq!(p.spans(), 1);
        assert_eq!(p.take(id(2)).len(), 1);
        assert_eq!(p.bytes(), 0, "everything handed over frees its bytes");
        assert_eq!(p.take_dropped(), 0);
    }

    #[test]
    fn a_flood_of_orphan_events_stays_bounded_with_every_drop_counted() {
        let mut p = PendingEvents::default();
        let now = Instant::now();
        let total = 200_000u64;
        for n in 0..total {
            // Spans that never arrive, each with one event.
            p.add(id(n), event("orphan"), now);
            assert!(p.spans() <= MAX_SPANS);
            assert!(p.bytes() <= MAX_BYTES);
            assert!(p.order.len() <= 2 * MAX_SPANS + 1);
        }
        let kept = p.spans() as u64;
        assert_eq!(kept, MAX_SPANS as u64, "the most recent spans are kept");
        assert_eq!(
            p.take_dropped(),
            total - kept,
            "every other event is counted"
        );
        // The oldest went first: the newest are the ones still waiting.
        assert_eq!(p.take(id(total - 1)).len(), 1);
        assert!(p.take(id(0)).is_empty());
        // Work per event is bounded: each slot is examined a few times at most.
        assert!(
            p.examined <= 3 * total,
            "{} slots examined for {total} events",
            p.examined
        );
    }

    #[test]
    fn spans_arriving_while_others_never_do_cost_o1_per_event() {
        let mut p = PendingEvents::default();
        let now = Instant::now();
        // One orphan at the front that never arrives (and does not age out).
        p.add(id(u64::MAX - 1), event("orphan"), now);
        let total = 100_000u64;
        for n in 0..total {
            p.add(id(n), event("e"), now);
            assert_eq!(p.take(id(n)).len(), 1);
        }
        assert_eq!(p.spans(), 1);
        assert!(p.order.len() <= 2 * MAX_SPANS + 1);
        assert!(p.examined <= 3 * total, "{} examined", p.examined);
        assert_eq!(p.take_dropped(), 0);
    }

    #[test]
    fn big_events_are_bounded_by_bytes() {
        let mut p = PendingEvents::default();
        let now = Instant::now();
        let big = "x".repeat(64 * 1024);
        for n in 0..1000 {
            p.add(id(n), event(&big), now);
            assert!(p.bytes() <= MAX_BYTES);
        }
        let kept = p.spans() as u64;
        assert!(kept < 64, "{kept} spans of 64 KiB kept in 4 MiB");
        assert_eq!(p.take_dropped(), 1000 - kept);
        // One span growing past the budget alone loses its own newest events.
        let mut p = PendingEvents::default();
        for _ in 0..MAX_EVENTS_PER_SPAN {
            p.add(id(7), event(&big), now);
            assert!(p.bytes() <= MAX_BYTES);
        }
        let kept = p.take(id(7)).len() as u64;
        assert_eq!(p.take_dropped(), MAX_EVENTS_PER_SPAN as u64 - kept);
    }

    #[test]
    fn orphans_age_out_oldest_first_and_events_beyond_the_span_limit_count() {
        let mut p = PendingEvents::default();
        let t0 = Instant::now();
        p.add(id(1), event("old"), t0);
        p.add(id(2), event("newer"), t0 + Duration::from_secs(30));
        p.expire(t0 + MAX_AGE);
        assert_eq!(p.spans(), 1, "only the old one expired");
        assert_eq!(p.take_dropped(), 1);
        for _ in 0..MAX_EVENTS_PER_SPAN + 5 {
            p.add(id(2), event("more"), t0 + Duration::from_secs(31));
        }
        assert_eq!(p.take(id(2)).len(), MAX_EVENTS_PER_SPAN);
        assert_eq!(
            p.take_dropped(),
            6,
            "one event was there: six over the limit"
        );
    }
}
