//! A worker without HTTP adopting observe: `observe-core` is its only observe
//! dependency. `observe_core::init!()` is the first line of `main`; each job runs
//! in a root span with its own request context, so every line it logs carries the
//! job's trace id and request id.
//!
//! Run with: `cargo run -p adopt-worker`.

use observe_core::FutureExt as _;
use observe_core::context::RequestContext;
use observe_core::span::{Span, SpanKind};
use observe_core::{traced, tracing};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _observe = observe_core::init!()?; // keep it: dropping it flushes
    tracing::info!(jobs = 3, "worker starting");
    for job in 1..=3u32 {
        let cx = RequestContext::builder()
            .request_id(format!("job-{job}"))
            .build();
        let span = Span::builder("process job")
            .kind(SpanKind::Consumer)
            .context(cx)
            .start();
        if let Err(e) = process(job).in_span(span).await {
            tracing::error!(error = %e, job, "job failed");
        }
    }
    tracing::info!("worker done");
    Ok(())
}

#[traced]
async fn process(job: u32) -> Result<(), String> {
    tracing::info!(job, "processing job");
    if job == 2 {
        return Err(format!("job {job} has no items"));
    }
    Ok(())
}
