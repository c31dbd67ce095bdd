//! Run-time control of head sampling.
//!
//! observe samples traces *at the root*: when a trace starts in this process, its
//! trace id decides whether it is exported (consistent probability sampling on the
//! id's random bits, so every service with the same ratio keeps the same traces).
//! A trace continued from another service follows the caller's decision
//! (parent-based). The ratio comes from `OTEL_TRACES_SAMPLER(_ARG)` at start and
//! can be changed at any time, for the whole process or for one route or function:
//!
//! ```
//! use observe_core::sampling;
//! # let _capture = observe_core::testing::capture();
//!
//! sampling::set_ratio(0.1)?;                           // 10 % of new traces
//! sampling::set_ratio_for("GET /orders/{id}", 1.0)?;   // every trace of one route
//! sampling::set_ratio_for("shop::orders::load", 1.0)?; // or of one #[traced] fn (code.function)
//! assert_eq!(sampling::ratio(), Some(0.1));
//! assert_eq!(sampling::ratio_for("GET /orders/{id}"), Some(1.0));
//!
//! sampling::clear_ratio_for("GET /orders/{id}")?;
//! # Ok::<(), sampling::SamplingError>(())
//! ```
//!
//! What sampling does *not* decide:
//! - every span, sampled or not, enters the [flight recorder](crate::recorder), so
//!   recent history is complete whatever the ratio;
//! - tracer bullets are always sampled;
//! - a request that fails or is slow is exported anyway (*tail promotion*, see
//!   [`crate::recorder`]), marked `observe.promoted = "error"` or `"slow"`.
//!
//! An unsampled span costs the exporter nothing: it is never cloned, converted or
//! queued for export.
//!
//! Overrides are keyed by the root span's name (for the adapters, the route
//! template: `GET /orders/{id}`) or by a `#[traced]` function's `code.function`
//! (`crate::module::function`); the name wins when both have one. An override
//! applies where that key *starts* a trace in this process; for a trace continued
//! from another service it can only add traces the caller dropped, never drop
//! traces the caller kept (which would cut them in pieces). At most
//! [`MAX_OVERRIDES`] keys are kept.
//!
//! The free functions act on the instance current on this thread (a test's
//! scoped instance, else the one `init` installed). [`handle`] returns a copyable
//! handle for code on other threads, such as the admin page.

use std::fmt;

use crate::pipeline::{HeadSampler, Pipeline};

pub use crate::pipeline::{MAX_KEY_LEN, MAX_OVERRIDES};

/// Why a sampling change was refused.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SamplingError {
    /// The ratio is not a number between 0 and 1.
    InvalidRatio {
        /// The value given.
        value: f64,
    },
    /// The key is empty, longer than [`MAX_KEY_LEN`] bytes, or contains control
    /// characters.
    InvalidKey {
        /// The key given (truncated to 64 characters).
        key: String,
    },
    /// [`MAX_OVERRIDES`] keys already have an override.
    TooManyOverrides {
        /// The limit.
        limit: usize,
    },
    /// observe is not running (not initialised, or shut down).
    NotRunning,
}

impl fmt::Display for SamplingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SamplingError::InvalidRatio { value } => write!(
                f,
                "invalid sampling ratio {value}: expected a number from 0.0 (none) to 1.0 (all)"
            ),
            SamplingError::InvalidKey { key } => write!(
                f,
                "invalid sampling key {key:?}: expected a root span name or a code.function \
                 of 1 to {MAX_KEY_LEN} bytes without control characters"
            ),
            SamplingError::TooManyOverrides { limit } => write!(
                f,
                "too many sampling overrides: at most {limit} keys; clear one first"
            ),
            SamplingError::NotRunning => {
                f.write_str("observe is not running: call observe_core::init() first")
            }
        }
    }
}

impl std::error::Error for SamplingError {}

/// The sampling configuration of an instance, as the admin page shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SamplingState {
    /// The ratio of new traces kept.
    pub ratio: f64,
    /// Whether a remote parent's decision is followed.
    pub parent_based: bool,
    /// Per-key ratios, sorted by key.
    pub overrides: Vec<SamplingOverride>,
    /// The most overrides accepted.
    pub max_overrides: usize,
}

/// One per-key ratio.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SamplingOverride {
    /// A root span name or a `code.function`.
    pub key: String,
    /// The ratio for traces that key starts.
    pub ratio: f64,
}

/// A handle on one instance's sampler, usable from any thread.
#[derive(Clone, Copy)]
pub struct SamplingHandle {
    sampler: &'static HeadSampler,
}

impl fmt::Debug for SamplingHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SamplingHandle")
            .field("ratio", &self.sampler.ratio())
            .finish()
    }
}

/// `ratio` if it is one (0.0 to 1.0), with `-0.0` read as `0.0`.
fn check_ratio(ratio: f64) -> Result<f64, SamplingError> {
    if (0.0..=1.0).contains(&ratio) {
        Ok(ratio + 0.0)
    } else {
        Err(SamplingError::InvalidRatio { value: ratio })
    }
}

fn check_key(key: &str) -> Result<(), SamplingError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || key.chars().any(char::is_control) {
        Err(SamplingError::InvalidKey {
            key: key.chars().take(64).collect(),
        })
    } else {
        Ok(())
    }
}

impl SamplingHandle {
    /// Sets the ratio of new traces kept (0.0 to 1.0), from the next trace on.
    pub fn set_ratio(&self, ratio: f64) -> Result<(), SamplingError> {
        let ratio = check_ratio(ratio)?;
        self.sampler.set_ratio(ratio);
        Ok(())
    }

    /// The ratio of new traces kept.
    pub fn ratio(&self) -> f64 {
        self.sampler.ratio()
    }

    /// Sets the ratio for traces started by a root span named `key` or by the
    /// `#[traced]` function whose `code.function` is `key`.
    pub fn set_ratio_for(&self, key: &str, ratio: f64) -> Result<(), SamplingError> {
        check_key(key)?;
        let ratio = check_ratio(ratio)?;
        if self.sampler.set_override(key, ratio) {
            Ok(())
        } else {
            Err(SamplingError::TooManyOverrides {
                limit: MAX_OVERRIDES,
            })
        }
    }

    /// The override for `key`, if there is one.
    pub fn ratio_for(&self, key: &str) -> Option<f64> {
        self.sampler.override_ratio(key)
    }

    /// Removes the override for `key`; returns whether there was one.
    pub fn clear_ratio_for(&self, key: &str) -> bool {
        self.sampler.remove_override(key)
    }

    /// Removes every override.
    pub fn clear_overrides(&self) {
        self.sampler.clear_overrides();
    }

    /// The whole configuration.
    pub fn state(&self) -> SamplingState {
        SamplingState {
            ratio: self.sampler.ratio(),
            parent_based: self.sampler.is_parent_based(),
            overrides: self
                .sampler
                .overrides()
                .into_iter()
                .map(|(key, ratio)| SamplingOverride { key, ratio })
                .collect(),
            max_overrides: MAX_OVERRIDES,
        }
    }
}

/// A handle on the sampler of the instance current on this thread.
pub fn handle() -> Option<SamplingHandle> {
    Pipeline::current().map(|p| SamplingHandle {
        sampler: p.sampler(),
    })
}

fn with<R>(f: impl FnOnce(SamplingHandle) -> Result<R, SamplingError>) -> Result<R, SamplingError> {
    handle().map_or(Err(SamplingError::NotRunning), f)
}

/// Sets the ratio of new traces kept (0.0 to 1.0), from the next trace on.
pub fn set_ratio(ratio: f64) -> Result<(), SamplingError> {
    with(|h| h.set_ratio(ratio))
}

/// The ratio of new traces kept; `None` when observe is not running.
pub fn ratio() -> Option<f64> {
    handle().map(|h| h.ratio())
}

/// Sets the ratio for one route or function (see the [module docs](self)).
pub fn set_ratio_for(key: &str, ratio: f64) -> Result<(), SamplingError> {
    with(|h| h.set_ratio_for(key, ratio))
}

/// The override for `key`, if observe is running and there is one.
pub fn ratio_for(key: &str) -> Option<f64> {
    handle().and_then(|h| h.ratio_for(key))
}

/// Removes the override for `key`; returns whether there was one.
pub fn clear_ratio_for(key: &str) -> Result<bool, SamplingError> {
    with(|h| Ok(h.clear_ratio_for(key)))
}

/// The sampling configuration, when observe is running.
pub fn state() -> Option<SamplingState> {
    handle().map(|h| h.state())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::Span;

    #[test]
    fn without_an_instance_changes_are_refused() {
        assert_eq!(set_ratio(0.5), Err(SamplingError::NotRunning));
        assert_eq!(ratio(), None);
        assert!(state().is_none());
    }

    #[test]
    fn negative_zero_is_zero() {
        let ratio = check_ratio(-0.0).unwrap();
        assert!(ratio == 0.0 && ratio.is_sign_positive());
    }

    #[test]
    fn bad_values_are_errors_that_say_what_is_accepted() {
        let _c = crate::testing::capture();
        for bad in [f64::NAN, -0.1, 1.5, f64::INFINITY] {
            let e = set_ratio(bad).unwrap_err();
            assert!(matches!(e, SamplingError::InvalidRatio { .. }));
            assert!(e.to_string().contains("0.0 (none) to 1.0 (all)"), "{e}");
        }
        let e = set_ratio_for("", 1.0).unwrap_err();
        assert!(matches!(e, SamplingError::InvalidKey { .. }));
        let long = "x".repeat(MAX_KEY_LEN + 1);
        assert!(matches!(
            set_ratio_for(&long, 1.0),
            Err(SamplingError::InvalidKey { key }) if key.len() == 64
        ));
        assert!(set_ratio_for("a\nb", 1.0).is_err());
        assert_eq!(ratio(), Some(1.0), "a refused change changes nothing");
    }

    #[test]
    fn run_time_changes_reach_new_roots() {
        let c = crate::testing::capture_with(1.0);
        set_ratio(0.0).unwrap();
        Span::new("dropped").end();
        set_ratio_for("kept", 1.0).unwrap();
        Span::new("kept").end();
        Span::new("dropped").end();
        c.flush();
        let spans = c.spans();
        assert_eq!(
            spans.len(),
            3,
            "every span is recorded whatever sampling says"
        );
        for s in &spans {
            assert_eq!(s.is_sampled(), s.name() == "kept", "{s:?}");
        }
        let st = state().unwrap();
        assert_eq!(st.ratio, 0.0);
        assert_eq!(
            st.overrides,
            vec![SamplingOverride {
                key: "kept".into(),
                ratio: 1.0
            }]
        );
        assert_eq!(clear_ratio_for("kept"), Ok(true));
        assert_eq!(clear_ratio_for("kept"), Ok(false));
    }

    #[test]
    fn too_many_overrides_is_an_error() {
        let _c = crate::testing::capture();
        for i in 0..MAX_OVERRIDES {
            set_ratio_for(&format!("route {i}"), 1.0).unwrap();
        }
        let e = set_ratio_for("one more", 1.0).unwrap_err();
        assert_eq!(
            e,
            SamplingError::TooManyOverrides {
                limit: MAX_OVERRIDES
            }
        );
        handle().unwrap().clear_overrides();
        set_ratio_for("one more", 1.0).unwrap();
    }
}
