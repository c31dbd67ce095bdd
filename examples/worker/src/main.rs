//! A batch worker without HTTP, instrumented with observe.
//!
//! Run with: `cargo run -p worker` (JSON lines on stdout; `OBSERVE_LOG_FORMAT=pretty`
//! for a readable form).
//!
//! Each job is one unit of work with its own request context (request id, user,
//! account): every log line written while it runs carries them, on whatever thread
//! and in whatever task the line is written, including lines from the `inventory`
//! library, which only knows `tracing`. Spawned tasks carry the context with
//! `observe_core::spawn`; a bare `tokio::spawn` would start without it (clippy
//! flags it here: `examples/clippy.toml`).

use std::time::Duration;

use observe_core::FutureExt as _;
use observe_core::context::{self, RequestContext};
use observe_core::span::{Span, SpanKind};

struct Job {
    id: u32,
    user: &'static str,
    account: &'static str,
    sku: &'static str,
    quantity: u32,
}

const JOBS: [Job; 3] = [
    Job {
        id: 1,
        user: "u-ada",
        account: "acme",
        sku: "A-1",
        quantity: 2,
    },
    Job {
        id: 2,
        user: "u-bob",
        account: "globex",
        sku: "B-7",
        quantity: 9,
    },
    Job {
        id: 3,
        user: "u-cyd",
        account: "acme",
        sku: "C-3",
        quantity: 1,
    },
];

async fn process(job: &Job) -> Result<(), String> {
    context::set_user(job.user);
    context::set_account(job.account);
    tracing::info!(job.id = job.id, "job started");

    // A step that runs in its own task: the context goes with it.
    let sku = job.sku;
    let quantity = job.quantity;
    let checked = observe_core::spawn(async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        tracing::info!(sku, "price checked in a spawned task");
        quantity * 250
    })
    .await
    .map_err(|e| e.to_string())?;

    // Nested spans, and a library that only uses tracing.
    let result = async {
        let left = Span::new("reserve stock").in_scope(|| inventory::reserve(sku, quantity, 5))?;
        tracing::info!(left, cents = checked, "stock reserved");
        Ok::<_, String>(())
    }
    .in_span(Span::new("fulfil"))
    .await;

    if let Err(e) = &result {
        observe_core::span::set_error(e.clone());
        tracing::error!(error = %e, "job failed");
    } else {
        tracing::info!("job done");
    }
    result
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let observe = observe_core::Observe::builder()
        .service_info(observe_core::service_info!())
        .init()?;

    let mut handles = Vec::new();
    for job in &JOBS {
        // One context per unit of work: a root span with its own request context.
        let cx = RequestContext::builder()
            .request_id(format!("job-{}", job.id))
            .build();
        let span = Span::builder("process job")
            .kind(SpanKind::Consumer)
            .context(cx)
            .attribute("job.id", job.id)
            .start();
        handles.push(observe_core::spawn(process(job).in_span(span)));
    }
    let mut failed = 0;
    for h in handles {
        if h.await?.is_err() {
            failed += 1;
        }
    }
    tracing::info!(failed, "batch finished");
    drop(observe); // flushes every line before exit
    Ok(())
}
