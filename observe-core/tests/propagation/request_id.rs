//! `x-request-id`: accepted when printable ASCII (0x20-0x7E) and 1 to 128 bytes.

use observe_core::propagation::{REQUEST_ID_MAX_LEN, RequestId, RequestIdError};

#[test]
fn printable_ascii_is_accepted_including_an_inner_space() {
    let all: Vec<u8> = (0x20u8..=0x7e).collect();
    let value = &all[1..]; // no leading space: it would be trimmed
    assert_eq!(RequestId::parse(value).unwrap().as_bytes(), value);
    assert_eq!(RequestId::parse(b"req 42").unwrap().as_str(), "req 42");
}

#[test]
fn optional_whitespace_around_the_value_is_removed() {
    assert_eq!(RequestId::parse(b" \tabc\t ").unwrap().as_str(), "abc");
}

#[test]
fn one_hundred_twenty_eight_bytes_are_accepted() {
    let value = "x".repeat(REQUEST_ID_MAX_LEN);
    assert_eq!(RequestId::parse(value.as_bytes()).unwrap().len(), 128);
}

#[test]
fn longer_values_are_rejected() {
    let value = "x".repeat(REQUEST_ID_MAX_LEN + 1);
    assert_eq!(
        RequestId::parse(value.as_bytes()),
        Err(RequestIdError::TooLong { len: 129 })
    );
}

#[test]
fn empty_values_are_rejected() {
    assert_eq!(RequestId::parse(b""), Err(RequestIdError::Empty));
    assert_eq!(RequestId::parse(b" \t "), Err(RequestIdError::Empty));
}

#[test]
fn control_characters_are_rejected() {
    for (value, byte, at) in [
        (&b"a\x00b"[..], 0x00, 1),
        (b"a\tb", b'\t', 1),
        (b"a\nb", b'\n', 1),
        (b"ab\x7f", 0x7f, 2),
    ] {
        assert_eq!(
            RequestId::parse(value),
            Err(RequestIdError::NotPrintable { byte, at })
        );
    }
}

#[test]
fn non_ascii_and_non_utf8_bytes_are_rejected() {
    assert_eq!(
        RequestId::parse("caf\u{e9}".as_bytes()),
        Err(RequestIdError::NotPrintable { byte: 0xc3, at: 3 })
    );
    assert!(RequestId::parse(b"\xff").is_err());
}

#[test]
fn errors_say_what_is_accepted() {
    let message = RequestId::parse(b"a\x01").unwrap_err().to_string();
    assert!(
        message.contains("0x01") && message.contains("0x20-0x7E"),
        "{message}"
    );
}

#[test]
fn generated_ids_are_valid_and_distinct() {
    let a = RequestId::generate();
    let b = RequestId::generate();
    assert_ne!(a, b);
    assert_eq!(RequestId::parse(a.as_bytes()), Ok(a));
    assert_eq!(a.as_str().parse::<RequestId>(), Ok(a));
}
