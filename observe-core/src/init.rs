//! Starting observe: [`init`], [`layer`], [`Observe`] and the [`Guard`] that flushes
//! on drop.

use std::fmt;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::{EnvFilter, Registry};

use crate::bridge::ObserveLayer;
use crate::config::{Config, LogOutput, Service};
use crate::log::{LogFormat, LogWriter, Output};
use crate::pipeline::{HeadSampler, Pipeline, ScopedGuard, Settings, Sink};
use crate::recorder::{FlightRecorder, RecorderSettings, SlowThreshold};

mod builder;
pub use builder::Builder;
use builder::Extras;

/// Why observe could not start.
///
/// Its `Debug` form is its readable message (as `Display`), so that
/// `fn main() -> Result<(), Box<dyn Error>>` prints what to fix; `{:#?}` shows the
/// structure.
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
    /// The OTLP exporter could not be set up (an endpoint or protocol this build
    /// cannot use).
    Export(String),
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitError::Config(e) => write!(f, "{e}"),
            InitError::AlreadyInitialized => f.write_str(
                "observe is already initialised in this process (init, init! or layer() \
                 was called before)",
            ),
            InitError::SubscriberExists => f.write_str(
                "another global tracing subscriber is already installed; \
                 add observe to it with observe_core::layer() instead of init()",
            ),
            InitError::Thread(e) => write!(f, "observe could not start its worker thread: {e}"),
            InitError::Export(e) => write!(f, "observe could not set up OTLP export: {e}"),
        }
    }
}

impl fmt::Debug for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !f.alternate() {
            return fmt::Display::fmt(self, f);
        }
        match self {
            InitError::Config(e) => f.debug_tuple("Config").field(e).finish(),
            InitError::AlreadyInitialized => f.write_str("AlreadyInitialized"),
            InitError::SubscriberExists => f.write_str("SubscriberExists"),
            InitError::Thread(e) => f.debug_tuple("Thread").field(e).finish(),
            InitError::Export(e) => f.debug_tuple("Export").field(e).finish(),
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

/// Starts observe with the configuration from the environment (see
/// [`config`](crate::config)) and installs it for the whole process. Keep the
/// returned [`Guard`] for the whole of `main`: dropping it flushes and stops.
///
/// ```no_run
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let _observe = observe_core::init()?;
///     tracing::info!("started");
///     Ok(())
/// }
/// ```
///
/// # Errors
/// An invalid configuration (one error listing every bad variable), a second call,
/// or another global `tracing` subscriber (use [`layer()`] then).
pub fn init() -> Result<Guard, InitError> {
    Observe::builder().init()
}

/// [`init()`] with the identity of the crate that expands it (its name and version
/// from `Cargo.toml`, see [`service_info!`](crate::service_info!)): the first line
/// of `main` for a service that logs before it serves. The adapters' `serve!`
/// then reuses this instance, and the lines logged before it (configuration,
/// database connection, migrations) have observe's format and context too.
///
/// ```no_run
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let _observe = observe_core::init!()?; // keep it for the whole of main
///     tracing::info!("connecting to the database");
///     Ok(())
/// }
/// ```
#[macro_export]
macro_rules! init {
    () => {
        $crate::Observe::builder()
            .service_info($crate::service_info!())
            .init()
    };
}

/// observe as a `tracing` layer, for applications that compose their own
/// subscriber; observe's background threads start and its spans work as with
/// [`init`].
///
/// ```no_run
/// use tracing_subscriber::layer::SubscriberExt as _;
/// let (layer, _guard) = observe_core::layer()?;
/// let subscriber = tracing_subscriber::registry().with(layer);
/// tracing::subscriber::set_global_default(subscriber)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`Builder::layer`].
pub fn layer() -> Result<(ObserveLayer, Guard), InitError> {
    Observe::builder().layer()
}

/// Everything a pipeline is started from, resolved from the configuration.
pub(crate) struct Parts {
    pub(crate) settings: Settings,
    pub(crate) resource: Service,
    pub(crate) log: Option<(LogFormat, Output, usize)>,
    pub(crate) sinks: Vec<Box<dyn Sink>>,
    pub(crate) sampler: HeadSampler,
    pub(crate) filter: String,
    pub(crate) shutdown_timeout: Duration,
    /// Background threads serving the pipeline besides its worker and log writer
    /// (the exporters), supervised with them.
    pub(crate) threads: Vec<Arc<crate::pipeline::ThreadHealth>>,
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
    recorder: Option<FlightRecorder>,
    /// The admin listener's socket given to the builder.
    #[cfg(feature = "admin")]
    admin_listener: Option<std::net::TcpListener>,
}

impl fmt::Debug for Observe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observe")
            .field("pipeline", &self.pipeline.id)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

/// The metrics registry is process-wide: the instance installed for the process
/// configures it (scoped test instances leave it alone).
fn apply_metrics_config(config: &Config) {
    crate::metrics::set_max_keys(config.metrics.max_keys);
    crate::metrics::set_default_exposition(config.metrics.exposition);
    // The configuration validated the window against the slice already.
    let _ = crate::metrics::set_window(config.metrics.window, config.metrics.slice);
}

/// The sinks that keep and export telemetry, from the configuration: the flight
/// recorder (promoting failed and slow traces to the exporter), the span and log
/// exporter, and the metrics exporter with the export counters it publishes.
fn export_sinks(
    config: &Config,
    resource: &Service,
    sinks: &mut Vec<Box<dyn Sink>>,
    threads: &mut Vec<Arc<crate::pipeline::ThreadHealth>>,
) -> Result<Option<FlightRecorder>, InitError> {
    #[cfg(feature = "otlp")]
    let exporter = if config.export.traces.is_some() || config.export.logs.is_some() {
        let settings = config.export.clone();
        Some(
            crate::export::Exporter::start(settings, resource)
                .map_err(|e| InitError::Export(e.to_string()))?,
        )
    } else {
        None
    };
    let recorder = config.flight_recorder.bytes.map(|bytes| {
        FlightRecorder::new(RecorderSettings {
            budget_bytes: bytes.get(),
            window: config.flight_recorder.window,
            slow: config
                .flight_recorder
                .slow_threshold
                .map_or_else(SlowThreshold::default, SlowThreshold::Fixed),
            objectives: config.slo.latency_objectives(),
            resource: resource.clone(),
        })
    });
    if let Some(r) = &recorder {
        #[cfg(feature = "otlp")]
        if let Some(e) = &exporter {
            sinks.push(Box::new(r.sink_promoting_to(e.clone())));
        } else {
            sinks.push(Box::new(r.sink()));
        }
        #[cfg(not(feature = "otlp"))]
        sinks.push(Box::new(r.sink()));
    }
    #[cfg(feature = "otlp")]
    {
        let metrics = match &config.export.metrics {
            Some(target) => Some(
                crate::export::MetricsExporter::start(
                    target.clone(),
                    config.export.metric_export_interval,
                    config.export.metric_export_timeout,
                    resource,
                )
                .map_err(|e| InitError::Export(e.to_string()))?,
            ),
            None => None,
        };
        if let Some(e) = &exporter {
            sinks.push(Box::new(e.sink()));
            threads.push(e.health());
        }
        if let Some(m) = &metrics {
            threads.push(m.health());
        }
        if exporter.is_some() || metrics.is_some() {
            sinks.push(Box::new(crate::export::ExportLifecycle::new(
                exporter, metrics,
            )));
        }
    }
    #[cfg(not(feature = "otlp"))]
    {
        let _ = (resource, threads);
        if config.export.traces.is_some()
            || config.export.logs.is_some()
            || config.export.metrics.is_some()
        {
            tracing::warn!(
                target: "observe",
                "an OTLP endpoint is configured but observe-core was built without its `otlp` feature: nothing is exported"
            );
        }
    }
    Ok(recorder)
}

/// The head sampler for a configured one.
fn sampler_for(s: crate::config::Sampler) -> HeadSampler {
    use crate::config::Sampler as S;
    match s {
        S::AlwaysOn => HeadSampler::new(1.0, false),
        S::AlwaysOff => HeadSampler::new(0.0, false),
        S::TraceIdRatio(r) => HeadSampler::new(r, false),
        S::ParentBasedAlwaysOff => HeadSampler::new(0.0, true),
        S::ParentBasedTraceIdRatio(r) => HeadSampler::new(r, true),
        // Future samplers default to following the parent and keeping roots.
        _ => HeadSampler::new(1.0, true),
    }
}

impl Observe {
    /// A builder: configuration from the environment, defaults from code.
    pub fn builder() -> Builder {
        Builder::new()
    }

    fn from_config(config: &Config, extras: Extras) -> Result<Observe, InitError> {
        let user_sinks =
            std::mem::take(&mut *extras.sinks.lock().unwrap_or_else(|e| e.into_inner()));
        let writer = extras
            .log_writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let output = match (writer, config.logs.output) {
            (Some(w), _) => Some(Output::Writer(w)),
            (None, LogOutput::Stdout) => Some(Output::Stdout),
            (None, LogOutput::Stderr) => Some(Output::Stderr),
            (None, _) => None,
        };
        let mut sinks = Vec::new();
        let mut threads = Vec::new();
        let recorder = export_sinks(config, &config.service, &mut sinks, &mut threads)?;
        sinks.extend(user_sinks);
        let slo = crate::slo::prepare(config, &extras.alert_callbacks, &mut sinks);
        let mut observe = Observe::start(Parts {
            settings: Settings {
                redact: config.logs.redaction.clone(),
                config: Arc::new(config.clone()),
                ..Settings::default()
            },
            resource: config.service.clone(),
            log: output.map(|o| (config.logs.format, o, config.logs.buffer_lines)),
            sinks,
            sampler: sampler_for(config.sampler),
            filter: config.logs.filter.clone(),
            shutdown_timeout: config.shutdown_timeout,
            threads,
        })?;
        observe.recorder = recorder;
        if slo.is_some() {
            // Each OTLP metrics export carries the SLO series, as `/metrics` does.
            let _ = crate::otel::slo::SOURCE.set(slo_series);
        }
        crate::slo::started(slo, observe.pipeline, observe.recorder.as_ref());
        #[cfg(feature = "admin")]
        {
            observe.admin_listener = extras
                .admin_listener
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
        }
        Ok(observe)
    }

    pub(crate) fn start(parts: Parts) -> Result<Observe, InitError> {
        let _ = crate::metrics::prometheus::TARGET_INFO.set(target_info);
        // The configuration validated the directives already; a failure here is a
        // filter built in code by observe itself.
        let filter = EnvFilter::try_new(&parts.filter).unwrap_or_else(|_| EnvFilter::new("info"));
        let mut settings = parts.settings;
        if let Some(level) = filter.max_level_hint() {
            settings.span_level = level;
        }
        // The filter in force lets audit lines through, and can be swapped at run
        // time (`controls::set_log_filter`).
        let filter =
            EnvFilter::try_new(crate::controls::with_audit(&parts.filter)).unwrap_or(filter);
        let (filter, reload) = tracing_subscriber::reload::Layer::new(filter);
        let mut sinks = parts.sinks;
        let mut threads = parts.threads;
        let mut log_stats = None;
        if let Some((format, output, max_lines)) = parts.log {
            let (writer, stats) = LogWriter::new(format, output, &parts.resource, max_lines)
                .map_err(InitError::Thread)?;
            sinks.insert(0, Box::new(writer));
            threads.insert(0, stats.health.clone());
            log_stats = Some(stats);
        }
        let pipeline = Pipeline::start(settings, sinks, parts.sampler, log_stats, threads)
            .map_err(InitError::Thread)?;
        crate::controls::register_log_filter(pipeline, reload, &parts.filter);
        let subscriber = Registry::default().with(filter).with(ObserveLayer::new());
        Ok(Observe {
            pipeline,
            dispatch: tracing::Dispatch::new(subscriber),
            shutdown_timeout: parts.shutdown_timeout,
            recorder: None,
            #[cfg(feature = "admin")]
            admin_listener: None,
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

    /// What this instance's pipeline dropped and delivered so far.
    pub fn stats(&self) -> crate::PipelineStats {
        self.pipeline.snapshot_stats()
    }

    /// The configuration this instance was started from.
    pub fn config(&self) -> &Arc<Config> {
        &self.pipeline.settings.config
    }

    /// The configuration of the running instance: the one current on this thread
    /// (tests) or the global one; `None` before `init`. Adapters read their settings
    /// (internal hosts, trust policy, admin address) from it.
    pub fn current_config() -> Option<Arc<Config>> {
        Pipeline::current().map(|p| p.settings.config.clone())
    }

    /// This instance's flight recorder (none when its budget is 0).
    pub fn recorder(&self) -> Option<&FlightRecorder> {
        self.recorder.as_ref()
    }

    /// This instance's `tracing` dispatcher (to install on threads of your own with
    /// `tracing::dispatcher::set_default`).
    pub fn dispatch(&self) -> &tracing::Dispatch {
        &self.dispatch
    }

    /// Delivers everything recorded so far to the sinks (logs written, spans
    /// exported), waiting at most `timeout`. Returns whether everything was
    /// delivered in time (not when the exporter gave records up since the last
    /// flush, or a batch still waits for a retry), no sink panicked while flushing
    /// and every background thread is alive.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.pipeline.flush(crate::clock::deadline_after(timeout))
    }

    /// Flushes and stops, waiting at most the configured shutdown timeout. Returns
    /// whether everything was delivered in time (nothing given up by the exporter)
    /// with every background thread alive.
    pub fn shutdown(self) -> bool {
        self.pipeline
            .shutdown(crate::clock::deadline_after(self.shutdown_timeout))
    }

    /// Installs this instance for the whole process.
    ///
    /// # Errors
    /// A second installation, or another global `tracing` subscriber.
    pub fn install(self) -> Result<Guard, InitError> {
        self.install_announcing(None)
    }

    /// [`install`](Self::install); with `Some(process_env)`, the startup summary
    /// (and, when the configuration came from the process environment, the
    /// unknown-variable warnings) is logged first, before the admin listener's
    /// own lines.
    pub(crate) fn install_announcing(self, announce: Option<bool>) -> Result<Guard, InitError> {
        self.pipeline
            .install_global()
            .map_err(|_| InitError::AlreadyInitialized)?;
        apply_metrics_config(&self.pipeline.settings.config);
        if let Some(r) = &self.recorder {
            // The admin page and `recorder::dump` reach the installed instance's ring.
            let _ = crate::recorder::install(r.clone());
        }
        if tracing::dispatcher::set_global_default(self.dispatch.clone()).is_err() {
            // Another subscriber was there first. Our pipeline stays installed (it
            // cannot be uninstalled) but is stopped; the user has to compose with
            // `layer()` instead.
            self.pipeline
                .shutdown(Instant::now() + Duration::from_millis(100));
            return Err(InitError::SubscriberExists);
        }
        // Records of the `log` crate flow through tracing too. Another `log` logger
        // may already be installed; that is not an error for observe.
        let _ = tracing_log::LogTracer::init();
        crate::span::install_panic_hook();
        Ok(self.announce_and_listen(announce))
    }

    /// The guard of this instance, just installed: binds its admin listener (the
    /// one given, else the configured address), logs the startup summary with the
    /// address it got when `announce` is `Some(process_env)`, then serves the
    /// listener, so that its own lines (a failure's warning among them) follow the
    /// summary and go to the subscriber installed already.
    pub(crate) fn announce_and_listen(self, announce: Option<bool>) -> Guard {
        let (pipeline, shutdown_timeout) = (self.pipeline, self.shutdown_timeout);
        #[cfg(feature = "admin")]
        let bound =
            crate::admin::listener::bind(self.admin_listener, pipeline.settings.config.admin.addr);
        #[cfg(feature = "admin")]
        let shown = bound.shown();
        #[cfg(not(feature = "admin"))]
        let shown = crate::startup::AdminAddr::Off;
        if let Some(process_env) = announce {
            crate::startup::announce(pipeline, &pipeline.settings.config, shown, process_env);
        }
        // An operator's address would otherwise be ignored without a word (`off`
        // asks for what this build does anyway).
        #[cfg(not(feature = "admin"))]
        if announce == Some(true)
            && std::env::var("OBSERVE_ADMIN_ADDR")
                .ok()
                .and_then(|v| crate::config::asks_for_admin_listener(&v))
                .unwrap_or(false)
        {
            tracing::warn!(
                target: "observe",
                "OBSERVE_ADMIN_ADDR is set but this build has no admin listener: \
                 enable observe-core's `admin` feature (a default feature)"
            );
        }
        Guard {
            pipeline: Some(pipeline),
            shutdown_timeout,
            #[cfg(feature = "admin")]
            _admin: crate::admin::listener::start(bound),
        }
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
    pipeline: Option<&'static Pipeline>,
    shutdown_timeout: Duration,
    /// The admin listener `install` started; stops when the guard drops.
    #[cfg(feature = "admin")]
    _admin: Option<crate::admin::listener::Running>,
}

impl Guard {
    /// The guard of a disabled observe (`OTEL_SDK_DISABLED=true`).
    fn disabled() -> Guard {
        Guard {
            pipeline: None,
            shutdown_timeout: Duration::ZERO,
            #[cfg(feature = "admin")]
            _admin: None,
        }
    }

    /// What the pipeline dropped and delivered so far (zeros when disabled).
    pub fn stats(&self) -> crate::PipelineStats {
        self.pipeline
            .map(Pipeline::snapshot_stats)
            .unwrap_or_default()
    }

    /// Whether observe is running (false when disabled by configuration).
    pub fn is_enabled(&self) -> bool {
        self.pipeline.is_some()
    }

    /// Delivers everything recorded so far, waiting at most `timeout`. Returns
    /// whether everything was delivered in time: `false` also when the exporter
    /// gave records up since the last flush (refused, or dropped from its full
    /// queue) or a batch still waits for a retry; [`stats`](Self::stats) and the exporter's
    /// counters say what.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.pipeline
            .is_none_or(|p| p.flush(crate::clock::deadline_after(timeout)))
    }
}

impl Guard {
    /// Flushes and stops now, waiting at most the shutdown timeout. Returns whether
    /// everything was delivered in time (nothing refused, dropped, or waiting for a
    /// retry the deadline does not leave time for) with every background thread
    /// alive;
    /// [`stats`](Self::stats) tells what was lost. Dropping the guard does the same
    /// and, when it returns false or panics were caught, prints one line saying why
    /// to standard error (the log writer has stopped by then).
    pub fn shutdown(mut self) -> bool {
        self.pipeline
            .take()
            .is_none_or(|p| p.shutdown(crate::clock::deadline_after(self.shutdown_timeout)))
    }
}

/// The line the guard prints when shutdown did not go well, if it did not.
fn shutdown_report(p: &Pipeline, in_time: bool, timeout: Duration) -> Option<String> {
    let stats = p.snapshot_stats();
    let dead = p.supervision.dead();
    let mut what = Vec::new();
    if !dead.is_empty() {
        what.push(format!(
            "background thread(s) stopped unexpectedly: {} (what they held was lost)",
            dead.join(", ")
        ));
    }
    if stats.sink_panics + stats.thread_panics > 0 {
        what.push(format!(
            "caught {} panic(s) in sinks and {} in background threads; the records involved were dropped",
            stats.sink_panics, stats.thread_panics
        ));
    }
    // With a timeout of 0 the application asked not to wait: not finishing is
    // what it chose, not news (the stats still count what was dropped).
    if !in_time && dead.is_empty() && !timeout.is_zero() {
        what.push(format!(
            "shutdown did not deliver everything within {timeout:?}; what was left was dropped and counted"
        ));
    }
    (!what.is_empty()).then(|| format!("observe: {}", what.join("; ")))
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(p) = self.pipeline.take() {
            let in_time = p.shutdown(crate::clock::deadline_after(self.shutdown_timeout));
            if let Some(line) = shutdown_report(p, in_time, self.shutdown_timeout) {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
        }
    }
}

/// The running instance's identity as `target_info` labels.
fn target_info() -> Option<Vec<(String, String)>> {
    let config = Observe::current_config()?;
    let s = &config.service;
    let mut labels = vec![
        ("service.name".to_owned(), s.name.clone()),
        ("service.version".to_owned(), s.version.clone()),
    ];
    if let Some(e) = &s.environment {
        labels.push(("deployment.environment.name".to_owned(), e.clone()));
    }
    labels.push(("host.name".to_owned(), s.host.clone()));
    if let Some(t) = &s.team {
        labels.push(("observe.team".to_owned(), t.clone()));
    }
    if let Some(o) = &s.owner {
        labels.push(("observe.owner".to_owned(), o.clone()));
    }
    Some(labels)
}

/// The running SLO engine's series as the OTLP metrics export takes them (the
/// instance assembly joins the two: neither names the other's types).
fn slo_series() -> Option<crate::otel::slo::SloSeries> {
    use crate::otel::slo::{SloRow, SloSeries};
    let engine = crate::slo::current()?;
    Some(SloSeries {
        start: engine.started_unix_nanos(),
        now: engine.now(),
        alerts: engine.alerts_fired(),
        slos: engine
            .status()
            .into_iter()
            .map(|s| SloRow {
                name: s.name,
                objective: s.objective,
                good: s.good_total,
                requests: s.requests_total,
                burn_rates: s
                    .windows
                    .into_iter()
                    .map(|w| (w.window, w.burn_rate))
                    .collect(),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shutdown_not_waited_for_is_not_reported_as_late() {
        let observe = Observe::builder()
            .ignore_env()
            .admin_addr(None)
            .log_output(crate::config::LogOutput::None)
            .build()
            .unwrap()
            .unwrap();
        let p = observe.pipeline;
        assert_eq!(shutdown_report(p, false, Duration::ZERO), None);
        let late = shutdown_report(p, false, Duration::from_secs(5)).unwrap();
        assert!(
            late.contains("did not deliver everything within 5s"),
            "{late}"
        );
        assert_eq!(shutdown_report(p, true, Duration::from_secs(5)), None);
    }
}
