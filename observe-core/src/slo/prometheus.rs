//! The SLO metrics in the Prometheus text format and OpenMetrics.

use std::fmt::Write as _;

use super::SloEngine;
use crate::metrics::prometheus::Format;

fn escape(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn number(out: &mut String, v: f64) {
    if v.is_finite() {
        let _ = write!(out, "{v}");
    } else if v.is_nan() {
        out.push_str("NaN");
    } else if v > 0.0 {
        out.push_str("+Inf");
    } else {
        out.push_str("-Inf");
    }
}

/// The engine's metrics as exposition lines (no `# EOF`), as of its last
/// evaluation:
///
/// * `observe_slo_objective{slo}` (gauge): the promised fraction;
/// * `observe_slo_good_total{slo}`, `observe_slo_requests_total{slo}` (counters,
///   cumulative since the selected series were created): what a Prometheus recording rule divides, e.g.
///   `(1 - increase(observe_slo_good_total[5m]) / increase(observe_slo_requests_total[5m])) / (1 - observe_slo_objective)`;
/// * `observe_slo_burn_rate{slo,window}` (gauge): observe's own burn rate per window;
/// * `observe_slo_alerts_total` (counter): alerts emitted.
pub fn render(engine: &SloEngine, format: Format) -> String {
    let om = format == Format::OpenMetrics;
    let status = engine.status();
    let mut out = String::new();
    let header = |out: &mut String, name: &str, kind: &str, help: &str| {
        let family = if om && kind == "counter" {
            name.trim_end_matches("_total")
        } else {
            name
        };
        let _ = writeln!(out, "# HELP {family} {help}");
        let _ = writeln!(out, "# TYPE {family} {kind}");
    };
    let sample = |out: &mut String, name: &str, labels: &[(&str, &str)], v: f64| {
        out.push_str(name);
        if !labels.is_empty() {
            out.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(k);
                out.push_str("=\"");
                escape(out, val);
                out.push('"');
            }
            out.push('}');
        }
        out.push(' ');
        number(out, v);
        out.push('\n');
    };
    if status.is_empty() {
        return out;
    }
    header(
        &mut out,
        "observe_slo_objective",
        "gauge",
        "The fraction of good requests the SLO promises.",
    );
    for s in &status {
        sample(
            &mut out,
            "observe_slo_objective",
            &[("slo", &s.name)],
            s.objective,
        );
    }
    header(
        &mut out,
        "observe_slo_good_total",
        "counter",
        "Good requests of the SLO (standard requests only) since observe started recording them.",
    );
    for s in &status {
        sample(
            &mut out,
            "observe_slo_good_total",
            &[("slo", &s.name)],
            s.good_total as f64,
        );
    }
    header(
        &mut out,
        "observe_slo_requests_total",
        "counter",
        "Requests the SLO counts (standard requests only) since observe started recording them.",
    );
    for s in &status {
        sample(
            &mut out,
            "observe_slo_requests_total",
            &[("slo", &s.name)],
            s.requests_total as f64,
        );
    }
    header(
        &mut out,
        "observe_slo_burn_rate",
        "gauge",
        "Bad fraction over the allowed fraction (1 - objective) per window, as observe computes it.",
    );
    for s in &status {
        for w in &s.windows {
            sample(
                &mut out,
                "observe_slo_burn_rate",
                &[("slo", &s.name), ("window", &w.window)],
                w.burn_rate,
            );
        }
    }
    header(
        &mut out,
        "observe_slo_alerts_total",
        "counter",
        "SLO burn-rate alerts emitted.",
    );
    sample(
        &mut out,
        "observe_slo_alerts_total",
        &[],
        engine.alerts_fired() as f64,
    );
    out
}

/// Adds the running engine's metrics (if any) to an exposition, before
/// OpenMetrics' `# EOF`.
pub(crate) fn append(out: &mut String, format: Format) {
    let Some(engine) = super::current() else {
        return;
    };
    let text = render(&engine, format);
    if text.is_empty() {
        return;
    }
    let eof = out.ends_with("# EOF\n");
    if eof {
        out.truncate(out.len() - "# EOF\n".len());
    }
    out.push_str(&text);
    if eof {
        out.push_str("# EOF\n");
    }
}
