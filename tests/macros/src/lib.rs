//! Tests of `#[traced]` live in `tests/`.
