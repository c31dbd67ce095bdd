//! An existing axum service with its own `tracing_subscriber::fmt().init()` and
//! `#[instrument]` functions adopting observe: `serve!` starts beside the
//! subscriber instead of failing, the subscriber writes every line once (the
//! startup summary too, and the line logged before `serve!`), with the context of
//! the service's own spans; a bad variable prints the configuration's message.

#[path = "../../adopt-new-axum/tests/support/mod.rs"]
mod support;

const BIN: &str = env!("CARGO_BIN_EXE_adopt-existing-axum");

fn count(lines: &[String], needle: &str) -> usize {
    lines.iter().filter(|l| l.contains(needle)).count()
}

#[test]
fn serve_starts_beside_the_subscriber_and_each_line_is_written_once() {
    let run = support::serve_one_request(support::command(BIN), "/orders/7");
    assert!(run.response.ends_with("order 7\n"), "{}", run.response);
    let out = &run.stdout;
    assert_eq!(count(out, "connecting to the database"), 1, "{out:#?}");
    assert_eq!(
        count(out, "observe started: adopt-existing-axum 0.1.0; traces → "),
        1,
        "{out:#?}"
    );
    assert_eq!(count(out, "a tracing subscriber was already installed"), 1);
    // The service's own span is the line's context, as before observe.
    let loading: Vec<_> = out.iter().filter(|l| l.contains("loading order")).collect();
    assert_eq!(loading.len(), 1, "{out:#?}");
    assert!(loading[0].contains("load_order{id=7}"), "{}", loading[0]);
    // observe wrote nothing itself: every line is the subscriber's text format.
    assert!(out.iter().all(|l| !l.starts_with('{')), "{out:#?}");
    assert!(
        out.iter()
            .all(|l| l.contains(" INFO ") || l.contains(" WARN ")),
        "{out:#?}"
    );
}

#[test]
fn a_bad_variable_prints_the_readable_message() {
    let (ok, stderr) = support::with_a_bad_variable(support::command(BIN));
    assert!(!ok);
    assert_eq!(
        stderr,
        "Error: observe could not start: OTEL_TRACES_SAMPLER_ARG=\"1.5\": \
         expected a ratio between 0 and 1\n"
    );
}
