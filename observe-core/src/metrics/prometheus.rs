//! Prometheus text exposition format (version 0.0.4), what `/metrics` serves.
//!
//! * Latency (and other) histograms are **summaries**: quantiles 0.5, 0.9, 0.99,
//!   0.999, 0.9999, 0.99999 and `quantile="1"` (the maximum) over the rolling
//!   window, `NaN` when the window is empty; `_sum` and `_count` are cumulative, as
//!   Prometheus client libraries do for summaries. Values in seconds (`_seconds`).
//! * Counters get `_total`; gauges are plain.
//! * Names and label keys: every character outside `[a-zA-Z0-9_]` becomes `_`
//!   (`http.server.request.duration` -> `http_server_request_duration_seconds`).
//! * Label values are escaped (`\\`, `\"`, `\n`), HELP text too (`\\`, `\n`).
//! * `observe_metrics_overflow_label_sets_total{metric=...}`,
//!   `observe_metrics_overflow_observations_total{metric=...}` and
//!   `observe_metrics_clamped_observations_total{metric=...}` appear once a metric
//!   overflows its key limit or records a value above the range.
//! * The text format has no exemplars; they are in the snapshot and in OTLP.

use std::fmt::Write;

use super::registry::{AnySeries, Kind, Registry, Unit, counter_sample_name, prometheus_ident};
use super::snapshot::{QUANTILES, Scratch, overflow_of, read_histogram};

pub(crate) fn escape_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

pub(crate) fn write_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

/// A counter or gauge value in its exposed unit, then a newline.
fn write_number(out: &mut String, unit: Unit, v: i128) {
    if unit.scales() {
        write_float(out, unit.scale(v as f64));
        out.push('\n');
    } else {
        let _ = writeln!(out, "{v}");
    }
}

fn write_labels(out: &mut String, labels: &[(String, String)], extra: Option<(&str, &str)>) {
    if labels.is_empty() && extra.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (k, v) in labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra)
    {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(&prometheus_ident(k));
        out.push_str("=\"");
        escape_label_value(out, v);
        out.push('"');
    }
    out.push('}');
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    escape_help(out, help);
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(kind);
    out.push('\n');
}

fn help_of(help: &str, name: &str) -> String {
    if help.is_empty() {
        format!("observe metric {name}")
    } else {
        help.to_owned()
    }
}

impl Registry {
    /// The registry in the Prometheus text exposition format (0.0.4); serve it with
    /// content type `text/plain; version=0.0.4; charset=utf-8`. See
    /// `docs/metrics.md` for the shape.
    ///
    /// ```
    /// let registry = observe_core::metrics::Registry::new();
    /// registry.counter("orders.placed", &[("channel", "web")]).add(3);
    /// let text = registry.prometheus_text();
    /// assert!(text.contains("# TYPE orders_placed_total counter\n"));
    /// assert!(text.contains("orders_placed_total{channel=\"web\"} 3\n"));
    /// ```
    pub fn prometheus_text(&self) -> String {
        let now = self.now();
        let mut out = String::new();
        let mut scratch = None;
        let mut overflows = Vec::new();
        let mut clamped = Vec::new();
        for f in self.families() {
            if f.series.is_empty() {
                continue;
            }
            let help = help_of(&f.help, &f.name);
            match f.kind {
                Kind::Histogram => {
                    header(&mut out, &f.prometheus, "summary", &help);
                    let mut clamped_total = 0u64;
                    for s in &f.series {
                        let AnySeries::Histogram(h) = s else { continue };
                        let scratch = scratch.get_or_insert_with(Scratch::new);
                        read_histogram(h, now, scratch, |r| {
                            let labels = &r.series.key.labels;
                            let empty = r.window.is_empty();
                            let mut qs = r.window.value_at_quantiles(QUANTILES);
                            let mut qbuf = String::new();
                            for q in QUANTILES.iter().map(|q| Some(*q)).chain([None]) {
                                let value = match q {
                                    _ if empty => f64::NAN,
                                    Some(_) => {
                                        qs.next().map_or(f64::NAN, |v| f.unit.scale(v as f64))
                                    }
                                    None => f.unit.scale(r.window.max() as f64),
                                };
                                qbuf.clear();
                                match q {
                                    Some(q) => write_float(&mut qbuf, q),
                                    None => qbuf.push('1'),
                                }
                                out.push_str(&f.prometheus);
                                write_labels(&mut out, labels, Some(("quantile", &qbuf)));
                                out.push(' ');
                                write_float(&mut out, value);
                                out.push('\n');
                            }
                            out.push_str(&f.prometheus);
                            out.push_str("_sum");
                            write_labels(&mut out, labels, None);
                            out.push(' ');
                            write_float(&mut out, f.unit.scale(r.cumulative_scalars.sum as f64));
                            out.push('\n');
                            out.push_str(&f.prometheus);
                            out.push_str("_count");
                            write_labels(&mut out, labels, None);
                            let _ = writeln!(out, " {}", r.cumulative.len());
                            clamped_total += r.cumulative_scalars.clamped;
                        });
                    }
                    if clamped_total > 0 {
                        clamped.push((f.prometheus.clone(), clamped_total));
                    }
                }
                Kind::Counter => {
                    let name = counter_sample_name(&f.prometheus);
                    header(&mut out, &name, "counter", &help);
                    for s in &f.series {
                        let AnySeries::Counter(c) = s else { continue };
                        out.push_str(&name);
                        write_labels(&mut out, &c.key.labels, None);
                        out.push(' ');
                        write_number(&mut out, f.unit, c.cells.sum() as i128);
                    }
                }
                Kind::Gauge => {
                    header(&mut out, &f.prometheus, "gauge", &help);
                    for s in &f.series {
                        let AnySeries::Gauge(g) = s else { continue };
                        out.push_str(&f.prometheus);
                        write_labels(&mut out, &g.key.labels, None);
                        out.push(' ');
                        write_number(&mut out, f.unit, g.value() as i128);
                    }
                }
            }
            if let Some(o) = overflow_of(&f, now) {
                let name = if f.kind == Kind::Counter {
                    counter_sample_name(&f.prometheus)
                } else {
                    f.prometheus.clone()
                };
                overflows.push((name, o));
            }
        }
        if !overflows.is_empty() {
            header(
                &mut out,
                "observe_metrics_overflow_label_sets_total",
                "counter",
                "Lookups of label sets refused because a metric reached its key limit; their observations went to its otel_metric_overflow=\"true\" key.",
            );
            for (name, o) in &overflows {
                let labels = [("metric".to_owned(), name.clone())];
                out.push_str("observe_metrics_overflow_label_sets_total");
                write_labels(&mut out, &labels, None);
                let _ = writeln!(out, " {}", o.refused_label_sets);
            }
            header(
                &mut out,
                "observe_metrics_overflow_observations_total",
                "counter",
                "Observations recorded under a metric's otel_metric_overflow=\"true\" key.",
            );
            for (name, o) in &overflows {
                let labels = [("metric".to_owned(), name.clone())];
                out.push_str("observe_metrics_overflow_observations_total");
                write_labels(&mut out, &labels, None);
                let _ = writeln!(out, " {}", o.overflow_observations);
            }
        }
        if !clamped.is_empty() {
            header(
                &mut out,
                "observe_metrics_clamped_observations_total",
                "counter",
                "Observations above a histogram's range (about 73 minutes), recorded as its top.",
            );
            for (name, n) in &clamped {
                let labels = [("metric".to_owned(), name.clone())];
                out.push_str("observe_metrics_clamped_observations_total");
                write_labels(&mut out, &labels, None);
                let _ = writeln!(out, " {n}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_gauges_in_nanoseconds_are_exposed_in_seconds() {
        let r = Registry::new();
        r.describe("busy.time", Unit::Nanoseconds, "Time spent busy.")
            .unwrap();
        r.counter("busy.time", &[]).add(1_500_000_000);
        r.describe("lag", Unit::Nanoseconds, "Consumer lag.")
            .unwrap();
        r.gauge("lag", &[]).set(-250_000_000);
        let text = r.prometheus_text();
        assert!(text.contains("busy_time_seconds_total 1.5\n"), "{text}");
        assert!(text.contains("lag_seconds -0.25\n"), "{text}");
    }

    #[test]
    fn escaping() {
        let mut s = String::new();
        escape_label_value(&mut s, "a\\b\"c\nd");
        assert_eq!(s, r#"a\\b\"c\nd"#);
        let mut s = String::new();
        escape_help(&mut s, "a\\b\"c\nd");
        assert_eq!(s, r#"a\\b"c\nd"#);
        let mut s = String::new();
        write_float(&mut s, f64::INFINITY);
        write_float(&mut s, f64::NAN);
        write_float(&mut s, 0.000_001_5);
        assert_eq!(s, "+InfNaN0.0000015");
    }
}
