//! The configuration error: every bad setting at once, each naming its source.

use std::borrow::Cow;
use std::fmt;

/// What [`Builder::build_config`](crate::Builder::build_config) (and `init`) return
/// when one or more settings are invalid.
///
/// It lists **every** problem found, not only the first, so that an operator fixes
/// them in one go. Each [`Problem`] names the variable (or the builder method), the
/// value as given, and what is accepted. `Display` prints one problem per line:
///
/// ```text
/// OTEL_TRACES_SAMPLER_ARG="1.5": expected a ratio between 0 and 1
/// ```
///
/// Secret values (OTLP headers, the tracer-bullet key) are never printed: their
/// value shows as `<redacted>`.
///
/// ```
/// use observe_core::Builder;
///
/// let err = Builder::new()
///     .env_lookup(|name| match name {
///         "OTEL_TRACES_SAMPLER_ARG" => Some("1.5".into()),
///         "OBSERVE_ADMIN_ADDR" => Some("localhost".into()),
///         _ => None,
///     })
///     .build_config()
///     .unwrap_err();
/// let variables: Vec<&str> = err.problems().iter().map(|p| p.variable()).collect();
/// assert_eq!(variables, ["OTEL_TRACES_SAMPLER_ARG", "OBSERVE_ADMIN_ADDR"]);
/// assert_eq!(err.problems()[0].value(), "1.5");
/// assert_eq!(err.problems()[0].expected(), "a ratio between 0 and 1");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigError {
    problems: Vec<Problem>,
}

impl ConfigError {
    pub(crate) fn new(problems: Vec<Problem>) -> Self {
        debug_assert!(!problems.is_empty());
        ConfigError { problems }
    }

    /// Every problem found, in the order the settings are read (identity, export,
    /// sampling, logs, admin, metrics, flight recorder, shutdown, propagation).
    /// Never empty.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [only] = self.problems.as_slice() {
            return fmt::Display::fmt(only, f);
        }
        write!(
            f,
            "invalid observe configuration ({} problems):",
            self.problems.len()
        )?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

/// `{:?}` prints the readable message, as `Display` does: it is what a `main` that
/// returns `Result<(), Box<dyn Error>>` shows the operator. `{:#?}` shows the
/// structure.
impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !f.alternate() {
            return fmt::Display::fmt(self, f);
        }
        f.debug_struct("ConfigError")
            .field("problems", &self.problems)
            .finish()
    }
}

impl std::error::Error for ConfigError {}

/// Where a value came from: an environment variable or a [`Builder`](crate::Builder)
/// method. It decides how a [`Problem`] prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// An environment variable (or the injected lookup).
    Env,
    /// A builder method, or the application's manifest read by `service_info!()`.
    Code,
}

/// One invalid setting: which variable, which value, what is accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    variable: Cow<'static, str>,
    value: String,
    expected: Cow<'static, str>,
    origin: Origin,
    secret: bool,
}

/// What a secret value prints as, in errors and in `Debug`.
pub(crate) const REDACTED: &str = "<redacted>";

impl Problem {
    pub(crate) fn env(
        variable: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
        expected: impl Into<Cow<'static, str>>,
    ) -> Self {
        Problem {
            variable: variable.into(),
            value: value.into(),
            expected: expected.into(),
            origin: Origin::Env,
            secret: false,
        }
    }

    pub(crate) fn code(
        method: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
        expected: impl Into<Cow<'static, str>>,
    ) -> Self {
        Problem {
            variable: method.into(),
            value: value.into(),
            expected: expected.into(),
            origin: Origin::Code,
            secret: false,
        }
    }

    pub(crate) fn new(
        origin: Origin,
        variable: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
        expected: impl Into<Cow<'static, str>>,
    ) -> Self {
        Problem {
            variable: variable.into(),
            value: value.into(),
            expected: expected.into(),
            origin,
            secret: false,
        }
    }

    /// Hides the value: it prints as `<redacted>`.
    pub(crate) fn redacted(mut self) -> Self {
        self.value = REDACTED.to_owned();
        self.secret = true;
        self
    }

    /// The environment variable (`OTEL_TRACES_SAMPLER_ARG`), or for a value given in
    /// code, the builder method (`Builder::otlp_endpoint`), or for the application's
    /// manifest, `[package.metadata.observe] <key>`.
    pub fn variable(&self) -> &str {
        &self.variable
    }

    /// The value as given (surrounding whitespace trimmed), or `<redacted>` for a
    /// secret.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What is accepted, as a phrase that follows "expected", for example
    /// `a ratio between 0 and 1`.
    pub fn expected(&self) -> &str {
        &self.expected
    }

    /// `true` when the value was given in code (a builder method or the manifest)
    /// rather than in the environment.
    pub fn is_from_code(&self) -> bool {
        self.origin == Origin::Code
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value: &dyn fmt::Display = if self.secret {
            &REDACTED
        } else {
            &format_args!("{:?}", self.value)
        };
        match self.origin {
            Origin::Env => write!(f, "{}={value}", self.variable)?,
            Origin::Code => write!(f, "{}({value})", self.variable)?,
        }
        write!(f, ": expected {}", self.expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_problem_prints_on_one_line() {
        let err = ConfigError::new(vec![Problem::env(
            "OTEL_TRACES_SAMPLER_ARG",
            "1.5",
            "a ratio between 0 and 1",
        )]);
        assert_eq!(
            err.to_string(),
            r#"OTEL_TRACES_SAMPLER_ARG="1.5": expected a ratio between 0 and 1"#
        );
    }

    #[test]
    fn several_problems_print_one_per_line_after_a_count() {
        let err = ConfigError::new(vec![
            Problem::env("A", "x", "a thing"),
            Problem::code("Builder::b", "y\n", "another"),
            Problem::env("C", "hunter2", "a secret").redacted(),
        ]);
        assert_eq!(
            err.to_string(),
            "invalid observe configuration (3 problems):\n  \
             A=\"x\": expected a thing\n  \
             Builder::b(\"y\\n\"): expected another\n  \
             C=<redacted>: expected a secret"
        );
        assert!(err.problems()[1].is_from_code());
        assert!(!err.problems()[0].is_from_code());
    }

    /// `main() -> Result<(), Box<dyn Error>>` prints the error with `{:?}`: the
    /// operator must read the message there, not the struct.
    #[test]
    fn debug_is_the_readable_message_and_alternate_debug_the_structure() {
        let err = ConfigError::new(vec![Problem::env(
            "OTEL_TRACES_SAMPLER_ARG",
            "1.5",
            "a ratio between 0 and 1",
        )]);
        assert_eq!(format!("{err:?}"), err.to_string());
        let boxed: Box<dyn std::error::Error> = Box::new(crate::InitError::Config(err.clone()));
        assert_eq!(
            format!("{boxed:?}"),
            r#"OTEL_TRACES_SAMPLER_ARG="1.5": expected a ratio between 0 and 1"#
        );
        assert!(format!("{err:#?}").starts_with("ConfigError {"));
    }
}
