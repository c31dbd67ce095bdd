//! The rolling window, driven by an injected clock: no sleeping.

use std::time::Duration;

use observe_core::metrics::Registry;

use crate::support::{ManualClock, Rng};

fn window_count(r: &Registry, name: &str) -> u64 {
    r.snapshot().histogram(name, &[]).unwrap().window.count
}

fn cumulative_count(r: &Registry, name: &str) -> u64 {
    r.snapshot().histogram(name, &[]).unwrap().cumulative.count
}

/// A 60 s window of six 10 s slices. An observation recorded at 1001 s lives in
/// slice [1000, 1010); it stays counted while the window's start (now - 60 s) has
/// not passed that slice's start, and leaves as a whole slice at 1060 s, 59 s after
/// it was recorded: between `window - slice` and `window`, never later.
#[test]
fn observations_age_out_a_slice_at_a_time() {
    let clock = ManualClock::at_secs(1001);
    let r = clock.registry(60, 10);
    let h = r.duration_histogram("w.duration", &[]);
    h.record(1_000_000);
    assert_eq!(window_count(&r, "w.duration"), 1);

    clock.set_secs_f64(1055.0);
    h.record(2_000_000);
    assert_eq!(window_count(&r, "w.duration"), 2);

    // Partially aged: the first observation is 58.9 s old, its slice still inside.
    clock.set_secs_f64(1059.9);
    assert_eq!(window_count(&r, "w.duration"), 2);
    // The window's start passes 1000 s: the first slice leaves.
    clock.set_secs_f64(1060.0);
    let snap = r.snapshot();
    let s = snap.histogram("w.duration", &[]).unwrap();
    assert_eq!(s.window.count, 1);
    assert!(
        s.window.min.unwrap() > 1_990_000,
        "only the second observation remains"
    );
    assert_eq!(s.cumulative.count, 2, "cumulative keeps everything");

    // The second (slice [1050, 1060)) leaves at 1110 s.
    clock.set_secs_f64(1109.999);
    assert_eq!(window_count(&r, "w.duration"), 1);
    clock.set_secs_f64(1110.0);
    assert_eq!(window_count(&r, "w.duration"), 0);
    let snap = r.snapshot();
    let s = snap.histogram("w.duration", &[]).unwrap();
    assert_eq!(s.window.p99, None, "an empty window has no quantiles");
    assert_eq!((s.window.sum, s.cumulative.sum), (0, 3_000_000));
}

/// Random recording and reading times: whatever is counted is never older than the
/// window, and whatever is younger than `window - slice` is always counted.
#[test]
fn window_bounds_hold_for_random_times() {
    let clock = ManualClock::at_secs(0);
    let (window, slice) = (30u64, 5u64);
    let r = clock.registry(window, slice);
    let h = r.duration_histogram("w.random", &[]);
    let mut rng = Rng::new(7);
    let mut now = 1_000_000_000_000u64; // 1000 s, in ns
    let mut recorded: Vec<(u64, u64)> = Vec::new(); // (value, time)
    for i in 0..400u64 {
        now += rng.next_u64() % 3_000_000_000; // up to 3 s later
        clock.set_nanos(now);
        // Distinct small values are exact HDR bins: one value, one observation.
        let v = 1 + i;
        h.record(v);
        recorded.push((v, now));
        // Fold at once, as the background tick would.
        let export = r.export_histograms();
        let w = export
            .series("w.random", &[])
            .unwrap()
            .window
            .decode()
            .unwrap();
        for &(v, t) in &recorded {
            let age = now - t;
            let counted = w.count_at(v) == 1;
            if counted {
                assert!(age <= window * 1_000_000_000, "{v} counted at age {age} ns");
            }
            if age < (window - slice) * 1_000_000_000 {
                assert!(counted, "{v} missing at age {age} ns");
            }
        }
    }
}

/// Nothing ticks: a read rotates by itself, and what was recorded since the
/// previous fold counts as recent (documented).
#[test]
fn reading_rotates_lazily() {
    let clock = ManualClock::at_secs(1000);
    let r = clock.registry(60, 10);
    let h = r.duration_histogram("w.lazy", &[]);
    h.record(5);
    clock.set_secs_f64(1300.0);
    assert_eq!(window_count(&r, "w.lazy"), 1, "first seen now: counted now");
    clock.set_secs_f64(1360.0);
    assert_eq!(window_count(&r, "w.lazy"), 0);
    assert_eq!(cumulative_count(&r, "w.lazy"), 1);
}

#[test]
fn changing_the_window_restarts_it_and_keeps_the_cumulative_view() {
    let clock = ManualClock::at_secs(1000);
    let r = clock.registry(60, 10);
    let h = r.duration_histogram("w.change", &[]);
    h.record(5);
    assert_eq!(window_count(&r, "w.change"), 1);
    r.set_window(Duration::from_secs(120), Duration::from_secs(20))
        .unwrap();
    assert_eq!(
        r.window(),
        (Duration::from_secs(120), Duration::from_secs(20))
    );
    assert_eq!(window_count(&r, "w.change"), 0);
    assert_eq!(cumulative_count(&r, "w.change"), 1);
    h.record(6);
    assert_eq!(window_count(&r, "w.change"), 1);
    assert!(
        r.set_window(Duration::from_secs(1), Duration::ZERO)
            .is_err()
    );
}

#[test]
fn a_clock_that_steps_back_does_not_reopen_old_slices() {
    let clock = ManualClock::at_secs(1000);
    let r = clock.registry(60, 10);
    let h = r.duration_histogram("w.back", &[]);
    h.record(5);
    assert_eq!(window_count(&r, "w.back"), 1);
    clock.set_secs_f64(900.0);
    h.record(6);
    assert_eq!(window_count(&r, "w.back"), 2);
    clock.set_secs_f64(1060.0);
    assert_eq!(
        window_count(&r, "w.back"),
        0,
        "both belong to the slice of 1000 s"
    );
}

/// Recording from several threads while another thread reads (folds) repeatedly:
/// no observation is lost or counted twice.
#[test]
fn concurrent_reads_lose_nothing() {
    let r = Registry::new();
    let h = r.duration_histogram("w.concurrent", &[]);
    std::thread::scope(|s| {
        for t in 0..3u64 {
            let h = h.clone();
            s.spawn(move || (0..50_000u64).for_each(|i| h.record(1 + (i * 7 + t) % 5_000_000)));
        }
        let r = r.clone();
        s.spawn(move || {
            for _ in 0..50 {
                let _ = r.snapshot();
            }
        });
    });
    let snap = r.snapshot();
    let s = snap.histogram("w.concurrent", &[]).unwrap();
    assert_eq!(s.cumulative.count, 150_000);
    assert_eq!(s.window.count, 150_000);
}
