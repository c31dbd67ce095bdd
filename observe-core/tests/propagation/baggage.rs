//! `baggage`, W3C Baggage §3.

use observe_core::propagation::{
    BAGGAGE_MAX_BYTES, BAGGAGE_MAX_MEMBERS, Baggage, BaggageError, RejectReason, Rejections, keys,
};

fn parse(s: &str) -> Baggage {
    Baggage::parse(s.as_bytes())
}

fn reasons(values: &[&[u8]]) -> (Baggage, Vec<BaggageError>) {
    let mut rejections = Rejections::new();
    let bag = Baggage::parse_reporting(values.iter().copied(), &mut rejections);
    let reasons = rejections
        .iter()
        .map(|r| match &r.reason {
            RejectReason::Baggage(e) => *e,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    (bag, reasons)
}

fn members(bag: &Baggage) -> Vec<(String, String, String)> {
    bag.iter()
        .map(|m| {
            (
                m.key().to_owned(),
                m.value().to_owned(),
                m.properties().to_owned(),
            )
        })
        .collect()
}

fn m(k: &str, v: &str, p: &str) -> (String, String, String) {
    (k.to_owned(), v.to_owned(), p.to_owned())
}

#[test]
fn spec_example_with_properties_and_whitespace() {
    let bag = parse(
        "key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue",
    );
    assert_eq!(
        members(&bag),
        [
            m("key1", "value1", "property1;property2"),
            m("key2", "value2", ""),
            m("key3", "value3", "propertyKey=propertyValue"),
        ]
    );
}

#[test]
fn optional_whitespace_is_not_part_of_keys_values_or_properties() {
    let bag = parse("\t userId =   alice ;  p1 = x ; p2 \t,serverNode = DF%2028");
    assert_eq!(
        members(&bag),
        [
            m("userId", "alice", "p1=x;p2"),
            m("serverNode", "DF 28", "")
        ]
    );
}

#[test]
fn values_are_percent_decoded() {
    let bag = parse("userId=Am%C3%A9lie,serverNode=DF%2028,isProduction=false,emoji=%F0%9F%98%80");
    assert_eq!(bag.get("userId"), Some("Amélie"));
    assert_eq!(bag.get("serverNode"), Some("DF 28"));
    assert_eq!(bag.get("isProduction"), Some("false"));
    assert_eq!(bag.get("emoji"), Some("\u{1F600}"));
}

#[test]
fn values_are_percent_encoded_on_output() {
    let mut bag = Baggage::new();
    bag.insert("k", "a b,c;d\"e\\f%g=h\u{e9}\u{7f}\n").unwrap();
    assert_eq!(
        bag.to_string(),
        "k=a%20b%2Cc%3Bd%22e%5Cf%25g%3Dh%C3%A9%7F%0A"
    );
    assert_eq!(
        parse(&bag.to_string()).get("k"),
        Some("a b,c;d\"e\\f%g=h\u{e9}\u{7f}\n")
    );
}

#[test]
fn baggage_octets_are_sent_unencoded() {
    let value: String = (0x21u8..=0x7e)
        .filter(|b| !matches!(b, b'"' | b',' | b';' | b'\\' | b'%' | b'='))
        .map(char::from)
        .collect();
    let mut bag = Baggage::new();
    bag.insert("k", &value).unwrap();
    assert_eq!(bag.to_string(), format!("k={value}"));
}

#[test]
fn percent_sequences_that_are_not_utf8_become_the_replacement_character() {
    assert_eq!(parse("k=a%FFb").get("k"), Some("a\u{FFFD}b"));
    assert_eq!(parse("k=%C3").get("k"), Some("\u{FFFD}"));
    assert_eq!(parse("k=%E2%82").get("k"), Some("\u{FFFD}"));
}

#[test]
fn a_percent_sign_without_two_hex_digits_is_kept_literally() {
    let bag = parse("k=50%,j=%zz");
    assert_eq!(bag.get("k"), Some("50%"));
    assert_eq!(bag.get("j"), Some("%zz"));
    assert_eq!(bag.to_string(), "k=50%25,j=%25zz");
}

#[test]
fn a_value_may_contain_equals_signs() {
    let bag = parse("k=a=b==c");
    assert_eq!(bag.get("k"), Some("a=b==c"));
}

#[test]
fn an_empty_value_is_allowed() {
    let bag = parse("k=,j= ");
    assert_eq!(bag.get("k"), Some(""));
    assert_eq!(bag.get("j"), Some(""));
    assert_eq!(bag.to_string(), "k=,j=");
}

#[test]
fn properties_are_kept_verbatim_and_not_decoded() {
    let bag = parse("k=v;p=%41%20;flag;q=a=b");
    assert_eq!(bag.get("k"), Some("v"));
    assert_eq!(
        bag.iter().next().unwrap().properties(),
        "p=%41%20;flag;q=a=b"
    );
    assert_eq!(bag.to_string(), "k=v;p=%41%20;flag;q=a=b");
}

#[test]
fn member_with_an_invalid_key_is_dropped_and_others_kept() {
    for bad in [
        "bad key=1",
        "=1",
        "k\"=1",
        "k(=1",
        "k\u{e9}=1",
        "k/=1",
        "k@=1",
    ] {
        let (bag, rejected) = reasons(&[format!("a=1,{bad},b=2").as_bytes()]);
        assert_eq!(bag.to_string(), "a=1,b=2", "{bad:?}");
        assert_eq!(rejected, [BaggageError::InvalidKey], "{bad:?}");
    }
}

#[test]
fn keys_are_tokens() {
    let key = "A-Za-z0-9!#$%&'*+.^_`|~";
    assert_eq!(parse(&format!("{key}=1")).get(key), Some("1"));
    assert!(Baggage::is_valid_key(key));
}

#[test]
fn member_with_a_value_outside_baggage_octets_is_dropped() {
    for bad in ["k=a b", "k=a\"b", "k=a\\b", "k=\u{e9}", "k=a\tb", "k=\x7f"] {
        let (bag, rejected) = reasons(&[format!("a=1,{bad},b=2").as_bytes()]);
        assert_eq!(bag.to_string(), "a=1,b=2", "{bad:?}");
        assert_eq!(rejected, [BaggageError::InvalidValue], "{bad:?}");
    }
}

#[test]
fn member_without_equals_is_dropped() {
    let (bag, rejected) = reasons(&[b"a=1,k,j;p=1,b=2"]);
    assert_eq!(bag.to_string(), "a=1,b=2");
    assert_eq!(
        rejected,
        [BaggageError::MissingEquals, BaggageError::MissingEquals]
    );
}

#[test]
fn member_with_an_invalid_property_is_dropped() {
    for bad in ["k=v;bad prop", "k=v;p=a b", "k=v;=x", "k=v;p=\"q\""] {
        let (bag, rejected) = reasons(&[format!("a=1,{bad},b=2").as_bytes()]);
        assert_eq!(bag.to_string(), "a=1,b=2", "{bad:?}");
        assert_eq!(rejected, [BaggageError::InvalidProperty], "{bad:?}");
    }
}

#[test]
fn empty_members_are_skipped() {
    let (bag, rejected) = reasons(&[b",a=1,, ,b=2,"]);
    assert_eq!(bag.to_string(), "a=1,b=2");
    assert!(rejected.is_empty());
}

#[test]
fn non_utf8_bytes_drop_only_their_member() {
    let (bag, rejected) = reasons(&[b"a=1,k=\xff\xfe,\xc3\xa9=1,b=2"]);
    assert_eq!(bag.to_string(), "a=1,b=2");
    assert_eq!(
        rejected,
        [BaggageError::InvalidValue, BaggageError::InvalidKey]
    );
}

#[test]
fn multiple_headers_are_combined() {
    let bag = Baggage::parse_all([
        &b"userId=alice"[..],
        b"serverNode=DF%2028,isProduction=false",
    ]);
    assert_eq!(
        bag.to_string(),
        "userId=alice,serverNode=DF%2028,isProduction=false"
    );
}

#[test]
fn one_hundred_eighty_members_are_propagated() {
    // 180: the most the grammar allows (list-member 0*179( OWS "," OWS list-member )).
    let header: Vec<String> = (0..180).map(|i| format!("k{i}={i}")).collect();
    let (bag, rejected) = reasons(&[header.join(",").as_bytes()]);
    assert_eq!(bag.len(), BAGGAGE_MAX_MEMBERS);
    assert_eq!(BAGGAGE_MAX_MEMBERS, 180);
    assert!(rejected.is_empty());
    assert_eq!(bag.to_string(), header.join(","));
}

#[test]
fn members_beyond_one_hundred_eighty_are_dropped_whole() {
    let header: Vec<String> = (0..190).map(|i| format!("k{i}={i}")).collect();
    let (bag, rejected) = reasons(&[header.join(",").as_bytes()]);
    assert_eq!(bag.len(), 180);
    assert_eq!(bag.get("k179"), Some("179"));
    assert_eq!(bag.get("k180"), None);
    assert_eq!(
        rejected,
        [BaggageError::TooManyMembers],
        "reported once, not read further"
    );
}

#[test]
fn invalid_members_do_not_count_toward_the_member_limit() {
    let mut header: Vec<String> = (0..180).map(|i| format!("k{i}={i}")).collect();
    header.insert(3, "bad key=1".to_owned());
    let (bag, rejected) = reasons(&[header.join(",").as_bytes()]);
    assert_eq!(bag.len(), 180);
    assert_eq!(rejected, [BaggageError::InvalidKey]);
}

#[test]
fn limits_apply_to_the_combination_of_headers() {
    let first: Vec<String> = (0..100).map(|i| format!("a{i}=1")).collect();
    let second: Vec<String> = (0..100).map(|i| format!("b{i}=1")).collect();
    let bag = Baggage::parse_all([first.join(",").as_bytes(), second.join(",").as_bytes()]);
    assert_eq!(bag.len(), 180);
    assert_eq!(bag.get("b79"), Some("1"));
    assert_eq!(bag.get("b80"), None);
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
fn eight_thousand_one_hundred_ninety_two_bytes_are_propagated() {
    let header = sized_members(8, BAGGAGE_MAX_BYTES).join(",");
    assert_eq!(header.len(), BAGGAGE_MAX_BYTES);
    let (bag, rejected) = reasons(&[header.as_bytes()]);
    assert!(rejected.is_empty());
    assert_eq!(bag.to_string(), header);
    assert_eq!(bag.encoded_len(), BAGGAGE_MAX_BYTES);
}

#[test]
fn larger_input_is_truncated_by_whole_members() {
    let members = sized_members(8, BAGGAGE_MAX_BYTES + 1);
    let header = members.join(",");
    let (bag, rejected) = reasons(&[header.as_bytes()]);
    assert_eq!(rejected, [BaggageError::TooLarge]);
    assert_eq!(bag.len(), 7, "the member that crosses the limit goes whole");
    assert_eq!(bag.to_string(), members[..7].join(","));
}

#[test]
fn nothing_after_the_first_8192_bytes_received_is_read() {
    let members = sized_members(8, BAGGAGE_MAX_BYTES);
    let joined = members.join(",");
    // The next header, and an invalid member in it, are not read.
    let (bag, rejected) = reasons(&[joined.as_bytes(), b"late=1,bad key=2"]);
    assert_eq!(bag.to_string(), joined);
    assert_eq!(rejected, [BaggageError::TooLarge]);
    // Whitespace counts: what is read is the header as received.
    let padded = format!("{}k=1", " ".repeat(BAGGAGE_MAX_BYTES));
    assert!(parse(&padded).is_empty());
}

#[test]
fn the_byte_limit_is_also_measured_on_what_is_sent() {
    // Received in 4005 bytes, but `=` is sent as `%3D`: the second member would
    // make 12005 bytes.
    let header = format!("a={0},b={0}", "=".repeat(2000));
    let (bag, rejected) = reasons(&[header.as_bytes()]);
    assert_eq!(bag.len(), 1);
    assert_eq!(rejected, [BaggageError::TooLarge]);
}

#[test]
fn the_byte_limit_is_measured_on_what_is_sent() {
    // 3000 raw bytes that decode to 1000 characters needing encoding: 3000 sent.
    let encoded = "%20".repeat(1000);
    let header = format!("a={encoded},b={encoded},c={encoded}");
    let bag = parse(&header);
    assert_eq!(bag.len(), 2, "the third member would make 9008 bytes");
    assert!(bag.encoded_len() <= BAGGAGE_MAX_BYTES);
    assert_eq!(bag.encoded_len(), bag.to_string().len());
}

#[test]
fn duplicate_keys_are_kept_in_order_and_get_returns_the_first() {
    let bag = parse("k=1,j=2,k=3");
    assert_eq!(bag.len(), 3);
    assert_eq!(bag.get("k"), Some("1"));
    assert_eq!(bag.to_string(), "k=1,j=2,k=3");
}

#[test]
fn insert_replaces_every_member_with_the_key_and_goes_first() {
    let mut bag = parse("k=1,j=2,k=3;p");
    bag.insert("k", "new").unwrap();
    assert_eq!(bag.to_string(), "k=new,j=2");
}

#[test]
fn insert_into_full_baggage_drops_members_from_the_end() {
    let header: Vec<String> = (0..180).map(|i| format!("k{i}={i}")).collect();
    let mut bag = parse(&header.join(","));
    bag.insert(keys::USER_ID, "alice").unwrap();
    assert_eq!(bag.len(), 180);
    assert_eq!(bag.get(keys::USER_ID), Some("alice"));
    assert_eq!(bag.get("k179"), None);

    let mut bag = parse(&sized_members(8, BAGGAGE_MAX_BYTES).join(","));
    bag.insert(keys::ACCOUNT_ID, "acme").unwrap();
    assert!(bag.encoded_len() <= BAGGAGE_MAX_BYTES);
    assert_eq!(bag.get(keys::ACCOUNT_ID), Some("acme"));
    assert_eq!(bag.len(), 8);
}

#[test]
fn insert_refuses_an_invalid_key_or_an_oversize_member() {
    let mut bag = parse("a=1");
    assert_eq!(bag.insert("bad key", "1"), Err(BaggageError::InvalidKey));
    assert_eq!(bag.insert("", "1"), Err(BaggageError::InvalidKey));
    assert_eq!(
        bag.insert("k", &"x".repeat(BAGGAGE_MAX_BYTES)),
        Err(BaggageError::TooLarge)
    );
    assert_eq!(bag.to_string(), "a=1");
}

#[test]
fn remove_drops_every_member_with_the_key() {
    let mut bag = parse("k=1,j=2,k=3");
    assert_eq!(bag.remove("k"), Some("1".to_owned()));
    assert_eq!(bag.remove("k"), None);
    assert_eq!(bag.to_string(), "j=2");
}

#[test]
fn observe_keys_are_the_documented_ones() {
    assert_eq!(keys::USER_ID, "observe.user_id");
    assert_eq!(keys::ACCOUNT_ID, "observe.account_id");
    assert_eq!(keys::REQUEST_TYPE, "observe.request_type");
    assert_eq!(keys::REQUEST_TYPE_TRACER_BULLET, "tracer_bullet");
    assert_eq!(keys::FLAG_PREFIX, "observe.flag.");
    for key in [
        keys::USER_ID,
        keys::ACCOUNT_ID,
        keys::REQUEST_TYPE,
        "observe.flag.x",
    ] {
        assert!(
            Baggage::is_valid_key(key),
            "{key} must be a valid baggage key"
        );
    }
}

#[test]
fn feature_flags_are_the_members_under_the_flag_prefix() {
    let bag = parse("observe.flag.new_ui=on,observe.flag.=x,other=1,observe.flag.beta=%20b");
    let flags: Vec<_> = bag.feature_flags().collect();
    assert_eq!(flags, [("new_ui", "on"), ("beta", " b")]);
}

#[test]
fn other_members_are_kept_and_passed_on() {
    let mut bag = parse("vendor=x;ttl=3,observe.user_id=u1");
    bag.insert(keys::REQUEST_TYPE, keys::REQUEST_TYPE_TRACER_BULLET)
        .unwrap();
    assert_eq!(
        bag.to_string(),
        "observe.request_type=tracer_bullet,vendor=x;ttl=3,observe.user_id=u1"
    );
}

#[test]
fn format_round_trips() {
    let bag = parse(" a = %C3%A9 ; p ; q = 1 , b=%25, c=");
    assert_eq!(parse(&bag.to_string()), bag);
}
