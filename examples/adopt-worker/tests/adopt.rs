//! A worker adopting observe with observe-core alone: the startup summary first,
//! each line once with its job's context, and a bad variable's readable message.

#[path = "../../adopt-new-axum/tests/support/mod.rs"]
mod support;

const BIN: &str = env!("CARGO_BIN_EXE_adopt-worker");

#[test]
fn it_says_what_it_did_and_logs_each_line_once_with_the_jobs_context() {
    let out = support::command(BIN).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raw: Vec<String> = stdout.lines().map(str::to_owned).collect();
    let lines = support::json(&raw);
    let message = lines[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("observe started: adopt-worker 0.1.0; traces → "),
        "{message}"
    );
    for job in 1..=3 {
        let processing: Vec<_> = lines
            .iter()
            .filter(|l| l["message"] == "processing job" && l["fields"]["job"] == job)
            .collect();
        assert_eq!(processing.len(), 1, "job {job}: {raw:#?}");
        assert_eq!(processing[0]["request_id"], format!("job-{job}"));
        assert!(processing[0]["trace_id"].is_string());
    }
    let failed: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "job failed")
        .collect();
    assert_eq!(failed.len(), 1, "{raw:#?}");
    assert_eq!(failed[0]["level"], "ERROR");
    let mut sorted = raw.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), raw.len(), "{raw:#?}");
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
