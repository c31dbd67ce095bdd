//! The recorder's memory, measured from the allocator's side: blocks as malloc
//! lays them out, not the bytes asked for.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use observe_core::recorder::{FlightRecorder, RecorderSettings};
use observe_core::span::{KeyValue, Span};

/// Counts the bytes live on the heap, all threads together, as the allocator lays
/// them out: each block's usable size (`malloc_usable_size`) and its 8-byte header,
/// which is what the recorder's budget is meant to bound. Requested bytes are
/// counted beside them, for the messages.
pub(crate) struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static REQUESTED: AtomicIsize = AtomicIsize::new(0);

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn block(ptr: *mut u8, _size: usize) -> isize {
    unsafe extern "C" {
        fn malloc_usable_size(ptr: *mut std::ffi::c_void) -> usize;
    }
    // SAFETY: `ptr` is a live block of the system allocator (glibc's malloc).
    let usable = unsafe { malloc_usable_size(ptr.cast()) };
    (usable + 8) as isize
}

/// Elsewhere: glibc's layout, computed (an 8-byte header, 16-byte rounding, at
/// least 32 bytes).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn block(_ptr: *mut u8, size: usize) -> isize {
    ((size + 8 + 15) & !15).max(32) as isize
}

// SAFETY: delegates every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, passed on as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(block(p, layout.size()), Ordering::Relaxed);
            REQUESTED.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(block(ptr, layout.size()), Ordering::Relaxed);
        REQUESTED.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = block(ptr, layout.size());
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(block(p, new_size) - old, Ordering::Relaxed);
            REQUESTED.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

fn live() -> (isize, isize) {
    (
        LIVE.load(Ordering::Relaxed),
        REQUESTED.load(Ordering::Relaxed),
    )
}

/// A flood of spans and logs of varied sizes (attributes, events, messages).
fn flood(traces: usize, seed: usize) {
    for i in 0..traces {
        let root = Span::new(format!("GET /route/{}", (i + seed) % 7));
        root.set_attribute("payload", "p".repeat((i * 37 + seed) % 400));
        root.set_attribute("n", i as u64);
        root.in_scope(|| {
            for j in 0..3 {
                let child = Span::new("step");
                child.add_event(
                    "note",
                    vec![KeyValue::new("detail", "d".repeat((i + j) % 120))],
                );
                child.in_scope(|| {
                    tracing::info!(step = j, text = %"t".repeat(i % 50), "working on it");
                });
                if (i + j) % 11 == 0 {
                    child.set_error("failed step");
                }
            }
        });
        if i % 3 == 0 {
            serve(i + seed);
        }
    }
}

/// A request through the server layer's machinery, its path and user agent too
/// long to be kept inline in the span's typed attributes: the span owns them as
/// strings, which dropping it must free.
fn serve(i: usize) {
    use observe_core::server::{Inbound, RequestInfo, ServerOptions};
    let request = http::Request::get(format!("/orders/{}{i}", "o".repeat(i % 250)))
        .header("host", "shop.example:8080")
        .header("user-agent", "u".repeat(100 + i % 300))
        .body(())
        .unwrap();
    let info = RequestInfo::from_request(&request).route(Some("/orders/{id}"));
    let inbound = Inbound::start(&ServerOptions::default(), &info);
    inbound.finish(200, &mut http::HeaderMap::new());
}

#[test]
fn memory_stays_within_the_byte_budget_under_a_flood() {
    let _quiet = crate::QUIET.write().unwrap_or_else(|e| e.into_inner());
    const BUDGET: usize = 4 * 1024 * 1024;
    let recorder = FlightRecorder::new(RecorderSettings {
        budget_bytes: BUDGET,
        ..RecorderSettings::default()
    });
    let observe = crate::start(0.0, vec![Box::new(recorder.sink())]);
    let guard = observe.set_default();

    let mut held = Vec::new();
    let mut seed = 0;
    // Several rounds, each several times the budget's worth of records.
    for round in 0..4 {
        flood(3000, seed);
        seed += 3000;
        assert!(observe.flush(Duration::from_secs(30)));
        let stats = recorder.stats();
        assert!(
            stats.evicted_spans > 0,
            "round {round}: the flood overflowed the budget"
        );
        held.push(live().0);
    }
    let stats = recorder.stats();
    assert!(stats.spans > 1000 && stats.logs > 1000, "{stats:?}");

    // What the recorder holds is what is freed when its last handle goes away.
    // Stop the instance first: its worker drops the sink's handle (and its own
    // buffers) as it exits; wait until the heap is still, then drop ours.
    let used_reported = recorder.stats().used_bytes;
    drop(guard);
    assert!(observe.shutdown());
    let mut before = live();
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(20));
        let now = live();
        if now == before {
            break;
        }
        before = now;
    }
    drop(recorder);
    let after = live();
    let recorder_bytes = (before.0 - after.0) as usize;
    let requested = (before.1 - after.1) as usize;
    assert!(
        recorder_bytes <= BUDGET,
        "recorder holds {recorder_bytes} bytes in blocks ({requested} requested), budget {BUDGET} (it reported {used_reported})"
    );
    assert!(
        recorder_bytes >= BUDGET * 9 / 10,
        "the recorder was full: {recorder_bytes} bytes in blocks of {BUDGET} ({requested} requested, it reported {used_reported})"
    );
    // Flat: later rounds hold no more than the first full one (small drift allowed
    // for the other threads' buffers that warmed up meanwhile).
    let growth = held[3] - held[1];
    assert!(
        growth < (BUDGET / 8) as isize,
        "memory grew by {growth} bytes: {held:?}"
    );
}
