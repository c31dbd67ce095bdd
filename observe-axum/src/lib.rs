//! observe for axum services.
//!
//! Re-exports [`observe_core`], so this crate is the only dependency a axum
//! service needs.

pub use observe_core;
