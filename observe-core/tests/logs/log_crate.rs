//! Records of the `log` crate (through `tracing_log::LogTracer`, which `init`
//! installs) keep their own target, file and line on every output, without the
//! `log.*` fields `tracing-log` carries them in, and are filtered by their target.

use std::time::Duration;

use observe_core::config::LogFormat;
use observe_core::testing::{Captured, MemorySink, SharedBuffer};
use tracing_log::log;

/// An instance filtering with `RUST_LOG=directives`, writing `format` lines to the
/// returned buffer and keeping its records in memory; `log` records reach the
/// current dispatcher as they do after `init`.
fn instance(
    directives: &'static str,
    format: LogFormat,
) -> (observe_core::Observe, SharedBuffer, Captured) {
    // What `init` does; it stays installed for the process (another test of this
    // binary may have installed it first).
    let _ = tracing_log::LogTracer::init();
    let (sink, captured) = MemorySink::new();
    let lines = SharedBuffer::default();
    let observe = observe_core::Observe::builder()
        .env_lookup(move |name| (name == "RUST_LOG").then(|| directives.to_owned()))
        .log_format(format)
        .log_writer(lines.clone())
        .sink(sink)
        .build()
        .unwrap()
        .unwrap();
    (observe, lines, captured)
}

#[test]
fn a_log_crate_line_has_its_target_file_and_line() {
    // `custom_target` passes at `info` although the default is `warn`: the filter
    // sees the record's own target, not `log`.
    let (observe, lines, captured) =
        instance("warn,custom_target=info,noisy=error", LogFormat::Json);
    let line = {
        let _default = observe.set_default();
        let line = line!() + 1;
        log::info!(target: "custom_target", "from log {}", 1);
        log::warn!(target: "noisy", "filtered out by its own target");
        log::info!("filtered out by the default");
        log::error!(target: "noisy", "kept");
        assert!(observe.flush(Duration::from_secs(10)));
        line
    };
    assert!(observe.shutdown());

    let lines: Vec<serde_json::Value> = lines
        .contents()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let messages: Vec<_> = lines.iter().map(|l| l["message"].clone()).collect();
    assert_eq!(messages, ["from log 1", "kept"], "{lines:#?}");
    let first = &lines[0];
    assert_eq!(first["target"], "custom_target", "{first}");
    assert_eq!(first["level"], "INFO", "{first}");
    assert_eq!(first["file"], file!(), "{first}");
    assert_eq!(first["line"], line, "{first}");
    // Target, module, file and line are the line's own keys, not fields.
    assert!(first.get("fields").is_none(), "{first}");
    assert_eq!(lines[1]["target"], "noisy");
    assert_eq!(lines[1]["level"], "ERROR");

    // The record itself (what the OTLP logs and the flight recorder are made of).
    let records = captured.logs();
    let record = &records[0];
    assert_eq!(record.target(), "custom_target");
    assert_eq!(record.file(), Some(file!()));
    assert_eq!(record.line(), Some(line));
    assert_eq!(record.module_path(), Some(module_path!()));
    assert!(record.fields().is_empty(), "{:?}", record.fields());
}

#[test]
fn a_log_crate_line_in_the_pretty_format_names_its_target() {
    let (observe, lines, _captured) = instance("info", LogFormat::Pretty);
    {
        let _default = observe.set_default();
        log::info!(target: "pretty_target", "hello");
        assert!(observe.flush(Duration::from_secs(10)));
    }
    assert!(observe.shutdown());
    let text = lines.contents();
    let line = text
        .lines()
        .find(|l| l.contains("hello"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains(" pretty_target: hello"), "{line}");
    assert!(!line.contains("log."), "{line}");
}

/// Whatever a span name or a `log` target holds (made at run time), a pretty line
/// stays one line with no terminal escapes of its own.
#[test]
fn a_pretty_line_stays_one_line_whatever_its_span_name_or_target() {
    let (observe, lines, _captured) = instance("info", LogFormat::Pretty);
    let forged = "a\nFAKE INFO forged\r\n\x1b[2J\x1b]0;title\x07";
    {
        let _default = observe.set_default();
        let span = observe_core::span::Span::new(format!("span {forged}"));
        span.in_scope(|| tracing::info!("inside"));
        span.end();
        log::info!(target: forged, "from log");
        assert!(observe.flush(Duration::from_secs(10)));
    }
    assert!(observe.shutdown());
    let text = lines.contents();
    for wanted in ["inside", "from log"] {
        let count = text.lines().filter(|l| l.contains(wanted)).count();
        assert_eq!(count, 1, "{text}");
    }
    assert!(!text.lines().any(|l| l.starts_with("FAKE")), "{text}");
    assert!(!text.contains('\x1b'), "{text:?}");
}
