//! What an adapter's `serve!` does before it serves: start observe unless it runs
//! already, with the admin listener the caller chose, beside an application's own
//! `tracing` subscriber when one is installed. Shared by observe-axum and
//! observe-tonic.

use std::io;
use std::net::SocketAddr;

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

/// How observe came to run for `serve!`.
#[derive(Debug)]
pub enum Started {
    /// An instance was running already (`init!()` at the top of `main`): it is
    /// reused, admin listener included.
    AlreadyRunning,
    /// `serve!` started observe; keep the guard while serving.
    Started(Guard),
    /// observe started, but the configured admin address could not be bound:
    /// drop the guard off the async threads (dropping flushes) and report the error.
    AdminBindFailed {
        /// The instance started; drop it.
        guard: Guard,
        /// The address it tried.
        addr: SocketAddr,
        /// Why.
        error: io::Error,
    },
}

/// Starts observe for `serve!` unless it runs already: with `service_info` (the
/// application crate's identity), the chosen admin listener, and beside an
/// installed `tracing` subscriber ([`Builder::init_beside_subscriber`](crate::Builder::init_beside_subscriber))
/// when the application installed one.
///
/// # Errors
/// What [`Builder::init`](crate::Builder::init) returns.
pub fn start(service_info: Option<ServiceInfo>, admin: ServeAdmin) -> Result<Started, InitError> {
    if Observe::current_config().is_some() {
        return Ok(Started::AlreadyRunning);
    }
    let mut builder = Observe::builder();
    if let Some(info) = service_info {
        builder = builder.service_info(info);
    }
    let configured = matches!(admin, ServeAdmin::Configured);
    builder = match admin {
        ServeAdmin::Off => builder.admin_addr(None),
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
        return Ok(Started::AdminBindFailed {
            guard,
            addr,
            error: io::Error::new(kind, error),
        });
    }
    let _ = configured;
    Ok(Started::Started(guard))
}
