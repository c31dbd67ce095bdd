//! Head sampling: parent-based, with a ratio that can change at run time.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::ids::TraceId;
use crate::span::SpanName;

/// How new traces are sampled for export. Every span enters the flight recorder
/// whatever this says; sampling decides only what is exported eagerly.
#[derive(Debug)]
pub(crate) struct Sampler {
    /// The ratio as the threshold on the trace id's 56 random bits: a trace is kept
    /// when those bits are below it. `1 << 56` keeps everything, 0 nothing.
    threshold: AtomicU64,
    /// Whether a remote parent's `sampled` flag decides (parent-based samplers).
    parent_based: bool,
}

const FULL: u64 = 1 << 56;

impl Sampler {
    /// A sampler keeping `ratio` (clamped to 0..=1) of new traces.
    pub(crate) fn new(ratio: f64, parent_based: bool) -> Sampler {
        Sampler {
            threshold: AtomicU64::new(ratio_to_threshold(ratio)),
            parent_based,
        }
    }

    /// Changes the ratio for traces started from now on.
    pub(crate) fn set_ratio(&self, ratio: f64) {
        self.threshold
            .store(ratio_to_threshold(ratio), Ordering::Relaxed);
    }

    /// The current ratio.
    pub(crate) fn ratio(&self) -> f64 {
        self.threshold.load(Ordering::Relaxed) as f64 / FULL as f64
    }

    /// Whether a new trace (no parent) is sampled.
    #[inline]
    pub(crate) fn sample_root(&self, trace_id: TraceId, _name: &SpanName) -> bool {
        // The W3C level 2 `random` flag promises randomness in the rightmost 7 bytes,
        // which is also what OpenTelemetry's consistent probability sampling uses.
        let random = (trace_id.to_int() as u64) & (FULL - 1);
        random < self.threshold.load(Ordering::Relaxed)
    }

    /// Whether a trace continued from another process is sampled.
    #[inline]
    pub(crate) fn sample_remote_child(
        &self,
        parent_sampled: bool,
        trace_id: TraceId,
        name: &SpanName,
    ) -> bool {
        if self.parent_based {
            parent_sampled
        } else {
            self.sample_root(trace_id, name)
        }
    }
}

fn ratio_to_threshold(ratio: f64) -> u64 {
    if ratio.is_nan() || ratio <= 0.0 {
        0
    } else if ratio >= 1.0 {
        FULL
    } else {
        (ratio * FULL as f64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_keeps_about_that_share() {
        let s = Sampler::new(0.25, true);
        let name = SpanName::Static("x");
        let kept = (0..40_000)
            .filter(|_| s.sample_root(TraceId::random(), &name))
            .count();
        // 10 000 expected; 5 standard deviations is about 430.
        assert!((9_500..=10_500).contains(&kept), "{kept}");
    }

    #[test]
    fn extremes() {
        let name = SpanName::Static("x");
        let all = Sampler::new(1.0, true);
        let none = Sampler::new(0.0, true);
        for _ in 0..1000 {
            let t = TraceId::random();
            assert!(all.sample_root(t, &name));
            assert!(!none.sample_root(t, &name));
        }
        assert!(none.sample_remote_child(true, TraceId::random(), &name));
        assert!(!Sampler::new(0.0, false).sample_remote_child(true, TraceId::random(), &name));
    }

    #[test]
    fn ratio_changes_at_run_time() {
        let s = Sampler::new(0.0, true);
        s.set_ratio(1.0);
        assert_eq!(s.ratio(), 1.0);
        assert!(s.sample_root(TraceId::random(), &SpanName::Static("x")));
    }
}
