//! What an inbound request hands to the outgoing calls made while it is handled,
//! beyond the request context: its `tracestate` and its tracer-bullet token.
//!
//! The request context (`context::ContextState`) has no place for them, so they live
//! in a small side table keyed by the address of the request's
//! [`RequestContext`], filled only for requests that have one of them (most do not)
//! and emptied when the request ends. An outgoing call finds them through the
//! current span's request context. The key cannot be reused while an entry exists:
//! the entry's guard holds the context alive.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::context::RequestContext;
use crate::propagation::TraceState;

/// What travels from an inbound request to its outgoing calls.
#[derive(Debug, Clone, Default)]
pub(crate) struct Carried {
    /// The inbound `tracestate` (empty when the trace was restarted).
    pub(crate) trace_state: TraceState,
    /// The inbound tracer-bullet token, when the request was honoured as one.
    pub(crate) token: Option<Box<str>>,
}

const SHARDS: usize = 16;

static ENTRIES: AtomicUsize = AtomicUsize::new(0);
type Shard = Mutex<Vec<(usize, Arc<Carried>)>>;

static TABLE: [Shard; SHARDS] = [const { Mutex::new(Vec::new()) }; SHARDS];

fn key(ctx: &RequestContext) -> usize {
    ctx as *const RequestContext as usize
}

fn shard(key: usize) -> &'static Shard {
    // Contexts are heap allocations at least 8-aligned: drop the always-zero bits.
    &TABLE[(key >> 4) % SHARDS]
}

/// Removes the entry when the request ends.
#[derive(Debug)]
pub(crate) struct CarryGuard {
    ctx: Arc<RequestContext>,
}

/// Keeps `carried` for the outgoing calls of the request whose context is `ctx`.
pub(crate) fn insert(ctx: &Arc<RequestContext>, carried: Carried) -> CarryGuard {
    let k = key(ctx);
    let mut entries = shard(k).lock().unwrap_or_else(|e| e.into_inner());
    entries.push((k, Arc::new(carried)));
    ENTRIES.fetch_add(1, Ordering::Relaxed);
    CarryGuard { ctx: ctx.clone() }
}

impl Drop for CarryGuard {
    fn drop(&mut self) {
        let k = key(&self.ctx);
        let mut entries = shard(k).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = entries.iter().position(|(e, _)| *e == k) {
            entries.swap_remove(i);
            ENTRIES.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// What the request whose context is `ctx` carries, if anything. One relaxed load
/// when no request in the process carries anything.
pub(crate) fn lookup(ctx: &RequestContext) -> Option<Arc<Carried>> {
    if ENTRIES.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let k = key(ctx);
    let entries = shard(k).lock().unwrap_or_else(|e| e.into_inner());
    entries
        .iter()
        .find(|(e, _)| *e == k)
        .map(|(_, c)| c.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_as_long_as_their_guard() {
        let ctx = RequestContext::new();
        let other = RequestContext::new();
        assert!(lookup(&ctx).is_none());
        let guard = insert(
            &ctx,
            Carried {
                trace_state: TraceState::parse(b"a=1"),
                token: Some("v1.1.x".into()),
            },
        );
        let found = lookup(&ctx).expect("carried");
        assert_eq!(found.trace_state.as_str(), "a=1");
        assert_eq!(found.token.as_deref(), Some("v1.1.x"));
        assert!(lookup(&other).is_none());
        drop(guard);
        assert!(lookup(&ctx).is_none());
    }
}
