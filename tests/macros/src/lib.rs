//! Tests of `#[traced]` (unpublished): trybuild UI cases in `tests/ui/`, behaviour
//! tests in `tests/behaviour/`, and the examples of the attribute's reference and of
//! the user guide, which run here as doctests because they need observe-core.

/// The reference of `#[traced]` (shown at `observe_core::traced`).
#[doc = include_str!("../../../observe-macros/src/traced.md")]
pub mod reference {}

/// The user guide, `docs/traced.md`.
#[doc = include_str!("../../../docs/traced.md")]
pub mod guide {}
