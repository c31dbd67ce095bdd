//! Helpers: a builder over a fixed set of variables, and problem extraction.

use std::collections::HashMap;

use observe_core::Builder;
use observe_core::config::{Config, ConfigError};

/// A builder that reads only `vars`.
pub(crate) fn env(vars: &[(&str, &str)]) -> Builder {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Builder::new().env_lookup(move |name| map.get(name).cloned())
}

/// The configuration resolved from `vars`; panics with the error's text otherwise.
pub(crate) fn config(vars: &[(&str, &str)]) -> Config {
    resolve(env(vars))
}

/// Resolves a builder; panics with the error's text on failure.
pub(crate) fn resolve(builder: Builder) -> Config {
    builder
        .build_config()
        .unwrap_or_else(|err| panic!("unexpected configuration error:\n{err}"))
}

/// The error from `vars`; panics if they resolve.
pub(crate) fn error(vars: &[(&str, &str)]) -> ConfigError {
    match env(vars).build_config() {
        Ok(config) => panic!("expected an error for {vars:?}, got {config:#?}"),
        Err(err) => err,
    }
}

/// The single problem of `vars`, as `(variable, value, expected)`.
pub(crate) fn problem(vars: &[(&str, &str)]) -> (String, String, String) {
    let err = error(vars);
    assert_eq!(err.problems().len(), 1, "expected one problem: {err}");
    let p = &err.problems()[0];
    (
        p.variable().to_owned(),
        p.value().to_owned(),
        p.expected().to_owned(),
    )
}

/// Asserts that setting `var` to each of `values` is an error naming `var` and the
/// value, with an "expected" phrase containing `expected`.
pub(crate) fn rejects(var: &str, values: &[&str], expected: &str) {
    for value in values {
        let (variable, shown, what) = problem(&[(var, value)]);
        assert_eq!(variable, var, "{var}={value:?}");
        assert_eq!(shown, value.trim(), "{var}={value:?}");
        assert!(
            what.contains(expected),
            "{var}={value:?}: {what:?} does not contain {expected:?}"
        );
    }
}
