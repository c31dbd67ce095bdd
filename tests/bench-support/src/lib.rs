//! What the per-request benchmarks share (`observe-axum/benches/layer.rs`,
//! `observe-tonic/benches/grpc_layer.rs`): their four variants and what each
//! installs ([`Setup`]), a global allocator that counts every allocation of the
//! process and of the calling thread, and the measured loop that drains observe's
//! rings now and then so that no record is dropped uncounted.
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: observe_bench_support::Counting = observe_bench_support::Counting;
//! ```

#![allow(clippy::print_stderr)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// The variants every per-request benchmark runs: the framework alone, observe's
/// layer as `serve` installs it, the same without the access log, and tower-http's
/// `TraceLayer` with a `tracing-opentelemetry` layer over the OpenTelemetry SDK.
pub const VARIANTS: [&str; 4] = ["bare", "observe", "observe-quiet", "tower-http-otel"];

/// How long a drain of observe's rings may take.
pub const FLUSH: std::time::Duration = std::time::Duration::from_secs(30);

/// What a variant holds for the life of the run.
#[derive(Default)]
pub struct Setup {
    observe: Option<&'static observe_core::Guard>,
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
    dispatch: Option<tracing::dispatcher::DefaultGuard>,
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup")
            .field("observe", &self.observe.is_some())
            .field("otel", &self.provider.is_some())
            .finish()
    }
}

impl Setup {
    /// observe, initialised once for the process (kept until exit): no admin
    /// listener, log lines to stderr (the benches send it to `/dev/null`).
    pub fn observe(&mut self) {
        static GUARD: std::sync::OnceLock<observe_core::Guard> = std::sync::OnceLock::new();
        self.observe = Some(GUARD.get_or_init(|| {
            observe_core::Observe::builder()
                .admin_addr(None)
                .log_output(observe_core::config::LogOutput::Stderr)
                .init()
                .expect("observe starts")
        }));
    }

    /// `tracing-opentelemetry` over the OpenTelemetry SDK (always-on sampler, no
    /// exporter) as this thread's default subscriber, with `filter` if given (as an
    /// application would set one).
    pub fn otel(&mut self, filter: Option<tracing_subscriber::filter::LevelFilter>) {
        use opentelemetry::trace::TracerProvider as _;
        use tracing_subscriber::layer::SubscriberExt as _;
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let tracer = provider.tracer("bench");
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(tracer))
            .with(filter);
        self.dispatch = Some(tracing::subscriber::set_default(subscriber));
        self.provider = Some(provider);
    }

    /// observe's instance, when this variant started it.
    pub fn guard(&self) -> Option<&'static observe_core::Guard> {
        self.observe
    }

    /// Waits until observe's threads processed every record so far (nothing
    /// without observe).
    pub fn drain(&self) {
        if let Some(guard) = self.observe {
            guard.flush(FLUSH);
        }
    }
}

/// Counts every allocation (and reallocation) of the process, and those of the
/// current thread, then forwards to [`System`].
#[derive(Debug)]
pub struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
thread_local! {
    static THREAD_ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn count(bytes: usize) {
    ALLOCS.fetch_add(1, Ordering::Relaxed);
    BYTES.fetch_add(bytes as u64, Ordering::Relaxed);
    let _ = THREAD_ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: forwards to `System`; the counters never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy)]
struct Counts {
    all: u64,
    bytes: u64,
    mine: u64,
}

impl Counts {
    fn now() -> Counts {
        Counts {
            all: ALLOCS.load(Ordering::Relaxed),
            bytes: BYTES.load(Ordering::Relaxed),
            mine: THREAD_ALLOCS.with(Cell::get),
        }
    }
}

/// Runs `one` `iters` times, calling `drain` every 256 iterations and at the end
/// (under valgrind the threads run one at a time: without a drain now and then,
/// observe's rings would fill and the dropped records go uncounted), and prints
/// to stderr the allocations per iteration (all threads, calling thread) and the
/// bytes allocated per iteration, naming each iteration `unit`.
pub fn count_allocations(
    label: &str,
    unit: &str,
    iters: u64,
    mut one: impl FnMut(),
    drain: impl Fn(),
) {
    let before = Counts::now();
    for i in 0..iters {
        one();
        if i % 256 == 255 {
            drain();
        }
    }
    drain();
    let after = Counts::now();
    let per = |n: u64| n as f64 / iters as f64;
    eprintln!(
        "{label}: {iters} {unit}s; allocations per {unit}: {:.2} (all threads), {:.2} (calling thread); bytes allocated per {unit}: {:.0}",
        per(after.all - before.all),
        per(after.mine - before.mine),
        per(after.bytes - before.bytes),
    );
}
