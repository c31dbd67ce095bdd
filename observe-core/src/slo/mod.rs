//! Service-level objectives, evaluated in process.
//!
//! Declare SLOs on the builder ([`Builder::slo`](crate::Builder::slo)) or
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
//!   [`Builder::on_alert`](crate::Builder::on_alert). The last
//!   [`MAX_ALERTS`] are kept ([`SloEngine::alerts`]).
//! * **Metrics** on `/metrics`: `observe_slo_objective`, `observe_slo_good_total`,
//!   `observe_slo_requests_total`, `observe_slo_burn_rate{window}`,
//!   `observe_slo_alerts_total` (see `docs/slo.md`).
//!
//! The guide is `docs/slo.md`.

use std::sync::{Arc, Mutex, RwLock};

mod alert;
pub mod api;
mod engine;
mod history;
mod prometheus;

pub use crate::config::slo::{
    DEFAULT_PERIOD, ENV_SYNTAX, MAX_ENV_BYTES, MAX_KEY_BYTES, MAX_SLOS, Selector, Slo, SloKind,
    SloParseError, parse_env,
};
pub use alert::{Alert, AlertExemplar, Severity};
pub use engine::{
    ALERT_EXEMPLARS, AlertCallback, AlertingStatus, BurnAlert, DEFAULT_SNAPSHOT_INTERVAL,
    EVALUATION_INTERVAL, Identity, MAX_ALERTS, SelectorStatus, SloEngine, SloEngineBuilder,
    SloStatus, WindowStatus, default_alerts, window_label,
};
pub use prometheus::render as prometheus_text;

use crate::pipeline::Sink;

pub use crate::config::SloConfig;

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
    callbacks: &Mutex<Vec<AlertCallback>>,
    sinks: &mut Vec<Box<dyn Sink>>,
) -> Option<Arc<SloEngine>> {
    if config.slo.slos.is_empty() {
        return None;
    }
    let callbacks = callbacks.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let s = &config.service;
    let mut b = SloEngine::builder()
        .identity(Identity {
            service: s.name.clone(),
            owner: s.owner.clone(),
            team: s.team.clone(),
            runbook: s.runbook.clone(),
        })
        .callbacks(callbacks);
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
        config.slo.snapshot_interval,
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
        let _ = crate::metrics::prometheus::EXTRA.set(prometheus::append);
        e.attach(pipeline);
        e.set_recorder(recorder.cloned());
        let _ = install(e);
    }
}

/// `docs/slo.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/slo.md")]
struct SloGuide;
