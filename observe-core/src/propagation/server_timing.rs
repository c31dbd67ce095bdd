//! `Server-Timing: observe;dur=<ms>`: the server's own view of how long it took.

use std::time::Duration;

use super::buf::{HeaderBuf, push_decimal};

/// The Server-Timing metric name observe uses.
pub const SERVER_TIMING_METRIC: &str = "observe";

/// Formats `observe;dur=<ms>` with microsecond resolution (three decimals), on the
/// stack. Durations below a microsecond are written as `0.000`.
///
/// ```
/// use observe_core::propagation::{format_server_timing, parse_server_timing};
/// use std::time::Duration;
///
/// let value = format_server_timing(Duration::from_micros(12_345));
/// assert_eq!(value.as_str(), "observe;dur=12.345");
/// assert_eq!(parse_server_timing(value.as_bytes()), Some(Duration::from_micros(12_345)));
/// ```
pub fn format_server_timing(duration: Duration) -> HeaderBuf<48> {
    let micros = duration.as_micros();
    let mut out = HeaderBuf::new();
    out.push(SERVER_TIMING_METRIC.as_bytes());
    out.push(b";dur=");
    push_decimal(&mut out, micros / 1000);
    out.push_byte(b'.');
    let frac = micros % 1000;
    if frac < 100 {
        out.push_byte(b'0');
    }
    if frac < 10 {
        out.push_byte(b'0');
    }
    push_decimal(&mut out, frac);
    out
}

/// Finds the `dur` of the `observe` metric in a `Server-Timing` header value, which
/// may list several metrics (`miss, db;dur=53, observe;desc="a, b";dur=47.2`).
///
/// Follows the Server Timing specification: metrics are separated by commas and
/// parameters by semicolons outside quoted strings; names compare ASCII
/// case-insensitively; when `dur` appears more than once in a metric only the first
/// counts; the number is read as the leading decimal number of the value (in
/// milliseconds) and characters after it are ignored. A negative, missing or
/// unreadable duration gives `None` for that metric, and the next `observe` metric,
/// if any, is tried.
pub fn parse_server_timing(value: &[u8]) -> Option<Duration> {
    for metric in SplitOutsideQuotes::new(value, b',') {
        let mut parts = SplitOutsideQuotes::new(metric, b';');
        let name = parts.next().unwrap_or_default().trim_ascii();
        if !name.eq_ignore_ascii_case(SERVER_TIMING_METRIC.as_bytes()) {
            continue;
        }
        for param in parts {
            let (param_name, param_value) = match param.iter().position(|&b| b == b'=') {
                Some(eq) => (&param[..eq], &param[eq + 1..]),
                None => (param, &b""[..]),
            };
            if param_name.trim_ascii().eq_ignore_ascii_case(b"dur") {
                // Only the first `dur` of a metric counts, even when invalid.
                if let Some(d) = parse_millis(param_value.trim_ascii()) {
                    return Some(d);
                }
                break;
            }
        }
    }
    None
}

/// The leading decimal number (`123`, `1.5`, `.5`, `2e3`) of `value` as
/// milliseconds; a quoted-string value is unquoted first.
fn parse_millis(value: &[u8]) -> Option<Duration> {
    let unquoted;
    let value = if value.first() == Some(&b'"') {
        unquoted = unquote(value);
        unquoted.as_slice()
    } else {
        value
    };
    let digits = |from: usize| {
        value
            .iter()
            .skip(from)
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let mut end = digits(0);
    let mut has_digit = end > 0;
    if value.get(end) == Some(&b'.') && digits(end + 1) > 0 {
        end += 1 + digits(end + 1);
        has_digit = true;
    }
    if !has_digit {
        return None;
    }
    if matches!(value.get(end), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(value.get(end + 1), Some(b'+' | b'-')));
        let exp = digits(end + 1 + sign);
        if exp > 0 {
            end += 1 + sign + exp;
        }
    }
    let text = std::str::from_utf8(value.get(..end)?).ok()?;
    let millis: f64 = text.parse().ok()?;
    if !millis.is_finite() || millis < 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(millis / 1000.0).ok()
}

/// The content of an HTTP quoted-string starting at `value[0] == '"'`, with
/// backslash escapes resolved; an unterminated string runs to the end.
fn unquote(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut bytes = value.iter().skip(1);
    while let Some(&b) = bytes.next() {
        match b {
            b'"' => break,
            b'\\' => {
                if let Some(&escaped) = bytes.next() {
                    out.push(escaped);
                }
            }
            _ => out.push(b),
        }
    }
    out
}

/// Splits on `sep` where it is not inside a quoted string.
struct SplitOutsideQuotes<'a> {
    rest: Option<&'a [u8]>,
    sep: u8,
}

impl<'a> SplitOutsideQuotes<'a> {
    fn new(value: &'a [u8], sep: u8) -> Self {
        SplitOutsideQuotes {
            rest: Some(value),
            sep,
        }
    }
}

impl<'a> Iterator for SplitOutsideQuotes<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        let mut in_quotes = false;
        let mut escaped = false;
        for (i, &b) in rest.iter().enumerate() {
            if escaped {
                escaped = false;
            } else if in_quotes && b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quotes = !in_quotes;
            } else if !in_quotes && b == self.sep {
                self.rest = rest.get(i + 1..);
                return rest.get(..i);
            }
        }
        self.rest = None;
        Some(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_respects_quotes_and_escapes() {
        let parts: Vec<&[u8]> =
            SplitOutsideQuotes::new(br#"a;desc="x, \"y; z";dur=1, b"#, b',').collect();
        assert_eq!(parts, [&br#"a;desc="x, \"y; z";dur=1"#[..], b" b"]);
    }

    #[test]
    fn millis_follow_the_html_number_rules() {
        assert_eq!(parse_millis(b"53"), Some(Duration::from_millis(53)));
        assert_eq!(parse_millis(b"47.2"), Some(Duration::from_micros(47_200)));
        assert_eq!(parse_millis(b".5"), Some(Duration::from_micros(500)));
        assert_eq!(parse_millis(b"2e3"), Some(Duration::from_secs(2)));
        assert_eq!(parse_millis(b"12ms"), Some(Duration::from_millis(12)));
        assert_eq!(
            parse_millis(br#""7.5""#),
            Some(Duration::from_micros(7_500))
        );
        assert_eq!(parse_millis(b"-1"), None);
        assert_eq!(parse_millis(b"abc"), None);
        assert_eq!(parse_millis(b""), None);
        assert_eq!(parse_millis(b"."), None);
        assert_eq!(parse_millis(b"1e400"), None);
    }

    #[test]
    fn format_pads_the_fraction() {
        assert_eq!(
            format_server_timing(Duration::ZERO).as_str(),
            "observe;dur=0.000"
        );
        assert_eq!(
            format_server_timing(Duration::from_micros(1_005)).as_str(),
            "observe;dur=1.005"
        );
        assert_eq!(
            format_server_timing(Duration::from_nanos(999)).as_str(),
            "observe;dur=0.000"
        );
        // The longest possible value still fits the buffer.
        assert_eq!(
            format_server_timing(Duration::MAX).as_str(),
            "observe;dur=18446744073709551615999.999"
        );
    }
}
