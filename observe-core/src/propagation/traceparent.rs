//! `traceparent` (W3C Trace Context Level 2) and its response-side twin
//! `traceresponse`: `version "-" trace-id "-" id "-" trace-flags`.

use std::fmt;

use super::buf::{HeaderBuf, write_hex};
use super::scan::examined;
use super::trim_ows;
use crate::ids::{SpanContext, SpanId, TraceFlags, TraceId};

/// The length of a version `00` `traceparent` / `traceresponse` value.
pub const TRACEPARENT_LEN: usize = 55;

/// The longest `traceparent` / `traceresponse` observe reads, in bytes, whitespace
/// included; a longer value is invalid and is not read. Version `00` is 55
/// characters; the rest leaves room for the optional whitespace around the value
/// and for the fields a future version may add. Repeated headers share this
/// budget: their values together are read up to this length.
pub const TRACEPARENT_MAX_LEN: usize = 512;

/// The trace-flags bits this version of the specification defines: `sampled` (bit 0)
/// and, from Level 2, `random` (bit 1). Only these are read from a header of a
/// future version.
const DEFINED_FLAGS: u8 = 0x03;

/// Why a `traceparent` (or `traceresponse`) value was rejected. Its `Display` says
/// what was wrong and what is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TraceparentError {
    /// The value is empty (or only whitespace).
    Empty,
    /// The value does not start with two lowercase hex digits and a `-`.
    Version,
    /// Version `ff`, which the specification forbids.
    VersionForbidden,
    /// A version `00` value is not exactly 55 characters long.
    Length {
        /// The length received (after trimming optional whitespace).
        len: usize,
    },
    /// A value of a future version is shorter than 55 characters.
    TooShort {
        /// The length received (after trimming optional whitespace).
        len: usize,
    },
    /// The trace-id is not 32 lowercase hex digits followed by `-`.
    TraceId,
    /// The trace-id is all zeros.
    ZeroTraceId,
    /// The parent-id (child-id in `traceresponse`) is not 16 lowercase hex digits
    /// followed by `-`.
    SpanId,
    /// The parent-id (child-id in `traceresponse`) is all zeros.
    ZeroSpanId,
    /// The trace-flags are not two lowercase hex digits.
    Flags,
    /// A value of a future version has a character other than `-` after the flags.
    TrailingData,
    /// The header was sent several times with different values, or its values
    /// together were longer than [`TRACEPARENT_MAX_LEN`].
    Repeated,
    /// The value is longer than [`TRACEPARENT_MAX_LEN`] bytes; it was not read.
    TooLong {
        /// The length received.
        len: usize,
    },
}

impl fmt::Display for TraceparentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceparentError::Empty => f.write_str(
                "empty value; expected \"00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>\"",
            ),
            TraceparentError::Version => f.write_str(
                "the version is not two lowercase hex digits followed by '-' (expected \"00-\")",
            ),
            TraceparentError::VersionForbidden => {
                f.write_str("version ff is forbidden; the current version is 00")
            }
            TraceparentError::Length { len } => write!(
                f,
                "a version 00 value is exactly {TRACEPARENT_LEN} characters, got {len}"
            ),
            TraceparentError::TooShort { len } => write!(
                f,
                "a value of a future version is at least {TRACEPARENT_LEN} characters, got {len}"
            ),
            TraceparentError::TraceId => f.write_str(
                "the trace-id is not 32 lowercase hex digits followed by '-' (uppercase is invalid)",
            ),
            TraceparentError::ZeroTraceId => f.write_str("the trace-id is all zeros, which is invalid"),
            TraceparentError::SpanId => f.write_str(
                "the parent-id is not 16 lowercase hex digits followed by '-' (uppercase is invalid)",
            ),
            TraceparentError::ZeroSpanId => f.write_str("the parent-id is all zeros, which is invalid"),
            TraceparentError::Flags => {
                f.write_str("the trace-flags are not two lowercase hex digits")
            }
            TraceparentError::TrailingData => f.write_str(
                "a future version may only continue after the flags with '-' and further fields",
            ),
            TraceparentError::Repeated => f.write_str(
                "the header was sent several times with different values (or more than \
                 512 bytes in all); exactly one value is accepted",
            ),
            TraceparentError::TooLong { len } => write!(
                f,
                "the value is {len} bytes, not read: at most {TRACEPARENT_MAX_LEN} are read"
            ),
        }
    }
}

impl std::error::Error for TraceparentError {}

/// Parses a `traceparent` header value into the caller's span context, with
/// `is_remote = true`.
///
/// Follows W3C Trace Context Level 2: optional whitespace (spaces, tabs) around the
/// value is ignored; version `00` is exactly 55 characters of lowercase hex and
/// dashes; all-zero ids and version `ff` are invalid; a future version is read by
/// the spec's forward-compatible rule (at least 55 characters, and a `-` after the
/// flags if it is longer; extra fields are ignored, and only the `sampled` and
/// `random` flags are read from it). Every flag bit of a version `00` value is kept.
/// A value longer than [`TRACEPARENT_MAX_LEN`] bytes is invalid without being read.
///
/// An error means: no parent. The caller starts a new trace and ignores `tracestate`.
///
/// ```
/// use observe_core::propagation::{parse_traceparent, TraceparentError};
///
/// let ctx = parse_traceparent(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03").unwrap();
/// assert!(ctx.is_remote && ctx.flags.is_sampled() && ctx.flags.is_random());
///
/// let upper = parse_traceparent(b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01");
/// assert_eq!(upper, Err(TraceparentError::TraceId));
/// ```
pub fn parse_traceparent(value: &[u8]) -> Result<SpanContext, TraceparentError> {
    parse_dashed(value)
}

/// Formats a span context as a version `00` `traceparent` value, on the stack.
/// Its `span_id` becomes the `parent-id` of the request it is sent with. Flags are
/// written as they are.
pub fn format_traceparent(ctx: &SpanContext) -> HeaderBuf<TRACEPARENT_LEN> {
    format_dashed(ctx)
}

/// Parses a `traceresponse` header value (W3C Trace Context Level 2 draft:
/// `00-<trace-id>-<child-id>-<trace-flags>`) into the callee's span context, with
/// `is_remote = true`. The rules are those of [`parse_traceparent`].
pub fn parse_traceresponse(value: &[u8]) -> Result<SpanContext, TraceparentError> {
    parse_dashed(value)
}

/// Formats the server span's context as a version `00` `traceresponse` value
/// (`child-id` is the server span's id), on the stack.
pub fn format_traceresponse(ctx: &SpanContext) -> HeaderBuf<TRACEPARENT_LEN> {
    format_dashed(ctx)
}

pub(crate) fn format_dashed(ctx: &SpanContext) -> HeaderBuf<TRACEPARENT_LEN> {
    let mut buf = [0u8; TRACEPARENT_LEN];
    buf[..3].copy_from_slice(b"00-");
    write_hex(&mut buf[3..35], &ctx.trace_id.to_bytes());
    buf[35] = b'-';
    write_hex(&mut buf[36..52], &ctx.span_id.to_bytes());
    buf[52] = b'-';
    write_hex(&mut buf[53..55], &[ctx.flags.bits()]);
    HeaderBuf::full(buf)
}

/// Lowercase hex digit values; 0xff marks every other byte (uppercase included).
static HEX_VALUE: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Lowercase hex digit value, or `None` (uppercase hex is not accepted).
#[cfg(test)]
fn hex_digit(b: u8) -> Option<u8> {
    let v = HEX_VALUE[usize::from(b)];
    (v != 0xff).then_some(v)
}

/// Up to 16 lowercase hex digits as a `u64`.
#[inline]
fn parse_hex_u64(digits: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    let mut invalid = 0u8;
    for &b in digits {
        let d = HEX_VALUE[usize::from(b)];
        invalid |= d;
        v = (v << 4) | u64::from(d & 0xf);
    }
    (invalid & 0xf0 == 0).then_some(v)
}

/// Up to 32 lowercase hex digits as a `u128`.
#[inline]
fn parse_hex(digits: &[u8]) -> Option<u128> {
    if digits.len() > 32 {
        return None;
    }
    if digits.len() <= 16 {
        return parse_hex_u64(digits).map(u128::from);
    }
    let (hi, lo) = digits.split_at(digits.len() - 16);
    Some((u128::from(parse_hex_u64(hi)?) << 64) | u128::from(parse_hex_u64(lo)?))
}

pub(crate) fn parse_dashed(value: &[u8]) -> Result<SpanContext, TraceparentError> {
    if value.len() > TRACEPARENT_MAX_LEN {
        return Err(TraceparentError::TooLong { len: value.len() });
    }
    // Trimming reads the whitespace at each end and the byte after it; the checks
    // below read the bytes in between at most once: every byte once, the two ends
    // twice.
    examined(value.len() + 2 * usize::from(!value.is_empty()));
    let v = trim_ows(value);
    if v.is_empty() {
        return Err(TraceparentError::Empty);
    }
    // version: 2 lowercase hex digits and a dash.
    let version = match (v.get(..2).and_then(parse_hex), v.get(2)) {
        (Some(version), Some(b'-')) => version,
        _ => return Err(TraceparentError::Version),
    };
    if version == 0xff {
        return Err(TraceparentError::VersionForbidden);
    }
    if version == 0 {
        if v.len() != TRACEPARENT_LEN {
            return Err(TraceparentError::Length { len: v.len() });
        }
    } else if v.len() < TRACEPARENT_LEN {
        return Err(TraceparentError::TooShort { len: v.len() });
    }

    let trace_id = match (v.get(3..35).and_then(parse_hex), v.get(35)) {
        (Some(id), Some(b'-')) => id,
        _ => return Err(TraceparentError::TraceId),
    };
    if trace_id == 0 {
        return Err(TraceparentError::ZeroTraceId);
    }
    let span_id = match (v.get(36..52).and_then(parse_hex), v.get(52)) {
        (Some(id), Some(b'-')) => id as u64,
        _ => return Err(TraceparentError::SpanId),
    };
    if span_id == 0 {
        return Err(TraceparentError::ZeroSpanId);
    }
    let flags = match v.get(53..55).and_then(parse_hex) {
        Some(flags) => flags as u8,
        None => return Err(TraceparentError::Flags),
    };
    // A future version: the flags end the value or are followed by '-'; anything
    // after that belongs to fields this version does not know and is ignored.
    if v.len() > TRACEPARENT_LEN && v.get(55) != Some(&b'-') {
        return Err(TraceparentError::TrailingData);
    }
    let flags = if version == 0 {
        flags
    } else {
        flags & DEFINED_FLAGS
    };
    Ok(SpanContext {
        trace_id: TraceId::new(trace_id),
        span_id: SpanId::new(span_id),
        flags: TraceFlags::new(flags),
        is_remote: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_the_spec_example() {
        let ctx = parse_dashed(VALID).unwrap();
        assert_eq!(ctx.trace_id.to_int(), 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(ctx.span_id.to_int(), 0x00f067aa0ba902b7);
        assert_eq!(ctx.flags.bits(), 1);
        assert!(ctx.is_remote);
    }

    #[test]
    fn formats_back_byte_for_byte() {
        let ctx = parse_dashed(VALID).unwrap();
        assert_eq!(format_dashed(&ctx).as_bytes(), VALID);
    }

    #[test]
    fn hex_digit_is_lowercase_only() {
        assert_eq!(hex_digit(b'a'), Some(10));
        assert_eq!(hex_digit(b'A'), None);
        assert_eq!(hex_digit(b'g'), None);
        assert_eq!(parse_hex(b"ff"), Some(255));
        assert_eq!(parse_hex(b"+f"), None);
        assert_eq!(
            parse_hex(b"0123456789abcdef0123456789abcdef"),
            Some(0x0123456789abcdef0123456789abcdef)
        );
        assert_eq!(parse_hex(b"0123456789abcdef0123456789abcdeF"), None);
        assert_eq!(parse_hex(b"f0123456789abcdef"), Some(0xf0123456789abcdef));
    }
}
