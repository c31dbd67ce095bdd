//! Properties over arbitrary input: no header value panics; what is parsed is valid
//! by the specification's grammar (checked here by an oracle written from the spec,
//! not by the codec's own validators); each parser gives what a simple reference
//! model gives (written here from the rules in `docs/propagation.md`: split, trim,
//! check, with none of the codecs' single-pass scanning); and formatting what was
//! parsed parses back to the same value.
//!
//! That work is bounded by what is kept, for inputs up to a megabyte, is shown by
//! the parsers' own byte counters in `observe-core/src/propagation/bounds.rs`.

use std::time::Duration;

use observe_core::propagation::{
    BAGGAGE_MAX_BYTES, BAGGAGE_MAX_MEMBERS, Baggage, RequestId, SERVER_TIMING_MAX_LEN,
    TRACEPARENT_MAX_LEN, TRACESTATE_MAX_LEN, TRACESTATE_MAX_MEMBERS, TraceState, extract,
    format_server_timing, format_traceparent, parse_server_timing, parse_traceparent,
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
    prop_oneof![
        // Mostly valid members (keys drawn from a few, so duplicates happen).
        3 => list_like(
            "[a-c]{1,2}(@[a-z][a-z0-9]{0,2})?=[\\x20-\\x2b\\x2d-\\x3c\\x3e-\\x7e]{0,6}[!-~]",
            36,
        ),
        2 => list_like(
            "[a-z0-9][a-z0-9_*/@-]{0,12}=[\\x20-\\x2b\\x2d-\\x3c\\x3e-\\x7e]{0,14}[!-~]|[a-zA-Z@ ]{0,4}=?[a-z,]{0,3}",
            40,
        ),
        // Long members, to cross the 512 characters read.
        1 => list_like("[a-z]{1,3}[0-9]{0,3}=[a-z]{20,120}", 12),
    ]
}

fn baggage_like() -> impl Strategy<Value = Vec<u8>> {
    list_like(
        "[a-zA-Z0-9._~-]{1,10} ?= ?([a-zA-Z0-9._~-]|%[0-9A-Fa-f]{2}|%)*(;[a-z]{1,4}(=[a-z0-9%]{0,4})?)*|[a-z \"]{0,5}=?[a-z\\\\]{0,3}",
        70,
    )
}

// --- oracles, from the grammars -------------------------------------------------

fn oracle_tracestate_key(k: &[u8]) -> bool {
    let keychar = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-*/".contains(c);
    let parts: Vec<&[u8]> = k.split(|&c| c == b'@').collect();
    match parts[..] {
        [simple] => {
            (1..=256).contains(&simple.len())
                && simple[0].is_ascii_lowercase()
                && simple.iter().all(keychar)
        }
        [tenant, system] => {
            (1..=241).contains(&tenant.len())
                && (tenant[0].is_ascii_lowercase() || tenant[0].is_ascii_digit())
                && tenant.iter().all(keychar)
                && (1..=14).contains(&system.len())
                && system[0].is_ascii_lowercase()
                && system.iter().all(keychar)
        }
        _ => false,
    }
}

fn oracle_tracestate_value(v: &[u8]) -> bool {
    (1..=256).contains(&v.len())
        && v.iter()
            .all(|&c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
        && v[v.len() - 1] != b' '
}

fn trim<'a>(mut s: &'a [u8], ws: &[u8]) -> &'a [u8] {
    while let [first, rest @ ..] = s
        && ws.contains(first)
    {
        s = rest;
    }
    while let [rest @ .., last] = s
        && ws.contains(last)
    {
        s = rest;
    }
    s
}

/// The values of a repeated header joined by commas, cut to what is read: the
/// first `limit` bytes, less the member the cut falls inside.
fn read_window(values: &[Vec<u8>], limit: usize) -> Vec<u8> {
    let combined = values.join(&b","[..]);
    if combined.len() <= limit {
        return combined;
    }
    if combined[limit] == b',' {
        return combined[..limit].to_vec();
    }
    match combined[..limit].iter().rposition(|&b| b == b',') {
        Some(comma) => combined[..comma].to_vec(),
        None => Vec::new(),
    }
}

/// `tracestate` by the rules: read the first 512 characters; split on commas;
/// trim spaces and tabs; skip empty members; any invalid member, duplicated key or
/// 33rd member makes the whole header invalid.
fn reference_tracestate(values: &[Vec<u8>]) -> String {
    let window = read_window(values, TRACESTATE_MAX_LEN);
    let mut kept: Vec<(&[u8], &[u8])> = Vec::new();
    for raw in window.split(|&b| b == b',') {
        let member = trim(raw, b" \t");
        if member.is_empty() {
            continue;
        }
        let Some(eq) = member.iter().position(|&b| b == b'=') else {
            return String::new();
        };
        let (key, value) = (&member[..eq], &member[eq + 1..]);
        if !oracle_tracestate_key(key)
            || !oracle_tracestate_value(value)
            || kept.iter().any(|(k, _)| *k == key)
        {
            return String::new();
        }
        kept.push((key, value));
        if kept.len() > 32 {
            return String::new();
        }
    }
    kept.iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                String::from_utf8_lossy(k),
                String::from_utf8_lossy(v)
            )
        })
        .collect::<Vec<_>>()
        .join(",")
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

/// Percent-decoding as the rules say: `%` and two hex digits is a byte, anything
/// else is itself; bytes that are not UTF-8 become U+FFFD.
fn percent_decode(v: &[u8]) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        match (
            v[i],
            v.get(i + 1).and_then(|&c| hex(c)),
            v.get(i + 2).and_then(|&c| hex(c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push(h * 16 + l);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The length of a value as observe sends it: `baggage-octet`s other than `"`, `%`
/// and `=`... one byte each, every other byte three (`%XX`).
fn sent_value_len(v: &str) -> usize {
    v.bytes()
        .map(|b| {
            if oracle_baggage_octet(b) && !b"%=".contains(&b) {
                1
            } else {
                3
            }
        })
        .sum()
}

/// `baggage` by the rules: read the first 8192 bytes; split on commas; a member is
/// `key = value` then `;`-separated properties, with whitespace trimmed around
/// each part; invalid members are skipped; keep members while there are at most
/// 180 and the header sent stays within 8192 bytes.
fn reference_baggage(values: &[Vec<u8>]) -> Vec<(String, String, String)> {
    let window = read_window(values, BAGGAGE_MAX_BYTES);
    let mut kept = Vec::new();
    let mut sent = 0;
    for raw in window.split(|&b| b == b',') {
        let member = trim(raw, b" \t");
        if member.is_empty() {
            continue;
        }
        let mut parts = member.split(|&b| b == b';');
        let key_value = parts.next().unwrap_or_default();
        let Some(eq) = key_value.iter().position(|&b| b == b'=') else {
            continue;
        };
        let key = String::from_utf8_lossy(trim(&key_value[..eq], b" \t")).into_owned();
        let value = trim(&key_value[eq + 1..], b" \t");
        if !oracle_token(&key) || !value.iter().all(|&b| oracle_baggage_octet(b)) {
            continue;
        }
        let mut properties = Vec::new();
        let mut valid = true;
        for p in parts {
            let p = trim(p, b" \t");
            if p.is_empty() {
                continue;
            }
            let (name, pvalue) = match p.iter().position(|&b| b == b'=') {
                Some(eq) => (trim(&p[..eq], b" \t"), Some(trim(&p[eq + 1..], b" \t"))),
                None => (p, None),
            };
            let name = String::from_utf8_lossy(name).into_owned();
            valid &= oracle_token(&name)
                && pvalue.is_none_or(|v| v.iter().all(|&b| oracle_baggage_octet(b)));
            properties.push(match pvalue {
                Some(v) => format!("{name}={}", String::from_utf8_lossy(v)),
                None => name,
            });
        }
        if !valid {
            continue;
        }
        let value = percent_decode(value);
        let properties = properties.join(";");
        let len = key.len()
            + 1
            + sent_value_len(&value)
            + if properties.is_empty() {
                0
            } else {
                1 + properties.len()
            }
            + usize::from(!kept.is_empty());
        if kept.len() == 180 || sent + len > BAGGAGE_MAX_BYTES {
            break;
        }
        sent += len;
        kept.push((key, value, properties));
    }
    kept
}

/// `traceparent` by the rules, on a string: `(trace-id, parent-id, flags)`.
fn reference_traceparent(bytes: &[u8]) -> Option<(String, String, u8)> {
    if bytes.len() > TRACEPARENT_MAX_LEN {
        return None;
    }
    let v = std::str::from_utf8(trim(bytes, b" \t")).ok()?;
    let lower_hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let version = v.get(..2)?;
    if !lower_hex(version, 2) || version == "ff" || v.get(2..3) != Some("-") {
        return None;
    }
    if version == "00" && v.len() != 55 {
        return None;
    }
    if v.len() < 55 || (v.len() > 55 && v.get(55..56) != Some("-")) {
        return None;
    }
    let (trace, parent, flags) = (v.get(3..35)?, v.get(36..52)?, v.get(53..55)?);
    let dashes = v.get(35..36) == Some("-") && v.get(52..53) == Some("-");
    if !dashes || !lower_hex(trace, 32) || !lower_hex(parent, 16) || !lower_hex(flags, 2) {
        return None;
    }
    if trace.bytes().all(|b| b == b'0') || parent.bytes().all(|b| b == b'0') {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some((
        trace.to_owned(),
        parent.to_owned(),
        if version == "00" { flags } else { flags & 0x03 },
    ))
}

/// `x-request-id` by the rules.
fn reference_request_id(bytes: &[u8]) -> Option<String> {
    if bytes.len() > 256 {
        return None;
    }
    let v = trim(bytes, b" \t");
    ((1..=128).contains(&v.len()) && v.iter().all(|b| (0x20..=0x7e).contains(b)))
        .then(|| String::from_utf8_lossy(v).into_owned())
}

/// Splits on `sep` outside quoted strings (backslash escapes inside them).
fn split_outside_quotes(v: &[u8], sep: u8) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, &b) in v.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        } else if !quoted && b == sep {
            parts.push(&v[start..i]);
            start = i + 1;
        }
    }
    parts.push(&v[start..]);
    parts
}

/// `Server-Timing` by the rules (on a value within the 2048 bytes read): the first
/// `dur` of the first `observe` metric that has one decides.
fn reference_server_timing(v: &[u8]) -> Option<Duration> {
    for metric in split_outside_quotes(v, b',') {
        let mut parts = split_outside_quotes(metric, b';').into_iter();
        if !parts
            .next()
            .unwrap_or_default()
            .trim_ascii()
            .eq_ignore_ascii_case(b"observe")
        {
            continue;
        }
        for param in parts {
            let (name, value) = match param.iter().position(|&b| b == b'=') {
                Some(eq) => (&param[..eq], &param[eq + 1..]),
                None => (param, &b""[..]),
            };
            if name.trim_ascii().eq_ignore_ascii_case(b"dur") {
                let value = value.trim_ascii();
                let value = match value.strip_prefix(b"\"") {
                    Some(rest) => rest.split(|&b| b == b'"').next().unwrap_or_default(),
                    None => value,
                };
                let text = std::str::from_utf8(value).ok()?;
                let number: String = text
                    .char_indices()
                    .take_while(|&(i, c)| {
                        c.is_ascii_digit() || (c == '.' && !text[..i].contains('.'))
                    })
                    .map(|(_, c)| c)
                    .collect();
                let millis: f64 = number.parse().ok()?;
                return Duration::try_from_secs_f64(millis / 1000.0).ok();
            }
        }
    }
    None
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
            prop_assert!(oracle_tracestate_key(k.as_bytes()), "key {:?}", k);
            prop_assert!(oracle_tracestate_value(v.as_bytes()), "value {:?}", v);
            prop_assert!(keys.insert(k), "duplicate key {:?}", k);
        }
        prop_assert_eq!(TraceState::parse(ts.to_string().as_bytes()), ts);
    }

    #[test]
    fn tracestate_is_what_the_reference_model_gives(
        values in proptest::collection::vec(tracestate_like(), 0..4)
    ) {
        let ts = TraceState::parse_all(values.iter().map(Vec::as_slice));
        prop_assert_eq!(ts.as_str(), reference_tracestate(&values));
    }

    #[test]
    fn tracestate_insert_keeps_the_entry_first_and_the_limits(
        existing in tracestate_like(),
        key in "[a-z][a-z0-9_*/-]{0,20}(@[a-z][a-z0-9_*/-]{0,13})?",
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

    #[test]
    fn baggage_is_what_the_reference_model_gives(
        values in proptest::collection::vec(
            prop_oneof![4 => baggage_like(), 1 => list_like("[a-z]{1,3}=[a-z%=]{100,900}", 30)],
            0..4,
        )
    ) {
        let bag = Baggage::parse_all(values.iter().map(Vec::as_slice));
        let got: Vec<(String, String, String)> = bag
            .iter()
            .map(|m| (m.key().to_owned(), m.value().to_owned(), m.properties().to_owned()))
            .collect();
        prop_assert_eq!(got, reference_baggage(&values));
    }

    #[test]
    fn traceparent_is_what_the_reference_model_gives(bytes in traceparent_like()) {
        let got = parse_traceparent(&bytes)
            .ok()
            .map(|c| (c.trace_id.to_string(), c.span_id.to_string(), c.flags.bits()));
        prop_assert_eq!(got, reference_traceparent(&bytes));
    }

    #[test]
    fn request_id_is_what_the_reference_model_gives(bytes in header_bytes(" -~\t", 300)) {
        let got = RequestId::parse(&bytes).ok().map(|id| id.as_str().to_owned());
        prop_assert_eq!(got, reference_request_id(&bytes));
    }

    #[test]
    fn server_timing_is_what_the_reference_model_gives(
        metrics in proptest::collection::vec(
            "(observe|OBSERVE|db|x)( ?; ?(dur|desc|DUR) ?= ?(-?[0-9]{0,3}(\\.[0-9]{1,3})?|\"[0-9.,; a]{0,6}\"|[a-z]{0,3}))*",
            0..6,
        )
    ) {
        let header = metrics.join(", ");
        prop_assume!(header.len() <= SERVER_TIMING_MAX_LEN);
        prop_assert_eq!(parse_server_timing(header.as_bytes()), reference_server_timing(header.as_bytes()));
    }
}
