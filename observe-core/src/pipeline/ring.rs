//! Per-thread single-producer rings (`rtrb`), one per pipeline a thread writes to.

use std::cell::RefCell;

use super::{Pipeline, Record};

/// The background side of one thread's ring.
pub(crate) struct Consumer {
    pub(crate) inner: rtrb::Consumer<Record>,
}

struct Local {
    pipeline: &'static Pipeline,
    producer: rtrb::Producer<Record>,
    /// Pushes since the last fill check.
    since_check: u32,
}

thread_local! {
    static RINGS: RefCell<Vec<Local>> = const { RefCell::new(Vec::new()) };
}

/// How often (in pushes) a producer looks at how full its ring is.
const CHECK_EVERY: u32 = 64;

/// Moves `record` into this thread's ring for `pipeline`. On error (ring full,
/// thread shutting down, pipeline stopped) the record is dropped; the caller counts.
#[inline]
pub(super) fn push(pipeline: &'static Pipeline, record: Record) -> Result<(), ()> {
    if !pipeline.is_running() {
        return Err(());
    }
    let mut record = Some(record);
    let pushed = RINGS.try_with(|rings| {
        let Ok(mut rings) = rings.try_borrow_mut() else {
            return Err(());
        };
        let idx = match rings
            .iter()
            .position(|l| std::ptr::eq(l.pipeline, pipeline))
        {
            Some(i) => i,
            None => {
                // Forget rings of pipelines that were shut down (tests start many).
                rings.retain(|l| l.pipeline.is_running());
                let (producer, consumer) = rtrb::RingBuffer::new(pipeline.settings.ring_capacity);
                pipeline.register(Consumer { inner: consumer });
                rings.push(Local {
                    pipeline,
                    producer,
                    since_check: 0,
                });
                rings.len() - 1
            }
        };
        let local = &mut rings[idx];
        let r = record.take().ok_or(())?;
        local.producer.push(r).map_err(|_| ())?;
        local.since_check += 1;
        if local.since_check >= CHECK_EVERY {
            local.since_check = 0;
            if local.producer.slots() < pipeline.settings.ring_capacity / 2 {
                pipeline.wake();
            }
        }
        Ok(())
    });
    pushed.unwrap_or(Err(()))
}
