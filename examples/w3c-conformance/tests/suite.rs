//! Drives the conformance service the way the W3C Trace Context suite does (the
//! suite itself cannot be fetched here): a harness server receives the service's
//! outgoing calls and the checks are the suite's rules, case by case.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::post;

struct Service {
    child: Child,
    base: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_service() -> Service {
    let mut child = Command::new(env!("CARGO_BIN_EXE_w3c-conformance"))
        .args(["--addr", "127.0.0.1:0"])
        .env("OBSERVE_ADMIN_ADDR", "off")
        .env("OBSERVE_LOG_FORMAT", "json")
        .env("OBSERVE_LOG_OUTPUT", "stdout")
        .env("RUST_LOG", "info")
        .env_remove("OTEL_SDK_DISABLED")
        .env_remove("OBSERVE_INTERNAL_HOSTS")
        .env_remove("OBSERVE_INBOUND_CONTEXT")
        .env_remove("OTEL_TRACES_SAMPLER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let marker = r#""message":"listening on "#;
    for _ in 0..50 {
        line.clear();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(at) = line.find(marker) {
            let rest = &line[at + marker.len()..];
            let base = rest[..rest.find('"').unwrap()].to_owned();
            // Keep draining its output so it never blocks on a full pipe.
            #[allow(clippy::disallowed_methods)] // test plumbing, no request context
            std::thread::spawn(move || for _ in stdout.lines() {});
            return Service { child, base };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the service did not say where it listens");
}

type Seen = Arc<Mutex<Vec<(http::HeaderMap, serde_json::Value)>>>;

/// The harness: records the headers and body of every call it receives.
async fn harness() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = Router::new().route(
        "/callback",
        post(move |headers: http::HeaderMap, body: String| {
            let record = record.clone();
            async move {
                let body = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
                record.lock().unwrap().push((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    #[allow(clippy::disallowed_methods)] // the server itself: no request context to carry
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/callback"), seen)
}

/// Sends one `/test` request with `headers` and returns what the harness received.
async fn run(
    service: &Service,
    callback: &str,
    seen: &Seen,
    headers: &[(&str, &str)],
) -> (http::HeaderMap, serde_json::Value) {
    seen.lock().unwrap().clear();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut request = client
        .post(format!("{}/test", service.base))
        .json(&serde_json::json!([{ "url": callback, "arguments": [{"url": callback, "arguments": []}] }]));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(
        response.status(),
        200,
        "{headers:?}: {}",
        response.text().await.unwrap()
    );
    let mut got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "one call per entry");
    got.remove(0)
}

const TRACE: &str = "12345678901234567890123456789012";
const PARENT: &str = "1234567890123456";

fn traceparent(headers: &http::HeaderMap) -> (String, String, String, String) {
    let values: Vec<_> = headers.get_all("traceparent").iter().collect();
    assert_eq!(values.len(), 1, "exactly one traceparent is sent");
    let v = values[0].to_str().unwrap();
    let parts: Vec<&str> = v.split('-').collect();
    assert_eq!(parts.len(), 4, "{v}");
    assert_eq!(parts[0], "00", "the version we send is 00: {v}");
    assert_eq!(parts[1].len(), 32);
    assert_eq!(parts[2].len(), 16);
    assert!(
        v.bytes()
            .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "lowercase hex: {v}"
    );
    assert_ne!(parts[1], "0".repeat(32));
    assert_ne!(parts[2], "0".repeat(16));
    (
        parts[0].into(),
        parts[1].into(),
        parts[2].into(),
        parts[3].into(),
    )
}

fn tracestate(headers: &http::HeaderMap) -> Option<String> {
    let values: Vec<String> = headers
        .get_all("tracestate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_follows_the_trace_context_rules() {
    let service = start_service();
    let (callback, seen) = harness().await;
    let valid = format!("00-{TRACE}-{PARENT}-01");

    // Both headers missing: a new trace, no tracestate.
    let (headers, body) = run(&service, &callback, &seen, &[]).await;
    let (_, trace, _, _) = traceparent(&headers);
    assert_ne!(trace, TRACE);
    assert_eq!(tracestate(&headers), None);
    assert_eq!(
        body,
        serde_json::json!([{"url": callback, "arguments": []}]),
        "arguments forwarded as JSON"
    );

    // A valid traceparent: same trace, a new parent id, the sampled flag kept.
    let (headers, _) = run(
        &service,
        &callback,
        &seen,
        &[("traceparent", &valid), ("tracestate", "foo=1")],
    )
    .await;
    let (_, trace, parent, flags) = traceparent(&headers);
    assert_eq!(trace, TRACE);
    assert_ne!(
        parent, PARENT,
        "the service is a participant: its own span id"
    );
    assert_eq!(flags, "01");
    assert_eq!(tracestate(&headers).as_deref(), Some("foo=1"));

    // Not sampled by the caller: the flag stays off (parent-based sampling).
    let unsampled = format!("00-{TRACE}-{PARENT}-00");
    let (headers, _) = run(&service, &callback, &seen, &[("traceparent", &unsampled)]).await;
    let (_, trace, _, flags) = traceparent(&headers);
    assert_eq!((trace.as_str(), flags.as_str()), (TRACE, "00"));

    // Invalid traceparents restart the trace and drop the tracestate.
    let invalid = [
        format!("ff-{TRACE}-{PARENT}-01"),                  // version ff
        format!("00-{}AB-{PARENT}-01", "ABCDEF".repeat(5)), // upper-case hex
        format!("00-{}-{PARENT}-01", "0".repeat(32)),       // zero trace id
        format!("00-{TRACE}-{}-01", "0".repeat(16)),        // zero parent id
        format!("00-{TRACE}-{PARENT}-01-"),                 // version 00 with extra data
        format!("00-{TRACE}-{PARENT}-0"),                   // short flags
        format!("00-{TRACE}-{PARENT}-.1"),                  // illegal flag characters
        format!("0-{TRACE}-{PARENT}-01"),                   // short version
        format!("00-{}-{PARENT}-01", &TRACE[..31]),         // short trace id
        "".to_owned(),                                      // empty
    ];
    for tp in &invalid {
        let (headers, _) = run(
            &service,
            &callback,
            &seen,
            &[("traceparent", tp), ("tracestate", "foo=1")],
        )
        .await;
        let (_, trace, _, _) = traceparent(&headers);
        assert_ne!(trace, TRACE, "{tp:?} restarts the trace");
        assert_eq!(
            tracestate(&headers),
            None,
            "{tp:?}: tracestate without a valid parent is dropped"
        );
    }

    // A future version: parse the known fields, ignore the rest, send version 00.
    let future = format!("cc-{TRACE}-{PARENT}-01-what-the-future-holds");
    let (headers, _) = run(&service, &callback, &seen, &[("traceparent", &future)]).await;
    assert_eq!(traceparent(&headers).1, TRACE);

    // Duplicated traceparent headers with different values: invalid, restart.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    seen.lock().unwrap().clear();
    let other = format!("00-{}-{PARENT}-01", "a".repeat(32));
    let mut request = client
        .post(format!("{}/test", service.base))
        .json(&serde_json::json!([{ "url": callback, "arguments": [] }]))
        .build()
        .unwrap();
    request
        .headers_mut()
        .append("traceparent", valid.parse().unwrap());
    request
        .headers_mut()
        .append("traceparent", other.parse().unwrap());
    assert_eq!(client.execute(request).await.unwrap().status(), 200);
    let headers = seen.lock().unwrap()[0].0.clone();
    let (_, trace, _, _) = traceparent(&headers);
    assert!(
        trace != TRACE && trace != "a".repeat(32),
        "conflicting traceparents restart"
    );

    // Several tracestate headers are one list, in order.
    seen.lock().unwrap().clear();
    let mut request = client
        .post(format!("{}/test", service.base))
        .json(&serde_json::json!([{ "url": callback, "arguments": [] }]))
        .build()
        .unwrap();
    request
        .headers_mut()
        .append("traceparent", valid.parse().unwrap());
    request
        .headers_mut()
        .append("tracestate", "foo=1".parse().unwrap());
    request
        .headers_mut()
        .append("tracestate", "bar=2".parse().unwrap());
    assert_eq!(client.execute(request).await.unwrap().status(), 200);
    let headers = seen.lock().unwrap()[0].0.clone();
    assert_eq!(tracestate(&headers).as_deref(), Some("foo=1,bar=2"));

    // Illegal members are dropped, the rest kept; 32 members are kept whole.
    let (headers, _) = run(
        &service,
        &callback,
        &seen,
        &[("traceparent", &valid), ("tracestate", "foo=1,BAR=2,baz=3")],
    )
    .await;
    let state = tracestate(&headers).unwrap_or_default();
    assert!(
        state.contains("foo=1") && state.contains("baz=3") && !state.contains("BAR"),
        "{state}"
    );
    let members: Vec<String> = (0..32).map(|i| format!("k{i}=v{i}")).collect();
    let (headers, _) = run(
        &service,
        &callback,
        &seen,
        &[("traceparent", &valid), ("tracestate", &members.join(","))],
    )
    .await;
    assert_eq!(
        tracestate(&headers).as_deref(),
        Some(members.join(",").as_str())
    );
    // Over 32 members: never more than 32 are sent.
    let members: Vec<String> = (0..40).map(|i| format!("k{i}=v{i}")).collect();
    let (headers, _) = run(
        &service,
        &callback,
        &seen,
        &[("traceparent", &valid), ("tracestate", &members.join(","))],
    )
    .await;
    let sent = tracestate(&headers).map_or(0, |s| s.split(',').count());
    assert!(sent <= 32, "{sent} members sent");
    assert_eq!(traceparent(&headers).1, TRACE);
}
