//! `baggage` (W3C Baggage): user-defined `key=value;properties` members that travel
//! with a request to internal hosts.

use std::fmt;

use percent_encoding::{AsciiSet, CONTROLS, percent_decode, utf8_percent_encode};

use super::BAGGAGE;
use super::reject::{RejectReason, Rejections};
use super::scan::{Budget, Window, examined};

/// At most this many members are kept and sent: the most the specification's
/// grammar allows (it requires at least 64 to be propagated). The members after
/// the 180th are dropped whole, unread.
pub const BAGGAGE_MAX_MEMBERS: usize = 180;

/// At most this many bytes of `baggage` are read, kept and sent (the
/// specification requires at least 8192 to be propagated). Inbound, only the first
/// 8192 bytes of the combined header (its values joined by commas, whitespace
/// included) are read, and a member that does not end within them is dropped
/// whole. What is kept, and what [`Baggage::insert`] allows, is measured on the
/// header observe sends (members percent-encoded, and the commas between them).
pub const BAGGAGE_MAX_BYTES: usize = 8192;

/// What is percent-encoded in a value on output: everything outside the
/// specification's `baggage-octet` (controls, space, `"`, `,`, `;`, `\`, DEL,
/// non-ASCII), `%` itself, and `=`, which the specification allows raw but some
/// parsers still take for a separator.
const VALUE_ENCODE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b',')
    .add(b';')
    .add(b'\\')
    .add(b'%')
    .add(b'=');

/// The bytes [`VALUE_ENCODE`] percent-encodes, plus every non-ASCII byte: what
/// makes a value three bytes longer per byte on the wire.
static ENCODED: [bool; 256] = {
    let mut table = [true; 256];
    let mut b = 0x21;
    while b <= 0x7e {
        table[b] = matches!(b as u8, b'"' | b',' | b';' | b'\\' | b'%' | b'=');
        b += 1;
    }
    table
};

/// The length of `value` percent-encoded with [`VALUE_ENCODE`].
fn encoded_value_len(value: &str) -> usize {
    value.len() + 2 * value.bytes().filter(|&b| ENCODED[usize::from(b)]).count()
}

/// Why a `baggage` member was rejected (on parse) or refused (on insert).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BaggageError {
    /// A member has no `=`.
    MissingEquals,
    /// A key is not an HTTP token: one or more letters, digits and
    /// ``!#$%&'*+-.^_`|~``.
    InvalidKey,
    /// A value has a character outside `baggage-octet` (printable ASCII except space,
    /// `"`, `,`, `;` and `\`); anything else must be percent-encoded.
    InvalidValue,
    /// A property is not `token` or `token=value` with a `baggage-octet` value.
    InvalidProperty,
    /// More than [`BAGGAGE_MAX_MEMBERS`] members: this one and those after it were
    /// dropped, unread.
    TooManyMembers,
    /// The baggage would exceed [`BAGGAGE_MAX_BYTES`], as sent or as received: this
    /// member and those after it were dropped (the bytes after the first 8192
    /// received are not read). On insert: the member alone is larger than that.
    TooLarge,
}

impl fmt::Display for BaggageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BaggageError::MissingEquals => "member dropped: a member is key=value[;properties]",
            BaggageError::InvalidKey => {
                "invalid key: a key is an HTTP token (letters, digits and !#$%&'*+-.^_`|~)"
            }
            BaggageError::InvalidValue => {
                "member dropped: a value is printable ASCII except space, '\"', ',', ';' \
                 and '\\'; other characters must be percent-encoded"
            }
            BaggageError::InvalidProperty => {
                "member dropped: a property is token or token=value (value as for members)"
            }
            BaggageError::TooManyMembers => {
                "member dropped with those after it: at most 180 members are kept"
            }
            BaggageError::TooLarge => {
                "member dropped with those after it: baggage is read and kept within \
                 8192 bytes"
            }
        })
    }
}

impl std::error::Error for BaggageError {}

/// One `baggage` member: a key, its percent-decoded value, and its properties.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BaggageMember {
    /// key, decoded value and properties, one after the other.
    text: String,
    key_len: usize,
    value_len: usize,
}

impl BaggageMember {
    /// A member without properties: `key` must be an HTTP token (it is written
    /// as is), `value` is any string (percent-encoded on output).
    ///
    /// # Errors
    /// [`BaggageError::InvalidKey`] when `key` is not an HTTP token (a `,`, `=`,
    /// space or control character in it would forge other members);
    /// [`BaggageError::TooLarge`] when the member alone exceeds
    /// [`BAGGAGE_MAX_BYTES`].
    ///
    /// ```
    /// use observe_core::propagation::BaggageMember;
    ///
    /// let m = BaggageMember::new("tenant", "acme corp").unwrap();
    /// assert_eq!(m.to_string(), "tenant=acme%20corp");
    /// assert!(BaggageMember::new("a,observe.user_id", "admin").is_err());
    /// ```
    pub fn new(key: &str, value: &str) -> Result<Self, BaggageError> {
        if !valid_token(key.as_bytes()) {
            return Err(BaggageError::InvalidKey);
        }
        let member = BaggageMember::from_parts(key, value, "");
        if member.encoded_len() > BAGGAGE_MAX_BYTES {
            return Err(BaggageError::TooLarge);
        }
        Ok(member)
    }

    pub(crate) fn from_parts(key: &str, value: &str, properties: &str) -> Self {
        let mut text = String::with_capacity(key.len() + value.len() + properties.len());
        text.push_str(key);
        text.push_str(value);
        text.push_str(properties);
        BaggageMember {
            text,
            key_len: key.len(),
            value_len: value.len(),
        }
    }

    /// The key (an HTTP token).
    pub fn key(&self) -> &str {
        self.text.get(..self.key_len).unwrap_or_default()
    }

    /// The value, percent-decoded. Percent-encoded bytes that are not UTF-8 have
    /// become U+FFFD, as the specification requires.
    pub fn value(&self) -> &str {
        self.text
            .get(self.key_len..self.key_len + self.value_len)
            .unwrap_or_default()
    }

    /// The properties as received, `;`-separated without the leading `;`, with the
    /// optional whitespace around them removed and nothing decoded (the
    /// specification gives them no meaning). Empty when there are none.
    pub fn properties(&self) -> &str {
        self.text
            .get(self.key_len + self.value_len..)
            .unwrap_or_default()
    }

    /// The member's length in the header observe sends.
    pub fn encoded_len(&self) -> usize {
        let props = self.properties();
        self.key_len
            + 1
            + encoded_value_len(self.value())
            + if props.is_empty() { 0 } else { 1 + props.len() }
    }

    fn write_to(&self, out: &mut String) {
        out.push_str(self.key());
        out.push('=');
        let value = self.value();
        if value.bytes().any(|b| ENCODED[usize::from(b)]) {
            for chunk in utf8_percent_encode(value, VALUE_ENCODE) {
                out.push_str(chunk);
            }
        } else {
            out.push_str(value);
        }
        let props = self.properties();
        if !props.is_empty() {
            out.push(';');
            out.push_str(props);
        }
    }
}

impl fmt::Display for BaggageMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())?;
        f.write_str("=")?;
        for chunk in utf8_percent_encode(self.value(), VALUE_ENCODE) {
            f.write_str(chunk)?;
        }
        let props = self.properties();
        if !props.is_empty() {
            f.write_str(";")?;
            f.write_str(props)?;
        }
        Ok(())
    }
}

impl fmt::Debug for BaggageMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BaggageMember")
            .field("key", &self.key())
            .field("value", &self.value())
            .field("properties", &self.properties())
            .finish()
    }
}

/// W3C baggage: `key=value;properties` members, values percent-decoded.
///
/// Parsing never fails: invalid members are dropped and the valid ones kept;
/// beyond [`BAGGAGE_MAX_MEMBERS`] members or [`BAGGAGE_MAX_BYTES`] bytes the rest
/// is dropped by whole members, never split, and not read. Duplicate keys are kept in order as
/// received (the specification allows them); [`get`](Self::get) returns the first,
/// [`insert`](Self::insert) and [`remove`](Self::remove) act on all.
///
/// ```
/// use observe_core::propagation::{Baggage, keys};
///
/// let mut bag = Baggage::parse(b"userId=Am%C3%A9lie, serverNode = DF%2028;dc=atl, bad key=1");
/// assert_eq!(bag.get("userId"), Some("Amélie"));
/// assert_eq!(bag.len(), 2);
///
/// bag.insert(keys::USER_ID, "u 42").unwrap();
/// assert_eq!(bag.to_string(), "observe.user_id=u%2042,userId=Am%C3%A9lie,serverNode=DF%2028;dc=atl");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Baggage {
    members: Vec<BaggageMember>,
}

impl Baggage {
    /// An empty baggage.
    pub const fn new() -> Self {
        Baggage {
            members: Vec::new(),
        }
    }

    /// Parses one header value, dropping invalid members.
    pub fn parse(value: &[u8]) -> Self {
        Self::parse_all([value])
    }

    /// Parses the values of a repeated header, combined as if joined with commas;
    /// the limits apply to the combination.
    pub fn parse_all<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Self {
        Self::parse_reporting(values, &mut Rejections::new())
    }

    /// Like [`parse_all`](Self::parse_all), recording every dropped member.
    pub fn parse_reporting<'a>(
        values: impl IntoIterator<Item = &'a [u8]>,
        rejections: &mut Rejections,
    ) -> Self {
        let mut parser = BaggageParser::new();
        for value in values {
            parser.feed(value, rejections);
        }
        parser.finish()
    }

    /// The (decoded) value of the first member with `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.members
            .iter()
            .find(|m| m.key() == key)
            .map(BaggageMember::value)
    }

    /// Sets `key` to `value` (any string; it is percent-encoded on output), replacing
    /// every member with that key, and puts it first. If the baggage then exceeds
    /// [`BAGGAGE_MAX_MEMBERS`] or [`BAGGAGE_MAX_BYTES`], members are dropped from the
    /// end, so the entries a service sets itself survive and inbound ones go first.
    ///
    /// # Errors
    ///
    /// [`BaggageError::InvalidKey`] if `key` is not an HTTP token;
    /// [`BaggageError::TooLarge`] if the member alone exceeds [`BAGGAGE_MAX_BYTES`].
    /// The baggage is then unchanged.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), BaggageError> {
        if !valid_token(key.as_bytes()) {
            return Err(BaggageError::InvalidKey);
        }
        let member = BaggageMember::from_parts(key, value, "");
        if member.encoded_len() > BAGGAGE_MAX_BYTES {
            return Err(BaggageError::TooLarge);
        }
        self.members.retain(|m| m.key() != key);
        self.members.insert(0, member);
        self.members.truncate(BAGGAGE_MAX_MEMBERS);
        while self.encoded_len() > BAGGAGE_MAX_BYTES && self.members.len() > 1 {
            self.members.pop();
        }
        Ok(())
    }

    /// Appends `member` (duplicates kept, in order) when the baggage stays within
    /// [`BAGGAGE_MAX_MEMBERS`] and [`BAGGAGE_MAX_BYTES`]; `false` (unchanged)
    /// otherwise.
    pub(crate) fn push_within_limits(&mut self, member: BaggageMember) -> bool {
        let separator = usize::from(!self.members.is_empty());
        if self.members.len() >= BAGGAGE_MAX_MEMBERS
            || self.encoded_len() + separator + member.encoded_len() > BAGGAGE_MAX_BYTES
        {
            return false;
        }
        self.members.push(member);
        true
    }

    /// Removes every member with `key`, returning the first one's value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let value = self.get(key)?.to_owned();
        self.members.retain(|m| m.key() != key);
        Some(value)
    }

    /// The members, in header order.
    pub fn iter(&self) -> std::slice::Iter<'_, BaggageMember> {
        self.members.iter()
    }

    /// Feature flags: members whose key starts with [`keys::FLAG_PREFIX`], as
    /// `(flag name, value)`.
    ///
    /// [`keys::FLAG_PREFIX`]: super::keys::FLAG_PREFIX
    pub fn feature_flags(&self) -> impl Iterator<Item = (&str, &str)> {
        self.members.iter().filter_map(|m| {
            m.key()
                .strip_prefix(super::keys::FLAG_PREFIX)
                .filter(|name| !name.is_empty())
                .map(|name| (name, m.value()))
        })
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there are no members. An empty baggage is not sent.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The length of [`to_header_value`](Self::to_header_value) in bytes.
    pub fn encoded_len(&self) -> usize {
        self.members
            .iter()
            .map(BaggageMember::encoded_len)
            .sum::<usize>()
            + self.members.len().saturating_sub(1)
    }

    /// The header value: members joined with `,`, values percent-encoded.
    pub fn to_header_value(&self) -> String {
        let mut out = String::with_capacity(self.encoded_len());
        for (i, member) in self.members.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            member.write_to(&mut out);
        }
        out
    }

    /// Whether `key` is a valid baggage key (an HTTP token).
    pub fn is_valid_key(key: &str) -> bool {
        valid_token(key.as_bytes())
    }
}

impl fmt::Display for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, member) in self.members.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            member.fmt(f)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.members).finish()
    }
}

impl<'a> IntoIterator for &'a Baggage {
    type Item = &'a BaggageMember;
    type IntoIter = std::slice::Iter<'a, BaggageMember>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Byte classes of the baggage grammar.
const TCHAR: u8 = 1;
const OCTET: u8 = 2;

static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        // RFC 7230 `tchar`.
        if c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            )
        {
            table[b] |= TCHAR;
        }
        // The specification's `baggage-octet`.
        if matches!(c, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e) {
            table[b] |= OCTET;
        }
        b += 1;
    }
    table
};

fn valid_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| CLASS[usize::from(b)] & TCHAR != 0)
}

#[cfg(test)]
fn is_baggage_octet(b: u8) -> bool {
    CLASS[usize::from(b)] & OCTET != 0
}

/// A cursor over the members of a window: the grammar is read in a single forward
/// pass, and a member ends at its `,` (which no part of a member may contain).
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// The byte here, or `None` at the end of the member.
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied().filter(|&b| b != b',')
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    /// The run of bytes of `class` from here.
    fn take(&mut self, class: u8) -> &'a [u8] {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|b| CLASS[usize::from(b)] & class != 0)
        {
            self.at += 1;
        }
        self.bytes.get(start..self.at).unwrap_or_default()
    }

    /// Moves to the end of the member; whether an `=` comes before the first `;`
    /// on the way.
    fn skip_member(&mut self) -> bool {
        let mut eq = false;
        let mut semicolon = false;
        while let Some(b) = self.peek() {
            eq |= b == b'=' && !semicolon;
            semicolon |= b == b';';
            self.at += 1;
        }
        eq
    }
}

/// One member as scanned: where it starts (after optional whitespace) and ends (at
/// its `,` or the end of the window), and what it is (`None`: empty).
struct Scanned {
    start: usize,
    end: usize,
    member: Option<Result<BaggageMember, BaggageError>>,
}

/// Scans the member that starts at `from` in `w`, reading each byte once, and
/// parses it into a single buffer: key, decoded value, normalized properties.
fn scan_member(w: &[u8], from: usize) -> Scanned {
    let mut c = Cursor { bytes: w, at: from };
    c.skip_ows();
    let start = c.at;
    let member = if c.peek().is_none() {
        None
    } else {
        let parsed = parse_member(&mut c);
        if parsed.is_err() {
            let eq = c.skip_member();
            Some(parsed.map_err(|e| match e {
                // Something other than a token before the `=`, if there is one.
                BaggageError::MissingEquals if eq => BaggageError::InvalidKey,
                e => e,
            }))
        } else {
            Some(parsed)
        }
    };
    examined(c.at - from + usize::from(c.at < w.len()));
    Scanned {
        start,
        end: c.at,
        member,
    }
}

/// Parses the member at the cursor (not empty, optional whitespace skipped). On
/// error the cursor is left where the error was found.
fn parse_member(c: &mut Cursor<'_>) -> Result<BaggageMember, BaggageError> {
    let key = c.take(TCHAR);
    c.skip_ows();
    match c.peek() {
        Some(b'=') if !key.is_empty() => c.at += 1,
        _ => return Err(BaggageError::MissingEquals),
    }
    c.skip_ows();
    let value = c.take(OCTET);
    c.skip_ows();
    if !matches!(c.peek(), None | Some(b';')) {
        return Err(BaggageError::InvalidValue);
    }

    let mut text = Vec::with_capacity(key.len() + value.len());
    text.extend_from_slice(key);
    if value.contains(&b'%') {
        text.extend(percent_decode(value));
    } else {
        text.extend_from_slice(value);
    }
    let value_end = text.len();

    // properties: *( OWS ";" OWS ( token OWS "=" OWS value / token OWS ) )
    while c.peek() == Some(b';') {
        c.at += 1;
        c.skip_ows();
        if matches!(c.peek(), None | Some(b';')) {
            continue; // an empty property is tolerated and dropped
        }
        let name = c.take(TCHAR);
        c.skip_ows();
        let prop_value = if c.peek() == Some(b'=') {
            c.at += 1;
            c.skip_ows();
            let v = c.take(OCTET);
            c.skip_ows();
            Some(v)
        } else {
            None
        };
        if name.is_empty() || !matches!(c.peek(), None | Some(b';')) {
            return Err(BaggageError::InvalidProperty);
        }
        if text.len() > value_end {
            text.push(b';');
        }
        text.extend_from_slice(name);
        if let Some(v) = prop_value {
            text.push(b'=');
            text.extend_from_slice(v);
        }
    }

    let key_len = key.len();
    match String::from_utf8(text) {
        Ok(text) => Ok(BaggageMember {
            text,
            key_len,
            value_len: value_end - key_len,
        }),
        Err(e) => {
            // Only the decoded value can be other than ASCII: percent-encoded bytes
            // that are not UTF-8 become U+FFFD.
            let bytes = e.into_bytes();
            let key = std::str::from_utf8(bytes.get(..key_len).unwrap_or_default())
                .map_err(|_| BaggageError::InvalidKey)?;
            let value = String::from_utf8_lossy(bytes.get(key_len..value_end).unwrap_or_default());
            let properties =
                std::str::from_utf8(bytes.get(value_end..).unwrap_or_default()).unwrap_or_default();
            Ok(BaggageMember::from_parts(key, &value, properties))
        }
    }
}

/// Incremental parser, fed the values of a repeated header one by one. Reads at
/// most [`BAGGAGE_MAX_BYTES`] of the combination (plus one byte to see whether the
/// last member read ends there), each byte once, and stops at the first member
/// over a limit.
#[derive(Debug)]
pub(crate) struct BaggageParser {
    members: Vec<BaggageMember>,
    encoded_len: usize,
    budget: Budget,
    done: bool,
}

impl BaggageParser {
    pub(crate) fn new() -> Self {
        BaggageParser {
            members: Vec::new(),
            encoded_len: 0,
            budget: Budget::new(BAGGAGE_MAX_BYTES),
            done: false,
        }
    }

    fn stop(&mut self, error: BaggageError, input: &[u8], rejections: &mut Rejections) {
        rejections.push(BAGGAGE, RejectReason::Baggage(error), input);
        self.done = true;
    }

    pub(crate) fn feed(&mut self, value: &[u8], rejections: &mut Rejections) {
        if self.done {
            return;
        }
        let (window, last_is_whole) = match self.budget.take(value) {
            Window::All(w) => (w, true),
            Window::Part {
                window,
                ends_at_separator,
            } => (window, ends_at_separator),
            Window::Spent => {
                if value.is_empty() {
                    self.done = true;
                } else {
                    self.stop(BaggageError::TooLarge, b"", rejections);
                }
                return;
            }
        };
        let mut from = 0;
        loop {
            let m = scan_member(window, from);
            let input = window.get(m.start..m.end).unwrap_or_default();
            let at_end = m.end >= window.len();
            if at_end && !last_is_whole {
                // The member runs past what is read: it and the rest are dropped.
                return self.stop(BaggageError::TooLarge, input, rejections);
            }
            match m.member {
                None => {}
                Some(Err(e)) => rejections.push(BAGGAGE, RejectReason::Baggage(e), input),
                Some(Ok(parsed)) => {
                    if self.members.len() == BAGGAGE_MAX_MEMBERS {
                        return self.stop(BaggageError::TooManyMembers, input, rejections);
                    }
                    let added = parsed.encoded_len() + usize::from(!self.members.is_empty());
                    if self.encoded_len + added > BAGGAGE_MAX_BYTES {
                        // Truncate by whole members: this one and everything after it.
                        return self.stop(BaggageError::TooLarge, input, rejections);
                    }
                    self.encoded_len += added;
                    self.members.push(parsed);
                }
            }
            if at_end {
                break;
            }
            from = m.end + 1;
        }
        if window.len() < value.len() {
            // The window ended where a member ended; the rest is not read.
            self.stop(BaggageError::TooLarge, b"", rejections);
        }
    }

    pub(crate) fn finish(self) -> Baggage {
        Baggage {
            members: self.members,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert!(valid_token(b"observe.user_id"));
        assert!(valid_token(b"A-Z!#$%&'*+.^_`|~09"));
        assert!(!valid_token(b""));
        assert!(!valid_token(b"a b"));
        assert!(!valid_token(b"a\"b"));
        assert!(!valid_token(b"a(b"));
        assert!(!valid_token("é".as_bytes()));
    }

    #[test]
    fn baggage_octets() {
        let allowed: Vec<u8> = (0u8..=255).filter(|&b| is_baggage_octet(b)).collect();
        assert_eq!(allowed.len(), 0x7e - 0x21 + 1 - 4);
        for b in [b' ', b'"', b',', b';', b'\\', 0x7f, 0x80, b'\t'] {
            assert!(!is_baggage_octet(b), "{b:#x}");
        }
    }

    #[test]
    fn the_length_table_agrees_with_the_encoder() {
        for b in 0u8..=0x7f {
            let s = char::from(b).to_string();
            let encoded: String = utf8_percent_encode(&s, VALUE_ENCODE).collect();
            assert_eq!(encoded_value_len(&s), encoded.len(), "{b:#04x}");
        }
        assert_eq!(encoded_value_len("\u{e9}"), 6);
    }

    #[test]
    fn encoded_len_matches_display() {
        let m = BaggageMember::from_parts("k", "a b=c%é,\u{1F600}", "p;q=1");
        assert_eq!(m.encoded_len(), m.to_string().len());
        assert_eq!(m.to_string(), "k=a%20b%3Dc%25%C3%A9%2C%F0%9F%98%80;p;q=1");
    }
}
