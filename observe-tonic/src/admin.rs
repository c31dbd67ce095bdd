//! The admin listener: `/metrics` and the JSON APIs under `/observe/api/`, on a
//! small HTTP/1 server of its own (so that a tonic service needs no HTTP framework
//! for them). The same routes as `observe-axum`'s `admin_routes`.

use std::convert::Infallible;
use std::future::Future;
use std::io;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The Prometheus text exposition format's content type.
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";
const JSON: &str = "application/json";

/// Serves the admin routes on `listener` until `stop` completes:
///
/// | route | what |
/// | --- | --- |
/// | `GET /metrics` | every metric in the Prometheus text format |
/// | `GET /observe/api/metrics` | the same as a JSON snapshot (cumulative and rolling window, exemplars) |
/// | `GET /observe/api/histograms` | the histograms serialized losslessly, to merge across instances |
///
/// [`serve`](crate::serve()) runs it on `OBSERVE_ADMIN_ADDR`; call it yourself when
/// you build the server with [`layer()`](crate::layer()). It exposes the service's
/// internals: bind it to loopback or a private network.
///
/// ```
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// tokio::spawn(observe_tonic::serve_admin(admin, std::future::pending()));
/// # Ok(()) }
/// ```
///
/// # Errors
/// Accepting a connection failed.
pub async fn serve_admin(
    listener: TcpListener,
    stop: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, _) = tokio::select! {
            () = &mut stop => return Ok(()),
            accepted = listener.accept() => accepted?,
        };
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(route))
                .await;
        });
    }
}

async fn route(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Ok(status(StatusCode::METHOD_NOT_ALLOWED));
    }
    let (content_type, body) = match request.uri().path() {
        "/metrics" => (PROMETHEUS, observe_core::metrics::prometheus_text()),
        "/observe/api/metrics" => (JSON, observe_core::metrics::snapshot().to_json()),
        "/observe/api/histograms" => (JSON, observe_core::metrics::export_histograms().to_json()),
        _ => return Ok(status(StatusCode::NOT_FOUND)),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    Ok(response)
}

fn status(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}
