//! `/observe/api/v1` (the index) and `/observe/api/v1/service` (who this is, how
//! long it has run, its controls and its flight recorder's retention).

use std::sync::OnceLock;
use std::time::{Instant, SystemTime};

use http::StatusCode;
use serde_json::{Value, json};

use super::{ApiRequest, ApiResponse, nano_string};

static STARTED: OnceLock<(Instant, SystemTime)> = OnceLock::new();

/// Marks the start (the admin listener calls it when `init` starts it; else the
/// first admin request does).
pub(crate) fn mark_started() {
    STARTED.get_or_init(|| (Instant::now(), SystemTime::now()));
}

fn service_json() -> Value {
    let Some(config) = crate::config::current() else {
        return Value::Null;
    };
    let s = &config.service;
    let instance = s
        .attributes
        .iter()
        .find(|(k, _)| k == "service.instance.id")
        .map_or_else(
            || format!("{}:{}", s.host, std::process::id()),
            |(_, v)| v.clone(),
        );
    json!({
        "name": s.name,
        "version": s.version,
        "instance": instance,
        "environment": s.environment,
        "host": s.host,
        "owner": s.owner,
        "team": s.team,
        "runbook": s.runbook,
        "repository": s.repository,
    })
}

/// `GET /observe/api/v1`: the version, the service and every endpoint.
pub(crate) fn index(_: &ApiRequest) -> ApiResponse {
    let mut endpoints: Vec<String> = Vec::new();
    for (method, path) in super::endpoints() {
        let line = format!("{method} {path}");
        if !endpoints.contains(&line) {
            endpoints.push(line);
        }
    }
    let mut paths: Vec<&str> = Vec::new();
    for (_, path) in super::endpoints() {
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    ApiResponse::json(
        StatusCode::OK,
        json!({
            "version": 1,
            "service": service_json(),
            "endpoints": paths,
            "routes": endpoints,
        }),
    )
}

/// `GET /observe/api/v1/service`.
pub(crate) fn service(_: &ApiRequest) -> ApiResponse {
    mark_started();
    let (started, started_wall) = STARTED
        .get()
        .copied()
        .unwrap_or((Instant::now(), SystemTime::now()));
    let recorder = crate::recorder::handle().map(|r| {
        let s = r.stats();
        json!({
            "budget_bytes": s.budget_bytes,
            "used_bytes": s.used_bytes,
            "covers_s": s.covers_ns as f64 / 1e9,
            "traces": s.traces,
            "spans": s.spans,
            "logs": s.logs,
            "oldest_unix_nano": s.oldest_unix_nanos.map(nano_string),
            "newest_unix_nano": s.newest_unix_nanos.map(nano_string),
            "evicted_spans": s.evicted_spans,
            "evicted_logs": s.evicted_logs,
            "promoted_traces": s.promoted_traces,
        })
    });
    let log_filter = crate::controls::log_filter()
        .ok()
        .map(|(current, _)| current);
    let admin = match super::listener_state() {
        super::ListenerState::Listening(addr) => json!({ "listening": addr.to_string() }),
        super::ListenerState::Failed { addr, error, .. } => {
            json!({ "failed": addr.to_string(), "error": error })
        }
        _ => json!({ "listening": Value::Null }),
    };
    ApiResponse::json(
        StatusCode::OK,
        json!({
            "service": service_json(),
            "started_unix_nano": nano_string(crate::export::convert::unix_nanos(started_wall)),
            "uptime_s": started.elapsed().as_secs_f64(),
            "sampling": crate::controls::sampling_json(),
            "log_filter": log_filter,
            "recorder": recorder,
            "admin": admin,
            "pid": std::process::id(),
        }),
    )
}
