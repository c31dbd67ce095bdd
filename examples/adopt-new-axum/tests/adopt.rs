//! A new axum service adopting observe, run as an operator would: it says what it
//! did at start (once: `serve!` reuses the instance `init!()` started), keeps the
//! line logged before `serve!`, logs each line once (observe's JSON, since its output is not a
//! terminal) with the request's context, and a bad variable stops it with the
//! configuration's message, not a `Debug` dump.

mod support;

const BIN: &str = env!("CARGO_BIN_EXE_adopt-new-axum");

#[test]
fn it_says_what_it_did_and_logs_each_line_once_with_context() {
    let run = support::serve_one_request(support::command(BIN), "/orders/7");
    assert!(run.response.ends_with("order 7\n"), "{}", run.response);
    let lines = support::json(&run.stdout);

    let summary = &lines[0];
    let message = summary["message"].as_str().unwrap();
    assert!(
        message.starts_with("observe started: adopt-new-axum 0.1.0; traces → "),
        "{message}"
    );
    assert!(message.contains("logs → stdout (json)"), "{message}");
    assert_eq!(summary["service"], "adopt-new-axum");
    // `serve!` reused the instance `init!()` started: one summary.
    let summaries = lines
        .iter()
        .filter(|l| {
            l["message"]
                .as_str()
                .unwrap()
                .starts_with("observe started")
        })
        .count();
    assert_eq!(summaries, 1, "{:#?}", run.stdout);
    // The line logged before `serve!` is observe's, with the service's identity.
    let early: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "loading configuration")
        .collect();
    assert_eq!(early.len(), 1, "{:#?}", run.stdout);
    assert_eq!(early[0]["version"], "0.1.0");

    let requested: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "order requested")
        .collect();
    assert_eq!(requested.len(), 1, "{:#?}", run.stdout);
    let line = requested[0];
    assert_eq!(line["fields"]["order_id"], 7);
    assert_eq!(line["user_id"], "u-ada");
    assert!(
        line["trace_id"].as_str().is_some_and(|t| t.len() == 32),
        "{line}"
    );
    assert!(line["request_id"].is_string(), "{line}");

    // One writer: no line twice.
    let mut sorted = run.stdout.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), run.stdout.len(), "{:#?}", run.stdout);
}

#[test]
fn a_bad_variable_prints_the_readable_message() {
    let (ok, stderr) = support::with_a_bad_variable(support::command(BIN));
    assert!(!ok);
    assert_eq!(
        stderr,
        "Error: OTEL_TRACES_SAMPLER_ARG=\"1.5\": expected a ratio between 0 and 1\n"
    );
}
