//! `tracestate`, W3C Trace Context Level 2 §3.3 and §3.5.

use observe_core::propagation::{
    RejectReason, Rejections, TRACESTATE_MAX_LEN, TRACESTATE_MAX_MEMBERS, TraceState,
    TraceStateError,
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

#[test]
fn members_beyond_thirty_two_are_dropped_from_the_right() {
    let values: Vec<String> = [1..=10, 11..=20, 21..=30, 31..=35]
        .into_iter()
        .map(|r| {
            r.map(|i| format!("bar{i:02}={i:02}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    let bytes: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
    let (ts, rejected) = reasons(&bytes);
    assert_eq!(ts.len(), TRACESTATE_MAX_MEMBERS);
    assert_eq!(ts.get("bar01"), Some("01"));
    assert_eq!(ts.get("bar32"), Some("32"));
    assert_eq!(ts.get("bar33"), None);
    assert_eq!(rejected, [TraceStateError::TooManyMembers]);
}

#[test]
fn invalid_members_do_not_count_toward_the_limit() {
    let mut header: Vec<String> = (1..=32).map(|i| format!("k{i}=v")).collect();
    header.insert(3, "BAD=1".to_owned());
    assert_eq!(parse(&header.join(",")).len(), 32);
}

#[test]
fn duplicate_key_keeps_the_left_most_entry() {
    let (ts, rejected) = reasons(&[b"foo=1,bar=2,foo=3"]);
    assert_eq!(ts.as_str(), "foo=1,bar=2");
    assert_eq!(rejected, [TraceStateError::DuplicateKey]);
    assert_eq!(parse_all(&["foo=1", "foo=2"]).as_str(), "foo=1");
    assert_eq!(parse_all(&["foo=1", "foo=1"]).as_str(), "foo=1");
}

#[test]
fn member_with_an_invalid_key_is_dropped_and_others_kept() {
    for bad in [
        "foo =1",
        "FOO=1",
        "foo.bar=1",
        "@foo=1",
        "_foo=1",
        "=1",
        "fo\u{e9}=1",
    ] {
        let (ts, rejected) = reasons(&[format!("a=1,{bad},b=2").as_bytes()]);
        assert_eq!(ts.as_str(), "a=1,b=2", "{bad:?}");
        assert_eq!(rejected, [TraceStateError::InvalidKey], "{bad:?}");
    }
}

#[test]
fn keys_follow_the_level_2_grammar() {
    // key = ( lcalpha / DIGIT ) 0*255 ( keychar ), keychar includes '@'.
    let accepted = [
        "congo".to_owned(),
        "1congo".to_owned(),
        "tenant@system".to_owned(),
        "123@vendor".to_owned(),
        format!("{}@{}", "t".repeat(241), "v".repeat(14)),
        "foo@bar@baz".to_owned(),
        "a-z_0*9/x".to_owned(),
        "z".repeat(256),
    ];
    for key in accepted {
        assert_eq!(parse(&format!("{key}=1")).get(&key), Some("1"), "{key}");
        assert!(TraceState::is_valid_key(&key));
    }
    assert!(
        parse(&format!("{}=1", "z".repeat(257))).is_empty(),
        "a key is at most 256 characters"
    );
}

#[test]
fn all_allowed_characters_are_accepted() {
    let key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/@a-z0-9_-*/";
    let value: String = (0x20u8..=0x7e)
        .filter(|&b| b != b',' && b != b'=')
        .map(char::from)
        .collect();
    let ts = parse(&format!("{key}={value}"));
    assert_eq!(ts.get(key), Some(value.as_str()));
}

#[test]
fn member_with_an_invalid_value_is_dropped_and_others_kept() {
    for bad in [
        "foo=bar=baz",
        "foo=",
        "foo=a\tb",
        "foo=\u{e9}",
        "foo=a\x7fb",
    ] {
        let (ts, rejected) = reasons(&[format!("a=1,{bad},b=2").as_bytes()]);
        assert_eq!(ts.as_str(), "a=1,b=2", "{bad:?}");
        assert_eq!(rejected, [TraceStateError::InvalidValue], "{bad:?}");
    }
}

#[test]
fn value_is_at_most_256_characters() {
    let ok = "v".repeat(256);
    assert_eq!(parse(&format!("foo={ok}")).get("foo"), Some(ok.as_str()));
    assert!(parse(&format!("foo={}", "v".repeat(257))).is_empty());
}

#[test]
fn leading_spaces_of_a_value_are_kept_and_trailing_ones_are_not() {
    let ts = parse("foo=  bar  ,baz=1");
    assert_eq!(ts.get("foo"), Some("  bar"));
    assert_eq!(ts.as_str(), "foo=  bar,baz=1");
}

#[test]
fn member_without_equals_is_dropped() {
    let (ts, rejected) = reasons(&[b"novalue,a=1"]);
    assert_eq!(ts.as_str(), "a=1");
    assert_eq!(rejected, [TraceStateError::MissingEquals]);
}

#[test]
fn non_utf8_member_is_dropped_without_panic() {
    let (ts, rejected) = reasons(&[b"a=1,b=\xff\xfe,c\x80=1,d=4"]);
    assert_eq!(ts.as_str(), "a=1,d=4");
    assert_eq!(rejected.len(), 2);
}

#[test]
fn too_long_combined_header_is_cut_by_whole_members_large_ones_first() {
    // 16 members of 201 characters (over 128) and 16 of 101, interleaved: 4863 bytes.
    let large: Vec<String> = (0..16)
        .map(|i| format!("l{i:02}={}", "x".repeat(197)))
        .collect();
    let small: Vec<String> = (0..16)
        .map(|i| format!("s{i:02}={}", "y".repeat(97)))
        .collect();
    let mut members = Vec::new();
    for i in 0..16 {
        members.push(large[i].as_str());
        members.push(small[i].as_str());
    }
    let header = members.join(",");
    assert!(header.len() > TRACESTATE_MAX_LEN);

    let (ts, rejected) = reasons(&[header.as_bytes()]);
    assert!(ts.as_str().len() <= TRACESTATE_MAX_LEN);
    assert!(rejected.iter().all(|r| *r == TraceStateError::TooLong));
    // All small members survive: only large ones had to go, right-most first.
    for s in &small {
        assert!(ts.as_str().contains(s.as_str()));
    }
    let kept_large: Vec<&str> = ts
        .iter()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with('l'))
        .collect();
    let expected: Vec<String> = (0..kept_large.len()).map(|i| format!("l{i:02}")).collect();
    assert_eq!(
        kept_large, expected,
        "large members are dropped from the right"
    );
    // Nothing was split: every kept member is one of the originals.
    for (k, v) in ts.iter() {
        assert!(members.contains(&format!("{k}={v}").as_str()));
    }
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
    assert!(ts.as_str().starts_with(&members[..ts.len()].join(",")));
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
    assert_eq!(parse(&ts.to_string()), ts);
}
