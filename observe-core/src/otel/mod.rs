//! OpenTelemetry's data types, in one place: observe's records converted to the
//! SDK's (`convert.rs`: spans, log records, the resource, timestamps), used by the
//! exporter and by the flight recorder's OTLP-JSON dumps. An OpenTelemetry upgrade
//! starts here. [`OtelPropagator`] is observe's wire format behind OpenTelemetry's
//! `TextMapPropagator`, for code that propagates through the OpenTelemetry API.

// Without the `otlp` feature only the flight recorder's dumps use these; the parts
// that feed the exporter are unused then.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) mod convert;
pub(crate) mod metrics;
mod propagator;
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) mod slo;

pub use propagator::OtelPropagator;
