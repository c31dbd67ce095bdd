//! Work is bounded by what is kept, not by what is sent: for inputs up to a megabyte
//! per header value (several values per header), every inbound parser examines at
//! most its limit plus a small constant, counted byte by byte by the parsers
//! themselves ([`scan::examined`], counted in tests only). Nothing here is timed.
//!
//! The slack of each bound, and where it comes from:
//! - `tracestate`: the byte after the 512 read (to see whether the last member ends
//!   there), and one key compared when its hash equals a kept key's (at most 256
//!   bytes, and it ends the parse: a duplicated key discards the header).
//! - `baggage`: the byte after the 8192 read.
//! - `traceparent`, `traceresponse`, `x-request-id`: the two ends of each value are
//!   read twice (by the trim and by the checks), for at most 4 values.
//! - `Server-Timing`: the byte after the 2048 read, and the one `dur` value that
//!   decides (at most 32 bytes) read three times to become a number.

use proptest::prelude::*;

use super::request_id::REQUEST_ID_READ_LIMIT;
use super::scan::take_examined;
use super::*;

const TRACESTATE_BOUND: usize = TRACESTATE_MAX_LEN + 1 + 256;
const BAGGAGE_BOUND: usize = BAGGAGE_MAX_BYTES + 1;
const TRACEPARENT_BOUND: usize = TRACEPARENT_MAX_LEN + 2 * MAX_REPEATED_VALUES;
const REQUEST_ID_BOUND: usize = REQUEST_ID_READ_LIMIT + 2 * MAX_REPEATED_VALUES;
const SERVER_TIMING_BOUND: usize = SERVER_TIMING_MAX_LEN + 1 + 3 * 32;

const MB: usize = 1 << 20;

/// A value of up to 1 MB: a pattern of pieces (of the header's grammar, or any
/// bytes) repeated to a length, after an optional well-formed prefix.
fn big(pieces: BoxedStrategy<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(pieces.clone(), 0..3),
        proptest::collection::vec(pieces, 1..8),
        prop_oneof![0..=1024usize, 0..=MB, Just(MB)],
    )
        .prop_map(|(prefix, pattern, len)| {
            let mut out: Vec<u8> = prefix.concat();
            let pattern = pattern.concat();
            if !pattern.is_empty() {
                out.extend(pattern.iter().cycle().take(len));
            }
            out
        })
}

fn pieces(grammar: &'static [&'static [u8]]) -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        3 => proptest::sample::select(grammar).prop_map(<[u8]>::to_vec),
        1 => proptest::collection::vec(any::<u8>(), 0..16),
        1 => (proptest::sample::select(grammar), 1..300usize)
            .prop_map(|(p, n)| p.repeat(n)),
    ]
    .boxed()
}

const TRACESTATE_PIECES: &[&[u8]] = &[
    b"a=1,",
    b"z=1,",
    b",z=1",
    b"k",
    b"=",
    b",",
    b" ",
    b"\t",
    b"tenant@sys=v,",
    b"@",
    b"A",
    b"\xff",
    b"v ",
    b"x=",
    b"0123456789",
    b"abcdefghij",
];

const BAGGAGE_PIECES: &[&[u8]] = &[
    b"k=v,",
    b"z=1,",
    b",",
    b" ",
    b"\t",
    b";p",
    b";p=1",
    b"=",
    b"%41",
    b"%",
    b"\"",
    b"\\",
    b"\xff",
    b"observe.user_id=u",
    b"abcdefghij",
];

const TRACEPARENT_PIECES: &[&[u8]] = &[
    b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    b"-",
    b" ",
    b"\t",
    b"0",
    b"f",
    b"cc",
    b"\xff",
];

const SERVER_TIMING_PIECES: &[&[u8]] = &[
    b"observe",
    b";dur=",
    b"12.5",
    b",",
    b";",
    b"\"",
    b"\\",
    b" ",
    b"db;dur=53, ",
    b"observe;",
    b"desc=\"a, b\"",
    b"e9",
    b"\xff",
];

fn header_map(name: &str, values: &[Vec<u8>]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    add(&mut map, name, values);
    map
}

/// Appends the values `HeaderValue` accepts (it refuses control characters).
fn add(map: &mut http::HeaderMap, name: &str, values: &[Vec<u8>]) {
    let name = http::HeaderName::from_bytes(name.as_bytes()).expect("header name");
    for v in values {
        if let Ok(v) = http::HeaderValue::from_bytes(v) {
            map.append(name.clone(), v);
        }
    }
}

fn slices(values: &[Vec<u8>]) -> impl Iterator<Item = &[u8]> {
    values.iter().map(Vec::as_slice)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn tracestate_reads_at_most_its_limit(
        values in proptest::collection::vec(big(pieces(TRACESTATE_PIECES)), 1..4)
    ) {
        take_examined();
        let ts = TraceState::parse_reporting(slices(&values), &mut Rejections::new());
        let examined = take_examined();
        prop_assert!(examined <= TRACESTATE_BOUND, "{} bytes examined", examined);
        prop_assert!(ts.len() <= TRACESTATE_MAX_MEMBERS);
        prop_assert!(ts.as_str().len() <= TRACESTATE_MAX_LEN);
    }

    #[test]
    fn baggage_reads_at_most_its_limit(
        values in proptest::collection::vec(big(pieces(BAGGAGE_PIECES)), 1..4)
    ) {
        take_examined();
        let bag = Baggage::parse_reporting(slices(&values), &mut Rejections::new());
        let examined = take_examined();
        prop_assert!(examined <= BAGGAGE_BOUND, "{} bytes examined", examined);
        prop_assert!(bag.len() <= BAGGAGE_MAX_MEMBERS);
        prop_assert!(bag.encoded_len() <= BAGGAGE_MAX_BYTES);
    }

    #[test]
    fn traceparent_and_traceresponse_read_at_most_their_limit(
        values in proptest::collection::vec(big(pieces(TRACEPARENT_PIECES)), 1..8)
    ) {
        take_examined();
        let _ = parse_traceparent(&values[0]);
        let examined = take_examined();
        prop_assert!(examined <= TRACEPARENT_MAX_LEN + 2, "{} bytes examined", examined);

        let _ = extract(&header_map(TRACEPARENT, &values));
        let examined = take_examined();
        prop_assert!(examined <= TRACEPARENT_BOUND, "{} bytes examined", examined);

        let _ = extract_response(&header_map(TRACERESPONSE, &values));
        let examined = take_examined();
        prop_assert!(examined <= TRACEPARENT_BOUND, "{} bytes examined", examined);
    }

    #[test]
    fn request_id_reads_at_most_its_limit(
        values in proptest::collection::vec(
            big(pieces(&[b"req-", b"42", b" ", b"\t", b"~", b"\x7f", b"\xff"])), 1..8)
    ) {
        take_examined();
        let _ = RequestId::parse(&values[0]);
        let examined = take_examined();
        prop_assert!(examined <= REQUEST_ID_READ_LIMIT + 2, "{} bytes examined", examined);

        let _ = extract(&header_map(X_REQUEST_ID, &values));
        let examined = take_examined();
        prop_assert!(examined <= REQUEST_ID_BOUND, "{} bytes examined", examined);
    }

    #[test]
    fn server_timing_reads_at_most_its_limit(
        values in proptest::collection::vec(big(pieces(SERVER_TIMING_PIECES)), 1..4)
    ) {
        take_examined();
        let _ = parse_server_timing(&values[0]);
        let examined = take_examined();
        prop_assert!(examined <= SERVER_TIMING_BOUND, "{} bytes examined", examined);

        let _ = extract_response(&header_map(SERVER_TIMING, &values));
        let examined = take_examined();
        prop_assert!(examined <= SERVER_TIMING_BOUND, "{} bytes examined", examined);
    }

    #[test]
    fn a_whole_request_reads_at_most_the_sum_of_the_limits(
        tp in proptest::collection::vec(big(pieces(TRACEPARENT_PIECES)), 1..3),
        ts in proptest::collection::vec(big(pieces(TRACESTATE_PIECES)), 1..3),
        bag in proptest::collection::vec(big(pieces(BAGGAGE_PIECES)), 1..3),
        rid in proptest::collection::vec(big(pieces(&[b"r", b" "])), 1..3),
    ) {
        let mut map = http::HeaderMap::new();
        add(&mut map, TRACEPARENT, &tp);
        add(&mut map, TRACESTATE, &ts);
        add(&mut map, BAGGAGE, &bag);
        add(&mut map, X_REQUEST_ID, &rid);
        take_examined();
        let e = extract(&map);
        let examined = take_examined();
        prop_assert!(
            examined <= TRACEPARENT_BOUND + TRACESTATE_BOUND + BAGGAGE_BOUND + REQUEST_ID_BOUND,
            "{} bytes examined", examined
        );
        prop_assert!(e.rejections.iter().all(|r| r.input.len() <= Rejection::MAX_INPUT_LEN));
    }
}

/// The request that took 547 times the normal time: 30 long `tracestate` members,
/// then `,z=1` until the header is 207 KB. The duplicate check rescanned the kept
/// members for every member, and duplicates did not count toward the 32-member
/// stop. The same flood of a key within the first 512 characters, and in baggage.
#[test]
fn a_duplicate_flood_is_read_no_further_than_the_limit() {
    let long: Vec<String> = (0..30)
        .map(|i| format!("k{i:02}={}", "x".repeat(125)))
        .collect();
    let mut flood = long.join(",");
    while flood.len() < 207 * 1024 {
        flood.push_str(",z=1");
    }
    take_examined();
    let ts = TraceState::parse(flood.as_bytes());
    assert!(take_examined() <= TRACESTATE_BOUND);
    assert_eq!(
        ts.as_str(),
        long[..3].join(","),
        "the members within 512 characters"
    );

    let flood = format!("a=1{}", ",z=1".repeat(50_000));
    take_examined();
    let ts = TraceState::parse(flood.as_bytes());
    assert!(take_examined() <= TRACESTATE_BOUND);
    assert!(ts.is_empty(), "a duplicated key discards the header");

    let flood = format!("{}{}", long.join(","), ",z=1".repeat(50_000));
    take_examined();
    let bag = Baggage::parse(flood.as_bytes());
    assert!(take_examined() <= BAGGAGE_BOUND);
    assert_eq!(
        bag.len(),
        BAGGAGE_MAX_MEMBERS,
        "duplicates are allowed in baggage"
    );
}

#[test]
fn many_header_lines_share_one_budget() {
    let lines: Vec<Vec<u8>> = (0..10_000)
        .map(|i| format!("k{i}=1").into_bytes())
        .collect();
    take_examined();
    let _ = TraceState::parse_all(slices(&lines));
    assert!(take_examined() <= TRACESTATE_BOUND);
    let _ = Baggage::parse_all(slices(&lines));
    assert!(take_examined() <= BAGGAGE_BOUND);
    let same = vec![b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec(); 100];
    let e = extract(&header_map(TRACEPARENT, &same));
    assert!(take_examined() <= TRACEPARENT_BOUND);
    assert_eq!(
        e.parent, None,
        "more than 4 values (or 512 bytes) of traceparent"
    );
}
