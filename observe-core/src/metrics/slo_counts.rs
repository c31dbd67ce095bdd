//! What SLO evaluation reads from the registry: per series, the cumulative count and
//! the exact count of observations at or under a threshold, straight from the HDR
//! bins (no interpolated quantile).

use hdrhistogram::Histogram as HdrHistogram;

use super::cells::lock;
use super::handles::AnySeries;
use super::layout::{LEN, PAGE_LEN, index_of, new_histogram};
use super::registry::Registry;
use super::snapshot::{Scratch, Views, read_histogram};

/// The cumulative counts of one histogram series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeriesCounts {
    /// The series' labels, sorted by key.
    pub(crate) labels: Vec<(String, String)>,
    /// Observations since the series was created.
    pub(crate) total: u64,
    /// Observations whose bin lies at or under the threshold's bin (all of them
    /// without a threshold): hdrhistogram's `count_between(0, threshold)`, so a
    /// value up to 0.1 % above the threshold that shares its bin counts as under.
    pub(crate) at_or_under: u64,
}

impl Registry {
    /// The cumulative counts of every histogram series of `name` (folded first),
    /// with `threshold` in the metric's recorded unit (nanoseconds for durations).
    pub(crate) fn cumulative_counts(
        &self,
        name: &str,
        threshold: Option<u64>,
    ) -> Vec<SeriesCounts> {
        let now = self.now();
        let limit = threshold.map_or(LEN, |t| index_of(t).min(LEN - 1) + 1);
        let mut out = Vec::new();
        for f in self.families() {
            if f.meta.name != name {
                continue;
            }
            for s in &f.series {
                let AnySeries::Histogram(h) = s else { continue };
                h.fold(now);
                let w = lock(&h.window);
                let (mut total, mut under) = (0u64, 0u64);
                w.cumulative_pages(|p, bins| {
                    for (j, &c) in bins.iter().enumerate() {
                        total = total.wrapping_add(c);
                        if p * PAGE_LEN + j < limit {
                            under = under.wrapping_add(c);
                        }
                    }
                });
                drop(w);
                out.push(SeriesCounts {
                    labels: h.key.labels.to_vec(),
                    total,
                    at_or_under: under,
                });
            }
        }
        out
    }
}

/// A series' labels and one of its views.
pub(crate) type LabelledHistogram = (Vec<(String, String)>, HdrHistogram<u64>);

/// An empty histogram in the registry's layout (1 ns .. about 73 min, 3 digits).
pub(crate) fn new_duration_hdr() -> HdrHistogram<u64> {
    new_histogram()
}

impl Registry {
    /// Every histogram series of `name` with its rolling window (folded first).
    pub(crate) fn window_histograms(&self, name: &str) -> Vec<LabelledHistogram> {
        let now = self.now();
        let mut scratch = Scratch::new();
        let mut out = Vec::new();
        for f in self.families() {
            if f.meta.name != name {
                continue;
            }
            for s in &f.series {
                let AnySeries::Histogram(h) = s else { continue };
                let w = read_histogram(h, now, &mut scratch, Views::Window, |r| r.window.clone());
                out.push((h.key.labels.to_vec(), w));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::metrics::Registry;

    #[test]
    fn counts_at_or_under_a_threshold_are_exact_per_bin() {
        let r = Registry::new();
        let h = r.duration_histogram("t.duration", &[("k", "a")]);
        for v in [
            100u64,
            299_000_000,
            300_000_000,
            300_100_000,
            301_000_000,
            5_000_000_000,
        ] {
            h.record(v);
        }
        let c = r.cumulative_counts("t.duration", Some(300_000_000));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].total, 6);
        // 300.1 ms shares the 300 ms bin (bins are 2^18 ns = 0.26 ms wide here);
        // 301 ms does not.
        assert_eq!(c[0].at_or_under, 4);
        assert_eq!(r.cumulative_counts("t.duration", None)[0].at_or_under, 6);
        assert!(r.cumulative_counts("other", None).is_empty());
    }
}
