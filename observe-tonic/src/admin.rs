//! The admin listener: `/metrics`, the JSON API under `/observe/api/` and the health
//! probes, served by observe-core's admin server (a small HTTP/1 server, so that a
//! tonic service needs no HTTP framework for them).

use std::future::Future;
use std::io;

use tokio::net::TcpListener;

/// Serves the admin routes on `listener` until `stop` completes: every route of
/// `observe_core::admin` (`docs/observe-api.md` lists them), among them
///
/// | route | what |
/// | --- | --- |
/// | `GET /metrics` | every metric in the Prometheus text format, or OpenMetrics (with exemplars) when `Accept` asks for it |
/// | `GET /observe/api/v1/metrics` | the same as a JSON snapshot (cumulative and rolling window, exemplars); also at `/observe/api/metrics` |
/// | `GET /observe/api/v1/histograms` | the histograms serialized losslessly, to merge across instances; also at `/observe/api/histograms` |
///
/// Requests whose `Host` is not `localhost`, a loopback address or the listener's
/// own address are refused (421: a defence against DNS rebinding); request bodies
/// over 64 KiB are refused (413). It logs a warning when `listener` is not on a
/// loopback address.
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
/// The listener's address cannot be read.
pub async fn serve_admin(
    listener: TcpListener,
    stop: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    observe_core::admin::serve(listener, stop).await
}
