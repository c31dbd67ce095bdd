//! Log events whose span never reaches the exporter (it was filtered, dropped, or
//! never ended) wait for it in a bounded table: a flood of them keeps at most the
//! newest 4096 spans' worth, and every event that is given up is counted.

use std::time::Duration;

use observe_core::config::ExportConfig;
use observe_core::export::Exporter;
use observe_core::sink::Sink;
use observe_core::span::Span;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::support::{fast_batches, resource};

#[derive(Debug, Clone, Default)]
struct Discard;

impl SpanExporter for Discard {
    async fn export(&self, _: Vec<SpanData>) -> OTelSdkResult {
        Ok(())
    }
}

impl LogExporter for Discard {
    async fn export(&self, _: LogBatch<'_>) -> OTelSdkResult {
        Ok(())
    }
}

#[test]
fn a_flood_of_orphan_events_is_bounded_and_every_drop_counted() {
    // 20 000 log events, each in its own sampled span, captured as observe makes them.
    let capture = observe_core::testing::capture();
    let total = 20_000;
    for i in 0..total {
        Span::new("orphan").in_scope(|| tracing::info!(i, "waiting for my span"));
        if i % 1000 == 999 {
            capture.flush(); // the rings hold 4096 records
        }
    }
    capture.flush();
    let logs = capture.logs();
    assert_eq!(logs.len(), total);
    drop(capture);

    // The exporter's sink gets the events and never their spans.
    let mut batch = fast_batches();
    batch.max_queue_size = 50_000;
    let exporter = Exporter::with_exporters(
        ExportConfig {
            span_batch: batch,
            ..ExportConfig::default()
        },
        &resource(),
        Some(Discard),
        None::<Discard>,
    )
    .unwrap();
    let mut sink = exporter.sink();
    for l in &logs {
        sink.on_log(l);
    }
    sink.flush(std::time::Instant::now() + Duration::from_secs(10));
    let st = exporter.stats();
    // Each orphan span keeps its one event while it is among the newest 4096.
    assert_eq!(st.span_events_dropped, total as u64 - 4096, "{st:?}");
    sink.shutdown(std::time::Instant::now() + Duration::from_secs(10));
    let st = exporter.stats();
    assert_eq!(
        st.span_events_dropped, total as u64,
        "at shutdown the rest are counted too: {st:?}"
    );
    assert_eq!(st.spans_exported, 0);
}
