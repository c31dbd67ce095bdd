//! The SLO, alert and dependency endpoints (their JSON is built by
//! [`crate::slo::api`]).

use super::{ApiRequest, ApiResponse};
use crate::slo::api;

/// `GET /observe/api/v1/slos`.
pub(crate) fn slos(_: &ApiRequest) -> ApiResponse {
    ApiResponse::json(http::StatusCode::OK, api::slos_json())
}

/// `GET /observe/api/v1/alerts`.
pub(crate) fn alerts(_: &ApiRequest) -> ApiResponse {
    ApiResponse::json(http::StatusCode::OK, api::alerts_json())
}

/// `GET /observe/api/v1/dependencies`.
pub(crate) fn dependencies(_: &ApiRequest) -> ApiResponse {
    ApiResponse::json(http::StatusCode::OK, api::dependencies_json())
}
