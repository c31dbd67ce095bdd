//! Parsers for configuration values: strings in, typed values or "what is accepted" out.
//!
//! Every parser takes the trimmed, non-empty value and returns either the typed value
//! or an [`Invalid`] whose text completes the sentence "expected ...". They never
//! panic, whatever the input.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use super::callers::TrustedCallers;
use super::export::{Compression, ExporterKind, Protocol};
use super::hosts::InternalHosts;
use super::redact::Redaction;
use super::secret::{self, Headers, TracerBulletKey};
use super::{InboundContext, LogFormat, LogOutput, Sampler, TracerBulletPolicy, UntrustedMarker};

/// Why a value was rejected: the phrase after "expected", and optionally a form of
/// the value safe to show (a URL with its password hidden).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub(crate) expected: Cow<'static, str>,
    pub(crate) shown: Option<String>,
}

impl From<&'static str> for Invalid {
    fn from(expected: &'static str) -> Self {
        Invalid {
            expected: Cow::Borrowed(expected),
            shown: None,
        }
    }
}

impl From<String> for Invalid {
    fn from(expected: String) -> Self {
        Invalid {
            expected: Cow::Owned(expected),
            shown: None,
        }
    }
}

pub(crate) type Parsed<T> = Result<T, Invalid>;

pub(crate) const BOOL: &str = "true or false";

/// An OpenTelemetry boolean: `true` or `false`, case-insensitive.
pub(crate) fn boolean(s: &str) -> Parsed<bool> {
    if s.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if s.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(BOOL.into())
    }
}

pub(crate) const MILLIS: &str =
    "a whole number of milliseconds greater than 0, such as 5000 (no unit)";

/// The OpenTelemetry `*_TIMEOUT`, `*_DELAY`, `*_INTERVAL` form: integer milliseconds.
pub(crate) fn millis(s: &str) -> Parsed<Duration> {
    match s.parse::<u64>() {
        Ok(0) | Err(_) => Err(MILLIS.into()),
        Ok(ms) => Ok(Duration::from_millis(ms)),
    }
}

pub(crate) const DURATION: &str =
    "a duration such as 250ms, 30s, 5m, 1h or 1m30s (units ns, us, ms, s, m, h, d)";

/// A duration: one or more `<integer><unit>` groups (`250ms`, `1m30s`), or `0`.
pub(crate) fn duration(s: &str) -> Parsed<Duration> {
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(DURATION.into());
    }
    let mut total_nanos: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(DURATION.into());
        }
        let number: u128 = rest[..digits].parse().map_err(|_| DURATION)?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let nanos_per_unit: u128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            _ => return Err(DURATION.into()),
        };
        rest = &rest[unit_len..];
        total_nanos = number
            .checked_mul(nanos_per_unit)
            .and_then(|n| n.checked_add(total_nanos))
            .ok_or(DURATION)?;
    }
    let secs = u64::try_from(total_nanos / 1_000_000_000).map_err(|_| DURATION)?;
    // The remainder is below 10^9, so it fits a u32.
    let nanos = (total_nanos % 1_000_000_000) as u32;
    Ok(Duration::new(secs, nanos))
}

pub(crate) const POSITIVE_DURATION: &str =
    "a duration greater than 0 such as 250ms, 30s, 5m, 1h or 1m30s (units ns, us, ms, s, m, h, d)";

/// A [`duration`] that is not zero.
pub(crate) fn positive_duration(s: &str) -> Parsed<Duration> {
    match duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(POSITIVE_DURATION.into()),
    }
}

pub(crate) const POSITIVE_INT: &str = "a whole number greater than 0";

/// A whole number greater than zero that fits a `usize`.
pub(crate) fn positive_int(s: &str) -> Parsed<usize> {
    match s.parse::<usize>() {
        Ok(0) | Err(_) => Err(POSITIVE_INT.into()),
        Ok(n) => Ok(n),
    }
}

pub(crate) const COUNT: &str = "a whole number, 0 or more";

/// A whole number that fits a `u32`, zero included.
pub(crate) fn count(s: &str) -> Parsed<u32> {
    s.parse::<u32>().map_err(|_| COUNT.into())
}

pub(crate) const RATIO: &str = "a ratio between 0 and 1";

/// A sampling ratio: a finite decimal number in `[0, 1]`.
pub(crate) fn ratio(s: &str) -> Parsed<f64> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(RATIO.into()),
    }
}

pub(crate) const BYTE_SIZE: &str = "a size such as 64MiB, 512KB or 1048576 (whole number; units B, KB, MB, GB, TB = powers of 1000, KiB, MiB, GiB, TiB = powers of 1024)";

/// A byte size: a whole number with an optional unit, case-insensitive.
pub(crate) fn byte_size(s: &str) -> Parsed<u64> {
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if digits == 0 {
        return Err(BYTE_SIZE.into());
    }
    let number: u64 = s[..digits].parse().map_err(|_| BYTE_SIZE)?;
    let unit = s[digits..].trim_start().to_ascii_lowercase();
    let multiplier: u64 = match unit.as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(BYTE_SIZE.into()),
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| BYTE_SIZE.into())
}

/// One of a fixed set of words, case-insensitive (the OpenTelemetry rule for enums).
///
/// `choices` pairs each accepted word with its value; `expected` lists them for the
/// error.
pub(crate) fn one_of<T: Copy>(s: &str, choices: &[(&str, T)], expected: &'static str) -> Parsed<T> {
    choices
        .iter()
        .find(|(word, _)| word.eq_ignore_ascii_case(s))
        .map(|&(_, value)| value)
        .ok_or_else(|| expected.into())
}

/// A comma-separated list; items are trimmed and empty items skipped.
pub(crate) fn comma_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|item| !item.is_empty())
}

/// A `key=value` list as OpenTelemetry uses for `OTEL_RESOURCE_ATTRIBUTES` and
/// `OTEL_EXPORTER_OTLP_HEADERS` (W3C Baggage without properties): keys and values
/// trimmed, values percent-decoded, empty members skipped. `what` names the list in
/// the error ("a list of key=value pairs").
pub(crate) fn key_values(s: &str, what: &'static str) -> Parsed<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for (index, member) in s.split(',').enumerate() {
        let member = member.trim();
        if member.is_empty() {
            continue;
        }
        let position = index + 1;
        let Some((key, value)) = member.split_once('=') else {
            return Err(format!("{what} (item {position} has no `=`)").into());
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("{what} (item {position} has an empty key)").into());
        }
        if key.contains(';') || value.contains(';') {
            return Err(
                format!("{what} (item {position}: `;` properties are not supported)").into(),
            );
        }
        let Some(value) = percent_decode(value.trim()) else {
            return Err(format!(
                "{what} (item {position}: bad percent-encoding; `%` must start %XX and decode to UTF-8)"
            )
            .into());
        };
        pairs.push((key.to_owned(), value));
    }
    Ok(pairs)
}

/// Strict percent-decoding: every `%` starts a two-digit hex escape and the result is
/// UTF-8. `None` otherwise.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let escape = bytes.get(i + 1..i + 3)?;
            if !escape.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(Cow::into_owned)
}

pub(crate) const URL: &str = "an http:// or https:// URL such as http://collector:4318";

/// An OTLP endpoint: an absolute `http` or `https` URL with a host and no
/// credentials.
pub(crate) fn endpoint(s: &str) -> Parsed<url::Url> {
    let url = url::Url::parse(s).map_err(|_| URL)?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(URL.into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        let mut shown = url.clone();
        // Both setters only fail on URLs that cannot have credentials, which this
        // one has: ignoring their result is safe.
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        return Err(Invalid {
            expected: Cow::Borrowed(
                "a URL without user or password (send credentials with OTEL_EXPORTER_OTLP_HEADERS)",
            ),
            shown: Some(format!("{shown} (credentials hidden)")),
        });
    }
    Ok(url)
}

// ----- the enumerations and lists of the configuration --------------------------------

pub(crate) fn parse_protocol(s: &str) -> Parsed<Protocol> {
    if s.eq_ignore_ascii_case("http/json") {
        return Err("grpc or http/protobuf (http/json is not supported)".into());
    }
    one_of(
        s,
        &[
            ("grpc", Protocol::Grpc),
            ("http/protobuf", Protocol::HttpProtobuf),
        ],
        "grpc or http/protobuf",
    )
}

pub(crate) fn parse_compression(s: &str) -> Parsed<Compression> {
    one_of(
        s,
        &[("gzip", Compression::Gzip), ("none", Compression::None)],
        "gzip or none",
    )
}

pub(crate) fn parse_headers(s: &str) -> Parsed<Headers> {
    let pairs = key_values(s, secret::HEADERS)?;
    Headers::from_pairs(pairs).map_err(Invalid::from)
}

pub(crate) fn parse_exporter(s: &str) -> Parsed<ExporterKind> {
    const UNSUPPORTED: [&str; 6] = [
        "console",
        "logging",
        "zipkin",
        "jaeger",
        "prometheus",
        "otlp/stdout",
    ];
    if let Some(name) = UNSUPPORTED.iter().find(|u| u.eq_ignore_ascii_case(s)) {
        return Err(format!("otlp or none ({name} is not supported)").into());
    }
    one_of(
        s,
        &[("otlp", ExporterKind::Otlp), ("none", ExporterKind::None)],
        "otlp or none",
    )
}

const SAMPLERS: &str = "one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio";

pub(crate) fn parse_sampler(s: &str) -> Parsed<Sampler> {
    const UNSUPPORTED: [&str; 3] = ["jaeger_remote", "parentbased_jaeger_remote", "xray"];
    if let Some(name) = UNSUPPORTED.iter().find(|u| u.eq_ignore_ascii_case(s)) {
        return Err(format!("{SAMPLERS} ({name} is not supported)").into());
    }
    one_of(
        s,
        &[
            ("always_on", Sampler::AlwaysOn),
            ("always_off", Sampler::AlwaysOff),
            ("traceidratio", Sampler::TraceIdRatio(1.0)),
            ("parentbased_always_on", Sampler::ParentBasedAlwaysOn),
            ("parentbased_always_off", Sampler::ParentBasedAlwaysOff),
            (
                "parentbased_traceidratio",
                Sampler::ParentBasedTraceIdRatio(1.0),
            ),
        ],
        SAMPLERS,
    )
}

const FILTER: &str = "tracing filter directives such as info or warn,my_crate=debug";

/// Words that look like a level but that `tracing` would read as a *target* name,
/// silently enabling nothing useful.
const NOT_LEVELS: [&str; 9] = [
    "warning",
    "err",
    "fatal",
    "critical",
    "verbose",
    "information",
    "notice",
    "all",
    "none",
];

/// Validates `RUST_LOG`-style directives exactly as `EnvFilter` will split and parse
/// them, and returns them normalised (trimmed, comma-joined).
pub(crate) fn parse_filter(s: &str) -> Parsed<String> {
    let mut directives = Vec::new();
    for directive in s.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let bare = !directive.contains(['=', '[', ':']);
        if bare && NOT_LEVELS.iter().any(|w| w.eq_ignore_ascii_case(directive)) {
            return Err(format!(
                "{FILTER} (`{directive}` would be read as a target name, not a level; levels are trace, debug, info, warn, error, off)"
            )
            .into());
        }
        if let Err(err) = tracing_subscriber::filter::Directive::from_str(directive) {
            return Err(format!("{FILTER} (`{directive}`: {err})").into());
        }
        directives.push(directive);
    }
    Ok(directives.join(","))
}

/// `OBSERVE_METRICS_EXPOSITION`: `histogram` or `summary`, in any case.
pub(crate) fn exposition(s: &str) -> Parsed<crate::metrics::Exposition> {
    use crate::metrics::Exposition;
    if s.eq_ignore_ascii_case("histogram") {
        Ok(Exposition::Histogram)
    } else if s.eq_ignore_ascii_case("summary") {
        Ok(Exposition::Summary)
    } else {
        Err("histogram (le buckets, the default) or summary (quantiles)".into())
    }
}

// ----- observe's own settings ---------------------------------------------------------

/// Any text, as given (a name, an environment, a URL shown to people).
pub(crate) fn text(s: &str) -> Parsed<String> {
    Ok(s.to_owned())
}

pub(crate) const RESOURCE_ATTRIBUTES: &str = "a comma-separated list of key=value pairs with percent-encoded values, such as service.version=1.2.0,team=payments";

/// `OTEL_RESOURCE_ATTRIBUTES`: [`key_values`].
pub(crate) fn resource_attributes(s: &str) -> Parsed<Vec<(String, String)>> {
    key_values(s, RESOURCE_ATTRIBUTES)
}

/// `OBSERVE_LOG_FORMAT`: `json`, or `pretty` (alias `text`).
pub(crate) fn log_format(s: &str) -> Parsed<LogFormat> {
    one_of(
        s,
        &[
            ("json", LogFormat::Json),
            ("pretty", LogFormat::Pretty),
            ("text", LogFormat::Pretty),
        ],
        "json, pretty or text",
    )
}

/// `OBSERVE_LOG_OUTPUT`: `stdout`, `stderr` or `none`.
pub(crate) fn log_output(s: &str) -> Parsed<LogOutput> {
    one_of(
        s,
        &[
            ("stdout", LogOutput::Stdout),
            ("stderr", LogOutput::Stderr),
            ("none", LogOutput::None),
        ],
        "stdout, stderr or none",
    )
}

/// `OBSERVE_REDACT_FIELDS`: `redaction` with every name of the list added, or the
/// first bad name's error (the whole list is validated before any of it counts).
pub(crate) fn redact_fields(s: &str, redaction: &Redaction) -> Parsed<Redaction> {
    let mut added = redaction.clone();
    for name in comma_list(s) {
        added.add(name)?;
    }
    Ok(added)
}

/// `OBSERVE_ADMIN_ADDR`: an IP socket address, or `off` (`None`).
pub(crate) fn admin_addr(s: &str) -> Parsed<Option<SocketAddr>> {
    if s.eq_ignore_ascii_case("off") {
        Ok(None)
    } else {
        s.parse::<SocketAddr>().map(Some).map_err(|_| {
            Invalid::from("an IP socket address such as 127.0.0.1:9464 or [::1]:9464, or off")
        })
    }
}

/// `OBSERVE_FLIGHT_RECORDER_BYTES`: a [`byte_size`] that fits this platform's `usize`.
pub(crate) fn memory_budget(s: &str) -> Parsed<usize> {
    let bytes = byte_size(s)?;
    usize::try_from(bytes).map_err(|_| {
        Invalid::from(format!(
            "{BYTE_SIZE} (at most {} bytes on this platform)",
            usize::MAX
        ))
    })
}

/// `OBSERVE_FLIGHT_RECORDER_WINDOW`: a [`positive_duration`], or `off` (`None`).
pub(crate) fn recorder_window(s: &str) -> Parsed<Option<Duration>> {
    if s.eq_ignore_ascii_case("off") {
        Ok(None)
    } else {
        positive_duration(s)
            .map(Some)
            .map_err(|_| Invalid::from(format!("{POSITIVE_DURATION} or off")))
    }
}

/// `OBSERVE_SLOW_THRESHOLD`: a [`positive_duration`], or `auto` (`None`).
pub(crate) fn slow_threshold(s: &str) -> Parsed<Option<Duration>> {
    if s.eq_ignore_ascii_case("auto") {
        Ok(None)
    } else {
        positive_duration(s)
            .map(Some)
            .map_err(|_| Invalid::from(format!("{POSITIVE_DURATION} or auto")))
    }
}

/// `OBSERVE_INTERNAL_HOSTS`: a [`comma_list`] of host patterns.
pub(crate) fn internal_hosts(s: &str) -> Parsed<InternalHosts> {
    InternalHosts::parse(comma_list(s)).map_err(Invalid::from)
}

pub(crate) const INBOUND_CONTEXT: &str = "continue or restart";

/// `OBSERVE_INBOUND_CONTEXT`: `continue`, `restart`, or the old `trust`.
pub(crate) fn inbound_context(s: &str) -> Parsed<InboundContext> {
    one_of(
        s,
        &[
            ("continue", InboundContext::Continue),
            ("restart", InboundContext::Restart),
            ("trust", InboundContext::Trust),
        ],
        INBOUND_CONTEXT,
    )
}

/// `OBSERVE_TRUSTED_CALLERS`: a [`comma_list`] of addresses and networks.
pub(crate) fn trusted_callers(s: &str) -> Parsed<TrustedCallers> {
    TrustedCallers::from_patterns(comma_list(s)).map_err(Invalid::from)
}

/// `OBSERVE_TRACER_BULLET_POLICY`: `deny`, `trusted` or `signed`.
pub(crate) fn tracer_bullet_policy(s: &str) -> Parsed<TracerBulletPolicy> {
    one_of(
        s,
        &[
            ("deny", TracerBulletPolicy::Deny),
            ("trusted", TracerBulletPolicy::Trusted),
            ("signed", TracerBulletPolicy::Signed),
        ],
        "deny, trusted or signed",
    )
}

/// `OBSERVE_TRACER_BULLET_KEY`: a key of at least 32 bytes, hex or base64.
pub(crate) fn tracer_bullet_key(s: &str) -> Parsed<TracerBulletKey> {
    TracerBulletKey::parse(s).ok_or_else(|| Invalid::from(secret::KEY))
}

/// `OBSERVE_TRACER_BULLET_UNTRUSTED_MARKER`: `refuse` or `strip`.
pub(crate) fn untrusted_marker(s: &str) -> Parsed<UntrustedMarker> {
    one_of(
        s,
        &[
            ("refuse", UntrustedMarker::Refuse),
            ("strip", UntrustedMarker::Strip),
        ],
        "refuse or strip",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_follow_the_otel_rule() {
        assert_eq!(boolean("true"), Ok(true));
        assert_eq!(boolean("TRUE"), Ok(true));
        assert_eq!(boolean("False"), Ok(false));
        for bad in ["1", "yes", "on", "t", "truee"] {
            assert_eq!(boolean(bad), Err(BOOL.into()), "{bad}");
        }
    }

    #[test]
    fn durations_accept_units_and_compounds() {
        let cases = [
            ("0", Duration::ZERO),
            ("250ms", Duration::from_millis(250)),
            ("30s", Duration::from_secs(30)),
            ("5m", Duration::from_secs(300)),
            ("1h", Duration::from_secs(3600)),
            ("1m30s", Duration::from_secs(90)),
            ("1h2m3s4ms", Duration::new(3723, 4_000_000)),
            ("2d", Duration::from_secs(172_800)),
            ("15us", Duration::from_micros(15)),
            ("15µs", Duration::from_micros(15)),
            ("7ns", Duration::from_nanos(7)),
            ("0s", Duration::ZERO),
        ];
        for (input, expected) in cases {
            assert_eq!(duration(input), Ok(expected), "{input}");
        }
    }

    #[test]
    fn durations_reject_missing_or_unknown_units_and_overflow() {
        for bad in [
            "30",
            "s",
            "1.5s",
            "1 m",
            "-1s",
            "5M",
            "1y",
            "ms30",
            "1m30",
            "",
            "30S",
            "99999999999999999999999999999999999999999h",
            "999999999999999999999d",
        ] {
            assert_eq!(duration(bad), Err(DURATION.into()), "{bad:?}");
        }
        assert_eq!(positive_duration("0s"), Err(POSITIVE_DURATION.into()));
        assert_eq!(positive_duration("1ms"), Ok(Duration::from_millis(1)));
    }

    #[test]
    fn millis_are_positive_integers() {
        assert_eq!(millis("5000"), Ok(Duration::from_secs(5)));
        for bad in ["0", "5s", "-1", "1.5", "1e3"] {
            assert_eq!(millis(bad), Err(MILLIS.into()), "{bad}");
        }
    }

    #[test]
    fn counts_include_zero() {
        assert_eq!(count("0"), Ok(0));
        assert_eq!(count("25"), Ok(25));
        for bad in ["-1", "1.5", "ten", "99999999999"] {
            assert_eq!(count(bad), Err(COUNT.into()), "{bad}");
        }
    }

    #[test]
    fn ratios_are_finite_and_within_zero_and_one() {
        assert_eq!(ratio("0"), Ok(0.0));
        assert_eq!(ratio("1"), Ok(1.0));
        assert_eq!(ratio("0.25"), Ok(0.25));
        for bad in ["1.5", "-0.1", "NaN", "inf", "half", "10%"] {
            assert_eq!(ratio(bad), Err(RATIO.into()), "{bad}");
        }
    }

    #[test]
    fn byte_sizes_accept_si_and_binary_units() {
        let cases = [
            ("0", 0),
            ("1048576", 1 << 20),
            ("64MiB", 64 << 20),
            ("64 mib", 64 << 20),
            ("512KB", 512_000),
            ("1GiB", 1 << 30),
            ("2tb", 2_000_000_000_000),
            ("10B", 10),
        ];
        for (input, expected) in cases {
            assert_eq!(byte_size(input), Ok(expected), "{input}");
        }
        for bad in ["64M", "1.5GiB", "MiB", "-1", "64 MiB x", "20000000000TiB"] {
            assert_eq!(byte_size(bad), Err(BYTE_SIZE.into()), "{bad}");
        }
    }

    #[test]
    fn key_values_decode_values_and_report_the_bad_item() {
        assert_eq!(
            key_values(" a = b%20c ,, k2=v%2C2,empty=", "a list"),
            Ok(vec![
                ("a".into(), "b c".into()),
                ("k2".into(), "v,2".into()),
                ("empty".into(), String::new()),
            ])
        );
        let err = key_values("a=b,c", "a list").unwrap_err();
        assert_eq!(err.expected, "a list (item 2 has no `=`)");
        let err = key_values("=b", "a list").unwrap_err();
        assert_eq!(err.expected, "a list (item 1 has an empty key)");
        let err = key_values("a=%zz", "a list").unwrap_err();
        assert!(err.expected.contains("item 1: bad percent-encoding"));
        let err = key_values("a=%ff", "a list").unwrap_err();
        assert!(err.expected.contains("bad percent-encoding"), "not UTF-8");
        let err = key_values("a=b;prop=1", "a list").unwrap_err();
        assert!(err.expected.contains("properties are not supported"));
    }

    #[test]
    fn percent_decoding_is_strict() {
        assert_eq!(percent_decode("a%2Fb").as_deref(), Some("a/b"));
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%G0"), None);
        assert_eq!(percent_decode("plain"), Some("plain".into()));
    }

    #[test]
    fn endpoints_are_http_urls_without_credentials() {
        assert!(endpoint("http://collector:4318").is_ok());
        assert!(endpoint("https://collector.example.com/otlp").is_ok());
        for bad in [
            "collector:4318",
            "localhost",
            "ftp://x",
            "http://",
            "/v1/traces",
        ] {
            assert_eq!(endpoint(bad).unwrap_err().expected, URL, "{bad}");
        }
        let err = endpoint("https://user:hunter2@collector:4318").unwrap_err();
        let shown = err.shown.unwrap();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("user"), "{shown}");
    }

    #[test]
    fn one_of_is_case_insensitive() {
        let choices = [("json", 1), ("pretty", 2)];
        assert_eq!(one_of("JSON", &choices, "json or pretty"), Ok(1));
        assert_eq!(
            one_of("yaml", &choices, "json or pretty"),
            Err("json or pretty".into())
        );
    }

    #[test]
    fn filters_are_validated_and_normalised() {
        assert_eq!(
            parse_filter("info, hyper=warn ,,my_crate::db=trace").unwrap(),
            "info,hyper=warn,my_crate::db=trace"
        );
        assert_eq!(
            parse_filter("[span{user=42}]=debug").unwrap(),
            "[span{user=42}]=debug"
        );
        assert!(
            parse_filter("my_crate=inof")
                .unwrap_err()
                .expected
                .contains("`my_crate=inof`")
        );
        assert!(
            parse_filter("warning")
                .unwrap_err()
                .expected
                .contains("read as a target name")
        );
        assert!(parse_filter("a=b=c").is_err());
        assert!(parse_filter("$$$").is_err());
    }
}
