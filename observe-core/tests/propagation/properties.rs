//! Properties over arbitrary input: no header value panics; what is parsed is valid
//! by the specification's grammar (checked here by an oracle written from the spec,
//! not by the codec's own validators); and formatting what was parsed parses back
//! to the same value.

use std::time::Duration;

use observe_core::propagation::{
    BAGGAGE_MAX_BYTES, BAGGAGE_MAX_MEMBERS, Baggage, RequestId, TRACESTATE_MAX_LEN,
    TRACESTATE_MAX_MEMBERS, TraceState, extract, format_server_timing, format_traceparent,
    parse_server_timing, parse_traceparent,
};
use proptest::prelude::*;

/// Arbitrary bytes, and bytes drawn from each header's own alphabet so that valid
/// values are actually generated.
fn header_bytes(alphabet: &'static str, max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..max),
        proptest::string::string_regex(&format!("[{alphabet}]{{0,{max}}}"))
            .expect("regex")
            .prop_map(String::into_bytes),
    ]
}

fn traceparent_like() -> impl Strategy<Value = Vec<u8>> {
    let version = prop_oneof![Just(0u8), any::<u8>()];
    prop_oneof![
        1 => header_bytes("0-9a-fA-F \t-", 70),
        3 => (version, any::<u128>(), any::<u64>(), any::<u8>(), "[ \t]{0,2}", "|[-a-z.]{1,6}").prop_map(
            |(v, t, s, f, ows, tail)| format!("{ows}{v:02x}-{t:032x}-{s:016x}-{f:02x}{tail}{ows}").into_bytes()
        ),
    ]
}

/// Lists of members, mostly well-formed, with optional whitespace and junk mixed in.
fn list_like(member: &'static str, max_members: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..200),
        4 => proptest::collection::vec(
            (proptest::string::string_regex(member).expect("regex"), "[ \t]{0,2}"),
            0..max_members,
        )
        .prop_map(|members| {
            members.iter().map(|(m, ows)| format!("{ows}{m}{ows}")).collect::<Vec<_>>().join(",").into_bytes()
        }),
    ]
}

fn tracestate_like() -> impl Strategy<Value = Vec<u8>> {
    list_like(
        "[a-z0-9][a-z0-9_*/@-]{0,12}=[\\x20-\\x2b\\x2d-\\x3c\\x3e-\\x7e]{0,14}[!-~]|[a-zA-Z@ ]{0,4}=?[a-z,]{0,3}",
        40,
    )
}

fn baggage_like() -> impl Strategy<Value = Vec<u8>> {
    list_like(
        "[a-zA-Z0-9._~-]{1,10} ?= ?([a-zA-Z0-9._~-]|%[0-9A-Fa-f]{2}|%)*(;[a-z]{1,4}(=[a-z0-9%]{0,4})?)*|[a-z \"]{0,5}=?[a-z\\\\]{0,3}",
        70,
    )
}

// --- oracles, from the grammars -------------------------------------------------

fn oracle_tracestate_key(k: &str) -> bool {
    let b = k.as_bytes();
    (1..=256).contains(&b.len())
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-*/@".contains(c))
}

fn oracle_tracestate_value(v: &str) -> bool {
    let b = v.as_bytes();
    (1..=256).contains(&b.len())
        && b.iter()
            .all(|&c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
        && b[b.len() - 1] != b' '
}

fn oracle_token(k: &str) -> bool {
    !k.is_empty()
        && k.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

fn oracle_baggage_octet(c: u8) -> bool {
    matches!(c, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

fn oracle_baggage_octets(s: &str) -> bool {
    s.bytes().all(oracle_baggage_octet)
}

proptest! {
    #[test]
    fn traceparent_parses_to_a_valid_context_or_nothing(bytes in traceparent_like()) {
        if let Ok(ctx) = parse_traceparent(&bytes) {
            prop_assert!(ctx.trace_id.is_valid() && ctx.span_id.is_valid() && ctx.is_remote);
            let formatted = format_traceparent(&ctx);
            prop_assert_eq!(formatted.len(), 55);
            prop_assert!(formatted.bytes().all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
            prop_assert_eq!(parse_traceparent(formatted.as_bytes()), Ok(ctx));
            // Version 00 is re-emitted byte for byte (every flag bit kept).
            let trimmed = std::str::from_utf8(&bytes).unwrap_or("").trim_matches([' ', '\t']);
            if trimmed.starts_with("00") {
                prop_assert_eq!(formatted.as_str(), trimmed);
            }
        }
    }

    #[test]
    fn traceparent_format_then_parse_is_identity(t in 1u128.., s in 1u64.., f in any::<u8>()) {
        let ctx = crate::span(t, s, f);
        let back = parse_traceparent(format_traceparent(&ctx).as_bytes()).unwrap();
        prop_assert_eq!((back.trace_id, back.span_id, back.flags), (ctx.trace_id, ctx.span_id, ctx.flags));
    }

    #[test]
    fn tracestate_keeps_only_valid_members_and_round_trips(
        values in proptest::collection::vec(tracestate_like(), 0..4)
    ) {
        let ts = TraceState::parse_all(values.iter().map(Vec::as_slice));
        prop_assert!(ts.len() <= TRACESTATE_MAX_MEMBERS);
        prop_assert!(ts.as_str().len() <= TRACESTATE_MAX_LEN);
        let mut keys = std::collections::HashSet::new();
        for (k, v) in ts.iter() {
            prop_assert!(oracle_tracestate_key(k), "key {:?}", k);
            prop_assert!(oracle_tracestate_value(v), "value {:?}", v);
            prop_assert!(keys.insert(k), "duplicate key {:?}", k);
        }
        prop_assert_eq!(TraceState::parse(ts.to_string().as_bytes()), ts);
    }

    #[test]
    fn tracestate_insert_keeps_the_entry_first_and_the_limits(
        existing in tracestate_like(),
        key in "[a-z0-9][a-z0-9_*/@-]{0,40}",
        value in "[\\x21-\\x2b\\x2d-\\x3c\\x3e-\\x7e][\\x20-\\x2b\\x2d-\\x3c\\x3e-\\x7e]{0,60}[\\x21-\\x2b\\x2d-\\x3c\\x3e-\\x7e]",
    ) {
        let mut ts = TraceState::parse(&existing);
        ts.insert(&key, &value).unwrap();
        prop_assert_eq!(ts.iter().next(), Some((key.as_str(), value.as_str())));
        prop_assert!(ts.len() <= TRACESTATE_MAX_MEMBERS);
        prop_assert_eq!(TraceState::parse(ts.as_str().as_bytes()), ts);
    }

    #[test]
    fn baggage_keeps_only_valid_members_and_round_trips(
        values in proptest::collection::vec(baggage_like(), 0..4)
    ) {
        let bag = Baggage::parse_all(values.iter().map(Vec::as_slice));
        prop_assert!(bag.len() <= BAGGAGE_MAX_MEMBERS);
        let header = bag.to_string();
        prop_assert!(header.len() <= BAGGAGE_MAX_BYTES);
        prop_assert_eq!(bag.encoded_len(), header.len());
        for m in bag.iter() {
            prop_assert!(oracle_token(m.key()), "key {:?}", m.key());
            for p in m.properties().split(';').filter(|p| !p.is_empty()) {
                let (name, value) = p.split_once('=').unwrap_or((p, ""));
                prop_assert!(oracle_token(name) && oracle_baggage_octets(value), "property {:?}", p);
            }
        }
        // What is sent is made of baggage-octets, commas and semicolons only.
        prop_assert!(header.bytes().all(|b| b == b',' || b == b';' || oracle_baggage_octet(b)));
        prop_assert_eq!(Baggage::parse(header.as_bytes()), bag);
    }

    #[test]
    fn baggage_values_of_any_text_round_trip(key in "[a-zA-Z0-9._-]{1,20}", value in any::<String>()) {
        let mut bag = Baggage::new();
        prop_assume!(bag.insert(&key, &value).is_ok());
        let back = Baggage::parse(bag.to_string().as_bytes());
        prop_assert_eq!(back.get(&key), Some(value.as_str()));
    }

    #[test]
    fn request_id_is_printable_and_bounded_or_nothing(bytes in header_bytes(" -~", 130)) {
        if let Ok(id) = RequestId::parse(&bytes) {
            prop_assert!((1..=128).contains(&id.len()));
            prop_assert!(id.as_bytes().iter().all(|b| (0x20..=0x7e).contains(b)));
            prop_assert_eq!(RequestId::parse(id.as_bytes()), Ok(id));
        }
    }

    #[test]
    fn server_timing_never_panics(bytes in header_bytes("a-z0-9;=,. \"\\\\", 120)) {
        let _ = parse_server_timing(&bytes);
    }

    #[test]
    fn server_timing_finds_ours_among_other_metrics(
        others in proptest::collection::vec("[a-z]{1,8}(;dur=[0-9]{1,3})?(;desc=\"[a-z ,;]{0,8}\")?", 0..5),
        micros in 0u64..1_000_000_000_000,
    ) {
        let ours = format_server_timing(Duration::from_micros(micros));
        prop_assert_eq!(parse_server_timing(ours.as_bytes()), Some(Duration::from_micros(micros)));
        let mut metrics: Vec<&str> = others.iter().map(String::as_str).filter(|m| !m.starts_with("observe")).collect();
        metrics.push(ours.as_str());
        metrics.rotate_right(others.len() / 2);
        let header = metrics.join(", ");
        prop_assert_eq!(parse_server_timing(header.as_bytes()), Some(Duration::from_micros(micros)));
    }

    #[test]
    fn extract_never_panics_on_arbitrary_headers(
        tp in traceparent_like(),
        ts in tracestate_like(),
        bag in baggage_like(),
        rid in any::<Vec<u8>>(),
    ) {
        let mut map = http::HeaderMap::new();
        for (name, value) in [("traceparent", tp), ("tracestate", ts), ("baggage", bag), ("x-request-id", rid)] {
            if let Ok(v) = http::HeaderValue::from_bytes(&value) {
                map.append(name, v);
            }
        }
        let e = extract(&map);
        if e.parent.is_none() {
            prop_assert!(e.trace_state.is_empty());
        }
        prop_assert!(e.rejections.iter().count() <= e.rejections.total());
    }
}
