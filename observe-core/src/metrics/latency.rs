//! Latency per key, for the admin API: observe's duration histograms grouped by
//! route, RPC method, function or callee, with their label sets (status codes,
//! schemes...) merged into one HDR histogram per key and request type.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram as HdrHistogram;

use super::handles::AnySeries;
use super::layout::new_histogram;
use super::registry::Registry;
use super::semconv::names;
use super::snapshot::{Exemplar, ExemplarKind, Scratch, Views, read_histogram};

/// The latency metrics and their kinds.
pub(crate) const LATENCY_METRICS: [(&str, &str); 5] = [
    (names::HTTP_SERVER_REQUEST_DURATION, "http.server"),
    (names::RPC_SERVER_CALL_DURATION, "rpc.server"),
    (names::FUNCTION_DURATION, "function"),
    (names::HTTP_CLIENT_REQUEST_DURATION, "http.client"),
    (names::RPC_CLIENT_CALL_DURATION, "rpc.client"),
];

/// One key of one latency metric and request type, its label sets merged.
pub(crate) struct LatencyRow {
    /// `http.server`, `rpc.server`, `function`, `http.client`, `rpc.client`.
    pub(crate) kind: &'static str,
    pub(crate) metric: &'static str,
    /// `GET /orders/{id}`, `pkg.Service/Method`, the function, `GET host`.
    pub(crate) key: String,
    /// The labels that make the key.
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) request_type: String,
    /// Nanoseconds.
    pub(crate) histogram: HdrHistogram<u64>,
    pub(crate) errors: u64,
    /// The slowest of the window (slowest first), then recent errors (newest first).
    pub(crate) exemplars: Vec<Exemplar>,
}

/// Which view of the histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LatencyWindow {
    /// The rolling window.
    Rolling,
    /// Since each key was created.
    Total,
}

/// The labels that make a key of `metric`, and the key they spell.
fn key_of(metric: &str, labels: &[(String, String)]) -> (String, BTreeMap<String, String>) {
    let get = |name: &str| {
        labels
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let keep = |names: &[&str]| -> BTreeMap<String, String> {
        labels
            .iter()
            .filter(|(k, _)| names.contains(&k.as_str()))
            .cloned()
            .collect()
    };
    match metric {
        names::HTTP_SERVER_REQUEST_DURATION => (
            format!(
                "{} {}",
                get(names::HTTP_REQUEST_METHOD),
                get(names::HTTP_ROUTE)
            ),
            keep(&[names::HTTP_REQUEST_METHOD, names::HTTP_ROUTE]),
        ),
        names::HTTP_CLIENT_REQUEST_DURATION => (
            format!(
                "{} {}",
                get(names::HTTP_REQUEST_METHOD),
                get(names::SERVER_ADDRESS)
            ),
            keep(&[names::HTTP_REQUEST_METHOD, names::SERVER_ADDRESS]),
        ),
        names::RPC_SERVER_CALL_DURATION | names::RPC_CLIENT_CALL_DURATION => (
            format!("{}/{}", get(names::RPC_SERVICE), get(names::RPC_METHOD)),
            keep(&[names::RPC_SYSTEM, names::RPC_SERVICE, names::RPC_METHOD]),
        ),
        _ => (
            get(names::CODE_FUNCTION).to_owned(),
            keep(&[names::CODE_FUNCTION]),
        ),
    }
}

/// Every latency key of `registry` (or only `only = (metric, key, request_type)`),
/// with the length of the rolling window. Reads each series under its lock briefly,
/// as a snapshot does.
pub(crate) fn latency_rows(
    registry: &Registry,
    window: LatencyWindow,
    only: Option<(&str, &str, &str)>,
) -> (Duration, Vec<LatencyRow>) {
    let now = registry.now();
    let views = match window {
        LatencyWindow::Rolling => Views::Window,
        LatencyWindow::Total => Views::Cumulative,
    };
    let mut rows: BTreeMap<(usize, String, String), LatencyRow> = BTreeMap::new();
    let mut scratch = None;
    for family in registry.families() {
        let Some(order) = LATENCY_METRICS
            .iter()
            .position(|(m, _)| *m == family.meta.name)
        else {
            continue;
        };
        let (metric, kind) = LATENCY_METRICS[order];
        if only.is_some_and(|(m, _, _)| m != metric) {
            continue;
        }
        for series in &family.series {
            let AnySeries::Histogram(h) = series else {
                continue;
            };
            let (key, labels) = key_of(metric, &h.key.labels);
            let request_type = h
                .key
                .labels
                .iter()
                .find(|(k, _)| k == names::REQUEST_TYPE)
                .map_or("standard", |(_, v)| v.as_str())
                .to_owned();
            if only.is_some_and(|(_, k, t)| k != key || t != request_type) {
                continue;
            }
            // A series whose labels say it failed counts all its observations as
            // errors; others count those recorded as errors.
            let failed = super::series_failed(metric, &h.key.labels);
            let scratch = scratch.get_or_insert_with(Scratch::new);
            let row = rows
                .entry((order, key.clone(), request_type.clone()))
                .or_insert_with(|| LatencyRow {
                    kind,
                    metric,
                    key,
                    labels,
                    request_type,
                    histogram: new_histogram(),
                    errors: 0,
                    exemplars: Vec::new(),
                });
            read_histogram(h, now, scratch, views, |r| {
                let (hist, scalars) = match window {
                    LatencyWindow::Rolling => (r.window, r.window_scalars),
                    LatencyWindow::Total => (r.cumulative, r.cumulative_scalars),
                };
                // Same layout: adding cannot fail.
                let _ = row.histogram.add(hist);
                row.errors += if failed { hist.len() } else { scalars.errors };
                row.exemplars.extend(r.exemplars);
            });
        }
    }
    let rows = rows
        .into_values()
        .map(|mut row| {
            row.exemplars = merge_exemplars(std::mem::take(&mut row.exemplars));
            row
        })
        .collect();
    (registry.window().0, rows)
}

/// The three slowest and the three newest errors of several series' exemplars.
fn merge_exemplars(all: Vec<Exemplar>) -> Vec<Exemplar> {
    let (mut slowest, mut errors): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|e| e.kind == ExemplarKind::Slowest);
    slowest.sort_by(|a, b| b.value.cmp(&a.value).then(b.unix_nanos.cmp(&a.unix_nanos)));
    errors.sort_by_key(|e| std::cmp::Reverse(e.unix_nanos));
    slowest.truncate(3);
    errors.truncate(3);
    slowest.extend(errors);
    slowest
}

/// The percentile points of `h` for a percentile plot: hdrhistogram's quantile
/// iteration (5 ticks per half distance) up to the 99.999th percentile, as
/// `(percentile, value)`.
pub(crate) fn percentile_points(h: &HdrHistogram<u64>) -> Vec<(f64, u64)> {
    let mut points: Vec<(f64, u64)> = Vec::new();
    if h.is_empty() {
        return points;
    }
    for v in h.iter_quantiles(5) {
        let q = v.quantile_iterated_to();
        let point = (q * 100.0, v.value_iterated_to());
        if points.last() != Some(&point) {
            points.push(point);
        }
        if q >= 0.99999 {
            break;
        }
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::RequestType;
    use crate::metrics::registry::Registry;

    #[test]
    fn status_codes_merge_into_one_row_per_route_and_request_type() {
        let r = Registry::new();
        let route = "/orders/{id}";
        let ok = r.http_server_duration(route, "GET", 200, "http", None, RequestType::Standard);
        let failed = r.http_server_duration(
            route,
            "GET",
            503,
            "http",
            Some("503"),
            RequestType::Standard,
        );
        let bullet =
            r.http_server_duration(route, "GET", 200, "http", None, RequestType::TracerBullet);
        for ms in 1..=99 {
            ok.record_duration(Duration::from_millis(ms));
        }
        failed.record_with_exemplar(500_000_000, crate::ids::TraceId::from_bytes([7; 16]), true);
        bullet.record_duration(Duration::from_millis(5));
        let (_, rows) = latency_rows(&r, LatencyWindow::Total, None);
        assert_eq!(rows.len(), 2);
        let standard = &rows[0];
        assert_eq!(standard.key, "GET /orders/{id}");
        assert_eq!(standard.request_type, "standard");
        assert_eq!(standard.histogram.len(), 100);
        assert_eq!(standard.errors, 1);
        assert_eq!(rows[1].request_type, "tracer_bullet");
        assert_eq!(rows[1].histogram.len(), 1);
        let (_, only) = latency_rows(
            &r,
            LatencyWindow::Total,
            Some((
                names::HTTP_SERVER_REQUEST_DURATION,
                "GET /orders/{id}",
                "tracer_bullet",
            )),
        );
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].histogram.len(), 1);

        let points = percentile_points(&standard.histogram);
        assert!(points.len() > 10, "{points:?}");
        assert!(
            points
                .windows(2)
                .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1)
        );
        let last = points.last().unwrap();
        assert!(last.0 >= 99.999, "{last:?}");
        assert!(last.1 >= 499_000_000, "{last:?}");
    }
}
