//! Behaviour tests of `observe_core::metrics`.

mod accuracy;
mod cardinality;
mod exemplars;
mod exposition;
mod scrape;
mod semconv;
mod support;
mod window;
