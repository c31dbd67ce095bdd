//! observe-axum over real TCP on loopback: one axum server per test, on the test's
//! current-thread runtime, recording into a scoped observe instance.

mod support;

mod admin_reuse;
mod client;
mod footprint;
mod metrics;
mod panics;
mod policies;
#[cfg(feature = "reqwest")]
mod redirects;
mod routes;
mod serve;
mod server_span;
mod tracer_bullet;
mod trust;
