//! Service-level objectives, evaluated in process.
//!
//! Declare SLOs on the builder ([`Builder::slo`](crate::config::Builder::slo)) or
//! in `OBSERVE_SLOS` ([`parse_env`]): a latency objective ("99 % of
//! `GET /orders/{id}` at or under 300 ms") or an availability objective ("99.9 %
//! not failing"), for an HTTP route, a gRPC method or a `#[traced]` function.
//!
//! * **Evaluation** ([`SloEngine`]) runs on observe's background thread about once
//!   a second, never on the request path. It reads the cumulative HDR histograms
//!   of the selected requests (standard requests only: tracer bullets never
//!   count): exact bin counts at or under the threshold, not quantiles. It keeps
//!   each SLO's cumulative good/total in a bounded history of samples (a fine tier
//!   every few seconds, a medium and a coarse one), so any window's counts are a
//!   difference of two samples.
//! * **Burn rates** over the SRE workbook's windows, scaled to the SLO's period:
//!   1h/5m at 14.4 and 6h/30m at 6 page, 3d/6h at 1 files a ticket
//!   ([`default_alerts`]).
//! * **Alerts** fire once when a pair starts firing (both windows at or above its
//!   threshold) and re-arm when it clears: a log line (`ERROR` for a page, `WARN`
//!   for a ticket, target `observe::slo`, also exported as an OTLP log record)
//!   with the burn rates, exemplar trace ids, the service's owner, team and
//!   runbook and the deepest failing dependency; a flight-recorder snapshot
//!   (rate-limited); the callbacks given to
//!   [`Builder::on_alert`](crate::config::Builder::on_alert). The last
//!   [`MAX_ALERTS`] are kept ([`SloEngine::alerts`]).
//! * **Metrics** on `/metrics`: `observe_slo_objective`, `observe_slo_good_total`,
//!   `observe_slo_requests_total`, `observe_slo_burn_rate{window}`,
//!   `observe_slo_alerts_total` (see `docs/slo.md`).
//!
//! The guide is `docs/slo.md`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

mod alert;
pub mod api;
mod engine;
mod history;
mod prometheus;
mod spec;

pub use alert::{Alert, AlertExemplar, Severity};
pub use engine::{
    ALERT_EXEMPLARS, AlertCallback, AlertingStatus, BurnAlert, DEFAULT_SNAPSHOT_INTERVAL,
    EVALUATION_INTERVAL, Identity, MAX_ALERTS, SelectorStatus, SloEngine, SloEngineBuilder,
    SloStatus, WindowStatus, default_alerts, window_label,
};
pub(crate) use prometheus::append as append_exposition;
pub use prometheus::render as prometheus_text;
pub use spec::{
    DEFAULT_PERIOD, ENV_SYNTAX, MAX_ENV_BYTES, MAX_KEY_BYTES, MAX_SLOS, Selector, Slo, SloKind,
    SloParseError, parse_env,
};

use crate::config::{Builder, Problem};
use crate::pipeline::Sink;

/// The resolved SLO settings: the SLOs declared in code then in `OBSERVE_SLOS`,
/// and the directory alert snapshots go to (`OBSERVE_DUMP_DIR`, else the system's
/// temporary directory).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SloConfig {
    /// Every SLO, validated.
    pub slos: Vec<Slo>,
    /// Where alert snapshots are written.
    pub snapshot_dir: Option<PathBuf>,
}

/// What only code gives: SLOs, callbacks, snapshot settings (kept with the
/// builder's other extras).
#[derive(Clone, Default)]
pub(crate) struct Declared {
    slos: Vec<Slo>,
    callbacks: Vec<AlertCallback>,
    snapshot_dir: Option<PathBuf>,
    snapshot_interval: Option<Duration>,
}

impl Builder {
    /// Declares a service-level objective (see [`crate::slo`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use observe_core::slo::Slo;
    ///
    /// let config = observe_core::Observe::builder()
    ///     .ignore_env()
    ///     .slo(Slo::latency("GET /orders/{id}", 0.99, Duration::from_millis(300)))
    ///     .build_config()?;
    /// assert_eq!(config.slo.slos.len(), 1);
    /// # Ok::<(), observe_core::config::ConfigError>(())
    /// ```
    pub fn slo(self, slo: Slo) -> Self {
        self.declared().slos.push(slo);
        self
    }

    /// Calls `f` with every SLO alert, on observe's background thread (keep it
    /// short; a panic is caught and counted).
    pub fn on_alert(self, f: impl Fn(&Alert) + Send + Sync + 'static) -> Self {
        self.declared().callbacks.push(Arc::new(f));
        self
    }

    /// Where alert snapshots of the flight recorder go (default:
    /// `OBSERVE_DUMP_DIR`, else the system's temporary directory), and the least
    /// time between two (default 5 minutes).
    pub fn alert_snapshots(self, dir: impl Into<PathBuf>, min_interval: Duration) -> Self {
        {
            let mut d = self.declared();
            d.snapshot_dir = Some(dir.into());
            d.snapshot_interval = Some(min_interval);
        }
        self
    }

    fn declared(&self) -> std::sync::MutexGuard<'_, Declared> {
        self.extras.slo.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Resolves the SLO settings: the builder's SLOs, then `OBSERVE_SLOS`.
pub(crate) fn resolve(
    builder: &Builder,
    env_slos: Option<String>,
    env_dir: Option<String>,
    problems: &mut Vec<Problem>,
) -> SloConfig {
    let declared = builder.declared().clone();
    let mut slos = Vec::new();
    for s in declared.slos {
        match s.problem() {
            Some(p) => problems.push(Problem::code("Builder::slo", s.name.clone(), p)),
            None => slos.push(s),
        }
    }
    if let Some(raw) = env_slos {
        match parse_env(&raw) {
            Ok(v) => slos.extend(v),
            Err(e) => {
                let shown: String = raw.chars().take(200).collect();
                problems.push(Problem::env(
                    "OBSERVE_SLOS",
                    shown,
                    format!("{ENV_SYNTAX} ({e})"),
                ));
            }
        }
    }
    if slos.len() > MAX_SLOS {
        problems.push(Problem::code(
            "Builder::slo",
            slos.len().to_string(),
            format!("at most {MAX_SLOS} SLOs in code and OBSERVE_SLOS together"),
        ));
        slos.truncate(MAX_SLOS);
    }
    let mut seen = std::collections::HashSet::new();
    for s in &slos {
        if !seen.insert(s.name.as_str()) {
            problems.push(Problem::code(
                "Builder::slo",
                s.name.clone(),
                "SLO names that differ (two SLOs have this name)",
            ));
        }
    }
    SloConfig {
        slos,
        snapshot_dir: declared.snapshot_dir.or_else(|| env_dir.map(PathBuf::from)),
    }
}

static GLOBAL: RwLock<Option<Arc<SloEngine>>> = RwLock::new(None);

/// The running SLO engine: the first observe instance started with SLOs (none
/// without SLOs).
pub fn current() -> Option<Arc<SloEngine>> {
    GLOBAL.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Makes `engine` the one [`current`], `/metrics` and the admin API use, unless
/// one is installed already (then it is returned).
pub fn install(engine: Arc<SloEngine>) -> Result<(), Arc<SloEngine>> {
    let mut g = GLOBAL.write().unwrap_or_else(|e| e.into_inner());
    if g.is_some() {
        return Err(engine);
    }
    *g = Some(engine);
    Ok(())
}

/// Ticks the engine on observe's worker (supervised like every sink).
struct SloSink(Arc<SloEngine>);

impl Sink for SloSink {
    fn on_tick(&mut self, _now: std::time::Instant) {
        self.0.tick();
    }
}

/// Before the pipeline starts: builds the engine from the configuration and
/// the builder's callbacks, and adds the sink that ticks it.
pub(crate) fn prepare(
    config: &crate::config::Config,
    declared: &Mutex<Declared>,
    sinks: &mut Vec<Box<dyn Sink>>,
) -> Option<Arc<SloEngine>> {
    if config.slo.slos.is_empty() {
        return None;
    }
    let declared = declared.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let s = &config.service;
    let mut b = SloEngine::builder()
        .identity(Identity {
            service: s.name.clone(),
            owner: s.owner.clone(),
            team: s.team.clone(),
            runbook: s.runbook.clone(),
        })
        .callbacks(declared.callbacks);
    for slo in &config.slo.slos {
        b = b.slo(slo.clone());
    }
    let mut engine = b.build().ok()?;
    engine.set_snapshot(
        config
            .slo
            .snapshot_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir),
        declared.snapshot_interval,
    );
    let engine = Arc::new(engine);
    sinks.push(Box::new(SloSink(engine.clone())));
    Some(engine)
}

/// After the pipeline starts: the engine logs through it, snapshots its
/// recorder, and becomes [`current`] if none is.
pub(crate) fn started(
    engine: Option<Arc<SloEngine>>,
    pipeline: &'static crate::pipeline::Pipeline,
    recorder: Option<&crate::recorder::FlightRecorder>,
) {
    if let Some(e) = engine {
        e.attach(pipeline);
        e.set_recorder(recorder.cloned());
        let _ = install(e);
    }
}

/// `docs/slo.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/slo.md")]
struct SloGuide;
