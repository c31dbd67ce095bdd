//! Why a metric could not be registered, and why a window or limit was refused.

use std::fmt;
use std::sync::Mutex;

use super::cells::lock;
use super::naming::MAX_LABELS;
use super::unit::MAX_UNIT_LEN;

/// Why a metric could not be registered. Each says which input was wrong and what
/// is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricError {
    /// The name is not a valid OpenTelemetry instrument name.
    InvalidName {
        /// The name given.
        name: String,
    },
    /// A label key is not accepted.
    InvalidLabelKey {
        /// The metric.
        name: String,
        /// The key given.
        key: String,
    },
    /// The same label key (after `.` becomes `_`) appears twice.
    DuplicateLabel {
        /// The metric.
        name: String,
        /// The repeated key.
        key: String,
    },
    /// A label key written differently on another series of the same metric but
    /// the same in Prometheus (`a.b` and `a_b`): the exposition would show two
    /// series with the same labels.
    LabelKeyMismatch {
        /// The metric.
        name: String,
        /// The key given.
        key: String,
        /// How the metric's other series write it.
        other: String,
    },
    /// More than [`MAX_LABELS`] labels.
    TooManyLabels {
        /// The metric.
        name: String,
        /// How many were given.
        count: usize,
    },
    /// The name is already registered as another kind or unit.
    Conflict {
        /// The metric.
        name: String,
        /// What it is registered as.
        registered: String,
        /// What was asked for.
        requested: String,
    },
    /// Two names map to the same Prometheus name.
    PrometheusCollision {
        /// The metric.
        name: String,
        /// The Prometheus name both map to.
        prometheus_name: String,
        /// The name already using it.
        other: String,
    },
    /// The registry already holds its maximum number of metric names.
    TooManyNames {
        /// The metric refused.
        name: String,
        /// The limit.
        max: usize,
    },
    /// A custom unit is not accepted.
    InvalidUnit {
        /// The metric.
        name: String,
        /// The unit given.
        unit: String,
    },
    /// Histogram boundaries are not accepted.
    InvalidBuckets {
        /// The metric.
        name: String,
        /// What is wrong with them.
        reason: String,
    },
}

impl fmt::Display for MetricError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricError::InvalidName { name } => write!(
                f,
                "invalid metric name {name:?}: a name is 1 to 255 characters, starts with an ASCII letter and continues with ASCII letters, digits, '_', '.', '-' or '/'"
            ),
            MetricError::InvalidLabelKey { name, key } => write!(
                f,
                "invalid label key {key:?} on metric {name:?}: a key is 1 to 128 characters, starts with an ASCII letter or '_' (not \"__\"), continues with ASCII letters, digits, '_' or '.', and is not \"quantile\" or \"le\""
            ),
            MetricError::DuplicateLabel { name, key } => write!(
                f,
                "label key {key:?} appears twice on metric {name:?} ('.' and '_' count as the same character)"
            ),
            MetricError::LabelKeyMismatch { name, key, other } => write!(
                f,
                "label key {key:?} of metric {name:?} is written {other:?} on its other series; \
                 Prometheus reads both the same ('.' and '_' count as the same character): use one spelling"
            ),
            MetricError::TooManyLabels { name, count } => write!(
                f,
                "metric {name:?} was given {count} labels; at most {MAX_LABELS} are accepted"
            ),
            MetricError::Conflict {
                name,
                registered,
                requested,
            } => write!(
                f,
                "metric {name:?} is registered as a {registered} and cannot also be a {requested}"
            ),
            MetricError::PrometheusCollision {
                name,
                prometheus_name,
                other,
            } => write!(
                f,
                "metric {name:?} would be exposed as {prometheus_name:?}, which metric {other:?} already uses; rename one of them"
            ),
            MetricError::TooManyNames { name, max } => write!(
                f,
                "metric {name:?} refused: the registry already holds {max} metric names (the limit)"
            ),
            MetricError::InvalidUnit { name, unit } => write!(
                f,
                "invalid unit {unit:?} on metric {name:?}: a custom unit is 1 to {MAX_UNIT_LEN} printable ASCII characters (an OpenTelemetry/UCUM unit such as \"{{request}}\" or \"ms\"); durations are not a custom unit: create them with duration_histogram"
            ),
            MetricError::InvalidBuckets { name, reason } => {
                write!(
                    f,
                    "invalid histogram boundaries for metric {name:?}: {reason}"
                )
            }
        }
    }
}

impl std::error::Error for MetricError {}

/// An invalid window or limit configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowError {
    pub(super) what: &'static str,
    pub(super) detail: String,
}

impl fmt::Display for WindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid metrics {}: {}", self.what, self.detail)
    }
}

impl std::error::Error for WindowError {}

pub(crate) fn warn_invalid(e: &MetricError) {
    warn_once(
        e.to_string(),
        "metric not registered; its observations are dropped",
    );
}

/// Logs `msg` at `WARN` once (per distinct message), with `what` as the line's
/// message: what happened to the observation.
pub(crate) fn warn_once(msg: String, what: &'static str) {
    if first_time(&msg) {
        tracing::warn!(error = %msg, "{what}");
    }
}

/// Whether `msg` is seen for the first time: once per distinct message, bounded
/// so that a flood of bad names cannot grow the memory of them.
pub(crate) fn first_time(msg: &str) -> bool {
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut seen = lock(&SEEN);
    if seen.len() >= 256 || seen.iter().any(|s| s == msg) {
        return false;
    }
    seen.push(msg.to_owned());
    true
}
