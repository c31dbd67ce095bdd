//! What the exporter needs: the configuration's resolved OTLP destinations and
//! batch schedules (`OTEL_EXPORTER_OTLP_*`, `OTEL_BSP_*`, `OTEL_BLRP_*`).

use std::time::Duration;

use crate::config::{BatchConfig, ExportConfig, OtlpExport};

/// Everything the exporter needs. A signal set to `None` is not exported.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSettings {
    /// Where spans go.
    pub traces: Option<OtlpExport>,
    /// Where log records go.
    pub logs: Option<OtlpExport>,
    /// Span batching.
    pub span_batch: BatchConfig,
    /// Log batching.
    pub log_batch: BatchConfig,
    /// The least time between two warnings about failing export.
    pub warn_interval: Duration,
    /// The most bytes the span queue may hold, the log events travelling with
    /// the spans included (sizes as the flight recorder counts them), besides
    /// `span_batch.max_queue_size` spans. When either bound is reached, the oldest
    /// records are dropped and counted. While the collector is away, this is where
    /// spans wait for it.
    pub span_queue_bytes: usize,
    /// The same for the log queue (and `log_batch.max_queue_size` records).
    pub log_queue_bytes: usize,
}

/// The default byte budget of each export queue (spans, logs): 8 MiB. With the
/// default record bounds (8192 spans, 2048 logs) it is reached only by large records (a span
/// queue of `#[traced]` spans holds 112 bytes a span; see `docs/security.md`).
pub const DEFAULT_QUEUE_BYTES: usize = 8 * 1024 * 1024;

impl Default for ExportSettings {
    fn default() -> Self {
        ExportSettings {
            traces: None,
            logs: None,
            span_batch: BatchConfig::SPANS,
            log_batch: BatchConfig::LOGS,
            warn_interval: Duration::from_secs(60),
            span_queue_bytes: DEFAULT_QUEUE_BYTES,
            log_queue_bytes: DEFAULT_QUEUE_BYTES,
        }
    }
}

impl ExportSettings {
    /// The settings of a resolved configuration.
    pub fn from_config(config: &ExportConfig) -> ExportSettings {
        ExportSettings {
            traces: config.traces.clone(),
            logs: config.logs.clone(),
            span_batch: config.span_batch,
            log_batch: config.log_batch,
            ..ExportSettings::default()
        }
    }
}

/// A batch schedule the exporter can run: at least one record per batch, batches no
/// larger than the queue, a non-zero delay.
pub(crate) fn normalized(b: BatchConfig) -> BatchConfig {
    let mut b = b;
    b.max_queue_size = b.max_queue_size.max(1);
    b.max_export_batch_size = b.max_export_batch_size.clamp(1, b.max_queue_size);
    b.schedule_delay = b.schedule_delay.max(Duration::from_millis(1));
    b
}
