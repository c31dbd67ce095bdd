//! Health probes, the index and the service description over HTTP, against a
//! worker that ran `init()`.

use crate::worker::{Worker, listening};
use crate::{client, json};

async fn get(url: &str) -> (u16, serde_json::Value) {
    let response = client().get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (status, json(response).await)
}

fn check<'a>(body: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {body}"))
}

#[tokio::test]
async fn readiness_follows_the_registered_checks_and_liveness_does_not() {
    let flag = std::env::temp_dir().join(format!("observe-health-flag-{}", std::process::id()));
    let _ = std::fs::remove_file(&flag);
    let mut worker = Worker::start(
        "health",
        &[
            ("OBSERVE_ADMIN_ADDR", "127.0.0.1:0"),
            ("HEALTH_FLAG", flag.to_str().unwrap()),
        ],
    );
    let base = format!("http://{}", listening(&worker));

    let (status, live) = get(&format!("{base}/observe/health/live")).await;
    assert_eq!((status, live["status"].as_str()), (200, Some("up")));

    let (status, ready) = get(&format!("{base}/observe/health/ready")).await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["status"], "down");
    assert_eq!(check(&ready, "observe.init")["status"], "up");
    assert_eq!(check(&ready, "async")["status"], "up");
    let flag_check = check(&ready, "flag");
    assert_eq!(flag_check["status"], "down");
    assert!(
        flag_check["detail"]
            .as_str()
            .unwrap()
            .contains("is missing")
    );
    assert!(flag_check["duration_s"].is_f64());

    std::fs::write(&flag, b"").unwrap();
    for path in ["/observe/health/ready", "/observe/api/v1/health"] {
        let (status, ready) = get(&format!("{base}{path}")).await;
        assert_eq!(status, 200, "{path}: {ready}");
        assert_eq!(ready["status"], "up");
    }

    // A check that does not answer in time is down, and a probe never waits for
    // a run still going from an earlier one.
    worker.command("hang");
    let (status, ready) = get(&format!("{base}/observe/health/ready")).await;
    assert_eq!(status, 503);
    assert!(
        check(&ready, "hung")["detail"]
            .as_str()
            .unwrap()
            .contains("no answer within")
    );
    let (status, ready) = get(&format!("{base}/observe/health/ready")).await;
    assert_eq!(status, 503);
    assert!(
        check(&ready, "hung")["detail"]
            .as_str()
            .unwrap()
            .contains("still running")
    );
    let (status, _) = get(&format!("{base}/observe/health/live")).await;
    assert_eq!(status, 200);

    let post = client()
        .post(format!("{base}/observe/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
    worker.stop();
    let _ = std::fs::remove_file(&flag);
}

#[tokio::test]
async fn the_index_lists_the_endpoints_and_service_states_retention_in_time_and_bytes() {
    let worker = Worker::start(
        "traces",
        &[
            ("OBSERVE_ADMIN_ADDR", "127.0.0.1:0"),
            ("OTEL_SERVICE_NAME", "checkout"),
            ("OBSERVE_FLIGHT_RECORDER_BYTES", "1048576"),
        ],
    );
    let base = format!("http://{}/observe/api/v1", listening(&worker));
    let (status, index) = get(&base).await;
    assert_eq!(status, 200);
    assert_eq!(index["version"], 1);
    assert_eq!(index["service"]["name"], "checkout");
    let endpoints: Vec<&str> = index["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    for e in [
        "/observe/api/v1/metrics",
        "/observe/api/v1/traces/{trace_id}",
        "/observe/api/v1/sampling",
        "/observe/health/ready",
    ] {
        assert!(endpoints.contains(&e), "{e} in {endpoints:?}");
    }

    let (status, service) = get(&format!("{base}/service")).await;
    assert_eq!(status, 200, "{service}");
    assert_eq!(service["service"]["name"], "checkout");
    assert!(service["service"]["instance"].is_string());
    assert!(service["started_unix_nano"].is_string());
    assert!(service["uptime_s"].as_f64().unwrap() >= 0.0);
    assert_eq!(service["sampling"]["ratio"], 1.0);
    assert_eq!(service["log_filter"], "info");
    let recorder = &service["recorder"];
    assert_eq!(recorder["budget_bytes"], 1_048_576);
    assert!(recorder["covers_s"].as_f64().unwrap() >= 0.0, "{recorder}");
    assert_eq!(recorder["traces"], 2);
    assert!(service["admin"]["listening"].is_string());
    worker.stop();
}
