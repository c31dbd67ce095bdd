//! observe for tonic services.
//!
//! Re-exports [`observe_core`], so this crate is the only dependency a tonic
//! service needs.

pub use observe_core;
