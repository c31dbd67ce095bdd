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

/// Whether `s` has a byte JSON escapes (a control character, `"` or `\\`): eight
/// bytes at a time (a byte-wise fold was a tenth of the log writer's time; see
/// [`any_byte`]).
fn needs_escape(s: &[u8]) -> bool {
    any_byte(s, word_escapes, |b| b < 0x20 || b == b'"' || b == b'\\')
}

/// Whether a byte of `s` fails: `word` tells for eight bytes at once (packed
/// native-endian in a `u64`), `byte` for one. The last word overlaps the one
/// before rather than being checked byte by byte (most strings here are short:
/// keys, names, ids); four to seven bytes make one word of two overlapping halves.
#[inline(always)]
pub(crate) fn any_byte(s: &[u8], word: impl Fn(u64) -> bool, byte: impl Fn(u8) -> bool) -> bool {
    let n = s.len();
    if n >= 8 {
        let at = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&s[at..at + 8]);
            u64::from_ne_bytes(w)
        };
        let mut i = 0;
        while i + 8 < n {
            if word(at(i)) {
                return true;
            }
            i += 8;
        }
        return word(at(n - 8));
    }
    if n >= 4 {
        let half = |at: usize| {
            let mut w = [0u8; 4];
            w.copy_from_slice(&s[at..at + 4]);
            u64::from(u32::from_ne_bytes(w))
        };
        return word(half(0) | (half(n - 4) << 32));
    }
    s.iter().any(|&b| byte(b))
}

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);

/// The bytes of `x` below `n` (for `n` at most 0x80) with their high bit set;
/// exact as to whether there is one.
#[inline(always)]
fn below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH
}

/// The zero bytes of `x` with their high bit set; exact as to whether there is one.
#[inline(always)]
fn zero(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGH
}

/// Whether one of the eight bytes of `x` is a control character, `"` or `\\`.
#[inline(always)]
fn word_escapes(x: u64) -> bool {
    below(x, 0x20) | zero(x ^ (ONES * u64::from(b'"'))) | zero(x ^ (ONES * u64::from(b'\\'))) != 0
}

/// Whether every byte of `s` is visible ASCII or a space (0x20..=0x7e), eight at a
/// time: what a header value observe formats (ids, digits) or validated (a request
/// id) holds.
pub(crate) fn visible_ascii(s: &[u8]) -> bool {
    !any_byte(
        s,
        |x| ((x & HIGH) | below(x, 0x20) | zero(x ^ (ONES * 0x7f))) != 0,
        |b| !(0x20..=0x7e).contains(&b),
    )
}

fn json_str(out: &mut Vec<u8>, s: &str) {
    // Most strings need no escape: one check, one copy (serde_json's escaper looks
    // each byte up and writes through `io::Write`).
    if !needs_escape(s.as_bytes()) {
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
        Value::F64(f) if f.is_finite() => f64_as_ryu_writes_it(out, *f),
        // JSON has no NaN or infinity: keep them readable as strings.
        Value::F64(f) => json_str(out, &f.to_string()),
        Value::Str(s) => json_str(out, s),
    }
}

/// `f` as `ryu` writes it (the shortest decimal that reads back as `f`). Durations
/// in milliseconds, on every access line, are whole numbers of millionths, and
/// for those the decimal is written directly: `ryu`'s general search was a fifth
/// of the line's cost.
fn f64_as_ryu_writes_it(out: &mut Vec<u8>, f: f64) {
    let Some(m) = millionths(f) else {
        out.extend_from_slice(ryu::Buffer::new().format_finite(f).as_bytes());
        return;
    };
    let (int, frac) = (m / 1_000_000, m % 1_000_000);
    out.extend_from_slice(itoa::Buffer::new().format(int).as_bytes());
    if frac == 0 {
        out.extend_from_slice(b".0");
        return;
    }
    let mut digits = [b'.', b'0', b'0', b'0', b'0', b'0', b'0'];
    let mut rest = frac;
    for d in digits[1..].iter_mut().rev() {
        *d = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    // Without the trailing zeros (`frac` is not 0: at most five).
    let mut end = digits.len();
    while digits[end - 1] == b'0' {
        end -= 1;
    }
    out.extend_from_slice(&digits[..end]);
}

/// `f` as a whole number `m` of millionths, when `f` is the double nearest
/// `m / 10^6` and `ryu` writes it as that decimal: from 0.00001 (below, `ryu` writes
/// an exponent) to below 10^9, where doubles are closer together than half a
/// millionth, so no other decimal of at most six places (shorter or as short)
/// reads back as `f`.
fn millionths(f: f64) -> Option<u64> {
    if !(1e-5..1e9).contains(&f) {
        return None;
    }
    let m = (f * 1e6).round();
    // Exact: `m` is a whole number below 2^50, and the division rounds once.
    (m / 1e6 == f).then_some(m as u64)
}

fn timestamp(out: &mut Vec<u8>, rec: &LogRecord) {
    out.push(b'"');
    rfc3339_micros(out, rec.tick().unix_nanos());
    out.push(b'"');
}

std::thread_local! {
    /// The second last formatted on this thread and its `YYYY-MM-DDTHH:MM:SS`:
    /// lines come in bursts within one second, and the calendar arithmetic and
    /// `fmt` machinery behind it cost more than the rest of a line's timestamp.
    static SECOND: std::cell::Cell<(u64, [u8; 19])> = const { std::cell::Cell::new((u64::MAX, [0; 19])) };
}

/// `humantime::format_rfc3339_micros`'s text (`2026-12-04T09:35:09.123456Z`) for
/// `unix_nanos`, with the date and time of day formatted once per second.
fn rfc3339_micros(out: &mut Vec<u8>, unix_nanos: u64) {
    let (secs, micros) = (
        unix_nanos / 1_000_000_000,
        unix_nanos % 1_000_000_000 / 1_000,
    );
    let prefix = SECOND
        .try_with(|cached| {
            let (second, prefix) = cached.get();
            if second == secs {
                return Some(prefix);
            }
            let prefix = second_prefix(secs)?;
            cached.set((secs, prefix));
            Some(prefix)
        })
        .ok()
        .flatten()
        .or_else(|| second_prefix(secs));
    let Some(prefix) = prefix else {
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(unix_nanos);
        let _ = write!(out, "{}", humantime::format_rfc3339_micros(time));
        return;
    };
    out.extend_from_slice(&prefix);
    // Six digits, zero-padded: `micros` is below 1,000,000.
    let mut digits = [b'.', b'0', b'0', b'0', b'0', b'0', b'0', b'Z'];
    let mut m = micros;
    for d in digits[1..7].iter_mut().rev() {
        *d = b'0' + (m % 10) as u8;
        m /= 10;
    }
    out.extend_from_slice(&digits);
}

/// `YYYY-MM-DDTHH:MM:SS` of a Unix second (`None` for a text of another length,
/// after the year 9999).
fn second_prefix(secs: u64) -> Option<[u8; 19]> {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    let text = humantime::format_rfc3339_seconds(time).to_string();
    // `...SSZ`: the prefix is all but the `Z`.
    text.as_bytes()
        .get(..19)
        .filter(|_| text.len() == 20)?
        .try_into()
        .ok()
}

/// The parts of a JSON line its callsite decides, rendered once per callsite:
/// `,"target":..` and `,"file":..,"line":..`. Escaping and copying them was a
/// tenth of a line's cost. A direct-mapped table of [`Callsites::SLOTS`] entries,
/// keyed by the callsite's `&'static Metadata` (an address that always names the
/// same metadata): bounded, and a collision only renders again.
pub(crate) struct Callsites {
    slots: Box<[Option<Fragments>]>,
}

struct Fragments {
    /// The metadata's address.
    key: usize,
    /// The target's part, then the file's and line's.
    bytes: Box<[u8]>,
    /// Where the file's and line's part starts.
    split: usize,
}

impl Callsites {
    /// Entries kept (a power of two).
    pub(crate) const SLOTS: usize = 256;

    pub(crate) fn new() -> Callsites {
        Callsites {
            slots: (0..Self::SLOTS).map(|_| None).collect(),
        }
    }

    /// `(target part, file and line part)` of `metadata`'s lines.
    fn of(&mut self, metadata: &'static tracing_core::Metadata<'static>) -> (&[u8], &[u8]) {
        let key = std::ptr::from_ref(metadata) as usize;
        self.get_or_render(key, |out| {
            out.extend_from_slice(b",\"target\":");
            json_str(out, metadata.target());
            let split = out.len();
            if let Some(file) = metadata.file() {
                out.extend_from_slice(b",\"file\":");
                json_str(out, file);
            }
            if let Some(line) = metadata.line() {
                out.extend_from_slice(b",\"line\":");
                out.extend_from_slice(itoa::Buffer::new().format(line).as_bytes());
            }
            split
        })
    }

    /// The fragments under `key`, rendered by `render` (which returns the split)
    /// when another key held the slot.
    fn get_or_render(
        &mut self,
        key: usize,
        render: impl FnOnce(&mut Vec<u8>) -> usize,
    ) -> (&[u8], &[u8]) {
        // Metadata are at least 8 bytes apart; the multiplication mixes the bits
        // above into the slot's index.
        let bits = Self::SLOTS.trailing_zeros();
        let slot = (key >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (usize::BITS - bits);
        let entry = &mut self.slots[slot];
        if entry.as_ref().is_none_or(|f| f.key != key) {
            let mut bytes = Vec::with_capacity(96);
            let split = render(&mut bytes);
            *entry = Some(Fragments {
                key,
                bytes: bytes.into_boxed_slice(),
                split,
            });
        }
        match entry {
            Some(f) => f.bytes.split_at(f.split),
            None => (&[], &[]),
        }
    }
}

fn hex_field(out: &mut Vec<u8>, key: &[u8], hex: &[u8]) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key);
    out.extend_from_slice(b"\":\"");
    out.extend_from_slice(hex);
    out.push(b'"');
}

/// Appends one JSON line (with its `\n`) for `rec` to `out`.
pub(crate) fn write_json(
    out: &mut Vec<u8>,
    rec: &LogRecord,
    resource_fragment: &[u8],
    callsites: &mut Callsites,
) {
    let (target, file_and_line) = callsites.of(rec.metadata);
    out.extend_from_slice(b"{\"timestamp\":");
    timestamp(out, rec);
    out.extend_from_slice(b",\"level\":\"");
    out.extend_from_slice(rec.level().as_str().as_bytes());
    out.extend_from_slice(b"\",\"message\":");
    json_str(out, rec.message());
    out.extend_from_slice(target);
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
    out.extend_from_slice(file_and_line);
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
        // A `log` record's target is any string the caller gave.
        sanitize(rec.target())
    );
    if let Some(span) = rec.span() {
        // Span names can be made at run time (`Span::new(format!(..))`).
        let _ = write!(out, " [{}]", sanitize(span.name.as_str()));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_found_wherever_they_are() {
        for len in 0..40 {
            let clean: Vec<u8> = b"a\xc3\xa9Z~ \x7f\xff".repeat(len)[..len].to_vec();
            assert!(!needs_escape(&clean), "{clean:?}");
            for at in 0..len {
                for bad in [b'"', b'\\', b'\n', 0u8, 0x1f] {
                    let mut bytes = clean.clone();
                    bytes[at] = bad;
                    assert!(needs_escape(&bytes), "{bytes:?}");
                }
                let mut bytes = clean.clone();
                bytes[at] = 0x20;
                assert!(!needs_escape(&bytes));
            }
        }
        for b in 0..=255u8 {
            let expected = b < 0x20 || b == b'"' || b == b'\\';
            assert_eq!(needs_escape(&[b; 9]), expected, "{b}");
            assert_eq!(needs_escape(&[b]), expected, "{b}");
        }
    }

    #[test]
    fn visible_ascii_is_checked_wherever_a_byte_is() {
        let reference = |s: &[u8]| s.iter().all(|b| (0x20..=0x7e).contains(b));
        for len in 0..40 {
            let clean: Vec<u8> = b"a Z~09-;=.".repeat(len)[..len].to_vec();
            assert!(visible_ascii(&clean), "{clean:?}");
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = clean.clone();
                    bytes[at] = b;
                    assert_eq!(visible_ascii(&bytes), reference(&bytes), "{bytes:?}");
                }
            }
        }
    }

    #[test]
    fn a_callsite_sharing_a_slot_renders_its_own_fragments() {
        let mut callsites = Callsites::new();
        let render = |key: usize| {
            move |out: &mut Vec<u8>| {
                out.extend_from_slice(format!("t{key}").as_bytes());
                out.extend_from_slice(format!("f{key}").as_bytes());
                format!("t{key}").len()
            }
        };
        // Far more keys than slots, cycled twice: every key reads back its own.
        for round in 0..2 {
            for key in (0..4 * Callsites::SLOTS).map(|k| 0x1000 + k * 8) {
                let (t, f) = callsites.get_or_render(key, render(key));
                assert_eq!(
                    (t, f),
                    (format!("t{key}").as_bytes(), format!("f{key}").as_bytes()),
                    "round {round}"
                );
            }
        }
        // A key kept in its slot is not rendered again.
        let (t, _) = callsites.get_or_render(0x1000, render(0x1000));
        assert_eq!(t, b"t4096");
        let (t, _) = callsites.get_or_render(0x1000, |_| unreachable!("rendered again"));
        assert_eq!(t, b"t4096");
    }

    #[test]
    fn numbers_read_as_ryu_writes_them() {
        let check = |f: f64| {
            let mut out = Vec::new();
            f64_as_ryu_writes_it(&mut out, f);
            assert_eq!(
                std::str::from_utf8(&out).unwrap(),
                ryu::Buffer::new().format_finite(f),
                "{f:e}"
            );
        };
        // Durations as the access line computes them, nanosecond by nanosecond
        // near the edges of the fast path and spread over its whole range.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for n in (0..20_000).chain(999_990_000..1_000_010_000).step_by(7) {
            check(std::time::Duration::from_nanos(n).as_secs_f64() * 1e3);
        }
        for _ in 0..200_000 {
            let n = next() % 2_000_000_000_000_000;
            check(std::time::Duration::from_nanos(n).as_secs_f64() * 1e3);
            // Whole millionths, any doubles, and values just off a millionth.
            let m = (next() % 2_000_000_000_000_000) as f64 / 1e6;
            check(m);
            check(f64::from_bits(next() >> 2));
            check(m.next_up());
            check(m.next_down());
        }
        for f in [
            0.0,
            1e-5,
            1e-5f64.next_down(),
            1e-5f64.next_up(),
            0.00001234,
            1.0,
            2.5,
            100.0,
            999_999_999.999_999,
            1e9,
            1e9f64.next_down(),
            123_456.000_001,
            1e15,
            1e16,
            1e17,
            -1.5,
            -0.0,
            f64::MIN_POSITIVE,
            f64::MAX,
        ] {
            check(f);
        }
    }

    #[test]
    fn timestamps_read_as_humantime_writes_them() {
        let mut nanos = 1_733_305_509_123_456_789u64;
        for step in [
            0,
            1,
            999,
            1_000,
            999_999_999,
            1_000_000_000,
            86_399_000_000_000,
            7,
        ] {
            nanos += step;
            for n in [nanos, 0, 951_782_400_000_000_000, 253_402_300_799_999_999] {
                let mut out = Vec::new();
                rfc3339_micros(&mut out, n);
                let time = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(n);
                let expected = humantime::format_rfc3339_micros(time).to_string();
                assert_eq!(String::from_utf8(out).unwrap(), expected, "{n}");
            }
        }
    }
}
