//! Carriers: where headers are read from and written to.
//!
//! The codecs never see a concrete header type. They read through [`Extractor`]
//! and write through [`Injector`], two small object-safe traits that this crate
//! implements for [`http::HeaderMap`] and for `HashMap<String, String>` (message
//! headers), and that other crates implement for their own maps (observe-tonic does
//! it for tonic's `MetadataMap`).

use std::collections::HashMap;

use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::{
    BAGGAGE, OBSERVE_TRACER_BULLET, SERVER_TIMING, TRACEPARENT, TRACERESPONSE, TRACESTATE,
    X_REQUEST_ID,
};

/// Read access to a set of headers.
///
/// Header names are matched ASCII case-insensitively, as HTTP requires. Values are
/// raw bytes: the codecs validate them, so a carrier never has to reject or convert
/// a value, and a non-UTF-8 value is simply invalid input for the codec that reads it.
///
/// Every value of a repeated header is reported, in the order received, because the
/// W3C specifications combine repeated `tracestate` and `baggage` fields as if they
/// were joined with commas, and treat repeated `traceparent` fields as an error.
///
/// The trait is object safe; the callback shape lets an implementation hand out
/// borrowed values without allocating.
///
/// ```
/// use observe_core::propagation::Extractor;
///
/// struct Pairs<'a>(&'a [(&'a str, &'a str)]);
///
/// impl Extractor for Pairs<'_> {
///     fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
///         for (k, v) in self.0 {
///             if k.eq_ignore_ascii_case(name) {
///                 f(v.as_bytes());
///             }
///         }
///     }
/// }
///
/// let headers = Pairs(&[("Baggage", "a=1"), ("baggage", "b=2")]);
/// let mut seen = Vec::new();
/// headers.for_each_value("baggage", &mut |v| seen.push(v.to_vec()));
/// assert_eq!(seen, [b"a=1".to_vec(), b"b=2".to_vec()]);
/// ```
pub trait Extractor {
    /// Calls `f` once for every value of the header `name`, in the order received.
    /// Does nothing when the header is absent.
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&[u8]));
}

/// Write access to a set of headers.
///
/// `set` replaces every existing value of the header. Names passed by this module
/// are its lowercase constants ([`TRACEPARENT`], [`BAGGAGE`], ...) and values are
/// always visible ASCII (0x20-0x7E), so an implementation never needs to escape.
///
/// ```
/// use observe_core::propagation::{Injector, TRACEPARENT};
/// use std::collections::HashMap;
///
/// let mut headers: HashMap<String, String> = HashMap::new();
/// headers.insert("TraceParent".into(), "stale".into());
/// headers.set(TRACEPARENT, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// assert_eq!(headers.len(), 1);
/// assert!(headers["traceparent"].starts_with("00-4bf9"));
/// ```
pub trait Injector {
    /// Sets the header `name` to `value`, replacing every value it had.
    fn set(&mut self, name: &'static str, value: &str);
}

impl<T: Extractor + ?Sized> Extractor for &T {
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        (**self).for_each_value(name, f);
    }
}

impl<T: Extractor + ?Sized> Extractor for &mut T {
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        (**self).for_each_value(name, f);
    }
}

impl<T: Injector + ?Sized> Injector for &mut T {
    fn set(&mut self, name: &'static str, value: &str) {
        (**self).set(name, value);
    }
}

impl Extractor for HeaderMap<HeaderValue> {
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        // Our own names are looked up as prebuilt `HeaderName`s, which saves
        // parsing the name on every call. Any other `&str` is lowercased by
        // `HeaderMap` before the lookup, and an invalid name simply finds nothing.
        let values = match KNOWN_NAMES.iter().find(|known| known.as_str() == name) {
            Some(known) => self.get_all(known),
            None => self.get_all(name),
        };
        for value in values {
            f(value.as_bytes());
        }
    }
}

/// Our header names as `HeaderName`s built at compile time: no allocation per call.
static KNOWN_NAMES: [HeaderName; 7] = [
    HeaderName::from_static(TRACEPARENT),
    HeaderName::from_static(TRACESTATE),
    HeaderName::from_static(BAGGAGE),
    HeaderName::from_static(X_REQUEST_ID),
    HeaderName::from_static(TRACERESPONSE),
    HeaderName::from_static(SERVER_TIMING),
    HeaderName::from_static(OBSERVE_TRACER_BULLET),
];

/// The inbound headers a server reads (`traceparent`, `tracestate`, `baggage`,
/// `x-request-id`, `observe-tracer-bullet`), found in one pass over a request's
/// headers instead of one hashed lookup each: a request carries a handful of
/// headers, most of them none of these, and the five lookups cost more than
/// looking at each header once. A request with more than
/// [`ScannedHeaders::MAX_SCANNED`] values, or a name seen twice, is read through
/// the map's own lookups, so the work stays bounded and the values and their
/// order are the map's.
pub(crate) struct ScannedHeaders<'a> {
    headers: &'a HeaderMap,
    found: [Found<'a>; 5],
}

#[derive(Clone, Copy)]
enum Found<'a> {
    Absent,
    Once(&'a HeaderValue),
    /// Repeated, or not scanned: read from the map.
    Lookup,
}

/// The names scanned, by their index in [`ScannedHeaders::found`].
fn scanned_index(name: &str) -> Option<usize> {
    match name.len() {
        11 if name == TRACEPARENT => Some(0),
        10 if name == TRACESTATE => Some(1),
        7 if name == BAGGAGE => Some(2),
        12 if name == X_REQUEST_ID => Some(3),
        21 if name == OBSERVE_TRACER_BULLET => Some(4),
        _ => None,
    }
}

impl<'a> ScannedHeaders<'a> {
    /// Values looked at one by one; beyond, the map's lookups are cheaper.
    pub(crate) const MAX_SCANNED: usize = 32;

    pub(crate) fn new(headers: &'a HeaderMap) -> ScannedHeaders<'a> {
        if headers.len() > Self::MAX_SCANNED {
            return ScannedHeaders {
                headers,
                found: [Found::Lookup; 5],
            };
        }
        let mut found = [Found::Absent; 5];
        for (name, value) in headers {
            // A `HeaderName` is lowercase: the constants compare as they are.
            if let Some(i) = scanned_index(name.as_str()) {
                found[i] = match found[i] {
                    Found::Absent => Found::Once(value),
                    _ => Found::Lookup,
                };
            }
        }
        ScannedHeaders { headers, found }
    }

    /// `false` when the request certainly has no header `name` (one of the five;
    /// `true` when it may: the map was not scanned).
    pub(crate) fn may_have(&self, name: &str) -> bool {
        !matches!(
            scanned_index(name).map(|i| self.found[i]),
            Some(Found::Absent)
        )
    }
}

impl Extractor for ScannedHeaders<'_> {
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        match scanned_index(name).map(|i| self.found[i]) {
            Some(Found::Absent) => {}
            Some(Found::Once(value)) => f(value.as_bytes()),
            Some(Found::Lookup) | None => self.headers.for_each_value(name, f),
        }
    }
}

fn header_name(name: &'static str) -> Option<HeaderName> {
    KNOWN_NAMES
        .iter()
        .find(|known| known.as_str() == name)
        .cloned()
        .or_else(|| HeaderName::from_bytes(name.as_bytes()).ok())
}

impl Injector for HeaderMap<HeaderValue> {
    fn set(&mut self, name: &'static str, value: &str) {
        // Both conversions only fail on input this module never produces (an
        // invalid header name, a control character in the value); such a call is
        // ignored rather than allowed to panic.
        if let (Some(name), Ok(value)) = (header_name(name), HeaderValue::from_str(value)) {
            self.insert(name, value);
        }
    }
}

/// Message headers (Kafka, AMQP, ...). A `HashMap` holds one value per key, so
/// "repeated headers" can only be keys that differ in case: the key spelled exactly
/// like `name` comes first, the others follow in key order.
impl<S: std::hash::BuildHasher> Extractor for HashMap<String, String, S> {
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        if let Some(value) = self.get(name) {
            f(value.as_bytes());
        }
        let mut others: Vec<(&String, &String)> = self
            .iter()
            .filter(|(k, _)| k.as_str() != name && k.eq_ignore_ascii_case(name))
            .collect();
        others.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (_, value) in others {
            f(value.as_bytes());
        }
    }
}

/// Replaces the value under `name` and removes keys that differ from it only in
/// case, so the map never carries two spellings of one header.
impl<S: std::hash::BuildHasher> Injector for HashMap<String, String, S> {
    fn set(&mut self, name: &'static str, value: &str) {
        self.retain(|k, _| k == name || !k.eq_ignore_ascii_case(name));
        match self.get_mut(name) {
            Some(existing) => {
                existing.clear();
                existing.push_str(value);
            }
            None => {
                self.insert(name.to_owned(), value.to_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(carrier: &dyn Extractor, name: &str) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        carrier.for_each_value(name, &mut |v| out.push(v.to_vec()));
        out
    }

    /// What the scan reads is what the map's lookups read, for every name, with
    /// each header absent, once, repeated (apart or together), among few or many
    /// others.
    #[test]
    fn scanned_headers_read_as_the_map_does() {
        let names = [
            TRACEPARENT,
            TRACESTATE,
            BAGGAGE,
            X_REQUEST_ID,
            OBSERVE_TRACER_BULLET,
            "content-type",
            "te",
        ];
        for others in [0, 3, ScannedHeaders::MAX_SCANNED] {
            for layout in 0..4 {
                let mut map = HeaderMap::new();
                for i in 0..others {
                    map.append(
                        HeaderName::from_bytes(format!("x-other-{i}").as_bytes()).unwrap(),
                        HeaderValue::from_static("o"),
                    );
                }
                for (n, name) in names.iter().enumerate() {
                    let name = HeaderName::from_static(name);
                    let v = |k: usize| HeaderValue::from_str(&format!("{n}-{k}")).unwrap();
                    match (layout + n) % 4 {
                        0 => {}
                        1 => {
                            map.append(name, v(0));
                        }
                        2 => {
                            map.append(name.clone(), v(0));
                            map.append(name, v(1));
                        }
                        _ => {
                            map.append(name.clone(), v(0));
                            map.append("x-between", HeaderValue::from_static("b"));
                            map.append(name.clone(), v(1));
                            map.append(name, v(2));
                        }
                    }
                }
                let scanned = ScannedHeaders::new(&map);
                for name in names.iter().copied().chain(["TraceParent", "x-between"]) {
                    assert_eq!(
                        collect(&scanned, name),
                        collect(&map, name),
                        "{name}, {others} others, layout {layout}"
                    );
                }
                for name in &names[..5] {
                    let present = !collect(&map, name).is_empty();
                    assert!(scanned.may_have(name) || !present, "{name}");
                    if others < ScannedHeaders::MAX_SCANNED {
                        assert_eq!(scanned.may_have(name), present, "{name}");
                    }
                }
            }
        }
    }

    #[test]
    fn header_map_lookup_ignores_case_and_keeps_order() {
        let mut map = HeaderMap::new();
        map.append("tracestate", HeaderValue::from_static("a=1"));
        map.append("TraceState", HeaderValue::from_static("b=2"));
        assert_eq!(
            collect(&map, "tracestate"),
            [b"a=1".to_vec(), b"b=2".to_vec()]
        );
        assert_eq!(collect(&map, "TRACESTATE").len(), 2);
        assert!(collect(&map, "not a header name").is_empty());
    }

    #[test]
    fn header_map_passes_non_utf8_bytes_through() {
        let mut map = HeaderMap::new();
        map.insert("baggage", HeaderValue::from_bytes(b"k=\xff\xfe").unwrap());
        assert_eq!(collect(&map, "baggage"), [b"k=\xff\xfe".to_vec()]);
    }

    #[test]
    fn header_map_set_replaces_every_value() {
        let mut map = HeaderMap::new();
        map.append("baggage", HeaderValue::from_static("a=1"));
        map.append("baggage", HeaderValue::from_static("b=2"));
        map.set(BAGGAGE, "c=3");
        assert_eq!(collect(&map, "baggage"), [b"c=3".to_vec()]);
    }

    #[test]
    fn header_map_set_ignores_what_http_cannot_carry() {
        let mut map = HeaderMap::new();
        map.set("bad name", "x");
        map.set(TRACESTATE, "a=1\nb=2");
        assert!(map.is_empty());
    }

    #[test]
    fn hash_map_lookup_is_case_insensitive_and_deterministic() {
        let mut map = HashMap::new();
        map.insert("TraceState".to_owned(), "b=2".to_owned());
        map.insert("tracestate".to_owned(), "a=1".to_owned());
        map.insert("TRACESTATE".to_owned(), "c=3".to_owned());
        assert_eq!(
            collect(&map, "tracestate"),
            [b"a=1".to_vec(), b"c=3".to_vec(), b"b=2".to_vec()]
        );
    }

    #[test]
    fn hash_map_set_replaces_every_spelling() {
        let mut map = HashMap::new();
        map.insert("X-Request-Id".to_owned(), "old".to_owned());
        map.insert("other".to_owned(), "kept".to_owned());
        map.set(X_REQUEST_ID, "new");
        assert_eq!(map.len(), 2);
        assert_eq!(map["x-request-id"], "new");
        assert_eq!(map["other"], "kept");
    }
}
