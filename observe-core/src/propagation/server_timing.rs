//! `Server-Timing: observe;dur=<ms>`: the server's own view of how long it took.

use std::time::Duration;

use super::buf::{HeaderBuf, push_decimal};
use super::scan::{Budget, Window, examined};

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

/// How much of a response's `Server-Timing` is read: the first 2048 bytes of the
/// combined header (its values joined by commas). A metric that does not end within
/// them is not read.
pub const SERVER_TIMING_MAX_LEN: usize = 2048;

/// The longest `dur` value read; `18446744073709551615999.999`, the longest
/// [`format_server_timing`] writes, is 27 characters.
const DUR_MAX_LEN: usize = 32;

/// Finds the `dur` of the `observe` metric in a `Server-Timing` header value, which
/// may list several metrics (`miss, db;dur=53, observe;desc="a, b";dur=47.2`).
///
/// Follows the Server Timing specification: metrics are separated by commas and
/// parameters by semicolons outside quoted strings; names compare ASCII
/// case-insensitively; the number is read as the leading decimal number of the
/// value (in milliseconds) and characters after it are ignored. The first `dur` of
/// the first `observe` metric that has one decides: a negative, missing or
/// unreadable duration (or one longer than 32 characters) gives `None`. Reading
/// stops there, and never goes past [`SERVER_TIMING_MAX_LEN`] bytes.
pub fn parse_server_timing(value: &[u8]) -> Option<Duration> {
    let mut parser = ServerTimingParser::new();
    parser.feed(value);
    parser.finish()
}

/// Incremental parser, fed the values of a repeated `Server-Timing` header one by
/// one, within one [`SERVER_TIMING_MAX_LEN`] budget. Each byte is read once; the
/// one `dur` value that decides is read a second time to turn it into a number.
#[derive(Debug)]
pub(crate) struct ServerTimingParser {
    budget: Budget,
    /// `Some` once decided.
    result: Option<Option<Duration>>,
}

impl ServerTimingParser {
    pub(crate) fn new() -> Self {
        ServerTimingParser {
            budget: Budget::new(SERVER_TIMING_MAX_LEN),
            result: None,
        }
    }

    pub(crate) fn feed(&mut self, value: &[u8]) {
        if self.result.is_some() {
            return;
        }
        let (window, whole) = match self.budget.take(value) {
            Window::All(w) => (w, true),
            // The last metric of a cut window may be cut inside its number: it is
            // not read (quotes make the byte after the window no safe guide).
            Window::Part { window, .. } => (window, false),
            Window::Spent => {
                self.result = Some(None);
                return;
            }
        };
        let found = scan(window, whole);
        if found.is_some() || !whole {
            self.result = Some(found.flatten());
        }
    }

    pub(crate) fn finish(self) -> Option<Duration> {
        self.result.flatten()
    }
}

/// A name or value as it is scanned: where its content (without the whitespace
/// around it) starts and ends, and whether that content equals a target, ignoring
/// ASCII case, decided byte by byte so it is never read again.
#[derive(Debug, Clone, Copy)]
struct Field {
    first: Option<usize>,
    last: usize,
    matches: bool,
}

impl Field {
    const EMPTY: Field = Field {
        first: None,
        last: 0,
        matches: false,
    };

    fn push(&mut self, i: usize, b: u8, target: &[u8]) {
        let expected = |at: usize| target.get(at).is_some_and(|t| t.eq_ignore_ascii_case(&b));
        match self.first {
            None => {
                self.first = Some(i);
                self.matches = expected(0);
            }
            // Whitespace between content bytes belongs to the field.
            Some(first) => self.matches = self.matches && i == self.last + 1 && expected(i - first),
        }
        self.last = i;
    }

    fn is(&self, target: &[u8]) -> bool {
        self.first
            .is_some_and(|first| self.matches && self.last + 1 - first == target.len())
    }

    fn get<'a>(&self, w: &'a [u8]) -> &'a [u8] {
        self.first
            .and_then(|first| w.get(first..=self.last))
            .unwrap_or_default()
    }
}

/// Scans one window in a single pass. `Some(result)` once the first `dur` of an
/// `observe` metric is found (reading stops there); `None` when there is none.
/// When `whole` is false the window is cut, and its unfinished last field is not
/// used.
fn scan(w: &[u8], whole: bool) -> Option<Option<Duration>> {
    let mut name = Field::EMPTY;
    let mut param = Field::EMPTY;
    let mut value = Field::EMPTY;
    let mut in_name = true;
    let mut has_eq = false;
    let mut observe = false;
    let mut quoted = false;
    let mut escaped = false;

    // At the end of a field: the metric's name says whether it is ours; in ours,
    // the first `dur` decides.
    let end_field =
        |in_name: bool, observe: &mut bool, name: &Field, param: &Field, value: &Field| {
            if in_name {
                *observe = name.is(SERVER_TIMING_METRIC.as_bytes());
                None
            } else if *observe && param.is(b"dur") {
                let v = value.get(w);
                Some(if v.len() > DUR_MAX_LEN {
                    None
                } else {
                    // Unquoting, scanning the number and converting it read each byte
                    // at most three times.
                    examined(3 * v.len());
                    parse_millis(v)
                })
            } else {
                None
            }
        };

    for (i, &b) in w.iter().enumerate() {
        let content = if escaped {
            escaped = false;
            true
        } else if quoted {
            match b {
                b'\\' => escaped = true,
                b'"' => quoted = false,
                _ => {}
            }
            true
        } else {
            match b {
                b'"' => {
                    quoted = true;
                    true
                }
                b';' | b',' => {
                    if let Some(found) = end_field(in_name, &mut observe, &name, &param, &value) {
                        examined(i + 1);
                        return Some(found);
                    }
                    if b == b',' {
                        in_name = true;
                        observe = false;
                    } else {
                        in_name = false;
                    }
                    (name, param, value) = (Field::EMPTY, Field::EMPTY, Field::EMPTY);
                    has_eq = false;
                    continue;
                }
                b'=' if !in_name && !has_eq => {
                    has_eq = true;
                    continue;
                }
                _ => !b.is_ascii_whitespace(),
            }
        };
        if content {
            if in_name {
                name.push(i, b, SERVER_TIMING_METRIC.as_bytes());
            } else if has_eq {
                value.push(i, b, b"");
            } else {
                param.push(i, b, b"dur");
            }
        }
    }
    examined(w.len());
    if whole {
        end_field(in_name, &mut observe, &name, &param, &value)
    } else {
        None
    }
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
    if value.get(end) == Some(&b'.') {
        let fraction = digits(end + 1);
        if fraction > 0 {
            end += 1 + fraction;
            has_digit = true;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_inside_quoted_strings_do_not_split() {
        assert_eq!(
            parse_server_timing(br#"a;desc="x, \"y; observe;dur=1", observe;dur=2"#),
            Some(Duration::from_millis(2))
        );
    }

    #[test]
    fn a_cut_window_does_not_read_its_last_metric() {
        assert_eq!(scan(b"observe;dur=12", false), None);
        assert_eq!(
            scan(b"observe;dur=12", true),
            Some(Some(Duration::from_millis(12)))
        );
        assert_eq!(
            scan(b"observe;dur=12;", false),
            Some(Some(Duration::from_millis(12)))
        );
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
