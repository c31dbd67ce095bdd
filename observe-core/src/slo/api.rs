//! The JSON of `/observe/api/v1/slos`, `/alerts` and `/dependencies`.

use serde_json::{Value, json};

/// `{"slos": [...]}`: every SLO's state at the last evaluation (empty without
/// SLOs).
pub fn slos_json() -> Value {
    let slos = super::current().map(|e| e.status()).unwrap_or_default();
    json!({ "slos": slos })
}

/// `{"alerts": [...]}`, newest first.
pub fn alerts_json() -> Value {
    let alerts = super::current().map(|e| e.alerts()).unwrap_or_default();
    json!({ "alerts": alerts })
}

/// The dependency view of this service.
pub fn dependencies_json() -> Value {
    let own = crate::config::current()
        .map(|c| c.service.name.clone())
        .unwrap_or_default();
    let recorder = crate::recorder::handle();
    let view = crate::dependencies::view(&own, crate::metrics::global(), recorder.as_ref());
    serde_json::to_value(view).unwrap_or(Value::Null)
}

/// `GET /observe/api/v1/slos`.
#[cfg(feature = "admin")]
pub(crate) fn slos(_: &crate::admin::ApiRequest) -> crate::admin::ApiResponse {
    crate::admin::ApiResponse::json(http::StatusCode::OK, slos_json())
}

/// `GET /observe/api/v1/alerts`.
#[cfg(feature = "admin")]
pub(crate) fn alerts(_: &crate::admin::ApiRequest) -> crate::admin::ApiResponse {
    crate::admin::ApiResponse::json(http::StatusCode::OK, alerts_json())
}

/// `GET /observe/api/v1/dependencies`.
#[cfg(feature = "admin")]
pub(crate) fn dependencies(_: &crate::admin::ApiRequest) -> crate::admin::ApiResponse {
    crate::admin::ApiResponse::json(http::StatusCode::OK, dependencies_json())
}
