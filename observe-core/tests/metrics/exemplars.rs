//! Exemplars: the slowest and the failing observations keep their trace ids.

use observe_core::TraceId;
use observe_core::metrics::ExemplarKind;

use crate::support::ManualClock;

fn t(n: u128) -> TraceId {
    TraceId::new(n)
}

#[test]
fn slowest_and_errors_are_kept_per_slice_and_age_out() {
    let clock = ManualClock::at_secs(1000);
    let r = clock.registry(60, 10);
    let h = r.duration_histogram("ex.duration", &[]);
    for (i, v) in [5_000u64, 90_000, 7_000, 60_000].into_iter().enumerate() {
        h.record_with_exemplar(v, t(i as u128 + 1), false);
    }
    h.record_with_exemplar(3_000, t(100), true);
    h.record_with_exemplar(4_000, t(101), true);
    // An invalid trace id is counted but never kept.
    h.record_with_exemplar(10_000_000, TraceId::INVALID, true);
    // The background tick folds (here: a read does).
    let _ = r.snapshot();

    clock.set_secs_f64(1015.0);
    h.record_with_exemplar(50_000, t(200), false);
    h.record_with_exemplar(1_000, t(201), true);

    let snap = r.snapshot();
    let s = snap.histogram("ex.duration", &[]).unwrap();
    assert_eq!(s.window.errors, 4);
    assert_eq!(s.cumulative.count, 9);
    let slowest: Vec<_> = s
        .exemplars
        .iter()
        .filter(|e| e.kind == ExemplarKind::Slowest)
        .map(|e| (e.trace_id, e.value))
        .collect();
    // The slowest of each slice, slowest first.
    assert_eq!(slowest, [(t(2), 90_000), (t(200), 50_000)]);
    let errors: Vec<_> = s
        .exemplars
        .iter()
        .filter(|e| e.kind == ExemplarKind::Error)
        .map(|e| (e.trace_id, e.unix_nanos))
        .collect();
    // The first error of each slice on this thread, newest first, with its time.
    assert_eq!(
        errors,
        [(t(201), 1_015_000_000_000), (t(100), 1_000_000_000_000)]
    );
    assert!(s.exemplars.iter().all(|e| e.trace_id.is_valid()));

    // The first slice ages out with its exemplars.
    clock.set_secs_f64(1060.0);
    let snap = r.snapshot();
    let s = snap.histogram("ex.duration", &[]).unwrap();
    let ids: Vec<_> = s.exemplars.iter().map(|e| e.trace_id).collect();
    assert_eq!(ids, [t(200), t(201)]);
    let json = snap.to_json();
    assert!(json.contains(&t(200).to_string()), "{json}");
}

#[test]
fn exemplars_from_several_threads_keep_the_slowest_overall() {
    let clock = ManualClock::at_secs(1000);
    let r = clock.registry(60, 10);
    let h = r.duration_histogram("ex.threads", &[]);
    std::thread::scope(|s| {
        for th in 0..4u128 {
            let h = h.clone();
            s.spawn(move || {
                for i in 0..1000u128 {
                    h.record_with_exemplar(
                        (i * 13 + th * 7) as u64 % 100_000 + 1,
                        t(th * 10_000 + i + 1),
                        false,
                    );
                }
            });
        }
    });
    let snap = r.snapshot();
    let s = snap.histogram("ex.threads", &[]).unwrap();
    let top = s.exemplars.first().unwrap();
    assert_eq!(top.kind, ExemplarKind::Slowest);
    // Exact: the slowest observation overall is the one kept first.
    let max_raw = (0..4u128)
        .flat_map(|th| (0..1000u128).map(move |i| (i * 13 + th * 7) as u64 % 100_000 + 1))
        .max()
        .unwrap();
    assert_eq!(top.value, max_raw);
    assert!(s.exemplars.len() <= 3);
}
