//! Quantiles against the exact ones from the raw samples; merged per-thread
//! recorders and merged instances against one hdrhistogram fed every sample.

use observe_core::metrics::hdrhistogram::Histogram as Hdr;
use observe_core::metrics::{QUANTILES, Registry, Stats, merge};

use crate::support::Rng;

const THREADS: usize = 4;

fn uniform(n: usize) -> Vec<u64> {
    let mut r = Rng::new(1);
    (0..n)
        .map(|_| 1_000 + (r.unit() * 99_999_000.0) as u64)
        .collect()
}

fn log_normal(n: usize) -> Vec<u64> {
    // Median 2 ms, sigma 1.2: a realistic long-tailed latency.
    let mut r = Rng::new(2);
    (0..n)
        .map(|_| (2e6 * (1.2 * r.normal()).exp()) as u64)
        .collect()
}

fn bimodal_with_tail(n: usize) -> Vec<u64> {
    // 99.999 % around 1 ms, 0.001 % (one in 100 000) around 2 s.
    let mut r = Rng::new(3);
    let mut v: Vec<u64> = (0..n)
        .map(|i| {
            if i % 100_000 == 99_999 {
                (2e9 + 1e8 * r.normal()).max(1.0) as u64
            } else {
                (1e6 + 1e5 * r.normal()).max(1.0) as u64
            }
        })
        .collect();
    // Interleave the tail among the threads' chunks.
    let len = v.len();
    for i in 0..len {
        let j = (r.next_u64() % len as u64) as usize;
        v.swap(i, j);
    }
    v
}

/// Records `samples` into `h` from `THREADS` threads, a chunk each.
fn record_concurrently(h: &observe_core::metrics::Histogram, samples: &[u64]) {
    std::thread::scope(|s| {
        for chunk in samples.chunks(samples.len().div_ceil(THREADS)) {
            let h = h.clone();
            s.spawn(move || chunk.iter().for_each(|&v| h.record(v)));
        }
    });
}

fn reference(samples: &[u64]) -> Hdr<u64> {
    let mut h = Hdr::<u64>::new_with_bounds(1, (1 << 42) - 1, 3).unwrap();
    for &v in samples {
        h.record(v).unwrap();
    }
    h
}

/// The exact quantile with hdrhistogram's definition: the sample of rank
/// `ceil(q * n)` (at least 1) in sorted order.
fn exact(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1]
}

fn assert_quantiles(name: &str, stats: &Stats, samples: &[u64]) {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    assert_eq!(stats.count, samples.len() as u64, "{name}: count");
    assert_eq!(
        stats.sum,
        samples.iter().sum::<u64>(),
        "{name}: sum is exact"
    );
    let reported = stats.quantiles();
    for (q, got) in QUANTILES.iter().zip(reported) {
        let want = exact(&sorted, *q);
        let got = got.unwrap_or_else(|| panic!("{name}: p{q} missing"));
        // hdrhistogram reports the highest value equivalent to the sample: never
        // below it, and above it by less than one part in a thousand.
        assert!(
            got >= want && (got - want) as f64 <= want as f64 * 1e-3,
            "{name}: p{q} = {got}, exact {want}"
        );
    }
    let (min, max) = (sorted[0], *sorted.last().unwrap());
    let got_max = stats.max.unwrap();
    assert!(
        got_max >= max && (got_max - max) as f64 <= max as f64 * 1e-3,
        "{name}: max {got_max} vs {max}"
    );
    let got_min = stats.min.unwrap();
    assert!(
        got_min <= min && (min - got_min) as f64 <= min as f64 * 1e-3,
        "{name}: min {got_min} vs {min}"
    );
}

fn check_distribution(name: &str, samples: Vec<u64>) {
    let registry = Registry::new();
    let h = registry.duration_histogram("accuracy.duration", &[("dist", name)]);
    record_concurrently(&h, &samples);

    let snap = registry.snapshot();
    let s = snap
        .histogram("accuracy.duration", &[("dist", name)])
        .unwrap();
    assert_quantiles(name, &s.cumulative, &samples);
    // Everything was recorded just now: the window holds the same.
    assert_quantiles(name, &s.window, &samples);

    // The merged per-thread recorders equal one hdrhistogram fed all samples, bin
    // by bin (through the lossless export, which is also what `merge` reads).
    let export = registry.export_histograms();
    let series = export
        .series("accuracy.duration", &[("dist", name)])
        .unwrap();
    let ours = series.cumulative.decode().unwrap();
    let theirs = reference(&samples);
    assert_eq!(
        ours, theirs,
        "{name}: merged recorders differ from hdrhistogram"
    );
    let bins = |h: &Hdr<u64>| -> Vec<(u64, u64)> {
        h.iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    };
    assert_eq!(bins(&ours), bins(&theirs), "{name}: bins differ");
}

#[test]
fn uniform_quantiles_are_within_three_digits() {
    check_distribution("uniform", uniform(400_000));
}

#[test]
fn log_normal_quantiles_are_within_three_digits() {
    check_distribution("log_normal", log_normal(400_000));
}

#[test]
fn bimodal_tail_is_kept() {
    let samples = bimodal_with_tail(1_000_000);
    let tail = samples.iter().filter(|v| **v > 100_000_000).count();
    assert_eq!(tail, 10, "0.001 % of the samples are in the tail");
    check_distribution("bimodal", samples);
}

/// Three "instances" each record a third of the samples; merging their exports
/// equals one histogram of all samples, and the fleet-wide quantiles are exact.
#[test]
fn merged_instances_equal_one_histogram() {
    let samples = log_normal(300_000);
    let instances: Vec<Registry> = (0..3).map(|_| Registry::new()).collect();
    for (registry, chunk) in instances.iter().zip(samples.chunks(100_000)) {
        let h = registry.http_server_duration(
            "/orders/{id}",
            "GET",
            200,
            "http",
            None,
            Default::default(),
        );
        record_concurrently(&h, chunk);
        // A key only one instance has.
        registry.duration_histogram("only.here", &[]).record(7);
    }
    // The documents travel as JSON.
    let docs: Vec<_> = instances
        .iter()
        .map(|r| {
            observe_core::metrics::HistogramExport::from_json(&r.export_histograms().to_json())
                .unwrap()
        })
        .collect();
    let merged = merge(&docs).unwrap();
    assert_eq!(merged.instances, 3);
    let labels = [
        ("http.request.method", "GET"),
        ("http.response.status_code", "200"),
        ("http.route", "/orders/{id}"),
        ("request_type", "standard"),
        ("url.scheme", "http"),
    ];
    let s = merged
        .series("http.server.request.duration", &labels)
        .unwrap();
    assert_eq!(s.cumulative.decode().unwrap(), reference(&samples));
    assert_eq!(s.window.decode().unwrap(), reference(&samples));
    assert_quantiles("merged", &s.cumulative.stats().unwrap(), &samples);
    let only = merged.series("only.here", &[]).unwrap();
    assert_eq!(only.cumulative.stats().unwrap().count, 3);

    // Merging is associative: merging a merge with nothing changes nothing.
    let again = merge(std::slice::from_ref(&merged)).unwrap();
    assert_eq!(again.series, merged.series);
}

#[test]
fn values_outside_the_range_are_clamped_and_counted_not_lost() {
    let registry = Registry::new();
    let h = registry.duration_histogram("clamp.duration", &[]);
    h.record(0);
    h.record(5_000_000_000_000); // 83 minutes: above the top
    h.record(u64::MAX);
    let snap = registry.snapshot();
    let s = &snap.histogram("clamp.duration", &[]).unwrap().cumulative;
    assert_eq!((s.count, s.clamped), (3, 2));
    assert_eq!(s.min, Some(0));
    assert!(
        s.max.unwrap() >= 3_600_000_000_000,
        "the top is above one hour"
    );
    assert!(registry.prometheus_text().contains(
        "observe_metrics_clamped_observations_total{metric=\"clamp_duration_seconds\"} 2\n"
    ));
}

/// Threads that record and exit keep their counts (the next thread reuses their
/// recorder).
#[test]
fn exited_threads_keep_their_counts() {
    let registry = Registry::new();
    let h = registry.duration_histogram("short.lived", &[]);
    for round in 0..20u64 {
        let h = h.clone();
        std::thread::spawn(move || (0..500).for_each(|i| h.record(1_000 + round * 500 + i)))
            .join()
            .unwrap();
    }
    let snap = registry.snapshot();
    assert_eq!(
        snap.histogram("short.lived", &[]).unwrap().cumulative.count,
        10_000
    );
}
