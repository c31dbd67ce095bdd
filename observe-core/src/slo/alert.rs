//! An alert: what fired, the evidence, who owns the service; and its log record.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Serialize, Serializer};
use tracing_core::Level;

use crate::dependencies::DeepestFailure;
use crate::ids::{SpanId, TraceId};
use crate::log::LogRecord;
use crate::span::{KeyValue, Value};

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Wake someone: logged at `ERROR`.
    Page,
    /// Look at it in working hours: logged at `WARN`.
    Ticket,
}

impl Severity {
    /// `page` or `ticket`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        }
    }
}

/// A trace behind an alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertExemplar {
    /// The trace.
    pub trace_id: TraceId,
    /// Its local root span, when the flight recorder still holds it.
    pub span_id: Option<SpanId>,
    /// The observed latency, seconds.
    pub value_s: f64,
    /// `slow` (broke the latency objective) or `failed`.
    pub kind: &'static str,
}

fn nanos_as_string<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

/// One alert: an SLO's burn-rate pair started firing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// When (registry clock, nanoseconds since the Unix epoch; a string in JSON).
    #[serde(serialize_with = "nanos_as_string")]
    pub time_unix_nano: u64,
    /// The SLO's name.
    pub slo: String,
    /// `page` or `ticket`.
    pub severity: Severity,
    /// The pair's long window (`1h`).
    pub long_window: String,
    /// The pair's short window (`5m`).
    pub short_window: String,
    /// The burn rate both reached.
    pub burn_threshold: f64,
    /// The burn rate per window of the pair.
    pub burn_rates: BTreeMap<String, f64>,
    /// Traces of the slowest observations that broke a latency objective, then
    /// of the most recent failures, from the histograms' exemplars.
    pub exemplars: Vec<AlertExemplar>,
    /// `service.name`.
    pub service: String,
    /// Who to page.
    pub owner: Option<String>,
    /// The owning team.
    pub team: Option<String>,
    /// The runbook.
    pub runbook: Option<String>,
    /// The deepest failing span of the newest failed trace among the key's
    /// evidence (its observations that failed or broke the latency objective, as
    /// the exemplars), `None` when none of those traces failed.
    pub deepest_failure: Option<DeepestFailure>,
    /// The flight-recorder snapshot written for it (none when rate-limited or
    /// without a recorder).
    pub snapshot: Option<PathBuf>,
}

impl Alert {
    /// The log message.
    pub fn message(&self) -> String {
        // Longest window first (the map orders them as text: "1h" before "5m").
        let mut windows: Vec<(&String, &f64)> = self.burn_rates.iter().collect();
        windows.sort_by_key(|(w, _)| {
            std::cmp::Reverse(humantime::parse_duration(w).unwrap_or(std::time::Duration::ZERO))
        });
        let rates: Vec<String> = windows
            .iter()
            .map(|(w, r)| format!("{r:.1} over {w}"))
            .collect();
        format!(
            "SLO {:?} is burning its error budget: burn rate {} (threshold {})",
            self.slo,
            rates.join(" and "),
            self.burn_threshold
        )
    }
}

const FIELDS: &[&str] = &[
    "message",
    "alert",
    "slo",
    "severity",
    "burn_rate_long",
    "burn_rate_short",
    "long_window",
    "short_window",
    "burn_threshold",
    "exemplar_trace_ids",
    "owner",
    "team",
    "runbook",
    "deepest_failure_service",
    "deepest_failure_span",
    "deepest_failure_trace",
    "snapshot",
];

crate::log::direct_event!(
    static PAGE = ("observe slo alert", "observe::slo", Level::ERROR, FIELDS);
);

crate::log::direct_event!(
    static TICKET = ("observe slo alert", "observe::slo", Level::WARN, FIELDS);
);

/// The alert as one log record (target `observe::slo`, `ERROR` for a page, `WARN`
/// for a ticket), which the log writer prints and the exporter sends as an OTLP
/// log record.
pub(crate) fn log_record(a: &Alert) -> LogRecord {
    let s = |v: &str| Value::Str(Cow::Owned(v.to_owned()));
    let opt = |v: &Option<String>| s(v.as_deref().unwrap_or(""));
    let rate = |w: &str| Value::F64(a.burn_rates.get(w).copied().unwrap_or(0.0));
    let ids: Vec<String> = a.exemplars.iter().map(|e| e.trace_id.to_hex()).collect();
    let deep = a.deepest_failure.as_ref();
    let fields = [
        KeyValue::new("alert", "slo_burn_rate"),
        KeyValue::new("slo", s(&a.slo)),
        KeyValue::new("severity", a.severity.as_str()),
        KeyValue::new("burn_rate_long", rate(&a.long_window)),
        KeyValue::new("burn_rate_short", rate(&a.short_window)),
        KeyValue::new("long_window", s(&a.long_window)),
        KeyValue::new("short_window", s(&a.short_window)),
        KeyValue::new("burn_threshold", Value::F64(a.burn_threshold)),
        KeyValue::new("exemplar_trace_ids", s(&ids.join(","))),
        KeyValue::new("owner", opt(&a.owner)),
        KeyValue::new("team", opt(&a.team)),
        KeyValue::new("runbook", opt(&a.runbook)),
        KeyValue::new(
            "deepest_failure_service",
            s(deep.map_or("", |d| d.service.as_str())),
        ),
        KeyValue::new(
            "deepest_failure_span",
            s(&deep.map_or(String::new(), |d| d.span_id.to_hex())),
        ),
        KeyValue::new(
            "deepest_failure_trace",
            s(&deep.map_or(String::new(), |d| d.trace_id.to_hex())),
        ),
        KeyValue::new(
            "snapshot",
            s(&a.snapshot
                .as_ref()
                .map_or(String::new(), |p| p.display().to_string())),
        ),
    ];
    LogRecord {
        time: crate::clock::Tick::now(),
        metadata: match a.severity {
            Severity::Page => &PAGE,
            Severity::Ticket => &TICKET,
        },
        message: a.message().into(),
        fields: fields.into_iter().collect(),
        span: None,
        context: None,
    }
}
