//! Run-time controls over HTTP against a worker that ran `init()`: sampling and
//! the log filter change what is sampled and logged from the next span or event,
//! each change is audited, mutations are POST only, and both reset.

use serde_json::json;

use crate::worker::{Worker, listening};
use crate::{client, json};

async fn post(url: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let response = client()
        .post(url)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, json(response).await)
}

async fn get(url: &str) -> serde_json::Value {
    let response = client().get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    json(response).await
}

fn audit_lines(worker: &Worker) -> Vec<serde_json::Value> {
    worker
        .logs()
        .into_iter()
        .filter(|l| l["target"] == "observe::audit")
        .collect()
}

#[tokio::test]
async fn sampling_changes_what_is_sampled_is_audited_and_resets() {
    let mut worker = Worker::start("serve", &[("OBSERVE_ADMIN_ADDR", "127.0.0.1:0")]);
    let url = format!("http://{}/observe/api/v1/sampling", listening(&worker));
    let state = get(&url).await;
    assert_eq!(state["ratio"], 1.0);
    assert_eq!(state["overrides"], json!({}));
    assert_eq!(worker.command("span GET /x"), ["sampled=true"]);

    let (status, answer) = post(&url, json!({ "ratio": 0.0 })).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["old"], 1.0);
    assert_eq!(answer["new"], 0.0);
    assert_eq!(worker.command("span GET /x"), ["sampled=false"]);

    let (status, answer) = post(&url, json!({ "key": "GET /x", "ratio": 1.0 })).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["old"], serde_json::Value::Null);
    assert_eq!(get(&url).await["overrides"], json!({ "GET /x": 1.0 }));
    assert_eq!(worker.command("span GET /x"), ["sampled=true"]);
    assert_eq!(worker.command("span GET /y"), ["sampled=false"]);

    let (status, _) = post(&url, json!({ "key": "GET /x", "clear": true })).await;
    assert_eq!(status, 200);
    assert_eq!(worker.command("span GET /x"), ["sampled=false"]);

    let (status, answer) = post(&url, json!({ "reset": true })).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["new"]["ratio"], 1.0);
    assert_eq!(worker.command("span GET /x"), ["sampled=true"]);

    for bad in [
        json!({ "ratio": 1.5 }),
        json!({ "ratio": 0.5, "reset": true }),
        json!({ "ratoi": 0.5 }),
        json!({ "key": "", "ratio": 0.5 }),
    ] {
        let (status, answer) = post(&url, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {answer}");
        assert!(answer["error"].is_string());
    }
    let wrong_method = client().put(&url).body("{}").send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
    assert_eq!(wrong_method.headers()["allow"], "GET, POST, HEAD");

    worker.command("flush");
    let audit = audit_lines(&worker);
    assert_eq!(audit.len(), 4, "{audit:#?}");
    let first = &audit[0];
    assert_eq!(first["level"], "INFO");
    assert_eq!(first["fields"]["control"], "sampling.ratio");
    assert_eq!(first["fields"]["old"], "1.0");
    assert_eq!(first["fields"]["new"], "0.0");
    assert!(
        first["fields"]["peer"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{first}"
    );
    assert_eq!(audit[3]["fields"]["control"], "sampling");
    worker.stop();
}

#[tokio::test]
async fn the_log_filter_changes_what_is_logged_is_audited_and_resets() {
    let mut worker = Worker::start(
        "serve",
        &[("OBSERVE_ADMIN_ADDR", "127.0.0.1:0"), ("RUST_LOG", "info")],
    );
    let url = format!("http://{}/observe/api/v1/log-level", listening(&worker));
    assert_eq!(
        get(&url).await,
        json!({ "filter": "info", "default": "info" })
    );
    let count =
        |w: &Worker, message: &str| w.logs().iter().filter(|l| l["message"] == message).count();
    worker.command("log");
    assert_eq!(count(&worker, "a debug line"), 0);
    assert_eq!(count(&worker, "an info line"), 1);
    let debug_span = |w: &mut Worker| w.command("traced");
    assert_eq!(debug_span(&mut worker), ["debug span recorded=false"]);

    let (status, answer) = post(&url, json!({ "filter": "warn,worker=debug" })).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["old"], "info");
    assert_eq!(answer["new"], "warn,worker=debug");
    worker.command("log");
    assert_eq!(count(&worker, "a debug line"), 1);
    assert_eq!(count(&worker, "an info line"), 2);
    // `#[traced]` spans follow the new filter's most verbose level.
    assert_eq!(debug_span(&mut worker), ["debug span recorded=true"]);

    let (status, answer) = post(&url, json!({ "filter": "error" })).await;
    assert_eq!(status, 200, "{answer}");
    worker.command("log");
    assert_eq!(count(&worker, "an info line"), 2, "filtered out now");

    let (status, answer) = post(&url, json!({ "filter": "info,[{" })).await;
    assert_eq!(status, 400);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("invalid log filter"),
        "{answer}"
    );
    // Refused as `RUST_LOG=warning` is at start: `tracing` would read it as a
    // target name and switch the service's own lines off.
    let (status, answer) = post(&url, json!({ "filter": "warning" })).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("would be read as a target name"),
        "{answer}"
    );

    let (status, answer) = post(&url, json!({ "reset": true })).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["new"], "info");
    worker.command("log");
    assert_eq!(count(&worker, "an info line"), 3);
    assert_eq!(count(&worker, "a debug line"), 1);
    assert_eq!(debug_span(&mut worker), ["debug span recorded=false"]);

    // Audit lines pass whatever the filter (even at `error`).
    let audit = audit_lines(&worker);
    assert_eq!(audit.len(), 3, "{audit:#?}");
    assert_eq!(audit[1]["fields"]["control"], "log_filter");
    assert_eq!(audit[1]["fields"]["new"], "\"error\"");
    worker.stop();
}

/// A page on another site can make the user's browser send a "simple" POST (a
/// form, or `fetch` in `no-cors` mode with a `text/plain` body): the browser says
/// where it comes from, and the change is refused.
#[tokio::test]
async fn a_change_sent_by_another_sites_page_is_refused() {
    let worker = Worker::start("serve", &[("OBSERVE_ADMIN_ADDR", "127.0.0.1:0")]);
    let addr = listening(&worker);
    let url = format!("http://{addr}/observe/api/v1/log-level");
    let from_a_page = |headers: &[(&str, &str)]| {
        let mut request = client()
            .post(&url)
            .header("content-type", "text/plain;charset=UTF-8")
            .body(r#"{"filter":"off"}"#);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        request.send()
    };
    for headers in [
        &[
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ][..],
        &[("origin", "https://evil.example")],
        &[
            ("origin", "http://127.0.0.1:3000"),
            ("sec-fetch-site", "same-site"),
        ],
    ] {
        let response = from_a_page(headers).await.unwrap();
        assert_eq!(response.status(), 403, "{headers:?}");
        let answer = json(response).await;
        assert!(
            answer["error"].as_str().unwrap().contains("cross-origin"),
            "{answer}"
        );
    }
    assert_eq!(get(&url).await["filter"], "info", "nothing changed");
    assert!(audit_lines(&worker).is_empty());
    // The page itself (same origin) and `curl` (no browser headers) may.
    let own = format!("http://{addr}");
    let response = from_a_page(&[("origin", &own), ("sec-fetch-site", "same-origin")])
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, _) = post(&url, json!({ "reset": true })).await;
    assert_eq!(status, 200);
    worker.stop();
}

/// Beside the application's own subscriber, observe does not own the log filter:
/// the control says so (409), and the service summary shows no filter of its own.
#[tokio::test]
async fn the_log_filter_control_says_who_owns_the_filter_beside_an_application_subscriber() {
    let worker = Worker::start("beside", &[("OBSERVE_ADMIN_ADDR", "127.0.0.1:0")]);
    let addr = listening(&worker);
    let url = format!("http://{addr}/observe/api/v1/log-level");
    for (status, answer) in [
        post(&url, json!({ "filter": "debug" })).await,
        post(&url, json!({ "reset": true })).await,
    ] {
        assert_eq!(status, 409, "{answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(
            error.contains("application's tracing subscriber"),
            "{error}"
        );
    }
    let response = client().get(&url).send().await.unwrap();
    assert_eq!(response.status(), 409);
    let service = get(&format!("http://{addr}/observe/api/v1/service")).await;
    assert_eq!(service["log_filter"], serde_json::Value::Null, "{service}");
    worker.stop();
}
