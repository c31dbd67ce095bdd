//! Evaluation: per SLO, cumulative good/total sampled on a tick into a
//! [`History`], window counts as differences, multi-window burn-rate alerting.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::Serialize;

use super::alert::{Alert, AlertExemplar, Severity};
use super::history::{Counts, History, Sample};
use crate::config::slo::{DEFAULT_PERIOD, Slo, SloKind};
use crate::metrics::{ExemplarKind, Registry};
use crate::pipeline::Pipeline;
use crate::recorder::FlightRecorder;

/// Alerts kept for `/observe/api/v1/alerts`, newest first.
pub const MAX_ALERTS: usize = 100;
/// Exemplars of each kind (slowest, failed) an alert carries.
pub const ALERT_EXEMPLARS: usize = 3;
/// The default minimum time between two flight-recorder snapshots taken for alerts.
pub const DEFAULT_SNAPSHOT_INTERVAL: Duration = Duration::from_secs(300);
/// How often the engine samples and evaluates (registry clock).
pub const EVALUATION_INTERVAL: Duration = Duration::from_secs(1);

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// A burn-rate alert: fires when the burn rate over both windows is at or above
/// `burn_threshold`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurnAlert {
    /// The long window.
    pub long: Duration,
    /// The short window (stops the alert soon after the burn stops).
    pub short: Duration,
    /// The burn rate both windows must reach.
    pub burn_threshold: f64,
    /// `page` or `ticket`.
    pub severity: Severity,
}

/// The SRE workbook's three pairs for a 30-day period, scaled to `period`
/// (windows multiplied by `period / 30 days`, thresholds unchanged, so each pair
/// still means the same share of the budget): 1h/5m at 14.4 (page), 6h/30m at 6
/// (page), 3d/6h at 1 (ticket).
pub fn default_alerts(period: Duration) -> [BurnAlert; 3] {
    let scale = |secs: u64| {
        let nanos = (secs as u128 * NANOS_PER_SEC as u128 * period.as_nanos()
            / DEFAULT_PERIOD.as_nanos())
        .max(NANOS_PER_SEC as u128);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    };
    [
        BurnAlert {
            long: scale(3600),
            short: scale(300),
            burn_threshold: 14.4,
            severity: Severity::Page,
        },
        BurnAlert {
            long: scale(6 * 3600),
            short: scale(1800),
            burn_threshold: 6.0,
            severity: Severity::Page,
        },
        BurnAlert {
            long: scale(3 * 86400),
            short: scale(6 * 3600),
            burn_threshold: 1.0,
            severity: Severity::Ticket,
        },
    ]
}

/// `5m`, `1h`, `3d`, `90s`: the window label of metrics and JSON.
pub fn window_label(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 {
        return format!("{}ms", d.as_millis());
    }
    for (unit, n) in [("d", 86400), ("h", 3600), ("m", 60)] {
        if s.is_multiple_of(n) {
            return format!("{}{unit}", s / n);
        }
    }
    format!("{s}s")
}

/// The service identity an alert carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// `service.name`.
    pub service: String,
    /// Who to page.
    pub owner: Option<String>,
    /// The owning team.
    pub team: Option<String>,
    /// The runbook.
    pub runbook: Option<String>,
}

/// A callback that receives every alert (on observe's background thread: keep it
/// short; a panic is caught and counted).
pub type AlertCallback = Arc<dyn Fn(&Alert) + Send + Sync>;

/// One window's figures, as `/observe/api/v1/slos` shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowStatus {
    /// `5m`.
    pub window: String,
    /// Its length, seconds.
    pub window_s: f64,
    /// The time it covers so far (less than `window_s` while the history is
    /// shorter), seconds.
    pub covered_s: f64,
    /// Good requests.
    pub good: u64,
    /// All requests.
    pub total: u64,
    /// Bad fraction over the allowed fraction.
    pub burn_rate: f64,
}

/// One alert pair's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertingStatus {
    /// The long window.
    pub long: String,
    /// The short window.
    pub short: String,
    /// The burn rate both must reach.
    pub burn_threshold: f64,
    /// `page` or `ticket`.
    pub severity: Severity,
    /// Whether it fires now.
    pub firing: bool,
}

/// What the selector reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SelectorStatus {
    /// The histogram.
    pub metric: &'static str,
    /// The route, method or function.
    pub key: String,
}

/// One SLO's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloStatus {
    /// Its name.
    pub name: String,
    /// `latency` or `availability`.
    pub kind: &'static str,
    /// The promised fraction.
    pub objective: f64,
    /// The latency threshold, seconds (latency SLOs only).
    pub threshold_s: Option<f64>,
    /// What it reads.
    pub selector: SelectorStatus,
    /// The budget period, seconds.
    pub period_s: f64,
    /// Good requests since the selected series were created (cumulative).
    pub good_total: u64,
    /// Requests since the selected series were created (cumulative).
    pub requests_total: u64,
    /// Each alerting window, shortest first.
    pub windows: Vec<WindowStatus>,
    /// The alert pairs.
    pub alerting: Vec<AlertingStatus>,
    /// `1 - burn rate` over the longest window kept (the period, or as much of
    /// it as the history holds); negative once overspent.
    pub budget_remaining: f64,
    /// `exhausted` (no budget left), `burning` (an alert fires) or `ok`.
    pub status: &'static str,
}

struct SloState {
    slo: Slo,
    alerts: Vec<BurnAlert>,
    /// Distinct windows of the alerts, shortest first.
    windows: Vec<Duration>,
    history: History,
    last: Sample,
    firing: Vec<bool>,
    status: Option<SloStatus>,
}

impl SloState {
    /// `start`: the engine's creation (registry clock). The history starts there
    /// with zero counts, so what is recorded before the first evaluation is
    /// counted too.
    fn new(slo: Slo, start: u64) -> SloState {
        let alerts = default_alerts(slo.period).to_vec();
        let mut windows: Vec<Duration> = alerts.iter().flat_map(|a| [a.long, a.short]).collect();
        windows.sort();
        windows.dedup();
        let shortest = windows[0].as_nanos() as u64;
        let n = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        // Finest: a 30th of the shortest window (10 s for 5 min), as far as the
        // first pair's long window; then 360 steps of the second pair's long
        // window (1 min for 6 h) as far as the third's; then 720 steps of the
        // period (1 h for 30 days).
        let fine = (shortest / 30).max(NANOS_PER_SEC / 10);
        let mut history = History::new(&[
            (fine, n(alerts[0].long)),
            (n(alerts[1].long) / 360, n(alerts[2].long)),
            (n(slo.period) / 720, n(slo.period)),
        ]);
        history.record(Sample {
            t: start,
            good: 0,
            total: 0,
        });
        let count = alerts.len();
        SloState {
            slo,
            alerts,
            windows,
            history,
            last: Sample::default(),
            firing: vec![false; count],
            status: None,
        }
    }
}

/// The engine: the declared SLOs of one registry, their history, and the alerts.
pub struct SloEngine {
    registry: Registry,
    slos: Mutex<Vec<SloState>>,
    alerts: Mutex<VecDeque<Alert>>,
    alerts_fired: std::sync::atomic::AtomicU64,
    callback_panics: std::sync::atomic::AtomicU64,
    identity: Identity,
    callbacks: Vec<AlertCallback>,
    snapshot_dir: Option<PathBuf>,
    snapshot_interval: Duration,
    recorder: Mutex<Option<FlightRecorder>>,
    pipeline: OnceLock<&'static Pipeline>,
    last_eval: Mutex<u64>,
    /// When the engine was built (registry clock): where its cumulative counts
    /// start.
    start: u64,
}

impl std::fmt::Debug for SloEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SloEngine")
            .field("slos", &self.slos.lock().map_or(0, |s| s.len()))
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Builds an [`SloEngine`]: for tests and embedding (`init` builds the
/// process's from the configuration).
#[derive(Default)]
#[must_use]
pub struct SloEngineBuilder {
    registry: Option<Registry>,
    slos: Vec<Slo>,
    identity: Identity,
    callbacks: Vec<AlertCallback>,
    snapshot_dir: Option<PathBuf>,
    snapshot_interval: Option<Duration>,
    recorder: Option<FlightRecorder>,
}

impl std::fmt::Debug for SloEngineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SloEngineBuilder")
            .field("slos", &self.slos)
            .finish_non_exhaustive()
    }
}

impl SloEngineBuilder {
    /// Reads this registry (default: the process-wide one). Its clock is the
    /// engine's clock.
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Adds an SLO.
    pub fn slo(mut self, slo: Slo) -> Self {
        self.slos.push(slo);
        self
    }

    /// The service identity alerts carry.
    pub fn identity(mut self, identity: Identity) -> Self {
        self.identity = identity;
        self
    }

    /// Calls `f` with every alert.
    pub fn on_alert(mut self, f: impl Fn(&Alert) + Send + Sync + 'static) -> Self {
        self.callbacks.push(Arc::new(f));
        self
    }

    pub(crate) fn callbacks(mut self, callbacks: Vec<AlertCallback>) -> Self {
        self.callbacks.extend(callbacks);
        self
    }

    /// Snapshots `recorder` into `dir` when an alert fires (at most once per
    /// `interval`, default 5 minutes).
    pub fn snapshot(
        mut self,
        recorder: FlightRecorder,
        dir: impl Into<PathBuf>,
        interval: Option<Duration>,
    ) -> Self {
        self.recorder = Some(recorder);
        self.snapshot_dir = Some(dir.into());
        self.snapshot_interval = interval;
        self
    }

    /// The engine, or why an SLO cannot be evaluated (more than [`super::MAX_SLOS`],
    /// a bad objective, two with one name).
    pub fn build(self) -> Result<SloEngine, String> {
        if self.slos.len() > super::MAX_SLOS {
            return Err(format!(
                "{} SLOs declared, more than the {} allowed",
                self.slos.len(),
                super::MAX_SLOS
            ));
        }
        let mut names = std::collections::HashSet::new();
        for s in &self.slos {
            if let Some(p) = s.problem() {
                return Err(format!("SLO {:?}: {p}", s.name));
            }
            if !names.insert(s.name.clone()) {
                return Err(format!("two SLOs are named {:?}", s.name));
            }
        }
        let registry = self
            .registry
            .unwrap_or_else(|| crate::metrics::global().clone());
        let start = registry.now();
        Ok(SloEngine {
            slos: Mutex::new(
                self.slos
                    .into_iter()
                    .map(|s| SloState::new(s, start))
                    .collect(),
            ),
            registry,
            alerts: Mutex::new(VecDeque::new()),
            alerts_fired: Default::default(),
            callback_panics: Default::default(),
            identity: self.identity,
            callbacks: self.callbacks,
            snapshot_dir: self.snapshot_dir,
            snapshot_interval: self.snapshot_interval.unwrap_or(DEFAULT_SNAPSHOT_INTERVAL),
            recorder: Mutex::new(self.recorder),
            pipeline: OnceLock::new(),
            start,
            last_eval: Mutex::new(0),
        })
    }
}

/// An alert decided under the lock, completed (exemplars, snapshot) after it.
struct Pending {
    slo: String,
    selector: super::Selector,
    kind: SloKind,
    pair: BurnAlert,
    burn_rates: BTreeMap<String, f64>,
}

impl SloEngine {
    /// A builder.
    pub fn builder() -> SloEngineBuilder {
        SloEngineBuilder::default()
    }

    /// The registry it reads.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub(crate) fn set_snapshot(&mut self, dir: PathBuf, interval: Option<Duration>) {
        self.snapshot_dir = Some(dir);
        if let Some(i) = interval {
            self.snapshot_interval = i;
        }
    }

    pub(crate) fn attach(&self, pipeline: &'static Pipeline) {
        let _ = self.pipeline.set(pipeline);
    }

    pub(crate) fn set_recorder(&self, recorder: Option<FlightRecorder>) {
        let mut r = lock(&self.recorder);
        if r.is_none() {
            *r = recorder;
        }
    }

    /// Evaluates if [`EVALUATION_INTERVAL`] passed since the last evaluation
    /// (registry clock): observe's background thread calls this every round. New
    /// alerts are completed and emitted on a short-lived thread of their own
    /// (`observe-slo-alert`): gathering exemplars, scanning the recorder and
    /// writing its snapshot can take a while, and the worker must keep draining.
    pub fn tick(self: &Arc<Self>) {
        let now = self.registry.now();
        {
            let mut last = lock(&self.last_eval);
            if now < last.saturating_add(EVALUATION_INTERVAL.as_nanos() as u64) {
                return;
            }
            *last = now;
        }
        let pending = self.evaluate_pending(now);
        if pending.is_empty() {
            return;
        }
        let engine = self.clone();
        let pending = Arc::new(Mutex::new(Some(pending)));
        let task = pending.clone();
        let spawned = std::thread::Builder::new()
            .name("observe-slo-alert".into())
            .spawn(move || {
                if let Some(p) = lock(&task).take()
                    && catch_unwind(AssertUnwindSafe(|| engine.finish(p, now))).is_err()
                {
                    engine
                        .callback_panics
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        if spawned.is_err()
            && let Some(p) = lock(&pending).take()
        {
            self.finish(p, now);
        }
    }

    /// Samples every SLO's cumulative counts at `now` (nanoseconds since the Unix
    /// epoch, normally the registry's clock), updates the windows and alert
    /// pairs, and emits an alert for each pair that starts firing, on the calling
    /// thread. Returns the alerts emitted.
    pub fn evaluate_at(&self, now: u64) -> Vec<Alert> {
        let pending = self.evaluate_pending(now);
        self.finish(pending, now)
    }

    fn finish(&self, pending: Vec<Pending>, now: u64) -> Vec<Alert> {
        let alerts: Vec<Alert> = pending.into_iter().map(|p| self.complete(p, now)).collect();
        for a in &alerts {
            self.emit(a);
        }
        alerts
    }

    /// The evaluation proper: the alerts to make.
    fn evaluate_pending(&self, now: u64) -> Vec<Pending> {
        // One read of each histogram per threshold, whatever the SLO count.
        let mut counts: HashMap<(&'static str, Option<u64>), Vec<crate::metrics::SeriesCounts>> =
            HashMap::new();
        let mut pending = Vec::new();
        {
            let mut slos = lock(&self.slos);
            for st in slos.iter_mut() {
                let threshold = match st.slo.kind {
                    SloKind::Latency { threshold } => {
                        Some(u64::try_from(threshold.as_nanos()).unwrap_or(u64::MAX))
                    }
                    SloKind::Availability => None,
                };
                let (mut good, mut total) = (0u64, 0u64);
                let series = counts
                    .entry((st.slo.selector.metric, threshold))
                    .or_insert_with(|| {
                        self.registry
                            .cumulative_counts(st.slo.selector.metric, threshold)
                    });
                for c in series.iter() {
                    if !st.slo.selector.matches(&c.labels) {
                        continue;
                    }
                    total += c.total;
                    good += match st.slo.kind {
                        SloKind::Latency { .. } => c.at_or_under,
                        SloKind::Availability if st.slo.selector.is_failure(&c.labels) => 0,
                        SloKind::Availability => c.total,
                    };
                }
                let sample = Sample {
                    t: now,
                    good,
                    total,
                };
                st.history.record(sample);
                st.last = sample;
                let counts: Vec<(Duration, Counts)> = st
                    .windows
                    .iter()
                    .map(|&w| (w, st.history.window(sample, w.as_nanos() as u64)))
                    .collect();
                let burn = |w: Duration| {
                    counts
                        .iter()
                        .find(|(d, _)| *d == w)
                        .map_or(0.0, |(_, c)| c.burn_rate(st.slo.objective))
                };
                let mut alerting = Vec::new();
                // Pairs that start firing in one evaluation make one alert: the
                // most severe (the first), with every such pair's burn rates.
                let mut new_alert: Option<Pending> = None;
                for (i, pair) in st.alerts.iter().enumerate() {
                    let (long, short) = (burn(pair.long), burn(pair.short));
                    let firing = long >= pair.burn_threshold && short >= pair.burn_threshold;
                    if firing && !st.firing[i] {
                        let p = new_alert.get_or_insert_with(|| Pending {
                            slo: st.slo.name.clone(),
                            selector: st.slo.selector.clone(),
                            kind: st.slo.kind,
                            pair: *pair,
                            burn_rates: BTreeMap::new(),
                        });
                        p.burn_rates.insert(window_label(pair.long), long);
                        p.burn_rates.insert(window_label(pair.short), short);
                    }
                    st.firing[i] = firing;
                    alerting.push(AlertingStatus {
                        long: window_label(pair.long),
                        short: window_label(pair.short),
                        burn_threshold: pair.burn_threshold,
                        severity: pair.severity,
                        firing,
                    });
                }
                pending.extend(new_alert);
                let period = st.history.window(sample, st.slo.period.as_nanos() as u64);
                let budget_remaining = 1.0 - period.burn_rate(st.slo.objective);
                let status = if budget_remaining <= 0.0 {
                    "exhausted"
                } else if st.firing.iter().any(|f| *f) {
                    "burning"
                } else {
                    "ok"
                };
                st.status = Some(SloStatus {
                    name: st.slo.name.clone(),
                    kind: st.slo.kind.as_str(),
                    objective: st.slo.objective,
                    threshold_s: match st.slo.kind {
                        SloKind::Latency { threshold } => Some(threshold.as_secs_f64()),
                        SloKind::Availability => None,
                    },
                    selector: SelectorStatus {
                        metric: st.slo.selector.metric,
                        key: st.slo.selector.key.clone(),
                    },
                    period_s: st.slo.period.as_secs_f64(),
                    good_total: sample.good,
                    requests_total: sample.total,
                    windows: counts
                        .iter()
                        .map(|(w, c)| WindowStatus {
                            window: window_label(*w),
                            window_s: w.as_secs_f64(),
                            covered_s: c.covered_nanos as f64 / 1e9,
                            good: c.good,
                            total: c.total,
                            burn_rate: c.burn_rate(st.slo.objective),
                        })
                        .collect(),
                    alerting,
                    budget_remaining,
                    status,
                });
            }
        }
        pending
    }

    /// Exemplars, deepest failure and snapshot of a new alert.
    fn complete(&self, p: Pending, now: u64) -> Alert {
        let recorder = lock(&self.recorder).clone();
        let snap = self.registry.snapshot();
        let (mut slow, mut failed) = (Vec::new(), Vec::new());
        for h in &snap.histograms {
            if h.name != p.selector.metric {
                continue;
            }
            let labels: Vec<(String, String)> = h
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !p.selector.matches(&labels) {
                continue;
            }
            for e in &h.exemplars {
                match e.kind {
                    ExemplarKind::Slowest => slow.push(*e),
                    ExemplarKind::Error => failed.push(*e),
                }
            }
        }
        slow.sort_by_key(|e| std::cmp::Reverse(e.value));
        failed.sort_by_key(|e| std::cmp::Reverse(e.unix_nanos));
        if matches!(p.kind, SloKind::Latency { .. }) {
            // Only observations that broke the objective are evidence.
            let t = match p.kind {
                SloKind::Latency { threshold } => threshold.as_nanos() as u64,
                SloKind::Availability => 0,
            };
            slow.retain(|e| e.value > t);
        } else {
            slow.clear();
        }
        let root_span = |trace: crate::ids::TraceId| {
            recorder
                .as_ref()
                .and_then(|r| r.trace(trace))
                .and_then(|d| d.summary.root_span_id)
        };
        let exemplars = slow
            .iter()
            .take(ALERT_EXEMPLARS)
            .map(|e| (e, "slow"))
            .chain(failed.iter().take(ALERT_EXEMPLARS).map(|e| (e, "failed")))
            .map(|(e, kind)| AlertExemplar {
                trace_id: e.trace_id,
                span_id: root_span(e.trace_id),
                value_s: e.value as f64 / 1e9,
                kind,
            })
            .collect();
        // Among this alert's evidence only: the newest failure of the recorder is
        // often another route's.
        let evidence: Vec<crate::ids::TraceId> = slow
            .iter()
            .chain(failed.iter())
            .map(|e| e.trace_id)
            .collect();
        let deepest_failure = recorder.as_ref().and_then(|r| {
            crate::dependencies::deepest_failure_among(&self.identity.service, r, &evidence)
        });
        let snapshot = match (&recorder, &self.snapshot_dir) {
            (Some(r), Some(dir)) => {
                let _ = std::fs::create_dir_all(dir);
                match r.dump_rate_limited(dir, &format!("slo-{}", p.slo), self.snapshot_interval) {
                    Ok(Some(s)) => Some(s.path),
                    _ => None,
                }
            }
            _ => None,
        };
        Alert {
            time_unix_nano: now,
            slo: p.slo,
            severity: p.pair.severity,
            long_window: window_label(p.pair.long),
            short_window: window_label(p.pair.short),
            burn_threshold: p.pair.burn_threshold,
            burn_rates: p.burn_rates,
            exemplars,
            service: self.identity.service.clone(),
            owner: self.identity.owner.clone(),
            team: self.identity.team.clone(),
            runbook: self.identity.runbook.clone(),
            deepest_failure,
            snapshot,
        }
    }

    /// The log line, the ring, the callbacks.
    fn emit(&self, alert: &Alert) {
        self.alerts_fired
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(p) = self.pipeline.get() {
            p.push_log(super::alert::log_record(alert));
        }
        {
            let mut ring = lock(&self.alerts);
            ring.push_front(alert.clone());
            ring.truncate(MAX_ALERTS);
        }
        for (i, cb) in self.callbacks.iter().enumerate() {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| cb(alert))) {
                let n = self
                    .callback_panics
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    + 1;
                let message = crate::span::future::panic_message(payload.as_ref())
                    .unwrap_or(std::borrow::Cow::Borrowed("(no message)"));
                tracing::error!(
                    target: "observe::slo",
                    slo = %alert.slo,
                    callback = i,
                    callback_panics = n,
                    "an on_alert callback panicked: {message}; observe caught it, and the \
                     other callbacks still ran"
                );
            }
        }
    }

    /// Every SLO's state at the last evaluation (none before the first).
    pub fn status(&self) -> Vec<SloStatus> {
        lock(&self.slos)
            .iter()
            .filter_map(|s| s.status.clone())
            .collect()
    }

    /// The last [`MAX_ALERTS`] alerts, newest first.
    pub fn alerts(&self) -> Vec<Alert> {
        lock(&self.alerts).iter().cloned().collect()
    }

    /// When the engine was built (Unix nanoseconds, the registry's clock): the
    /// start of its cumulative counts.
    pub fn started_unix_nanos(&self) -> u64 {
        self.start
    }

    /// The registry's clock now (Unix nanoseconds).
    pub(crate) fn now(&self) -> u64 {
        self.registry.now()
    }

    /// Alerts emitted since the engine started.
    pub fn alerts_fired(&self) -> u64 {
        self.alerts_fired.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Panics caught in alert callbacks (and while completing an alert on its
    /// thread).
    pub fn callback_panics(&self) -> u64 {
        self.callback_panics
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The identity alerts carry.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Samples held over all SLOs (the memory bound).
    pub fn samples_held(&self) -> usize {
        lock(&self.slos).iter().map(|s| s.history.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use super::*;
    use crate::metrics::RequestType;

    const S: u64 = NANOS_PER_SEC;

    fn clocked() -> (Registry, Arc<AtomicU64>) {
        let now = Arc::new(AtomicU64::new(1_700_000_000 * S));
        let c = now.clone();
        let r = Registry::builder()
            .clock(move || c.load(Ordering::SeqCst))
            .build()
            .unwrap();
        (r, now)
    }

    fn record(r: &Registry, status: u16, ms: u64, n: usize, rt: RequestType) {
        let err = (status >= 500).then(|| status.to_string());
        let h = r.http_server_duration("/orders/{id}", "GET", status, "http", err.as_deref(), rt);
        for _ in 0..n {
            h.record(ms * 1_000_000);
        }
    }

    /// Counts the `ERROR` events of target `observe::slo` on this thread.
    struct SloErrors(Arc<AtomicUsize>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SloErrors {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            let m = event.metadata();
            if m.target() == "observe::slo" && *m.level() == tracing::Level::ERROR {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    #[test]
    fn burn_rates_per_window_and_one_alert_per_firing_edge() {
        use tracing_subscriber::layer::SubscriberExt as _;
        let logged = Arc::new(AtomicUsize::new(0));
        let _logs = tracing::subscriber::set_default(
            tracing_subscriber::registry().with(SloErrors(logged.clone())),
        );
        let (r, now) = clocked();
        let fired = Arc::new(AtomicUsize::new(0));
        let f = fired.clone();
        let engine = SloEngine::builder()
            .registry(r.clone())
            .slo(Slo::latency("GET /orders/{id}", 0.99, Duration::from_millis(300)).named("fast"))
            .slo(Slo::availability("GET /orders/{id}", 0.999).named("up"))
            .identity(Identity {
                service: "shop".into(),
                owner: Some("oncall@example.com".into()),
                ..Identity::default()
            })
            .on_alert(move |_| {
                f.fetch_add(1, Ordering::SeqCst);
            })
            .on_alert(|_| panic!("a user callback that panics"))
            .build()
            .unwrap();
        engine.evaluate_at(now.load(Ordering::SeqCst));
        // An hour of good traffic, 100 requests every 10 s.
        for _ in 0..360 {
            now.fetch_add(10 * S, Ordering::SeqCst);
            record(&r, 200, 20, 100, RequestType::Standard);
            assert!(engine.evaluate_at(now.load(Ordering::SeqCst)).is_empty());
        }
        // Tracer bullets, slow and failing, change nothing.
        record(&r, 500, 900, 1000, RequestType::TracerBullet);
        now.fetch_add(10 * S, Ordering::SeqCst);
        assert!(engine.evaluate_at(now.load(Ordering::SeqCst)).is_empty());
        let st = engine.status();
        assert_eq!(st[0].requests_total, 36_000);
        assert_eq!(st[0].good_total, 36_000);
        assert!(st.iter().all(|s| s.status == "ok"));
        // Then 5 minutes of 100 requests per 10 s, 30 of them slow (400 ms) and
        // 5 of those also failing.
        let mut alerts = Vec::new();
        for _ in 0..30 {
            now.fetch_add(10 * S, Ordering::SeqCst);
            record(&r, 200, 20, 70, RequestType::Standard);
            record(&r, 200, 400, 25, RequestType::Standard);
            record(&r, 503, 400, 5, RequestType::Standard);
            alerts.extend(engine.evaluate_at(now.load(Ordering::SeqCst)));
        }
        let st = engine.status();
        let fast = &st[0];
        let w5 = fast.windows.iter().find(|w| w.window == "5m").unwrap();
        // The 5-minute window: exactly the burst (30 batches), 30 % slow against
        // a 1 % budget: 30.
        assert_eq!((w5.good, w5.total), (2100, 3000));
        assert!((w5.burn_rate - 30.0).abs() < 1e-9, "{}", w5.burn_rate);
        let w1h = fast.windows.iter().find(|w| w.window == "1h").unwrap();
        // The hour (391 steps of 10 s so far): the last 329 batches of good
        // traffic, the step of tracer bullets, the 30 of the burst.
        assert_eq!((w1h.good, w1h.total), (32_900 + 2100, 35_900));
        let expected = (900.0 / 35_900.0) / 0.01;
        assert!((w1h.burn_rate - expected).abs() < 1e-9, "{}", w1h.burn_rate);
        // 2.5 < 14.4: the fast pair waits for the hour to burn too.
        let up = &st[1];
        let up5 = up.windows.iter().find(|w| w.window == "5m").unwrap();
        assert_eq!(up5.total - up5.good, 150);
        assert!((up5.burn_rate - (150.0 / 3000.0) / 0.001).abs() < 1e-9);
        // Availability: 5 % failing is 50x over 5 minutes but 150/35900 = 4.2x
        // over the hour (and over 6 h, all the history), under both paging
        // pairs' thresholds. The ticket pair (3d/6h at 1, all the history here)
        // fired, once per SLO.
        assert_eq!(alerts.len(), 2, "{alerts:?}");
        assert!(
            alerts
                .iter()
                .all(|a| a.severity == Severity::Ticket && a.long_window == "3d")
        );
        // Keep burning: availability's 1h/5m pair needs 14.4 over the hour.
        for _ in 0..60 {
            now.fetch_add(10 * S, Ordering::SeqCst);
            record(&r, 503, 400, 100, RequestType::Standard);
            alerts.extend(engine.evaluate_at(now.load(Ordering::SeqCst)));
        }
        let pages: Vec<&Alert> = alerts.iter().filter(|a| a.long_window == "1h").collect();
        // Each SLO's fast pair fired once, not once per evaluation.
        assert_eq!(pages.len(), 2, "{alerts:?}");
        // The message names the windows longest first (not in text order).
        for a in &alerts {
            let m = a.message();
            let mut at: Vec<(usize, Duration)> = a
                .burn_rates
                .keys()
                .map(|w| {
                    let i = m
                        .find(&format!("over {w}"))
                        .unwrap_or_else(|| panic!("{m}"));
                    (i, humantime::parse_duration(w).unwrap())
                })
                .collect();
            at.sort();
            assert!(at.windows(2).all(|p| p[0].1 > p[1].1), "{m}");
        }
        assert!(pages.iter().all(|a| a.severity == Severity::Page));
        assert!(
            pages
                .iter()
                .all(|a| a.owner.as_deref() == Some("oncall@example.com"))
        );
        assert_eq!(engine.alerts().len(), alerts.len());
        assert_eq!(fired.load(Ordering::SeqCst), alerts.len());
        assert_eq!(engine.callback_panics(), alerts.len() as u64);
        // Each caught panic is logged (no pipeline here: no alert lines either).
        assert_eq!(logged.load(Ordering::SeqCst), alerts.len());
        assert!(engine.status().iter().all(|s| s.status != "ok"));
        // It clears (an hour of good traffic), and re-arms: a new burst fires again.
        for _ in 0..400 {
            now.fetch_add(10 * S, Ordering::SeqCst);
            record(&r, 200, 20, 1000, RequestType::Standard);
            engine.evaluate_at(now.load(Ordering::SeqCst));
        }
        assert!(!engine.status()[0].alerting[0].firing);
        let before = engine.alerts_fired();
        let mut again = Vec::new();
        for _ in 0..60 {
            now.fetch_add(10 * S, Ordering::SeqCst);
            record(&r, 503, 400, 1000, RequestType::Standard);
            again.extend(engine.evaluate_at(now.load(Ordering::SeqCst)));
        }
        assert!(
            again
                .iter()
                .any(|a| a.slo == "fast" && a.long_window == "1h")
        );
        assert!(engine.alerts_fired() > before);
    }

    #[test]
    fn a_traced_function_and_a_grpc_method_are_selected_by_their_labels() {
        let (r, now) = clocked();
        let engine = SloEngine::builder()
            .registry(r.clone())
            .slo(Slo::availability("shop::orders::load", 0.99).named("load-up"))
            .slo(
                Slo::latency("shop.v1.Orders/Get", 0.9, Duration::from_millis(10))
                    .named("get-fast"),
            )
            .build()
            .unwrap();
        let ok = r.function_duration("shop::orders::load", false, RequestType::Standard);
        let err = r.function_duration("shop::orders::load", true, RequestType::Standard);
        let bullet = r.function_duration("shop::orders::load", true, RequestType::TracerBullet);
        for _ in 0..97 {
            ok.record(1_000);
        }
        for _ in 0..3 {
            err.record(1_000);
        }
        bullet.record(1_000);
        let grpc = r.rpc_server_duration(
            "grpc",
            "shop.v1.Orders",
            "Get",
            Some(0),
            RequestType::Standard,
        );
        for ms in [1, 2, 3, 20] {
            grpc.record(ms * 1_000_000);
        }
        now.fetch_add(S, Ordering::SeqCst);
        engine.evaluate_at(now.load(Ordering::SeqCst));
        let st = engine.status();
        assert_eq!((st[0].good_total, st[0].requests_total), (97, 100));
        assert!((st[0].windows[0].burn_rate - 3.0).abs() < 1e-9);
        assert_eq!((st[1].good_total, st[1].requests_total), (3, 4));
    }

    #[test]
    fn windows_scale_with_the_period_and_are_labelled() {
        let a = default_alerts(Duration::from_secs(30 * 86400));
        assert_eq!(
            [a[0].long, a[0].short, a[2].long],
            [
                Duration::from_secs(3600),
                Duration::from_secs(300),
                Duration::from_secs(3 * 86400)
            ]
        );
        let week = default_alerts(Duration::from_secs(7 * 86400));
        assert_eq!(week[0].long, Duration::from_secs(840));
        assert_eq!(window_label(Duration::from_secs(300)), "5m");
        assert_eq!(window_label(Duration::from_secs(3 * 86400)), "3d");
        assert_eq!(window_label(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn the_history_is_bounded_per_slo() {
        let (r, now) = clocked();
        let engine = SloEngine::builder()
            .registry(r)
            .slo(Slo::availability("GET /a", 0.99))
            .build()
            .unwrap();
        // Three simulated days, a sample a second.
        for _ in 0..(3 * 86400) {
            now.fetch_add(S, Ordering::SeqCst);
            engine.evaluate_at(now.load(Ordering::SeqCst));
        }
        // Fine: 1 h / 10 s, medium: 3 d / 1 min, coarse: 30 d / 1 h, each + 2.
        assert!(
            engine.samples_held() <= 362 + 4322 + 722,
            "{}",
            engine.samples_held()
        );
    }

    #[test]
    fn too_many_or_invalid_slos_are_refused() {
        let mut b = SloEngine::builder();
        for i in 0..=crate::slo::MAX_SLOS {
            b = b.slo(Slo::availability(&format!("GET /{i}"), 0.99));
        }
        assert!(b.build().is_err());
        assert!(
            SloEngine::builder()
                .slo(Slo::availability("GET /a", 1.5))
                .build()
                .is_err()
        );
        assert!(
            SloEngine::builder()
                .slo(Slo::availability("GET /a", 0.9))
                .slo(Slo::availability("GET /a", 0.99))
                .build()
                .is_err()
        );
    }
}
