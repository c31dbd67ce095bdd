//! Behaviour tests for `observe_core::config`: every variable through an injected
//! lookup (never the process environment), precedence, endpoint resolution, secrets,
//! the internal-host matcher, and the configuration reference itself.

mod docs;
mod errors;
mod export;
mod hosts;
mod identity;
mod precedence;
mod secrets;
mod settings;
mod support;
