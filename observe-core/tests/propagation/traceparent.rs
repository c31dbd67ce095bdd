//! `traceparent`, W3C Trace Context Level 2 §3.2.

use observe_core::propagation::{TraceparentError, format_traceparent, parse_traceparent};

const TRACE: &str = "12345678901234567890123456789012";
const PARENT: &str = "1234567890123456";

fn tp(version: &str, trace: &str, parent: &str, flags: &str) -> String {
    format!("{version}-{trace}-{parent}-{flags}")
}

fn parse(s: &str) -> Result<observe_core::SpanContext, TraceparentError> {
    parse_traceparent(s.as_bytes())
}

#[test]
fn version_00_value_is_accepted_with_its_fields() {
    let ctx = parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    assert_eq!(ctx.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(ctx.span_id.to_string(), "00f067aa0ba902b7");
    assert!(ctx.flags.is_sampled());
    assert!(ctx.is_remote, "an extracted parent is remote");
}

#[test]
fn not_sampled_flag_is_accepted() {
    let ctx = parse(&tp("00", TRACE, PARENT, "00")).unwrap();
    assert!(!ctx.flags.is_sampled());
}

#[test]
fn uppercase_hex_is_invalid_in_every_field() {
    assert_eq!(
        parse(&tp("00", "4BF92F3577B34DA6A3CE929D0E0E4736", PARENT, "01")),
        Err(TraceparentError::TraceId)
    );
    assert_eq!(
        parse(&tp("00", TRACE, "00F067AA0BA902B7", "01")),
        Err(TraceparentError::SpanId)
    );
    assert_eq!(
        parse(&tp("00", TRACE, PARENT, "0A")),
        Err(TraceparentError::Flags)
    );
    assert_eq!(
        parse(&tp("0A", TRACE, PARENT, "01")),
        Err(TraceparentError::Version)
    );
}

#[test]
fn version_00_must_be_exactly_55_characters() {
    let valid = tp("00", TRACE, PARENT, "01");
    assert_eq!(valid.len(), 55);
    assert!(parse(&valid).is_ok());
    assert_eq!(
        parse(&valid[..54]),
        Err(TraceparentError::Length { len: 54 })
    );
    for longer in [
        format!("{valid}."),
        format!("{valid}-"),
        format!("{valid}-what-the-future-will-be-like"),
    ] {
        assert!(
            matches!(parse(&longer), Err(TraceparentError::Length { .. })),
            "{longer} has extra characters, which version 00 does not allow"
        );
    }
}

#[test]
fn trace_id_of_wrong_length_is_invalid() {
    assert!(parse(&tp("00", &format!("{TRACE}3"), PARENT, "01")).is_err());
    assert!(parse(&tp("00", &TRACE[1..], PARENT, "01")).is_err());
}

#[test]
fn parent_id_of_wrong_length_is_invalid() {
    assert!(parse(&tp("00", TRACE, &format!("{PARENT}7"), "01")).is_err());
    assert!(parse(&tp("00", TRACE, &PARENT[1..], "01")).is_err());
}

#[test]
fn trace_flags_of_wrong_length_are_invalid() {
    assert!(parse(&tp("00", TRACE, PARENT, "001")).is_err());
    assert!(parse(&tp("00", TRACE, PARENT, "1")).is_err());
}

#[test]
fn illegal_characters_are_invalid_in_every_field() {
    assert_eq!(
        parse(&tp("00", ".2345678901234567890123456789012", PARENT, "01")),
        Err(TraceparentError::TraceId)
    );
    assert_eq!(
        parse(&tp("00", "1234567890123456789012345678901.", PARENT, "01")),
        Err(TraceparentError::TraceId)
    );
    assert_eq!(
        parse(&tp("00", TRACE, ".234567890123456", "01")),
        Err(TraceparentError::SpanId)
    );
    assert_eq!(
        parse(&tp("00", TRACE, "123456789012345.", "01")),
        Err(TraceparentError::SpanId)
    );
    assert_eq!(
        parse(&tp("00", TRACE, PARENT, ".0")),
        Err(TraceparentError::Flags)
    );
    assert_eq!(
        parse(&tp("00", TRACE, PARENT, "0.")),
        Err(TraceparentError::Flags)
    );
    assert_eq!(
        parse(&tp(".0", TRACE, PARENT, "01")),
        Err(TraceparentError::Version)
    );
    assert_eq!(
        parse(&tp("0.", TRACE, PARENT, "01")),
        Err(TraceparentError::Version)
    );
}

#[test]
fn a_sign_is_not_a_hex_digit() {
    // Integer parsers accept a leading '+'; the grammar does not.
    assert!(parse(&tp("00", "+2345678901234567890123456789012", PARENT, "01")).is_err());
    assert!(parse(&tp("00", TRACE, "+234567890123456", "01")).is_err());
    assert!(parse(&tp("00", TRACE, PARENT, "+1")).is_err());
}

#[test]
fn version_of_wrong_length_is_invalid() {
    assert_eq!(
        parse(&tp("000", TRACE, PARENT, "01")),
        Err(TraceparentError::Version)
    );
    assert_eq!(
        parse(&tp("0000", TRACE, PARENT, "01")),
        Err(TraceparentError::Version)
    );
    assert_eq!(
        parse(&tp("0", TRACE, PARENT, "01")),
        Err(TraceparentError::Version)
    );
}

#[test]
fn all_zero_trace_id_is_invalid() {
    assert_eq!(
        parse(&tp("00", "00000000000000000000000000000000", PARENT, "01")),
        Err(TraceparentError::ZeroTraceId)
    );
}

#[test]
fn all_zero_parent_id_is_invalid() {
    assert_eq!(
        parse(&tp("00", TRACE, "0000000000000000", "01")),
        Err(TraceparentError::ZeroSpanId)
    );
}

#[test]
fn version_ff_is_forbidden() {
    assert_eq!(
        parse(&tp("ff", TRACE, PARENT, "01")),
        Err(TraceparentError::VersionForbidden)
    );
    assert!(parse(&format!("{}-extra", tp("ff", TRACE, PARENT, "01"))).is_err());
}

#[test]
fn future_version_without_extra_fields_is_accepted() {
    let ctx = parse(&tp("cc", TRACE, PARENT, "01")).unwrap();
    assert_eq!(ctx.trace_id.to_string(), TRACE);
    assert_eq!(ctx.span_id.to_string(), PARENT);
    assert!(ctx.flags.is_sampled());
}

#[test]
fn future_version_with_extra_fields_ignores_them() {
    let ctx = parse(&format!(
        "{}-what-the-future-will-be-like",
        tp("cc", TRACE, PARENT, "01")
    ))
    .unwrap();
    assert_eq!(ctx.trace_id.to_string(), TRACE);
    // A trailing dash with nothing after it is still "followed by a dash".
    assert!(parse(&format!("{}-", tp("01", TRACE, PARENT, "01"))).is_ok());
}

#[test]
fn future_version_must_continue_with_a_dash_after_the_flags() {
    assert_eq!(
        parse(&format!(
            "{}.what-the-future-will-be-like",
            tp("cc", TRACE, PARENT, "01")
        )),
        Err(TraceparentError::TrailingData)
    );
    assert_eq!(
        parse(&format!("{}1", tp("cc", TRACE, PARENT, "01"))),
        Err(TraceparentError::TrailingData)
    );
}

#[test]
fn future_version_shorter_than_55_characters_is_invalid() {
    let short = &tp("cc", TRACE, PARENT, "01")[..54];
    assert_eq!(parse(short), Err(TraceparentError::TooShort { len: 54 }));
}

#[test]
fn future_version_fields_are_checked_like_version_00() {
    assert!(parse(&tp("cc", "00000000000000000000000000000000", PARENT, "01")).is_err());
    assert!(parse(&tp("cc", TRACE, "0000000000000000", "01")).is_err());
    assert!(parse(&tp("cc", TRACE, PARENT, "0x")).is_err());
    assert!(parse(&tp("cc", "4BF92F3577B34DA6A3CE929D0E0E4736", PARENT, "01")).is_err());
}

#[test]
fn future_version_keeps_only_the_flags_this_version_defines() {
    // "Vendors MUST NOT parse or assume anything about unknown fields for this
    // version": from a future version, only sampled (bit 0) and random (bit 1) are read.
    assert_eq!(
        parse(&tp("cc", TRACE, PARENT, "ff")).unwrap().flags.bits(),
        0x03
    );
    assert_eq!(
        parse(&tp("cc", TRACE, PARENT, "08")).unwrap().flags.bits(),
        0x00
    );
    assert_eq!(
        parse(&tp("cc", TRACE, PARENT, "09")).unwrap().flags.bits(),
        0x01
    );
}

#[test]
fn future_version_is_re_emitted_as_version_00() {
    let ctx = parse(&format!("{}-extra", tp("cc", TRACE, PARENT, "03"))).unwrap();
    assert_eq!(
        format_traceparent(&ctx).as_str(),
        tp("00", TRACE, PARENT, "03")
    );
}

#[test]
fn version_00_flags_other_than_01_keep_every_bit() {
    for flags in ["00", "01", "02", "03", "08", "09", "80", "ff"] {
        let value = tp("00", TRACE, PARENT, flags);
        let ctx = parse(&value).unwrap();
        assert_eq!(format!("{:02x}", ctx.flags.bits()), flags);
        assert_eq!(
            format_traceparent(&ctx).as_str(),
            value,
            "flags {flags} survive the hop"
        );
    }
}

#[test]
fn random_flag_is_read_and_kept() {
    let ctx = parse(&tp("00", TRACE, PARENT, "02")).unwrap();
    assert!(ctx.flags.is_random());
    assert!(!ctx.flags.is_sampled());
    let ctx = parse(&tp("00", TRACE, PARENT, "03")).unwrap();
    assert!(ctx.flags.is_random() && ctx.flags.is_sampled());
}

#[test]
fn separators_must_be_dashes_at_their_positions() {
    let valid = tp("00", TRACE, PARENT, "01");
    for at in [2, 35, 52] {
        let mut bad = valid.clone().into_bytes();
        bad[at] = b'_';
        assert!(parse_traceparent(&bad).is_err(), "separator at {at}");
    }
    // Shifted fields: a dash in the wrong place.
    assert!(parse(&format!("00-{}-{}1-01", &TRACE[..31], PARENT)).is_err());
}

#[test]
fn leading_and_trailing_optional_whitespace_is_ignored() {
    let valid = tp("00", TRACE, PARENT, "01");
    for padded in [
        format!(" {valid}"),
        format!("\t{valid}"),
        format!("{valid} "),
        format!("{valid}\t"),
        format!("\t {valid} \t"),
    ] {
        assert_eq!(
            parse(&padded).unwrap().trace_id.to_string(),
            TRACE,
            "{padded:?}"
        );
    }
}

#[test]
fn whitespace_inside_the_value_is_invalid() {
    assert!(parse(&format!("00- {}-{PARENT}-01", &TRACE[1..])).is_err());
    assert!(parse(&tp("00", TRACE, PARENT, " 1")).is_err());
}

#[test]
fn only_spaces_and_tabs_are_optional_whitespace() {
    let valid = tp("00", TRACE, PARENT, "01");
    assert!(parse(&format!("\n{valid}")).is_err());
    assert!(parse(&format!("{valid}\r\n")).is_err());
    assert!(parse(&format!("\u{a0}{valid}")).is_err());
}

#[test]
fn empty_value_is_invalid() {
    assert_eq!(parse(""), Err(TraceparentError::Empty));
    assert_eq!(parse(" \t "), Err(TraceparentError::Empty));
}

#[test]
fn non_utf8_bytes_are_invalid_without_panic() {
    let mut bytes = tp("00", TRACE, PARENT, "01").into_bytes();
    bytes[10] = 0xff;
    assert_eq!(parse_traceparent(&bytes), Err(TraceparentError::TraceId));
    assert!(parse_traceparent(b"\xff\xfe").is_err());
    assert!(parse_traceparent(&[0x80; 55]).is_err());
}

#[test]
fn errors_say_what_is_accepted() {
    let message = parse(&tp("00", TRACE, PARENT, "01x"))
        .unwrap_err()
        .to_string();
    assert!(message.contains("exactly 55"), "{message}");
    let message = TraceparentError::TraceId.to_string();
    assert!(message.contains("32 lowercase hex"), "{message}");
}

#[test]
fn format_writes_version_00_in_lowercase() {
    let ctx = crate::span(0xABCDEF, 0x1, 0x01);
    assert_eq!(
        format_traceparent(&ctx).as_str(),
        "00-00000000000000000000000000abcdef-0000000000000001-01"
    );
}
