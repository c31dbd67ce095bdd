//! Head sampling: parent-based, with a ratio that can change at run time, globally
//! and per key (a root span name such as `GET /orders/{id}`, or a `#[traced]`
//! function's `code.function`). The public face is [`crate::sampling`].

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::ids::TraceId;
use crate::span::{Callsite, SpanName};

/// The most per-key overrides kept at once.
pub const MAX_OVERRIDES: usize = 64;

/// The longest override key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 256;

/// How new traces are sampled for export. Every span enters the flight recorder
/// whatever this says; sampling decides only what is exported eagerly.
#[derive(Debug)]
pub(crate) struct HeadSampler {
    /// The ratio as the threshold on the trace id's 56 random bits: a trace is kept
    /// when those bits are below it. `1 << 56` keeps everything, 0 nothing.
    threshold: AtomicU64,
    /// Whether a remote parent's `sampled` flag decides (parent-based samplers).
    parent_based: bool,
    /// Whether `overrides` is non-empty: the one check new traces pay when no
    /// override is set.
    has_overrides: AtomicBool,
    /// Per-key thresholds. Read only when `has_overrides` is set (a debugging
    /// session), written only by the control API.
    overrides: RwLock<HashMap<Box<str>, u64>>,
}

const FULL: u64 = 1 << 56;

impl HeadSampler {
    /// A sampler keeping `ratio` (clamped to 0..=1) of new traces.
    pub(crate) fn new(ratio: f64, parent_based: bool) -> HeadSampler {
        HeadSampler {
            threshold: AtomicU64::new(ratio_to_threshold(ratio)),
            parent_based,
            has_overrides: AtomicBool::new(false),
            overrides: RwLock::new(HashMap::new()),
        }
    }

    /// Changes the ratio for traces started from now on.
    pub(crate) fn set_ratio(&self, ratio: f64) {
        self.threshold
            .store(ratio_to_threshold(ratio), Ordering::Relaxed);
    }

    /// The current ratio.
    pub(crate) fn ratio(&self) -> f64 {
        threshold_to_ratio(self.threshold.load(Ordering::Relaxed))
    }

    /// Whether a remote parent's decision is followed.
    pub(crate) fn is_parent_based(&self) -> bool {
        self.parent_based
    }

    /// Sets the ratio for traces whose root has this name or `code.function`.
    /// Returns `false` (and changes nothing) when `key` is new and the table is full.
    pub(crate) fn set_override(&self, key: &str, ratio: f64) -> bool {
        let mut map = self.overrides.write().unwrap_or_else(|e| e.into_inner());
        if !map.contains_key(key) && map.len() >= MAX_OVERRIDES {
            return false;
        }
        map.insert(key.into(), ratio_to_threshold(ratio));
        self.has_overrides.store(true, Ordering::Release);
        true
    }

    /// Removes the override for `key`; returns whether there was one.
    pub(crate) fn remove_override(&self, key: &str) -> bool {
        let mut map = self.overrides.write().unwrap_or_else(|e| e.into_inner());
        let removed = map.remove(key).is_some();
        self.has_overrides.store(!map.is_empty(), Ordering::Release);
        removed
    }

    /// Removes every override.
    pub(crate) fn clear_overrides(&self) {
        let mut map = self.overrides.write().unwrap_or_else(|e| e.into_inner());
        map.clear();
        self.has_overrides.store(false, Ordering::Release);
    }

    /// The overrides, sorted by key.
    pub(crate) fn overrides(&self) -> Vec<(String, f64)> {
        let map = self.overrides.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = map
            .iter()
            .map(|(k, t)| (k.to_string(), threshold_to_ratio(*t)))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The ratio kept for `key`, if it has an override: one lookup, no copy of
    /// the others.
    pub(crate) fn override_ratio(&self, key: &str) -> Option<f64> {
        let map = self.overrides.read().unwrap_or_else(|e| e.into_inner());
        map.get(key).copied().map(threshold_to_ratio)
    }

    /// The override threshold for a root with this name or callsite, if any. The
    /// name wins over the function when both have one.
    #[cold]
    fn override_for(&self, name: &SpanName, callsite: Option<&Callsite>) -> Option<u64> {
        let map = self.overrides.read().unwrap_or_else(|e| e.into_inner());
        map.get(name.as_str())
            .or_else(|| callsite.and_then(|c| map.get(c.function())))
            .copied()
    }

    #[inline]
    fn has_overrides(&self) -> bool {
        self.has_overrides.load(Ordering::Relaxed)
    }

    /// Whether a new trace (no parent) is sampled.
    #[inline]
    pub(crate) fn sample_root(
        &self,
        trace_id: TraceId,
        name: &SpanName,
        callsite: Option<&Callsite>,
    ) -> bool {
        let threshold = if self.has_overrides() {
            self.override_for(name, callsite)
                .unwrap_or_else(|| self.threshold.load(Ordering::Relaxed))
        } else {
            self.threshold.load(Ordering::Relaxed)
        };
        random_bits(trace_id) < threshold
    }

    /// Whether a trace continued from another process is sampled. Parent-based:
    /// the parent's decision, except that an override for this root can add traces
    /// the parent dropped (turning a route up while debugging it); it never drops
    /// what the parent kept, which would cut the trace in pieces.
    #[inline]
    pub(crate) fn sample_remote_child(
        &self,
        parent_sampled: bool,
        trace_id: TraceId,
        name: &SpanName,
        callsite: Option<&Callsite>,
    ) -> bool {
        if !self.parent_based {
            return self.sample_root(trace_id, name, callsite);
        }
        parent_sampled
            || (self.has_overrides()
                && self
                    .override_for(name, callsite)
                    .is_some_and(|t| random_bits(trace_id) < t))
    }
}

/// The W3C level 2 `random` flag promises randomness in the rightmost 7 bytes,
/// which is also what OpenTelemetry's consistent probability sampling uses.
#[inline]
fn random_bits(trace_id: TraceId) -> u64 {
    (trace_id.to_int() as u64) & (FULL - 1)
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

fn threshold_to_ratio(threshold: u64) -> f64 {
    threshold as f64 / FULL as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_core::Level;

    static CALLSITE: Callsite = Callsite::new(
        "load_order",
        "shop::orders::load_order",
        "src/orders.rs",
        12,
        Level::INFO,
        crate::span::SpanKind::Internal,
    );

    fn kept(s: &HeadSampler, name: &SpanName, cs: Option<&Callsite>, n: usize) -> usize {
        (0..n)
            .filter(|_| s.sample_root(TraceId::random(), name, cs))
            .count()
    }

    #[test]
    fn ratio_keeps_about_that_share() {
        let s = HeadSampler::new(0.25, true);
        let kept = kept(&s, &SpanName::Static("x"), None, 40_000);
        // 10 000 expected; 5 standard deviations is about 430.
        assert!((9_500..=10_500).contains(&kept), "{kept}");
    }

    #[test]
    fn extremes() {
        let name = SpanName::Static("x");
        let all = HeadSampler::new(1.0, true);
        let none = HeadSampler::new(0.0, true);
        for _ in 0..1000 {
            let t = TraceId::random();
            assert!(all.sample_root(t, &name, None));
            assert!(!none.sample_root(t, &name, None));
        }
        assert!(none.sample_remote_child(true, TraceId::random(), &name, None));
        assert!(!HeadSampler::new(0.0, false).sample_remote_child(
            true,
            TraceId::random(),
            &name,
            None
        ));
    }

    #[test]
    fn ratio_changes_at_run_time() {
        let s = HeadSampler::new(0.0, true);
        s.set_ratio(1.0);
        assert_eq!(s.ratio(), 1.0);
        assert!(s.sample_root(TraceId::random(), &SpanName::Static("x"), None));
    }

    #[test]
    fn override_by_root_name_only_affects_that_name() {
        let s = HeadSampler::new(0.0, true);
        assert!(s.set_override("GET /orders/{id}", 1.0));
        let route = SpanName::from("GET /orders/{id}".to_string());
        assert_eq!(kept(&s, &route, None, 500), 500);
        assert_eq!(kept(&s, &SpanName::Static("GET /users"), None, 500), 0);
        assert!(s.remove_override("GET /orders/{id}"));
        assert!(!s.remove_override("GET /orders/{id}"));
        assert_eq!(kept(&s, &route, None, 500), 0);
    }

    #[test]
    fn override_by_code_function_and_name_wins() {
        let s = HeadSampler::new(1.0, true);
        assert!(s.set_override("shop::orders::load_order", 0.0));
        let name = SpanName::Static(CALLSITE.name());
        assert_eq!(kept(&s, &name, Some(&CALLSITE), 500), 0);
        // Without the callsite the function is unknown: the global ratio applies.
        assert_eq!(kept(&s, &name, None, 500), 500);
        // An override on the name is more specific than one on the function.
        assert!(s.set_override("load_order", 1.0));
        assert_eq!(kept(&s, &name, Some(&CALLSITE), 500), 500);
    }

    #[test]
    fn override_only_adds_to_a_remote_parents_decision() {
        let s = HeadSampler::new(0.0, true);
        let name = SpanName::Static("GET /debug");
        assert!(!s.sample_remote_child(false, TraceId::random(), &name, None));
        s.set_override("GET /debug", 1.0);
        assert!(s.sample_remote_child(false, TraceId::random(), &name, None));
        s.set_override("GET /debug", 0.0);
        assert!(s.sample_remote_child(true, TraceId::random(), &name, None));
    }

    #[test]
    fn overrides_are_bounded() {
        let s = HeadSampler::new(0.5, true);
        for i in 0..MAX_OVERRIDES {
            assert!(s.set_override(&format!("k{i}"), 1.0));
        }
        assert!(!s.set_override("one too many", 1.0));
        // Changing an existing key is still allowed when full.
        assert!(s.set_override("k0", 0.25));
        assert_eq!(s.overrides().len(), MAX_OVERRIDES);
        s.clear_overrides();
        assert!(s.overrides().is_empty());
        assert!(!s.has_overrides());
    }
}
