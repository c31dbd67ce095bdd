//! Run-time controls with an audit trail: the head-sampling ratio (global and per
//! route or function) and the log filter, changed from code or through the admin
//! API (`/observe/api/v1/sampling`, `/observe/api/v1/log-level`).
//!
//! Every change logs one audit line: INFO, target `observe::audit`, with the fields
//! `control`, `old`, `new` and `peer` (the admin client's address, or `code` for a
//! call from the application). The log filter always lets `observe::audit` through
//! at `info`, unless it names that target itself. Each function returns the
//! [`Change`] it made.
//!
//! ```
//! use observe_core::controls;
//! # let _capture = observe_core::testing::capture();
//!
//! let change = controls::set_sampling_ratio(0.25)?;
//! assert_eq!(change.new, 0.25);
//! controls::set_sampling_ratio_for("GET /orders/{id}", 1.0)?;
//! controls::reset_sampling()?; // back to the configured ratio, no overrides
//! # Ok::<(), controls::ControlError>(())
//! ```
//!
//! The log filter (the `RUST_LOG` syntax: `info,my_crate=debug`) changes which log
//! events and `tracing` spans are recorded from the next event on; `#[traced]`
//! functions keep the level threshold of the filter observe started with. It is
//! observe's own filter, so it exists after [`init`](crate::init()) (not after
//! [`layer`](crate::layer()), where the subscriber and its filter are yours).
//! The swap goes through `tracing-subscriber`'s `reload` layer: reading the filter
//! costs an uncontended read lock per event and span that reaches it.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Value, json};
use tracing_subscriber::reload;
use tracing_subscriber::{EnvFilter, Registry};

use crate::pipeline::Pipeline;
use crate::sampling::{SamplingError, SamplingHandle, SamplingState};

/// The longest log filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;

/// The target of audit lines.
pub const AUDIT_TARGET: &str = "observe::audit";

/// What a control changed: the value before and after, and the audit line's
/// message.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Change<T> {
    /// Before.
    pub old: T,
    /// After.
    pub new: T,
    /// The message of the audit line logged.
    pub audit: String,
}

/// Why a control refused a change.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ControlError {
    /// observe is not running (not initialised, or shut down).
    NotRunning,
    /// A sampling change was refused.
    Sampling(SamplingError),
    /// The log filter does not parse (the parser's message), or is longer than
    /// [`MAX_FILTER_LEN`].
    InvalidFilter(String),
    /// observe does not own the filter: it was started with `layer()` or beside
    /// a subscriber the application installed first, whose filter decides.
    NoFilter,
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlError::NotRunning => {
                f.write_str("observe is not running: call observe_core::init() first")
            }
            ControlError::Sampling(e) => write!(f, "{e}"),
            ControlError::InvalidFilter(e) => write!(f, "invalid log filter: {e}"),
            ControlError::NoFilter => f.write_str(
                "observe does not own the log filter here: the application's tracing subscriber \
                 decides what is logged (observe was started as its layer(), or beside a \
                 subscriber installed before it); change that subscriber's filter instead",
            ),
        }
    }
}

impl std::error::Error for ControlError {}

impl From<SamplingError> for ControlError {
    fn from(e: SamplingError) -> Self {
        match e {
            SamplingError::NotRunning => ControlError::NotRunning,
            e => ControlError::Sampling(e),
        }
    }
}

/// Logs the audit line of a change and returns its message.
pub(crate) fn audit(control: &str, old: &Value, new: &Value, peer: &str) -> String {
    let message = format!("{control} changed from {old} to {new} by {peer}");
    tracing::info!(
        target: "observe::audit",
        control,
        old = %old,
        new = %new,
        peer,
        "{message}"
    );
    message
}

/// Who made a change from code.
const CODE: &str = "code";

fn sampler() -> Result<SamplingHandle, ControlError> {
    crate::sampling::handle().ok_or(ControlError::NotRunning)
}

fn state_json(s: &SamplingState) -> Value {
    let overrides: serde_json::Map<String, Value> = s
        .overrides
        .iter()
        .map(|o| (o.key.clone(), json!(o.ratio)))
        .collect();
    json!({ "ratio": s.ratio, "overrides": overrides })
}

/// The sampling state as the admin API shows it: `{"ratio", "overrides": {key:
/// ratio}}`, plus `parent_based`, `max_overrides` and `default_ratio`.
#[cfg_attr(not(feature = "admin"), allow(dead_code))]
pub(crate) fn sampling_json() -> Option<Value> {
    let h = crate::sampling::handle()?;
    let s = h.state();
    let mut v = state_json(&s);
    v["parent_based"] = json!(s.parent_based);
    v["max_overrides"] = json!(s.max_overrides);
    v["default_ratio"] = json!(configured_ratio());
    Some(v)
}

/// Sets the ratio of new traces kept (0.0 to 1.0), audited.
///
/// # Errors
/// A ratio outside 0..=1, or observe not running.
pub fn set_sampling_ratio(ratio: f64) -> Result<Change<f64>, ControlError> {
    set_sampling_ratio_by(ratio, CODE)
}

pub(crate) fn set_sampling_ratio_by(ratio: f64, peer: &str) -> Result<Change<f64>, ControlError> {
    let h = sampler()?;
    let old = h.ratio();
    h.set_ratio(ratio)?;
    // As the sampler reads it: `-0.0` is `0.0`.
    let ratio = ratio + 0.0;
    let audit = audit("sampling.ratio", &json!(old), &json!(ratio), peer);
    Ok(Change {
        old,
        new: ratio,
        audit,
    })
}

/// Sets the ratio for one route or function (a root span name or a
/// `code.function`), audited. `old` is the previous override, if any.
///
/// # Errors
/// A bad ratio or key, too many overrides, or observe not running.
pub fn set_sampling_ratio_for(key: &str, ratio: f64) -> Result<Change<Option<f64>>, ControlError> {
    set_sampling_ratio_for_by(key, ratio, CODE)
}

pub(crate) fn set_sampling_ratio_for_by(
    key: &str,
    ratio: f64,
    peer: &str,
) -> Result<Change<Option<f64>>, ControlError> {
    let h = sampler()?;
    let old = h.ratio_for(key);
    h.set_ratio_for(key, ratio)?;
    let ratio = ratio + 0.0;
    let audit = audit(
        &format!("sampling.override {key:?}"),
        &json!(old),
        &json!(ratio),
        peer,
    );
    Ok(Change {
        old,
        new: Some(ratio),
        audit,
    })
}

/// Removes the override of `key`, audited.
///
/// # Errors
/// observe not running.
pub fn clear_sampling_ratio_for(key: &str) -> Result<Change<Option<f64>>, ControlError> {
    clear_sampling_ratio_for_by(key, CODE)
}

pub(crate) fn clear_sampling_ratio_for_by(
    key: &str,
    peer: &str,
) -> Result<Change<Option<f64>>, ControlError> {
    let h = sampler()?;
    let old = h.ratio_for(key);
    h.clear_ratio_for(key);
    let audit = audit(
        &format!("sampling.override {key:?}"),
        &json!(old),
        &Value::Null,
        peer,
    );
    Ok(Change {
        old,
        new: None,
        audit,
    })
}

/// Back to the configured ratio (`OTEL_TRACES_SAMPLER(_ARG)`) without overrides,
/// audited. The values are the whole state as JSON (`{"ratio", "overrides"}`).
///
/// # Errors
/// observe not running.
pub fn reset_sampling() -> Result<Change<Value>, ControlError> {
    reset_sampling_by(CODE)
}

pub(crate) fn reset_sampling_by(peer: &str) -> Result<Change<Value>, ControlError> {
    let h = sampler()?;
    let old = state_json(&h.state());
    h.clear_overrides();
    h.set_ratio(configured_ratio())?;
    let new = state_json(&h.state());
    let audit = audit("sampling", &old, &new, peer);
    Ok(Change { old, new, audit })
}

/// The head-sampling ratio the configuration set.
fn configured_ratio() -> f64 {
    use crate::config::Sampler as S;
    let Some(p) = Pipeline::current() else {
        return 1.0;
    };
    match p.settings.config.sampler {
        S::AlwaysOff | S::ParentBasedAlwaysOff => 0.0,
        S::TraceIdRatio(r) | S::ParentBasedTraceIdRatio(r) => r,
        _ => 1.0,
    }
}

/// observe's reloadable log filter of one instance.
pub(crate) struct LogFilter {
    handle: reload::Handle<EnvFilter, Registry>,
    /// The filter observe started with (the configuration's).
    default: String,
    /// The filter in force, as given (without the audit directive).
    current: Mutex<String>,
}

/// Each instance's filter, by pipeline id (instances live as long as the process).
static FILTERS: Mutex<Vec<(usize, Arc<LogFilter>)>> = Mutex::new(Vec::new());

/// The most verbose level a filter lets through: what `#[traced]` spans are
/// recorded at under it.
pub(crate) fn span_level_of(filter: &str) -> tracing_core::LevelFilter {
    EnvFilter::try_new(filter)
        .ok()
        .and_then(|f| f.max_level_hint())
        .unwrap_or(tracing_core::LevelFilter::TRACE)
}

/// `filter` with `observe::audit=info` added unless it names that target.
pub(crate) fn with_audit(filter: &str) -> String {
    if filter.contains(AUDIT_TARGET) {
        filter.to_owned()
    } else if filter.trim().is_empty() {
        format!("{AUDIT_TARGET}=info")
    } else {
        format!("{filter},{AUDIT_TARGET}=info")
    }
}

/// Registers the reload handle of `pipeline`'s filter (`init.rs` builds it).
pub(crate) fn register_log_filter(
    pipeline: &'static Pipeline,
    handle: reload::Handle<EnvFilter, Registry>,
    default: &str,
) {
    let filter = Arc::new(LogFilter {
        handle,
        default: default.to_owned(),
        current: Mutex::new(default.to_owned()),
    });
    FILTERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((pipeline.id, filter));
}

fn log_filter_of_current() -> Result<Arc<LogFilter>, ControlError> {
    let p = Pipeline::current().ok_or(ControlError::NotRunning)?;
    FILTERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .find(|(id, _)| *id == p.id)
        .map(|(_, f)| f.clone())
        // The filter of a subscriber that was never installed (observe started
        // beside the application's subscriber, or as its `layer()`) is gone: the
        // application's subscriber decides what is logged.
        .filter(|f| f.handle.with_current(|_| ()).is_ok())
        .ok_or(ControlError::NoFilter)
}

/// The log filter in force and the one observe started with, as
/// `(current, default)`.
///
/// # Errors
/// observe not running, or started with `layer()`.
pub fn log_filter() -> Result<(String, String), ControlError> {
    let f = log_filter_of_current()?;
    let current = f
        .current
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    Ok((current, f.default.clone()))
}

/// Replaces the log filter (`RUST_LOG` syntax), audited.
///
/// # Errors
/// A filter that does not parse (the parser's message), observe not running, or
/// started with `layer()`.
pub fn set_log_filter(filter: &str) -> Result<Change<String>, ControlError> {
    set_log_filter_by(filter, CODE)
}

pub(crate) fn set_log_filter_by(filter: &str, peer: &str) -> Result<Change<String>, ControlError> {
    if filter.len() > MAX_FILTER_LEN {
        return Err(ControlError::InvalidFilter(format!(
            "{} bytes, more than the {MAX_FILTER_LEN} accepted",
            filter.len()
        )));
    }
    // The checks `RUST_LOG` gets at start (a level look-alike such as `warning`
    // would be read as a target name and switch the service's own lines off).
    crate::config::check_log_filter(filter).map_err(ControlError::InvalidFilter)?;
    let parsed = EnvFilter::builder()
        .parse(with_audit(filter))
        .map_err(|e| ControlError::InvalidFilter(e.to_string()))?;
    let f = log_filter_of_current()?;
    let old = {
        let mut current = f.current.lock().unwrap_or_else(PoisonError::into_inner);
        // `reload` rebuilds the callsites' interest, so the change applies from
        // the next event on every thread.
        f.handle
            .reload(parsed)
            .map_err(|e| ControlError::InvalidFilter(e.to_string()))?;
        std::mem::replace(&mut *current, filter.to_owned())
    };
    // `#[traced]` spans follow the new filter's most verbose level, as they
    // followed the one observe started with (the audit directive left out).
    if let Some(p) = Pipeline::current() {
        p.set_span_level(span_level_of(filter));
    }
    let audit = audit("log_filter", &json!(old), &json!(filter), peer);
    Ok(Change {
        old,
        new: filter.to_owned(),
        audit,
    })
}

/// Back to the filter observe started with, audited.
///
/// # Errors
/// observe not running, or started with `layer()`.
pub fn reset_log_filter() -> Result<Change<String>, ControlError> {
    reset_log_filter_by(CODE)
}

pub(crate) fn reset_log_filter_by(peer: &str) -> Result<Change<String>, ControlError> {
    let default = log_filter_of_current()?.default.clone();
    set_log_filter_by(&default, peer)
}
