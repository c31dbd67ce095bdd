//! `/metrics` and the metrics as JSON.

use http::StatusCode;

use super::{ApiRequest, ApiResponse};

/// `GET /metrics`: Prometheus text, or OpenMetrics (with exemplars) when `Accept`
/// asks for it.
pub(crate) fn prometheus(request: &ApiRequest) -> ApiResponse {
    let (content_type, body) =
        crate::metrics::prometheus::render(request.headers().get(http::header::ACCEPT));
    ApiResponse::body(StatusCode::OK, content_type, body)
}

/// `GET /observe/api/v1/metrics`: the JSON snapshot (cumulative and rolling window,
/// exemplars).
pub(crate) fn snapshot(_: &ApiRequest) -> ApiResponse {
    ApiResponse::body(
        StatusCode::OK,
        "application/json",
        crate::metrics::snapshot().to_json(),
    )
}

/// `GET /observe/api/v1/histograms`: the histograms serialized losslessly, to merge
/// across instances.
pub(crate) fn histograms(_: &ApiRequest) -> ApiResponse {
    ApiResponse::body(
        StatusCode::OK,
        "application/json",
        crate::metrics::export_histograms().to_json(),
    )
}
