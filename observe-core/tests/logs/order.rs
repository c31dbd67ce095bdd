//! Lines are written in the order they were logged, across threads: the worker
//! drains each thread's ring, and a request's future may move between runtime
//! threads, so a drain round is put back in time order before the sinks see it.

use std::sync::mpsc;
use std::time::Duration;

use observe_core::testing::{MemorySink, SharedBuffer};

#[test]
fn lines_logged_on_several_threads_are_written_in_the_order_they_were_logged() {
    let (sink, _captured) = MemorySink::new();
    let lines = SharedBuffer::default();
    let observe = observe_core::Observe::builder()
        .ignore_env()
        .admin_addr(None)
        .log_writer(lines.clone())
        .sink(sink)
        .build()
        .unwrap()
        .unwrap();
    // Thread A logs, then B, then A again, each waiting for the one before; A's
    // ring was made first, so a drain ring by ring wrote A's two lines first.
    let (to_b, b_turn) = mpsc::channel::<()>();
    let (to_a, a_turn) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        let observe = &observe;
        scope.spawn(move || {
            let _current = observe.set_default();
            tracing::info!("one");
            to_b.send(()).unwrap();
            a_turn.recv().unwrap();
            tracing::info!("three");
        });
        scope.spawn(move || {
            let _current = observe.set_default();
            b_turn.recv().unwrap();
            tracing::info!("two");
            to_a.send(()).unwrap();
        });
    });
    assert!(observe.flush(Duration::from_secs(10)));
    let text = lines.contents();
    let order: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|l| l["message"].as_str().map(str::to_owned))
        .filter(|m| ["one", "two", "three"].contains(&m.as_str()))
        .collect();
    assert_eq!(order, ["one", "two", "three"], "{text}");
}
