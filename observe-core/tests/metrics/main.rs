//! Behaviour tests of `observe_core::metrics`.

mod accuracy;
mod cardinality;
mod exemplars;
mod exposition;
mod scrape;
mod semconv;
mod slo_scrape;
mod support;
mod window;
