//! The exporter thread is supervised: an exporter that panics (one of your own, given
//! to `Exporter::with_exporters`) costs the batch in hand, counted as failed and as a
//! panic, and the next batches are exported as usual.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use observe_core::config::ExportConfig;
use observe_core::export::Exporter;
use observe_core::span::Span;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::support::{Instance, fast_batches, resource};

/// Panics on its second export; keeps the names of what it exported.
#[derive(Debug, Clone, Default)]
struct Flaky {
    calls: Arc<AtomicUsize>,
    got: Arc<Mutex<Vec<String>>>,
}

impl SpanExporter for Flaky {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        if self.calls.fetch_add(1, Ordering::Relaxed) == 1 {
            panic!("an exporter bug");
        }
        let mut got = self.got.lock().unwrap();
        got.extend(batch.into_iter().map(|s| s.name.into_owned()));
        Ok(())
    }
}

impl LogExporter for Flaky {
    async fn export(&self, _: LogBatch<'_>) -> OTelSdkResult {
        Ok(())
    }
}

fn spans(prefix: &str, n: usize) {
    for i in 0..n {
        Span::new(format!("{prefix}-{i}")).end();
    }
}

#[test]
fn a_panicking_exporter_costs_its_batch_and_the_thread_goes_on() {
    let flaky = Flaky::default();
    let exporter = Exporter::with_exporters(
        ExportConfig {
            span_batch: fast_batches(),
            ..ExportConfig::default()
        },
        &resource(),
        Some(flaky.clone()),
        None::<Flaky>,
    )
    .unwrap();
    let mut inst = Instance::start(&exporter, 1.0, Duration::from_secs(10));
    spans("first", 10);
    assert!(inst.flush(Duration::from_secs(10)));
    spans("second", 10);
    assert!(
        !inst.flush(Duration::from_secs(10)),
        "the batch the exporter panicked on was lost: not delivered"
    );
    spans("third", 10);
    assert!(
        inst.flush(Duration::from_secs(10)),
        "the exporter thread still serves"
    );
    inst.shutdown();

    let st = exporter.stats();
    assert_eq!(st.panics, 1, "{st:?}");
    assert_eq!(st.spans_failed, 10, "the batch in hand: {st:?}");
    assert_eq!(st.spans_exported, 20, "{st:?}");
    let got = flaky.got.lock().unwrap().clone();
    assert_eq!(got.len(), 20);
    assert!(got.iter().all(|n| !n.starts_with("second")), "{got:?}");
    assert!(got.iter().any(|n| n.starts_with("third")), "{got:?}");
}
