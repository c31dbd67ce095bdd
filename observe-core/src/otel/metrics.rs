//! The registry as an OTLP `ExportMetricsServiceRequest`: exponential histograms
//! for latencies, sums for counters, gauges; cumulative temporality.
//!
//! The OpenTelemetry SDK's metric data types cannot be built from outside, so the
//! request is assembled from `opentelemetry-proto` messages. Those 0.x types stay in
//! this module.
//!
//! # Scale
//!
//! An exponential histogram at scale `s` has buckets `(b^i, b^(i+1)]` with
//! `b = 2^(2^-s)`. Its relative error (the worst distance from a bucket's best
//! estimate to a value in it, OpenTelemetry's definition) is `(b - 1) / (b + 1)`:
//! 0.135 % at scale 8, 0.068 % at 9, 0.034 % at 10. Each HDR bin is moved whole to
//! the bucket holding its midpoint, which adds up to half an HDR bin (0.049 %). To
//! stay within HDR's 3 significant digits (0.1 %) end to end we use **scale 10**
//! (0.034 % + 0.049 % = 0.083 %). Buckets are sent densely from the lowest to the
//! highest occupied one, about 1 KiB per power of two the distribution spans, so a
//! key spanning more than 16 powers of two (a 65 536x range) is downscaled until it
//! fits [`MAX_BUCKETS`], as the SDK does; merging adjacent buckets is exact, and
//! collectors that want scale 8 (Prometheus native histograms) downscale the same
//! way.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, exemplar,
    exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use hdrhistogram::Histogram as HdrHistogram;

use crate::metrics::handles::AnySeries;
use crate::metrics::registry::{Kind, Registry};
use crate::metrics::semconv::names;
use crate::metrics::snapshot::{Scratch, Views, read_histogram};
use crate::metrics::unit::Unit;

/// The exponential histograms' scale (see the module docs).
pub(crate) const SCALE: i32 = 10;
/// At most this many buckets per data point; wider distributions are downscaled.
pub(crate) const MAX_BUCKETS: usize = 16_384;

pub(super) fn attribute(key: &str, value: &str) -> KeyValue {
    let v = match key {
        names::HTTP_RESPONSE_STATUS_CODE | names::RPC_GRPC_STATUS_CODE => {
            value.parse::<i64>().map_or_else(
                |_| any_value::Value::StringValue(value.to_owned()),
                any_value::Value::IntValue,
            )
        }
        crate::metrics::registry::OVERFLOW_LABEL if value == "true" => {
            any_value::Value::BoolValue(true)
        }
        _ => any_value::Value::StringValue(value.to_owned()),
    };
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

/// A counter or gauge value in its exposed unit.
fn number(unit: &Unit, v: i64) -> number_data_point::Value {
    if unit.scales() {
        number_data_point::Value::AsDouble(unit.scale(v as f64))
    } else {
        number_data_point::Value::AsInt(v)
    }
}

fn attributes(labels: &[(String, String)]) -> Vec<KeyValue> {
    labels.iter().map(|(k, v)| attribute(k, v)).collect()
}

/// The bucket index of `v > 0` at `scale`: `(b^i, b^(i+1)]` holds it.
pub(crate) fn bucket_index(v: f64, scale: i32) -> i32 {
    let i = (v.log2() * 2f64.powi(scale)).ceil() - 1.0;
    i.clamp(i32::MIN as f64, i32::MAX as f64) as i32
}

/// An exponential histogram data point's buckets from an HDR histogram: returns
/// (scale, zero count, offset, counts).
pub(crate) fn exponential_buckets(h: &HdrHistogram<u64>, unit: &Unit) -> (i32, u64, i32, Vec<u64>) {
    let mut zero = 0u64;
    let mut points: Vec<(i32, u64)> = Vec::new();
    for v in h.iter_recorded() {
        let hi = v.value_iterated_to();
        let lo = h.lowest_equivalent(hi);
        let count = v.count_at_value();
        if hi == 0 {
            zero += count;
            continue;
        }
        let mid = unit.scale((lo as f64 + hi as f64) / 2.0);
        points.push((bucket_index(mid, SCALE), count));
    }
    let mut scale = SCALE;
    let (Some(&(first, _)), Some(&(last, _))) = (points.first(), points.last()) else {
        return (scale, zero, 0, Vec::new());
    };
    let (mut lo, mut hi) = (first, last);
    let mut shift = 0;
    while (hi as i64 - lo as i64 + 1) as usize > MAX_BUCKETS && scale > -10 {
        shift += 1;
        scale -= 1;
        lo = first >> shift;
        hi = last >> shift;
    }
    let mut counts = vec![0u64; (hi as i64 - lo as i64 + 1) as usize];
    for (i, c) in points {
        let slot = ((i >> shift) as i64 - lo as i64) as usize;
        if let Some(x) = counts.get_mut(slot) {
            *x = x.saturating_add(c);
        }
    }
    (scale, zero, lo, counts)
}

impl Registry {
    /// The registry's state as one OTLP metrics request, cumulative temporality,
    /// under the given resource and instrumentation scope. Folds first.
    pub(crate) fn otlp_request(
        &self,
        resource: Resource,
        scope: InstrumentationScope,
    ) -> ExportMetricsServiceRequest {
        let now = self.now();
        let mut metrics = Vec::new();
        let mut scratch = None;
        for f in self.families() {
            if f.series.is_empty() {
                continue;
            }
            let m = &*f.meta;
            let data = match m.kind {
                Kind::Histogram => {
                    let mut points = Vec::new();
                    for s in &f.series {
                        let AnySeries::Histogram(h) = s else { continue };
                        let scratch = scratch.get_or_insert_with(Scratch::new);
                        points.push(read_histogram(h, now, scratch, Views::Cumulative, |r| {
                            let c = r.cumulative;
                            let (scale, zero_count, offset, bucket_counts) =
                                exponential_buckets(c, &m.unit);
                            let empty = c.is_empty();
                            ExponentialHistogramDataPoint {
                                attributes: attributes(&r.series.key.labels),
                                start_time_unix_nano: r.series.key.created_unix_nanos,
                                time_unix_nano: now,
                                count: c.len(),
                                sum: Some(m.unit.scale(r.cumulative_scalars.sum as f64)),
                                scale,
                                zero_count,
                                positive: Some(Buckets {
                                    offset,
                                    bucket_counts,
                                }),
                                negative: None,
                                flags: 0,
                                exemplars: r
                                    .exemplars
                                    .iter()
                                    .map(|e| Exemplar {
                                        filtered_attributes: Vec::new(),
                                        time_unix_nano: e.unix_nanos,
                                        span_id: Vec::new(),
                                        trace_id: e.trace_id.to_bytes().to_vec(),
                                        value: Some(exemplar::Value::AsDouble(
                                            m.unit.scale(e.value as f64),
                                        )),
                                    })
                                    .collect(),
                                min: (!empty).then(|| m.unit.scale(c.min() as f64)),
                                max: (!empty).then(|| m.unit.scale(c.max() as f64)),
                                zero_threshold: 0.0,
                            }
                        }));
                    }
                    Data::ExponentialHistogram(ExponentialHistogram {
                        data_points: points,
                        aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    })
                }
                Kind::Counter => Data::Sum(Sum {
                    data_points: f
                        .series
                        .iter()
                        .filter_map(|s| match s {
                            AnySeries::Counter(c) => Some(NumberDataPoint {
                                attributes: attributes(&c.key.labels),
                                start_time_unix_nano: c.key.created_unix_nanos,
                                time_unix_nano: now,
                                value: Some(number(
                                    &m.unit,
                                    c.cells.sum().min(i64::MAX as u64) as i64,
                                )),
                                ..Default::default()
                            }),
                            _ => None,
                        })
                        .collect(),
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                }),
                Kind::Gauge => Data::Gauge(Gauge {
                    data_points: f
                        .series
                        .iter()
                        .filter_map(|s| match s {
                            AnySeries::Gauge(g) => Some(NumberDataPoint {
                                attributes: attributes(&g.key.labels),
                                start_time_unix_nano: g.key.created_unix_nanos,
                                time_unix_nano: now,
                                value: Some(number(&m.unit, g.value())),
                                ..Default::default()
                            }),
                            _ => None,
                        })
                        .collect(),
                }),
            };
            metrics.push(Metric {
                name: m.name.clone(),
                description: m.help.clone(),
                unit: m.unit.otel().to_owned(),
                metadata: Vec::new(),
                data: Some(data),
            });
        }
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(resource),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(scope),
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }
}

/// The process-wide registry as an OTLP metrics request (for the exporter).
#[allow(dead_code)]
pub(crate) fn otlp_request(
    resource: opentelemetry_proto::tonic::resource::v1::Resource,
    scope: opentelemetry_proto::tonic::common::v1::InstrumentationScope,
) -> opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest {
    let mut request = crate::metrics::global().otlp_request(resource, scope);
    // The SLO engine's series go with the registry's, as they do on `/metrics`.
    if let Some(series) = super::slo::SOURCE.get().and_then(|source| source())
        && let Some(scope) = request
            .resource_metrics
            .first_mut()
            .and_then(|r| r.scope_metrics.first_mut())
    {
        scope.metrics.extend(super::slo::metrics(&series));
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TraceId;
    use crate::metrics::RequestType;
    use prost::Message;

    fn kv_str<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
        attrs
            .iter()
            .find(|a| a.key == key)?
            .value
            .as_ref()?
            .value
            .as_ref()
    }

    fn bounds(scale: i32, i: i32) -> (f64, f64) {
        let b = 2f64.powf(2f64.powi(-scale));
        (b.powi(i), b.powi(i + 1))
    }

    #[test]
    fn otlp_round_trip_through_protobuf() {
        let r = Registry::new();
        let h = r.http_server_duration(
            "/orders/{id}",
            "GET",
            200,
            "http",
            None,
            RequestType::Standard,
        );
        let values: Vec<u64> = vec![
            0,
            1_000,
            1_500,
            250_000,
            1_000_000,
            1_000_000,
            3_000_000,
            47_000_000,
            1_200_000_000,
        ];
        let trace = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        for &v in &values {
            h.record_with_exemplar(v, trace, false);
        }
        let narrow = r.duration_histogram("narrow", &[]);
        for v in [1_000_000u64, 2_000_000, 5_000_000] {
            narrow.record(v);
        }
        r.counter("orders.placed", &[("channel", "web")]).add(7);
        r.gauge("http.server.active_requests", &[]).set(3);

        let resource = Resource {
            attributes: vec![attribute("service.name", "shop")],
            ..Default::default()
        };
        let scope = InstrumentationScope {
            name: "observe".into(),
            version: "0.1.0".into(),
            ..Default::default()
        };
        let req = r.otlp_request(resource, scope);
        let bytes = req.encode_to_vec();
        let back = ExportMetricsServiceRequest::decode(&bytes[..]).unwrap();
        assert_eq!(back, req);

        let rm = &back.resource_metrics[0];
        assert_eq!(
            kv_str(&rm.resource.as_ref().unwrap().attributes, "service.name"),
            Some(&any_value::Value::StringValue("shop".into()))
        );
        let sm = &rm.scope_metrics[0];
        assert_eq!(sm.scope.as_ref().unwrap().name, "observe");
        let find = |n: &str| sm.metrics.iter().find(|m| m.name == n).unwrap();

        let m = find("http.server.request.duration");
        assert_eq!(m.unit, "s");
        let Some(Data::ExponentialHistogram(eh)) = &m.data else {
            panic!("not an exponential histogram")
        };
        assert_eq!(
            eh.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        let dp = &eh.data_points[0];
        assert_eq!(
            kv_str(&dp.attributes, "http.route"),
            Some(&any_value::Value::StringValue("/orders/{id}".into()))
        );
        assert_eq!(
            kv_str(&dp.attributes, "http.response.status_code"),
            Some(&any_value::Value::IntValue(200))
        );
        assert_eq!(
            kv_str(&dp.attributes, "request_type"),
            Some(&any_value::Value::StringValue("standard".into()))
        );
        assert_eq!(dp.count, values.len() as u64);
        // 1 µs .. 1.2 s spans 20 powers of two: one downscale step to fit MAX_BUCKETS.
        assert_eq!(dp.scale, SCALE - 1);
        assert_eq!(dp.zero_count, 1);
        let buckets = dp.positive.as_ref().unwrap();
        assert_eq!(
            dp.zero_count + buckets.bucket_counts.iter().sum::<u64>(),
            dp.count
        );
        let total_ns: u64 = values.iter().sum();
        assert!((dp.sum.unwrap() - total_ns as f64 / 1e9).abs() < 1e-12);
        // Every value is in the bucket holding it (to HDR's resolution).
        for &v in values.iter().filter(|v| **v > 0) {
            let secs = v as f64 / 1e9;
            let found = buckets.bucket_counts.iter().enumerate().any(|(j, &c)| {
                let (lo, hi) = bounds(dp.scale, buckets.offset + j as i32);
                c > 0 && lo < secs * (1.0 + 1e-3) && secs <= hi * (1.0 + 1e-3)
            });
            assert!(found, "{v} ns has no bucket");
        }
        // Exact HDR bins below 2048 ns land exactly.
        let i = bucket_index(1e-6, dp.scale) - buckets.offset;
        assert_eq!(buckets.bucket_counts[i as usize], 1, "1 µs bucket");
        let i = bucket_index(1e-3, dp.scale) - buckets.offset;
        assert_eq!(buckets.bucket_counts[i as usize], 2, "1 ms bucket");
        assert_eq!(dp.exemplars.len(), 1);
        assert_eq!(dp.exemplars[0].trace_id, trace.to_bytes().to_vec());
        assert_eq!(dp.exemplars[0].value, Some(exemplar::Value::AsDouble(1.2)));
        assert!(dp.max.unwrap() >= 1.2 && dp.max.unwrap() < 1.2 * 1.001);

        let Some(Data::ExponentialHistogram(eh)) = &find("narrow").data else {
            panic!("narrow")
        };
        let dp = &eh.data_points[0];
        assert_eq!(dp.scale, SCALE);
        let b = dp.positive.as_ref().unwrap();
        assert_eq!(b.bucket_counts.iter().sum::<u64>(), 3);
        assert_eq!(
            b.bucket_counts[(bucket_index(2e-3, SCALE) - b.offset) as usize],
            1
        );
        assert!(dp.exemplars.is_empty());

        let m = find("orders.placed");
        let Some(Data::Sum(sum)) = &m.data else {
            panic!("not a sum")
        };
        assert!(sum.is_monotonic);
        assert_eq!(
            sum.data_points[0].value,
            Some(number_data_point::Value::AsInt(7))
        );
        assert_eq!(
            kv_str(&sum.data_points[0].attributes, "channel"),
            Some(&any_value::Value::StringValue("web".into()))
        );
        let m = find("http.server.active_requests");
        let Some(Data::Gauge(g)) = &m.data else {
            panic!("not a gauge")
        };
        assert_eq!(
            g.data_points[0].value,
            Some(number_data_point::Value::AsInt(3))
        );
    }

    /// Issue 18's unit bug, in OTLP: a histogram of counts was sent with unit `s`
    /// and its values divided by 1e9. Now each unit is sent as created.
    #[test]
    fn units_are_sent_as_created() {
        let r = Registry::new();
        crate::metrics::events::record_event_field(
            &r,
            "histogram.basket.items",
            crate::metrics::FieldValue::U64(3),
            &[],
        )
        .unwrap();
        r.histogram("upload.size", Unit::Bytes, &[]).record(2048);
        r.histogram("render.time", Unit::custom("ms"), &[])
            .record(12);
        r.duration_histogram("checkout.duration", &[])
            .record(40_000_000);
        let req = r.otlp_request(Resource::default(), InstrumentationScope::default());
        let metrics = &req.resource_metrics[0].scope_metrics[0].metrics;
        let get = |n: &str| {
            let m = metrics.iter().find(|m| m.name == n).unwrap();
            let Some(Data::ExponentialHistogram(eh)) = &m.data else {
                panic!("{n}")
            };
            (m.unit.clone(), eh.data_points[0].sum.unwrap())
        };
        assert_eq!(get("basket.items"), ("1".to_owned(), 3.0));
        assert_eq!(get("upload.size"), ("By".to_owned(), 2048.0));
        assert_eq!(get("render.time"), ("ms".to_owned(), 12.0));
        assert_eq!(get("checkout.duration"), ("s".to_owned(), 0.04));
    }

    #[test]
    fn bucket_index_follows_the_spec() {
        // Exact powers of two sit at the top of their bucket: (b^(i), b^(i+1)].
        assert_eq!(bucket_index(1.0, 10), -1);
        assert_eq!(bucket_index(2.0, 10), 1023);
        assert_eq!(bucket_index(0.5, 0), -2);
        for &v in &[1e-9, 3.3e-6, 0.0123, 1.0, 7.5, 3600.0] {
            for scale in [0, 3, 8, 10] {
                let i = bucket_index(v, scale);
                let (lo, hi) = bounds(scale, i);
                assert!(
                    lo < v * (1.0 + 1e-12) && v <= hi * (1.0 + 1e-12),
                    "{v} at {scale}: ({lo}, {hi}]"
                );
            }
        }
    }

    #[test]
    fn wide_distributions_are_downscaled_losslessly() {
        let mut h = crate::metrics::layout::new_histogram();
        h.record(1).unwrap();
        h.record(1 << 40).unwrap();
        let (scale, zero, offset, counts) = exponential_buckets(&h, &Unit::Nanoseconds);
        assert!(
            scale < SCALE && counts.len() <= MAX_BUCKETS,
            "{scale} {}",
            counts.len()
        );
        assert_eq!(zero, 0);
        assert_eq!(counts.iter().sum::<u64>(), 2);
        assert_eq!(counts[0], 1);
        assert_eq!(*counts.last().unwrap(), 1);
        let (lo, hi) = bounds(scale, offset);
        assert!(lo < 1e-9 && 1e-9 <= hi * (1.0 + 1e-12));
    }

    #[test]
    fn relative_error_at_the_chosen_scale_is_within_three_digits() {
        let b = 2f64.powf(2f64.powi(-SCALE));
        let bucket_error = (b - 1.0) / (b + 1.0);
        let hdr_half_bin = 1.0 / 2048.0;
        assert!(
            bucket_error + hdr_half_bin < 1e-3,
            "{}",
            bucket_error + hdr_half_bin
        );
    }
}
