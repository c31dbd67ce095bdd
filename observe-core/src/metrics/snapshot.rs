//! Reading the registry: folded views and the typed, serializable snapshot.

use std::collections::BTreeMap;

use hdrhistogram::Histogram as HdrHistogram;
use serde::Serialize;

use super::cells::{ExemplarCell, Scalars, lock};
use super::handles::{AnySeries, HistogramSeries};
use super::layout::new_histogram;
use super::registry::{FamilyView, Kind, Registry};
use super::unit::Unit;
use crate::ids::TraceId;

/// The quantiles every latency key reports.
pub const QUANTILES: [f64; 6] = [0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999];

/// Slowest exemplars reported per key.
const SLOWEST_REPORTED: usize = 3;
/// Error exemplars reported per key.
const ERRORS_REPORTED: usize = 3;

/// Statistics of one view (cumulative or window) of one key. Values are in the
/// metric's recorded unit (nanoseconds for latencies); quantiles, min and max are
/// hdrhistogram's: the highest value equivalent to the true one at 3 significant
/// digits (within 0.1 %), `None` when the view is empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Observations.
    pub count: u64,
    /// Observations recorded as errors.
    pub errors: u64,
    /// Observations above the range, recorded as its top.
    pub clamped: u64,
    /// Exact sum of the observations.
    pub sum: u64,
    /// Smallest observation.
    pub min: Option<u64>,
    /// Largest observation.
    pub max: Option<u64>,
    /// `sum / count`.
    pub mean: Option<f64>,
    /// Median.
    pub p50: Option<u64>,
    /// 90th percentile.
    pub p90: Option<u64>,
    /// 99th percentile.
    pub p99: Option<u64>,
    /// 99.9th percentile.
    pub p999: Option<u64>,
    /// 99.99th percentile.
    pub p9999: Option<u64>,
    /// 99.999th percentile.
    pub p99999: Option<u64>,
}

impl Stats {
    pub(crate) fn from_histogram(h: &HdrHistogram<u64>, s: &Scalars) -> Stats {
        let count = h.len();
        let mut stats = Stats {
            count,
            errors: s.errors,
            clamped: s.clamped,
            sum: s.sum,
            ..Stats::default()
        };
        if count == 0 {
            return stats;
        }
        stats.min = Some(h.min());
        stats.max = Some(h.max());
        stats.mean = Some(s.sum as f64 / count as f64);
        let q: Vec<u64> = h.value_at_quantiles(QUANTILES).collect();
        if let [p50, p90, p99, p999, p9999, p99999] = q[..] {
            stats.p50 = Some(p50);
            stats.p90 = Some(p90);
            stats.p99 = Some(p99);
            stats.p999 = Some(p999);
            stats.p9999 = Some(p9999);
            stats.p99999 = Some(p99999);
        }
        stats
    }

    /// The quantiles in [`QUANTILES`] order.
    pub fn quantiles(&self) -> [Option<u64>; 6] {
        [
            self.p50,
            self.p90,
            self.p99,
            self.p999,
            self.p9999,
            self.p99999,
        ]
    }
}

/// Why an exemplar was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExemplarKind {
    /// Among the slowest observations of the window.
    Slowest,
    /// A recent error.
    Error,
}

/// A trace that produced a slow or failing observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Exemplar {
    /// Why it was kept.
    pub kind: ExemplarKind,
    /// The trace.
    pub trace_id: TraceId,
    /// The observed value (recorded unit).
    pub value: u64,
    /// When it was kept (nanoseconds since the Unix epoch).
    pub unix_nanos: u64,
}

/// One histogram key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistogramSnapshot {
    /// The metric name.
    pub name: String,
    /// The recorded unit.
    pub unit: Unit,
    /// The labels.
    pub labels: BTreeMap<String, String>,
    /// Since the key was created.
    pub cumulative: Stats,
    /// The rolling window.
    pub window: Stats,
    /// The slowest observations of the window, slowest first, then its most recent
    /// errors, newest first.
    pub exemplars: Vec<Exemplar>,
}

/// One counter key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CounterSnapshot {
    /// The metric name.
    pub name: String,
    /// The unit.
    pub unit: Unit,
    /// The labels.
    pub labels: BTreeMap<String, String>,
    /// The total.
    pub value: u64,
}

/// One gauge key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GaugeSnapshot {
    /// The metric name.
    pub name: String,
    /// The unit.
    pub unit: Unit,
    /// The labels.
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: i64,
}

/// A metric that reached its key limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverflowSnapshot {
    /// The metric name.
    pub name: String,
    /// The kind of metric.
    pub kind: Kind,
    /// The limit in force.
    pub max_keys: usize,
    /// Lookups of a label set past the limit, each answered with the overflow key
    /// (handles are cached, so this is about once per label set and caller or
    /// thread, not once per observation).
    pub refused_label_sets: u64,
    /// Observations (histogram) or total (counter) recorded under the overflow key.
    pub overflow_observations: u64,
}

/// Everything the registry holds, at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// When it was taken (registry clock, nanoseconds since the Unix epoch).
    pub taken_at_unix_nanos: u64,
    /// The rolling window's length in seconds.
    pub window_seconds: f64,
    /// The window slice's length in seconds.
    pub slice_seconds: f64,
    /// Histogram keys, by name then labels.
    pub histograms: Vec<HistogramSnapshot>,
    /// Counter keys.
    pub counters: Vec<CounterSnapshot>,
    /// Gauge keys.
    pub gauges: Vec<GaugeSnapshot>,
    /// Metrics that overflowed their key limit.
    pub overflows: Vec<OverflowSnapshot>,
}

fn labels_match(have: &BTreeMap<String, String>, want: &[(&str, &str)]) -> bool {
    have.len() == want.len()
        && want
            .iter()
            .all(|(k, v)| have.get(*k).is_some_and(|x| x == v))
}

impl Snapshot {
    /// The histogram key with exactly these labels.
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Option<&HistogramSnapshot> {
        self.histograms
            .iter()
            .find(|h| h.name == name && labels_match(&h.labels, labels))
    }

    /// The counter key with exactly these labels.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> Option<&CounterSnapshot> {
        self.counters
            .iter()
            .find(|h| h.name == name && labels_match(&h.labels, labels))
    }

    /// The gauge key with exactly these labels.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<&GaugeSnapshot> {
        self.gauges
            .iter()
            .find(|h| h.name == name && labels_match(&h.labels, labels))
    }

    /// The JSON form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Reusable histograms for reading many keys one after another.
pub(crate) struct Scratch {
    cumulative: HdrHistogram<u64>,
    window: HdrHistogram<u64>,
}

impl Scratch {
    pub(crate) fn new() -> Scratch {
        Scratch {
            cumulative: new_histogram(),
            window: new_histogram(),
        }
    }
}

/// Which views of a key a reader needs as `hdrhistogram::Histogram`s (each costs a
/// reset and a copy of every non-zero bin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Views {
    /// The cumulative view only (OTLP, the lossless export... with its window).
    Cumulative,
    /// The window only (summary quantiles).
    Window,
    /// Both (the snapshot).
    Both,
}

impl Views {
    fn cumulative(self) -> bool {
        self != Views::Window
    }

    fn window(self) -> bool {
        self != Views::Cumulative
    }
}

/// One histogram key, folded and read. A view not asked for is empty.
pub(crate) struct HistogramRead<'a> {
    pub(crate) series: &'a HistogramSeries,
    pub(crate) cumulative: &'a HdrHistogram<u64>,
    pub(crate) cumulative_scalars: Scalars,
    pub(crate) window: &'a HdrHistogram<u64>,
    pub(crate) window_scalars: Scalars,
    pub(crate) exemplars: Vec<Exemplar>,
}

/// Folds `series` at `now` and hands the `views` asked for to `f`.
pub(crate) fn read_histogram<R>(
    series: &HistogramSeries,
    now: u64,
    scratch: &mut Scratch,
    views: Views,
    f: impl FnOnce(HistogramRead<'_>) -> R,
) -> R {
    series.fold(now);
    let (cumulative_scalars, window_scalars, slowest, errors) = {
        let w = lock(&series.window);
        if views.cumulative() {
            scratch.cumulative.reset();
            w.cumulative_into(&mut scratch.cumulative);
        }
        if views.window() {
            scratch.window.reset();
        }
        let (ws, slowest, errors) = w.window_into(views.window().then_some(&mut scratch.window));
        (w.cumulative, ws, slowest, errors)
    };
    f(HistogramRead {
        series,
        cumulative: &scratch.cumulative,
        cumulative_scalars,
        window: &scratch.window,
        window_scalars,
        exemplars: pick_exemplars(slowest, errors),
    })
}

fn pick_exemplars(mut slowest: Vec<ExemplarCell>, mut errors: Vec<ExemplarCell>) -> Vec<Exemplar> {
    slowest.sort_by(|a, b| b.value.cmp(&a.value).then(b.unix_nanos.cmp(&a.unix_nanos)));
    errors.sort_by_key(|e| std::cmp::Reverse(e.unix_nanos));
    let make = |kind| {
        move |e: ExemplarCell| Exemplar {
            kind,
            trace_id: e.trace_id,
            value: e.value,
            unix_nanos: e.unix_nanos,
        }
    };
    slowest
        .into_iter()
        .take(SLOWEST_REPORTED)
        .map(make(ExemplarKind::Slowest))
        .chain(
            errors
                .into_iter()
                .take(ERRORS_REPORTED)
                .map(make(ExemplarKind::Error)),
        )
        .collect()
}

impl Registry {
    /// Everything the registry holds: per key the cumulative and window statistics
    /// and exemplars. Reading folds the per-thread counters first (so the window is
    /// right even if nothing ticks); it takes each key's lock briefly and never
    /// blocks recording.
    pub fn snapshot(&self) -> Snapshot {
        let now = self.now();
        let (window, slice) = self.window();
        let mut snap = Snapshot {
            taken_at_unix_nanos: now,
            window_seconds: window.as_secs_f64(),
            slice_seconds: slice.as_secs_f64(),
            histograms: Vec::new(),
            counters: Vec::new(),
            gauges: Vec::new(),
            overflows: Vec::new(),
        };
        let mut scratch = None;
        for f in self.families() {
            let m = &f.meta;
            for s in &f.series {
                match s {
                    AnySeries::Histogram(h) => {
                        let scratch = scratch.get_or_insert_with(Scratch::new);
                        let hs =
                            read_histogram(h, now, scratch, Views::Both, |r| HistogramSnapshot {
                                name: m.name.clone(),
                                unit: m.unit.clone(),
                                labels: r.series.key.labels_map(),
                                cumulative: Stats::from_histogram(
                                    r.cumulative,
                                    &r.cumulative_scalars,
                                ),
                                window: Stats::from_histogram(r.window, &r.window_scalars),
                                exemplars: r.exemplars,
                            });
                        snap.histograms.push(hs);
                    }
                    AnySeries::Counter(c) => snap.counters.push(CounterSnapshot {
                        name: m.name.clone(),
                        unit: m.unit.clone(),
                        labels: c.key.labels_map(),
                        value: c.cells.sum(),
                    }),
                    AnySeries::Gauge(g) => snap.gauges.push(GaugeSnapshot {
                        name: m.name.clone(),
                        unit: m.unit.clone(),
                        labels: g.key.labels_map(),
                        value: g.value(),
                    }),
                }
            }
            if let Some(o) = overflow_of(&f, now) {
                snap.overflows.push(o);
            }
        }
        snap
    }
}

pub(crate) fn overflow_of(f: &FamilyView, now: u64) -> Option<OverflowSnapshot> {
    let o = f.overflow.as_ref()?;
    let observations = match o {
        AnySeries::Histogram(h) => {
            h.fold(now);
            lock(&h.window).cumulative.count
        }
        AnySeries::Counter(c) => c.cells.sum(),
        AnySeries::Gauge(_) => 0,
    };
    Some(OverflowSnapshot {
        name: f.meta.name.clone(),
        kind: f.meta.kind,
        max_keys: f.max_keys,
        refused_label_sets: f.refused,
        overflow_observations: observations,
    })
}
