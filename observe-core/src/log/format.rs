//! Formatting log records as JSON lines and as readable lines.
//!
//! JSON is written field by field into a reused buffer: serde_json escapes strings,
//! `itoa`/`ryu` print numbers, and the fields that are the same on every line
//! (service, version, env, host) are pre-rendered once.

use std::io::Write as _;

use super::LogRecord;
use crate::config::Service;
use crate::span::Value;

/// The identity every log line carries, `"service":..,"version":..,"env":..,"host":..`,
/// rendered once.
pub(crate) fn resource_fragment(service: &Service) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    out.extend_from_slice(b"\"service\":");
    json_str(&mut out, &service.name);
    out.extend_from_slice(b",\"version\":");
    json_str(&mut out, &service.version);
    if let Some(env) = &service.environment {
        out.extend_from_slice(b",\"env\":");
        json_str(&mut out, env);
    }
    out.extend_from_slice(b",\"host\":");
    json_str(&mut out, &service.host);
    out
}

fn json_str(out: &mut Vec<u8>, s: &str) {
    // Most strings need no escape: one pass the compiler vectorises, one copy
    // (serde_json's escaper looks each byte up and writes through `io::Write`).
    let escape = s
        .bytes()
        .fold(false, |e, b| e | (b < 0x20) | (b == b'"') | (b == b'\\'));
    if !escape {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn json_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::I64(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
        Value::U64(u) => out.extend_from_slice(itoa::Buffer::new().format(*u).as_bytes()),
        Value::F64(f) if f.is_finite() => {
            out.extend_from_slice(ryu::Buffer::new().format_finite(*f).as_bytes())
        }
        // JSON has no NaN or infinity: keep them readable as strings.
        Value::F64(f) => json_str(out, &f.to_string()),
        Value::Str(s) => json_str(out, s),
    }
}

fn timestamp(out: &mut Vec<u8>, rec: &LogRecord) {
    let _ = write!(out, "\"{}\"", humantime::format_rfc3339_micros(rec.time()));
}

fn hex_field(out: &mut Vec<u8>, key: &[u8], hex: &[u8]) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key);
    out.extend_from_slice(b"\":\"");
    out.extend_from_slice(hex);
    out.push(b'"');
}

/// Appends one JSON line (with its `\n`) for `rec` to `out`.
pub(crate) fn write_json(out: &mut Vec<u8>, rec: &LogRecord, resource_fragment: &[u8]) {
    out.extend_from_slice(b"{\"timestamp\":");
    timestamp(out, rec);
    out.extend_from_slice(b",\"level\":\"");
    out.extend_from_slice(rec.level().as_str().as_bytes());
    out.extend_from_slice(b"\",\"message\":");
    json_str(out, rec.message());
    out.extend_from_slice(b",\"target\":");
    json_str(out, rec.target());
    out.push(b',');
    out.extend_from_slice(resource_fragment);
    if let Some(span) = rec.span() {
        let mut t = [0u8; 32];
        span.trace_id.write_hex(&mut t);
        hex_field(out, b"trace_id", &t);
        let mut s = [0u8; 16];
        span.span_id.write_hex(&mut s);
        hex_field(out, b"span_id", &s);
        if span.parent_id.is_valid() {
            span.parent_id.write_hex(&mut s);
            hex_field(out, b"parent_id", &s);
        }
    }
    if let Some(cx) = rec.context() {
        for (key, value) in [
            (&b"request_id"[..], &cx.request_id),
            (b"user_id", &cx.user_id),
            (b"account_id", &cx.account_id),
        ] {
            if let Some(v) = value {
                out.extend_from_slice(b",\"");
                out.extend_from_slice(key);
                out.extend_from_slice(b"\":");
                json_str(out, v);
            }
        }
        out.extend_from_slice(b",\"request_type\":\"");
        out.extend_from_slice(cx.request_type.as_str().as_bytes());
        out.push(b'"');
        if !cx.flags.is_empty() {
            out.extend_from_slice(b",\"flags\":{");
            for (i, (k, v)) in cx.flags.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_str(out, k);
                out.push(b':');
                json_str(out, v);
            }
            out.push(b'}');
        }
    }
    if let Some(span) = rec.span() {
        out.extend_from_slice(b",\"span\":");
        json_str(out, span.name.as_str());
    }
    if !rec.fields().is_empty() {
        out.extend_from_slice(b",\"fields\":{");
        for (i, kv) in rec.fields().iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_str(out, &kv.key);
            out.push(b':');
            json_value(out, &kv.value);
        }
        out.push(b'}');
    }
    if let Some(file) = rec.file() {
        out.extend_from_slice(b",\"file\":");
        json_str(out, file);
    }
    if let Some(line) = rec.line() {
        out.extend_from_slice(b",\"line\":");
        out.extend_from_slice(itoa::Buffer::new().format(line).as_bytes());
    }
    out.extend_from_slice(b"}\n");
}

/// Appends one readable line for local development.
pub(crate) fn write_pretty(out: &mut Vec<u8>, rec: &LogRecord, color: bool) {
    let level = rec.level();
    let (on, off) = if color {
        let code = match level {
            tracing_core::Level::ERROR => "\x1b[31m",
            tracing_core::Level::WARN => "\x1b[33m",
            tracing_core::Level::INFO => "\x1b[32m",
            tracing_core::Level::DEBUG => "\x1b[34m",
            tracing_core::Level::TRACE => "\x1b[35m",
        };
        (code, "\x1b[0m")
    } else {
        ("", "")
    };
    let _ = write!(
        out,
        "{} {on}{:>5}{off} {}",
        humantime::format_rfc3339_micros(rec.time()),
        level.as_str(),
        rec.target()
    );
    if let Some(span) = rec.span() {
        let _ = write!(out, " [{}]", span.name);
    }
    let _ = write!(out, ": {}", sanitize(rec.message()));
    for kv in rec.fields() {
        let _ = write!(out, " {}={}", kv.key, sanitize(&kv.value.to_string()));
    }
    if let Some(cx) = rec.context() {
        if let Some(u) = &cx.user_id {
            let _ = write!(out, " user_id={}", sanitize(u));
        }
        if let Some(a) = &cx.account_id {
            let _ = write!(out, " account_id={}", sanitize(a));
        }
        if cx.request_type != crate::context::RequestType::Standard {
            let _ = write!(out, " request_type={}", cx.request_type);
        }
        if let Some(r) = &cx.request_id {
            let _ = write!(out, " request_id={}", sanitize(r));
        }
    }
    if let Some(span) = rec.span() {
        let _ = write!(out, " trace_id={}", span.trace_id);
    }
    out.push(b'\n');
}

/// Keeps a pretty line on one line: control characters are escaped.
fn sanitize(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(char::is_control) {
        std::borrow::Cow::Owned(s.escape_debug().to_string())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}
