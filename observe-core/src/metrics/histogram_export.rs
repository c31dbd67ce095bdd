//! Lossless histogram export and cross-instance merging.
//!
//! [`Registry::export_histograms`] writes every histogram key's cumulative and
//! window histograms in hdrhistogram's V2 deflate format, base64-encoded, in one
//! JSON document. [`merge`] adds such documents from many instances key by key,
//! bin by bin, so a fleet-wide p99.999 is exact to the histograms' 3 digits:
//! histograms are merged, never averaged.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram as HdrHistogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use super::cells::Scalars;
use super::handles::AnySeries;
use super::layout::{HIGHEST, LOWEST, SIGFIG, new_histogram};
use super::registry::Registry;
use super::snapshot::{Scratch, Stats, Views, read_histogram};
use super::unit::Unit;

/// The `format` of an export document.
pub const EXPORT_FORMAT: &str = "observe.histograms.v1";
/// The `encoding` of its histograms.
pub const EXPORT_ENCODING: &str = "hdrhistogram-v2-deflate-base64";

const V2_COOKIE: u32 = 0x1c84_9313;
const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9314;
const V2_HEADER_LEN: usize = 40;
/// Largest accepted base64 text per histogram.
const MAX_ENCODED: usize = 4 << 20;
/// Largest accepted inflated histogram (a full one is about 300 KiB).
const MAX_INFLATED: usize = 1 << 20;

/// A document of serialized histograms from one instance, or merged from many.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistogramExport {
    /// Always [`EXPORT_FORMAT`].
    pub format: String,
    /// Always [`EXPORT_ENCODING`].
    pub encoding: String,
    /// How many instances' documents this is the merge of (1 for one process).
    pub instances: u64,
    /// When it was taken (the latest, for a merge), nanoseconds since the Unix epoch.
    pub taken_at_unix_nanos: u64,
    /// The rolling window's length in seconds.
    pub window_seconds: f64,
    /// One entry per histogram key.
    pub series: Vec<ExportedSeries>,
}

/// One key's histograms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedSeries {
    /// The metric name.
    pub name: String,
    /// The recorded unit.
    pub unit: Unit,
    /// The labels.
    pub labels: BTreeMap<String, String>,
    /// Since the key was created.
    pub cumulative: ExportedView,
    /// The rolling window.
    pub window: ExportedView,
}

/// One view of one key: the histogram and the totals it cannot carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedView {
    /// hdrhistogram V2 deflate, base64.
    pub histogram: String,
    /// Exact sum of the observations.
    pub sum: u64,
    /// Observations recorded as errors.
    pub errors: u64,
    /// Observations above the range.
    pub clamped: u64,
}

/// Why an export document could not be read or merged; says which input and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeError {
    /// Index of the document in the input (0 for a single document).
    pub document: usize,
    /// The key, when one is concerned (`name{labels}`).
    pub series: Option<String>,
    /// What was wrong.
    pub reason: String,
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "histogram export document {}", self.document)?;
        if let Some(s) = &self.series {
            write!(f, ", series {s}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for MergeError {}

fn encode(h: &HdrHistogram<u64>) -> String {
    let mut buf = Vec::new();
    // Serializing into a Vec only fails for histograms whose counts do not fit the
    // format, which ours always do; an empty string would then fail to decode.
    if V2DeflateSerializer::new().serialize(h, &mut buf).is_err() {
        return String::new();
    }
    STANDARD.encode(buf)
}

/// Decodes one histogram, refusing anything but observe's layout and bounding the
/// memory an untrusted document can make us allocate.
fn decode(text: &str) -> Result<HdrHistogram<u64>, String> {
    if text.len() > MAX_ENCODED {
        return Err(format!(
            "histogram is {} bytes of base64; at most {MAX_ENCODED} are accepted",
            text.len()
        ));
    }
    let bytes = STANDARD
        .decode(text)
        .map_err(|e| format!("histogram is not valid base64 ({e})"))?;
    let be32 = |b: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    let be64 = |b: &[u8], at: usize| -> Option<u64> {
        Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
    };
    if be32(&bytes, 0) != Some(V2_COMPRESSED_COOKIE) {
        return Err("histogram is not in hdrhistogram's V2 deflate format (bad cookie)".into());
    }
    let len = be32(&bytes, 4).unwrap_or(0) as usize;
    let body = bytes
        .get(8..8usize.saturating_add(len))
        .ok_or("histogram is truncated (shorter than its declared length)")?;
    let mut inflated = Vec::new();
    flate2::read::ZlibDecoder::new(body)
        .take(MAX_INFLATED as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| format!("histogram does not inflate ({e})"))?;
    if inflated.len() > MAX_INFLATED {
        return Err(format!(
            "histogram inflates to more than {MAX_INFLATED} bytes"
        ));
    }
    let inner = (
        be32(&inflated, 0),
        be32(&inflated, 12),
        be64(&inflated, 16),
        be64(&inflated, 24),
    );
    if inner.0 != Some(V2_COOKIE) {
        return Err("histogram payload is not hdrhistogram V2 (bad inner cookie)".into());
    }
    if (inner.1, inner.2, inner.3) != (Some(SIGFIG as u32), Some(LOWEST), Some(HIGHEST)) {
        return Err(format!(
            "histogram layout is digits={:?} low={:?} high={:?}; observe accepts digits={SIGFIG} low={LOWEST} high={HIGHEST}",
            inner.1, inner.2, inner.3
        ));
    }
    if inflated.len() < V2_HEADER_LEN
        || be32(&inflated, 4).unwrap_or(u32::MAX) as usize > inflated.len() - V2_HEADER_LEN
    {
        return Err("histogram payload is shorter than its declared length".into());
    }
    Deserializer::new()
        .deserialize(&mut &inflated[..])
        .map_err(|e| format!("histogram does not decode ({e:?})"))
}

impl ExportedView {
    /// The decoded histogram (observe's layout: 1 ns .. 2^42 - 1, 3 digits).
    pub fn decode(&self) -> Result<HdrHistogram<u64>, MergeError> {
        decode(&self.histogram).map_err(|reason| MergeError {
            document: 0,
            series: None,
            reason,
        })
    }

    /// The statistics of this view (quantiles from the decoded histogram).
    pub fn stats(&self) -> Result<Stats, MergeError> {
        let h = self.decode()?;
        Ok(Stats::from_histogram(
            &h,
            &Scalars {
                count: h.len(),
                sum: self.sum,
                errors: self.errors,
                clamped: self.clamped,
            },
        ))
    }
}

impl HistogramExport {
    /// The series with exactly these labels.
    pub fn series(&self, name: &str, labels: &[(&str, &str)]) -> Option<&ExportedSeries> {
        self.series.iter().find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v))
        })
    }

    /// The JSON form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads the JSON form.
    pub fn from_json(text: &str) -> Result<HistogramExport, MergeError> {
        serde_json::from_str(text).map_err(|e| MergeError {
            document: 0,
            series: None,
            reason: format!("not an export document ({e})"),
        })
    }
}

impl Registry {
    /// Every histogram key's cumulative and window histograms, losslessly
    /// serialized, for merging across instances with [`merge`].
    pub fn export_histograms(&self) -> HistogramExport {
        let now = self.now();
        let mut out = HistogramExport {
            format: EXPORT_FORMAT.into(),
            encoding: EXPORT_ENCODING.into(),
            instances: 1,
            taken_at_unix_nanos: now,
            window_seconds: self.window().0.as_secs_f64(),
            series: Vec::new(),
        };
        let mut scratch = None;
        for f in self.families() {
            for s in &f.series {
                let AnySeries::Histogram(h) = s else { continue };
                let scratch = scratch.get_or_insert_with(Scratch::new);
                let series = read_histogram(h, now, scratch, Views::Both, |r| {
                    let view = |h: &HdrHistogram<u64>, s: &Scalars| ExportedView {
                        histogram: encode(h),
                        sum: s.sum,
                        errors: s.errors,
                        clamped: s.clamped,
                    };
                    ExportedSeries {
                        name: f.meta.name.clone(),
                        unit: f.meta.unit.clone(),
                        labels: r.series.key.labels_map(),
                        cumulative: view(r.cumulative, &r.cumulative_scalars),
                        window: view(r.window, &r.window_scalars),
                    }
                });
                out.series.push(series);
            }
        }
        out
    }
}

fn key_text(name: &str, labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

/// Merges export documents from many instances into one: for every key (name and
/// labels), the histograms are added bin by bin and the sums, errors and clamped
/// counts added. Keys present in only some documents are kept as they are.
///
/// Fails, naming the document and key, on a document of another format, a corrupt
/// or foreign-layout histogram, differing windows, or one name with two units.
///
/// ```
/// use observe_core::metrics::{Registry, merge};
///
/// let (a, b) = (Registry::new(), Registry::new());
/// a.duration_histogram("op.duration", &[]).record(1_000);
/// b.duration_histogram("op.duration", &[]).record(3_000);
/// let merged = merge(&[a.export_histograms(), b.export_histograms()]).unwrap();
/// let s = merged.series("op.duration", &[]).unwrap();
/// let stats = s.cumulative.stats().unwrap();
/// assert_eq!((merged.instances, stats.count, stats.sum), (2, 2, 4_000));
/// ```
pub fn merge(documents: &[HistogramExport]) -> Result<HistogramExport, MergeError> {
    let err = |document: usize, series: Option<String>, reason: String| MergeError {
        document,
        series,
        reason,
    };
    let mut out = HistogramExport {
        format: EXPORT_FORMAT.into(),
        encoding: EXPORT_ENCODING.into(),
        instances: 0,
        taken_at_unix_nanos: 0,
        window_seconds: documents.first().map_or(0.0, |d| d.window_seconds),
        series: Vec::new(),
    };
    type Key = (String, BTreeMap<String, String>);
    let mut groups: BTreeMap<Key, Vec<(usize, &ExportedSeries)>> = BTreeMap::new();
    for (i, d) in documents.iter().enumerate() {
        if d.format != EXPORT_FORMAT || d.encoding != EXPORT_ENCODING {
            return Err(err(
                i,
                None,
                format!(
                    "format {:?} / encoding {:?}; accepted: {EXPORT_FORMAT:?} / {EXPORT_ENCODING:?}",
                    d.format, d.encoding
                ),
            ));
        }
        if d.window_seconds != out.window_seconds {
            return Err(err(
                i,
                None,
                format!(
                    "window of {} s differs from document 0's {} s; merge documents with the same window",
                    d.window_seconds, out.window_seconds
                ),
            ));
        }
        out.instances = out.instances.saturating_add(d.instances);
        out.taken_at_unix_nanos = out.taken_at_unix_nanos.max(d.taken_at_unix_nanos);
        for s in &d.series {
            groups
                .entry((s.name.clone(), s.labels.clone()))
                .or_default()
                .push((i, s));
        }
    }
    let mut units: BTreeMap<&str, (usize, &Unit)> = BTreeMap::new();
    let mut cumulative = new_histogram();
    let mut window = new_histogram();
    for ((name, labels), members) in &groups {
        cumulative.reset();
        window.reset();
        let mut cs = Scalars::default();
        let mut ws = Scalars::default();
        let unit = members[0].1.unit.clone();
        for &(i, s) in members {
            let key = || Some(key_text(name, labels));
            match units.get(name.as_str()) {
                Some(&(j, u)) if *u != s.unit => {
                    return Err(err(
                        i,
                        key(),
                        format!("unit {:?} differs from {u:?} in document {j}", s.unit),
                    ));
                }
                _ => {
                    units.insert(name, (i, &s.unit));
                }
            }
            for (view, h, sc) in [
                (&s.cumulative, &mut cumulative, &mut cs),
                (&s.window, &mut window, &mut ws),
            ] {
                let d = decode(&view.histogram).map_err(|r| err(i, key(), r))?;
                h.add(&d)
                    .map_err(|e| err(i, key(), format!("histogram does not add ({e:?})")))?;
                sc.add(&Scalars {
                    count: 0,
                    sum: view.sum,
                    errors: view.errors,
                    clamped: view.clamped,
                });
            }
        }
        let view = |h: &HdrHistogram<u64>, s: &Scalars| ExportedView {
            histogram: encode(h),
            sum: s.sum,
            errors: s.errors,
            clamped: s.clamped,
        };
        out.series.push(ExportedSeries {
            name: name.clone(),
            unit,
            labels: labels.clone(),
            cumulative: view(&cumulative, &cs),
            window: view(&window, &ws),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_lossless() {
        let mut h = new_histogram();
        for v in [0u64, 1, 999, 2048, 123_456_789, HIGHEST] {
            h.record_n(v, v % 7 + 1).unwrap();
        }
        let back = decode(&encode(&h)).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(decode("!!!").unwrap_err().contains("base64"));
        assert!(
            decode(&STANDARD.encode([1u8, 2, 3]))
                .unwrap_err()
                .contains("cookie")
        );
        let mut h = new_histogram();
        h.record(5).unwrap();
        let good = STANDARD.decode(encode(&h)).unwrap();
        // Truncated.
        let e = decode(&STANDARD.encode(&good[..good.len() - 3])).unwrap_err();
        assert!(
            e.contains("truncated") || e.contains("inflate") || e.contains("decode"),
            "{e}"
        );
        // Corrupted payload.
        let mut bad = good.clone();
        let n = bad.len();
        bad[n - 4] ^= 0xff;
        assert!(decode(&STANDARD.encode(&bad)).is_err());
        // A foreign layout.
        let mut other = HdrHistogram::<u64>::new_with_bounds(1, 1_000_000, 2).unwrap();
        other.record(5).unwrap();
        let e = decode(&encode(&other)).unwrap_err();
        assert!(e.contains("observe accepts"), "{e}");
        // Random bytes after a valid cookie.
        let mut junk = V2_COMPRESSED_COOKIE.to_be_bytes().to_vec();
        junk.extend(u32::MAX.to_be_bytes());
        junk.extend([0x78, 0x9c, 1, 2, 3, 4, 5]);
        assert!(decode(&STANDARD.encode(&junk)).is_err());
        // Too long.
        assert!(
            decode(&"A".repeat(MAX_ENCODED + 4))
                .unwrap_err()
                .contains("at most")
        );
    }

    #[test]
    fn merge_rejects_mismatches_with_the_culprit_named() {
        let a = Registry::new();
        a.duration_histogram("x", &[]).record(1);
        let b = Registry::builder()
            .window(
                std::time::Duration::from_secs(60),
                std::time::Duration::from_secs(10),
            )
            .build()
            .unwrap();
        b.duration_histogram("x", &[]).record(1);
        let e = merge(&[a.export_histograms(), b.export_histograms()]).unwrap_err();
        assert_eq!(e.document, 1);
        assert!(e.to_string().contains("window"), "{e}");
        let mut doc = a.export_histograms();
        doc.series[0].cumulative.histogram = "zz".into();
        let e = merge(&[a.export_histograms(), doc]).unwrap_err();
        assert_eq!((e.document, e.series.as_deref()), (1, Some("x{}")));
        let mut doc = a.export_histograms();
        doc.format = "other".into();
        assert!(merge(&[doc]).unwrap_err().to_string().contains("accepted"));
    }
}
