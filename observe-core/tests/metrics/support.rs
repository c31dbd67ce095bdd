//! Shared helpers: a deterministic generator, a manual clock, a warning counter.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use observe_core::metrics::Registry;

/// xorshift64*: deterministic samples without a dependency.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// A clock the test moves by hand (nanoseconds since the Unix epoch).
#[derive(Clone)]
pub(crate) struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    pub(crate) fn at_secs(secs: u64) -> ManualClock {
        ManualClock(Arc::new(AtomicU64::new(secs * 1_000_000_000)))
    }

    pub(crate) fn set_nanos(&self, nanos: u64) {
        self.0.store(nanos, Ordering::SeqCst);
    }

    pub(crate) fn set_secs_f64(&self, secs: f64) {
        self.set_nanos((secs * 1e9).round() as u64);
    }

    pub(crate) fn registry(&self, window_secs: u64, slice_secs: u64) -> Registry {
        let c = self.0.clone();
        Registry::builder()
            .window(
                std::time::Duration::from_secs(window_secs),
                std::time::Duration::from_secs(slice_secs),
            )
            .clock(move || c.load(Ordering::SeqCst))
            .build()
            .expect("valid window")
    }
}

/// Counts `tracing` warnings whose message mentions `needle`.
pub(crate) struct WarningCounter {
    pub(crate) needle: &'static str,
    pub(crate) count: Arc<AtomicU64>,
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for WarningCounter {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        struct Visit<'a>(&'a str, bool);
        impl tracing::field::Visit for Visit<'_> {
            fn record_debug(&mut self, _f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if format!("{v:?}").contains(self.0) {
                    self.1 = true;
                }
            }
        }
        if *event.metadata().level() == tracing::Level::WARN {
            let mut v = Visit(self.needle, false);
            event.record(&mut v);
            if v.1 {
                self.count.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}
