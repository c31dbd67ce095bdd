//! The admin routes: `/metrics` and the JSON APIs under `/observe/api/`, and the
//! checks of the admin listener.

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::StatusCode;
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
/// internals. Mounted yourself, it has no check of its own: put it behind your
/// authentication (`docs/axum.md` shows how). On the admin listener of
/// [`serve`](crate::serve()), requests whose `Host` is not the listener's address,
/// `localhost` or a loopback address are refused with 421 (a web page's script
/// cannot reach it through DNS rebinding).
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

/// The admin listener's router: [`admin_routes`] behind the `Host` check.
pub(crate) fn admin_listener_routes(local: SocketAddr) -> Router {
    admin_routes().layer(axum::middleware::from_fn(
        move |request: Request, next: Next| host_check(local, request, next),
    ))
}

/// Refuses (421 Misdirected Request) a request not addressed to the admin listener:
/// after a DNS rebinding, a browser sends the attacker's host name.
async fn host_check(local: SocketAddr, request: Request, next: Next) -> Response {
    let host = request
        .uri()
        .authority()
        .map(|a| a.host().to_owned())
        .or_else(|| {
            let value = request.headers().get(http::header::HOST)?.to_str().ok()?;
            let authority: http::uri::Authority = value.parse().ok()?;
            Some(authority.host().to_owned())
        });
    match host {
        Some(host) if host_allowed(&host, local) => next.run(request).await,
        _ => (
            StatusCode::MISDIRECTED_REQUEST,
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            "misdirected request: the observe admin listener answers requests addressed to \
             localhost, a loopback address or its own address only\n",
        )
            .into_response(),
    }
}

/// `localhost`, a loopback address, the listener's own address, or any address when
/// the listener is bound to all of them (`0.0.0.0`, `::`). Never another name: a
/// name is what DNS rebinding changes.
fn host_allowed(host: &str, local: SocketAddr) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match literal.parse::<IpAddr>() {
        Ok(ip) => {
            let ip = ip.to_canonical();
            ip.is_loopback() || ip == local.ip().to_canonical() || local.ip().is_unspecified()
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_names_and_addresses_pass() {
        let local: SocketAddr = "127.0.0.1:9464".parse().unwrap();
        for ok in [
            "localhost",
            "LOCALHOST",
            "localhost.",
            "127.0.0.1",
            "127.0.0.2",
            "[::1]",
        ] {
            assert!(host_allowed(ok, local), "{ok}");
        }
        for refused in [
            "evil.example",
            "localhost.evil.example",
            "10.0.0.1",
            "[fd00::1]",
            "",
        ] {
            assert!(!host_allowed(refused, local), "{refused}");
        }
        let wildcard: SocketAddr = "0.0.0.0:9464".parse().unwrap();
        assert!(host_allowed("10.0.0.1", wildcard));
        assert!(!host_allowed("metrics.internal", wildcard));
        let own: SocketAddr = "10.0.0.5:9464".parse().unwrap();
        assert!(host_allowed("10.0.0.5", own));
        assert!(!host_allowed("10.0.0.6", own));
    }
}
