//! The admin HTTP server: HTTP/1 on hyper, [`handle_on_listener`] for every request.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::{ApiResponse, MAX_BODY_BYTES, handle_on_listener};

/// Connections served at once; more wait in the kernel's backlog.
pub(crate) const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send a request's head.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the admin routes on `listener` until `stop` completes. It logs where it
/// listens (INFO, target `observe::admin`) and warns when that is not a loopback
/// address (the admin surface shows the service's internals). HTTP/1, requests
/// whose `Host` is foreign refused (421, [`check_host`](super::check_host)), bodies
/// over [`MAX_BODY_BYTES`] refused (413), at most 64 connections at once, 10 s to
/// send a request's head. Call it within a Tokio runtime (it spawns a task per
/// connection).
///
/// ```
/// # async fn run() -> std::io::Result<()> {
/// let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// tokio::spawn(observe_core::admin::serve(admin, std::future::pending()));
/// # Ok(()) }
/// ```
///
/// # Errors
/// The listener's own address cannot be read.
pub async fn serve(listener: TcpListener, stop: impl Future<Output = ()> + Send) -> io::Result<()> {
    announce(listener.local_addr()?);
    serve_quietly(listener, stop).await
}

/// [`serve`] without the start-up lines (the core's listener logs them before its
/// thread starts).
pub(crate) async fn serve_quietly(
    listener: TcpListener,
    stop: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut stop = std::pin::pin!(stop);
    loop {
        let permit = tokio::select! {
            () = &mut stop => return Ok(()),
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return Ok(()),
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut stop => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before accept:
                    // wait a little rather than spin, and go on.
                    tracing::debug!(target: "observe::admin", "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        tokio::spawn(async move {
            let _permit = permit;
            let service = service_fn(move |request| respond(request, peer, local));
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

pub(crate) fn announce(local: SocketAddr) {
    tracing::info!(
        target: "observe::admin",
        "observe admin listening: http://{local}/metrics and the page at http://{local}/observe"
    );
    if !local.ip().to_canonical().is_loopback() {
        tracing::warn!(
            target: "observe::admin",
            "the observe admin listener is bound to {local}, reachable from other \
             machines: /metrics and /observe show the service's internals; bind it \
             to a loopback address (OBSERVE_ADMIN_ADDR=127.0.0.1:9464), or mount the \
             admin routes behind your own authentication"
        );
    }
}

async fn respond(
    request: Request<Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let response = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(body) => {
            let request = Request::from_parts(parts, body.to_bytes());
            handle_on_listener(request, Some(peer), local).await
        }
        Err(e) if e.is::<http_body_util::LengthLimitError>() => ApiResponse::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the admin API accepts request bodies of at most {MAX_BODY_BYTES} bytes"),
        )
        .into_http(),
        Err(e) => ApiResponse::error(
            StatusCode::BAD_REQUEST,
            format!("the request body could not be read: {e}"),
        )
        .into_http(),
    };
    Ok(response.map(Full::new))
}
