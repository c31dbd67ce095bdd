//! observe for tonic services.
//!
//! Re-exports [`observe_core`], so this crate is the only dependency a tonic
//! service needs.

pub use observe_core;

/// `#[traced]` on a function: a span, a latency histogram and error status per call
/// (see `observe_core::traced`). Through this re-export a tonic service needs no
/// other dependency.
#[doc(inline)]
pub use observe_core::__macros::traced_tonic as traced;
