//! The admin routes: `/metrics`, the JSON API under `/observe/api/` and the health
//! probes, served by observe-core's router (`observe_core::admin`).

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use observe_core::admin::MAX_BODY_BYTES;

/// The admin [`Router`], for services that mount it themselves (behind their own
/// authentication, or on a listener of their choosing). [`serve`](crate::serve())
/// serves the same routes on the admin listener (`OBSERVE_ADMIN_ADDR`, loopback by
/// default).
///
/// Every route of `observe_core::admin` (`docs/observe-api.md` lists them), among
/// them:
///
/// | route | what |
/// | --- | --- |
/// | `GET /metrics` | every metric in the Prometheus text format, or OpenMetrics (with exemplars) when `Accept` asks for it: histograms with `le` buckets, `target_info`, process metrics |
/// | `GET /observe/api/v1/metrics` | the same as a JSON snapshot (cumulative and rolling window, exemplars); also at `/observe/api/metrics` |
/// | `GET /observe/api/v1/histograms` | the histograms serialized losslessly, to merge across instances ([`observe_core::metrics::merge`]); also at `/observe/api/histograms` |
///
/// Request bodies over [`MAX_BODY_BYTES`] (64 KiB) are refused (413).
///
/// Never merge it into the public router by accident: it exposes the service's
/// internals, and its `POST` endpoints change sampling and log levels. Mounted
/// yourself, it has no check of its own: put it behind your authentication
/// (`docs/axum.md` shows how). The admin listener of [`serve`](crate::serve())
/// refuses (421) requests whose `Host` is not the listener's address, `localhost` or
/// a loopback address (a web page's script cannot reach it through DNS rebinding).
///
/// ```
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// tokio::spawn(async move { axum::serve(admin, observe_axum::admin_routes()).await });
/// # Ok(()) }
/// ```
pub fn admin_routes() -> Router {
    let mut router = Router::new();
    let mut seen: Vec<&str> = Vec::new();
    for (_, path) in observe_core::admin::endpoints() {
        if seen.contains(&path) {
            continue;
        }
        seen.push(path);
        router = router.route(path, any(admin));
    }
    router
}

async fn admin(request: Request) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            return (
                http::StatusCode::PAYLOAD_TOO_LARGE,
                [(http::header::CONTENT_TYPE, "application/json")],
                format!(
                    r#"{{"error":"the admin API accepts request bodies of at most {MAX_BODY_BYTES} bytes"}}"#
                ),
            )
                .into_response();
        }
    };
    let request = http::Request::from_parts(parts, body);
    observe_core::admin::handle(request, peer)
        .await
        .map(axum::body::Body::from)
}
