//! What the flight recorder answers: plain serializable views of traces, spans
//! and log records, which the `/observe` page's JSON API sends as they are.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::PromotionReason;
use super::store::{Entry, Store, TraceIndex};
use crate::context::RequestType;
use crate::ids::{SpanId, TraceId};
use crate::log::LogRecord;
use crate::span::{KeyValue, SpanRecord, StatusCode, Value};

/// A search over the spans in the recorder. Every criterion set must hold for the
/// same span; the result is the traces holding at least one such span, newest
/// first.
///
/// ```
/// use std::time::Duration;
/// use observe_core::recorder::Query;
/// use observe_core::span::StatusCode;
///
/// let q = Query::new()
///     .name("GET /orders/{id}")
///     .attribute("http.response.status_code", "503")
///     .status(StatusCode::Error)
///     .min_duration(Duration::from_millis(250))
///     .limit(20);
/// # let _ = q;
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Query {
    /// The span name, exactly.
    pub name: Option<String>,
    /// An attribute and its value, compared as text (`503` matches the integer 503).
    pub attribute: Option<(String, String)>,
    /// The span status.
    pub status: Option<StatusCode>,
    /// The shortest duration (inclusive).
    pub min_duration: Option<Duration>,
    /// The longest duration (inclusive).
    pub max_duration: Option<Duration>,
    /// The span ended at or after this time.
    pub since: Option<SystemTime>,
    /// The span ended at or before this time.
    pub until: Option<SystemTime>,
    /// The most traces returned (default 50).
    pub limit: usize,
}

impl Default for Query {
    fn default() -> Self {
        Query {
            name: None,
            attribute: None,
            status: None,
            min_duration: None,
            max_duration: None,
            since: None,
            until: None,
            limit: 50,
        }
    }
}

impl Query {
    /// Every trace (up to the limit).
    pub fn new() -> Query {
        Query::default()
    }
    /// Spans with this name.
    pub fn name(mut self, name: impl Into<String>) -> Query {
        self.name = Some(name.into());
        self
    }
    /// Spans with this attribute value (compared as text).
    pub fn attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Query {
        self.attribute = Some((key.into(), value.into()));
        self
    }
    /// Spans with this status.
    pub fn status(mut self, status: StatusCode) -> Query {
        self.status = Some(status);
        self
    }
    /// Spans lasting at least this long.
    pub fn min_duration(mut self, d: Duration) -> Query {
        self.min_duration = Some(d);
        self
    }
    /// Spans lasting at most this long.
    pub fn max_duration(mut self, d: Duration) -> Query {
        self.max_duration = Some(d);
        self
    }
    /// Spans that ended at or after `t`.
    pub fn since(mut self, t: SystemTime) -> Query {
        self.since = Some(t);
        self
    }
    /// Spans that ended at or before `t`.
    pub fn until(mut self, t: SystemTime) -> Query {
        self.until = Some(t);
        self
    }
    /// At most `n` traces.
    pub fn limit(mut self, n: usize) -> Query {
        self.limit = n;
        self
    }

    pub(crate) fn matches(&self, s: &SpanRecord) -> bool {
        if self.name.as_deref().is_some_and(|n| n != s.name()) {
            return false;
        }
        if self.status.is_some_and(|st| st != s.status()) {
            return false;
        }
        if self.min_duration.is_some() || self.max_duration.is_some() {
            let d = s.duration();
            if self.min_duration.is_some_and(|m| d < m) || self.max_duration.is_some_and(|m| d > m)
            {
                return false;
            }
        }
        if self.since.is_some() || self.until.is_some() {
            let end = s.end_time();
            if self.since.is_some_and(|t| end < t) || self.until.is_some_and(|t| end > t) {
                return false;
            }
        }
        if let Some((k, v)) = &self.attribute {
            let found = s
                .attributes()
                .iter()
                .find(|kv| kv.key == k.as_str())
                .map(|kv| value_text(&kv.value) == *v)
                .or_else(|| {
                    let cs = s.callsite()?;
                    Some(match k.as_str() {
                        "code.function" => cs.function() == v,
                        "code.filepath" => cs.file() == v,
                        "code.lineno" => cs.line().to_string() == *v,
                        _ => return None,
                    })
                });
            if found != Some(true) {
                return false;
            }
        }
        true
    }
}

fn value_text(v: &Value) -> String {
    v.to_string()
}

fn json(v: &Value) -> serde_json::Value {
    match v {
        Value::Bool(b) => (*b).into(),
        Value::I64(i) => (*i).into(),
        Value::U64(u) => (*u).into(),
        Value::F64(f) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
        }
        Value::Str(s) => s.as_ref().into(),
        #[allow(unreachable_patterns)]
        other => other.to_string().into(),
    }
}

fn attributes(kvs: &[KeyValue]) -> serde_json::Map<String, serde_json::Value> {
    kvs.iter()
        .map(|kv| (kv.key.to_string(), json(&kv.value)))
        .collect()
}

fn nanos(t: SystemTime) -> u64 {
    crate::otel::convert::unix_nanos(t)
}

/// One trace, summarized (a line of the recent, slowest and failed lists).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceSummary {
    /// The trace id (hex).
    pub trace_id: TraceId,
    /// The local root span's name, once it has ended.
    pub root_name: Option<String>,
    /// The local root span's id.
    pub root_span_id: Option<SpanId>,
    /// When the trace started here (the root's start, else the earliest span).
    pub start_unix_nanos: u64,
    /// The root's duration, else the time from the earliest start to the last end.
    pub duration_ns: u64,
    /// The root's status (`unset`, `ok`, `error`); `unset` without a root.
    pub status: &'static str,
    /// The root's error message.
    pub status_message: Option<String>,
    /// Spans in error.
    pub error_count: u32,
    /// Spans held.
    pub span_count: u32,
    /// Log records held.
    pub log_count: u32,
    /// Standard request or tracer bullet.
    pub request_type: RequestType,
    /// Whether head sampling kept it for export.
    pub sampled: bool,
    /// Why it was promoted for export (`error`, `slow`), if it was.
    pub promoted: Option<&'static str>,
    /// Whether the local root has ended (and is still held).
    pub complete: bool,
    /// The spans that matched a search (empty outside searches).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub matched_span_ids: Vec<SpanId>,
}

/// A code location.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CodeView {
    /// `code.function`.
    pub function: &'static str,
    /// `code.filepath`.
    pub filepath: &'static str,
    /// `code.lineno`.
    pub lineno: u32,
}

/// An event of a span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventView {
    /// Its name.
    pub name: String,
    /// When it happened.
    pub time_unix_nanos: u64,
    /// Its attributes.
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// A link of a span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkView {
    /// The linked trace.
    pub trace_id: TraceId,
    /// The linked span.
    pub span_id: SpanId,
    /// Its attributes.
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// One span, everything the waterfall view needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpanView {
    /// The trace id.
    pub trace_id: TraceId,
    /// The span id.
    pub span_id: SpanId,
    /// The parent's id; `None` for a root.
    pub parent_span_id: Option<SpanId>,
    /// Whether the parent is in another process.
    pub parent_is_remote: bool,
    /// Whether it is the first span of its trace in this process.
    pub local_root: bool,
    /// Its name.
    pub name: String,
    /// `internal`, `server`, `client`, `producer` or `consumer`.
    pub kind: &'static str,
    /// `unset`, `ok` or `error`.
    pub status: &'static str,
    /// The error message.
    pub status_message: Option<String>,
    /// Start time.
    pub start_unix_nanos: u64,
    /// End time.
    pub end_unix_nanos: u64,
    /// Duration.
    pub duration_ns: u64,
    /// Whether head sampling kept it for export.
    pub sampled: bool,
    /// Standard request or tracer bullet.
    pub request_type: RequestType,
    /// Where in the code (for `#[traced]` functions).
    pub code: Option<CodeView>,
    /// Its attributes.
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// Its events.
    pub events: Vec<EventView>,
    /// Its links.
    pub links: Vec<LinkView>,
}

impl SpanView {
    pub(crate) fn new(s: &SpanRecord) -> SpanView {
        let parent = s.parent_id();
        SpanView {
            trace_id: s.trace_id(),
            span_id: s.span_id(),
            parent_span_id: parent.is_valid().then_some(parent),
            parent_is_remote: s.parent_is_remote(),
            local_root: s.is_local_root(),
            name: s.name().to_owned(),
            kind: s.kind().as_str(),
            status: s.status().as_str(),
            status_message: s.status_message().map(str::to_owned),
            start_unix_nanos: nanos(s.start_time()),
            end_unix_nanos: nanos(s.end_time()),
            duration_ns: u64::try_from(s.duration().as_nanos()).unwrap_or(u64::MAX),
            sampled: s.is_sampled(),
            request_type: s.request_type(),
            code: s.callsite().map(|c| CodeView {
                function: c.function(),
                filepath: c.file(),
                lineno: c.line(),
            }),
            attributes: attributes(s.attributes()),
            events: s
                .events()
                .iter()
                .map(|e| EventView {
                    name: e.name.to_string(),
                    time_unix_nanos: e.time.unix_nanos(),
                    attributes: attributes(&e.attributes),
                })
                .collect(),
            links: s
                .links()
                .iter()
                .map(|l| LinkView {
                    trace_id: l.context.trace_id,
                    span_id: l.context.span_id,
                    attributes: attributes(&l.attributes),
                })
                .collect(),
        }
    }
}

/// One log record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogView {
    /// When it was logged.
    pub time_unix_nanos: u64,
    /// `TRACE` to `ERROR`.
    pub level: &'static str,
    /// The target.
    pub target: &'static str,
    /// The message.
    pub message: String,
    /// The event's fields.
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// The trace it was logged in.
    pub trace_id: Option<TraceId>,
    /// The span it was logged in.
    pub span_id: Option<SpanId>,
    /// The source file.
    pub file: Option<&'static str>,
    /// The source line.
    pub line: Option<u32>,
}

impl LogView {
    pub(crate) fn new(l: &LogRecord) -> LogView {
        LogView {
            time_unix_nanos: l.tick().unix_nanos(),
            level: l.level().as_str(),
            target: l.target(),
            message: l.message().to_owned(),
            fields: attributes(l.fields()),
            trace_id: l.span().map(|s| s.trace_id),
            span_id: l.span().map(|s| s.span_id),
            file: l.file(),
            line: l.line(),
        }
    }
}

/// One trace with all it holds: the waterfall view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceDetail {
    /// The summary line.
    pub summary: TraceSummary,
    /// Its spans, by start time.
    pub spans: Vec<SpanView>,
    /// Its log records, by time.
    pub logs: Vec<LogView>,
}

/// The state of the recorder: how much it holds and how far back it reaches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecorderStats {
    /// The byte budget.
    pub budget_bytes: usize,
    /// Bytes held now (records, index, thresholds).
    pub used_bytes: usize,
    /// Spans held.
    pub spans: usize,
    /// Log records held.
    pub logs: usize,
    /// Traces held.
    pub traces: usize,
    /// The oldest record's time.
    pub oldest_unix_nanos: Option<u64>,
    /// The newest record's time.
    pub newest_unix_nanos: Option<u64>,
    /// How much time the held records cover (newest minus oldest).
    pub covers_ns: u64,
    /// Spans evicted to stay within budget.
    pub evicted_spans: u64,
    /// Log records evicted to stay within budget.
    pub evicted_logs: u64,
    /// Traces promoted (error or slow) so far.
    pub promoted_traces: u64,
}

/// Builds the summary of a trace from the index and its records.
pub(crate) fn summary(store: &Store, trace: TraceId, idx: &TraceIndex) -> TraceSummary {
    let root = idx.root().and_then(|s| match store.get(s) {
        Some(Entry::Span(r)) => Some(&**r),
        _ => None,
    });
    let (mut spans, mut logs) = (0u32, 0u32);
    let (mut first, mut last) = (u64::MAX, 0u64);
    let mut sampled = false;
    let mut request_type = RequestType::Standard;
    for (_, e) in store.chain(idx) {
        match e {
            Entry::Span(s) => {
                spans += 1;
                first = first.min(s.start_tick().unix_nanos());
                last = last.max(s.end_tick().unix_nanos());
                sampled |= s.is_sampled();
                if s.request_type() == RequestType::TracerBullet {
                    request_type = RequestType::TracerBullet;
                }
            }
            Entry::Log(_) => logs += 1,
        }
    }
    let (start, duration) = match root {
        Some(r) => (
            nanos(r.start_time()),
            u64::try_from(r.duration().as_nanos()).unwrap_or(u64::MAX),
        ),
        None if spans > 0 => (first, last.saturating_sub(first)),
        None => (0, 0),
    };
    TraceSummary {
        trace_id: trace,
        root_name: root.map(|r| r.name().to_owned()),
        root_span_id: root.map(SpanRecord::span_id),
        start_unix_nanos: start,
        duration_ns: duration,
        status: root.map_or(StatusCode::Unset, SpanRecord::status).as_str(),
        status_message: root.and_then(|r| r.status_message().map(str::to_owned)),
        error_count: store.errors(idx),
        span_count: spans,
        log_count: logs,
        request_type,
        sampled,
        promoted: idx.promoted.map(PromotionReason::as_str),
        complete: root.is_some(),
        matched_span_ids: Vec::new(),
    }
}

/// The end of a trace's root, for ordering (0 without one).
pub(crate) fn root_end(store: &Store, idx: &TraceIndex) -> Option<(u64, u64)> {
    match store.get(idx.root()?)? {
        Entry::Span(r) => Some((
            r.end_tick().unix_nanos(),
            u64::try_from(r.duration().as_nanos()).unwrap_or(u64::MAX),
        )),
        Entry::Log(_) => None,
    }
}

/// The time of a trace's newest record.
pub(crate) fn last_time(store: &Store, idx: &TraceIndex) -> u64 {
    store.get(idx.newest()).map_or(0, |e| e.tick().unix_nanos())
}
