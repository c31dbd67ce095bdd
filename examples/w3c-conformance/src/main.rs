//! The test service of the W3C Trace Context test suite
//! (<https://github.com/w3c/trace-context/tree/main/test>), built on observe-axum.
//!
//! Run with: `cargo run -p w3c-conformance -- --addr 127.0.0.1:5000`, then from a
//! checkout of the suite: `python test.py http://127.0.0.1:5000/test`.
//!
//! The suite POSTs to `/test` a JSON array of `{"url": ..., "arguments": ...}`; for
//! each entry the service POSTs `arguments` as JSON to `url`, propagating the
//! trace context it received. The propagation is entirely observe's: the server
//! layer extracts `traceparent`/`tracestate` (W3C rules for invalid and duplicated
//! headers, at the suite's strict level 2: an invalid `tracestate` is discarded
//! whole), the request's span continues the trace, and the reqwest middleware
//! writes `traceparent` (with the client span's id) and `tracestate` on the
//! outgoing call.
//!
//! The suite's harness is an arbitrary caller, and the service says explicitly
//! that it continues the trace context of any caller (`inbound_context(Continue)`, also the default),
//! so its behaviour does not depend on `OBSERVE_INBOUND_CONTEXT` or on how trust
//! defaults change.
//!
//! `tests/suite.rs` plays every rule of the suite's `test.py` against this service
//! (the suite itself cannot be fetched here).

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use observe_axum::client::ObserveMiddleware;
use observe_axum::observe_core::config::InboundContext;
use reqwest_middleware::ClientWithMiddleware;

#[derive(Debug, serde::Deserialize)]
struct Case {
    url: String,
    #[serde(default)]
    arguments: serde_json::Value,
}

async fn test(
    axum::extract::State(http): axum::extract::State<ClientWithMiddleware>,
    Json(cases): Json<Vec<Case>>,
) -> Result<&'static str, (StatusCode, String)> {
    for case in cases {
        http.post(&case.url)
            .json(&case.arguments)
            .send()
            .await
            .map_err(|e| (StatusCode::BAD_GATEWAY, format!("{}: {e}", case.url)))?;
    }
    Ok("ok")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let addr = match args.iter().position(|a| a == "--addr") {
        Some(i) => args.get(i + 1).ok_or("--addr needs an address")?.clone(),
        None => "127.0.0.1:5000".to_owned(),
    };
    let http =
        reqwest_middleware::ClientBuilder::new(reqwest::Client::builder().no_proxy().build()?)
            .with(ObserveMiddleware::new())
            .build();
    let app = Router::new().route("/test", post(test)).with_state(http);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    observe_axum::serve!(listener, app)
        .layer(observe_axum::layer().inbound_context(InboundContext::Continue))
        .await?;
    Ok(())
}
