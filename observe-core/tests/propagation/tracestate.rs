//! `tracestate`, W3C Trace Context Level 2 §3.3 and §3.5, at the strict level of
//! the official W3C test suite: an invalid header is discarded whole.

use observe_core::propagation::{
    RejectReason, Rejections, TRACESTATE_MAX_LEN, TraceState, TraceStateError,
};

fn parse(s: &str) -> TraceState {
    TraceState::parse(s.as_bytes())
}

fn parse_all(values: &[&str]) -> TraceState {
    TraceState::parse_all(values.iter().map(|v| v.as_bytes()))
}

fn reasons(values: &[&[u8]]) -> (TraceState, Vec<TraceStateError>) {
    let mut rejections = Rejections::new();
    let ts = TraceState::parse_reporting(values.iter().copied(), &mut rejections);
    let reasons = rejections
        .iter()
        .map(|r| match &r.reason {
            RejectReason::TraceState(e) => *e,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    (ts, reasons)
}

#[test]
fn members_are_kept_in_order() {
    let ts = parse("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    let members: Vec<_> = ts.iter().collect();
    assert_eq!(
        members,
        [("rojo", "00f067aa0ba902b7"), ("congo", "t61rcWkgMzE")]
    );
    assert_eq!(ts.len(), 2);
}

#[test]
fn optional_whitespace_around_members_is_ignored() {
    for header in [
        "foo=1 \t , \t bar=2, \t baz=3",
        "foo=1\t \t,\t \tbar=2,\t \tbaz=3",
    ] {
        assert_eq!(parse(header).as_str(), "foo=1,bar=2,baz=3", "{header:?}");
    }
    for header in [" foo=1", "\tfoo=1", "foo=1 ", "foo=1\t", "\t foo=1 \t"] {
        assert_eq!(parse(header).get("foo"), Some("1"), "{header:?}");
    }
}

#[test]
fn empty_and_whitespace_only_members_are_allowed() {
    assert_eq!(parse("foo=1,,bar=2").as_str(), "foo=1,bar=2");
    assert_eq!(parse(",foo=1, ,bar=2,").as_str(), "foo=1,bar=2");
    let (ts, rejected) = reasons(&[b" , \t ,"]);
    assert!(ts.is_empty());
    assert!(rejected.is_empty(), "empty members are not errors");
}

#[test]
fn empty_header_is_accepted_and_gives_an_empty_state() {
    assert!(parse("").is_empty());
    assert_eq!(parse("").to_string(), "");
    assert_eq!(parse_all(&["foo=1", ""]).get("foo"), Some("1"));
    assert_eq!(parse_all(&["", "foo=1"]).get("foo"), Some("1"));
}

#[test]
fn multiple_headers_are_combined_in_order() {
    let ts = parse_all(&["foo=1,bar=2", "rojo=1,congo=2", "baz=3"]);
    assert_eq!(ts.as_str(), "foo=1,bar=2,rojo=1,congo=2,baz=3");
}

#[test]
fn thirty_two_members_are_kept() {
    let header: Vec<String> = (1..=32).map(|i| format!("bar{i:02}={i:02}")).collect();
    let ts = parse(&header.join(","));
    assert_eq!(ts.len(), 32);
    assert_eq!(ts.get("bar01"), Some("01"));
    assert_eq!(ts.get("bar32"), Some("32"));
}

/// The strict level of the official W3C test suite: a `tracestate` with an
/// invalid member is invalid as a whole and is discarded, not kept member by member
/// (`test_tracestate_member_count_limit`, `..._duplicated_keys`,
/// `..._key_illegal_characters`, `..._key_illegal_vendor_format`,
/// `..._key_length_limit`, `..._value_illegal_characters`).
#[test]
fn more_than_thirty_two_members_across_headers_discard_the_header() {
    let values: Vec<String> = [1..=10, 11..=20, 21..=30, 31..=33]
        .into_iter()
        .map(|r| {
            r.map(|i| format!("bar{i:02}={i:02}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    let bytes: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
    let (ts, rejected) = reasons(&bytes);
    assert!(ts.is_empty(), "{ts:?}");
    assert_eq!(rejected, [TraceStateError::TooManyMembers]);
    // Empty members do not count.
    let members: Vec<String> = (1..=32).map(|i| format!("k{i}=v")).collect();
    assert_eq!(parse(&format!(",{}, ,", members.join(",,"))).len(), 32);
}

#[test]
fn a_duplicated_key_discards_the_header() {
    let (ts, rejected) = reasons(&[b"foo=1,bar=2,foo=3"]);
    assert!(ts.is_empty());
    assert_eq!(rejected, [TraceStateError::DuplicateKey]);
    for values in [
        &["foo=1,foo=1"][..],
        &["foo=1,foo=2"],
        &["foo=1", "foo=1"],
        &["foo=1", "foo=2"],
    ] {
        assert!(parse_all(values).is_empty(), "{values:?}");
    }
    // Keys that share a prefix are not duplicates.
    assert_eq!(parse("foo=1,fo=2,foo1=3").len(), 3);
}

#[test]
fn a_member_with_an_invalid_key_discards_the_header() {
    for bad in [
        "foo =1",
        "FOO=1",
        "foo.bar=1",
        "@foo=1",
        "foo@=1",
        "foo@@bar=1",
        "foo@bar@baz=1",
        "_foo=1",
        "=1",
        "fo\u{e9}=1",
    ] {
        let (ts, rejected) = reasons(&[b"a=1", format!("{bad},b=2").as_bytes()]);
        assert!(ts.is_empty(), "{bad:?}: {ts:?}");
        assert_eq!(rejected, [TraceStateError::InvalidKey], "{bad:?}");
    }
}

#[test]
fn keys_follow_the_grammar_the_w3c_suite_checks() {
    // simple-key = lcalpha 0*255( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
    // multi-tenant-key = tenant-id "@" system-id, tenant-id 1 to 241 characters
    // starting with lcalpha or DIGIT, system-id 1 to 14 starting with lcalpha.
    let accepted = [
        "congo".to_owned(),
        "tenant@system".to_owned(),
        "123@vendor".to_owned(),
        format!("{}@{}", "t".repeat(241), "v".repeat(14)),
        "a-z_0*9/x".to_owned(),
        "z".repeat(256),
    ];
    for key in accepted {
        let ts = parse_all(&["foo=1", &format!("{key}=1")]);
        assert_eq!(ts.get(&key), Some("1"), "{key}");
        assert_eq!(ts.get("foo"), Some("1"), "{key}");
        assert!(TraceState::is_valid_key(&key));
    }
    let refused = [
        "z".repeat(257),
        format!("{}@v", "t".repeat(242)),
        format!("t@{}", "v".repeat(15)),
        "foo@bar@baz".to_owned(),
        "1congo".to_owned(),
        "t@1v".to_owned(),
    ];
    for key in refused {
        assert!(
            parse_all(&["foo=1", &format!("{key}=1")]).is_empty(),
            "{key}"
        );
        assert!(!TraceState::is_valid_key(&key), "{key}");
    }
}

#[test]
fn all_allowed_characters_are_accepted() {
    let value: String = (0x20u8..=0x7e)
        .filter(|&b| b != b',' && b != b'=')
        .map(char::from)
        .collect();
    for key in [
        "abcdefghijklmnopqrstuvwxyz0123456789_-*/",
        "abcdefghijklmnopqrstuvwxyz0123456789_-*/@a-z0-9_-*/",
    ] {
        let ts = parse(&format!("{key}={value}"));
        assert_eq!(ts.get(key), Some(value.as_str()), "{key}");
    }
}

#[test]
fn a_member_with_an_invalid_value_discards_the_header() {
    for bad in [
        "foo=bar=baz",
        "foo=",
        "foo= ",
        "foo=a\tb",
        "foo=\u{e9}",
        "foo=a\x7fb",
    ] {
        let (ts, rejected) = reasons(&[format!("a=1,{bad},b=2").as_bytes()]);
        assert!(ts.is_empty(), "{bad:?}: {ts:?}");
        assert_eq!(rejected, [TraceStateError::InvalidValue], "{bad:?}");
    }
    assert!(parse("foo=,bar=3").is_empty());
}

#[test]
fn value_is_at_most_256_characters() {
    let ok = "v".repeat(256);
    assert_eq!(parse(&format!("foo={ok}")).get("foo"), Some(ok.as_str()));
    assert!(parse(&format!("a=1,foo={}", "v".repeat(257))).is_empty());
}

#[test]
fn leading_spaces_of_a_value_are_kept_and_trailing_ones_are_not() {
    let ts = parse("foo=  bar \t ,baz=1");
    assert_eq!(ts.get("foo"), Some("  bar"));
    assert_eq!(ts.as_str(), "foo=  bar,baz=1");
}

#[test]
fn a_member_without_equals_discards_the_header() {
    let (ts, rejected) = reasons(&[b"a=1,novalue,b=2"]);
    assert!(ts.is_empty());
    assert_eq!(rejected, [TraceStateError::MissingEquals]);
}

#[test]
fn non_utf8_bytes_discard_the_header_without_panic() {
    for value in [&b"a=1,b=\xff\xfe,d=4"[..], b"a=1,c\x80=1", b"\xff"] {
        let (ts, rejected) = reasons(&[value]);
        assert!(ts.is_empty());
        assert_eq!(rejected.len(), 1);
    }
}

#[test]
fn parsing_stops_at_the_first_invalid_member() {
    // What comes after the first invalid member is not looked at: one rejection,
    // for the first.
    let (ts, rejected) = reasons(&[b"a=1,BAD=1,c=3,ALSO BAD,d=4", b"e=5"]);
    assert!(ts.is_empty());
    assert_eq!(rejected, [TraceStateError::InvalidKey]);
}

/// `count` members `kNN=vvv...` making exactly `total` bytes with their commas.
fn sized_members(count: usize, total: usize) -> Vec<String> {
    let overhead = count - 1;
    let per = (total - overhead) / count;
    let mut extra = (total - overhead) % count;
    (0..count)
        .map(|i| {
            let len = per + usize::from(extra > 0);
            extra = extra.saturating_sub(1);
            let key = format!("k{i:02}");
            format!("{key}={}", "v".repeat(len - key.len() - 1))
        })
        .collect()
}

#[test]
fn five_hundred_twelve_characters_are_kept_whole() {
    let header = sized_members(32, TRACESTATE_MAX_LEN).join(",");
    assert_eq!(header.len(), TRACESTATE_MAX_LEN);
    let (ts, rejected) = reasons(&[header.as_bytes()]);
    assert!(rejected.is_empty());
    assert_eq!(ts.as_str(), header);
    // Whitespace counts towards the 512 characters read, as the specification
    // counts it; the kept value is the canonical one.
    let members = sized_members(4, TRACESTATE_MAX_LEN - 8);
    let header = format!(" {} ", members.join(" , "));
    assert_eq!(header.len(), TRACESTATE_MAX_LEN);
    assert_eq!(parse(&header).as_str(), members.join(","));
}

#[test]
fn members_that_do_not_end_within_512_characters_are_dropped_unread() {
    let members = sized_members(4, TRACESTATE_MAX_LEN + 1);
    let (ts, rejected) = reasons(&[members.join(",").as_bytes()]);
    assert_eq!(ts.as_str(), members[..3].join(","));
    assert_eq!(rejected, [TraceStateError::TooLong]);

    // The member that ends exactly at 512 is kept; the next header is not read.
    let members = sized_members(4, TRACESTATE_MAX_LEN);
    let joined = members.join(",");
    let (ts, rejected) = reasons(&[joined.as_bytes(), b"late=1"]);
    assert_eq!(ts.as_str(), joined);
    assert_eq!(rejected, [TraceStateError::TooLong]);

    // Nothing after the first 512 characters is read, so an invalid member there
    // cannot discard the members before it.
    let bad = format!("{},{},BAD", members[..3].join(","), "x".repeat(400));
    assert_eq!(parse(&bad).as_str(), members[..3].join(","));
}

#[test]
fn too_long_header_of_small_members_loses_its_end() {
    let members: Vec<String> = (0..32)
        .map(|i| format!("k{i:02}={}", "v".repeat(124)))
        .collect();
    let header = members.join(",");
    assert!(header.len() > TRACESTATE_MAX_LEN);
    let ts = parse(&header);
    assert!(ts.as_str().len() <= TRACESTATE_MAX_LEN);
    assert_eq!(ts.as_str(), members[..3].join(","));
}

#[test]
fn insert_moves_an_updated_key_to_the_front() {
    let mut ts = parse("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    ts.insert("congo", "ucfJifl5GOE").unwrap();
    assert_eq!(ts.as_str(), "congo=ucfJifl5GOE,rojo=00f067aa0ba902b7");
}

#[test]
fn insert_adds_a_new_key_at_the_front() {
    let mut ts = parse("congo=t61rcWkgMzE");
    ts.insert("rojo", "00f067aa0ba902b7").unwrap();
    assert_eq!(ts.as_str(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
}

#[test]
fn insert_into_a_full_state_drops_the_right_most_member() {
    let header: Vec<String> = (1..=32).map(|i| format!("k{i:02}=v")).collect();
    let mut ts = parse(&header.join(","));
    ts.insert("mine", "1").unwrap();
    assert_eq!(ts.len(), 32);
    assert_eq!(ts.iter().next(), Some(("mine", "1")));
    assert_eq!(ts.get("k32"), None);
    assert_eq!(ts.get("k31"), Some("v"));
}

#[test]
fn insert_keeps_the_length_limit_and_its_own_entry() {
    let members: Vec<String> = (0..20)
        .map(|i| format!("k{i:02}={}", "v".repeat(200)))
        .collect();
    let mut ts = parse(&members.join(","));
    ts.insert("mine", &"m".repeat(256)).unwrap();
    assert!(ts.as_str().len() <= TRACESTATE_MAX_LEN);
    assert_eq!(ts.iter().next().map(|(k, _)| k), Some("mine"));
}

#[test]
fn insert_rejects_an_invalid_key_or_value_and_changes_nothing() {
    let mut ts = parse("a=1");
    assert_eq!(ts.insert("Bad", "1"), Err(TraceStateError::InvalidKey));
    assert_eq!(ts.insert("ok", "a,b"), Err(TraceStateError::InvalidValue));
    assert_eq!(ts.insert("ok", ""), Err(TraceStateError::InvalidValue));
    assert_eq!(ts.as_str(), "a=1");
}

#[test]
fn remove_deletes_one_key_and_keeps_the_order() {
    let mut ts = parse("a=1,b=2,c=3");
    assert_eq!(ts.remove("b"), Some("2".to_owned()));
    assert_eq!(ts.remove("b"), None);
    assert_eq!(ts.as_str(), "a=1,c=3");
}

#[test]
fn format_round_trips() {
    let ts = parse(" a=1 ,, b= 2,c=x y");
    assert_eq!(ts.len(), 3);
    assert_eq!(parse(&ts.to_string()), ts);
}
