//! `tracestate` (W3C Trace Context Level 2): vendor entries that travel with
//! `traceparent`.

use std::fmt;

use super::TRACESTATE;
use super::reject::{RejectReason, Rejections};
use super::scan::{Budget, KeyHash, Window, examined};

/// At most this many list members; a `tracestate` with more is invalid as a whole
/// (the specification's grammar allows 32).
pub const TRACESTATE_MAX_MEMBERS: usize = 32;

/// How much of a `tracestate` observe reads and keeps: the first 512 characters of
/// the combined header (its values joined by commas, whitespace included), the
/// length the specification asks every vendor to propagate. Members that do not
/// end within them are dropped unread, whole; [`TraceState::insert`] keeps the
/// state within the same length.
pub const TRACESTATE_MAX_LEN: usize = 512;

/// Members longer than this are the first to go when [`TraceState::insert`] must
/// shorten a `tracestate` (the specification's truncation rule).
const LARGE_MEMBER: usize = 128;

/// Why a `tracestate` was discarded, shortened or ignored (on parse), or why an
/// entry was refused (on [`TraceState::insert`]).
///
/// Parsing follows the specification at the strictness of the official W3C test
/// suite: a member with a bad key or value, a member without `=`, a key that
/// appears twice, or more than 32 members make the whole header invalid, and it is
/// discarded (reported once, with the first offending member).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TraceStateError {
    /// A member has no `=`: the header was discarded.
    MissingEquals,
    /// A key is not a simple key (`a-z`, then up to 255 of `a-z 0-9 _ - * /`) or a
    /// multi-tenant key `tenant@system` (a tenant of 1 to 241 characters starting
    /// with `a-z` or `0-9`, a system of 1 to 14 starting with `a-z`): the header was
    /// discarded.
    InvalidKey,
    /// A value is not 1 to 256 printable ASCII characters (0x20-0x7E) other than `,`
    /// and `=`, ending in a non-space: the header was discarded.
    InvalidValue,
    /// A key appeared twice: the header was discarded.
    DuplicateKey,
    /// More than 32 members: the header was discarded.
    TooManyMembers,
    /// The combined header was longer than [`TRACESTATE_MAX_LEN`]: the members that
    /// do not end within it were dropped, unread. The members before them are kept.
    TooLong,
    /// `tracestate` was ignored because there was no valid `traceparent`.
    WithoutTraceparent,
}

impl fmt::Display for TraceStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TraceStateError::MissingEquals => {
                "header discarded: a member has no '=' (a member is key=value)"
            }
            TraceStateError::InvalidKey => {
                "invalid key: a key is a-z followed by up to 255 of a-z 0-9 _ - * /, or \
                 tenant@system (tenant: 1 to 241 characters starting with a-z or 0-9; \
                 system: 1 to 14 starting with a-z); an invalid member discards the header"
            }
            TraceStateError::InvalidValue => {
                "invalid value: a value is 1 to 256 printable ASCII characters \
                 (0x20-0x7E) except ',' and '=', not ending in a space; an invalid member \
                 discards the header"
            }
            TraceStateError::DuplicateKey => {
                "header discarded: a key appears twice (one entry per key)"
            }
            TraceStateError::TooManyMembers => "header discarded: more than 32 members",
            TraceStateError::TooLong => {
                "members dropped unread: only the first 512 characters of tracestate \
                 are read (whole members, the members before them kept)"
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
/// Parsing never fails, and follows the specification at the strictness of the
/// official W3C test suite: a header with one invalid member, a duplicated key or
/// more than 32 members is invalid as a whole and gives an empty state. Keys are
/// simple keys (`congo`) or multi-tenant keys (`tenant@system`), with the lengths
/// the suite checks. Only the first [`TRACESTATE_MAX_LEN`] characters of the
/// combined header are read; members that do not end within them are dropped
/// whole. Stored as the canonical header value, so formatting costs nothing.
///
/// ```
/// use observe_core::propagation::TraceState;
///
/// let mut ts = TraceState::parse_all([&b"rojo=00f067aa0ba902b7, congo=t61rcWkgMzE"[..], b""]);
/// assert_eq!(ts.to_string(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
/// assert!(TraceState::parse(b"rojo=1,Bad=1").is_empty(), "one invalid member discards all");
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

    /// Parses one header value; empty when it is invalid.
    pub fn parse(value: &[u8]) -> Self {
        Self::parse_all([value])
    }

    /// Parses the values of a repeated header, combined as if joined with commas;
    /// empty when the combination is invalid.
    pub fn parse_all<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Self {
        Self::parse_reporting(values, &mut Rejections::new())
    }

    /// Like [`parse_all`](Self::parse_all), recording why the header was discarded
    /// or shortened.
    pub fn parse_reporting<'a>(
        values: impl IntoIterator<Item = &'a [u8]>,
        rejections: &mut Rejections,
    ) -> Self {
        let mut parser = TraceStateParser::new();
        for value in values {
            parser.feed(value, rejections);
        }
        parser.finish()
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

    /// Whether `key` is a valid key: a simple key (`a-z`, then up to 255 of
    /// `a-z 0-9 _ - * /`) or `tenant@system` (a tenant of 1 to 241 of those
    /// characters starting with `a-z` or `0-9`, a system of 1 to 14 starting with
    /// `a-z`). This is the grammar the official W3C test suite checks (Level 1's);
    /// the Level 2 draft's looser one would accept keys the suite requires to be
    /// refused, such as `foo@bar@baz`.
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

/// The characters of a key after its first, other than `@`: `a-z 0-9 _ - * /`.
static KEY_CHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] =
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'*' | b'/');
        b += 1;
    }
    table
};

/// `nblk-chr`: printable ASCII 0x21-0x7E except `,` and `=` (a value is these and
/// spaces, ending in one of these).
static VALUE_CHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0x21;
    while b <= 0x7e {
        table[b] = b != b',' as usize && b != b'=' as usize;
        b += 1;
    }
    table
};

/// The lengths and first characters of a key whose characters are all
/// [`KEY_CHAR`] but for at most one `@`, at `at`.
fn key_shape(key: &[u8], at: Option<usize>) -> bool {
    match at {
        None => key.len() <= 256 && key.first().is_some_and(u8::is_ascii_lowercase),
        Some(at) => {
            let tenant = key.get(..at).unwrap_or_default();
            let system = key.get(at + 1..).unwrap_or_default();
            tenant.len() <= 241
                && tenant
                    .first()
                    .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && system.len() <= 14
                && system.first().is_some_and(u8::is_ascii_lowercase)
        }
    }
}

fn valid_key(key: &[u8]) -> bool {
    let mut at = None;
    for (i, &b) in key.iter().enumerate() {
        if b == b'@' && at.is_none() {
            at = Some(i);
        } else if !KEY_CHAR[usize::from(b)] {
            return false;
        }
    }
    key_shape(key, at)
}

fn valid_value(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= 256
        && value.last() != Some(&b' ')
        && value
            .iter()
            .all(|&b| b == b' ' || VALUE_CHAR[usize::from(b)])
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

/// One member as scanned: where it starts (after optional whitespace) and ends
/// (at its `,` or the end of the window), and what it is.
#[derive(Debug)]
struct Scanned {
    start: usize,
    end: usize,
    outcome: Outcome,
}

#[derive(Debug)]
enum Outcome {
    /// Empty or whitespace only (allowed, and not a member).
    Empty,
    Invalid(TraceStateError),
    Valid {
        key_end: usize,
        value_end: usize,
        hash: u64,
    },
}

/// Scans the member that starts at `from` in a single forward pass that reads each
/// byte once, up to its `,` (included) or the end of `w`.
fn scan_member(w: &[u8], from: usize) -> Scanned {
    let len = w.len();
    let byte = |i: usize| w.get(i).copied();
    let mut i = from;
    while matches!(byte(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    let start = i;
    let done = |i: usize, outcome| {
        examined(i - from + usize::from(i < len));
        Scanned {
            start,
            end: i,
            outcome,
        }
    };
    if matches!(byte(i), None | Some(b',')) {
        return done(i, Outcome::Empty);
    }

    let mut error = None;
    let mut hash = KeyHash::new();
    let mut at = None;
    while let Some(b) = byte(i) {
        if b == b'=' || b == b',' {
            break;
        }
        if b == b'@' && at.is_none() {
            at = Some(i - start);
        } else if !KEY_CHAR[usize::from(b)] {
            error = Some(TraceStateError::InvalidKey);
        }
        hash.feed(b);
        i += 1;
    }
    let key_end = i;
    if error.is_none() && !key_shape(w.get(start..key_end).unwrap_or_default(), at) {
        error = Some(TraceStateError::InvalidKey);
    }
    if byte(i) != Some(b'=') {
        return done(
            i,
            Outcome::Invalid(error.unwrap_or(TraceStateError::MissingEquals)),
        );
    }
    i += 1;

    // value = 0*255(chr) nblk-chr, then optional whitespace (spaces and tabs).
    let value_start = i;
    let mut value_end = i;
    let mut tab = false;
    while let Some(b) = byte(i) {
        match b {
            b',' => break,
            b' ' => {}
            b'\t' => tab = true,
            _ if VALUE_CHAR[usize::from(b)] && !tab => value_end = i + 1,
            _ => {
                error.get_or_insert(TraceStateError::InvalidValue);
            }
        }
        i += 1;
    }
    if !(1..=256).contains(&(value_end - value_start)) {
        error.get_or_insert(TraceStateError::InvalidValue);
    }
    done(
        i,
        match error {
            Some(e) => Outcome::Invalid(e),
            None => Outcome::Valid {
                key_end,
                value_end,
                hash: hash.get(),
            },
        },
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParseState {
    Reading,
    /// The budget is spent: what was kept stays.
    Done,
    /// The header is invalid as a whole.
    Discarded,
}

/// A kept member's key: its hash, where it starts in the output, its length.
#[derive(Debug, Clone, Copy, Default)]
struct KeptKey {
    hash: u64,
    start: u16,
    len: u16,
}

/// Incremental parser, fed the values of a repeated header one by one. Reads at
/// most [`TRACESTATE_MAX_LEN`] bytes (plus one to see whether the last member read
/// ends there) of the combination, each once, and stops at the first invalid
/// member. Kept members go straight into the canonical header string; a new key is
/// checked against the kept ones by hash, its bytes compared only when the hashes
/// are equal.
#[derive(Debug)]
pub(crate) struct TraceStateParser {
    out: String,
    keys: [KeptKey; TRACESTATE_MAX_MEMBERS],
    count: usize,
    budget: Budget,
    state: ParseState,
}

impl TraceStateParser {
    pub(crate) fn new() -> Self {
        TraceStateParser {
            out: String::new(),
            keys: [KeptKey::default(); TRACESTATE_MAX_MEMBERS],
            count: 0,
            budget: Budget::new(TRACESTATE_MAX_LEN),
            state: ParseState::Reading,
        }
    }

    fn discard(&mut self, error: TraceStateError, member: &[u8], rejections: &mut Rejections) {
        rejections.push(TRACESTATE, RejectReason::TraceState(error), member);
        self.out = String::new();
        self.count = 0;
        self.state = ParseState::Discarded;
    }

    fn truncate(&mut self, unread: &[u8], rejections: &mut Rejections) {
        rejections.push(
            TRACESTATE,
            RejectReason::TraceState(TraceStateError::TooLong),
            unread,
        );
        self.state = ParseState::Done;
    }

    fn has_key(&self, key: &[u8], hash: u64) -> bool {
        self.keys[..self.count].iter().any(|kept| {
            kept.hash == hash && usize::from(kept.len) == key.len() && {
                examined(key.len());
                let start = usize::from(kept.start);
                self.out.as_bytes().get(start..start + key.len()) == Some(key)
            }
        })
    }

    pub(crate) fn feed(&mut self, value: &[u8], rejections: &mut Rejections) {
        if self.state != ParseState::Reading {
            return;
        }
        let (window, last_is_whole) = match self.budget.take(value) {
            Window::All(w) => (w, true),
            Window::Part {
                window,
                ends_at_separator,
            } => (window, ends_at_separator),
            Window::Spent => {
                if !value.is_empty() {
                    self.truncate(b"", rejections);
                }
                self.state = ParseState::Done;
                return;
            }
        };
        let mut from = 0;
        loop {
            let m = scan_member(window, from);
            let member = window.get(m.start..m.end).unwrap_or_default();
            let at_end = m.end >= window.len();
            if at_end && !last_is_whole {
                // The member runs past what is read: it and the rest are dropped.
                self.truncate(member, rejections);
                return;
            }
            match m.outcome {
                Outcome::Empty => {}
                Outcome::Invalid(e) => return self.discard(e, member, rejections),
                Outcome::Valid {
                    key_end,
                    value_end,
                    hash,
                } => {
                    let key = window.get(m.start..key_end).unwrap_or_default();
                    if self.count == TRACESTATE_MAX_MEMBERS {
                        return self.discard(TraceStateError::TooManyMembers, member, rejections);
                    }
                    if self.has_key(key, hash) {
                        return self.discard(TraceStateError::DuplicateKey, member, rejections);
                    }
                    // Printable ASCII, checked by the scan.
                    let Ok(text) =
                        std::str::from_utf8(window.get(m.start..value_end).unwrap_or_default())
                    else {
                        return self.discard(TraceStateError::InvalidValue, member, rejections);
                    };
                    if !self.out.is_empty() {
                        self.out.push(',');
                    }
                    self.keys[self.count] = KeptKey {
                        hash,
                        start: self.out.len() as u16,
                        len: key.len() as u16,
                    };
                    self.out.push_str(text);
                    self.count += 1;
                }
            }
            if at_end {
                break;
            }
            from = m.end + 1;
        }
        if window.len() < value.len() {
            // The window ended where a member ended; the rest is not read.
            self.truncate(b"", rejections);
        }
    }

    pub(crate) fn finish(self) -> TraceState {
        match self.state {
            ParseState::Discarded => TraceState::new(),
            ParseState::Reading | ParseState::Done => TraceState { header: self.out },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_grammar() {
        assert!(valid_key(b"congo"));
        assert!(!valid_key(b"1congo"), "a simple key starts with a-z");
        assert!(valid_key(b"tenant@system"));
        assert!(valid_key(b"1tenant@system"));
        assert!(valid_key(&[b'a'; 256]));
        assert!(!valid_key(&[b'a'; 257]));
        assert!(!valid_key(b""));
        assert!(!valid_key(b"_a"));
        assert!(!valid_key(b"@a"));
        assert!(!valid_key(b"a@"));
        assert!(!valid_key(b"a@@b"));
        assert!(!valid_key(b"a@b@c"));
        assert!(!valid_key(b"a@1b"));
        assert!(!valid_key(b"Congo"));
        assert!(!valid_key(b"con.go"));
        let t241 = [b't'; 241];
        assert!(valid_key(&[&t241[..], b"@", &[b'v'; 14]].concat()));
        assert!(!valid_key(&[&t241[..], b"t@v"].concat()));
        assert!(!valid_key(&[&b"t@"[..], &[b'v'; 15]].concat()));
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
