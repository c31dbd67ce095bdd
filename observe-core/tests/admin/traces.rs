//! The flight recorder over HTTP, against a worker that ran `init()`: lists,
//! search, one trace with its log lines, the download, the dump to the dump
//! directory (rate-limited, 0600) and SIGUSR2.

use std::path::PathBuf;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use crate::worker::{Worker, listening};
use crate::{client, json};

fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("observe-admin-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

async fn get(url: String) -> serde_json::Value {
    let response = client().get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    json(response).await
}

/// Spans and log records in a dump, decoded with the OTLP proto types.
fn decode(text: &str) -> (usize, usize, Vec<String>) {
    let (mut spans, mut logs, mut names) = (0, 0, Vec::new());
    for line in text.lines() {
        if line.contains("\"resourceSpans\"") {
            let req: ExportTraceServiceRequest = serde_json::from_str(line).expect("OTLP JSON");
            for rs in req.resource_spans {
                for ss in rs.scope_spans {
                    spans += ss.spans.len();
                    names.extend(ss.spans.into_iter().map(|s| s.name));
                }
            }
        } else {
            let req: ExportLogsServiceRequest = serde_json::from_str(line).expect("OTLP JSON");
            logs += req
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .map(|s| s.log_records.len())
                .sum::<usize>();
        }
    }
    (spans, logs, names)
}

#[tokio::test]
async fn lists_search_and_one_trace_with_its_log_lines() {
    let worker = Worker::start("traces", &[("OBSERVE_ADMIN_ADDR", "127.0.0.1:0")]);
    let base = format!("http://{}/observe/api/v1", listening(&worker));
    let ok = worker.said("TRACE ok").to_owned();
    let failed = worker.said("TRACE failed").to_owned();

    let recent = get(format!("{base}/traces?list=recent")).await;
    let ids: Vec<&str> = recent["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&ok.as_str()) && ids.contains(&failed.as_str()),
        "{recent}"
    );
    let line = recent["traces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["trace_id"] == ok.as_str())
        .unwrap();
    assert_eq!(line["name"], "GET /orders/{id}");
    assert_eq!(line["status"], "unset");
    assert_eq!(line["span_count"], 1);
    assert_eq!(line["tracer_bullet"], false);
    assert!(line["start_unix_nano"].is_string(), "{line}");
    assert!(line["duration_s"].is_f64(), "{line}");

    let failures = get(format!("{base}/traces?list=failed&limit=5")).await;
    assert_eq!(
        failures["traces"].as_array().unwrap().len(),
        1,
        "{failures}"
    );
    assert_eq!(failures["traces"][0]["trace_id"], failed.as_str());
    assert_eq!(failures["traces"][0]["error_count"], 2);

    let limited = get(format!("{base}/traces?list=recent&limit=1")).await;
    assert_eq!(limited["traces"].as_array().unwrap().len(), 1);

    let found = get(format!("{base}/traces?name=charge%20card&status=error")).await;
    assert_eq!(found["traces"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["traces"][0]["trace_id"], failed.as_str());
    assert_eq!(
        found["traces"][0]["matched_span_ids"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let by_attr = get(format!("{base}/traces?attr=http.request.method=GET")).await;
    assert_eq!(by_attr["traces"][0]["trace_id"], ok.as_str(), "{by_attr}");
    let none = get(format!("{base}/traces?name=nope")).await;
    assert_eq!(none["traces"].as_array().unwrap().len(), 0);

    let trace = get(format!("{base}/traces/{ok}")).await;
    assert_eq!(trace["trace_id"], ok.as_str());
    assert_eq!(trace["spans"].as_array().unwrap().len(), 1);
    let span = &trace["spans"][0];
    assert_eq!(span["name"], "GET /orders/{id}");
    assert_eq!(span["parent_span_id"], serde_json::Value::Null);
    assert_eq!(span["attributes"]["http.request.method"], "GET");
    assert_eq!(span["status"]["code"], "unset");
    assert_eq!(trace["logs"][0]["message"], "loading the order");
    assert_eq!(trace["logs"][0]["fields"]["order"], 17);
    assert_eq!(trace["logs"][0]["span_id"], span["span_id"]);

    let failed_trace = get(format!("{base}/traces/{failed}")).await;
    let child = failed_trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "charge card")
        .unwrap();
    assert_eq!(child["status"]["code"], "error");
    assert_eq!(child["status"]["message"], "card declined");
    assert!(child["parent_span_id"].is_string());

    // Errors a person can act on.
    let unknown = client()
        .get(format!("{base}/traces/{}", "1".repeat(32)))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(
        json(unknown).await["error"]
            .as_str()
            .unwrap()
            .contains("not in the flight recorder")
    );
    for bad in [
        "traces/xyz",
        "traces?list=oldest",
        "traces?limit=many",
        "traces?min_s=-1",
        "traces?attr=novalue",
    ] {
        let response = client().get(format!("{base}/{bad}")).send().await.unwrap();
        assert_eq!(response.status(), 400, "{bad}");
        assert!(json(response).await["error"].is_string());
    }
    worker.stop();
}

#[tokio::test]
async fn the_dump_downloads_as_otlp_json_and_post_writes_it_rate_limited() {
    let dir = temp_dir("post");
    let worker = Worker::start(
        "traces",
        &[
            ("OBSERVE_ADMIN_ADDR", "127.0.0.1:0"),
            ("OBSERVE_DUMP_DIR", dir.to_str().unwrap()),
        ],
    );
    let base = format!("http://{}/observe/api/v1", listening(&worker));

    let download = client().get(format!("{base}/dump")).send().await.unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "application/x-ndjson");
    assert!(
        download.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"observe-"),
    );
    let (spans, logs, names) = decode(&download.text().await.unwrap());
    assert_eq!(spans, 3, "{names:?}");
    assert!(logs >= 2, "{logs}");
    assert!(names.iter().any(|n| n == "charge card"));

    let written = client()
        .post(format!("{base}/dump"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(written.status(), 200);
    let written = json(written).await;
    let path = PathBuf::from(written["path"].as_str().unwrap());
    assert_eq!(path.parent().unwrap(), dir);
    assert!(
        path.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("-admin.jsonl")
    );
    assert_eq!(written["spans"], 3);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(written["bytes"], text.len());
    assert_eq!(decode(&text).0, 3);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(
        written["audit"].as_str().unwrap().contains("dump"),
        "{written}"
    );

    // At most one per 10 s.
    let again = client().post(format!("{base}/dump")).send().await.unwrap();
    assert_eq!(again.status(), 429);
    assert!(again.headers().contains_key("retry-after"));
    assert!(
        json(again).await["error"]
            .as_str()
            .unwrap()
            .contains("try again")
    );
    // A body that is not JSON is refused.
    let refused = client()
        .post(format!("{base}/dump"))
        .body("please")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    worker.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[tokio::test]
async fn sigusr2_writes_the_same_dump() {
    let dir = temp_dir("signal");
    let worker = Worker::start(
        "traces",
        &[
            ("OBSERVE_ADMIN_ADDR", "127.0.0.1:0"),
            ("OBSERVE_DUMP_DIR", dir.to_str().unwrap()),
        ],
    );
    let status = std::process::Command::new("kill")
        .args(["-USR2", &worker.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Wait (by counting, not timing) for the file to be complete.
    let mut found = None;
    for _ in 0..1000 {
        if let Some(entry) = std::fs::read_dir(&dir).ok().and_then(|mut d| {
            d.find_map(|e| {
                e.ok()
                    .filter(|e| e.file_name().to_string_lossy().ends_with("-sigusr2.jsonl"))
            })
        }) {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            if decode_ok(&text) {
                found = Some(text);
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let text = found.expect("a SIGUSR2 dump in OBSERVE_DUMP_DIR");
    assert_eq!(decode(&text).0, 3);
    // The process is still alive and serving.
    let addr = listening(&worker);
    assert_eq!(
        client()
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    worker.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

fn decode_ok(text: &str) -> bool {
    text.ends_with('\n')
        && std::panic::catch_unwind(|| decode(text)).is_ok_and(|(spans, _, _)| spans == 3)
}
