//! Health checks for liveness and readiness probes.
//!
//! Register the checks your service needs to be ready (a database ping, a cache
//! warm-up) with [`register`] or [`register_async`]. The admin listener answers
//!
//! - `GET /observe/health/live`: 200 while the process serves (no check runs);
//! - `GET /observe/health/ready`: 200 when observe is initialised, the service is
//!   not shutting down ([`shutting_down`]: the adapters' `serve!` says so when its
//!   signal arrives, so a load balancer stops sending while in-flight requests
//!   finish) and every registered check passes within its timeout, else 503;
//! - `GET /observe/api/v1/health`: the same as `ready`.
//!
//! Both report the service's own recent error ratio as the check `observe.errors`
//! ([`Report::requests`], [`Report::failed_requests`]), which is always up: a
//! signal to read and alert on, never a reason to leave the load balancer.
//!
//! each with `{"status":"up|down","checks":[{"name","status","detail","duration_s"}]}`.
//! Checks run in parallel, each on a thread of its own, bounded by its timeout
//! ([`DEFAULT_TIMEOUT`] unless registered with [`register_with_timeout`]); a check
//! still running from an earlier probe is reported down without starting another,
//! so a hung check costs one thread, never more. Probes are served by the admin
//! listener, which traces nothing and records no metrics.
//!
//! ```
//! observe_core::health::register("database", || {
//!     // e.g. pool.get().map(drop).map_err(|e| e.to_string())
//!     Ok(())
//! });
//! observe_core::health::register_async("cache", || async { Ok(()) });
//! let report = observe_core::health::check();
//! assert!(report.checks.iter().any(|c| c.name == "database" && c.up));
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

/// How long a check may take before it counts as down.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// The most checks registered at once (a registration beyond it is ignored and
/// logged).
pub const MAX_CHECKS: usize = 64;

type BoxFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

enum Kind {
    Sync(Box<dyn Fn() -> Result<(), String> + Send + Sync>),
    Async(Box<dyn Fn() -> BoxFuture + Send + Sync>),
}

struct Check {
    name: String,
    timeout: Duration,
    kind: Kind,
    /// A run of this check is still going (from this or an earlier probe).
    running: AtomicBool,
}

static CHECKS: Mutex<Vec<Arc<Check>>> = Mutex::new(Vec::new());

fn add(check: Check) {
    let mut checks = CHECKS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(i) = checks.iter().position(|c| c.name == check.name) {
        checks[i] = Arc::new(check);
    } else if checks.len() < MAX_CHECKS {
        checks.push(Arc::new(check));
    } else {
        tracing::warn!(
            target: "observe::health",
            "health check {:?} not registered: at most {MAX_CHECKS} checks",
            check.name
        );
    }
}

/// Registers (or replaces) the synchronous readiness check `name`: `Ok(())` when
/// up, `Err(detail)` when down. It runs on a thread of its own, so it may block;
/// a panic counts as down.
pub fn register(
    name: impl Into<String>,
    check: impl Fn() -> Result<(), String> + Send + Sync + 'static,
) {
    register_with_timeout(name, DEFAULT_TIMEOUT, check);
}

/// [`register`] with a timeout of its own.
pub fn register_with_timeout(
    name: impl Into<String>,
    timeout: Duration,
    check: impl Fn() -> Result<(), String> + Send + Sync + 'static,
) {
    add(Check {
        name: name.into(),
        timeout,
        kind: Kind::Sync(Box::new(check)),
        running: AtomicBool::new(false),
    });
}

/// Registers (or replaces) the asynchronous readiness check `name`. Each run
/// drives the future on a small current-thread Tokio runtime (with time and I/O)
/// of its own, bounded by [`DEFAULT_TIMEOUT`].
pub fn register_async<F, Fut>(name: impl Into<String>, check: F)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    add(Check {
        name: name.into(),
        timeout: DEFAULT_TIMEOUT,
        kind: Kind::Async(Box::new(move || Box::pin(check()))),
        running: AtomicBool::new(false),
    });
}

/// Removes the check `name`; returns whether there was one.
pub fn unregister(name: &str) -> bool {
    let mut checks = CHECKS.lock().unwrap_or_else(PoisonError::into_inner);
    let before = checks.len();
    checks.retain(|c| c.name != name);
    checks.len() != before
}

/// One check's result.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CheckResult {
    /// The check's name.
    pub name: String,
    /// Whether it passed in time.
    pub up: bool,
    /// Why it is down (its error, a timeout, a panic); `None` when up.
    pub detail: Option<String>,
    /// How long it took (the timeout when it timed out).
    pub duration: Duration,
}

/// Every check's result, and whether observe is initialised.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Report {
    /// observe runs (`init` has run, or a scoped instance is current on this
    /// thread).
    pub initialised: bool,
    /// The service is shutting down ([`shutting_down`]).
    pub shutting_down: bool,
    /// The registered checks, in registration order.
    pub checks: Vec<CheckResult>,
    /// Requests this service served (HTTP and gRPC, tracer bullets left out) over
    /// the metrics' rolling window (`OBSERVE_METRICS_WINDOW`, 5 minutes by default).
    pub requests: u64,
    /// How many of them failed (5xx, a gRPC server error), by the rule of the
    /// latency table and the SLOs. Reported, never a reason to be not ready: a
    /// failing dependency would take every replica out of the load balancer at once.
    pub failed_requests: u64,
    /// The window those counts cover.
    pub window: Duration,
}

impl Report {
    /// Ready: initialised, not shutting down, and every check up.
    pub fn ready(&self) -> bool {
        self.initialised && !self.shutting_down && self.checks.iter().all(|c| c.up)
    }
}

static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);

/// Marks the service as shutting down: from now on readiness answers 503 (the
/// check `observe.shutdown` is down), so that a load balancer or Kubernetes stops
/// sending new requests while the in-flight ones finish. Liveness is unchanged.
/// The adapters' `serve!` calls it when its shutdown signal arrives; call it
/// yourself when you drain a server of your own. [`accepting`] undoes it.
pub fn shutting_down() {
    SHUTTING_DOWN.store(true, Ordering::Relaxed);
}

/// Marks the service as accepting requests (the default): readiness follows the
/// checks again. The adapters' `serve!` calls it when it starts serving, so that
/// a process that serves again after a graceful shutdown (a restart in place)
/// is not left reporting not ready.
pub fn accepting() {
    SHUTTING_DOWN.store(false, Ordering::Relaxed);
}

/// Runs every registered check now, in parallel, each bounded by its timeout.
pub fn check() -> Report {
    let checks: Vec<Arc<Check>> = CHECKS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let pending: Vec<_> = checks.into_iter().map(start).collect();
    let checks = pending.into_iter().map(Pending::wait).collect();
    let (requests, failed_requests, window) = served();
    Report {
        initialised: crate::pipeline::Pipeline::current()
            .map(|p| p.settings.config.clone())
            .is_some(),
        shutting_down: SHUTTING_DOWN.load(Ordering::Relaxed),
        checks,
        requests,
        failed_requests,
        window,
    }
}

/// Requests served and failed over the rolling window, from the server duration
/// histograms of the process-wide registry (tracer bullets left out).
fn served() -> (u64, u64, Duration) {
    use crate::metrics::names;
    let registry = crate::metrics::global();
    let (mut total, mut failed) = (0, 0);
    for metric in [
        names::HTTP_SERVER_REQUEST_DURATION,
        names::RPC_SERVER_CALL_DURATION,
    ] {
        for (labels, h) in registry.window_histograms(metric) {
            let bullet = labels
                .iter()
                .any(|(k, v)| k == names::REQUEST_TYPE && v != "standard");
            if bullet {
                continue;
            }
            total += h.len();
            if crate::metrics::series_failed(metric, &labels) {
                failed += h.len();
            }
        }
    }
    (total, failed, registry.window().0)
}

enum Pending {
    Done(CheckResult),
    Running {
        name: String,
        timeout: Duration,
        started: Instant,
        rx: mpsc::Receiver<Result<(), String>>,
    },
}

fn start(check: Arc<Check>) -> Pending {
    let name = check.name.clone();
    if check.running.swap(true, Ordering::AcqRel) {
        return Pending::Done(CheckResult {
            name,
            up: false,
            detail: Some("still running from an earlier probe (hung?)".into()),
            duration: Duration::ZERO,
        });
    }
    let (tx, rx) = mpsc::channel();
    let timeout = check.timeout;
    let started = Instant::now();
    let spawned = std::thread::Builder::new()
        .name("observe-health".into())
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&check)))
                .unwrap_or_else(|_| Err("the check panicked".into()));
            check.running.store(false, Ordering::Release);
            let _ = tx.send(result);
        });
    match spawned {
        Ok(_) => Pending::Running {
            name,
            timeout,
            started,
            rx,
        },
        Err(e) => Pending::Done(CheckResult {
            name,
            up: false,
            detail: Some(format!("its thread could not start: {e}")),
            duration: Duration::ZERO,
        }),
    }
}

fn run(check: &Check) -> Result<(), String> {
    match &check.kind {
        Kind::Sync(f) => f(),
        Kind::Async(f) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("its runtime could not start: {e}"))?;
            runtime.block_on(f())
        }
    }
}

impl Pending {
    fn wait(self) -> CheckResult {
        match self {
            Pending::Done(r) => r,
            Pending::Running {
                name,
                timeout,
                started,
                rx,
            } => {
                let left = timeout.saturating_sub(started.elapsed());
                match rx.recv_timeout(left) {
                    Ok(result) => CheckResult {
                        name,
                        up: result.is_ok(),
                        detail: result.err(),
                        duration: started.elapsed(),
                    },
                    Err(_) => CheckResult {
                        name,
                        up: false,
                        detail: Some(format!("no answer within {timeout:?}")),
                        duration: timeout,
                    },
                }
            }
        }
    }
}
