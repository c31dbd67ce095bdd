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
    /// The most bytes the span queue may hold (records waiting for export while
    /// the collector is away count here), besides `span_batch.max_queue_size`
    /// records. When either is reached, the oldest records are dropped.
    pub span_queue_bytes: usize,
    /// The same for the log queue.
    pub log_queue_bytes: usize,
}

/// The default byte budget of each export queue (spans, logs): 16 MiB.
pub const DEFAULT_QUEUE_BYTES: usize = 16 * 1024 * 1024;

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
