//! Writing the ring as OTLP-JSON lines.

use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::logs::tonic::group_logs_by_resource_and_scope;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::logs::LogBatch;

use super::store::Entry;
use super::{DumpSummary, FlightRecorder};
use crate::config::Service;
use crate::otel::convert::{self, LogConverter};

/// Why a dump failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum DumpError {
    /// The file could not be created or written.
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// A record could not be encoded (a bug in observe).
    Encode(serde_json::Error),
    /// No flight recorder is installed (observe is not initialised).
    NotRunning,
}

impl fmt::Display for DumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DumpError::Io { path, error } => {
                write!(
                    f,
                    "cannot write the flight recorder dump {}: {error}",
                    path.display()
                )
            }
            DumpError::Encode(e) => write!(f, "cannot encode the flight recorder dump: {e}"),
            DumpError::NotRunning => {
                f.write_str("no flight recorder is running: call observe_core::init() first")
            }
        }
    }
}

impl std::error::Error for DumpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DumpError::Io { error, .. } => Some(error),
            DumpError::Encode(e) => Some(e),
            DumpError::NotRunning => None,
        }
    }
}

/// Records per line (and per lock of the ring).
const LINE: u64 = 512;

/// Writes the dump to the file at `path`, readable by its owner only (mode 0600
/// on Unix when the file is created: a dump holds what logs hold). `fresh`: the
/// file must not exist yet (a name observe chose in a shared directory such as
/// `/tmp`, where an existing file or symbolic link of that name is someone
/// else's); otherwise an existing file is replaced.
pub(super) fn write(
    recorder: &FlightRecorder,
    resource: &Service,
    path: &Path,
    fresh: bool,
) -> Result<DumpSummary, DumpError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if fresh {
        options.create_new(true);
    } else {
        options.create(true).truncate(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file: File = options.open(path).map_err(|error| DumpError::Io {
        path: path.to_owned(),
        error,
    })?;
    write_to(recorder, resource, BufWriter::new(file), path)
}

/// Writes the dump to `out`; `path` names it in the summary and errors.
pub(super) fn write_to(
    recorder: &FlightRecorder,
    resource: &Service,
    mut out: impl Write,
    path: &Path,
) -> Result<DumpSummary, DumpError> {
    let io = |error| DumpError::Io {
        path: path.to_owned(),
        error,
    };
    let resource = ResourceAttributesWithSchema::from(&convert::resource(resource));
    let scope = convert::scope();
    let logs_conv = LogConverter::new();
    let mut summary = DumpSummary {
        path: path.to_owned(),
        spans: 0,
        logs: 0,
        lines: 0,
    };
    let mut next = recorder.lock().store.seq_range().start;
    loop {
        // Copy a chunk out under the lock, convert and write without it.
        let chunk: Vec<Entry> = {
            let st = recorder.lock();
            let range = st.store.seq_range();
            next = next.max(range.start);
            let end = (next + LINE).min(range.end);
            let chunk = (next..end)
                .filter_map(|s| st.store.get(s).cloned())
                .collect();
            next = end;
            chunk
        };
        if chunk.is_empty() {
            break;
        }
        let mut spans = Vec::new();
        let mut logs = Vec::new();
        for e in &chunk {
            match e {
                Entry::Span(s) => spans.push(convert::span_data(s, Vec::new(), &scope)),
                Entry::Log(l) => logs.push(logs_conv.convert(l)),
            }
        }
        if !spans.is_empty() {
            summary.spans += spans.len();
            let req = ExportTraceServiceRequest {
                resource_spans: group_spans_by_resource_and_scope(spans, &resource),
            };
            serde_json::to_writer(&mut out, &req).map_err(DumpError::Encode)?;
            out.write_all(b"\n").map_err(io)?;
            summary.lines += 1;
        }
        if !logs.is_empty() {
            summary.logs += logs.len();
            let refs: Vec<_> = logs.iter().map(|l| (l, &scope)).collect();
            let batch = LogBatch::new(&refs);
            let req = ExportLogsServiceRequest {
                resource_logs: group_logs_by_resource_and_scope(&batch, &resource),
            };
            serde_json::to_writer(&mut out, &req).map_err(DumpError::Encode)?;
            out.write_all(b"\n").map_err(io)?;
            summary.lines += 1;
        }
    }
    out.flush().map_err(io)?;
    Ok(summary)
}
