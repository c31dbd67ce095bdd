//! The admin surface: `/metrics`, the versioned JSON API under `/observe/api/v1/`
//! and the health probes, served by one framework-free router.
//!
//! [`handle`] answers one request; the core's own admin listener (which
//! [`init`](crate::init()) starts on `OBSERVE_ADMIN_ADDR`), observe-axum's
//! `admin_routes()` and observe-tonic's admin server all go through it, so every
//! surface answers the same routes the same way. The routes are one table,
//! `routes.rs` (one line per endpoint, handler type [`Handler`]).
//!
//! Rules every route follows:
//! - JSON answers carry `Content-Type: application/json`; errors are
//!   `{"error": "<sentence>"}` with a 4xx or 5xx status.
//! - Endpoints that change something accept `POST` only (`GET` on them is 405 unless
//!   the same path also has a read-only `GET`), with a JSON body of at most
//!   [`MAX_BODY_BYTES`].
//! - A change a browser reports as coming from another origin (`Sec-Fetch-Site`,
//!   else `Origin`) is refused (403): a page on another site cannot use the
//!   user's browser to change sampling or log levels (`origin.rs`).
//! - A handler that panics answers 500 and is counted
//!   (`observe.admin.handler_panics`); it never takes the listener down.
//!
//! ```
//! # async fn run() {
//! let request = http::Request::get("/observe/api/v1/metrics")
//!     .body(bytes::Bytes::new())
//!     .unwrap();
//! let response = observe_core::admin::handle(request, None).await;
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["content-type"], "application/json");
//! # }
//! ```

mod bullet;
mod controls;
mod health;
mod host;
mod latency;
pub(crate) mod listener;
mod metrics;
mod origin;
mod page;
mod request;
pub(crate) mod routes;
mod server;
mod service;
mod slo;
mod traces;

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;

use bytes::Bytes;
use http::{Method, Response, StatusCode};

pub use bullet::set_service_addr;
pub use host::{check_host, host_allowed};
pub use listener::{ListenerState, listener_state};
pub use request::{ApiRequest, ApiResponse, MAX_ERROR_LEN};
pub use server::serve;

/// The largest request body an admin endpoint accepts (64 KiB): a larger one is
/// answered 413 without reaching a handler. Adapters stop reading a body past it.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A route's handler: synchronous, given the parsed request, answering a response.
/// It runs on the admin listener's thread (or the adapter's task): keep it short.
pub type Handler = fn(&ApiRequest) -> ApiResponse;

/// Every endpoint as `(method, path pattern)`, in the order of the route table
/// (a `{name}` segment matches any one path segment, as in axum). The adapters
/// register these paths.
pub fn endpoints() -> impl Iterator<Item = (&'static str, &'static str)> {
    routes::ROUTES
        .iter()
        .map(|&(method, path, _)| (method, path))
}

/// Answers one admin request: `/metrics`, `/observe/api/...` and `/observe/health/...`
/// (404 for anything else). `peer` is the client's address when known (it goes into
/// audit lines). The body must already be collected; a body over
/// [`MAX_BODY_BYTES`] is refused (413).
///
/// It checks nothing about who asks: serve it on a loopback listener (the admin
/// listener does, and applies [`check_host`]) or behind your own authentication.
///
/// Handlers are synchronous and some take a while (a dump copies the flight
/// recorder): within a Tokio runtime they run on its blocking pool, so an
/// application runtime that serves these routes is never held up.
pub async fn handle(request: http::Request<Bytes>, peer: Option<SocketAddr>) -> Response<Bytes> {
    off_the_runtime(move || dispatch(request, peer)).await
}

async fn off_the_runtime(f: impl FnOnce() -> Response<Bytes> + Send + 'static) -> Response<Bytes> {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    match tokio::task::spawn_blocking(f).await {
        Ok(response) => response,
        // `call` catches a handler's panic; this is the router's own, or a
        // runtime shutting down.
        Err(_) => ApiResponse::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the admin request could not be answered (the runtime is shutting down)",
        )
        .into_http(),
    }
}

/// Answers a request that arrived on an admin listener bound to `local`: refuses a
/// foreign `Host` (421, see [`check_host`]), then [`handle`]s it.
pub async fn handle_on_listener(
    request: http::Request<Bytes>,
    peer: Option<SocketAddr>,
    local: SocketAddr,
) -> Response<Bytes> {
    if let Some(refused) = check_host(&request, local) {
        return refused;
    }
    off_the_runtime(move || dispatch(request, peer)).await
}

fn dispatch(request: http::Request<Bytes>, peer: Option<SocketAddr>) -> Response<Bytes> {
    let (parts, body) = request.into_parts();
    let head = parts.method == Method::HEAD;
    let method = if head {
        Method::GET
    } else {
        parts.method.clone()
    };
    let path = parts.uri.path();
    if body.len() > MAX_BODY_BYTES {
        return ApiResponse::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is {} bytes; the admin API accepts at most {MAX_BODY_BYTES}",
                body.len()
            ),
        )
        .into_http();
    }
    if let Some(refused) = origin::check(&parts) {
        return refused.into_http();
    }
    let response = match routes::find(method.as_str(), path) {
        routes::Found::Route(handler, params) => {
            let request = ApiRequest::from_parts(method, &parts, params, body, peer);
            call(handler, &request)
        }
        routes::Found::WrongMethod(allowed) => ApiResponse::error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{path} accepts {}", allowed.join(", ")),
        )
        .header(http::header::ALLOW, allowed.join(", ")),
        routes::Found::Nothing => ApiResponse::error(
            StatusCode::NOT_FOUND,
            format!("no admin endpoint at {path}; GET /observe/api/v1 lists them"),
        ),
    };
    let mut response = response.into_http();
    if head {
        *response.body_mut() = Bytes::new();
    }
    response
}

/// Calls `handler`, turning a panic into a 500 answer (counted).
fn call(handler: Handler, request: &ApiRequest) -> ApiResponse {
    match std::panic::catch_unwind(AssertUnwindSafe(|| handler(request))) {
        Ok(response) => response,
        Err(_) => {
            handler_panics().inc();
            ApiResponse::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "the handler of {} {} failed (a panic, counted in observe.admin.handler_panics)",
                    request.method(),
                    request.path()
                ),
            )
        }
    }
}

/// Who sent `request`, for audit lines.
pub(crate) fn peer_of(request: &ApiRequest) -> String {
    request
        .peer()
        .map_or_else(|| "unknown".to_owned(), |p| p.to_string())
}

/// A `*_unix_nano` value: a string, since it exceeds 2^53.
pub(crate) fn nano_string(nanos: u64) -> String {
    nanos.to_string()
}

/// Nanoseconds as seconds (`*_s`).
#[allow(clippy::cast_precision_loss)]
pub(crate) fn seconds(nanos: u64) -> f64 {
    nanos as f64 / 1e9
}

fn handler_panics() -> &'static crate::metrics::Counter {
    static METRIC: std::sync::OnceLock<crate::metrics::Counter> = std::sync::OnceLock::new();
    METRIC.get_or_init(|| crate::metrics::counter("observe.admin.handler_panics", &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panics(_: &ApiRequest) -> ApiResponse {
        panic!("a handler bug")
    }

    #[test]
    fn a_panicking_handler_answers_500_and_is_counted() {
        let before = handler_panics().value();
        let response = call(panics, &ApiRequest::new(Method::GET, "/x", Bytes::new()));
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            response.json_value()["error"]
                .as_str()
                .unwrap()
                .contains("GET /x")
        );
        assert_eq!(handler_panics().value(), before + 1);
    }
}
