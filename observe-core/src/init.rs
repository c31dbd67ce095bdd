//! Starting observe: [`init`], [`layer`], [`Observe`] and the [`Guard`] that flushes
//! on drop.

use std::fmt;
use std::time::{Duration, Instant};

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::{EnvFilter, Registry};

use crate::layer::ObserveLayer;
use crate::log::{LogFormat, LogWriter, Output, Resource};
use crate::pipeline::{Pipeline, Sampler, ScopedGuard, Settings, Sink};

/// Why observe could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum InitError {
    /// The configuration is invalid (every bad variable is listed).
    Config(crate::config::ConfigError),
    /// `init` was already called in this process.
    AlreadyInitialized,
    /// Another global `tracing` subscriber is installed: use [`layer()`] to add
    /// observe to it instead.
    SubscriberExists,
    /// A background thread could not be started.
    Thread(std::io::Error),
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitError::Config(e) => write!(f, "invalid observe configuration: {e}"),
            InitError::AlreadyInitialized => f.write_str(
                "observe is already initialised in this process (init was called twice)",
            ),
            InitError::SubscriberExists => f.write_str(
                "another global tracing subscriber is already installed; \
                 add observe to it with observe_core::layer() instead of init()",
            ),
            InitError::Thread(e) => write!(f, "observe could not start its worker thread: {e}"),
        }
    }
}

impl std::error::Error for InitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InitError::Config(e) => Some(e),
            InitError::Thread(e) => Some(e),
            _ => None,
        }
    }
}

impl From<crate::config::ConfigError> for InitError {
    fn from(e: crate::config::ConfigError) -> Self {
        InitError::Config(e)
    }
}

/// Everything a pipeline is started from, resolved from the configuration.
pub(crate) struct Parts {
    pub(crate) settings: Settings,
    pub(crate) resource: Resource,
    pub(crate) log: Option<(LogFormat, Output, usize)>,
    pub(crate) sinks: Vec<Box<dyn Sink>>,
    pub(crate) sampler: Sampler,
    pub(crate) filter: String,
    pub(crate) shutdown_timeout: Duration,
}

/// A started observe instance: its pipeline, its `tracing` subscriber, and the
/// deadline used when it shuts down.
///
/// [`init`] makes one and installs it for the whole process; tests make one with
/// `Observe::builder()...build()` and install it for the current thread with
/// [`set_default`](Observe::set_default), so they never fight over globals.
pub struct Observe {
    pub(crate) pipeline: &'static Pipeline,
    pub(crate) dispatch: tracing::Dispatch,
    shutdown_timeout: Duration,
}

impl fmt::Debug for Observe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observe")
            .field("pipeline", &self.pipeline.id)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

impl Observe {
    pub(crate) fn start(parts: Parts) -> Result<Observe, InitError> {
        let filter = EnvFilter::try_new(&parts.filter).map_err(|e| {
            InitError::Config(crate::config::ConfigError::single(
                "RUST_LOG",
                &parts.filter,
                &format!("tracing filter directives ({e})"),
            ))
        })?;
        let mut settings = parts.settings;
        if let Some(level) = filter.max_level_hint() {
            settings.span_level = level;
        }
        let mut sinks = parts.sinks;
        if let Some((format, output, max_lines)) = parts.log {
            let (writer, _stats) = LogWriter::new(format, output, &parts.resource, max_lines)
                .map_err(InitError::Thread)?;
            sinks.insert(0, Box::new(writer));
        }
        let pipeline =
            Pipeline::start(settings, sinks, parts.sampler).map_err(InitError::Thread)?;
        let subscriber = Registry::default().with(filter).with(ObserveLayer::new());
        Ok(Observe {
            pipeline,
            dispatch: tracing::Dispatch::new(subscriber),
            shutdown_timeout: parts.shutdown_timeout,
        })
    }

    /// Makes this instance the current one on this thread until the guard drops:
    /// spans started and events logged on this thread go to it (and spans carry it
    /// to other threads). For tests.
    pub fn set_default(&self) -> DefaultGuard {
        DefaultGuard {
            _pipeline: self.pipeline.set_scoped(),
            _tracing: tracing::dispatcher::set_default(&self.dispatch),
        }
    }

    /// Delivers everything recorded so far to the sinks (logs written, spans
    /// exported), waiting at most `timeout`. Returns whether it finished in time.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.pipeline.flush(Instant::now() + timeout)
    }

    /// Flushes and stops, waiting at most the configured shutdown timeout.
    pub fn shutdown(self) -> bool {
        self.pipeline
            .shutdown(Instant::now() + self.shutdown_timeout)
    }

    /// Installs this instance for the whole process.
    pub fn install(self) -> Result<Guard, InitError> {
        self.pipeline
            .install_global()
            .map_err(|_| InitError::AlreadyInitialized)?;
        if tracing::dispatcher::set_global_default(self.dispatch.clone()).is_err() {
            // Another subscriber was there first; our pipeline stays installed for
            // spans, but refuse loudly: the user has to compose with `layer()`.
            self.pipeline
                .shutdown(Instant::now() + Duration::from_millis(100));
            return Err(InitError::SubscriberExists);
        }
        // Records of the `log` crate flow through tracing too. Another `log` logger
        // may already be installed; that is not an error for observe.
        let _ = tracing_log::LogTracer::init();
        crate::span::install_panic_hook();
        Ok(Guard {
            pipeline: self.pipeline,
            shutdown_timeout: self.shutdown_timeout,
        })
    }
}

/// Restores the previous default instance of this thread when dropped.
#[derive(Debug)]
pub struct DefaultGuard {
    _pipeline: ScopedGuard,
    _tracing: tracing::dispatcher::DefaultGuard,
}

/// Keeps observe running; when dropped, flushes what is pending (logs written, spans
/// exported) and stops, within the configured shutdown timeout
/// (`OBSERVE_SHUTDOWN_TIMEOUT`, 5 s by default). Works with or without a Tokio
/// runtime, and never hangs the process: a dead collector only costs the timeout.
#[must_use = "dropping the guard shuts observe down; keep it alive for the whole of main"]
#[derive(Debug)]
pub struct Guard {
    pipeline: &'static Pipeline,
    shutdown_timeout: Duration,
}

impl Guard {
    /// Delivers everything recorded so far, waiting at most `timeout`.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.pipeline.flush(Instant::now() + timeout)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.pipeline
            .shutdown(Instant::now() + self.shutdown_timeout);
    }
}
