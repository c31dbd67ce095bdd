//! Metric names and label sets: what is accepted (OpenTelemetry instrument names,
//! label keys, label limits) and their Prometheus forms.

use super::error::MetricError;
use super::handles::Labels;
use super::registry::Kind;

/// Maximum labels per key.
pub const MAX_LABELS: usize = 16;
/// Label values longer than this many bytes are cut (on a character boundary).
pub const MAX_LABEL_VALUE_LEN: usize = 256;

/// Checks an OpenTelemetry instrument name.
pub(crate) fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 255
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'/'))
}

/// The Prometheus form of a name or label key: every character outside
/// `[a-zA-Z0-9_]` becomes `_`.
pub(crate) fn prometheus_ident(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn valid_label_key(key: &str) -> bool {
    let b = key.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.'))
        && !prometheus_ident(key).starts_with("__")
        && key != "quantile"
        && key != "le"
        // observe's own: the overflow key's label (`OVERFLOW_LABEL`).
        && prometheus_ident(key) != "otel_metric_overflow"
}

fn cut(value: &str) -> String {
    if value.len() <= MAX_LABEL_VALUE_LEN {
        return value.to_owned();
    }
    let mut end = MAX_LABEL_VALUE_LEN;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].to_owned()
}

pub(crate) fn normalize_labels(name: &str, labels: &[(&str, &str)]) -> Result<Labels, MetricError> {
    if labels.len() > MAX_LABELS {
        return Err(MetricError::TooManyLabels {
            name: name.to_owned(),
            count: labels.len(),
        });
    }
    let mut out: Vec<(String, String)> = Vec::with_capacity(labels.len());
    for &(k, v) in labels {
        if !valid_label_key(k) {
            return Err(MetricError::InvalidLabelKey {
                name: name.to_owned(),
                key: k.to_owned(),
            });
        }
        out.push((k.to_owned(), cut(v)));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    let mut seen: Vec<String> = out.iter().map(|(k, _)| prometheus_ident(k)).collect();
    seen.sort_unstable();
    if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
        return Err(MetricError::DuplicateLabel {
            name: name.to_owned(),
            key: w[0].clone(),
        });
    }
    Ok(out.into_boxed_slice())
}

/// The prefix of the SLO families observe writes into the exposition beside the
/// registry's (`observe_slo_objective`, ...; `slo::prometheus`).
pub(crate) const RESERVED_PROMETHEUS_PREFIX: &str = "observe_slo_";

/// Family and sample names that observe's own families use in the Prometheus
/// exposition (its counters, `target_info`, the process metrics).
pub(crate) const RESERVED_PROMETHEUS: &[&str] = &[
    "observe_metrics_overflow_label_sets",
    "observe_metrics_overflow_label_sets_total",
    "observe_metrics_overflow_observations",
    "observe_metrics_overflow_observations_total",
    "observe_metrics_clamped_observations",
    "observe_metrics_clamped_observations_total",
    "target",
    "target_info",
    "process_cpu_seconds",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
];

pub(crate) fn sample_names(kind: Kind, base: &str) -> Vec<String> {
    match kind {
        Kind::Histogram => vec![
            base.to_owned(),
            format!("{base}_bucket"),
            format!("{base}_sum"),
            format!("{base}_count"),
        ],
        // The OpenMetrics family name and the sample name.
        Kind::Counter => vec![base.to_owned(), format!("{base}_total")],
        Kind::Gauge => vec![base.to_owned()],
    }
}

/// The Prometheus family name of a metric: its name with every character outside
/// `[a-zA-Z0-9_]` as `_`, a counter's `_total` removed (it is the sample's suffix),
/// and the unit's word appended unless the name already ends with it.
pub(crate) fn prometheus_base(name: &str, kind: Kind, word: &str) -> String {
    let mut base = prometheus_ident(name);
    if kind == Kind::Counter
        && let Some(stripped) = base.strip_suffix("_total")
        && !stripped.is_empty()
    {
        base.truncate(stripped.len());
    }
    if !word.is_empty() && !base.ends_with(&format!("_{word}")) && base != word {
        base.push('_');
        base.push_str(word);
    }
    base
}

#[cfg(test)]
mod tests {
    use super::super::Registry;
    use super::*;

    #[test]
    fn names_and_labels_are_validated() {
        let r = Registry::new();
        for bad in ["", "1abc", "a b", "é", &"x".repeat(256)] {
            let e = r.try_counter(bad, &[]).unwrap_err();
            assert!(matches!(e, MetricError::InvalidName { .. }), "{bad:?}: {e}");
        }
        for bad in ["", "quantile", "le", "__x", "a-b", "9a"] {
            let e = r.try_counter("c", &[(bad, "v")]).unwrap_err();
            assert!(
                matches!(e, MetricError::InvalidLabelKey { .. }),
                "{bad:?}: {e}"
            );
            assert!(e.to_string().contains("accepted") || e.to_string().contains("starts with"));
        }
        let e = r
            .try_counter("c", &[("a.b", "1"), ("a_b", "2")])
            .unwrap_err();
        assert!(matches!(e, MetricError::DuplicateLabel { .. }), "{e}");
        let many: Vec<(String, String)> = (0..17).map(|i| (format!("k{i}"), "v".into())).collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert!(matches!(
            r.try_counter("c", &many),
            Err(MetricError::TooManyLabels { count: 17, .. })
        ));
    }

    #[test]
    fn label_order_does_not_matter_and_long_values_are_cut() {
        let r = Registry::new();
        let a = r.counter("c", &[("x", "1"), ("y", "2")]);
        let b = r.counter("c", &[("y", "2"), ("x", "1")]);
        a.inc();
        b.inc();
        assert_eq!(a.value(), 2);
        let long = "é".repeat(200);
        let h = r.duration_histogram("h", &[("v", &long)]);
        let (_, v) = h.labels().next().unwrap();
        assert!(v.len() <= MAX_LABEL_VALUE_LEN && long.starts_with(v));
    }
}
