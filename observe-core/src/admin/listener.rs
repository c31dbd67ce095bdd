//! The core's own admin listener: what [`init`](crate::init()) starts on
//! `OBSERVE_ADMIN_ADDR`, on a thread of its own with a small current-thread Tokio
//! runtime, so that a program without a runtime (a worker) gets `/metrics` and the
//! admin API, and the application's runtime never serves them.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Duration;

use tokio::sync::oneshot;

/// The state of the admin listener that [`init`](crate::init()) (or
/// [`layer`](crate::layer)) starts: see [`listener_state`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListenerState {
    /// None runs: observe is not initialised (or was only built for a thread, as
    /// in tests), `OBSERVE_ADMIN_ADDR=off`, or its guard was dropped.
    Off,
    /// Serving on this address.
    Listening(SocketAddr),
    /// It could not start: the address could not be bound (in use, not an
    /// address of this machine) or its thread could not start. observe logged a
    /// warning and runs without it.
    Failed {
        /// The address it tried.
        addr: SocketAddr,
        /// The kind of the error.
        kind: std::io::ErrorKind,
        /// The error, as the operating system told it.
        error: String,
    },
}

static STATE: Mutex<ListenerState> = Mutex::new(ListenerState::Off);

/// The state of the admin listener observe's [`init`](crate::init()) started. The
/// adapters' `serve` reads it to reuse that listener rather than start a second one,
/// and to report a failed bind as an error.
pub fn listener_state() -> ListenerState {
    STATE.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

fn set_state(state: ListenerState) {
    *STATE.lock().unwrap_or_else(|e| e.into_inner()) = state;
}

/// How long dropping the guard waits for the listener's thread to stop.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// A running admin listener; dropping it stops it (the guard holds it).
#[derive(Debug)]
pub(crate) struct Running {
    stop: Option<oneshot::Sender<()>>,
    /// In a mutex only so that the guard holding it stays `Sync`.
    stopped: std::sync::Mutex<mpsc::Receiver<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Bounded: a connection that does not finish never holds the process.
        let stopped = self.stopped.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = stopped.recv_timeout(STOP_WAIT);
        set_state(ListenerState::Off);
    }
}

/// Binds the listener's socket: `given`, else `configured` (none when both are
/// `None`). Never fails: a failure is kept in the result, and [`start`] logs it
/// (WARN, target `observe::admin`) and records it in [`listener_state`].
pub(crate) fn bind(given: Option<std::net::TcpListener>, configured: Option<SocketAddr>) -> Bound {
    let listener = match (given, configured) {
        (Some(listener), _) => listener,
        (None, None) => return Bound::Off,
        (None, Some(addr)) => match std::net::TcpListener::bind(addr) {
            Ok(listener) => listener,
            Err(e) => return Bound::Failed(addr, "it could not bind its address", e),
        },
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            let addr = configured.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)));
            return Bound::Failed(addr, "its listener has no address", e);
        }
    };
    if let Err(e) = listener.set_nonblocking(true) {
        return Bound::Failed(addr, "its listener could not be made non-blocking", e);
    }
    Bound::Ready(listener, addr)
}

/// The admin listener's socket, bound before the startup summary is logged so
/// that the summary shows the address it listens on (the port the system chose for
/// `:0`), and started after it (its own lines, a failure's warning among them,
/// follow the summary).
pub(crate) enum Bound {
    /// No listener configured.
    Off,
    /// Bound to this address, not serving yet.
    Ready(std::net::TcpListener, SocketAddr),
    /// Could not be set up on this address: what failed, and why.
    Failed(SocketAddr, &'static str, std::io::Error),
}

impl Bound {
    /// The listener as the startup summary shows it.
    pub(crate) fn shown(&self) -> crate::startup::AdminAddr {
        use crate::startup::AdminAddr;
        match self {
            Bound::Off => AdminAddr::Off,
            Bound::Ready(_, addr) => AdminAddr::Listening(*addr),
            Bound::Failed(addr, _, _) => AdminAddr::Failed(*addr),
        }
    }
}

/// Serves the admin endpoints on the socket [`bind`] made, on a thread of its own.
pub(crate) fn start(bound: Bound) -> Option<Running> {
    let (listener, addr) = match bound {
        Bound::Off => {
            set_state(ListenerState::Off);
            return None;
        }
        Bound::Failed(addr, what, e) => {
            failed(addr, what, &e);
            return None;
        }
        Bound::Ready(listener, addr) => (listener, addr),
    };
    let (stop, stop_rx) = oneshot::channel::<()>();
    let (stopped_tx, stopped) = mpsc::channel::<()>();
    // Before the thread runs: a failure there sets the state after this.
    set_state(ListenerState::Listening(addr));
    super::service::mark_started();
    super::server::announce(addr);
    let spawned = std::thread::Builder::new()
        .name("observe-admin".into())
        .spawn(move || {
            let run = std::panic::catch_unwind(AssertUnwindSafe(|| run(listener, stop_rx)));
            if run.is_err() {
                tracing::warn!(
                    target: "observe::admin",
                    "the observe admin listener stopped after a panic; /metrics and the \
                     admin API are unavailable until restart"
                );
                set_state(ListenerState::Off);
            }
            let _ = stopped_tx.send(());
        });
    match spawned {
        Ok(_) => Some(Running {
            stop: Some(stop),
            stopped: std::sync::Mutex::new(stopped),
        }),
        Err(e) => {
            failed(addr, "its thread could not start", &e);
            None
        }
    }
}

fn run(listener: std::net::TcpListener, stop: oneshot::Receiver<()>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("observe-admin")
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::warn!(
                target: "observe::admin",
                "the observe admin listener could not start its runtime: {e}"
            );
            set_state(ListenerState::Off);
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(
                    target: "observe::admin",
                    "the observe admin listener could not register its socket: {e}"
                );
                set_state(ListenerState::Off);
                return;
            }
        };
        let stop = async move {
            let _ = stop.await;
        };
        #[cfg(unix)]
        let stop = {
            // SIGUSR2 dumps the flight recorder to the dump directory, as
            // `POST /observe/api/v1/dump` does (installing the handler replaces the
            // signal's default action, which is to end the process).
            use tokio::signal::unix::{SignalKind, signal};
            let signals = signal(SignalKind::user_defined2());
            async move {
                let Ok(mut signals) = signals else {
                    stop.await;
                    return;
                };
                let mut stop = std::pin::pin!(stop);
                loop {
                    tokio::select! {
                        () = &mut stop => return,
                        Some(()) = signals.recv() => {
                            // File writing: off the runtime thread's async work.
                            let _ = tokio::task::spawn_blocking(super::traces::dump_on_signal).await;
                        }
                    }
                }
            }
        };
        let _ = super::server::serve_quietly(listener, stop).await;
    });
}

fn failed(addr: SocketAddr, what: &str, e: &std::io::Error) {
    tracing::warn!(
        target: "observe::admin",
        "the observe admin listener on {addr} is not running: {what}: {e}; /metrics and \
         the admin API are unavailable (set OBSERVE_ADMIN_ADDR to a free address, or to off)"
    );
    set_state(ListenerState::Failed {
        addr,
        kind: e.kind(),
        error: e.to_string(),
    });
}
