//! `service_info!()`'s compile-time half: the application's
//! `[package.metadata.observe]` table, read from its `Cargo.toml` when the macro
//! expands and emitted as string literals, so that no manifest text and no TOML
//! parser end up in the application's binary.

use proc_macro2::TokenStream;
use quote::quote;

/// The string keys of `[package.metadata.observe]`.
const KEYS: [&str; 4] = ["team", "owner", "runbook", "repository"];
/// The SLO declarations: a string in `OBSERVE_SLOS`' syntax, or an array of such
/// entries (joined with `;`), parsed by observe-core at start-up.
const SLOS: &str = "slos";
const WHERE: &str = "[package.metadata.observe]";
/// What observe-core's `METADATA_KEYS` says, for the same problem.
const METADATA_KEYS: &str =
    "one of the keys team, owner, runbook, repository (strings) and slos (SLO entries)";
/// What a `slos` value may be.
const SLOS_EXPECTED: &str = "SLO entries as OBSERVE_SLOS takes them: a string such as \
     \"latency|GET /orders/{id}|99%|300ms\", or an array of such strings";

/// What the table says: the string values by key, and the problems found (where,
/// the value as given, what is accepted), reported by the builder at start-up.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Metadata {
    pub(crate) fields: Vec<(String, String)>,
    pub(crate) problems: Vec<(String, String, String)>,
}

/// Reads `[package.metadata.observe]` from a manifest's text.
pub(crate) fn read(manifest: &str) -> Metadata {
    let mut out = Metadata::default();
    let table = match manifest.parse::<toml::Table>() {
        Ok(table) => table,
        Err(err) => {
            let first_line = err.to_string().lines().next().unwrap_or("").to_owned();
            out.problems.push((
                "Cargo.toml".to_owned(),
                first_line,
                "a manifest that parses as TOML".to_owned(),
            ));
            return out;
        }
    };
    let Some(observe) = table
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("observe"))
    else {
        return out;
    };
    let Some(observe) = observe.as_table() else {
        out.problems.push((
            WHERE.to_owned(),
            show(observe),
            "a table with the keys team, owner, runbook, repository, slos".to_owned(),
        ));
        return out;
    };
    for (key, value) in observe {
        if key == SLOS {
            match slos(value) {
                Some(entries) if !entries.is_empty() => out.fields.push((key.clone(), entries)),
                Some(_) => {}
                None => out.problems.push((
                    format!("{WHERE} {key}"),
                    show(value),
                    SLOS_EXPECTED.to_owned(),
                )),
            }
            continue;
        }
        if !KEYS.contains(&key.as_str()) {
            out.problems.push((
                format!("{WHERE} {key}"),
                show(value),
                METADATA_KEYS.to_owned(),
            ));
            continue;
        }
        match value.as_str() {
            Some(s) if !s.trim().is_empty() => {
                out.fields.push((key.clone(), s.trim().to_owned()));
            }
            Some(_) => {}
            None => {
                out.problems
                    .push((format!("{WHERE} {key}"), show(value), "a string".to_owned()))
            }
        }
    }
    out
}

/// The `slos` value as one `OBSERVE_SLOS` text (entries joined with `; `), or
/// `None` when it is neither a string nor an array of strings.
fn slos(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.trim().to_owned()),
        toml::Value::Array(items) => {
            let entries = items
                .iter()
                .map(|v| v.as_str().map(str::trim))
                .collect::<Option<Vec<_>>>()?;
            Some(
                entries
                    .into_iter()
                    .filter(|e| !e.is_empty())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        }
        _ => None,
    }
}

/// A short rendering of a TOML value for an error message.
fn show(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(_) => "[...]".to_owned(),
        toml::Value::Table(_) => "{...}".to_owned(),
    }
}

/// The expansion: `root` is the path of observe-core (`$crate` of its
/// `service_info!`).
pub(crate) fn expand(root: TokenStream) -> TokenStream {
    let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") else {
        return quote! {
            ::core::compile_error!("service_info!() must be built by Cargo (CARGO_MANIFEST_DIR is not set)")
        };
    };
    let path = std::path::Path::new(&dir).join("Cargo.toml");
    let metadata = match std::fs::read_to_string(&path) {
        Ok(text) => read(&text),
        Err(e) => {
            let message = format!("service_info!() could not read {}: {e}", path.display());
            return quote!(::core::compile_error!(#message));
        }
    };
    let path = path.to_string_lossy().into_owned();
    let keys = metadata.fields.iter().map(|(k, _)| k);
    let values = metadata.fields.iter().map(|(_, v)| v);
    let p_where = metadata.problems.iter().map(|p| &p.0);
    let p_value = metadata.problems.iter().map(|p| &p.1);
    let p_expected = metadata.problems.iter().map(|p| &p.2);
    quote! {
        {
            // Only so that the compiler tracks the manifest: editing it rebuilds the
            // crate. An unused constant, so its bytes are not in the binary.
            const _: &[u8] = ::core::include_bytes!(#path);
            #root::config::ServiceInfo::__from_manifest(
                ::core::env!("CARGO_PKG_NAME"),
                ::core::env!("CARGO_PKG_VERSION"),
                ::core::env!("CARGO_PKG_REPOSITORY"),
                &[#((#keys, #values)),*],
                &[#((#p_where, #p_value, #p_expected)),*],
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_keys_are_read_and_trimmed() {
        let m = read(
            "[package]\nname = \"a\"\n[package.metadata.observe]\nteam = \" payments \"\nrunbook = \"https://wiki/r\"\nowner = \"\"\n",
        );
        assert_eq!(
            m.fields,
            [
                ("runbook".to_owned(), "https://wiki/r".to_owned()),
                ("team".to_owned(), "payments".to_owned())
            ]
        );
        assert!(m.problems.is_empty());
    }

    #[test]
    fn unknown_keys_and_non_strings_are_problems() {
        let m = read("[package.metadata.observe]\nteam = 1\ncolour = \"red\"\n");
        assert_eq!(
            m.problems,
            [
                (
                    "[package.metadata.observe] colour".to_owned(),
                    "red".to_owned(),
                    METADATA_KEYS.to_owned()
                ),
                (
                    "[package.metadata.observe] team".to_owned(),
                    "1".to_owned(),
                    "a string".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn slos_are_a_string_or_an_array_of_entries() {
        let m = read(
            "[package.metadata.observe]\nslos = [\"latency|GET /x|99%|300ms\", \" availability|GET /x|99.9% \"]\n",
        );
        assert_eq!(
            m.fields,
            [(
                "slos".to_owned(),
                "latency|GET /x|99%|300ms; availability|GET /x|99.9%".to_owned()
            )]
        );
        assert!(m.problems.is_empty());
        let m = read("[package.metadata.observe]\nslos = \"availability|GET /x|99%\"\n");
        assert_eq!(m.fields[0].1, "availability|GET /x|99%");
        for bad in ["slos = 3", "slos = [1]", "slos = { a = 1 }"] {
            let m = read(&format!("[package.metadata.observe]\n{bad}\n"));
            assert!(m.fields.is_empty(), "{bad}");
            assert_eq!(m.problems[0].2, SLOS_EXPECTED, "{bad}");
        }
    }

    #[test]
    fn no_table_is_nothing_and_a_broken_manifest_a_problem() {
        assert_eq!(read("[package]\nname = \"a\"\n"), Metadata::default());
        assert_eq!(read("[package\n").problems[0].0, "Cargo.toml");
        assert_eq!(
            read("[package.metadata]\nobserve = 3\n").problems[0].0,
            WHERE
        );
    }
}
