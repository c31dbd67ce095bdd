//! The flight recorder: memory within its byte budget (measured by a counting
//! global allocator, not by the recorder's own counters), tail promotion of failed
//! and slow traces with head sampling at 0, queries, and OTLP-JSON dumps decoded
//! with the proto types.

mod memory;
mod promotion;
mod queries;

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use observe_core::Observe;
use observe_core::sink::Sink;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// Tests that allocate freely take this lock shared; the memory test takes it
/// exclusively, so nothing else allocates while it measures.
pub(crate) static QUIET: RwLock<()> = RwLock::new(());

#[global_allocator]
static ALLOC: memory::Counting = memory::Counting;

/// An exporter that keeps what it is given (an in-process receiver).
#[derive(Debug, Clone, Default)]
pub(crate) struct Collect(pub(crate) Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Collect {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

pub(crate) fn start(ratio: f64, sinks: Vec<Box<dyn Sink>>) -> Observe {
    observe_core::testing::instance(ratio, sinks, Duration::from_secs(5)).expect("instance")
}
