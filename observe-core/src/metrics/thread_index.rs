//! Small per-thread indices, reused after a thread exits.
//!
//! Every metric series keeps one single-writer slot per thread index. A thread takes
//! the lowest free index the first time it records and gives it back when it exits
//! (a thread-local destructor); the next thread to start takes that index *and the
//! slots behind it*, so the counts of an exited thread are never lost and the memory
//! of a series is bounded by the peak number of threads alive at once, not by the
//! number of threads ever started.
//!
//! At most [`MAX_THREADS`] threads hold an index at a time. Threads beyond that, and
//! a thread that records from a thread-local destructor after its own index was given
//! back, use each series' shared fallback slot behind a mutex: slower, never lost.

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Mutex;

/// Slots per chunk of a series' per-thread table.
pub(crate) const CHUNK: usize = 16;
/// Chunks per table.
pub(crate) const CHUNKS: usize = 64;
/// Threads that can hold an index at the same time.
pub(crate) const MAX_THREADS: u32 = (CHUNK * CHUNKS) as u32;

/// Not yet assigned: the first record assigns one.
const UNASSIGNED: u32 = u32::MAX;
/// No index (exited, or more than `MAX_THREADS` threads alive): use the fallback slot.
pub(crate) const FALLBACK: u32 = u32::MAX - 1;

struct Allocator {
    next: u32,
    free: BinaryHeap<Reverse<u32>>,
}

static ALLOCATOR: Mutex<Allocator> = Mutex::new(Allocator {
    next: 0,
    free: BinaryHeap::new(),
});

fn allocator() -> std::sync::MutexGuard<'static, Allocator> {
    // The allocator's state stays consistent even if a holder panicked (it never
    // does: the critical sections only push and pop integers).
    ALLOCATOR.lock().unwrap_or_else(|e| e.into_inner())
}

struct Guard {
    index: u32,
}

impl Guard {
    fn acquire() -> Guard {
        let index = {
            let mut a = allocator();
            match a.free.pop() {
                Some(Reverse(i)) => i,
                None if a.next < MAX_THREADS => {
                    a.next += 1;
                    a.next - 1
                }
                None => FALLBACK,
            }
        };
        let _ = INDEX.try_with(|c| c.set(index));
        Guard { index }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // From here on this thread records through the fallback slot.
        let _ = INDEX.try_with(|c| c.set(FALLBACK));
        if self.index < MAX_THREADS {
            allocator().free.push(Reverse(self.index));
        }
    }
}

thread_local! {
    static INDEX: Cell<u32> = const { Cell::new(UNASSIGNED) };
    static GUARD: Guard = Guard::acquire();
}

/// This thread's index, or [`FALLBACK`].
#[inline(always)]
pub(crate) fn current() -> u32 {
    let i = INDEX.try_with(Cell::get).unwrap_or(FALLBACK);
    if i < MAX_THREADS { i } else { assign(i) }
}

#[cold]
#[inline(never)]
fn assign(i: u32) -> u32 {
    if i != UNASSIGNED {
        return FALLBACK;
    }
    // Initialising the guard assigns the index; `try_with` fails only while the
    // thread is being torn down.
    GUARD.try_with(|g| g.index).unwrap_or(FALLBACK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_stable_per_thread_and_reused_after_exit() {
        let a = current();
        assert!(a < MAX_THREADS);
        assert_eq!(current(), a);
        let first = std::thread::spawn(current).join().unwrap();
        assert!(first < MAX_THREADS && first != a);
        // The exited thread's index is free again; a new thread takes the lowest free
        // index, which is at most the one just released.
        let second = std::thread::spawn(current).join().unwrap();
        assert!(second <= first, "{second} > {first}");
    }

    #[test]
    fn concurrent_threads_get_distinct_indices() {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let b = barrier.clone();
                std::thread::spawn(move || {
                    let i = current();
                    b.wait();
                    i
                })
            })
            .collect();
        let mut ids: Vec<u32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 8);
    }
}
