//! The bucket layout of every latency histogram: hdrhistogram's own, fixed.
//!
//! `hdrhistogram::Histogram::new_with_bounds(1, HIGHEST, 3)` lays its counts out as
//! 33 792 bins: bin `i < 2048` holds exactly the value `i`; above that, each
//! power-of-two range `[2^(10+b), 2^(11+b))` is split into 1024 equal bins of width
//! `2^b`, so a bin is never wider than 1/1024 of the values it holds (3 significant
//! digits). The per-thread cells use the very same indices, so turning their
//! counts into an `hdrhistogram::Histogram` is a bin-by-bin copy with no rounding
//! (`tests::index_matches_hdrhistogram` proves it against hdrhistogram's `record`).
//! The lowest discernible value is 1 ns, so the only value below it, 0, lands in the
//! lowest bin, as hdrhistogram itself does.

use hdrhistogram::Histogram as HdrHistogram;

/// The lowest discernible value (1 ns): values below the first bin's width do not exist.
pub(crate) const LOWEST: u64 = 1;
/// Significant decimal digits.
pub(crate) const SIGFIG: u8 = 3;
/// The highest trackable value: `2^42 - 1` ns, about 73 minutes (the layout's natural
/// top above one hour). Larger values are clamped to it and counted as clamped.
pub(crate) const HIGHEST: u64 = (1 << 42) - 1;
/// log2 of half the sub-bucket count (2048 sub-buckets for 3 digits).
const HALF_MAG: u32 = 10;
/// `64 - log2(sub_bucket_count)`, hdrhistogram's `leading_zero_count_base`.
const LZ_BASE: u32 = 53;
/// `sub_bucket_count - 1`, hdrhistogram's `sub_bucket_mask` for a unit of 1.
const SUB_MASK: u64 = 2047;
/// Number of bins (hdrhistogram's `distinct_values()` for this layout).
pub(crate) const LEN: usize = 33 * 1024;
/// A page of counters, allocated on first use.
pub(crate) const PAGE_BITS: usize = 8;
/// Counters per page.
pub(crate) const PAGE_LEN: usize = 1 << PAGE_BITS;
/// Pages per histogram.
pub(crate) const PAGES: usize = LEN / PAGE_LEN;

const _: () = assert!(PAGES * PAGE_LEN == LEN);
const _: () = assert!(
    HIGHEST >= 3_600_000_000_000,
    "the range covers at least one hour"
);

/// The bin of `value`; `>= LEN` when the value is above [`HIGHEST`].
#[inline(always)]
pub(crate) fn index_of(value: u64) -> usize {
    let bucket = LZ_BASE - (value | SUB_MASK).leading_zeros();
    let sub = value >> bucket;
    ((bucket as usize) << HALF_MAG) + sub as usize
}

/// The lowest value held by bin `index` (`index < LEN`).
#[inline]
pub(crate) fn value_of(index: usize) -> u64 {
    if index < 2048 {
        index as u64
    } else {
        let bucket = (index >> HALF_MAG) as u32 - 1;
        let sub = ((index & 1023) + 1024) as u64;
        sub << bucket
    }
}

/// The highest value held by bin `index`.
#[cfg(test)]
pub(crate) fn highest_of(index: usize) -> u64 {
    value_of(index) + width_of(index) - 1
}

/// How many distinct values bin `index` holds.
#[cfg(test)]
pub(crate) fn width_of(index: usize) -> u64 {
    if index < 2048 {
        1
    } else {
        1 << ((index >> HALF_MAG) as u32 - 1)
    }
}

/// An empty hdrhistogram with exactly this layout.
pub(crate) fn new_histogram() -> HdrHistogram<u64> {
    // The bounds are constants that satisfy every precondition of `new_with_bounds`
    // (low >= 1, high >= 2 * low, sigfig <= 5); a test checks they do.
    match HdrHistogram::new_with_bounds(LOWEST, HIGHEST, SIGFIG) {
        Ok(h) => h,
        Err(_) => unreachable_layout(),
    }
}

#[cold]
fn unreachable_layout() -> ! {
    // Only reachable if the constants above were edited into an invalid range, which
    // `tests::layout_matches_hdrhistogram` would catch first.
    panic!("observe metrics: invalid HDR layout constants")
}

/// Adds `count` observations to bin `index` of `h` (same layout).
#[inline]
pub(crate) fn add_bin(h: &mut HdrHistogram<u64>, index: usize, count: u64) {
    if count != 0 {
        // value_of(index) is in range for every index < LEN, so this cannot fail.
        let _ = h.record_n(value_of(index), count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_hdrhistogram() {
        let h = new_histogram();
        assert_eq!(h.distinct_values(), LEN);
        assert_eq!(h.high(), HIGHEST);
    }

    /// Every bin boundary and a spread of values land in the bin hdrhistogram itself
    /// would use: recording the value through hdrhistogram and through `add_bin` at
    /// `index_of(value)` gives equal histograms.
    #[test]
    fn index_matches_hdrhistogram() {
        let mut probes = vec![
            0u64, 1, 2, 1023, 1024, 2047, 2048, 2049, 4095, 4096, HIGHEST,
        ];
        for i in 0..LEN {
            let lo = value_of(i);
            probes.push(lo);
            probes.push(highest_of(i));
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            probes.push(x % (HIGHEST + 1));
            probes.push((x >> 40) % 100_000);
        }
        let mut theirs = new_histogram();
        let mut ours = new_histogram();
        for &v in &probes {
            let i = index_of(v);
            assert!(i < LEN, "{v} -> {i}");
            assert!(value_of(i) <= v && v <= highest_of(i), "{v} not in bin {i}");
            assert_eq!(theirs.lowest_equivalent(v), value_of(i), "value {v}");
            assert_eq!(theirs.highest_equivalent(v), highest_of(i), "value {v}");
            theirs.record(v).unwrap();
            add_bin(&mut ours, i, 1);
        }
        assert_eq!(ours, theirs);
        let a: Vec<_> = ours
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect();
        let b: Vec<_> = theirs
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect();
        assert_eq!(a, b);
        // Above the top: out of range, exactly as hdrhistogram refuses it.
        assert!(index_of(HIGHEST + 1) >= LEN);
        assert!(index_of(u64::MAX) >= LEN);
        assert!(new_histogram().record(HIGHEST + 1).is_err());
    }

    #[test]
    fn bins_are_three_digits_wide_at_most() {
        for i in 2048..LEN {
            let rel = width_of(i) as f64 / value_of(i) as f64;
            assert!(rel <= 1.0 / 1024.0, "bin {i}: {rel}");
        }
    }
}
