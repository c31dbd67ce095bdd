//! The health probes: `/observe/health/live`, `/observe/health/ready` and
//! `/observe/api/v1/health`.

use http::StatusCode;
use serde_json::json;

use super::{ApiRequest, ApiResponse};

/// `GET /observe/health/live`: the process serves.
pub(crate) fn live(_: &ApiRequest) -> ApiResponse {
    ApiResponse::json(StatusCode::OK, json!({ "status": "up", "checks": [] }))
        .header(http::header::CACHE_CONTROL, "no-store")
}

/// `GET /observe/health/ready` and `/observe/api/v1/health`: observe initialised
/// and every registered check up (200), else 503.
pub(crate) fn ready(_: &ApiRequest) -> ApiResponse {
    let report = crate::health::check();
    let mut checks: Vec<serde_json::Value> = Vec::with_capacity(report.checks.len() + 1);
    checks.push(json!({
        "name": "observe.init",
        "status": if report.initialised { "up" } else { "down" },
        "detail": (!report.initialised).then_some("observe is not initialised"),
        "duration_s": 0.0,
    }));
    if report.shutting_down {
        checks.push(json!({
            "name": "observe.shutdown",
            "status": "down",
            "detail": "shutting down: finishing in-flight requests",
            "duration_s": 0.0,
        }));
    }
    // The service's own recent error ratio: reported, always "up" (module docs of
    // `health`: never a reason to leave the load balancer).
    let ratio = if report.requests == 0 {
        0.0
    } else {
        report.failed_requests as f64 / report.requests as f64
    };
    checks.push(json!({
        "name": "observe.errors",
        "status": "up",
        "detail": format!(
            "{} of {} requests failed over the last {}s ({:.2} %); reported, not a readiness condition",
            report.failed_requests,
            report.requests,
            report.window.as_secs(),
            ratio * 100.0
        ),
        "duration_s": 0.0,
        "requests": report.requests,
        "failed_requests": report.failed_requests,
        "error_ratio": ratio,
        "window_s": report.window.as_secs_f64(),
    }));
    checks.extend(report.checks.iter().map(|c| {
        json!({
            "name": c.name,
            "status": if c.up { "up" } else { "down" },
            "detail": c.detail,
            "duration_s": c.duration.as_secs_f64(),
        })
    }));
    let (status, word) = if report.ready() {
        (StatusCode::OK, "up")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "down")
    };
    ApiResponse::json(status, json!({ "status": word, "checks": checks }))
        .header(http::header::CACHE_CONTROL, "no-store")
}
