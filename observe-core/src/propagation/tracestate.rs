//! `tracestate` (W3C Trace Context Level 2): vendor entries that travel with
//! `traceparent`.

use std::fmt;

use super::reject::{RejectReason, Rejections};
use super::{TRACESTATE, trim_ows};

/// At most this many list members are kept (the specification's maximum).
pub const TRACESTATE_MAX_MEMBERS: usize = 32;

/// The longest combined `tracestate` observe keeps and sends, in bytes (members and
/// the commas between them). The specification asks for at least 512; 4096 keeps
/// every realistic header whole while bounding what one request can make us store
/// and forward.
pub const TRACESTATE_MAX_LEN: usize = 4096;

/// Members longer than this are the first to go when a `tracestate` must be
/// shortened (the specification's truncation rule).
const LARGE_MEMBER: usize = 128;

/// Why a `tracestate` member (or the whole header) was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TraceStateError {
    /// A member has no `=`.
    MissingEquals,
    /// A key is not 1 to 256 of `a-z 0-9 _ - * / @` starting with `a-z` or `0-9`.
    InvalidKey,
    /// A value is not 1 to 256 printable ASCII characters (0x20-0x7E) other than `,`
    /// and `=`, ending in a non-space.
    InvalidValue,
    /// A key appeared again; the first (left-most, most recent) entry is kept.
    DuplicateKey,
    /// More than 32 members: the right-most ones were dropped.
    TooManyMembers,
    /// The combined header was longer than [`TRACESTATE_MAX_LEN`]: whole members were
    /// dropped, those over 128 characters first, then from the end.
    TooLong,
    /// `tracestate` was ignored because there was no valid `traceparent`.
    WithoutTraceparent,
}

impl fmt::Display for TraceStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TraceStateError::MissingEquals => "member dropped: a member is key=value",
            TraceStateError::InvalidKey => {
                "member dropped: a key is 1 to 256 characters of a-z 0-9 _ - * / @, \
                 starting with a-z or 0-9"
            }
            TraceStateError::InvalidValue => {
                "member dropped: a value is 1 to 256 printable ASCII characters \
                 (0x20-0x7E) except ',' and '=', not ending in a space"
            }
            TraceStateError::DuplicateKey => {
                "member dropped: its key already appeared to the left (one entry per key)"
            }
            TraceStateError::TooManyMembers => {
                "member dropped with those after it: at most 32 members are kept"
            }
            TraceStateError::TooLong => {
                "member dropped: the combined tracestate is kept within 4096 bytes \
                 (members over 128 characters go first, then from the end)"
            }
            TraceStateError::WithoutTraceparent => {
                "header ignored: tracestate is only read with a valid traceparent"
            }
        })
    }
}

impl std::error::Error for TraceStateError {}

/// A validated `tracestate`: at most 32 `key=value` members, left-most first, each
/// key once, at most [`TRACESTATE_MAX_LEN`] bytes in all.
///
/// Parsing never fails: invalid members are dropped and valid ones kept, as the
/// specification allows. Keys follow the Level 2 grammar, which accepts simple keys
/// (`congo`) and multi-tenant keys (`tenant@system`) alike. Stored as the canonical
/// header value, so formatting costs nothing.
///
/// ```
/// use observe_core::propagation::TraceState;
///
/// let mut ts = TraceState::parse_all([&b"rojo=00f067aa0ba902b7, congo=t61rcWkgMzE"[..], b"Bad=1"]);
/// assert_eq!(ts.to_string(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
///
/// ts.insert("congo", "ucfJifl5GOE").unwrap(); // updated keys move to the front
/// assert_eq!(ts.as_str(), "congo=ucfJifl5GOE,rojo=00f067aa0ba902b7");
/// assert_eq!(ts.get("rojo"), Some("00f067aa0ba902b7"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct TraceState {
    header: String,
}

impl TraceState {
    /// An empty `tracestate`.
    pub const fn new() -> Self {
        TraceState {
            header: String::new(),
        }
    }

    /// Parses one header value, dropping invalid members.
    pub fn parse(value: &[u8]) -> Self {
        Self::parse_all([value])
    }

    /// Parses the values of a repeated header, combined as if joined with commas,
    /// dropping invalid members.
    pub fn parse_all<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Self {
        Self::parse_reporting(values, &mut Rejections::new())
    }

    /// Like [`parse_all`](Self::parse_all), recording every dropped member.
    pub fn parse_reporting<'a>(
        values: impl IntoIterator<Item = &'a [u8]>,
        rejections: &mut Rejections,
    ) -> Self {
        let mut parser = TraceStateParser::new();
        for value in values {
            parser.feed(value, rejections);
        }
        parser.finish(rejections)
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Sets `key` to `value` and moves it to the front, as the specification requires
    /// of a modified or added entry. When that makes more than 32 members, or more
    /// than [`TRACESTATE_MAX_LEN`] bytes, other members are dropped: for length, those
    /// over 128 characters first, then from the end.
    ///
    /// # Errors
    ///
    /// [`TraceStateError::InvalidKey`] or [`TraceStateError::InvalidValue`]; the
    /// state is then unchanged.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), TraceStateError> {
        if !Self::is_valid_key(key) {
            return Err(TraceStateError::InvalidKey);
        }
        if !Self::is_valid_value(value) {
            return Err(TraceStateError::InvalidValue);
        }
        let new_member = format!("{key}={value}");
        let mut members = Vec::with_capacity(self.len() + 1);
        members.push(new_member.as_str());
        members.extend(self.members().filter(|m| member_key(m) != key));
        members.truncate(TRACESTATE_MAX_MEMBERS);
        shrink_to_limit(&mut members, 1, |_| {});
        self.header = members.join(",");
        Ok(())
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let value = self.get(key)?.to_owned();
        let rest: Vec<&str> = self.members().filter(|m| member_key(m) != key).collect();
        self.header = rest.join(",");
        Some(value)
    }

    /// The members as `(key, value)`, left-most first.
    pub fn iter(&self) -> TraceStateIter<'_> {
        TraceStateIter {
            members: self.header.split(','),
        }
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        if self.header.is_empty() {
            0
        } else {
            self.header.bytes().filter(|&b| b == b',').count() + 1
        }
    }

    /// Whether there are no members. An empty `tracestate` is not sent.
    pub fn is_empty(&self) -> bool {
        self.header.is_empty()
    }

    /// The header value: members joined with `,`, no optional whitespace.
    pub fn as_str(&self) -> &str {
        &self.header
    }

    /// Whether `key` is a valid key (Level 2 grammar): 1 to 256 characters of
    /// `a-z 0-9 _ - * / @`, starting with `a-z` or `0-9`.
    pub fn is_valid_key(key: &str) -> bool {
        valid_key(key.as_bytes())
    }

    /// Whether `value` is a valid value: 1 to 256 printable ASCII characters
    /// (0x20-0x7E) other than `,` and `=`, not ending in a space.
    pub fn is_valid_value(value: &str) -> bool {
        valid_value(value.as_bytes())
    }

    fn members(&self) -> impl Iterator<Item = &str> {
        self.header.split(',').filter(|m| !m.is_empty())
    }
}

impl fmt::Display for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.header)
    }
}

impl fmt::Debug for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceState({:?})", self.header)
    }
}

impl<'a> IntoIterator for &'a TraceState {
    type Item = (&'a str, &'a str);
    type IntoIter = TraceStateIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The members of a [`TraceState`] as `(key, value)`.
#[derive(Debug, Clone)]
pub struct TraceStateIter<'a> {
    members: std::str::Split<'a, char>,
}

impl<'a> Iterator for TraceStateIter<'a> {
    type Item = (&'a str, &'a str);
    fn next(&mut self) -> Option<Self::Item> {
        self.members.by_ref().find_map(|m| m.split_once('='))
    }
}

fn member_key(member: &str) -> &str {
    member.split_once('=').map_or(member, |(k, _)| k)
}

/// `keychar`: `a-z 0-9 _ - * / @`.
static KEY_CHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || matches!(c, b'_' | b'-' | b'*' | b'/' | b'@');
        b += 1;
    }
    table
};

/// `chr`: printable ASCII 0x20-0x7E except `,` and `=`.
static VALUE_CHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0x20;
    while b <= 0x7e {
        table[b] = b != b',' as usize && b != b'=' as usize;
        b += 1;
    }
    table
};

fn valid_key(key: &[u8]) -> bool {
    match key.first() {
        Some(first) => {
            key.len() <= 256
                && (first.is_ascii_lowercase() || first.is_ascii_digit())
                && key.iter().all(|&b| KEY_CHAR[usize::from(b)])
        }
        None => false,
    }
}

fn valid_value(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= 256
        && value.last() != Some(&b' ')
        && value.iter().all(|&b| VALUE_CHAR[usize::from(b)])
}

/// Drops whole members until the combined length fits [`TRACESTATE_MAX_LEN`]: the
/// right-most member over 128 characters first, then the right-most member. The
/// first `keep` members are never dropped.
fn shrink_to_limit(members: &mut Vec<&str>, keep: usize, mut on_drop: impl FnMut(&str)) {
    let mut total =
        members.iter().map(|m| m.len()).sum::<usize>() + members.len().saturating_sub(1);
    while total > TRACESTATE_MAX_LEN && members.len() > keep {
        let victim = members
            .iter()
            .enumerate()
            .skip(keep)
            .rev()
            .find(|(_, m)| m.len() > LARGE_MEMBER)
            .map_or(members.len() - 1, |(i, _)| i);
        let removed = members.remove(victim);
        total = total.saturating_sub(removed.len() + 1);
        on_drop(removed);
    }
}

/// Incremental parser: fed the values of a repeated header one by one. Kept
/// members go straight into the canonical header string.
#[derive(Debug)]
pub(crate) struct TraceStateParser {
    out: String,
    count: usize,
    full: bool,
}

impl TraceStateParser {
    pub(crate) fn new() -> Self {
        TraceStateParser {
            out: String::new(),
            count: 0,
            full: false,
        }
    }

    fn has_key(&self, key: &[u8]) -> bool {
        self.out
            .as_bytes()
            .split(|&b| b == b',')
            .any(|m| m.len() > key.len() && m[key.len()] == b'=' && m.starts_with(key))
    }

    pub(crate) fn feed(&mut self, value: &[u8], rejections: &mut Rejections) {
        if self.full {
            return;
        }
        if self.out.capacity() == 0 {
            self.out.reserve(value.len().min(TRACESTATE_MAX_LEN));
        }
        for raw in value.split(|&b| b == b',') {
            let member = trim_ows(raw);
            if member.is_empty() {
                continue; // empty and whitespace-only members are allowed
            }
            let reject = |rejections: &mut Rejections, e| {
                rejections.push(TRACESTATE, RejectReason::TraceState(e), member);
            };
            if self.count == TRACESTATE_MAX_MEMBERS {
                // The right-most members go: stop reading altogether.
                reject(rejections, TraceStateError::TooManyMembers);
                self.full = true;
                return;
            }
            let Some(eq) = member.iter().position(|&b| b == b'=') else {
                reject(rejections, TraceStateError::MissingEquals);
                continue;
            };
            let (key, value) = (&member[..eq], &member[eq + 1..]);
            if !valid_key(key) {
                reject(rejections, TraceStateError::InvalidKey);
                continue;
            }
            if !valid_value(value) {
                reject(rejections, TraceStateError::InvalidValue);
                continue;
            }
            if self.has_key(key) {
                reject(rejections, TraceStateError::DuplicateKey);
                continue;
            }
            // Validated as printable ASCII above.
            let Ok(text) = std::str::from_utf8(member) else {
                continue;
            };
            if !self.out.is_empty() {
                self.out.push(',');
            }
            self.out.push_str(text);
            self.count += 1;
        }
    }

    pub(crate) fn finish(self, rejections: &mut Rejections) -> TraceState {
        if self.out.len() <= TRACESTATE_MAX_LEN {
            return TraceState { header: self.out };
        }
        let mut members: Vec<&str> = self.out.split(',').collect();
        shrink_to_limit(&mut members, 0, |dropped| {
            rejections.push(
                TRACESTATE,
                RejectReason::TraceState(TraceStateError::TooLong),
                dropped.as_bytes(),
            );
        });
        TraceState {
            header: members.join(","),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_grammar() {
        assert!(valid_key(b"congo"));
        assert!(valid_key(b"1congo"));
        assert!(valid_key(b"tenant@system"));
        assert!(valid_key(&[b'a'; 256]));
        assert!(!valid_key(&[b'a'; 257]));
        assert!(!valid_key(b""));
        assert!(!valid_key(b"_a"));
        assert!(!valid_key(b"@a"));
        assert!(!valid_key(b"Congo"));
        assert!(!valid_key(b"con.go"));
    }

    #[test]
    fn value_grammar() {
        assert!(valid_value(b" leading space kept"));
        assert!(valid_value(&[b'x'; 256]));
        assert!(!valid_value(&[b'x'; 257]));
        assert!(!valid_value(b""));
        assert!(!valid_value(b"trailing "));
        assert!(!valid_value(b"a,b"));
        assert!(!valid_value(b"a=b"));
        assert!(!valid_value(b"tab\t"));
        assert!(!valid_value(b"\x7f"));
    }

    #[test]
    fn shrink_drops_large_members_first_then_from_the_end() {
        let big = "k=".to_owned() + &"v".repeat(200);
        let small = "s=".to_owned() + &"v".repeat(100);
        let mut members: Vec<&str> = vec![small.as_str(); 40];
        members.insert(5, big.as_str());
        let mut dropped = Vec::new();
        shrink_to_limit(&mut members, 0, |m| dropped.push(m.len()));
        assert_eq!(dropped[0], 202, "the large member goes first");
        assert!(dropped[1..].iter().all(|&l| l == 102));
        let total: usize = members.iter().map(|m| m.len()).sum::<usize>() + members.len() - 1;
        assert!(total <= TRACESTATE_MAX_LEN);
        assert_eq!(members.len(), (TRACESTATE_MAX_LEN + 1) / 103);
    }
}
