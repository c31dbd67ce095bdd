//! `tracing` events as metrics: the hook the `tracing` layer calls for fields named
//! `counter.<name>` (an integer increment) or `histogram.<name>` (one observation,
//! in the metric's unit: nanoseconds unless described otherwise).
//!
//! ```text
//! tracing::info!(counter.orders.placed = 1, "order placed");
//! tracing::info!(histogram.payment.duration = elapsed_ns, "paid");
//! ```

use std::fmt;

use super::registry::{MetricError, Registry};

/// A numeric field value as `tracing`'s visitor hands it over.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum FieldValue {
    /// `record_u64`.
    U64(u64),
    /// `record_i64`.
    I64(i64),
    /// `record_f64`.
    F64(f64),
}

/// Why an event field could not be recorded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EventMetricError {
    /// The value does not fit the metric (negative, fractional count, NaN...).
    BadValue {
        field: String,
        value: FieldValue,
        accepted: &'static str,
    },
    /// The metric name or labels were refused.
    Metric(MetricError),
}

impl fmt::Display for EventMetricError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventMetricError::BadValue {
                field,
                value,
                accepted,
            } => {
                write!(
                    f,
                    "event field {field} = {value:?} not recorded: {accepted}"
                )
            }
            EventMetricError::Metric(e) => write!(f, "event metric not recorded: {e}"),
        }
    }
}

impl std::error::Error for EventMetricError {}

const COUNTER_PREFIX: &str = "counter.";
const HISTOGRAM_PREFIX: &str = "histogram.";

/// Whether a field name is one this hook handles (cheap; the layer may check first).
pub(crate) fn is_metric_field(field: &str) -> bool {
    field.starts_with(COUNTER_PREFIX) || field.starts_with(HISTOGRAM_PREFIX)
}

fn as_count(v: FieldValue) -> Option<u64> {
    match v {
        FieldValue::U64(n) => Some(n),
        FieldValue::I64(n) => u64::try_from(n).ok(),
        FieldValue::F64(x)
            if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x <= u64::MAX as f64 =>
        {
            Some(x as u64)
        }
        FieldValue::F64(_) => None,
    }
}

fn as_observation(v: FieldValue) -> Option<u64> {
    match v {
        FieldValue::U64(n) => Some(n),
        FieldValue::I64(n) => u64::try_from(n).ok(),
        // Saturating float-to-int conversion; NaN and negatives are refused first.
        FieldValue::F64(x) if x.is_finite() && x >= 0.0 => Some(x.round() as u64),
        FieldValue::F64(_) => None,
    }
}

/// Records one event field into `registry` under the same rules (names, labels,
/// cardinality) as the metric API. Returns `Ok(false)` for a field that is not a
/// metric field.
pub(crate) fn record_event_field(
    registry: &Registry,
    field: &str,
    value: FieldValue,
    labels: &[(&str, &str)],
) -> Result<bool, EventMetricError> {
    if let Some(name) = field.strip_prefix(COUNTER_PREFIX) {
        let n = as_count(value).ok_or_else(|| EventMetricError::BadValue {
            field: field.to_owned(),
            value,
            accepted: "a counter increment is a non-negative integer",
        })?;
        registry
            .try_counter(name, labels)
            .map_err(EventMetricError::Metric)?
            .add(n);
        Ok(true)
    } else if let Some(name) = field.strip_prefix(HISTOGRAM_PREFIX) {
        let v = as_observation(value).ok_or_else(|| EventMetricError::BadValue {
            field: field.to_owned(),
            value,
            accepted: "a histogram observation is a non-negative finite number",
        })?;
        registry
            .try_histogram(name, labels)
            .map_err(EventMetricError::Metric)?
            .record(v);
        Ok(true)
    } else {
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_from_fields() {
        let r = Registry::new();
        assert_eq!(
            record_event_field(&r, "counter.orders.placed", FieldValue::U64(2), &[]),
            Ok(true)
        );
        assert_eq!(
            record_event_field(&r, "counter.orders.placed", FieldValue::I64(1), &[]),
            Ok(true)
        );
        assert_eq!(
            record_event_field(&r, "counter.orders.placed", FieldValue::F64(3.0), &[]),
            Ok(true)
        );
        assert_eq!(r.counter("orders.placed", &[]).value(), 6);
        assert_eq!(
            record_event_field(
                &r,
                "histogram.payment.duration",
                FieldValue::F64(1500.4),
                &[("psp", "x")]
            ),
            Ok(true)
        );
        let snap = r.snapshot();
        let h = snap.histogram("payment.duration", &[("psp", "x")]).unwrap();
        assert_eq!((h.cumulative.count, h.cumulative.sum), (1, 1500));
        assert_eq!(
            record_event_field(&r, "message", FieldValue::U64(1), &[]),
            Ok(false)
        );
        assert!(is_metric_field("counter.x") && !is_metric_field("count"));
    }

    #[test]
    fn bad_values_and_names_are_errors() {
        let r = Registry::new();
        for v in [
            FieldValue::I64(-1),
            FieldValue::F64(0.5),
            FieldValue::F64(f64::NAN),
        ] {
            let e = record_event_field(&r, "counter.c", v, &[]).unwrap_err();
            assert!(e.to_string().contains("non-negative integer"), "{e}");
        }
        for v in [
            FieldValue::I64(-1),
            FieldValue::F64(f64::INFINITY),
            FieldValue::F64(-2.0),
        ] {
            let e = record_event_field(&r, "histogram.h", v, &[]).unwrap_err();
            assert!(e.to_string().contains("non-negative finite"), "{e}");
        }
        let e = record_event_field(&r, "counter.", FieldValue::U64(1), &[]).unwrap_err();
        assert!(
            matches!(e, EventMetricError::Metric(MetricError::InvalidName { .. })),
            "{e}"
        );
        r.counter("both", &[]);
        let e = record_event_field(&r, "histogram.both", FieldValue::U64(1), &[]).unwrap_err();
        assert!(
            matches!(e, EventMetricError::Metric(MetricError::Conflict { .. })),
            "{e}"
        );
    }
}
