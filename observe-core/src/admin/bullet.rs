//! `/observe/api/v1/bullet`: fire a tracer bullet at this service's own HTTP
//! listener (the `/observe` page's button), or say why it cannot be.
//!
//! The request goes to the address `serve!` registered ([`set_service_addr`]),
//! never elsewhere: the body names a method and a path, not a URL. It carries a
//! new sampled `traceparent`, the `observe.request_type=tracer_bullet` baggage
//! member and, when this service holds the key, a signed `observe-tracer-bullet`
//! token: exactly what the service's own policy needs to honour it, so a bullet
//! that is not honoured is refused (403) by the service, never served for real.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiRequest, ApiResponse, peer_of};
use crate::config::TracerBulletPolicy;
use crate::ids::{SpanId, TraceId};

/// How long a bullet may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The longest path accepted.
const MAX_PATH: usize = 2048;

static SERVICE_ADDR: Mutex<Option<SocketAddr>> = Mutex::new(None);

/// A bullet is being fired: one at a time (each holds a thread for up to
/// [`TIMEOUT`]; the handlers may run on the application's blocking pool).
static IN_FLIGHT: AtomicBool = AtomicBool::new(false);

/// Clears [`IN_FLIGHT`] when the bullet is done, also on a panic.
struct Firing;

impl Drop for Firing {
    fn drop(&mut self) {
        IN_FLIGHT.store(false, Ordering::Release);
    }
}

/// Tells the admin surface where this service's HTTP listener is, so that the
/// `/observe` page can fire tracer bullets at it. The axum adapter's `serve!` calls
/// it; call it yourself when you serve another way. A wildcard address
/// (`0.0.0.0`, `::`) is reached on loopback.
pub fn set_service_addr(addr: SocketAddr) {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    *SERVICE_ADDR.lock().unwrap_or_else(|e| e.into_inner()) = Some(addr);
}

fn service_addr() -> Option<SocketAddr> {
    *SERVICE_ADDR.lock().unwrap_or_else(|e| e.into_inner())
}

/// How a bullet would be sent, or why it cannot be.
enum Plan {
    /// To this address, signed when there is a key.
    Fire {
        addr: SocketAddr,
        key: Option<crate::config::TracerBulletKey>,
    },
    Disabled(String),
}

fn plan() -> Plan {
    let Some(config) = crate::pipeline::Pipeline::current().map(|p| p.settings.config.clone())
    else {
        return Plan::Disabled("observe is not running in this process".into());
    };
    let Some(addr) = service_addr() else {
        return Plan::Disabled(
            "the service's own HTTP address is unknown: observe_axum's serve! registers it \
             (admin::set_service_addr when serving another way)"
                .into(),
        );
    };
    let p = &config.propagation;
    let key = p.tracer_bullet_key.clone();
    match p.tracer_bullet_policy {
        TracerBulletPolicy::Deny => Plan::Disabled(
            "OBSERVE_TRACER_BULLET_POLICY is deny: this service honours no tracer bullet".into(),
        ),
        TracerBulletPolicy::Signed if key.is_none() => Plan::Disabled(
            "the signed policy needs OBSERVE_TRACER_BULLET_KEY to sign the bullet".into(),
        ),
        // Under `trusted` the caller must be trusted whatever it carries (a token
        // only makes a trusted caller's bullet a verified one).
        TracerBulletPolicy::Trusted if !p.trusted_callers.contains(Some(addr.ip())) => {
            Plan::Disabled(format!(
                "the trusted policy honours tracer bullets from trusted callers only, and \
                 {} (where the bullet comes from) is not one: add loopback to \
                 OBSERVE_TRUSTED_CALLERS",
                addr.ip()
            ))
        }
        _ => Plan::Fire { addr, key },
    }
}

/// `GET /observe/api/v1/bullet`: whether a bullet can be fired, and where.
pub(crate) fn status(_: &ApiRequest) -> ApiResponse {
    let body = match plan() {
        Plan::Fire { addr, key } => json!({
            "enabled": true,
            "target": format!("http://{addr}"),
            "signed": key.is_some(),
        }),
        Plan::Disabled(reason) => json!({ "enabled": false, "reason": reason }),
    };
    ApiResponse::json(StatusCode::OK, body)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fire {
    method: String,
    path: String,
}

/// `POST /observe/api/v1/bullet` `{"method":"GET","path":"/orders/7"}`: fires one
/// tracer bullet at this service and answers what came back (audited).
pub(crate) fn fire(request: &ApiRequest) -> ApiResponse {
    let fire: Fire = match request.json() {
        Ok(f) => f,
        Err(r) => return r,
    };
    let method = match fire.method.to_ascii_uppercase().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => {
            http::Method::from_bytes(m.as_bytes()).unwrap_or(http::Method::GET)
        }
        _ => {
            return ApiResponse::error(
                StatusCode::BAD_REQUEST,
                "method: one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
            );
        }
    };
    let path = fire.path;
    if !path.starts_with('/')
        || path.starts_with("//")
        || path.len() > MAX_PATH
        || http::uri::PathAndQuery::try_from(path.as_str()).is_err()
    {
        return ApiResponse::error(
            StatusCode::BAD_REQUEST,
            format!("path: an absolute path such as /orders/7 (at most {MAX_PATH} bytes)"),
        );
    }
    let (addr, key) = match plan() {
        Plan::Fire { addr, key } => (addr, key),
        Plan::Disabled(reason) => return ApiResponse::error(StatusCode::CONFLICT, reason),
    };
    if IN_FLIGHT.swap(true, Ordering::AcqRel) {
        return ApiResponse::error(
            StatusCode::TOO_MANY_REQUESTS,
            "a tracer bullet is in flight already: one at a time",
        )
        .header(http::header::RETRY_AFTER, "1");
    }
    let _firing = Firing;
    let trace = TraceId::random();
    let traceparent = format!("00-{trace}-{}-01", SpanId::random());
    let mut builder = http::Request::builder()
        .method(method.clone())
        .uri(format!("http://{addr}{path}"))
        .header("traceparent", traceparent)
        .header("baggage", "observe.request_type=tracer_bullet");
    if let Some(key) = &key {
        builder = builder.header(
            crate::propagation::OBSERVE_TRACER_BULLET,
            crate::tracer_bullet::sign_now(key, trace),
        );
    }
    let Ok(outgoing) = builder.body(http_body_util::Full::new(Bytes::new())) else {
        return ApiResponse::error(StatusCode::BAD_REQUEST, "the request could not be built");
    };
    let peer = peer_of(request);
    // Its query's values stay out of the log line, as everywhere observe shows one.
    let shown = match path.split_once('?') {
        Some((p, q)) => format!("{p}?{}", crate::config::redact_query(q)),
        None => path.clone(),
    };
    crate::controls::audit(
        "tracer_bullet",
        &Value::Null,
        &json!(format!("{method} {shown} (trace {trace})")),
        &peer,
    );
    let started = Instant::now();
    match send(outgoing) {
        Ok((status, refused)) => ApiResponse::json(
            StatusCode::OK,
            json!({
                "trace_id": trace.to_string(),
                "status": status,
                "refused": refused,
                "duration_s": started.elapsed().as_secs_f64(),
                "signed": key.is_some(),
            }),
        ),
        Err(e) => ApiResponse::error(
            StatusCode::BAD_GATEWAY,
            format!("the tracer bullet got no answer from http://{addr}: {e}"),
        ),
    }
}

/// Sends the bullet on a runtime of its own (handlers run on the blocking pool or
/// the admin listener's thread, never on an application's runtime), bounded by
/// [`TIMEOUT`]: its status and the refusal reason, if the service refused it.
fn send(
    request: http::Request<http_body_util::Full<Bytes>>,
) -> Result<(u16, Option<String>), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<Bytes>>();
    runtime.block_on(async move {
        let answer = tokio::time::timeout(TIMEOUT, client.request(request))
            .await
            .map_err(|_| format!("no answer within {TIMEOUT:?}"))?
            .map_err(|e| e.to_string())?;
        let refused = answer
            .headers()
            .get(crate::footprint::REFUSED_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok((answer.status().as_u16(), refused))
    })
}
