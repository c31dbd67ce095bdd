//! The `#[traced]` attribute of observe.
//!
//! Do not depend on this crate directly: use `observe_core::traced` or the
//! re-export of an adapter (`observe_axum::traced`, `observe_tonic::traced`). The
//! expansion names only `::observe_core::__private` paths, whose shape is not a
//! stable API.
