//! `/observe/api/v1/sampling` and `/observe/api/v1/log-level`: read with `GET`,
//! change with `POST` (audited, see [`crate::controls`]).

use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::{ApiRequest, ApiResponse, peer_of};
use crate::controls::{self, Change, ControlError};

fn refused(e: &ControlError) -> ApiResponse {
    let status = match e {
        ControlError::NotRunning => StatusCode::SERVICE_UNAVAILABLE,
        ControlError::NoFilter => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiResponse::error(status, e.to_string())
}

fn changed<T: serde::Serialize>(change: Result<Change<T>, ControlError>) -> ApiResponse {
    match change {
        Ok(c) => ApiResponse::json(
            StatusCode::OK,
            json!({ "old": c.old, "new": c.new, "audit": c.audit }),
        ),
        Err(e) => refused(&e),
    }
}

/// `GET /observe/api/v1/sampling`.
pub(crate) fn sampling(_: &ApiRequest) -> ApiResponse {
    match controls::sampling_json() {
        Some(v) => ApiResponse::json(StatusCode::OK, v),
        None => refused(&ControlError::NotRunning),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SamplingChange {
    ratio: Option<f64>,
    key: Option<String>,
    #[serde(default)]
    clear: bool,
    #[serde(default)]
    reset: bool,
}

/// `POST /observe/api/v1/sampling`: `{"ratio":0.5}`, `{"key":"GET /x","ratio":1.0}`,
/// `{"key":"GET /x","clear":true}` or `{"reset":true}`.
pub(crate) fn set_sampling(request: &ApiRequest) -> ApiResponse {
    let change: SamplingChange = match request.json() {
        Ok(c) => c,
        Err(r) => return r,
    };
    let peer = peer_of(request);
    match change {
        SamplingChange {
            reset: true,
            ratio: None,
            key: None,
            clear: false,
        } => changed(controls::reset_sampling_by(&peer)),
        SamplingChange {
            key: Some(key),
            clear: true,
            ratio: None,
            reset: false,
        } => changed(controls::clear_sampling_ratio_for_by(&key, &peer)),
        SamplingChange {
            key: Some(key),
            ratio: Some(ratio),
            clear: false,
            reset: false,
        } => changed(controls::set_sampling_ratio_for_by(&key, ratio, &peer)),
        SamplingChange {
            key: None,
            ratio: Some(ratio),
            clear: false,
            reset: false,
        } => changed(controls::set_sampling_ratio_by(ratio, &peer)),
        _ => ApiResponse::error(
            StatusCode::BAD_REQUEST,
            "send one of {\"ratio\":0.5}, {\"key\":\"GET /x\",\"ratio\":1.0}, \
             {\"key\":\"GET /x\",\"clear\":true} or {\"reset\":true}",
        ),
    }
}

/// `GET /observe/api/v1/log-level`.
pub(crate) fn log_level(_: &ApiRequest) -> ApiResponse {
    match controls::log_filter() {
        Ok((filter, default)) => ApiResponse::json(
            StatusCode::OK,
            json!({ "filter": filter, "default": default }),
        ),
        Err(e) => refused(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilterChange {
    filter: Option<String>,
    #[serde(default)]
    reset: bool,
}

/// `POST /observe/api/v1/log-level`: `{"filter":"info,my_crate=debug"}` or
/// `{"reset":true}`.
pub(crate) fn set_log_level(request: &ApiRequest) -> ApiResponse {
    let change: FilterChange = match request.json() {
        Ok(c) => c,
        Err(r) => return r,
    };
    let peer = peer_of(request);
    match change {
        FilterChange {
            filter: Some(filter),
            reset: false,
        } => changed(controls::set_log_filter_by(&filter, &peer)),
        FilterChange {
            filter: None,
            reset: true,
        } => changed(controls::reset_log_filter_by(&peer)),
        _ => ApiResponse::error(
            StatusCode::BAD_REQUEST,
            "send {\"filter\":\"info,my_crate=debug\"} or {\"reset\":true}",
        ),
    }
}
