//! What an adapter's `serve!` does before it serves: start observe unless it runs
//! already, with the admin listener the caller chose, beside an application's own
//! `tracing` subscriber when one is installed; and what it does when its shutdown
//! signal arrives ([`after_signal`]). Shared by observe-axum and observe-tonic.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use crate::config::ServiceInfo;
use crate::{Guard, InitError, Observe};

/// The admin listener `serve!` was asked for.
#[derive(Debug)]
pub enum ServeAdmin {
    /// Bind `OBSERVE_ADMIN_ADDR` (a failure to bind is `serve!`'s error).
    Configured,
    /// Serve on this listener.
    Given(std::net::TcpListener),
    /// No admin listener.
    Off,
}

/// Why `serve!` could not start observe.
#[derive(Debug)]
pub enum StartError {
    /// observe could not start (an invalid configuration names every bad variable).
    Init(InitError),
    /// The configured admin address could not be bound.
    AdminBind {
        /// The address it tried.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
}

impl From<InitError> for StartError {
    fn from(e: InitError) -> Self {
        StartError::Init(e)
    }
}

/// Starts observe for `serve!` unless it runs already (`Ok(None)`: an instance
/// started earlier, with `init!()` at the top of `main`, is reused, admin listener
/// included): with `service_info` (the application crate's identity), the chosen
/// admin listener, and beside an installed `tracing` subscriber
/// ([`Builder::init_beside_subscriber`](crate::Builder::init_beside_subscriber))
/// when the application installed one. Keep the guard while serving.
///
/// # Errors
/// What [`Builder::init`](crate::Builder::init) returns, or the configured admin
/// address in use (observe is stopped again then, off the async threads).
pub async fn start(
    service_info: Option<ServiceInfo>,
    admin: ServeAdmin,
) -> Result<Option<Guard>, StartError> {
    if Observe::current_config().is_some() {
        return Ok(None);
    }
    let mut builder = Observe::builder();
    if let Some(info) = service_info {
        builder = builder.service_info(info);
    }
    let configured = matches!(admin, ServeAdmin::Configured);
    builder = match admin {
        ServeAdmin::Off => builder.without_admin_listener(),
        #[cfg(feature = "admin")]
        ServeAdmin::Given(listener) => builder.admin_listener(listener),
        #[cfg(not(feature = "admin"))]
        ServeAdmin::Given(_) => builder,
        ServeAdmin::Configured => builder,
    };
    let guard = if tracing::dispatcher::has_been_set() {
        // The application installed its own subscriber
        // (`tracing_subscriber::fmt().init()`): it keeps writing the lines, observe
        // runs beside it.
        builder.init_beside_subscriber()?
    } else {
        builder.init()?
    };
    #[cfg(feature = "admin")]
    if let (true, crate::admin::ListenerState::Failed { addr, kind, error }) =
        (configured, crate::admin::listener_state())
    {
        // Dropping the guard flushes: not on an async worker thread.
        let _ = tokio::task::spawn_blocking(move || drop(guard)).await;
        return Err(StartError::AdminBind {
            addr,
            source: io::Error::new(kind, error),
        });
    }
    let _ = configured;
    Ok(Some(guard))
}

/// What `serve!` does when its shutdown signal arrives, before it stops
/// accepting: readiness answers 503 from now on
/// ([`health::shutting_down`](crate::health::shutting_down)); then, with
/// `OBSERVE_SHUTDOWN_DELAY` set, it waits that long while the server still
/// accepts, so that load balancers see the 503 and stop sending first. `again`
/// (a second SIGINT or SIGTERM, when `serve!` listens to them itself) ends the
/// wait. `what` names what is in flight in the log line ("requests", "calls").
pub async fn after_signal(again: Option<Pin<Box<dyn Future<Output = ()> + Send>>>, what: &str) {
    crate::health::shutting_down();
    let delay = Observe::current_config().map_or(Duration::ZERO, |c| c.shutdown_delay);
    if !delay.is_zero() {
        tracing::info!(
            target: "observe::serve",
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "shutting down: not ready, still serving for {delay:?} so that load balancers \
             stop sending (OBSERVE_SHUTDOWN_DELAY){}",
            if again.is_some() { "; a second signal stops at once" } else { "" }
        );
        match again {
            Some(again) => {
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = again => {
                        tracing::info!(target: "observe::serve", "second signal: no longer waiting");
                    }
                }
            }
            None => tokio::time::sleep(delay).await,
        }
    }
    tracing::info!(target: "observe::serve", "shutting down: finishing in-flight {what}");
}
