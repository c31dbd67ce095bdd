//! When is a request slow? A fixed threshold (`OBSERVE_SLOW_THRESHOLD`), or, per
//! root span name, a running percentile of its recent durations.

use std::collections::HashMap;
use std::mem::size_of;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::pipeline::size;
use crate::span::SpanName;

/// How the flight recorder decides that a request was slow (and promotes its
/// trace for export).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum SlowThreshold {
    /// Slower than this, whatever the route (`OBSERVE_SLOW_THRESHOLD`).
    Fixed(Duration),
    /// Slower than this quantile of the same root name's durations over the last
    /// one to two minutes, once at least `min_samples` were seen (before that, no
    /// request of that name counts as slow). With 0.99, about 1 % of requests are
    /// promoted: the slowest ones.
    Percentile {
        /// The quantile, such as 0.99.
        quantile: f64,
        /// Durations needed before the quantile is trusted.
        min_samples: u64,
    },
    /// Never promote for slowness (errors still are).
    Off,
}

impl Default for SlowThreshold {
    fn default() -> Self {
        SlowThreshold::Percentile {
            quantile: 0.99,
            min_samples: 200,
        }
    }
}

/// Root names tracked at once; further names have no percentile threshold.
pub(crate) const MAX_KEYS: usize = 128;
/// Each window of durations; the threshold uses the last two.
const WINDOW: Duration = Duration::from_secs(60);
/// How often thresholds are recomputed.
const RECOMPUTE: Duration = Duration::from_secs(1);
/// Histogram range, in microseconds: 1 µs to 1 h, one significant digit (the
/// threshold needs the tail's order of magnitude, not five nines; 1.8 KB a key).
const HIGH_US: u64 = 3_600_000_000;

struct Key {
    current: Histogram<u32>,
    previous: Histogram<u32>,
    threshold: Option<Duration>,
}

pub(crate) struct SlowTracker {
    mode: SlowThreshold,
    keys: HashMap<SpanName, Key, foldhash::fast::RandomState>,
    last_rotate: Instant,
    last_recompute: Instant,
    hist_bytes: usize,
    /// The heap of the shared names among `keys`, kept as they come and go:
    /// `heap_bytes` is asked for on every record the recorder stores.
    name_bytes: usize,
    /// Latency objectives by root name (`RecorderSettings::objectives`).
    objectives: HashMap<String, Duration, foldhash::fast::RandomState>,
}

impl std::fmt::Debug for SlowTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlowTracker")
            .field("mode", &self.mode)
            .field("keys", &self.keys.len())
            .finish()
    }
}

fn histogram() -> Option<Histogram<u32>> {
    Histogram::new_with_bounds(1, HIGH_US, 1).ok()
}

impl SlowTracker {
    pub(crate) fn new(mode: SlowThreshold) -> SlowTracker {
        let hist_bytes = histogram().map_or(0, |h| {
            size_of::<Histogram<u32>>() + size::block(h.distinct_values() * size_of::<u32>())
        });
        let now = Instant::now();
        SlowTracker {
            mode,
            keys: HashMap::default(),
            last_rotate: now,
            last_recompute: now,
            hist_bytes,
            name_bytes: 0,
            objectives: HashMap::default(),
        }
    }

    /// Roots named as a latency objective's key are also judged by its threshold
    /// (the stricter of it and the slow threshold wins).
    pub(crate) fn with_objectives(mut self, objectives: Vec<(String, Duration)>) -> SlowTracker {
        for (name, threshold) in objectives {
            let t = self.objectives.entry(name).or_insert(threshold);
            *t = (*t).min(threshold);
        }
        self
    }

    /// The duration above which a root named `name` is slow, if there is one.
    #[cfg(test)]
    pub(crate) fn threshold(&self, name: &SpanName) -> Option<Duration> {
        match self.mode {
            SlowThreshold::Fixed(d) => Some(d),
            SlowThreshold::Percentile { .. } => self.keys.get(name)?.threshold,
            SlowThreshold::Off => None,
        }
    }

    /// Remembers a root's duration.
    #[cfg(test)]
    pub(crate) fn record(&mut self, name: &SpanName, d: Duration) {
        let _ = self.judge_and_record(name, d);
    }

    /// The threshold a root named `name` is judged by (what
    /// [`threshold`](Self::threshold) says before this root), then remembers its
    /// duration `d`: one lookup of the name for a known one (the two steps apart
    /// took three, on every root span).
    pub(crate) fn judge_and_record(&mut self, name: &SpanName, d: Duration) -> Option<Duration> {
        let judged = self.judge_and_record_slow(name, d);
        if self.objectives.is_empty() {
            return judged;
        }
        match (judged, self.objectives.get(name.as_str())) {
            (Some(a), Some(&b)) => Some(a.min(b)),
            (a, b) => a.or(b.copied()),
        }
    }

    /// [`judge_and_record`](Self::judge_and_record) by the slow threshold alone.
    fn judge_and_record_slow(&mut self, name: &SpanName, d: Duration) -> Option<Duration> {
        match self.mode {
            SlowThreshold::Fixed(t) => return Some(t),
            SlowThreshold::Off => return None,
            SlowThreshold::Percentile { .. } => {}
        }
        let us = u64::try_from(d.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, HIGH_US);
        if let Some(k) = self.keys.get_mut(name) {
            k.current.saturating_record(us);
            return k.threshold;
        }
        if self.keys.len() >= MAX_KEYS {
            return None;
        }
        let (Some(mut current), Some(previous)) = (histogram(), histogram()) else {
            return None;
        };
        current.saturating_record(us);
        self.name_bytes += name_heap(name);
        self.keys.insert(
            name.clone(),
            Key {
                current,
                previous,
                threshold: None,
            },
        );
        None
    }

    /// Rotates windows and recomputes thresholds when due.
    pub(crate) fn tick(&mut self, now: Instant) {
        let SlowThreshold::Percentile {
            quantile,
            min_samples,
        } = self.mode
        else {
            return;
        };
        if now.saturating_duration_since(self.last_recompute) < RECOMPUTE {
            return;
        }
        self.last_recompute = now;
        let rotate = now.saturating_duration_since(self.last_rotate) >= WINDOW;
        if rotate {
            self.last_rotate = now;
        }
        let quantile = quantile.clamp(0.0, 1.0);
        for k in self.keys.values_mut() {
            if rotate {
                std::mem::swap(&mut k.current, &mut k.previous);
                k.current.reset();
            }
            let n = k.current.len() + k.previous.len();
            k.threshold = if n >= min_samples.max(1) {
                let mut merged = k.previous.clone();
                let _ = merged.add(&k.current);
                Some(Duration::from_micros(merged.value_at_quantile(quantile)))
            } else {
                None
            };
        }
        // Names not seen for two windows are forgotten, so new ones get room.
        if rotate {
            self.keys
                .retain(|_, k| k.current.len() + k.previous.len() > 0);
            self.name_bytes = self.keys.keys().map(name_heap).sum();
        }
    }

    /// The heap it holds.
    pub(crate) fn heap_bytes(&self) -> usize {
        size::hash_map(self.keys.capacity(), size_of::<(SpanName, Key)>())
            + self.keys.len() * 2 * self.hist_bytes
            + self.name_bytes
    }
}

/// The heap a tracked name holds (a shared name's `Arc<str>` allocation).
fn name_heap(name: &SpanName) -> usize {
    match name {
        SpanName::Shared(s) => size::block(2 * size_of::<usize>() + s.len()),
        SpanName::Static(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_threshold_needs_samples_then_follows_the_tail() {
        let mut t = SlowTracker::new(SlowThreshold::Percentile {
            quantile: 0.99,
            min_samples: 100,
        });
        let name = SpanName::Static("GET /x");
        for _ in 0..50 {
            t.record(&name, Duration::from_millis(10));
        }
        t.tick(Instant::now() + RECOMPUTE);
        assert_eq!(t.threshold(&name), None, "too few samples");
        for i in 0..1000u64 {
            // 1..=1000 ms: the 99th percentile is about 990 ms.
            t.record(&name, Duration::from_millis(1 + i));
        }
        t.tick(Instant::now() + 2 * RECOMPUTE);
        let th = t.threshold(&name).expect("threshold");
        assert!(
            th >= Duration::from_millis(900) && th <= Duration::from_millis(1100),
            "{th:?}"
        );
        assert_eq!(t.threshold(&SpanName::Static("other")), None);
        // A root is judged by the threshold in force before it is recorded.
        assert_eq!(t.judge_and_record(&name, Duration::from_secs(5)), Some(th));
        assert_eq!(t.threshold(&name), Some(th));
        assert_eq!(
            t.judge_and_record(&SpanName::Static("new"), Duration::from_secs(5)),
            None
        );
    }

    #[test]
    fn fixed_and_off() {
        let name = SpanName::Static("a");
        let t = SlowTracker::new(SlowThreshold::Fixed(Duration::from_millis(5)));
        assert_eq!(t.threshold(&name), Some(Duration::from_millis(5)));
        let t = SlowTracker::new(SlowThreshold::Off);
        assert_eq!(t.threshold(&name), None);
    }

    #[test]
    fn a_latency_objective_judges_the_roots_of_its_key() {
        let ms = Duration::from_millis;
        let route = SpanName::Static("GET /orders/{id}");
        let other = SpanName::Static("GET /other");
        let objectives = || vec![("GET /orders/{id}".to_owned(), ms(300))];
        let mut t = SlowTracker::new(SlowThreshold::Off).with_objectives(objectives());
        assert_eq!(t.judge_and_record(&route, ms(400)), Some(ms(300)));
        assert_eq!(t.judge_and_record(&other, ms(400)), None);
        // The stricter of the two thresholds.
        let mut t = SlowTracker::new(SlowThreshold::Fixed(ms(100))).with_objectives(objectives());
        assert_eq!(t.judge_and_record(&route, ms(50)), Some(ms(100)));
        let mut t = SlowTracker::new(SlowThreshold::Fixed(ms(900))).with_objectives(objectives());
        assert_eq!(t.judge_and_record(&route, ms(50)), Some(ms(300)));
        assert_eq!(t.judge_and_record(&other, ms(50)), Some(ms(900)));
    }

    #[test]
    fn keys_are_bounded() {
        let mut t = SlowTracker::new(SlowThreshold::default());
        for i in 0..(MAX_KEYS + 50) {
            t.record(&SpanName::from(format!("k{i}")), Duration::from_millis(1));
        }
        assert_eq!(t.keys.len(), MAX_KEYS);
        assert!(t.heap_bytes() > MAX_KEYS * 2 * 1000);
    }

    #[test]
    fn the_names_heap_is_kept_as_names_come_and_go() {
        let mut t = SlowTracker::new(SlowThreshold::default());
        let recomputed = |t: &SlowTracker| t.keys.keys().map(name_heap).sum::<usize>();
        for i in 0..10 {
            t.record(
                &SpanName::from(format!("GET /route/{i}")),
                Duration::from_millis(1),
            );
        }
        t.record(&SpanName::Static("static"), Duration::from_millis(1));
        assert!(t.name_bytes > 0);
        assert_eq!(t.name_bytes, recomputed(&t));
        // Two windows without a sample: every name is forgotten.
        let start = Instant::now();
        t.tick(start + WINDOW + RECOMPUTE);
        t.tick(start + 2 * WINDOW + 2 * RECOMPUTE);
        assert!(t.keys.is_empty());
        assert_eq!(t.name_bytes, 0);
    }
}
