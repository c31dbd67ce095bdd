//! The admin routes: `/metrics` and the JSON APIs under `/observe/api/`.

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use http::header::CONTENT_TYPE;

const JSON: &str = "application/json";

/// The admin [`Router`], for services that mount it themselves (behind their own
/// authentication, or on a listener of their choosing). [`serve`](crate::serve())
/// serves it on the admin listener (`OBSERVE_ADMIN_ADDR`, loopback by default).
///
/// | route | what |
/// | --- | --- |
/// | `GET /metrics` | every metric in the Prometheus text format, or OpenMetrics (with exemplars) when `Accept` asks for it: histograms with `le` buckets, `target_info`, process metrics |
/// | `GET /observe/api/metrics` | the same as a JSON snapshot (cumulative and rolling window, exemplars) |
/// | `GET /observe/api/histograms` | the histograms serialized losslessly, to merge across instances ([`observe_core::metrics::merge`]) |
///
/// Never merge it into the public router by accident: it exposes the service's
/// internals.
///
/// ```
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// tokio::spawn(async move { axum::serve(admin, observe_axum::admin_routes()).await });
/// # Ok(()) }
/// ```
pub fn admin_routes() -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/observe/api/metrics", get(metrics_json))
        .route("/observe/api/histograms", get(histograms))
}

async fn metrics(headers: http::HeaderMap) -> impl IntoResponse {
    let (content_type, body) =
        observe_core::metrics::prometheus::render(headers.get(http::header::ACCEPT));
    ([(CONTENT_TYPE, content_type)], body)
}

async fn metrics_json() -> impl IntoResponse {
    (
        [(CONTENT_TYPE, JSON)],
        observe_core::metrics::snapshot().to_json(),
    )
}

async fn histograms() -> impl IntoResponse {
    (
        [(CONTENT_TYPE, JSON)],
        observe_core::metrics::export_histograms().to_json(),
    )
}
