//! The footprint of a tracer bullet: what it skipped, and where.
//!
//! Every service that honours a tracer bullet answers it with a response header,
//! [`HEADER`], summarising what the bullet did *not* do there and in every service
//! it called: side effects skipped (by name, with counts), outgoing calls blocked
//! (by host), calls an internal service refused (by host and reason), and the
//! services it crossed. Each service merges the footprints its internal callees
//! answered with into its own, so the edge's response, its last log line and the
//! span event on its server span describe the whole path:
//!
//! ```text
//! observe-tracer-bullet-footprint: v1;svc=edge,orders;skip=orders/insert_order*1;block=orders/127.0.0.1*1
//! ```
//!
//! The accumulator ([`Footprint`]) lives in the request context of a tracer bullet
//! and is shared by every span of the request, including tasks and threads started
//! with [`spawn`](crate::task::spawn) and its kin. A standard request has none and
//! pays nothing for it. [`side_effect`](crate::side_effect),
//! `#[traced(side_effect)]` and the outgoing client layers write it; the server
//! adapters ([`Inbound::finish`](crate::server::Inbound::finish)) answer with it; the
//! client integrations ([`Outgoing::finish`](crate::client::Outgoing::finish)) merge
//! the callee's.
//!
//! # The header, version 1
//!
//! ```text
//! footprint = "v1" *( ";" section )
//! section   = "svc=" name *( "," name )                     ; services crossed, in order
//!           / "skip=" service "/" name "*" count *( "," ... ) ; side effects skipped
//!           / "block=" service "/" host "*" count *( ... )    ; outgoing calls not sent
//!           / "refused=" service "/" host "/" reason "*" count *( ... )
//!           / "cut=" count                                 ; entries left out (bounds)
//! ```
//!
//! Names are percent-encoded: every byte outside `A-Z a-z 0-9 - . _ ~ : [ ]` is
//! written `%XX`, so `;`, `,`, `/`, `*` and `=` never appear inside a name. A
//! reader ignores sections it does not know (later versions of `v1` may add some);
//! a footprint whose version is not `v1` is not read (counted in `cut`).
//!
//! # Bounds
//!
//! A footprint comes from another service: it is never trusted to be small or well
//! formed. The header is at most [`MAX_BYTES`] bytes (a longer one is not read at
//! all); a footprint holds at most [`MAX_ENTRIES`] entries (services and the three
//! kinds of entries together); a name is at most [`MAX_NAME_BYTES`] bytes. Reading
//! is one pass over at most [`MAX_BYTES`] bytes that stops keeping entries at the
//! cap; whatever is left out (an entry over the cap, one that does not parse, a
//! header that cannot be read) is counted in `cut`, so a footprint that shows
//! `cut=N` says it is incomplete.
//!
//! ```
//! use observe_core::footprint::Summary;
//!
//! let summary = Summary::parse(b"v1;svc=edge,orders;skip=orders/insert_order*1;block=orders/127.0.0.1*2")?;
//! assert_eq!(summary.services(), ["edge", "orders"]);
//! assert_eq!(summary.skipped()[0].name, "insert_order");
//! assert_eq!(summary.blocked()[0].count, 2);
//! assert_eq!(summary.cut(), 0);
//! assert_eq!(summary.to_string(), "v1;svc=edge,orders;skip=orders/insert_order*1;block=orders/127.0.0.1*2");
//! # Ok::<(), observe_core::footprint::ParseError>(())
//! ```

use std::fmt;
use std::sync::Mutex;

use http::{HeaderMap, HeaderValue};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, utf8_percent_encode};

/// The response header that carries a tracer bullet's footprint.
pub const HEADER: &str = "observe-tracer-bullet-footprint";

/// The response header naming why a tracer bullet was refused (`server::Refusal::HEADER`),
/// read here when a callee's refusal is merged into the footprint.
pub(crate) const REFUSED_HEADER: &str = "observe-tracer-bullet-refused";

/// The version prefix of the header format.
pub const VERSION: &str = "v1";

/// The longest footprint header written or read, in bytes. A longer one is not
/// read (it counts as one entry cut).
pub const MAX_BYTES: usize = 4096;

/// The most entries a footprint keeps: services crossed, skipped side effects,
/// blocked calls and refusals together. Beyond it entries are counted in `cut`.
pub const MAX_ENTRIES: usize = 64;

/// The longest name (service, side effect, host, reason) kept, in bytes: longer
/// local names are shortened, longer names read from a callee are cut.
pub const MAX_NAME_BYTES: usize = 128;

/// What is written raw in a name: letters, digits and `- . _ ~ : [ ]` (host names,
/// IPv6 literals, `module::function` paths); everything else is percent-encoded.
const NAME_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':')
    .remove(b'[')
    .remove(b']');

/// Room kept at the end of the header for `;cut=<count>`.
const CUT_RESERVE: usize = 32;

/// The longest count accepted (`u64::MAX` has 20 digits).
const MAX_COUNT_DIGITS: usize = 20;

/// A side effect that did not run.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Skipped {
    /// The service where it was skipped.
    pub service: String,
    /// The side effect: the name given to [`side_effect`](crate::side_effect), or
    /// the span name of a `#[traced(side_effect)]` function.
    pub name: String,
    /// How many times.
    pub count: u64,
}

/// Outgoing calls not sent: the host is not internal (`OBSERVE_INTERNAL_HOSTS`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Blocked {
    /// The service that did not send them.
    pub service: String,
    /// The host they were for.
    pub host: String,
    /// How many.
    pub count: u64,
}

/// Internal calls answered with a tracer-bullet refusal
/// (`observe-tracer-bullet-refused`): the callee did not run them.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refused {
    /// The service that made the calls.
    pub service: String,
    /// The host that refused them.
    pub host: String,
    /// The refusal's reason (`policy_deny`, `missing_token`, ...).
    pub reason: String,
    /// How many.
    pub count: u64,
}

/// A footprint's content: what [`Footprint::summary`] returns and
/// [`Summary::parse`] reads. Its `Display` is the header value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    services: Vec<String>,
    skipped: Vec<Skipped>,
    blocked: Vec<Blocked>,
    refused: Vec<Refused>,
    cut: u64,
}

/// Why a footprint header could not be read at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// Longer than [`MAX_BYTES`]: not read.
    TooLong,
    /// Not `v1`.
    UnsupportedVersion,
    /// Not a footprint (a byte outside visible ASCII, or no version).
    Malformed,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseError::TooLong => "footprint header longer than 4096 bytes",
            ParseError::UnsupportedVersion => "footprint header of a version other than v1",
            ParseError::Malformed => "not a footprint header",
        })
    }
}

impl std::error::Error for ParseError {}

/// Shortens `s` to at most [`MAX_NAME_BYTES`], on a character boundary.
fn bounded(s: &str) -> &str {
    if s.len() <= MAX_NAME_BYTES {
        return s;
    }
    let mut end = MAX_NAME_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Summary {
    /// An empty footprint.
    pub fn new() -> Summary {
        Summary::default()
    }

    /// The services crossed, in the order they were first seen.
    pub fn services(&self) -> &[String] {
        &self.services
    }

    /// Side effects skipped.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// Outgoing calls not sent.
    pub fn blocked(&self) -> &[Blocked] {
        &self.blocked
    }

    /// Internal calls refused by the callee.
    pub fn refused(&self) -> &[Refused] {
        &self.refused
    }

    /// Entries left out: over [`MAX_ENTRIES`], over [`MAX_BYTES`] when written,
    /// unreadable, or from a callee footprint that could not be read. Not 0 means
    /// the footprint is incomplete.
    pub fn cut(&self) -> u64 {
        self.cut
    }

    /// Nothing recorded and nothing cut.
    pub fn is_empty(&self) -> bool {
        self.entries() == 0 && self.cut == 0
    }

    /// How many side effects were skipped, in all.
    pub fn skipped_total(&self) -> u64 {
        self.skipped
            .iter()
            .fold(0u64, |n, e| n.saturating_add(e.count))
    }

    /// How many outgoing calls were not sent, in all.
    pub fn blocked_total(&self) -> u64 {
        self.blocked
            .iter()
            .fold(0u64, |n, e| n.saturating_add(e.count))
    }

    fn entries(&self) -> usize {
        self.services.len() + self.skipped.len() + self.blocked.len() + self.refused.len()
    }

    fn full(&self) -> bool {
        self.entries() >= MAX_ENTRIES
    }

    fn add_cut(&mut self, n: u64) {
        self.cut = self.cut.saturating_add(n);
    }

    /// Adds a service crossed (once).
    pub(crate) fn add_service(&mut self, service: &str) {
        let service = bounded(service);
        if self.services.iter().any(|s| s == service) {
            return;
        }
        if self.full() {
            return self.add_cut(1);
        }
        self.services.push(service.to_owned());
    }

    pub(crate) fn add_skipped(&mut self, service: &str, name: &str, count: u64) {
        let (service, name) = (bounded(service), bounded(name));
        if let Some(e) = self
            .skipped
            .iter_mut()
            .find(|e| e.service == service && e.name == name)
        {
            e.count = e.count.saturating_add(count);
        } else if self.full() {
            self.add_cut(1);
        } else {
            self.skipped.push(Skipped {
                service: service.to_owned(),
                name: name.to_owned(),
                count,
            });
        }
    }

    pub(crate) fn add_blocked(&mut self, service: &str, host: &str, count: u64) {
        let (service, host) = (bounded(service), bounded(host));
        if let Some(e) = self
            .blocked
            .iter_mut()
            .find(|e| e.service == service && e.host == host)
        {
            e.count = e.count.saturating_add(count);
        } else if self.full() {
            self.add_cut(1);
        } else {
            self.blocked.push(Blocked {
                service: service.to_owned(),
                host: host.to_owned(),
                count,
            });
        }
    }

    pub(crate) fn add_refused(&mut self, service: &str, host: &str, reason: &str, count: u64) {
        let (service, host, reason) = (bounded(service), bounded(host), bounded(reason));
        if let Some(e) = self
            .refused
            .iter_mut()
            .find(|e| e.service == service && e.host == host && e.reason == reason)
        {
            e.count = e.count.saturating_add(count);
        } else if self.full() {
            self.add_cut(1);
        } else {
            self.refused.push(Refused {
                service: service.to_owned(),
                host: host.to_owned(),
                reason: reason.to_owned(),
                count,
            });
        }
    }

    /// Adds everything in `other` (counts summed, services once), within the
    /// bounds: what does not fit is counted in `cut`.
    pub fn merge(&mut self, other: &Summary) {
        for s in &other.services {
            self.add_service(s);
        }
        for e in &other.skipped {
            self.add_skipped(&e.service, &e.name, e.count);
        }
        for e in &other.blocked {
            self.add_blocked(&e.service, &e.host, e.count);
        }
        for e in &other.refused {
            self.add_refused(&e.service, &e.host, &e.reason, e.count);
        }
        self.add_cut(other.cut);
    }

    /// Reads a footprint header value (see the [module docs](self) for the
    /// format). Entries that do not parse, and entries beyond [`MAX_ENTRIES`], are
    /// counted in [`cut`](Self::cut); sections it does not know are ignored. One
    /// pass over at most [`MAX_BYTES`] bytes, whatever is sent.
    ///
    /// # Errors
    /// The header cannot be read at all: longer than [`MAX_BYTES`], another
    /// version, or not a footprint.
    pub fn parse(value: &[u8]) -> Result<Summary, ParseError> {
        if value.len() > MAX_BYTES {
            return Err(ParseError::TooLong);
        }
        let value = crate::propagation::trim_ows(value);
        if !value.iter().all(|b| (0x21..=0x7e).contains(b)) {
            return Err(ParseError::Malformed);
        }
        let mut sections = value.split(|&b| b == b';');
        match sections.next() {
            Some(v) if v == VERSION.as_bytes() => {}
            Some([b'v', rest @ ..]) if !rest.is_empty() && rest.iter().all(u8::is_ascii_digit) => {
                return Err(ParseError::UnsupportedVersion);
            }
            _ => return Err(ParseError::Malformed),
        }
        let mut out = Summary::default();
        for section in sections {
            if section.is_empty() {
                continue;
            }
            let Some(eq) = section.iter().position(|&b| b == b'=') else {
                out.add_cut(1);
                continue;
            };
            let (key, list) = (&section[..eq], &section[eq + 1..]);
            if key == b"cut" {
                match parse_count(list) {
                    Some(n) => out.add_cut(n),
                    None => out.add_cut(1),
                }
                continue;
            }
            let kind = match key {
                b"svc" => Kind::Service,
                b"skip" => Kind::Skipped,
                b"block" => Kind::Blocked,
                b"refused" => Kind::Refused,
                // A section of a later revision of v1.
                _ => continue,
            };
            for entry in list.split(|&b| b == b',') {
                if entry.is_empty() {
                    continue;
                }
                if out.full() {
                    out.add_cut(1);
                    continue;
                }
                if !out.read_entry(kind, entry) {
                    out.add_cut(1);
                }
            }
        }
        Ok(out)
    }

    /// One entry of a section; `false` when it does not parse.
    fn read_entry(&mut self, kind: Kind, entry: &[u8]) -> bool {
        if kind == Kind::Service {
            return match decode(entry) {
                Some(name) => {
                    self.add_service(&name);
                    true
                }
                None => false,
            };
        }
        let Some(star) = entry.iter().rposition(|&b| b == b'*') else {
            return false;
        };
        let Some(count) = parse_count(&entry[star + 1..]) else {
            return false;
        };
        let mut parts = entry[..star].split(|&b| b == b'/');
        let (Some(service), Some(target)) =
            (parts.next().and_then(decode), parts.next().and_then(decode))
        else {
            return false;
        };
        match kind {
            Kind::Skipped if parts.next().is_none() => {
                self.add_skipped(&service, &target, count);
                true
            }
            Kind::Blocked if parts.next().is_none() => {
                self.add_blocked(&service, &target, count);
                true
            }
            Kind::Refused => match (parts.next().and_then(decode), parts.next()) {
                (Some(reason), None) => {
                    self.add_refused(&service, &target, &reason, count);
                    true
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// A sentence for people: services crossed, then what was skipped, blocked and
    /// refused where (what the edge's log line and `observe bullet` print).
    pub fn describe(&self) -> String {
        use fmt::Write as _;
        let mut out = String::new();
        if self.services.is_empty() {
            out.push_str("no service");
        } else {
            out.push_str("crossed ");
            out.push_str(&self.services.join(" -> "));
        }
        if self.skipped.is_empty() {
            out.push_str("; skipped nothing");
        }
        for (i, e) in self.skipped.iter().enumerate() {
            let sep = if i == 0 { "; skipped " } else { ", " };
            let _ = write!(out, "{sep}{} in {} x{}", e.name, e.service, e.count);
        }
        for (i, e) in self.blocked.iter().enumerate() {
            let sep = if i == 0 { "; blocked " } else { ", " };
            let _ = write!(
                out,
                "{sep}calls to {} from {} x{}",
                e.host, e.service, e.count
            );
        }
        for (i, e) in self.refused.iter().enumerate() {
            let sep = if i == 0 { "; refused " } else { ", " };
            let _ = write!(
                out,
                "{sep}by {} ({}) called from {} x{}",
                e.host, e.reason, e.service, e.count
            );
        }
        if self.cut > 0 {
            let _ = write!(out, "; {} entries cut (incomplete)", self.cut);
        }
        out
    }

    /// The header value: at most [`MAX_BYTES`] bytes, entries that do not fit
    /// counted in `cut`.
    fn encode(&self) -> String {
        let enc = |s: &str| utf8_percent_encode(s, NAME_ENCODE).to_string();
        let mut out = Encoder {
            out: String::with_capacity(128),
            cut: self.cut,
        };
        out.out.push_str(VERSION);
        out.section("svc", self.services.iter().map(|s| enc(s)));
        out.section(
            "skip",
            self.skipped
                .iter()
                .map(|e| format!("{}/{}*{}", enc(&e.service), enc(&e.name), e.count)),
        );
        out.section(
            "block",
            self.blocked
                .iter()
                .map(|e| format!("{}/{}*{}", enc(&e.service), enc(&e.host), e.count)),
        );
        out.section(
            "refused",
            self.refused.iter().map(|e| {
                format!(
                    "{}/{}/{}*{}",
                    enc(&e.service),
                    enc(&e.host),
                    enc(&e.reason),
                    e.count
                )
            }),
        );
        let Encoder { mut out, cut } = out;
        if cut > 0 {
            out.push_str(";cut=");
            out.push_str(itoa::Buffer::new().format(cut));
        }
        out
    }
}

/// Writes sections within the byte bound, counting the entries that do not fit.
struct Encoder {
    out: String,
    cut: u64,
}

impl Encoder {
    fn section(&mut self, key: &str, entries: impl Iterator<Item = String>) {
        let limit = MAX_BYTES - CUT_RESERVE;
        let mut first = true;
        for e in entries {
            // ";key=" before the first entry, "," before the others.
            let sep = if first { key.len() + 2 } else { 1 };
            if self.out.len() + sep + e.len() > limit {
                self.cut = self.cut.saturating_add(1);
                continue;
            }
            if first {
                self.out.push(';');
                self.out.push_str(key);
                self.out.push('=');
                first = false;
            } else {
                self.out.push(',');
            }
            self.out.push_str(&e);
        }
    }
}

impl fmt::Display for Summary {
    /// The header value (see the [module docs](self)).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Service,
    Skipped,
    Blocked,
    Refused,
}

/// A count: 1 to 20 decimal digits (saturating at `u64::MAX`).
fn parse_count(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > MAX_COUNT_DIGITS {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit()
            .then(|| n.saturating_mul(10).saturating_add(u64::from(d - b'0')))
    })
}

/// A percent-encoded name: UTF-8, no control character, not empty, at most
/// [`MAX_NAME_BYTES`] once decoded.
fn decode(encoded: &[u8]) -> Option<String> {
    // Each decoded byte takes at most three encoded ones: check before decoding.
    if encoded.is_empty() || encoded.len() > 3 * MAX_NAME_BYTES {
        return None;
    }
    let name = percent_decode(encoded).decode_utf8().ok()?;
    (name.len() <= MAX_NAME_BYTES && !name.chars().any(char::is_control)).then(|| name.into_owned())
}

/// The footprint of one tracer bullet in this process: an accumulator shared by
/// every span of its request (it lives in the
/// [`RequestContext`](crate::context::RequestContext), which only a tracer bullet's
/// context has one of).
pub struct Footprint {
    summary: Mutex<Summary>,
}

impl fmt::Debug for Footprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Footprint").field(&self.summary()).finish()
    }
}

impl Footprint {
    pub(crate) fn new() -> Footprint {
        Footprint {
            summary: Mutex::new(Summary::default()),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Summary) -> R) -> R {
        f(&mut self.summary.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// What it holds now.
    pub fn summary(&self) -> Summary {
        self.with(|s| s.clone())
    }

    pub(crate) fn add_service(&self, service: &str) {
        self.with(|s| s.add_service(service));
    }

    /// A side effect skipped in `service` (which is then a service crossed too).
    pub(crate) fn record_skipped(&self, service: &str, name: &str) {
        self.with(|s| {
            s.add_service(service);
            s.add_skipped(service, name, 1);
        });
    }

    /// An outgoing call not sent from `service`.
    #[cfg(feature = "http-client")]
    pub(crate) fn record_blocked(&self, service: &str, host: &str) {
        self.with(|s| {
            s.add_service(service);
            s.add_blocked(service, host, 1);
        });
    }

    /// Adds everything in `other`.
    pub fn merge(&self, other: &Summary) {
        self.with(|s| s.merge(other));
    }

    /// Merges the footprint a callee answered with ([`HEADER`] in its response
    /// headers or gRPC trailers). A header that cannot be read, and every repeated
    /// one, counts as one entry cut; no header at all changes nothing.
    pub fn merge_response(&self, headers: &HeaderMap) {
        let mut values = headers.get_all(HEADER).iter();
        let Some(first) = values.next() else { return };
        let parsed = Summary::parse(first.as_bytes());
        let repeated = values.count() as u64;
        self.with(|s| {
            match &parsed {
                Ok(callee) => s.merge(callee),
                Err(_) => s.add_cut(1),
            }
            s.add_cut(repeated);
        });
    }

    /// Writes the footprint into `headers` as [`HEADER`], replacing any value the
    /// application set.
    pub fn insert_header(&self, headers: &mut HeaderMap) {
        insert_header(&self.summary(), headers);
    }
}

/// Writes `summary` into `headers` as [`HEADER`], replacing any value there.
pub(crate) fn insert_header(summary: &Summary, headers: &mut HeaderMap) {
    // Written by `encode`: visible ASCII only.
    if let Ok(v) = HeaderValue::from_str(&summary.to_string()) {
        headers.insert(HEADER, v);
    }
}

/// The footprint of the current request so far, when it is a tracer bullet.
///
/// ```
/// use observe_core::context::{RequestContext, RequestType};
/// use observe_core::span::Span;
///
/// #[observe_core::traced(side_effect)]
/// fn insert_order(cents: u64) -> Option<u64> {
///     Some(cents)
/// }
///
/// let _capture = observe_core::testing::capture();
/// let bullet = RequestContext::builder().request_type(RequestType::TracerBullet).build();
/// Span::builder("probe").context(bullet).start().in_scope(|| {
///     observe_core::side_effect("mail.send", || ());
///     assert_eq!(insert_order(250), None);
///     assert_eq!(insert_order(100), None);
///     let footprint = observe_core::footprint::current().unwrap();
///     assert_eq!(footprint.services().len(), 1); // this service
///     let skipped: Vec<_> = footprint.skipped().iter().map(|e| (e.name.as_str(), e.count)).collect();
///     assert_eq!(skipped, [("mail.send", 1), ("insert_order", 2)]);
/// });
/// assert!(observe_core::footprint::current().is_none());
/// ```
pub fn current() -> Option<Summary> {
    let ctx = crate::context::current_request_context()?;
    ctx.footprint().map(Footprint::summary)
}

/// The name of the service of `pipeline` (`service.name`).
pub(crate) fn service_name(pipeline: &'static crate::pipeline::Pipeline) -> &'static str {
    &pipeline.settings.config.service.name
}

/// Records an outgoing call of the current request not sent to `host`, when the
/// request is a tracer bullet.
#[cfg(feature = "reqwest")]
pub(crate) fn record_blocked_here(host: &str) {
    let here = crate::span::stack::with_current(|cur| {
        let d = cur?;
        Some((d.ctx.get()?.clone(), service_name(d.pipeline)))
    });
    if let Some((ctx, service)) = here
        && let Some(footprint) = ctx.footprint()
    {
        footprint.record_blocked(service, if host.is_empty() { "?" } else { host });
    }
}

/// What a client integration keeps of a tracer bullet's internal call, to merge
/// the callee's footprint from its response.
#[cfg(feature = "http-client")]
#[derive(Debug)]
pub(crate) struct CalleeFootprint {
    ctx: std::sync::Arc<crate::context::RequestContext>,
    service: &'static str,
    host: String,
}

#[cfg(feature = "http-client")]
impl CalleeFootprint {
    pub(crate) fn new(
        ctx: std::sync::Arc<crate::context::RequestContext>,
        service: &'static str,
        host: String,
    ) -> Self {
        CalleeFootprint { ctx, service, host }
    }

    /// Merges the callee's footprint, and records a refusal it answered with.
    pub(crate) fn merge(&self, headers: &HeaderMap) {
        let Some(footprint) = self.ctx.footprint() else {
            return;
        };
        footprint.merge_response(headers);
        if let Some(reason) = headers.get(REFUSED_HEADER) {
            // The reason is a short label; anything else is shown as such.
            let reason = reason
                .to_str()
                .ok()
                .filter(|r| {
                    !r.is_empty()
                        && r.len() <= 32
                        && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                })
                .unwrap_or("unreadable");
            footprint.with(|s| {
                s.add_service(self.service);
                s.add_refused(self.service, &self.host, reason, 1);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Summary {
        let mut s = Summary::new();
        s.add_service("edge");
        s.add_service("orders");
        s.add_skipped("orders", "insert_order", 1);
        s.add_skipped("orders", "mail.send", 2);
        s.add_blocked("orders", "127.0.0.1", 1);
        s.add_refused("edge", "audit.internal", "policy_deny", 1);
        s
    }

    #[test]
    fn the_header_round_trips() {
        let s = sample();
        let text = s.to_string();
        assert_eq!(
            text,
            "v1;svc=edge,orders;skip=orders/insert_order*1,orders/mail.send*2;\
             block=orders/127.0.0.1*1;refused=edge/audit.internal/policy_deny*1"
        );
        assert_eq!(Summary::parse(text.as_bytes()).unwrap(), s);
        assert_eq!(Summary::parse(b"v1").unwrap(), Summary::new());
    }

    #[test]
    fn separators_and_unicode_in_names_are_percent_encoded() {
        let mut s = Summary::new();
        s.add_service("shop;eu,1");
        s.add_skipped("shop;eu,1", "db/insert*all=yes é", 3);
        s.add_blocked("shop;eu,1", "[::1]", 1);
        let text = s.to_string();
        assert!(text.is_ascii());
        assert_eq!(
            text,
            "v1;svc=shop%3Beu%2C1;skip=shop%3Beu%2C1/db%2Finsert%2Aall%3Dyes%20%C3%A9*3;\
             block=shop%3Beu%2C1/[::1]*1"
        );
        assert_eq!(Summary::parse(text.as_bytes()).unwrap(), s);
    }

    #[test]
    fn merging_sums_counts_and_keeps_services_once_in_order() {
        let mut edge = Summary::new();
        edge.add_service("edge");
        edge.add_skipped("edge", "audit", 1);
        let mut callee = sample();
        callee.cut = 2;
        edge.merge(&callee);
        edge.merge(&callee);
        assert_eq!(edge.services(), ["edge", "orders"]);
        assert_eq!(
            edge.skipped()
                .iter()
                .map(|e| (e.name.as_str(), e.count))
                .collect::<Vec<_>>(),
            [("audit", 1), ("insert_order", 2), ("mail.send", 4)]
        );
        assert_eq!(edge.blocked()[0].count, 2);
        assert_eq!(edge.refused()[0].count, 2);
        assert_eq!(edge.cut(), 4);
    }

    #[test]
    fn bad_entries_are_cut_and_the_rest_is_kept() {
        let s = Summary::parse(
            b"v1;svc=a,,b,%FF,%0A;skip=a/x*1,a/y,a*1,a/b/c*1,a/z*x,a/w*123456789012345678901;\
              block=a/h*1;later=whatever;cut=5;cut=nope;noequals",
        )
        .unwrap();
        assert_eq!(s.services(), ["a", "b"]);
        assert_eq!(s.skipped().len(), 1);
        assert_eq!(s.blocked().len(), 1);
        // %FF (not UTF-8), %0A (control), five bad skips, 5 declared, a bad cut,
        // a section without "=".
        assert_eq!(s.cut(), 2 + 5 + 5 + 1 + 1);
    }

    #[test]
    fn unreadable_headers_are_errors() {
        assert_eq!(
            Summary::parse(b"v2;svc=a"),
            Err(ParseError::UnsupportedVersion)
        );
        assert_eq!(Summary::parse(b"svc=a"), Err(ParseError::Malformed));
        assert_eq!(Summary::parse(b"v1;svc=a b"), Err(ParseError::Malformed));
        assert_eq!(
            Summary::parse("v1;svc=é".as_bytes()),
            Err(ParseError::Malformed)
        );
        let long = format!("v1;svc={}", "a".repeat(MAX_BYTES));
        assert_eq!(Summary::parse(long.as_bytes()), Err(ParseError::TooLong));
    }

    #[test]
    fn entries_are_capped_and_what_is_left_out_is_counted() {
        let mut list = String::from("v1;skip=");
        for i in 0..200 {
            if i > 0 {
                list.push(',');
            }
            list.push_str(&format!("s/e{i}*1"));
        }
        let s = Summary::parse(list.as_bytes()).unwrap();
        assert_eq!(s.entries(), MAX_ENTRIES);
        assert_eq!(s.cut(), 200 - MAX_ENTRIES as u64);

        let mut local = Summary::new();
        for i in 0..100 {
            local.add_skipped("s", &format!("e{i}"), 1);
        }
        // An entry already there still counts.
        local.add_skipped("s", "e0", 1);
        assert_eq!(local.entries(), MAX_ENTRIES);
        assert_eq!(local.skipped()[0].count, 2);
        assert_eq!(local.cut(), 100 - MAX_ENTRIES as u64);
    }

    #[test]
    fn the_written_header_stays_within_its_byte_bound() {
        let mut s = Summary::new();
        let long = "é".repeat(200); // shortened to 128 bytes, 6 encoded bytes each char
        for i in 0..MAX_ENTRIES {
            s.add_skipped(&format!("{long}{i}"), &format!("{i}{long}"), u64::MAX);
        }
        let text = s.to_string();
        assert!(text.len() <= MAX_BYTES, "{}", text.len());
        let back = Summary::parse(text.as_bytes()).unwrap();
        assert!(back.cut() > 0);
        assert_eq!(
            back.entries() as u64 + back.cut(),
            MAX_ENTRIES as u64,
            "every entry is either written or counted as cut"
        );
        assert!(s.skipped()[0].name.len() <= MAX_NAME_BYTES);
    }

    #[test]
    fn parsing_examines_at_most_max_bytes() {
        // Whatever the content, parse reads the value once and rejects anything
        // longer than the bound before looking at it.
        let hostile = vec![b','; 1 << 20];
        assert_eq!(Summary::parse(&hostile), Err(ParseError::TooLong));
        let mut commas = b"v1;skip=".to_vec();
        commas.resize(MAX_BYTES, b',');
        let s = Summary::parse(&commas).unwrap();
        assert!(s.is_empty());
    }

    #[test]
    fn merge_response_counts_unreadable_and_repeated_headers() {
        let f = Footprint::new();
        let mut h = HeaderMap::new();
        f.merge_response(&h);
        assert!(f.summary().is_empty());
        h.append(HEADER, HeaderValue::from_static("v1;svc=orders"));
        h.append(HEADER, HeaderValue::from_static("v1;svc=evil"));
        f.merge_response(&h);
        assert_eq!(f.summary().services(), ["orders"]);
        assert_eq!(f.summary().cut(), 1);
        let mut h = HeaderMap::new();
        h.insert(HEADER, HeaderValue::from_static("garbage"));
        f.merge_response(&h);
        assert_eq!(f.summary().cut(), 2);
    }

    #[test]
    fn describe_says_it_for_people() {
        assert_eq!(
            sample().describe(),
            "crossed edge -> orders; skipped insert_order in orders x1, mail.send in orders x2; \
             blocked calls to 127.0.0.1 from orders x1; refused by audit.internal (policy_deny) \
             called from edge x1"
        );
    }
}
