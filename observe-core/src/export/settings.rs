//! The batch schedules the exporter runs, from the configuration's
//! (`OTEL_BSP_*`, `OTEL_BLRP_*`).

use std::time::Duration;

use crate::config::BatchConfig;

/// A batch schedule the exporter can run: at least one record per batch, batches no
/// larger than the queue, a non-zero delay.
pub(crate) fn normalized(b: BatchConfig) -> BatchConfig {
    let mut b = b;
    b.max_queue_size = b.max_queue_size.max(1);
    b.max_export_batch_size = b.max_export_batch_size.clamp(1, b.max_queue_size);
    b.schedule_delay = b.schedule_delay.max(Duration::from_millis(1));
    b
}
