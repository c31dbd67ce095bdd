//! The log path never blocks the application: a writer that never drains makes
//! observe drop and count lines, while the logging code keeps making progress.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use observe_core::span::Span;

mod log_crate;
mod order;

/// A writer whose every write blocks until released (a full pipe, a stuck disk).
#[derive(Clone, Default)]
struct StuckWriter {
    released: Arc<(Mutex<bool>, Condvar)>,
    entered: Arc<AtomicBool>,
}

impl Write for StuckWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.entered.store(true, Ordering::SeqCst);
        let (lock, cv) = &*self.released;
        let mut released = lock.lock().unwrap();
        while !*released {
            released = cv.wait(released).unwrap();
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl StuckWriter {
    /// Waits (at most 10 s) until the writer thread is stuck in `write`.
    fn wait_entered(&self) {
        for _ in 0..1000 {
            if self.entered.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the writer was never reached");
    }

    fn release(&self) {
        let (lock, cv) = &*self.released;
        *lock.lock().unwrap() = true;
        cv.notify_all();
    }
}

#[test]
fn a_writer_that_never_drains_costs_lines_not_progress() {
    let writer = StuckWriter::default();
    let observe = observe_core::Observe::builder()
        .ignore_env()
        .log_buffer_lines(100)
        .log_writer(writer.clone())
        .build()
        .unwrap()
        .unwrap();
    let _default = observe.set_default();

    // Log far more lines than the buffer holds, from inside spans and outside.
    let progress = AtomicU64::new(0);
    for i in 0..50_000u64 {
        Span::new("work").in_scope(|| tracing::info!(i, "line"));
        progress.fetch_add(1, Ordering::Relaxed);
    }
    // Every call returned: the caller was never blocked by the stuck output.
    assert_eq!(progress.load(Ordering::Relaxed), 50_000);

    // Once the worker has processed what was queued, the writer thread is stuck on
    // its first batch and everything beyond the 100-line bound was dropped and
    // counted.
    // The flush cannot complete (the output is stuck); it only waits for the worker
    // to have processed the queue, bounded by its timeout.
    // On a loaded machine the worker may need more than one flush's time to get
    // through 50 000 records: wait (bounded) until it has seen each of them.
    let mut stats = observe.stats();
    for _ in 0..60 {
        let _ = observe.flush(Duration::from_secs(1));
        stats = observe.stats();
        // 50 000 spans and 50 000 log records, each processed or dropped.
        if stats.processed_records + stats.dropped_spans + stats.dropped_log_records >= 100_000 {
            break;
        }
    }
    // The writer thread takes its first batch on its own schedule.
    writer.wait_entered();
    let accounted = stats.dropped_log_lines + stats.dropped_log_records;
    assert!(accounted > 0, "{stats:?}");
    // Nothing vanished: each line is queued (at most the bound plus one batch in
    // the writer's hands), written, or counted as dropped.
    let in_flight_bound = 100 + 1024;
    assert!(
        stats.dropped_log_lines + stats.dropped_log_records + in_flight_bound as u64 >= 50_000,
        "{stats:?}"
    );

    // Unblock and shut down: shutdown is bounded whatever the writer did.
    writer.release();
    assert!(observe.shutdown());
}

/// An instance logging to a `Tee` over a stuck writer, with a queue of
/// `buffer_lines`; its writer, what the tee wrote, and the instance.
fn stuck_instance(
    buffer_lines: usize,
    slow: Duration,
) -> (
    StuckWriter,
    observe_core::testing::SharedBuffer,
    observe_core::Observe,
) {
    let writer = StuckWriter::default();
    let buffer = observe_core::testing::SharedBuffer::default();
    let observe = observe_core::Observe::builder()
        .ignore_env()
        .log_buffer_lines(buffer_lines)
        .log_writer(Tee {
            stuck: writer.clone(),
            out: buffer.clone(),
            slow,
        })
        .shutdown_timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .unwrap();
    (writer, buffer, observe)
}

/// Shuts `observe` down and checks that `buffer` holds the drop warning.
fn assert_drop_warning(
    observe: observe_core::Observe,
    buffer: &observe_core::testing::SharedBuffer,
) {
    assert!(observe.shutdown());
    let text = buffer.contents();
    let warning = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["target"] == "observe" && l["level"] == "WARN")
        .unwrap_or_else(|| panic!("no drop warning in:\n{}", &text[..text.len().min(2000)]));
    assert!(warning["fields"]["dropped_total"].as_u64().unwrap() > 0);
}

#[test]
fn dropped_lines_are_reported_in_a_warning_line() {
    // A writer that accepts only after a pause: lines are dropped meanwhile, and the
    // warning appears once the output recovers.
    let (writer, buffer, observe) = stuck_instance(10, Duration::ZERO);
    {
        let _default = observe.set_default();
        for i in 0..5_000u64 {
            tracing::info!(i, "flood");
        }
        observe.flush(Duration::from_millis(200));
    }
    writer.release();
    assert_drop_warning(observe, &buffer);
}

/// Blocks like `StuckWriter`, then copies what it writes to a buffer, each write
/// taking `slow` once released (an output still catching up).
struct Tee {
    stuck: StuckWriter,
    out: observe_core::testing::SharedBuffer,
    slow: Duration,
}

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.stuck.write(buf)?;
        std::thread::sleep(self.slow);
        self.out.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_drop_warning_waits_at_shutdown_for_an_output_still_catching_up() {
    // Released just before shutdown, the output takes its time with the lines
    // it was stuck on: the warning waits for the room they leave, within the
    // shutdown's deadline, rather than being dropped with what it reports.
    // A one-line buffer: the flood's batches are all dropped, and the one line
    // logged after it is what the output is stuck on, filling the buffer.
    let (writer, buffer, observe) = stuck_instance(1, Duration::from_millis(150));
    {
        let _default = observe.set_default();
        for i in 0..2_000u64 {
            tracing::info!(i, "flood");
        }
        observe.flush(Duration::from_millis(200));
        tracing::info!("the last line");
        observe.flush(Duration::from_millis(200));
    }
    writer.wait_entered();
    writer.release();
    assert_drop_warning(observe, &buffer);
}
