//! Runs the worker under `init()` and checks its JSON output: every line of a job
//! carries that job's trace, request id and user, and nothing of another job's,
//! across `.await`, a spawned task, and a span opened by a `tracing`-only library.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

fn run_worker() -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_worker"))
        .env_remove("RUST_LOG")
        .env_remove("OBSERVE_LOG_FORMAT")
        .env_remove("OBSERVE_LOG_OUTPUT")
        .env("OTEL_SERVICE_NAME", "worker-under-test")
        // Its admin listener on a port of its own: tests run side by side.
        .env("OBSERVE_ADMIN_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "debug")
        .output()
        .expect("the worker runs");
    assert!(
        out.status.success(),
        "worker failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

#[test]
fn every_line_of_a_job_carries_its_context_and_no_other() {
    let lines = run_worker();
    let expected_users =
        BTreeMap::from([("job-1", "u-ada"), ("job-2", "u-bob"), ("job-3", "u-cyd")]);

    let mut by_job: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for l in &lines {
        assert_eq!(l["service"], "worker-under-test");
        if let Some(r) = l["request_id"].as_str() {
            by_job.entry(r.to_owned()).or_default().push(l);
        }
    }
    assert_eq!(
        by_job.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        expected_users.keys().copied().collect(),
        "{lines:#?}"
    );

    let mut traces = BTreeSet::new();
    for (job, job_lines) in &by_job {
        let trace_ids: BTreeSet<_> = job_lines
            .iter()
            .map(|l| l["trace_id"].as_str().unwrap())
            .collect();
        assert_eq!(
            trace_ids.len(),
            1,
            "{job}: one trace per job: {job_lines:#?}"
        );
        assert!(
            traces.insert(trace_ids.into_iter().next().unwrap().to_owned()),
            "traces are distinct"
        );
        for l in job_lines {
            assert_eq!(l["user_id"], expected_users[job.as_str()], "{job}: {l}");
            assert_eq!(l["request_type"], "standard");
        }
        let messages: BTreeSet<_> = job_lines
            .iter()
            .map(|l| l["message"].as_str().unwrap())
            .collect();
        assert!(
            messages.contains("price checked in a spawned task"),
            "{job}: the spawned task's line is there"
        );
        assert!(messages.contains("job started"));
        // The library line (tracing only) carries the context too.
        let library: Vec<_> = job_lines
            .iter()
            .filter(|l| l["target"] == "inventory")
            .collect();
        assert!(
            !library.is_empty(),
            "{job}: a line from the inventory library"
        );
        for l in library {
            assert_eq!(l["span"], "inventory.reserve");
            assert!(
                l["parent_id"].is_string(),
                "the library's span is a child: {l}"
            );
        }
    }

    // The failing job says so, in its own context.
    let failed = by_job["job-2"]
        .iter()
        .find(|l| l["level"] == "ERROR")
        .expect("job-2 failed");
    assert_eq!(failed["fields"]["error"], "only 5 of B-7 left");

    // A line outside any job carries no job's context.
    let last = lines
        .iter()
        .find(|l| l["message"] == "batch finished")
        .expect("summary line");
    assert!(last.get("trace_id").is_none() && last.get("user_id").is_none());
    assert_eq!(last["fields"]["failed"], 1);
}
