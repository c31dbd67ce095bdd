//! observe-tonic over real HTTP/2 on loopback: one tonic server per test and an
//! observed channel to it, on the test's current-thread runtime, recording into a
//! scoped observe instance.

mod support;

mod codegen;
mod health;
mod layers;
mod metrics;
mod propagation;
mod serve;
mod status;
mod tracer_bullet;
