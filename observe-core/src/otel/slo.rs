//! The SLO engine's metrics as OTLP metrics, beside the registry's in each export:
//! the same five series `/metrics` shows as `observe_slo_*` (see
//! `slo/prometheus.rs`), under their OpenTelemetry names.
//!
//! | OTLP metric | type | attributes |
//! | --- | --- | --- |
//! | `observe.slo.objective` | gauge | `slo` |
//! | `observe.slo.good` | monotonic sum, cumulative | `slo` |
//! | `observe.slo.requests` | monotonic sum, cumulative | `slo` |
//! | `observe.slo.burn_rate` | gauge | `slo`, `window` |
//! | `observe.slo.alerts` | monotonic sum, cumulative | none |

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Metric, NumberDataPoint, Sum, metric::Data, number_data_point,
};

use super::metrics::attribute;

/// What the SLO engine reports, as plain data: the instance assembly reads the
/// running engine into it (`init.rs` sets [`SOURCE`]), so this module names no SLO
/// type and the SLO engine no OpenTelemetry type.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SloSeries {
    /// When the engine's cumulative counts start (Unix nanoseconds).
    pub(crate) start: u64,
    /// Now, on the same clock.
    pub(crate) now: u64,
    /// Alerts emitted since the engine started.
    pub(crate) alerts: u64,
    /// One row per SLO.
    pub(crate) slos: Vec<SloRow>,
}

/// One SLO's series.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SloRow {
    /// The `slo` attribute.
    pub(crate) name: String,
    /// The promised fraction.
    pub(crate) objective: f64,
    /// Good requests, cumulative.
    pub(crate) good: u64,
    /// Requests, cumulative.
    pub(crate) requests: u64,
    /// The burn rate per window (`5m` ...).
    pub(crate) burn_rates: Vec<(String, f64)>,
}

/// Where each metrics export reads the SLO series from (set once, when an instance
/// with SLOs starts); `None` from it: no SLO engine is running.
pub(crate) static SOURCE: std::sync::OnceLock<fn() -> Option<SloSeries>> =
    std::sync::OnceLock::new();

fn point(
    attributes: Vec<KeyValue>,
    start: u64,
    now: u64,
    value: number_data_point::Value,
) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: now,
        value: Some(value),
        ..Default::default()
    }
}

fn metric(name: &str, description: &str, unit: &str, data: Data) -> Metric {
    Metric {
        name: name.to_owned(),
        description: description.to_owned(),
        unit: unit.to_owned(),
        metadata: Vec::new(),
        data: Some(data),
    }
}

fn sum(points: Vec<NumberDataPoint>) -> Data {
    Data::Sum(Sum {
        data_points: points,
        aggregation_temporality: AggregationTemporality::Cumulative as i32,
        is_monotonic: true,
    })
}

fn count(n: u64) -> number_data_point::Value {
    number_data_point::Value::AsInt(i64::try_from(n).unwrap_or(i64::MAX))
}

/// The SLO series as OTLP metrics; none when there is no SLO.
pub(crate) fn metrics(series: &SloSeries) -> Vec<Metric> {
    if series.slos.is_empty() {
        return Vec::new();
    }
    let (start, now) = (series.start, series.now);
    let per_slo = |value: &dyn Fn(&SloRow) -> number_data_point::Value| {
        series
            .slos
            .iter()
            .map(|s| point(vec![attribute("slo", &s.name)], start, now, value(s)))
            .collect::<Vec<_>>()
    };
    let objective = per_slo(&|s| number_data_point::Value::AsDouble(s.objective));
    let good = per_slo(&|s| count(s.good));
    let requests = per_slo(&|s| count(s.requests));
    let burn: Vec<_> = series
        .slos
        .iter()
        .flat_map(|s| {
            s.burn_rates.iter().map(|(window, rate)| {
                point(
                    vec![attribute("slo", &s.name), attribute("window", window)],
                    start,
                    now,
                    number_data_point::Value::AsDouble(*rate),
                )
            })
        })
        .collect();
    vec![
        metric(
            "observe.slo.objective",
            "The fraction of good requests the SLO promises.",
            "1",
            Data::Gauge(Gauge {
                data_points: objective,
            }),
        ),
        metric(
            "observe.slo.good",
            "Good requests of the SLO (standard requests only) since observe started recording them.",
            "{request}",
            sum(good),
        ),
        metric(
            "observe.slo.requests",
            "Requests the SLO counts (standard requests only) since observe started recording them.",
            "{request}",
            sum(requests),
        ),
        metric(
            "observe.slo.burn_rate",
            "Bad fraction over the allowed fraction (1 - objective) per window, as observe computes it.",
            "1",
            Data::Gauge(Gauge { data_points: burn }),
        ),
        metric(
            "observe.slo.alerts",
            "SLO burn-rate alerts emitted.",
            "{alert}",
            sum(vec![point(Vec::new(), start, now, count(series.alerts))]),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::any_value;

    use super::*;

    fn label(p: &NumberDataPoint, key: &str) -> String {
        let v = p.attributes.iter().find(|a| a.key == key).unwrap();
        match v.value.as_ref().unwrap().value.as_ref().unwrap() {
            any_value::Value::StringValue(s) => s.clone(),
            other => panic!("{other:?}"),
        }
    }

    fn points<'a>(metrics: &'a [Metric], name: &str) -> &'a [NumberDataPoint] {
        match metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap()
            .data
            .as_ref()
            .unwrap()
        {
            Data::Sum(s) => {
                assert!(s.is_monotonic);
                &s.data_points
            }
            Data::Gauge(g) => &g.data_points,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_engines_series_become_otlp_metrics() {
        assert!(
            metrics(&SloSeries::default()).is_empty(),
            "no SLO: no metric"
        );
        let series = SloSeries {
            start: 1_000,
            now: 2_000,
            alerts: 0,
            slos: vec![SloRow {
                name: "up".into(),
                objective: 0.99,
                good: 9,
                requests: 10,
                burn_rates: vec![("5m".into(), 10.0), ("1h".into(), 10.0)],
            }],
        };
        let m = metrics(&series);
        let names: Vec<_> = m.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "observe.slo.objective",
                "observe.slo.good",
                "observe.slo.requests",
                "observe.slo.burn_rate",
                "observe.slo.alerts"
            ]
        );
        let value = |p: &NumberDataPoint| p.value.unwrap();
        let good = points(&m, "observe.slo.good");
        assert_eq!(label(&good[0], "slo"), "up");
        assert_eq!(value(&good[0]), number_data_point::Value::AsInt(9));
        assert_eq!(
            value(&points(&m, "observe.slo.requests")[0]),
            number_data_point::Value::AsInt(10)
        );
        assert_eq!(
            value(&points(&m, "observe.slo.objective")[0]),
            number_data_point::Value::AsDouble(0.99)
        );
        let burn = points(&m, "observe.slo.burn_rate");
        assert!(!burn.is_empty());
        assert!(
            burn.iter()
                .all(|p| label(p, "slo") == "up" && !label(p, "window").is_empty())
        );
        assert!(good[0].start_time_unix_nano <= good[0].time_unix_nano);
        assert_eq!(points(&m, "observe.slo.alerts").len(), 1);
    }
}
