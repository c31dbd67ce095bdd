//! `tracing` events as metrics: the hook the `tracing` layer calls for fields named
//! `counter.<name>` (an integer increment) or `histogram.<name>` (one observation,
//! in the unit the metric was created or described with; a plain number
//! otherwise).
//!
//! ```text
//! tracing::info!(counter.orders.placed = 1, "order placed");
//! tracing::info!(histogram.basket.items = 3, "basket checked out");
//! ```
//!
//! A field name is a callsite's `&'static str`, so the metric it names is resolved
//! once per callsite (and thread) and kept in a per-thread cache keyed by the
//! name's address: an event then costs a hash of two words and the record.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use super::error::MetricError;
use super::handles::{Counter, Histogram};
use super::registry::Registry;

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

/// The metric an event field resolved to.
#[derive(Clone)]
enum Resolved {
    Counter(Counter),
    Histogram(Histogram),
    /// The name or labels were refused: resolving again would be refused again.
    Refused(MetricError),
}

/// Cached resolutions per thread, keyed by (registry, field name address and
/// length). Bounded: starts over when full.
struct EventCache {
    map: HashMap<(u64, usize, usize), Resolved, foldhash::fast::FixedState>,
    /// The fields (by their callsite's name address) whose failure this thread
    /// has passed on to be warned about: a field that keeps failing (a refused
    /// name, values that keep being negative) costs a lookup here, not a message
    /// formatted and a global lock per event. Bounded like `map`, never cleared.
    warned: std::collections::HashSet<usize, foldhash::fast::FixedState>,
}

const EVENT_CACHE_CAPACITY: usize = 512;

/// Whether `field` failed on this thread for the first time (then worth a warning;
/// the warning itself is once per distinct message process-wide).
pub(crate) fn first_failure_of(field: &'static str) -> bool {
    EVENT_CACHE
        .try_with(|c| {
            let Ok(mut c) = c.try_borrow_mut() else {
                return false;
            };
            c.warned.len() < EVENT_CACHE_CAPACITY && c.warned.insert(field.as_ptr() as usize)
        })
        .unwrap_or(false)
}

thread_local! {
    static EVENT_CACHE: RefCell<EventCache> = RefCell::new(EventCache {
        map: HashMap::default(),
        warned: std::collections::HashSet::default(),
    });
}

#[cfg(test)]
thread_local! {
    /// Registry lookups made by this thread (tests count them).
    static RESOLVES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn resolve(registry: &Registry, field: &str, labels: &[(&str, &str)]) -> Option<Resolved> {
    #[cfg(test)]
    RESOLVES.with(|c| c.set(c.get() + 1));
    Some(if let Some(name) = field.strip_prefix(COUNTER_PREFIX) {
        match registry.try_counter(name, labels) {
            Ok(c) => Resolved::Counter(c),
            Err(e) => Resolved::Refused(e),
        }
    } else if let Some(name) = field.strip_prefix(HISTOGRAM_PREFIX) {
        match registry.try_histogram_as_registered(name, labels) {
            Ok(h) => Resolved::Histogram(h),
            Err(e) => Resolved::Refused(e),
        }
    } else {
        return None;
    })
}

/// The value `field` records, or why it records none: checked before the metric
/// is resolved, so that a bad value never registers a metric that then shows 0.
fn checked(field: &str, value: FieldValue) -> Result<u64, EventMetricError> {
    let (n, accepted) = if field.starts_with(COUNTER_PREFIX) {
        (
            as_count(value),
            "a counter increment is a non-negative integer",
        )
    } else {
        (
            as_observation(value),
            "a histogram observation is a non-negative finite number",
        )
    };
    n.ok_or_else(|| EventMetricError::BadValue {
        field: field.to_owned(),
        value,
        accepted,
    })
}

fn apply(r: &Resolved, n: u64) -> Result<bool, EventMetricError> {
    match r {
        Resolved::Counter(c) => c.add(n),
        Resolved::Histogram(h) => h.record(n),
        Resolved::Refused(e) => return Err(EventMetricError::Metric(e.clone())),
    }
    Ok(true)
}

/// Records one event field into `registry` under the same rules (names, labels,
/// cardinality) as the metric API. Returns `Ok(false)` for a field that is not a
/// metric field. Fields without labels (what the `tracing` layer passes) are
/// resolved once per callsite and thread.
pub(crate) fn record_event_field(
    registry: &Registry,
    field: &'static str,
    value: FieldValue,
    labels: &[(&str, &str)],
) -> Result<bool, EventMetricError> {
    if !is_metric_field(field) {
        return Ok(false);
    }
    let n = checked(field, value)?;
    if !labels.is_empty() {
        return match resolve(registry, field, labels) {
            Some(r) => apply(&r, n),
            None => Ok(false),
        };
    }
    let key = (registry.inner.id, field.as_ptr() as usize, field.len());
    let hit = EVENT_CACHE.try_with(|c| {
        let c = c.try_borrow().ok()?;
        c.map.get(&key).map(|r| apply(r, n))
    });
    if let Ok(Some(result)) = hit {
        return result;
    }
    // Resolved outside the cache's borrow: resolving may log, and logging may come
    // back here.
    let Some(resolved) = resolve(registry, field, labels) else {
        return Ok(false);
    };
    let result = apply(&resolved, n);
    let _ = EVENT_CACHE.try_with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            if c.map.len() >= EVENT_CACHE_CAPACITY {
                c.map.clear();
            }
            c.map.insert(key, resolved);
        }
    });
    result
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
        // Through the cache (no labels): twice from the same callsite.
        for _ in 0..2 {
            assert_eq!(
                record_event_field(&r, "counter.orders.placed", FieldValue::U64(1), &[]),
                Ok(true)
            );
        }
        assert_eq!(r.counter("orders.placed", &[]).value(), 8);
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
        // A refusal is cached too, and stays a refusal.
        let e = record_event_field(&r, "histogram.both", FieldValue::U64(1), &[]).unwrap_err();
        assert!(matches!(
            e,
            EventMetricError::Metric(MetricError::Conflict { .. })
        ));
        // A bad value registers nothing: no metric that would read 0.
        let snapshot = r.snapshot();
        assert!(snapshot.counter("c", &[]).is_none());
        assert!(snapshot.histograms.iter().all(|h| h.name != "h"));
    }

    /// Through `tracing`: a bad value is a warning line (once), not a metric.
    #[test]
    fn a_bad_event_field_value_is_logged_once_and_registers_nothing() {
        let capture = crate::testing::capture();
        for _ in 0..3 {
            tracing::info!(counter.events.negative = -1, "a negative count");
        }
        tracing::info!(counter.events.fraction = 1.5, "a fractional count");
        capture.flush();
        let warnings: Vec<_> = capture
            .log_lines()
            .into_iter()
            .filter(|l| l["message"] == "event field not recorded as a metric")
            .collect();
        assert_eq!(warnings.len(), 2, "{warnings:#?}");
        assert!(
            warnings[0]["fields"]["error"]
                .as_str()
                .unwrap()
                .contains("counter.events.negative = I64(-1) not recorded"),
            "{warnings:#?}"
        );
        let snapshot = crate::metrics::global().snapshot();
        assert!(snapshot.counter("events.negative", &[]).is_none());
        assert!(snapshot.counter("events.fraction", &[]).is_none());
    }

    /// The unit bug of issue 18: a histogram without a unit was taken as
    /// nanoseconds, so `histogram.basket.items = 3` was exposed as
    /// `basket_items_seconds` 3e-9. A value's unit is now never assumed.
    #[test]
    fn an_event_histogram_without_a_unit_keeps_its_values() {
        let r = Registry::new();
        record_event_field(&r, "histogram.basket.items", FieldValue::U64(3), &[]).unwrap();
        let text = r.prometheus_text();
        assert!(!text.contains("basket_items_seconds"), "{text}");
        assert!(text.contains("basket_items_sum 3\n"), "{text}");
        let snap = r.snapshot();
        let h = snap.histogram("basket.items", &[]).unwrap();
        assert_eq!(h.cumulative.sum, 3);
        assert_eq!(h.unit.otel(), "1");
        // Described as a duration first, the same field records nanoseconds.
        r.describe("job.wait", crate::metrics::Unit::Nanoseconds, "Wait.")
            .unwrap();
        record_event_field(&r, "histogram.job.wait", FieldValue::U64(2_000_000), &[]).unwrap();
        assert!(r.prometheus_text().contains("job_wait_seconds_sum 0.002\n"));
    }

    /// The registry is asked once per callsite and thread, not once per event.
    #[test]
    fn a_callsite_resolves_its_metric_once() {
        let r = Registry::new();
        let before = RESOLVES.with(|c| c.get());
        for _ in 0..100 {
            record_event_field(&r, "counter.cached.events", FieldValue::U64(1), &[]).unwrap();
        }
        assert_eq!(RESOLVES.with(|c| c.get()) - before, 1);
        assert_eq!(r.counter("cached.events", &[]).value(), 100);
        // Another registry is another key.
        let r2 = Registry::new();
        record_event_field(&r2, "counter.cached.events", FieldValue::U64(1), &[]).unwrap();
        assert_eq!(RESOLVES.with(|c| c.get()) - before, 2);
    }
}
