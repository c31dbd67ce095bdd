//! `docs/configuration.md` is complete and true: every variable is documented, every
//! documented default and example is what the code does, and the error messages shown
//! are the real ones.

use observe_core::config::{Config, VARIABLES};

use crate::support::env;

const DOC: &str = include_str!("../../../docs/configuration.md");

/// The reference's variable tables: `(variables of the row, default cell, example cell)`.
fn table_rows() -> Vec<(Vec<&'static str>, &'static str, &'static str)> {
    DOC.lines()
        .filter(|line| line.starts_with("| `"))
        .filter_map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
            let variables: Vec<&str> = cells[0]
                .split('`')
                .skip(1)
                .step_by(2)
                .filter(|name| VARIABLES.contains(name))
                .collect();
            (!variables.is_empty() && cells.len() == 4).then(|| (variables, cells[2], cells[3]))
        })
        .collect()
}

/// A cell that is exactly one code literal, such as `` `5m` ``.
fn literal(cell: &str) -> Option<&str> {
    let inner = cell.strip_prefix('`')?.strip_suffix('`')?;
    (!inner.contains('`')).then_some(inner)
}

/// Variables a value needs beside it to be valid on its own.
fn context(variable: &str) -> &'static [(&'static str, &'static str)] {
    match variable {
        "OTEL_TRACES_SAMPLER_ARG" => &[("OTEL_TRACES_SAMPLER", "traceidratio")],
        "OBSERVE_TRACER_BULLET_POLICY" => &[(
            "OBSERVE_TRACER_BULLET_KEY",
            "hex:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        )],
        _ => &[],
    }
}

#[test]
fn every_variable_has_a_row_in_a_table() {
    let documented: Vec<&str> = table_rows()
        .into_iter()
        .flat_map(|(vars, ..)| vars)
        .collect();
    for variable in VARIABLES {
        assert!(
            documented.contains(variable),
            "{variable} has no row in docs/configuration.md"
        );
    }
}

#[test]
fn documented_defaults_are_the_defaults() {
    let mut checked = 0;
    for (variables, default, _) in table_rows() {
        let Some(value) = literal(default) else {
            continue;
        };
        for variable in &variables {
            let mut vars = context(variable).to_vec();
            vars.push((variable, value));
            let expected = env(context(variable)).build_config().unwrap();
            let got = env(&vars)
                .build_config()
                .unwrap_or_else(|e| panic!("{variable}={value} (documented default): {e}"));
            assert_eq!(
                got, expected,
                "{variable}={value} is documented as the default"
            );
            checked += 1;
        }
    }
    assert!(checked >= 35, "only {checked} defaults were checked");
    assert_eq!(env(&[]).build_config().unwrap(), Config::default());
}

#[test]
fn documented_examples_are_accepted() {
    let mut checked = 0;
    for (variables, _, example) in table_rows() {
        let Some(value) = literal(example) else {
            continue;
        };
        for variable in &variables {
            let mut vars = context(variable).to_vec();
            vars.push((variable, value));
            if let Err(e) = env(&vars).build_config() {
                panic!("{variable}={value} (documented example) is rejected: {e}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 50, "only {checked} examples were checked");
}

/// Parses `NAME=value NAME='value with spaces'`.
fn parse_assignments(line: &str) -> Vec<(String, String)> {
    let mut vars = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=').expect("NAME=value");
        let (value, after) = match after.strip_prefix('\'') {
            Some(quoted) => quoted.split_once('\'').expect("closing quote"),
            None => after.split_once(' ').unwrap_or((after, "")),
        };
        vars.push((name.to_owned(), value.to_owned()));
        rest = after.trim_start();
    }
    vars
}

#[test]
fn documented_error_messages_are_the_real_ones() {
    let block = DOC
        .split("<!-- error-examples -->\n```text\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("the error-examples block");

    let mut documented = String::new();
    let mut actual = String::new();
    let mut entries = 0;
    for chunk in block.split("$ ").filter(|c| !c.trim().is_empty()) {
        let (input, output) = chunk.split_once('\n').unwrap_or((chunk, ""));
        let vars = parse_assignments(input);
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let message = match env(&pairs).build_config() {
            Ok(_) => "(no error)".to_owned(),
            Err(e) => e.to_string(),
        };
        documented.push_str(&format!("$ {input}\n{output}"));
        if !output.is_empty() && !output.ends_with('\n') {
            documented.push('\n');
        }
        actual.push_str(&format!("$ {input}\n{message}\n"));
        entries += 1;
    }
    assert!(entries >= 30, "only {entries} examples");
    assert!(
        documented == actual,
        "docs/configuration.md's error examples are out of date; the real ones are:\n{actual}"
    );
}
