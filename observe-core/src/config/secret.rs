//! Settings that hold secrets: OTLP headers and the tracer-bullet key. Their `Debug`
//! never prints the secret.

use std::fmt;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};

use super::error::REDACTED;

/// Headers sent with every OTLP export request (`OTEL_EXPORTER_OTLP_HEADERS`), such as
/// an API key. Names are lowercase; values are secrets: `Debug` prints the names only.
///
/// ```
/// use observe_core::Builder;
///
/// let config = Builder::new()
///     .env_lookup(|name| match name {
///         "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("https://collector:4318".into()),
///         "OTEL_EXPORTER_OTLP_HEADERS" => Some("Api-Key=s3cr%3Dt,tenant=acme".into()),
///         _ => None,
///     })
///     .build_config()?;
/// let headers = &config.export.traces.as_ref().unwrap().headers;
/// assert_eq!(headers.get("api-key"), Some("s3cr=t"));
/// assert!(!format!("{config:?}").contains("s3cr"));
/// # Ok::<(), observe_core::config::ConfigError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(String, String)>,
}

pub(crate) const HEADERS: &str = "a comma-separated list of name=value headers with percent-encoded values, such as api-key=abc%3D";

impl Headers {
    /// Validates names and values as HTTP headers; a later entry with the same name
    /// replaces an earlier one. The error is the phrase after "expected".
    pub(crate) fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, String> {
        let mut entries: Vec<(String, String)> = Vec::with_capacity(pairs.len());
        for (name, value) in pairs {
            let Ok(header) = http::HeaderName::from_bytes(name.as_bytes()) else {
                return Err(format!("{HEADERS} ({name:?} is not a valid header name)"));
            };
            if http::HeaderValue::from_str(&value).is_err() {
                return Err(format!(
                    "{HEADERS} (the value of {name:?} has characters not allowed in a header)"
                ));
            }
            let name = header.as_str().to_owned();
            match entries.iter_mut().find(|(n, _)| *n == name) {
                Some(entry) => entry.1 = value,
                None => entries.push((name, value)),
            }
        }
        Ok(Headers { entries })
    }

    /// The headers as `(name, value)`, in the order given.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The value of a header, by case-insensitive name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How many headers there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Prints `{"api-key": <redacted>}`.
impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Hidden;
        impl fmt::Debug for Hidden {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(REDACTED)
            }
        }
        f.debug_map()
            .entries(self.entries.iter().map(|(n, _)| (n, Hidden)))
            .finish()
    }
}

/// The shared secret that signs and verifies tracer-bullet tokens
/// (`OBSERVE_TRACER_BULLET_KEY`): HMAC-SHA256 over the trace id and a timestamp.
///
/// At least [`MIN_LEN`](Self::MIN_LEN) bytes. In the environment it is written as hex
/// or base64 (see [`Builder::tracer_bullet_key`](crate::Builder::tracer_bullet_key)
/// for code). `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct TracerBulletKey {
    bytes: Box<[u8]>,
}

pub(crate) const KEY: &str = "a key of at least 32 bytes written as hex (64 or more hex digits) or base64 (44 or more characters), optionally prefixed hex: or base64:; generate one with `openssl rand -hex 32`";

impl TracerBulletKey {
    /// The shortest key accepted, in bytes (the HMAC-SHA256 output size).
    pub const MIN_LEN: usize = 32;

    /// A key from raw bytes, or `None` when it is shorter than [`MIN_LEN`](Self::MIN_LEN).
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Option<Self> {
        let bytes = bytes.into();
        (bytes.len() >= Self::MIN_LEN).then(|| TracerBulletKey {
            bytes: bytes.into_boxed_slice(),
        })
    }

    /// Decodes the environment form: `hex:<hex>`, `base64:<base64>`, or without a
    /// prefix, hex when the value is only hex digits (even count), base64 otherwise
    /// (standard or URL-safe alphabet, padding optional).
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let bytes = if let Some(hex) = s.strip_prefix("hex:") {
            decode_hex(hex)?
        } else if let Some(b64) = s.strip_prefix("base64:") {
            decode_base64(b64)?
        } else if s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            decode_hex(s)?
        } else {
            decode_base64(s)?
        };
        Self::from_bytes(bytes)
    }

    /// The key's bytes, to hand to the HMAC.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Prints `TracerBulletKey(<redacted>)`.
impl fmt::Debug for TracerBulletKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TracerBulletKey({REDACTED})")
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks_exact(2)
        .map(|pair| {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            // Two hex digits are at most 0xff.
            Some((hi * 16 + lo) as u8)
        })
        .collect()
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    const INDIFFERENT: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, INDIFFERENT);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, INDIFFERENT);
    STANDARD.decode(s).or_else(|_| URL_SAFE.decode(s)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose;

    const HEX_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn keys_decode_from_hex_and_base64() {
        let expected: Vec<u8> = (0u8..32).collect();
        let from_hex = TracerBulletKey::parse(HEX_KEY).unwrap();
        assert_eq!(from_hex.expose_bytes(), expected.as_slice());
        assert_eq!(
            TracerBulletKey::parse(&HEX_KEY.to_uppercase()).unwrap(),
            from_hex
        );
        let b64 = general_purpose::STANDARD.encode(&expected);
        assert_eq!(TracerBulletKey::parse(&b64).unwrap(), from_hex);
        assert_eq!(
            TracerBulletKey::parse(b64.trim_end_matches('=')).unwrap(),
            from_hex
        );
        let url_safe = general_purpose::URL_SAFE_NO_PAD.encode([0xfb_u8; 40]);
        assert!(url_safe.contains('-') || url_safe.contains('_'));
        assert_eq!(
            TracerBulletKey::parse(&url_safe).unwrap().expose_bytes(),
            &[0xfb; 40]
        );
        assert_eq!(
            TracerBulletKey::parse(&format!("hex:{HEX_KEY}")).unwrap(),
            from_hex
        );
        assert_eq!(
            TracerBulletKey::parse(&format!("base64:{b64}")).unwrap(),
            from_hex
        );
    }

    #[test]
    fn short_or_undecodable_keys_are_rejected() {
        assert!(TracerBulletKey::parse(&HEX_KEY[..62]).is_none(), "31 bytes");
        assert!(TracerBulletKey::parse("hex:zz").is_none());
        assert!(TracerBulletKey::parse("base64:!!!!").is_none());
        assert!(TracerBulletKey::parse("not a key at all, spaces are not base64").is_none());
        assert!(TracerBulletKey::from_bytes(vec![0; 31]).is_none());
        assert!(TracerBulletKey::from_bytes(vec![0; 32]).is_some());
    }

    #[test]
    fn debug_never_prints_secrets() {
        let key = TracerBulletKey::parse(HEX_KEY).unwrap();
        assert_eq!(format!("{key:?}"), "TracerBulletKey(<redacted>)");
        let headers = Headers::from_pairs(vec![("Api-Key".into(), "hunter2".into())]).unwrap();
        assert_eq!(format!("{headers:?}"), r#"{"api-key": <redacted>}"#);
    }

    #[test]
    fn headers_are_validated_lowercased_and_deduplicated() {
        let headers = Headers::from_pairs(vec![
            ("X-A".into(), "1".into()),
            ("b".into(), "2".into()),
            ("x-a".into(), "3".into()),
        ])
        .unwrap();
        assert_eq!(
            headers.iter().collect::<Vec<_>>(),
            [("x-a", "3"), ("b", "2")]
        );
        assert_eq!(headers.get("X-a"), Some("3"));
        assert_eq!(headers.len(), 2);
        let err = Headers::from_pairs(vec![("bad name".into(), "v".into())]).unwrap_err();
        assert!(
            err.contains("\"bad name\" is not a valid header name"),
            "{err}"
        );
        let err = Headers::from_pairs(vec![("n".into(), "line\nbreak".into())]).unwrap_err();
        assert!(err.contains("the value of \"n\""), "{err}");
        assert!(
            !err.contains("line"),
            "never echoes the secret value: {err}"
        );
    }
}
