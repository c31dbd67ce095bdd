//! The Prometheus exposition: text format 0.0.4, and OpenMetrics 1.0 text when the
//! scraper asks for it. What `/metrics` serves ([`render`]).
//!
//! * **Histograms** are Prometheus histograms by default: cumulative
//!   `_bucket{le="..."}` counters derived from the HDR bins (see
//!   [`DEFAULT_DURATION_BUCKETS`](super::DEFAULT_DURATION_BUCKETS) and the bound
//!   on a bucket's error in `docs/metrics.md`), then `_sum` and `_count`, all
//!   cumulative since the key was created, so PromQL aggregates instances
//!   (`histogram_quantile(0.99, sum by (le) (rate(..._bucket[5m])))`). As an option
//!   ([`Exposition::Summary`](super::Exposition), per metric or for the registry) a
//!   histogram is a **summary** instead: quantiles 0.5 ... 0.99999 and
//!   `quantile="1.0"` (the maximum) over the rolling window, `NaN` when it is
//!   empty, with cumulative `_sum` and `_count`.
//! * **OpenMetrics** (`application/openmetrics-text; version=1.0.0`) when the
//!   `Accept` header prefers it, negotiated as Prometheus's own client library does:
//!   the same families, with `# UNIT` lines, counters as a family without `_total`
//!   whose sample has it, exemplars on buckets (`# {trace_id="..."} value
//!   timestamp`: the slowest and failing observations of the window, each on the
//!   bucket its value falls in, an error preferred), and `# EOF`.
//! * `le` and `quantile` values are written as OpenMetrics' canonical numbers
//!   (`0.005`, `1.0`, `1e+06`) in both formats, so switching formats keeps series.
//! * Names: every character outside `[a-zA-Z0-9_]` becomes `_`, and the unit is a
//!   suffix (`http.server.request.duration` -> `http_server_request_duration_seconds`).
//! * [`render`] adds `target_info` (the running instance's service name, version,
//!   environment, host, team and owner) first and the process metrics
//!   (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
//!   `process_open_fds`, `process_max_fds`, `process_start_time_seconds`; Linux)
//!   last.
//! * `observe_metrics_overflow_label_sets_total{metric=...}`,
//!   `observe_metrics_overflow_observations_total{metric=...}` and
//!   `observe_metrics_clamped_observations_total{metric=...}` appear once a metric
//!   overflows its key limit or records a value above the range.

use std::fmt::Write as _;

use http::HeaderValue;

use super::cells::{ExemplarCell, lock};
use super::handles::{AnySeries, HistogramSeries};
use super::naming::prometheus_ident;
use super::registry::{Exposition, FamilyMeta, Kind, Registry};
use super::snapshot::{QUANTILES, Scratch, Views, overflow_of, read_histogram};
use super::unit::Unit;

/// The content type of the Prometheus text format.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The content type of OpenMetrics text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// The Prometheus text format, version 0.0.4 (the default).
    Text,
    /// OpenMetrics 1.0 text, with exemplars.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` to answer with.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => TEXT_CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }

    /// The format an `Accept` header asks for, as Prometheus's Go client decides
    /// it: media ranges by decreasing `q` (ranges with `q=0` refused), the first of
    /// `application/openmetrics-text` (version absent, `1.0.0` or `0.0.1`) or
    /// `text/plain` (version absent or `0.0.4`) wins; anything else, or no header,
    /// is the text format.
    ///
    /// ```
    /// use http::HeaderValue;
    /// use observe_core::metrics::prometheus::Format;
    ///
    /// // What Prometheus sends.
    /// let prometheus = HeaderValue::from_static(
    ///     "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    /// );
    /// assert_eq!(Format::negotiate(Some(&prometheus)), Format::OpenMetrics);
    /// assert_eq!(Format::negotiate(None), Format::Text);
    /// let curl = HeaderValue::from_static("*/*");
    /// assert_eq!(Format::negotiate(Some(&curl)), Format::Text);
    /// ```
    pub fn negotiate(accept: Option<&HeaderValue>) -> Format {
        let Some(accept) = accept.and_then(|a| a.to_str().ok()) else {
            return Format::Text;
        };
        // (q in thousandths, specificity, position, format or None)
        let mut ranges: Vec<(u16, u8, usize, Option<Format>)> = Vec::new();
        for (position, range) in accept.split(',').take(64).enumerate() {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let (mut q, mut version) = (1000u16, None);
            for p in parts {
                let Some((k, v)) = p.split_once('=') else {
                    continue;
                };
                let v = v.trim().trim_matches('"');
                match k.trim().to_ascii_lowercase().as_str() {
                    "q" => q = parse_q(v),
                    "version" => version = Some(v.to_owned()),
                    _ => {}
                }
            }
            if q == 0 {
                continue;
            }
            let version = version.as_deref();
            let format = match media.as_str() {
                "application/openmetrics-text"
                    if matches!(version, None | Some("1.0.0") | Some("0.0.1")) =>
                {
                    Some(Format::OpenMetrics)
                }
                "text/plain" if matches!(version, None | Some("0.0.4")) => Some(Format::Text),
                _ => None,
            };
            let specificity = match media.as_str() {
                "*/*" => 0,
                m if m.ends_with("/*") => 1,
                _ => 2,
            };
            ranges.push((q, specificity, position, format));
        }
        ranges.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        ranges.into_iter().find_map(|r| r.3).unwrap_or(Format::Text)
    }
}

/// A `q` value in thousandths (invalid values count as 1, as most servers do).
fn parse_q(v: &str) -> u16 {
    match v.parse::<f64>() {
        Ok(q) if (0.0..=1.0).contains(&q) => (q * 1000.0).round() as u16,
        _ => 1000,
    }
}

/// What `/metrics` answers: the process-wide registry in the format the `Accept`
/// header asks for ([`Format::negotiate`]), with `target_info` from the running
/// observe instance (none before `init`) and the process metrics. Returns the
/// content type and the body.
///
/// ```
/// use observe_core::metrics::prometheus;
///
/// let accept = http::HeaderValue::from_static("application/openmetrics-text; version=1.0.0");
/// let (content_type, body) = prometheus::render(Some(&accept));
/// assert_eq!(content_type, prometheus::OPENMETRICS_CONTENT_TYPE);
/// assert!(body.ends_with("# EOF\n"));
/// ```
pub fn render(accept: Option<&HeaderValue>) -> (&'static str, String) {
    let format = Format::negotiate(accept);
    (format.content_type(), render_format(format))
}

/// The `target_info` labels of the running instance (service identity), set by
/// the instance when it starts, so this layer does not name the layers above it.
/// Unset, or `None`, there is no running instance.
pub(crate) static TARGET_INFO: std::sync::OnceLock<TargetInfo> = std::sync::OnceLock::new();

/// The running instance's `target_info` labels, if any.
pub(crate) type TargetInfo = fn() -> Option<Vec<(String, String)>>;

/// What layers above add to the process-wide exposition (the SLO metrics), set
/// once when they start.
pub(crate) static EXTRA: std::sync::OnceLock<fn(&mut String, Format)> = std::sync::OnceLock::new();

/// The process-wide registry in `format`, as [`render`] serves it.
pub(crate) fn render_format(format: Format) -> String {
    let mut encoder = Encoder::new(format).process_metrics(true);
    if let Some(labels) = TARGET_INFO.get().and_then(|labels| labels()) {
        let labels: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        encoder = encoder.target_info(&labels);
    }
    let mut out = encoder.encode(super::global());
    if let Some(extra) = EXTRA.get() {
        extra(&mut out, format);
    }
    out
}

/// Renders a registry in one format, optionally with `target_info` and the process
/// metrics (what [`render`] adds for the process-wide registry).
///
/// ```
/// use observe_core::metrics::{Registry, prometheus::{Encoder, Format}};
///
/// let registry = Registry::new();
/// registry.counter("orders.placed", &[]).add(2);
/// let text = Encoder::new(Format::OpenMetrics)
///     .target_info(&[("service.name", "shop"), ("service.version", "1.4.2")])
///     .encode(&registry);
/// assert!(text.starts_with("# TYPE target info\n"));
/// assert!(text.contains("target_info{service_name=\"shop\",service_version=\"1.4.2\"} 1\n"));
/// assert!(text.contains("# TYPE orders_placed counter\n"));
/// assert!(text.contains("orders_placed_total 2\n"));
/// ```
#[derive(Debug, Clone)]
pub struct Encoder {
    format: Format,
    target_info: Vec<(String, String)>,
    process: bool,
}

impl Encoder {
    /// An encoder for `format`, without `target_info` or process metrics.
    pub fn new(format: Format) -> Encoder {
        Encoder {
            format,
            target_info: Vec::new(),
            process: false,
        }
    }

    /// Adds `target_info` with these resource attributes (OpenTelemetry names such
    /// as `service.name`; written as Prometheus label names, `service_name`).
    pub fn target_info(mut self, attributes: &[(&str, &str)]) -> Encoder {
        self.target_info = attributes
            .iter()
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
            .map(|(k, v)| (prometheus_ident(k), (*v).to_owned()))
            .collect();
        self
    }

    /// Adds the process metrics (read from `/proc`; absent where it does not exist).
    pub fn process_metrics(mut self, on: bool) -> Encoder {
        self.process = on;
        self
    }

    /// The registry's exposition.
    pub fn encode(&self, registry: &Registry) -> String {
        let mut w = Writer {
            out: String::new(),
            om: self.format == Format::OpenMetrics,
        };
        if !self.target_info.is_empty() {
            w.target_info(&self.target_info);
        }
        w.registry(registry);
        if self.process
            && let Some(p) = super::process::read()
        {
            w.process(&p);
        }
        if w.om {
            w.out.push_str("# EOF\n");
        }
        w.out
    }
}

impl Registry {
    /// The registry in the Prometheus text exposition format (0.0.4), without
    /// `target_info` or process metrics; serve it with content type
    /// [`TEXT_CONTENT_TYPE`]. See the [module docs](self) for the shape.
    ///
    /// ```
    /// let registry = observe_core::metrics::Registry::new();
    /// registry.counter("orders.placed", &[("channel", "web")]).add(3);
    /// let text = registry.prometheus_text();
    /// assert!(text.contains("# TYPE orders_placed_total counter\n"));
    /// assert!(text.contains("orders_placed_total{channel=\"web\"} 3\n"));
    /// ```
    pub fn prometheus_text(&self) -> String {
        Encoder::new(Format::Text).encode(self)
    }

    /// The registry in OpenMetrics 1.0 text (with exemplars), without
    /// `target_info` or process metrics; serve it with content type
    /// [`OPENMETRICS_CONTENT_TYPE`].
    pub fn openmetrics_text(&self) -> String {
        Encoder::new(Format::OpenMetrics).encode(self)
    }
}

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

/// HELP text: the text format escapes `\` and newlines; OpenMetrics also `"`.
fn escape_help(out: &mut String, v: &str, om: bool) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if om => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// A name or label key in Prometheus form, written in place (no allocation).
fn push_ident(out: &mut String, s: &str) {
    out.extend(s.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
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

/// A counter or gauge value in its exposed unit.
fn write_number(out: &mut String, unit: &Unit, v: i128) {
    if unit.scales() {
        write_float(out, unit.scale(v as f64));
    } else {
        let _ = write!(out, "{v}");
    }
}

/// The quantile labels of a summary, the maximum last (canonical numbers).
const QUANTILE_LABELS: [&str; 7] = ["0.5", "0.9", "0.99", "0.999", "0.9999", "0.99999", "1.0"];
const _: () = assert!(QUANTILES.len() + 1 == QUANTILE_LABELS.len());

struct Writer {
    out: String,
    om: bool,
}

/// Reusable buffers for reading histograms.
#[derive(Default)]
struct Buffers {
    scratch: Option<Scratch>,
    counts: Vec<u64>,
    exemplars: Vec<ExemplarCell>,
    chosen: Vec<Option<ExemplarCell>>,
}

impl Writer {
    /// `# TYPE`, `# UNIT` (OpenMetrics) and `# HELP` of a family. `text_name` is the
    /// family name in the text format (a counter's sample name), `om_name` in
    /// OpenMetrics.
    fn header(&mut self, text_name: &str, om_name: &str, kind: &str, unit: &str, help: &str) {
        let out = &mut self.out;
        if self.om {
            let _ = writeln!(out, "# TYPE {om_name} {kind}");
            if !unit.is_empty() {
                let _ = writeln!(out, "# UNIT {om_name} {unit}");
            }
            let _ = write!(out, "# HELP {om_name} ");
        } else {
            let _ = write!(out, "# HELP {text_name} ");
        }
        escape_help(out, help, self.om);
        out.push('\n');
        if !self.om {
            let _ = writeln!(out, "# TYPE {text_name} {kind}");
        }
    }

    /// `name[suffix]{labels[,extra]} ` (the value follows).
    fn sample_start(
        &mut self,
        name: &str,
        suffix: &str,
        labels: &[(String, String)],
        extra: Option<(&str, &str)>,
    ) {
        let out = &mut self.out;
        out.push_str(name);
        out.push_str(suffix);
        if !labels.is_empty() || extra.is_some() {
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
                push_ident(out, k);
                out.push_str("=\"");
                escape_label_value(out, v);
                out.push('"');
            }
            out.push('}');
        }
        out.push(' ');
    }

    fn target_info(&mut self, labels: &[(String, String)]) {
        let help = "Target metadata: the service this process is.";
        if self.om {
            self.header("", "target", "info", "", help);
        } else {
            self.header("target_info", "", "gauge", "", help);
        }
        self.sample_start("target_info", "", labels, None);
        self.out.push_str("1\n");
    }

    fn registry(&mut self, registry: &Registry) {
        let now = registry.now();
        let default_exposition = registry.default_exposition();
        let mut buffers = Buffers::default();
        let mut overflows = Vec::new();
        let mut clamped = Vec::new();
        for f in registry.families() {
            if f.series.is_empty() {
                continue;
            }
            let m = &*f.meta;
            let help = if m.help.is_empty() {
                format!("observe metric {}", m.name)
            } else {
                m.help.clone()
            };
            let counter_name;
            let sample_name = match m.kind {
                Kind::Counter => {
                    counter_name = format!("{}_total", m.prometheus);
                    &counter_name
                }
                _ => &m.prometheus,
            };
            match m.kind {
                Kind::Histogram => {
                    let exposition = m.exposition.unwrap_or(default_exposition);
                    let kind = match exposition {
                        Exposition::Summary => "summary",
                        Exposition::Histogram => "histogram",
                    };
                    self.header(&m.prometheus, &m.prometheus, kind, &m.unit_word, &help);
                    let mut clamped_total = 0u64;
                    for s in &f.series {
                        let AnySeries::Histogram(h) = s else { continue };
                        clamped_total += match exposition {
                            Exposition::Summary => self.summary(m, h, now, &mut buffers),
                            Exposition::Histogram => self.histogram(m, h, now, &mut buffers),
                        };
                    }
                    if clamped_total > 0 {
                        clamped.push((m.prometheus.clone(), clamped_total));
                    }
                }
                Kind::Counter => {
                    self.header(sample_name, &m.prometheus, "counter", &m.unit_word, &help);
                    for s in &f.series {
                        let AnySeries::Counter(c) = s else { continue };
                        self.sample_start(sample_name, "", &c.key.labels, None);
                        write_number(&mut self.out, &m.unit, c.cells.sum() as i128);
                        self.out.push('\n');
                    }
                }
                Kind::Gauge => {
                    self.header(sample_name, sample_name, "gauge", &m.unit_word, &help);
                    for s in &f.series {
                        let AnySeries::Gauge(g) = s else { continue };
                        self.sample_start(sample_name, "", &g.key.labels, None);
                        write_number(&mut self.out, &m.unit, g.value() as i128);
                        self.out.push('\n');
                    }
                }
            }
            if let Some(o) = overflow_of(&f, now) {
                overflows.push((sample_name.clone(), o));
            }
        }
        if !overflows.is_empty() {
            self.internal_counter(
                "observe_metrics_overflow_label_sets",
                "Lookups of label sets refused because a metric reached its key limit; their observations went to its otel_metric_overflow=\"true\" key.",
                overflows.iter().map(|(n, o)| (n.as_str(), o.refused_label_sets)),
            );
            self.internal_counter(
                "observe_metrics_overflow_observations",
                "Observations recorded under a metric's otel_metric_overflow=\"true\" key.",
                overflows
                    .iter()
                    .map(|(n, o)| (n.as_str(), o.overflow_observations)),
            );
        }
        if !clamped.is_empty() {
            self.internal_counter(
                "observe_metrics_clamped_observations",
                "Observations above a histogram's range (2^42 - 1 recorded units, about 73 minutes for durations), recorded as its top.",
                clamped.iter().map(|(n, c)| (n.as_str(), *c)),
            );
        }
    }

    fn internal_counter<'a>(
        &mut self,
        family: &str,
        help: &str,
        values: impl Iterator<Item = (&'a str, u64)>,
    ) {
        let sample = format!("{family}_total");
        self.header(&sample, family, "counter", "", help);
        for (metric, v) in values {
            self.sample_start(&sample, "", &[], Some(("metric", metric)));
            let _ = writeln!(self.out, "{v}");
        }
    }

    /// One key as a summary; returns its clamped count.
    fn summary(&mut self, m: &FamilyMeta, h: &HistogramSeries, now: u64, b: &mut Buffers) -> u64 {
        let scratch = b.scratch.get_or_insert_with(Scratch::new);
        read_histogram(h, now, scratch, Views::Window, |r| {
            let labels = &r.series.key.labels;
            let empty = r.window.is_empty();
            let mut qs = r.window.value_at_quantiles(QUANTILES);
            for (i, q) in QUANTILE_LABELS.iter().enumerate() {
                let value = if empty {
                    f64::NAN
                } else if i < QUANTILES.len() {
                    qs.next().map_or(f64::NAN, |v| m.unit.scale(v as f64))
                } else {
                    m.unit.scale(r.window.max() as f64)
                };
                self.sample_start(&m.prometheus, "", labels, Some(("quantile", q)));
                write_float(&mut self.out, value);
                self.out.push('\n');
            }
            self.sample_start(&m.prometheus, "_sum", labels, None);
            write_float(&mut self.out, m.unit.scale(r.cumulative_scalars.sum as f64));
            self.out.push('\n');
            self.sample_start(&m.prometheus, "_count", labels, None);
            let _ = writeln!(self.out, "{}", r.cumulative_scalars.count);
            r.cumulative_scalars.clamped
        })
    }

    /// One key as a Prometheus histogram: the buckets are computed from the
    /// cumulative HDR bins in place (no `hdrhistogram::Histogram` is built); returns
    /// its clamped count.
    fn histogram(&mut self, m: &FamilyMeta, h: &HistogramSeries, now: u64, b: &mut Buffers) -> u64 {
        let layout = m.buckets();
        let n = layout.thresholds.len();
        b.counts.clear();
        b.counts.resize(n + 1, 0);
        b.exemplars.clear();
        h.fold(now);
        let scalars = {
            let w = lock(&h.window);
            let mut cursor = 0;
            w.cumulative_pages(|p, bins| layout.add_page(p, bins, &mut b.counts, &mut cursor));
            if self.om {
                w.exemplar_cells(&mut b.exemplars);
            }
            w.cumulative
        };
        b.chosen.clear();
        b.chosen.resize(n + 1, None);
        for e in &b.exemplars {
            let slot = &mut b.chosen[layout.bucket_of(e.value)];
            // An error first (the newest), else the slowest.
            let better = match slot {
                None => true,
                Some(c) if e.is_error != c.is_error => e.is_error,
                Some(c) if e.is_error => e.unix_nanos > c.unix_nanos,
                Some(c) => e.value > c.value,
            };
            if better {
                *slot = Some(*e);
            }
        }
        let labels = &h.key.labels;
        let mut cumulative = 0u64;
        for i in 0..=n {
            cumulative = cumulative.wrapping_add(b.counts[i]);
            let le = if i < n {
                layout.labels[i].as_str()
            } else {
                "+Inf"
            };
            self.sample_start(&m.prometheus, "_bucket", labels, Some(("le", le)));
            let _ = write!(self.out, "{cumulative}");
            if let Some(e) = b.chosen[i] {
                let _ = write!(self.out, " # {{trace_id=\"{}\"}} ", e.trace_id);
                write_float(&mut self.out, m.unit.scale(e.value as f64));
                let _ = write!(
                    self.out,
                    " {}.{:03}",
                    e.unix_nanos / 1_000_000_000,
                    e.unix_nanos % 1_000_000_000 / 1_000_000
                );
            }
            self.out.push('\n');
        }
        self.sample_start(&m.prometheus, "_sum", labels, None);
        write_float(&mut self.out, m.unit.scale(scalars.sum as f64));
        self.out.push('\n');
        self.sample_start(&m.prometheus, "_count", labels, None);
        let _ = writeln!(self.out, "{cumulative}");
        scalars.clamped
    }

    fn process(&mut self, p: &super::process::ProcessStats) {
        if let Some(v) = p.cpu_seconds {
            self.header(
                "process_cpu_seconds_total",
                "process_cpu_seconds",
                "counter",
                "seconds",
                "Total user and system CPU time spent in seconds.",
            );
            self.sample_start("process_cpu_seconds_total", "", &[], None);
            write_float(&mut self.out, v);
            self.out.push('\n');
        }
        let gauges: [(&str, &str, &str, Option<f64>); 4] = [
            (
                "process_resident_memory_bytes",
                "bytes",
                "Resident memory size in bytes.",
                p.resident_bytes.map(|v| v as f64),
            ),
            (
                "process_open_fds",
                "",
                "Number of open file descriptors.",
                p.open_fds.map(|v| v as f64),
            ),
            (
                "process_max_fds",
                "",
                "Maximum number of open file descriptors.",
                p.max_fds.map(|v| v as f64),
            ),
            (
                "process_start_time_seconds",
                "seconds",
                "Start time of the process since unix epoch in seconds.",
                p.start_time_seconds,
            ),
        ];
        for (name, unit, help, value) in gauges {
            let Some(v) = value else { continue };
            self.header(name, name, "gauge", unit, help);
            self.sample_start(name, "", &[], None);
            write_float(&mut self.out, v);
            self.out.push('\n');
        }
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
        let om = r.openmetrics_text();
        assert!(
            om.contains("# TYPE busy_time_seconds counter\n# UNIT busy_time_seconds seconds\n"),
            "{om}"
        );
        assert!(om.contains("busy_time_seconds_total 1.5\n"), "{om}");
    }

    #[test]
    fn escaping() {
        let mut s = String::new();
        escape_label_value(&mut s, "a\\b\"c\nd");
        assert_eq!(s, r#"a\\b\"c\nd"#);
        let mut s = String::new();
        escape_help(&mut s, "a\\b\"c\nd", false);
        assert_eq!(s, r#"a\\b"c\nd"#);
        let mut s = String::new();
        escape_help(&mut s, "a\\b\"c\nd", true);
        assert_eq!(s, r#"a\\b\"c\nd"#);
        let mut s = String::new();
        write_float(&mut s, f64::INFINITY);
        write_float(&mut s, f64::NAN);
        write_float(&mut s, 0.000_001_5);
        assert_eq!(s, "+InfNaN0.0000015");
    }

    #[test]
    fn negotiation_follows_q_values_and_versions() {
        let f = |s: &'static str| Format::negotiate(Some(&HeaderValue::from_static(s)));
        assert_eq!(f("application/openmetrics-text"), Format::OpenMetrics);
        assert_eq!(
            f("application/openmetrics-text; version=0.0.1"),
            Format::OpenMetrics
        );
        assert_eq!(
            f("application/openmetrics-text; version=2.0.0"),
            Format::Text
        );
        assert_eq!(
            f("text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5"),
            Format::Text
        );
        assert_eq!(
            f("text/plain;q=0.2, application/openmetrics-text;version=1.0.0;q=0.8"),
            Format::OpenMetrics
        );
        assert_eq!(f("application/openmetrics-text;q=0"), Format::Text);
        assert_eq!(f("application/json"), Format::Text);
        assert_eq!(f(""), Format::Text);
        assert_eq!(
            f("APPLICATION/OpenMetrics-Text; Version=\"1.0.0\""),
            Format::OpenMetrics
        );
    }
}
