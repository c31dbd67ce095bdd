//! Prometheus `le` buckets derived from the HDR bins.
//!
//! A histogram's Prometheus buckets are computed when it is read, from the same
//! merged HDR bins every other view uses: each bin is counted in the first bucket
//! whose boundary is at or above the bin's lowest value. So:
//!
//! * an observation at or below a boundary `le` is **always** counted in `le`
//!   (inclusive, as Prometheus defines it; a value exactly on a boundary included);
//! * an observation above `le` is counted in `le` only if it shares an HDR bin with
//!   `le`, that is if it is below `le + w` where `w`, the bin's width, is at most
//!   `le / 1024` (values below 2048 recorded units have bins of width 1 and are
//!   exact). For latencies that is 0.1 % of the boundary: 5 ms counts observations
//!   up to 5.004 ms at most.
//!
//! Boundaries are in the exposed unit (seconds for durations) and converted once to
//! the recorded unit (nanoseconds); an observation `v` (an integer) is at or below a
//! boundary `b` exactly when `v <= floor(b)`.

use std::sync::{Arc, OnceLock};

use super::layout::{PAGE_LEN, value_of};
use super::unit::Unit;

/// The default boundaries (seconds) of duration histograms: every boundary of the
/// OpenTelemetry HTTP duration histograms (5 ms ... 10 s), plus finer ones so that
/// two neighbours are at most 1.67x apart from 1 ms to 10 s (1, 1.5, 2.5, 3.5, 5,
/// 7.5 per decade), plus 0.1 ms ... 0.5 ms below and 30 s and 60 s above.
/// `histogram_quantile` interpolates inside a bucket, so its error is bounded by the
/// bucket holding the quantile: at most 50 % of the lower boundary anywhere from
/// 1 ms to 10 s, and typically much less.
pub const DEFAULT_DURATION_BUCKETS: [f64; 30] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0015, 0.0025, 0.0035, 0.005, 0.0075, 0.01, 0.015, 0.025,
    0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.35, 0.5, 0.75, 1.0, 1.5, 2.5, 3.5, 5.0, 7.5, 10.0, 30.0,
    60.0,
];

/// The default boundaries of other histograms (counts, bytes, custom units): 1, 2.5
/// and 5 per decade from 1 to 10^9.
pub const DEFAULT_VALUE_BUCKETS: [f64; 28] = [
    1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1e3, 2.5e3, 5e3, 1e4, 2.5e4, 5e4, 1e5,
    2.5e5, 5e5, 1e6, 2.5e6, 5e6, 1e7, 2.5e7, 5e7, 1e8, 2.5e8, 5e8, 1e9,
];

/// Most boundaries accepted per histogram.
pub const MAX_BUCKETS: usize = 128;

/// A histogram's boundaries, ready to read: in the recorded unit and as `le` label
/// values.
#[derive(Debug, PartialEq)]
pub(crate) struct BucketLayout {
    /// Boundaries in the exposed unit, strictly increasing.
    pub(crate) bounds: Box<[f64]>,
    /// `floor(bound)` in the recorded unit: `v` is in the bucket iff `v <= threshold`.
    pub(crate) thresholds: Box<[u64]>,
    /// The canonical text of each boundary (OpenMetrics "canonical numbers").
    pub(crate) labels: Box<[String]>,
}

impl BucketLayout {
    /// Checks and converts boundaries given in `unit`'s exposed unit.
    pub(crate) fn new(bounds: &[f64], unit: &Unit) -> Result<BucketLayout, String> {
        if bounds.is_empty() || bounds.len() > MAX_BUCKETS {
            return Err(format!(
                "{} boundaries given; 1 to {MAX_BUCKETS} are accepted",
                bounds.len()
            ));
        }
        if let Some(b) = bounds.iter().find(|b| !b.is_finite() || **b < 0.0) {
            return Err(format!(
                "boundary {b} is not accepted: boundaries are finite and not negative (+Inf is always added)"
            ));
        }
        if let Some(w) = bounds.windows(2).find(|w| w[0] >= w[1]) {
            return Err(format!(
                "boundaries must increase strictly; {} is followed by {}",
                w[0], w[1]
            ));
        }
        let per = unit.recorded_per_exposed();
        Ok(BucketLayout {
            bounds: bounds.into(),
            thresholds: bounds.iter().map(|&b| threshold(b * per)).collect(),
            labels: bounds.iter().map(|&b| canonical(b)).collect(),
        })
    }

    /// The default layout for a unit (shared).
    pub(crate) fn default_for(unit: &Unit) -> Arc<BucketLayout> {
        static DURATIONS: OnceLock<Arc<BucketLayout>> = OnceLock::new();
        static VALUES: OnceLock<Arc<BucketLayout>> = OnceLock::new();
        let (cell, bounds, unit) = if unit.is_duration() {
            (
                &DURATIONS,
                &DEFAULT_DURATION_BUCKETS[..],
                &Unit::Nanoseconds,
            )
        } else {
            (&VALUES, &DEFAULT_VALUE_BUCKETS[..], &Unit::None)
        };
        cell.get_or_init(|| {
            // The defaults satisfy every check (`tests::defaults_are_valid`).
            Arc::new(
                BucketLayout::new(bounds, unit).unwrap_or_else(|_| BucketLayout {
                    bounds: Box::new([]),
                    thresholds: Box::new([]),
                    labels: Box::new([]),
                }),
            )
        })
        .clone()
    }

    /// Adds the bins of one page (`page` is the page number) to per-bucket
    /// (non-cumulative) counts: `counts[i]` for boundary `i`, `counts[len]` for
    /// `+Inf`. `counts.len()` is `thresholds.len() + 1`. Pages must come in
    /// increasing order, `cursor` carried from one call to the next (starting at 0).
    pub(crate) fn add_page(
        &self,
        page: usize,
        bins: &[u64],
        counts: &mut [u64],
        cursor: &mut usize,
    ) {
        for (j, &c) in bins.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let low = value_of(page * PAGE_LEN + j);
            while *cursor < self.thresholds.len() && self.thresholds[*cursor] < low {
                *cursor += 1;
            }
            if let Some(slot) = counts.get_mut(*cursor) {
                *slot = slot.wrapping_add(c);
            }
        }
    }

    /// The bucket an exact recorded value falls in (`thresholds.len()` for `+Inf`).
    pub(crate) fn bucket_of(&self, value: u64) -> usize {
        self.thresholds.partition_point(|&t| t < value)
    }
}

/// `floor(x)` as an integer, with `x` that is a float rendering of an integer (5e-3
/// s * 1e9 = 4999999.999...) snapped to it first.
fn threshold(x: f64) -> u64 {
    let r = x.round();
    let v = if (x - r).abs() <= 1e-9 * r.abs().max(1.0) {
        r
    } else {
        x.floor()
    };
    if v >= u64::MAX as f64 {
        u64::MAX
    } else {
        v.max(0.0) as u64
    }
}

/// A number as OpenMetrics wants `le` and `quantile` label values: Go's `%g`
/// (shortest representation, exponent below 1e-4 and from 1e+06), with `.0` added
/// when there is neither a point nor an exponent (`1.0`, `0.005`, `1e+06`,
/// `+Inf`). Used in both formats, so a scraper switching between them sees the
/// same series.
pub(crate) fn canonical(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    if v == 0.0 {
        return "0.0".to_owned();
    }
    let sci = format!("{:e}", v.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::new();
    if v < 0.0 {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::layout::{LEN, index_of};

    #[test]
    fn canonical_numbers_match_the_openmetrics_examples() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (0.001, "0.001"),
            (0.002, "0.002"),
            (0.01, "0.01"),
            (0.1, "0.1"),
            (0.9, "0.9"),
            (0.95, "0.95"),
            (0.99, "0.99"),
            (0.999, "0.999"),
            (1.0, "1.0"),
            (1.7, "1.7"),
            (10.0, "10.0"),
            (1e-10, "1e-10"),
            (1e-9, "1e-09"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (100000.0, "100000.0"),
            (1e6, "1e+06"),
            (1e10, "1e+10"),
            (1e23, "1e+23"),
            (1.1e23, "1.1e+23"),
            (0.00025, "0.00025"),
            (0.99999, "0.99999"),
            (2.5e6, "2.5e+06"),
            (60.0, "60.0"),
            (f64::INFINITY, "+Inf"),
        ];
        for &(v, want) in cases {
            assert_eq!(canonical(v), want, "{v}");
        }
    }

    #[test]
    fn defaults_are_valid_and_contain_the_opentelemetry_http_boundaries() {
        let d = BucketLayout::default_for(&Unit::Nanoseconds);
        assert_eq!(d.bounds.len(), DEFAULT_DURATION_BUCKETS.len());
        for otel in [
            0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
        ] {
            assert!(DEFAULT_DURATION_BUCKETS.contains(&otel), "{otel}");
        }
        for w in DEFAULT_DURATION_BUCKETS.windows(2) {
            if w[0] >= 0.001 && w[1] <= 10.0 {
                assert!(w[1] / w[0] <= 1.67, "{w:?}");
            }
        }
        assert_eq!(d.thresholds[7], 5_000_000);
        assert_eq!(d.thresholds[0], 100_000);
        assert_eq!(d.labels[7], "0.005");
        let v = BucketLayout::default_for(&Unit::Bytes);
        assert_eq!(v.bounds.len(), DEFAULT_VALUE_BUCKETS.len());
        assert_eq!(v.thresholds[1], 2);
    }

    #[test]
    fn bad_boundaries_are_errors() {
        for bad in [
            &[][..],
            &[1.0, 1.0],
            &[2.0, 1.0],
            &[f64::NAN],
            &[-1.0],
            &[f64::INFINITY],
        ] {
            assert!(BucketLayout::new(bad, &Unit::None).is_err(), "{bad:?}");
        }
        let many: Vec<f64> = (0..=MAX_BUCKETS).map(|i| i as f64).collect();
        assert!(BucketLayout::new(&many, &Unit::None).is_err());
    }

    /// Every bin lands in the first bucket at or above its lowest value, so a value
    /// on a boundary is counted in it, and a value counted in a bucket is at most a
    /// bin's width (le / 1024) above its boundary.
    #[test]
    fn bins_go_to_the_inclusive_bucket_within_the_stated_bound() {
        let layout = BucketLayout::default_for(&Unit::Nanoseconds);
        let mut probes: Vec<u64> = Vec::new();
        for &t in layout.thresholds.iter() {
            probes.extend([
                t.saturating_sub(1),
                t,
                t + 1,
                t + t / 2048,
                t + t / 1024 + 1,
            ]);
        }
        for &v in &probes {
            let i = index_of(v);
            assert!(i < LEN);
            let page = i / PAGE_LEN;
            let mut bins = vec![0u64; PAGE_LEN];
            bins[i % PAGE_LEN] = 1;
            let mut counts = vec![0u64; layout.thresholds.len() + 1];
            let mut cursor = 0;
            layout.add_page(page, &bins, &mut counts, &mut cursor);
            let got = counts.iter().position(|&c| c == 1).unwrap();
            let exact = layout.bucket_of(v);
            // Never below the exact bucket: a value at or below `le` is in `le`.
            assert!(got <= exact, "{v}: bucket {got}, exact {exact}");
            if got < exact {
                let le = layout.thresholds[got];
                assert!(
                    v > le && (v - le) as f64 <= le as f64 / 1024.0,
                    "{v} in {le}"
                );
            }
        }
    }
}
