//! What `#[traced]` costs the calling thread, next to its peers in the same run:
//! the bare function, `#[tracing::instrument]` with a `Registry` subscriber, and
//! `#[fastrace::trace]` in a sampled root with a reporter that drops everything
//! (`fastrace` rows never drain its collector; `fastrace_drained` rows drain it
//! with `fastrace::flush()` after each sample, outside the timed region, as
//! observe's captured records are cleared).
//!
//! Run with:
//! `cargo bench -p observe-core --bench traced -- --warm-up-time 1 --measurement-time 2`
//! (results and their reading: `docs/bench/traced.md`).
//!
//! Cases:
//! - `not_initialised`: no observe instance was ever started in the process (it
//!   runs first, before any other case starts one);
//! - `sync_child`: a sync call inside a root span, as fastrace's own benchmark
//!   measures it: a root is opened per `CHILDREN` calls and its cost is included,
//!   amortised;
//! - `sync_root`: every call is the root of its own trace;
//! - `async_child_1_poll` / `async_child_4_polls`: an `async fn` created and polled
//!   to completion in place (ready at the first poll, or after three `Pending`s),
//!   inside a root as above.
//!
//! `observe_engine_floor` rows open the same span with the engine's primitives by
//! hand, to separate the macro's own cost from the engine's.
//!
//! observe is installed with `testing::capture_with(1.0)` (every span recorded into
//! memory by the background thread; the memory is cleared after every sample).
//!
//! With `TRACED_COUNT=<case>/<variant>/<calls>` set, the binary makes that many
//! calls of one case instead (cases `not_initialised`, `sync_child`,
//! `async_child_1_poll`, `async_child_4_polls`; variants `bare`, `observe`,
//! `observe_engine_floor`, and `bare_async`, `observe_async` for
//! `not_initialised`) and exits: `scripts/bench-instructions.sh --traced`
//! counts the calling thread's instructions per call with it, a count that does
//! not move with the load of the machine.
//!
//! Time is the calling thread's CPU time (`CLOCK_THREAD_CPUTIME_ID` on Linux,
//! wall time elsewhere): the budget is a calling-thread cost, and on a shared
//! machine wall time mostly measures the other processes. The background thread's
//! work is not counted, as the budget says.

mod support;

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use support::{Yields, block_on};

/// Child calls per root span in the `*_child` cases.
const CHILDREN: u64 = 100;

// ------------------------------------------------------------------ the functions

#[inline(never)]
fn bare(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[observe_core::traced]
#[inline(never)]
fn observed(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

static FLOOR: observe_core::span::Callsite = observe_core::span::Callsite::new(
    "engine_floor",
    "traced::engine_floor",
    file!(),
    line!(),
    tracing::Level::INFO,
    observe_core::span::SpanKind::Internal,
);

/// The engine's primitives used by hand (what `quickbench` measures): the floor
/// the macro's expansion builds on.
#[inline(never)]
fn engine_floor(x: u64) -> u64 {
    use observe_core::span::{ScopedSpan, Span};
    let span = pin!(ScopedSpan::new(
        Span::builder("engine_floor").callsite(&FLOOR).start()
    ));
    span.as_ref().run(|| black_box(x).wrapping_mul(3))
}

#[tracing::instrument(skip_all)]
#[inline(never)]
fn instrumented(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[fastrace::trace]
#[inline(never)]
fn fast(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

/// Keeps a result alive for the optimiser.
#[inline(always)]
fn consume(x: u64) {
    black_box(x);
}

async fn bare_async(x: u64, yields: u32) -> u64 {
    Yields(yields).await;
    black_box(x).wrapping_mul(3)
}

#[observe_core::traced]
async fn observed_async(x: u64, yields: u32) -> u64 {
    Yields(yields).await;
    black_box(x).wrapping_mul(3)
}

/// The engine's primitives by hand for an `async` call: the body future with
/// `in_span` and a span from the builder.
#[inline(never)]
fn engine_floor_async(x: u64, yields: u32) -> impl Future<Output = u64> {
    use observe_core::FutureExt as _;
    let span = observe_core::span::Span::builder("engine_floor")
        .callsite(&FLOOR)
        .start();
    bare_async(x, yields).in_span(span)
}

#[tracing::instrument(skip_all)]
async fn instrumented_async(x: u64, yields: u32) -> u64 {
    Yields(yields).await;
    black_box(x).wrapping_mul(3)
}

#[fastrace::trace]
async fn fast_async(x: u64, yields: u32) -> u64 {
    Yields(yields).await;
    black_box(x).wrapping_mul(3)
}

// ------------------------------------------------------------------ peers' setup

struct DropReporter;

impl fastrace::collector::Reporter for DropReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        black_box(spans);
    }
}

/// The calling thread's CPU time.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn now() -> Duration {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    unsafe extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `ts` is a valid, writable `struct timespec` (two 64-bit fields on
    // 64-bit Linux), the only memory `clock_gettime` writes.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.sec as u64, ts.nsec as u32)
}

/// Wall time where thread CPU time is not wired up.
#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn now() -> Duration {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
}

/// Runs `call` `iters` times and returns the time taken.
fn timed(iters: u64, mut call: impl FnMut(u64)) -> Duration {
    let start = now();
    for i in 0..iters {
        call(i);
    }
    now() - start
}

/// Runs `call` `iters` times inside roots (one per `CHILDREN` calls): `root` runs
/// the closure it is given inside a new root span. Returns the time taken.
fn in_roots(
    iters: u64,
    mut root: impl FnMut(&mut dyn FnMut()),
    mut call: impl FnMut(u64),
) -> Duration {
    let start = now();
    let mut done = 0;
    while done < iters {
        let n = CHILDREN.min(iters - done);
        root(&mut || {
            for i in 0..n {
                call(done + i);
            }
        });
        done += n;
    }
    now() - start
}

fn no_root(f: &mut dyn FnMut()) {
    f()
}

fn observe_root(f: &mut dyn FnMut()) {
    observe_core::span::Span::new("root").in_scope(f)
}

fn tracing_root(f: &mut dyn FnMut()) {
    tracing::info_span!("root").in_scope(f)
}

fn fastrace_root(f: &mut dyn FnMut()) {
    let root = fastrace::Span::root("root", fastrace::collector::SpanContext::random());
    let _guard = root.set_local_parent();
    f()
}

// ------------------------------------------------------------------ the cases

fn not_initialised(c: &mut Criterion) {
    let mut g = c.benchmark_group("traced/not_initialised");
    g.bench_function("bare", |b| {
        b.iter_custom(|n| timed(n, |i| consume(bare(black_box(i)))))
    });
    g.bench_function("observe", |b| {
        b.iter_custom(|n| timed(n, |i| consume(observed(black_box(i)))))
    });
    g.bench_function("bare_async_1_poll", |b| {
        b.iter_custom(|n| timed(n, |i| consume(block_on(bare_async(black_box(i), 0)))))
    });
    g.bench_function("observe_async_1_poll", |b| {
        b.iter_custom(|n| timed(n, |i| consume(block_on(observed_async(black_box(i), 0)))))
    });
    g.finish();
}

fn sync_child(c: &mut Criterion) {
    let mut g = c.benchmark_group("traced/sync_child");
    g.bench_function("bare", |b| {
        b.iter_custom(|iters| {
            in_roots(iters, no_root, |i| {
                black_box(bare(black_box(i)));
            })
        })
    });
    {
        let capture = observe_core::testing::capture_with(1.0);
        g.bench_function("observe", |b| {
            b.iter_custom(|iters| {
                let t = in_roots(iters, observe_root, |i| {
                    black_box(observed(black_box(i)));
                });
                capture.captured().clear();
                t
            })
        });
        g.bench_function("observe_engine_floor", |b| {
            b.iter_custom(|iters| {
                let t = in_roots(iters, observe_root, |i| consume(engine_floor(black_box(i))));
                capture.captured().clear();
                t
            })
        });
    }
    {
        let _sub = tracing::subscriber::set_default(tracing_subscriber::Registry::default());
        g.bench_function("tracing_registry", |b| {
            b.iter_custom(|iters| {
                in_roots(iters, tracing_root, |i| {
                    black_box(instrumented(black_box(i)));
                })
            })
        });
    }
    g.bench_function("fastrace", |b| {
        b.iter_custom(|iters| {
            in_roots(iters, fastrace_root, |i| {
                black_box(fast(black_box(i)));
            })
        })
    });
    g.bench_function("fastrace_drained", |b| {
        b.iter_custom(|iters| {
            let t = in_roots(iters, fastrace_root, |i| {
                black_box(fast(black_box(i)));
            });
            // Outside the timed region, as observe's memory is cleared.
            fastrace::flush();
            t
        })
    });
    g.finish();
}

fn sync_root(c: &mut Criterion) {
    let mut g = c.benchmark_group("traced/sync_root");
    g.bench_function("bare", |b| {
        b.iter_custom(|n| timed(n, |i| consume(bare(black_box(i)))))
    });
    {
        let capture = observe_core::testing::capture_with(1.0);
        g.bench_function("observe", |b| {
            b.iter_custom(|iters| {
                let t = timed(iters, |i| consume(observed(black_box(i))));
                capture.captured().clear();
                t
            })
        });
    }
    {
        let _sub = tracing::subscriber::set_default(tracing_subscriber::Registry::default());
        g.bench_function("tracing_registry", |b| {
            b.iter_custom(|n| timed(n, |i| consume(instrumented(black_box(i)))))
        });
    }
    // fastrace's `#[trace]` records nothing without a local parent: a root per call
    // is `Span::root` + `set_local_parent` around the bare function.
    g.bench_function("fastrace_root", |b| {
        b.iter_custom(|n| {
            timed(n, |i| {
                let root = fastrace::Span::root("root", fastrace::collector::SpanContext::random());
                let _guard = root.set_local_parent();
                black_box(bare(black_box(i)));
            })
        })
    });
    g.finish();
}

fn async_child(c: &mut Criterion, yields: u32) {
    let polls = yields + 1;
    let name = if polls == 1 {
        "traced/async_child_1_poll".to_owned()
    } else {
        format!("traced/async_child_{polls}_polls")
    };
    let mut g = c.benchmark_group(name);
    g.bench_function("bare", |b| {
        b.iter_custom(|iters| {
            in_roots(iters, no_root, |i| {
                black_box(block_on(bare_async(black_box(i), yields)));
            })
        })
    });
    {
        let capture = observe_core::testing::capture_with(1.0);
        g.bench_function("observe", |b| {
            b.iter_custom(|iters| {
                let t = in_roots(
                    iters,
                    // The root is current while the children run, as it would be
                    // for a request handler awaiting them.
                    observe_root,
                    |i| {
                        black_box(block_on(observed_async(black_box(i), yields)));
                    },
                );
                capture.captured().clear();
                t
            })
        });
        g.bench_function("observe_engine_floor", |b| {
            b.iter_custom(|iters| {
                let t = in_roots(iters, observe_root, |i| {
                    consume(block_on(engine_floor_async(black_box(i), yields)))
                });
                capture.captured().clear();
                t
            })
        });
    }
    {
        let _sub = tracing::subscriber::set_default(tracing_subscriber::Registry::default());
        g.bench_function("tracing_registry", |b| {
            b.iter_custom(|iters| {
                in_roots(iters, tracing_root, |i| {
                    black_box(block_on(instrumented_async(black_box(i), yields)));
                })
            })
        });
    }
    g.bench_function("fastrace", |b| {
        b.iter_custom(|iters| {
            in_roots(iters, fastrace_root, |i| {
                black_box(block_on(fast_async(black_box(i), yields)));
            })
        })
    });
    g.bench_function("fastrace_drained", |b| {
        b.iter_custom(|iters| {
            let t = in_roots(iters, fastrace_root, |i| {
                black_box(block_on(fast_async(black_box(i), yields)));
            });
            fastrace::flush();
            t
        })
    });
    g.finish();
}

fn async_child_1_poll(c: &mut Criterion) {
    async_child(c, 0);
}

fn async_child_4_polls(c: &mut Criterion) {
    async_child(c, 3);
}

fn setup(c: &mut Criterion) {
    // After `not_initialised`, which must run before any observe instance exists.
    fastrace::set_reporter(DropReporter, fastrace::collector::Config::default());
    let _ = c;
}

criterion_group!(
    benches,
    not_initialised,
    setup,
    sync_child,
    sync_root,
    async_child_1_poll,
    async_child_4_polls
);

fn main() {
    match std::env::var("TRACED_COUNT") {
        Ok(spec) => count(&spec),
        Err(_) => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}

/// Makes the calls `TRACED_COUNT` asks for (`case/variant/calls`), for an
/// instruction count; no timing, no criterion.
fn count(spec: &str) {
    let parts: Vec<&str> = spec.split('/').collect();
    let [case, variant, calls] = parts[..] else {
        panic!("TRACED_COUNT: expected case/variant/calls, got {spec:?}");
    };
    let n: u64 = calls.parse().expect("TRACED_COUNT: calls is a number");
    if case == "not_initialised" {
        match variant {
            "bare" => counted(n, |n| timed(n, |i| consume(bare(black_box(i))))),
            "observe" => counted(n, |n| timed(n, |i| consume(observed(black_box(i))))),
            "bare_async" => counted(n, |n| {
                timed(n, |i| consume(block_on(bare_async(black_box(i), 0))))
            }),
            "observe_async" => counted(n, |n| {
                timed(n, |i| consume(block_on(observed_async(black_box(i), 0))))
            }),
            _ => panic!(
                "TRACED_COUNT: not_initialised has variants bare, observe, bare_async and observe_async"
            ),
        }
        return;
    }
    // The captured records are not cleared: waiting for the worker to drain spins on
    // this thread. (A few thousand records fit in memory.)
    let capture = observe_core::testing::capture_with(1.0);
    let counted =
        |n: u64, calls: &mut dyn FnMut(u64) -> Duration| counted_draining(n, &capture, calls);
    let yields = match case {
        "sync_child" => None,
        "async_child_1_poll" => Some(0),
        "async_child_4_polls" => Some(3),
        _ => panic!("TRACED_COUNT: unknown case {case:?}"),
    };
    match (yields, variant) {
        (None, "bare") => counted(n, &mut |n| {
            in_roots(n, observe_root, |i| consume(bare(black_box(i))))
        }),
        (None, "observe") => counted(n, &mut |n| {
            in_roots(n, observe_root, |i| consume(observed(black_box(i))))
        }),
        (None, "observe_engine_floor") => counted(n, &mut |n| {
            in_roots(n, observe_root, |i| consume(engine_floor(black_box(i))))
        }),
        (Some(y), "bare") => counted(n, &mut |n| {
            in_roots(n, observe_root, |i| {
                consume(block_on(bare_async(black_box(i), y)))
            })
        }),
        (Some(y), "observe") => counted(n, &mut |n| {
            in_roots(n, observe_root, |i| {
                consume(block_on(observed_async(black_box(i), y)))
            })
        }),
        (Some(y), "observe_engine_floor") => counted(n, &mut |n| {
            in_roots(n, observe_root, |i| {
                consume(block_on(engine_floor_async(black_box(i), y)))
            })
        }),
        _ => panic!("TRACED_COUNT: unknown variant {variant:?}"),
    }
}

/// Runs `calls` once for warm-up (the clock's calibration, the callsite's first
/// registration), then through `traced_counted_calls`, the only function whose
/// instructions the script counts (`--toggle-collect`): start-up work that spins
/// for a while (the clocks' calibrations) would make the count vary.
fn counted(n: u64, mut calls: impl FnMut(u64) -> Duration) {
    calls(CHILDREN);
    traced_counted_calls(n, &mut calls);
}

/// [`counted`] for calls that record (inside roots of an observe instance), in
/// batches of [`BATCH`] calls with the worker draining the rings between them,
/// outside the count. Under callgrind the worker runs only while this thread
/// waits: counted in one go, the rings filled and most records were dropped on
/// the calling thread, a cost (about 65 instructions a call) that a service whose
/// worker keeps up never pays.
fn counted_draining(
    n: u64,
    capture: &observe_core::testing::Capture,
    calls: &mut dyn FnMut(u64) -> Duration,
) {
    calls(CHILDREN);
    capture.flush();
    let mut done = 0;
    while done < n {
        let batch = BATCH.min(n - done);
        traced_counted_calls(batch, calls);
        capture.flush();
        done += batch;
    }
}

/// Calls counted between two drains: their roots' records fit the ring (4096
/// slots) with room to spare.
const BATCH: u64 = 1000;

#[inline(never)]
fn traced_counted_calls(n: u64, calls: &mut dyn FnMut(u64) -> Duration) {
    black_box(calls(n));
}
