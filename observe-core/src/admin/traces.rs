//! The flight recorder over HTTP: trace lists and search, one trace with its log
//! lines, and dumps (download, or a file in the dump directory; SIGUSR2 does the
//! same as `POST /observe/api/v1/dump`).

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use http::StatusCode;
use serde_json::{Value, json};

use super::{ApiRequest, ApiResponse, nano_string, peer_of, seconds};
use crate::controls::audit;
use crate::ids::TraceId;
use crate::recorder::{FlightRecorder, Query, SpanView, TraceSummary};

/// The default and the largest number of traces a list answers.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;

/// The least time between two dumps written to the dump directory (by `POST` or
/// SIGUSR2), and how many such files are kept (the oldest are removed).
pub(crate) const DUMP_MIN_INTERVAL: Duration = Duration::from_secs(10);
pub(crate) const DUMP_FILES_KEPT: usize = 16;

fn recorder() -> Result<FlightRecorder, ApiResponse> {
    crate::recorder::handle().ok_or_else(|| {
        ApiResponse::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no flight recorder is running: observe is not initialised in this process, \
             or OBSERVE_FLIGHT_RECORDER_BYTES is 0",
        )
    })
}

fn service_name() -> String {
    crate::pipeline::Pipeline::current()
        .map(|p| p.settings.config.clone())
        .map_or_else(String::new, |c| c.service.name.clone())
}

fn bad(message: String) -> ApiResponse {
    ApiResponse::error(StatusCode::BAD_REQUEST, message)
}

/// `GET /observe/api/v1/traces`: `list=recent|slowest|failed` (default `recent`),
/// or a search when any of `name`, `status`, `min_s`, `max_s`, `since_unix_nano`,
/// `until_unix_nano`, `attr=key=value` is given; `limit` (default 50, at most 1000).
pub(crate) fn list(request: &ApiRequest) -> ApiResponse {
    match list_inner(request) {
        Ok(r) | Err(r) => r,
    }
}

fn list_inner(request: &ApiRequest) -> Result<ApiResponse, ApiResponse> {
    let limit = match request.query_value("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| bad(format!("limit={v:?} is not a whole number")))?
            .min(MAX_LIMIT),
    };
    let query = search_query(request, limit)?;
    let recorder = recorder()?;
    let service = service_name();
    let traces = match query {
        Some(query) => recorder.search(&query),
        None => match request.query_value("list").unwrap_or("recent") {
            "recent" => recorder.recent(limit),
            "slowest" => recorder.slowest(limit),
            "failed" => recorder.failed(limit),
            other => {
                return Err(bad(format!(
                    "list={other:?} is not one of recent, slowest, failed"
                )));
            }
        },
    };
    let traces: Vec<Value> = traces.iter().map(|t| summary_json(t, &service)).collect();
    Ok(ApiResponse::json(
        StatusCode::OK,
        json!({ "traces": traces }),
    ))
}

/// The search the query asks for, if any.
fn search_query(request: &ApiRequest, limit: usize) -> Result<Option<Query>, ApiResponse> {
    let mut query = Query::new().limit(limit);
    let mut any = false;
    if let Some(name) = request.query_value("name") {
        query = query.name(name);
        any = true;
    }
    if let Some(status) = request.query_value("status") {
        query = query.status(match status {
            "ok" => crate::span::StatusCode::Ok,
            "error" => crate::span::StatusCode::Error,
            "unset" => crate::span::StatusCode::Unset,
            other => {
                return Err(bad(format!(
                    "status={other:?} is not one of ok, error, unset"
                )));
            }
        });
        any = true;
    }
    if let Some(v) = request.query_value("min_s") {
        query = query.min_duration(duration(v, "min_s")?);
        any = true;
    }
    if let Some(v) = request.query_value("max_s") {
        query = query.max_duration(duration(v, "max_s")?);
        any = true;
    }
    if let Some(v) = request.query_value("since_unix_nano") {
        query = query.since(time(v, "since_unix_nano")?);
        any = true;
    }
    if let Some(v) = request.query_value("until_unix_nano") {
        query = query.until(time(v, "until_unix_nano")?);
        any = true;
    }
    if let Some(v) = request.query_value("attr") {
        let (key, value) = v
            .split_once('=')
            .ok_or_else(|| bad(format!("attr={v:?} is not key=value")))?;
        query = query.attribute(key, value);
        any = true;
    }
    Ok(any.then_some(query))
}

fn duration(v: &str, name: &str) -> Result<Duration, ApiResponse> {
    v.parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| bad(format!("{name}={v:?} is not a number of seconds ≥ 0")))
}

fn time(v: &str, name: &str) -> Result<SystemTime, ApiResponse> {
    v.parse::<u64>()
        .map(|n| SystemTime::UNIX_EPOCH + Duration::from_nanos(n))
        .map_err(|_| {
            bad(format!(
                "{name}={v:?} is not nanoseconds since the Unix epoch"
            ))
        })
}

/// One line of a trace list.
fn summary_json(t: &TraceSummary, service: &str) -> Value {
    let mut v = json!({
        "trace_id": t.trace_id.to_string(),
        "root_span_id": t.root_span_id.map(|s| s.to_string()),
        "name": t.root_name,
        "service": service,
        "start_unix_nano": nano_string(t.start_unix_nanos),
        "duration_s": seconds(t.duration_ns),
        "status": t.status,
        "status_message": t.status_message,
        "span_count": t.span_count,
        "error_count": t.error_count,
        "log_count": t.log_count,
        "tracer_bullet": t.request_type == crate::context::RequestType::TracerBullet,
        "sampled": t.sampled,
        "promoted": t.promoted,
        "complete": t.complete,
    });
    if !t.matched_span_ids.is_empty() {
        v["matched_span_ids"] = t
            .matched_span_ids
            .iter()
            .map(|s| Value::from(s.to_string()))
            .collect();
    }
    v
}

/// `GET /observe/api/v1/traces/{trace_id}`: its spans and log lines; 404 when the
/// recorder does not hold it (any more).
pub(crate) fn one(request: &ApiRequest) -> ApiResponse {
    let id = request.param("trace_id").unwrap_or("");
    let Ok(trace_id) = TraceId::from_hex(id) else {
        return bad(format!(
            "{id:?} is not a trace id (32 lowercase hex digits)"
        ));
    };
    let recorder = match recorder() {
        Ok(r) => r,
        Err(r) => return r,
    };
    let Some(detail) = recorder.trace(trace_id) else {
        return ApiResponse::error(
            StatusCode::NOT_FOUND,
            format!(
                "trace {trace_id} is not in the flight recorder (never seen here, or evicted: \
                 the recorder covers the last {:.0} s)",
                recorder.covers().as_secs_f64()
            ),
        );
    };
    let service = service_name();
    let spans: Vec<Value> = detail
        .spans
        .iter()
        .map(|s| span_json(s, &service))
        .collect();
    let logs: Vec<Value> = detail
        .logs
        .iter()
        .map(|l| {
            json!({
                "time_unix_nano": nano_string(l.time_unix_nanos),
                "level": l.level,
                "target": l.target,
                "message": l.message,
                "span_id": l.span_id.map(|s| s.to_string()),
                "fields": l.fields,
                "file": l.file,
                "line": l.line,
            })
        })
        .collect();
    ApiResponse::json(
        StatusCode::OK,
        json!({
            "trace_id": trace_id.to_string(),
            "summary": summary_json(&detail.summary, &service),
            "spans": spans,
            "logs": logs,
        }),
    )
}

fn span_json(s: &SpanView, service: &str) -> Value {
    let skipped: Vec<&Value> = s
        .events
        .iter()
        .filter(|e| e.name == "side_effect.skipped")
        .filter_map(|e| e.attributes.get("side_effect.name"))
        .collect();
    json!({
        "span_id": s.span_id.to_string(),
        "parent_span_id": s.parent_span_id.map(|p| p.to_string()),
        "parent_is_remote": s.parent_is_remote,
        "local_root": s.local_root,
        "name": s.name,
        "service": service,
        "kind": s.kind,
        "start_unix_nano": nano_string(s.start_unix_nanos),
        "end_unix_nano": nano_string(s.end_unix_nanos),
        "duration_s": seconds(s.duration_ns),
        "status": { "code": s.status, "message": s.status_message },
        "attributes": s.attributes,
        "events": s.events.iter().map(|e| json!({
            "name": e.name,
            "time_unix_nano": nano_string(e.time_unix_nanos),
            "attributes": e.attributes,
        })).collect::<Vec<_>>(),
        "links": s.links.iter().map(|l| json!({
            "trace_id": l.trace_id.to_string(),
            "span_id": l.span_id.to_string(),
            "attributes": l.attributes,
        })).collect::<Vec<_>>(),
        "code": s.code,
        "sampled": s.sampled,
        "tracer_bullet": s.request_type == crate::context::RequestType::TracerBullet,
        "skipped_side_effects": skipped,
    })
}

/// One dump at a time (a dump holds a copy of the ring's contents in memory).
static DUMPING: AtomicBool = AtomicBool::new(false);

struct DumpSlot;

impl DumpSlot {
    fn take() -> Option<DumpSlot> {
        (!DUMPING.swap(true, Ordering::AcqRel)).then_some(DumpSlot)
    }
}

impl Drop for DumpSlot {
    fn drop(&mut self) {
        DUMPING.store(false, Ordering::Release);
    }
}

fn busy() -> ApiResponse {
    ApiResponse::error(
        StatusCode::TOO_MANY_REQUESTS,
        "another dump is being written; try again in a moment",
    )
    .header(http::header::RETRY_AFTER, "1")
}

/// `GET /observe/api/v1/dump`: the recorder as OTLP-JSON lines (one
/// `ExportTraceServiceRequest` or `ExportLogsServiceRequest` per line), as a
/// download.
pub(crate) fn download(_: &ApiRequest) -> ApiResponse {
    let recorder = match recorder() {
        Ok(r) => r,
        Err(r) => return r,
    };
    let Some(_slot) = DumpSlot::take() else {
        return busy();
    };
    let mut body = Vec::new();
    if let Err(e) = recorder.dump_to_writer(&mut body) {
        return ApiResponse::error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    }
    let name = format!(
        "observe-{}-{}.jsonl",
        file_safe(&service_name()),
        unix_secs()
    );
    ApiResponse::body(StatusCode::OK, "application/x-ndjson", body).header(
        http::header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"{name}\""),
    )
}

/// `POST /observe/api/v1/dump` (body empty or `{}`): writes the dump to the dump
/// directory, rate-limited.
pub(crate) fn write(request: &ApiRequest) -> ApiResponse {
    if !request.body().is_empty()
        && let Err(r) = request.json::<serde_json::Map<String, Value>>()
    {
        return r;
    }
    match dump_to_dir("admin") {
        Ok(written) => {
            let message = audit(
                "flight_recorder.dump",
                &Value::Null,
                &json!(written.path),
                &peer_of(request),
            );
            ApiResponse::json(
                StatusCode::OK,
                json!({
                    "path": written.path,
                    "spans": written.spans,
                    "logs": written.logs,
                    "bytes": written.bytes,
                    "audit": message,
                }),
            )
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// What a dump to the dump directory wrote.
#[derive(Debug)]
pub(crate) struct Written {
    pub(crate) path: PathBuf,
    pub(crate) spans: usize,
    pub(crate) logs: usize,
    pub(crate) bytes: u64,
}

/// Why a dump to the dump directory was not written.
#[derive(Debug)]
pub(crate) enum Refusal {
    TooSoon(Duration),
    Busy,
    NoRecorder,
    Failed(String),
}

impl Refusal {
    fn into_response(self) -> ApiResponse {
        match self {
            Refusal::TooSoon(wait) => ApiResponse::error(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "a dump was written less than {} s ago; try again in {} s",
                    DUMP_MIN_INTERVAL.as_secs(),
                    wait.as_secs() + 1
                ),
            )
            .header(http::header::RETRY_AFTER, (wait.as_secs() + 1).to_string()),
            Refusal::Busy => busy(),
            Refusal::NoRecorder => match recorder() {
                Err(r) => r,
                Ok(_) => busy(),
            },
            Refusal::Failed(e) => ApiResponse::error(StatusCode::INTERNAL_SERVER_ERROR, e),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::TooSoon(_) => write!(
                f,
                "a dump was written less than {} s ago",
                DUMP_MIN_INTERVAL.as_secs()
            ),
            Refusal::Busy => f.write_str("another dump is being written"),
            Refusal::NoRecorder => f.write_str("no flight recorder is running"),
            Refusal::Failed(e) => f.write_str(e),
        }
    }
}

static LAST_DUMP: Mutex<Option<Instant>> = Mutex::new(None);

/// The dump directory: the running configuration's (`OBSERVE_DUMP_DIR`, or
/// `Builder::alert_snapshots`: the same directory as the SLO alerts' snapshots),
/// else the system's temporary directory.
pub(crate) fn dump_dir() -> PathBuf {
    crate::pipeline::Pipeline::current()
        .and_then(|p| p.settings.config.slo.snapshot_dir.clone())
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(std::env::temp_dir)
}

/// Writes the recorder to `<dump dir>/observe-<unix seconds>-<reason>.jsonl`
/// (mode 0600 on Unix), at most once per [`DUMP_MIN_INTERVAL`], keeping the newest
/// [`DUMP_FILES_KEPT`] such files of `reason`.
pub(crate) fn dump_to_dir(reason: &'static str) -> Result<Written, Refusal> {
    let recorder = crate::recorder::handle().ok_or(Refusal::NoRecorder)?;
    {
        let mut last = LAST_DUMP.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if let Some(l) = *last {
            let since = now.saturating_duration_since(l);
            if since < DUMP_MIN_INTERVAL {
                return Err(Refusal::TooSoon(DUMP_MIN_INTERVAL - since));
            }
        }
        *last = Some(now);
    }
    let _slot = DumpSlot::take().ok_or(Refusal::Busy)?;
    let dir = dump_dir();
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        Refusal::Failed(format!("the dump could not be written: {what}: {e}"))
    };
    std::fs::create_dir_all(&dir).map_err(|e| failed(&dir.display().to_string(), &e))?;
    let path = dir.join(format!("observe-{}-{reason}.jsonl", unix_secs()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options
        .open(&path)
        .map_err(|e| failed(&path.display().to_string(), &e))?;
    let summary = recorder
        .dump_to_writer(std::io::BufWriter::new(file))
        .map_err(|e| failed(&path.display().to_string(), &e))?;
    let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    prune(&dir, reason);
    Ok(Written {
        path,
        spans: summary.spans,
        logs: summary.logs,
        bytes,
    })
}

/// Removes the oldest `observe-<secs>-<reason>.jsonl` files beyond the newest
/// [`DUMP_FILES_KEPT`] (only files of that exact form: nothing else is touched).
fn prune(dir: &std::path::Path, reason: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let suffix = format!("-{reason}.jsonl");
    let mut ours: Vec<(u64, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let secs = name.strip_prefix("observe-")?.strip_suffix(&suffix)?;
            Some((secs.parse::<u64>().ok()?, e.path()))
        })
        .collect();
    if ours.len() <= DUMP_FILES_KEPT {
        return;
    }
    ours.sort_unstable();
    for (_, path) in &ours[..ours.len() - DUMP_FILES_KEPT] {
        let _ = std::fs::remove_file(path);
    }
}

/// What SIGUSR2 does: the same dump as `POST /observe/api/v1/dump`, logged.
pub(crate) fn dump_on_signal() {
    match dump_to_dir("sigusr2") {
        Ok(w) => tracing::info!(
            target: "observe::admin",
            path = %w.path.display(),
            spans = w.spans,
            logs = w.logs,
            bytes = w.bytes,
            "SIGUSR2: flight recorder dumped to {}",
            w.path.display()
        ),
        Err(refusal) => tracing::warn!(
            target: "observe::admin",
            "SIGUSR2: no flight recorder dump written: {refusal}"
        ),
    }
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn file_safe(s: &str) -> String {
    s.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
