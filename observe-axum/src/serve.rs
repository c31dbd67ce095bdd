//! [`serve`]: the one line that replaces `axum::serve`.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use axum::Router;
use observe_core::config::ServiceInfo;
use observe_core::server::serve::{ServeAdmin, StartError};
use observe_core::{Guard, InitError};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::layer::ObserveLayer;

/// Why [`serve`] stopped with an error.
///
/// Its `Debug` form is its readable message (as `Display`), so that
/// `fn main() -> Result<(), Box<dyn Error>>` with `serve!(..).await?` prints what to
/// fix; `{:#?}` shows the structure.
#[non_exhaustive]
pub enum ServeError {
    /// observe could not start (an invalid configuration names every bad variable).
    Init(InitError),
    /// The admin listener could not bind its address (`OBSERVE_ADMIN_ADDR`).
    AdminBind {
        /// The address it tried.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The SIGINT/SIGTERM handlers could not be installed.
    Signal(io::Error),
    /// The server failed.
    Io(io::Error),
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeError::Init(e) => write!(f, "observe could not start: {e}"),
            ServeError::AdminBind { addr, source } => write!(
                f,
                "the observe admin listener could not bind {addr}: {source} \
                 (set OBSERVE_ADMIN_ADDR to another address, or to `off`)"
            ),
            ServeError::Signal(e) => {
                write!(f, "could not install the shutdown signal handlers: {e}")
            }
            ServeError::Io(e) => write!(f, "the server failed: {e}"),
        }
    }
}

impl fmt::Debug for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !f.alternate() {
            return fmt::Display::fmt(self, f);
        }
        match self {
            ServeError::Init(e) => f.debug_tuple("Init").field(e).finish(),
            ServeError::AdminBind { addr, source } => f
                .debug_struct("AdminBind")
                .field("addr", addr)
                .field("source", source)
                .finish(),
            ServeError::Signal(e) => f.debug_tuple("Signal").field(e).finish(),
            ServeError::Io(e) => f.debug_tuple("Io").field(e).finish(),
        }
    }
}

impl std::error::Error for ServeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServeError::Init(e) => Some(e),
            ServeError::AdminBind { source, .. } => Some(source),
            ServeError::Signal(e) | ServeError::Io(e) => Some(e),
        }
    }
}

impl From<InitError> for ServeError {
    fn from(e: InitError) -> Self {
        ServeError::Init(e)
    }
}

impl From<StartError> for ServeError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Init(e) => ServeError::Init(e),
            StartError::AdminBind { addr, source } => ServeError::AdminBind { addr, source },
        }
    }
}

type Signal = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Serves `router` on `listener` with observe: the one line that replaces
/// `axum::serve`. Await it (it is an [`IntoFuture`]); configure it first with its
/// methods.
///
/// It
/// 1. starts observe with the configuration from the environment, unless observe
///    is already running (an explicit `observe_core::init()` or builder is
///    respected: call it first thing in `main` so that the lines logged before
///    `serve` have observe's format and context too); when the application
///    installed a `tracing` subscriber of its own, observe starts beside it
///    ([`Builder::init_beside_subscriber`](observe_core::Builder::init_beside_subscriber)):
///    that subscriber keeps writing the lines;
/// 2. adds [`layer()`](crate::layer()) to every route of `router` (unless
///    [`without_layer`](Serve::without_layer): the router has its own);
/// 3. starts the admin listener ([`admin_routes`](crate::admin_routes)) on
///    `OBSERVE_ADMIN_ADDR` (default `127.0.0.1:9464`, `off` for none), which logs a
///    warning when that address is not a loopback one and refuses (421) requests
///    whose `Host` is not `localhost`, a loopback address or its own address (a
///    defence against DNS rebinding);
/// 4. serves until SIGINT or SIGTERM (or the signal given to
///    [`with_graceful_shutdown`](Serve::with_graceful_shutdown)), then answers
///    readiness probes 503 ([`observe_core::health::shutting_down`]), keeps
///    accepting for `OBSERVE_SHUTDOWN_DELAY` (default 0; a second signal ends the
///    wait) so that load balancers stop sending first, lets in-flight requests
///    finish, and flushes telemetry within `OBSERVE_SHUTDOWN_TIMEOUT`.
///
/// Prefer the [`serve!`](crate::serve!) macro: it is this function plus the
/// identity of *your* crate (its name and version from `Cargo.toml`), which a
/// function in a library cannot see. Called as a function, the service is named
/// after the executable and its version is `unknown` unless `OTEL_SERVICE_NAME` /
/// `OTEL_RESOURCE_ATTRIBUTES` say otherwise.
///
/// ```no_run
/// use axum::{Router, routing::get};
///
/// #[tokio::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let app = Router::new().route("/", get(|| async { "hello" }));
///     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
///     observe_axum::serve!(listener, app).await?;
///     Ok(())
/// }
/// ```
///
/// # Errors
/// [`ServeError`]: an invalid observe configuration, an admin address in use, or a
/// server failure.
pub fn serve(listener: TcpListener, router: Router) -> Serve {
    Serve {
        listener,
        router,
        service_info: None,
        layer: Some(ObserveLayer::new()),
        shutdown: None,
        admin: AdminListener::Configured,
    }
}

/// Serves `router` on `listener` with observe, naming the service after the crate
/// that expands the macro: `serve(listener, router).service_info(service_info!())`.
/// See [`serve()`](crate::serve()).
///
/// ```no_run
/// # async fn run(app: axum::Router) -> Result<(), Box<dyn std::error::Error>> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// observe_axum::serve!(listener, app).await?;
/// # Ok(()) }
/// ```
#[macro_export]
macro_rules! serve {
    ($listener:expr, $router:expr $(,)?) => {
        $crate::serve($listener, $router).service_info($crate::observe_core::service_info!())
    };
}

enum AdminListener {
    /// Bind `OBSERVE_ADMIN_ADDR`.
    Configured,
    /// Use this one.
    #[cfg_attr(not(feature = "admin"), allow(dead_code))]
    Given(TcpListener),
    /// None.
    Off,
}

/// The server [`serve`] returns: configure it, then `.await` it.
#[must_use = "a Serve does nothing until it is awaited"]
pub struct Serve {
    listener: TcpListener,
    router: Router,
    service_info: Option<ServiceInfo>,
    layer: Option<ObserveLayer>,
    shutdown: Option<Signal>,
    admin: AdminListener,
}

impl fmt::Debug for Serve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener)
            .field("service_info", &self.service_info)
            .field("layer", &self.layer)
            .finish_non_exhaustive()
    }
}

impl Serve {
    /// The service's identity when `serve` starts observe (ignored when observe
    /// already runs). [`serve!`](crate::serve!) sets it from your `Cargo.toml`.
    pub fn service_info(mut self, info: ServiceInfo) -> Self {
        self.service_info = Some(info);
        self
    }

    /// The layer to add to the routes (to change its options).
    pub fn layer(mut self, layer: ObserveLayer) -> Self {
        self.layer = Some(layer);
        self
    }

    /// Adds no layer: the router carries [`layer()`](crate::layer()) already, where
    /// the application wants it (before nesting routes it does not want measured,
    /// such as [`admin_routes`](crate::admin_routes) behind its authentication).
    /// Without this, `serve` adds its own around every route, the one that then
    /// observes the requests (the router's passes them through, with a warning).
    pub fn without_layer(mut self) -> Self {
        self.layer = None;
        self
    }

    /// Shuts down when `signal` completes instead of on SIGINT/SIGTERM.
    pub fn with_graceful_shutdown<F>(mut self, signal: F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.shutdown = Some(Box::pin(signal));
        self
    }

    /// Serves the admin routes on this listener instead of binding
    /// `OBSERVE_ADMIN_ADDR`.
    pub fn admin_listener(mut self, listener: TcpListener) -> Self {
        self.admin = AdminListener::Given(listener);
        self
    }

    /// No admin listener (mount [`admin_routes`](crate::admin_routes) yourself), whatever
    /// `OBSERVE_ADMIN_ADDR` says. An instance started before `serve` (`init!()` at
    /// the top of `main`) keeps the listener it started: give that one
    /// `OBSERVE_ADMIN_ADDR=off` or `Builder::admin_addr(None)` instead.
    pub fn without_admin(mut self) -> Self {
        self.admin = AdminListener::Off;
        self
    }

    async fn run(self) -> Result<(), ServeError> {
        let Serve {
            listener,
            router,
            service_info,
            layer,
            shutdown,
            admin,
        } = self;
        // Ready (subject to the checks) before anything is served, also after an
        // earlier serve's shutdown in this process.
        observe_core::health::accepting();

        // 1. observe, unless it already runs. When `serve` starts it, observe's own
        // admin listener (on its own thread) serves the admin routes: none is
        // started here.
        let (guard, admin): (Option<Guard>, AdminListener) =
            if observe_core::Observe::current_config().is_some() {
                (None, admin)
            } else {
                let chosen = match admin {
                    AdminListener::Configured => ServeAdmin::Configured,
                    AdminListener::Off => ServeAdmin::Off,
                    AdminListener::Given(l) => {
                        let addr = l
                            .local_addr()
                            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
                        let l = l
                            .into_std()
                            .map_err(|source| ServeError::AdminBind { addr, source })?;
                        ServeAdmin::Given(l)
                    }
                };
                (
                    observe_core::server::serve::start(service_info, chosen).await?,
                    AdminListener::Off,
                )
            };
        #[cfg(feature = "admin")]
        let config = observe_core::Observe::current_config();

        // The shutdown signal: installed before anything is served, so that a
        // SIGTERM arriving from now on is a graceful shutdown, never a kill.
        let own_signal = shutdown.is_none();
        let signal = match shutdown {
            Some(signal) => signal,
            None => os_signal()?,
        };

        // 2. the admin listener (without the `admin` feature there are no admin
        // routes to serve).
        #[cfg(not(feature = "admin"))]
        let admin: Option<TcpListener> = {
            drop(admin);
            None
        };
        #[cfg(feature = "admin")]
        let admin = match admin {
            AdminListener::Off => None,
            AdminListener::Given(l) => Some(l),
            AdminListener::Configured => match config.as_ref().and_then(|c| c.admin.addr) {
                // observe's own listener serves them already.
                Some(_)
                    if matches!(
                        observe_core::admin::listener_state(),
                        observe_core::admin::ListenerState::Listening(_)
                    ) =>
                {
                    None
                }
                None => None,
                Some(addr) => Some(
                    TcpListener::bind(addr)
                        .await
                        .map_err(|source| ServeError::AdminBind { addr, source })?,
                ),
            },
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        #[cfg(feature = "admin")]
        let admin_task = admin.map(|admin| {
            let mut stop = stop_rx.clone();
            tokio::spawn(observe_core::admin::serve(admin, async move {
                let _ = stop.wait_for(|s| *s).await;
            }))
        });
        #[cfg(not(feature = "admin"))]
        let admin_task: Option<tokio::task::JoinHandle<io::Result<()>>> = {
            drop((admin, stop_rx));
            None
        };

        // 3. the application.
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(target: "observe::serve", "listening on http://{addr}");
            // Where the page's tracer-bullet button sends its bullets.
            #[cfg(feature = "admin")]
            observe_core::admin::set_service_addr(addr);
        }
        if let Some(config) = observe_core::Observe::current_config() {
            // What the flight recorder may hold: the startup summary of memory.
            let recorder = &config.flight_recorder;
            if let Some(bytes) = recorder.bytes {
                let mib = bytes.get() as f64 / f64::from(1u32 << 20);
                let window = recorder
                    .window
                    .map_or_else(|| "no window".to_owned(), |w| format!("the last {w:?}"));
                tracing::info!(
                    target: "observe::serve",
                    recorder_bytes = bytes.get() as u64,
                    recorder_window_secs = recorder.window.map_or(0, |w| w.as_secs()),
                    "flight recorder: keeps {window} of spans and log lines, at most {mib:.0} MiB \
                     (OBSERVE_FLIGHT_RECORDER_WINDOW, OBSERVE_FLIGHT_RECORDER_BYTES)"
                );
            }
        }
        let router = match layer {
            Some(layer) => router.layer(layer),
            None => router,
        };
        let app = router.into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                signal.await;
                // Not ready from now on: new requests go elsewhere while these finish.
                let again = if own_signal { os_signal().ok() } else { None };
                observe_core::server::serve::after_signal(again, "requests").await;
            })
            .await;

        // 4. stop the admin listener, then flush.
        let _ = stop_tx.send(true);
        if let Some(task) = admin_task {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        if let Some(guard) = guard {
            // Flushing waits (bounded by the shutdown timeout): not on a runtime thread.
            let _ = tokio::task::spawn_blocking(move || drop(guard)).await;
        }
        served.map_err(ServeError::Io)
    }
}

/// Completes on SIGINT or SIGTERM (Ctrl-C elsewhere). The handlers are installed
/// when this is called.
fn os_signal() -> Result<Signal, ServeError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).map_err(ServeError::Signal)?;
        let mut terminate = signal(SignalKind::terminate()).map_err(ServeError::Signal)?;
        Ok(Box::pin(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        }))
    }
    #[cfg(not(unix))]
    {
        Ok(Box::pin(async {
            let _ = tokio::signal::ctrl_c().await;
        }))
    }
}

impl IntoFuture for Serve {
    type Output = Result<(), ServeError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}
