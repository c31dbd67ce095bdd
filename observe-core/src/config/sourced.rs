//! Precedence: a value and where it came from ([`Sourced`]), the [`Reader`] that
//! reads variables and collects problems, and the small helpers that pick the first
//! value present. Resolution (`resolve.rs`, `otlp.rs`) is written with these.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use super::error::{self, Origin, Problem};
use super::overrides::EnvSource;
use super::parse::{self, Parsed};

/// Reads variables and collects problems.
pub(super) struct Reader<'a> {
    env: &'a EnvSource,
    /// Every problem found so far, in the order found.
    pub(super) problems: Vec<Problem>,
}

impl<'a> Reader<'a> {
    /// Reads from `env`, no problem found yet.
    pub(super) fn new(env: &'a EnvSource) -> Self {
        Reader {
            env,
            problems: Vec::new(),
        }
    }

    /// The trimmed value of a variable; `None` when unset or blank. A value that is not
    /// UTF-8 is a problem, its value redacted when the variable holds a secret.
    pub(super) fn raw(&mut self, var: &'static str, secret: bool) -> Option<String> {
        let value = match self.env {
            EnvSource::Ignore => return None,
            EnvSource::Lookup(lookup) => lookup(var)?,
            EnvSource::Process => match std::env::var_os(var)?.into_string() {
                Ok(value) => value,
                Err(value) => {
                    let problem = Problem::env(var, value.to_string_lossy(), "valid UTF-8");
                    self.problems
                        .push(if secret { problem.redacted() } else { problem });
                    return None;
                }
            },
        };
        let value = value.trim();
        (!value.is_empty()).then(|| value.to_owned())
    }

    /// Reads and parses a variable. A bad value is recorded and reads as unset.
    pub(super) fn var<T>(
        &mut self,
        var: &'static str,
        parse: impl FnOnce(&str) -> Parsed<T>,
    ) -> Option<Sourced<T>> {
        self.var_with(var, parse, false)
    }

    /// [`var`](Self::var) for a secret: a bad value is reported as `<redacted>`.
    pub(super) fn secret_var<T>(
        &mut self,
        var: &'static str,
        parse: impl FnOnce(&str) -> Parsed<T>,
    ) -> Option<Sourced<T>> {
        self.var_with(var, parse, true)
    }

    fn var_with<T>(
        &mut self,
        var: &'static str,
        parse: impl FnOnce(&str) -> Parsed<T>,
        secret: bool,
    ) -> Option<Sourced<T>> {
        let raw = self.raw(var, secret)?;
        match parse(&raw) {
            Ok(value) => Some(Sourced {
                value,
                src: Src::Env {
                    var,
                    // Whatever reads the source later (a check across settings)
                    // never sees a secret.
                    raw: if secret {
                        error::REDACTED.to_owned()
                    } else {
                        raw
                    },
                },
            }),
            Err(invalid) => {
                let problem = Problem::env(var, invalid.shown.unwrap_or(raw), invalid.expected);
                self.problems
                    .push(if secret { problem.redacted() } else { problem });
                None
            }
        }
    }

    /// Parses a string given to a builder method. A bad value is recorded and reads as
    /// unset.
    pub(super) fn code<T>(
        &mut self,
        method: &'static str,
        value: &str,
        parse: impl FnOnce(&str) -> Parsed<T>,
    ) -> Option<T> {
        match parse(value.trim()) {
            Ok(value) => Some(value),
            Err(invalid) => {
                self.problems.push(Problem::code(
                    method,
                    invalid.shown.unwrap_or_else(|| value.to_owned()),
                    invalid.expected,
                ));
                None
            }
        }
    }

    /// A duration from a builder method that must not be zero.
    pub(super) fn positive_code(
        &mut self,
        method: &'static str,
        value: Option<Duration>,
    ) -> Option<Duration> {
        self.positive_code_sourced(method, value).map(|s| s.value)
    }

    pub(super) fn positive_code_sourced(
        &mut self,
        method: &'static str,
        value: Option<Duration>,
    ) -> Option<Sourced<Duration>> {
        let value = value?;
        if value.is_zero() {
            self.problems.push(Problem::code(
                method,
                format!("{value:?}"),
                "a duration greater than 0",
            ));
            return None;
        }
        Some(Sourced::code(method, value))
    }

    /// A count from a builder method that must not be zero.
    pub(super) fn positive_code_int(
        &mut self,
        method: &'static str,
        value: Option<usize>,
    ) -> Option<usize> {
        let value = value?;
        if value == 0 {
            self.problems
                .push(Problem::code(method, "0", parse::POSITIVE_INT));
            return None;
        }
        Some(value)
    }
}

/// A value and where it came from, so that a check across settings can blame the
/// right one.
#[derive(Clone, Debug)]
pub(super) struct Sourced<T> {
    pub(super) value: T,
    pub(super) src: Src,
}

/// Where a value came from.
#[derive(Clone, Debug)]
pub(super) enum Src {
    /// observe's default.
    Default,
    /// A variable, and its trimmed value (`<redacted>` for a secret).
    Env { var: &'static str, raw: String },
    /// A builder method, and the value as shown in an error.
    Code { method: &'static str, shown: String },
}

impl<T> Sourced<T> {
    /// A default: never blamed.
    pub(super) fn fallback(value: T) -> Self {
        Sourced {
            value,
            src: Src::Default,
        }
    }
}

impl<T: fmt::Debug> Sourced<T> {
    /// A typed value given to a builder method, shown as its `Debug` form.
    pub(super) fn code(method: &'static str, value: T) -> Self {
        Sourced {
            src: Src::Code {
                method,
                shown: format!("{value:?}"),
            },
            value,
        }
    }
}

impl Src {
    /// A problem blaming this source; `None` for a default (defaults are valid).
    pub(super) fn problem(&self, expected: impl Into<Cow<'static, str>>) -> Option<Problem> {
        match self {
            Src::Default => None,
            Src::Env { var, raw } => Some(Problem::new(Origin::Env, *var, raw.clone(), expected)),
            Src::Code { method, shown } => {
                Some(Problem::new(Origin::Code, *method, shown.clone(), expected))
            }
        }
    }

    /// How to name this source in another setting's error.
    pub(super) fn name(&self, variable: &'static str) -> &'static str {
        match self {
            Src::Code { method, .. } => method,
            Src::Env { .. } | Src::Default => variable,
        }
    }
}

/// The first value present, highest precedence first.
pub(super) fn first<T, const N: usize>(candidates: [Option<Sourced<T>>; N]) -> Option<Sourced<T>> {
    candidates.into_iter().flatten().next()
}

/// Adds `problem` unless one about the same variable is there already.
pub(super) fn push_once(problems: &mut Vec<Problem>, problem: Problem) {
    if !problems.iter().any(|p| p.variable() == problem.variable()) {
        problems.push(problem);
    }
}

/// A string given in code, trimmed; `None` when absent or blank.
pub(super) fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Removes every entry with `key`, returning the last value.
pub(super) fn take(attrs: &mut Vec<(String, String)>, key: &str) -> Option<String> {
    let mut found = None;
    attrs.retain(|(k, v)| {
        if k == key {
            found = Some(v.clone());
            false
        } else {
            true
        }
    });
    found.filter(|v| !v.trim().is_empty())
}
