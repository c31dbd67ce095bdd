//! Units: what a metric's recorded values are, and how each exposition names them.
//!
//! A unit is fixed when a metric is created, never assumed: durations come from the
//! duration constructors ([`super::duration_histogram`], the typed semantic-convention
//! constructors, `#[traced]`), recorded in nanoseconds and exposed in seconds; any
//! other histogram names its unit ([`Unit::None`] for a plain count, [`Unit::Bytes`],
//! or an OpenTelemetry/UCUM string through [`Unit::custom`]) and its values are
//! exposed as recorded.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// The unit of a metric's recorded values.
///
/// ```
/// use observe_core::metrics::Unit;
///
/// assert_eq!(Unit::custom("By"), Unit::Bytes);
/// assert_eq!(Unit::custom("{item}").otel(), "{item}");
/// assert_eq!(Unit::Nanoseconds.otel(), "s"); // exposed in seconds
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Unit {
    /// A duration, recorded in nanoseconds and exposed in seconds (`_seconds`,
    /// OpenTelemetry unit `s`). What [`super::duration_histogram`] and every
    /// latency metric of observe use.
    Nanoseconds,
    /// Bytes (`_bytes`, OpenTelemetry unit `By`).
    Bytes,
    /// A plain number (no suffix, OpenTelemetry unit `1`). The default for counters
    /// and gauges.
    None,
    /// Another OpenTelemetry (UCUM) unit, exposed as recorded: `{request}`, `ms`,
    /// `By/s`, `Cel`... Build it with [`Unit::custom`], which maps `By` and `1` to
    /// their variants.
    Custom(Arc<str>),
}

/// Longest accepted custom unit (OpenTelemetry's limit).
pub(crate) const MAX_UNIT_LEN: usize = 63;

impl Unit {
    /// The unit for an OpenTelemetry unit string: `By` is [`Unit::Bytes`], `1` and
    /// the empty string are [`Unit::None`], anything else a [`Unit::Custom`]
    /// (checked when a metric is registered with it: 1 to 63 printable ASCII
    /// characters). Durations are not custom units: use the duration constructors.
    pub fn custom(unit: &str) -> Unit {
        match unit {
            "By" => Unit::Bytes,
            "" | "1" => Unit::None,
            u => Unit::Custom(u.into()),
        }
    }

    /// The OpenTelemetry unit string (`s`, `By`, `1`, or the custom string).
    pub fn otel(&self) -> &str {
        match self {
            Unit::Nanoseconds => "s",
            Unit::Bytes => "By",
            Unit::None => "1",
            Unit::Custom(u) => u,
        }
    }

    /// Whether this is a duration unit (recorded in nanoseconds).
    pub fn is_duration(&self) -> bool {
        *self == Unit::Nanoseconds
    }

    /// The name the snapshot and the export documents use.
    fn serde_name(&self) -> &str {
        match self {
            Unit::Nanoseconds => "nanoseconds",
            Unit::Bytes => "bytes",
            Unit::None => "none",
            Unit::Custom(u) => u,
        }
    }

    /// Whether a custom unit is acceptable; `None` for the built-in variants.
    pub(crate) fn invalid_custom(&self) -> Option<&str> {
        let Unit::Custom(u) = self else { return None };
        let ok = !u.is_empty()
            && u.len() <= MAX_UNIT_LEN
            && u.bytes().all(|b| b.is_ascii_graphic())
            && !matches!(&**u, "nanoseconds" | "bytes" | "none" | "ns");
        (!ok).then_some(u)
    }

    /// Whether exposed values differ from recorded ones (nanoseconds -> seconds).
    pub(crate) fn scales(&self) -> bool {
        self.is_duration()
    }

    /// Converts a recorded value to the exposed unit.
    pub(crate) fn scale(&self, v: f64) -> f64 {
        if self.is_duration() { v / 1e9 } else { v }
    }

    /// How many recorded units make one exposed unit (1e9 for durations).
    pub(crate) fn recorded_per_exposed(&self) -> f64 {
        if self.is_duration() { 1e9 } else { 1.0 }
    }

    /// The unit as a Prometheus name suffix and OpenMetrics `UNIT` (without the
    /// leading `_`), following OpenTelemetry's Prometheus compatibility rules:
    /// `seconds`, `bytes`, nothing for `1` and for annotations (`{request}`), the
    /// spelled-out UCUM units (`ms` -> `milliseconds`, `By/s` ->
    /// `bytes_per_second`), else the unit with every character outside
    /// `[a-zA-Z0-9_]` replaced by `_`.
    pub(crate) fn prometheus_word(&self) -> Cow<'static, str> {
        match self {
            Unit::Nanoseconds => Cow::Borrowed("seconds"),
            Unit::Bytes => Cow::Borrowed("bytes"),
            Unit::None => Cow::Borrowed(""),
            Unit::Custom(u) => Cow::Owned(custom_word(u)),
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.otel())
    }
}

impl serde::Serialize for Unit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.serde_name())
    }
}

impl<'de> serde::Deserialize<'de> for Unit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Unit, D::Error> {
        let s = <Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        Ok(match &*s {
            "nanoseconds" => Unit::Nanoseconds,
            "bytes" => Unit::Bytes,
            "none" => Unit::None,
            other => Unit::custom(other),
        })
    }
}

/// The spelled-out form of one UCUM unit (OpenTelemetry's Prometheus mapping).
fn ucum_word(u: &str) -> Option<&'static str> {
    Some(match u {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        "1" => "",
        _ => return None,
    })
}

/// The singular form after `per` (OpenTelemetry's mapping).
fn per_word(u: &str) -> Option<&'static str> {
    Some(match u {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

fn sanitize(u: &str) -> String {
    let s: String = u
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let mut out = String::with_capacity(s.len());
    for part in s.split('_').filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push('_');
        }
        out.push_str(part);
    }
    out
}

fn custom_word(unit: &str) -> String {
    // Annotations (`{request}`) are dropped.
    let mut bare = String::with_capacity(unit.len());
    let mut depth = 0u32;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            c if depth == 0 => bare.push(c),
            _ => {}
        }
    }
    let bare = bare.trim();
    if let Some((num, den)) = bare.split_once('/') {
        let num = ucum_word(num).map_or_else(|| sanitize(num), str::to_owned);
        let den = per_word(den)
            .or_else(|| ucum_word(den))
            .map_or_else(|| sanitize(den), str::to_owned);
        return match (num.is_empty(), den.is_empty()) {
            (_, true) => num,
            (true, false) => format!("per_{den}"),
            (false, false) => format!("{num}_per_{den}"),
        };
    }
    ucum_word(bare).map_or_else(|| sanitize(bare), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_words_follow_the_opentelemetry_mapping() {
        let w = |u: &str| Unit::custom(u).prometheus_word().into_owned();
        assert_eq!(w("By"), "bytes");
        assert_eq!(w("1"), "");
        assert_eq!(w("{request}"), "");
        assert_eq!(w("ms"), "milliseconds");
        assert_eq!(w("By/s"), "bytes_per_second");
        assert_eq!(w("{packet}/s"), "per_second");
        assert_eq!(w("Cel"), "celsius");
        assert_eq!(w("items"), "items");
        assert_eq!(w("m.s-1"), "m_s_1");
        assert_eq!(Unit::Nanoseconds.prometheus_word(), "seconds");
    }

    #[test]
    fn serde_names_round_trip_and_custom_units_are_checked() {
        for u in [
            Unit::Nanoseconds,
            Unit::Bytes,
            Unit::None,
            Unit::custom("{item}"),
        ] {
            let json = serde_json::to_string(&u).unwrap();
            let back: Unit = serde_json::from_str(&json).unwrap();
            assert_eq!(back, u, "{json}");
        }
        assert_eq!(
            serde_json::to_string(&Unit::Nanoseconds).unwrap(),
            "\"nanoseconds\""
        );
        assert!(Unit::custom("{item}").invalid_custom().is_none());
        for bad in ["a b", "é", "bytes", "ns", &"x".repeat(64)] {
            assert!(Unit::custom(bad).invalid_custom().is_some(), "{bad}");
        }
        assert!(Unit::Nanoseconds.invalid_custom().is_none());
    }
}
