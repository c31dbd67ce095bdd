//! Latency per route, RPC method, function and callee from the HDR histograms,
//! and one key's percentile distribution.

use http::StatusCode;
use serde_json::{Value, json};

use super::{ApiRequest, ApiResponse, nano_string, seconds};
use crate::metrics::ExemplarKind;
use crate::metrics::latency::{LatencyRow, LatencyWindow, latency_rows, percentile_points};

fn window(request: &ApiRequest) -> Result<(LatencyWindow, &'static str), ApiResponse> {
    match request.query_value("window").unwrap_or("rolling") {
        "rolling" => Ok((LatencyWindow::Rolling, "rolling")),
        "total" => Ok((LatencyWindow::Total, "total")),
        other => Err(ApiResponse::error(
            StatusCode::BAD_REQUEST,
            format!("window={other:?} is not one of rolling, total"),
        )),
    }
}

fn quantile(row: &LatencyRow, q: f64) -> Value {
    if row.histogram.is_empty() {
        Value::Null
    } else {
        json!(seconds(row.histogram.value_at_quantile(q)))
    }
}

/// `GET /observe/api/v1/latency?window=rolling|total`.
pub(crate) fn rows(request: &ApiRequest) -> ApiResponse {
    let (view, name) = match window(request) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let (window_len, rows) = latency_rows(crate::metrics::global(), view, None);
    let rows: Vec<Value> = rows
        .iter()
        .map(|row| {
            let h = &row.histogram;
            json!({
                "kind": row.kind,
                "metric": row.metric,
                "key": row.key,
                "labels": row.labels,
                "request_type": row.request_type,
                "count": h.len(),
                "errors": row.errors,
                "p50_s": quantile(row, 0.5),
                "p90_s": quantile(row, 0.9),
                "p99_s": quantile(row, 0.99),
                "p999_s": quantile(row, 0.999),
                "p9999_s": quantile(row, 0.9999),
                "p99999_s": quantile(row, 0.99999),
                "max_s": if h.is_empty() { Value::Null } else { json!(seconds(h.max())) },
                "mean_s": if h.is_empty() { Value::Null } else { json!(h.mean() / 1e9) },
                "exemplars": row.exemplars.iter().map(|e| json!({
                    "trace_id": e.trace_id.to_string(),
                    // Metrics keep the trace only; the trace's spans are in the
                    // flight recorder (`/observe/api/v1/traces/{trace_id}`).
                    "span_id": Value::Null,
                    "value_s": seconds(e.value),
                    "kind": match e.kind {
                        ExemplarKind::Slowest => "slow",
                        ExemplarKind::Error => "failed",
                    },
                    "time_unix_nano": nano_string(e.unix_nanos),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    ApiResponse::json(
        StatusCode::OK,
        json!({
            "window": name,
            "window_s": window_len.as_secs_f64(),
            "rows": rows,
        }),
    )
}

/// `GET /observe/api/v1/latency/distribution?metric=M&key=K&request_type=T&window=…`.
pub(crate) fn distribution(request: &ApiRequest) -> ApiResponse {
    let (view, name) = match window(request) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let (Some(metric), Some(key)) = (request.query_value("metric"), request.query_value("key"))
    else {
        return ApiResponse::error(
            StatusCode::BAD_REQUEST,
            "give metric and key (as in a row of /observe/api/v1/latency), \
             e.g. ?metric=http.server.request.duration&key=GET%20/orders/%7Bid%7D",
        );
    };
    let request_type = request.query_value("request_type").unwrap_or("standard");
    let (_, rows) = latency_rows(
        crate::metrics::global(),
        view,
        Some((metric, key, request_type)),
    );
    let Some(row) = rows.first() else {
        return ApiResponse::error(
            StatusCode::NOT_FOUND,
            format!(
                "no latency recorded for metric {metric:?}, key {key:?}, request type \
                 {request_type:?}: /observe/api/v1/latency lists the keys"
            ),
        );
    };
    let points: Vec<Value> = percentile_points(&row.histogram)
        .into_iter()
        .map(|(percentile, value)| json!({ "percentile": percentile, "value_s": seconds(value) }))
        .collect();
    ApiResponse::json(
        StatusCode::OK,
        json!({
            "metric": row.metric,
            "key": row.key,
            "request_type": row.request_type,
            "window": name,
            "count": row.histogram.len(),
            "points": points,
        }),
    )
}
