//! The router's rules, through real HTTP.

use crate::{Server, client, json};

#[tokio::test]
async fn metrics_as_json_under_v1_and_the_old_unversioned_names() {
    observe_core::metrics::counter("admin_test.requests", &[]).inc();
    let server = Server::start().await;
    for path in [
        "/observe/api/v1/metrics",
        "/observe/api/metrics",
        "/observe/api/v1/histograms",
        "/observe/api/histograms",
    ] {
        let response = client().get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], "application/json");
        json(response).await;
    }
    let metrics = json(
        client()
            .get(server.url("/observe/api/v1/metrics"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        metrics.to_string().contains("admin_test.requests"),
        "{metrics}"
    );
    let text = client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("admin_test_requests"), "{text}");
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405_both_in_json() {
    let server = Server::start().await;
    let missing = client().get(server.url("/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let body = json(missing).await;
    assert!(
        body["error"].as_str().unwrap().contains("/observe/api/v1"),
        "{body}"
    );

    let post = client()
        .post(server.url("/observe/api/v1/metrics"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET, HEAD");
    assert!(json(post).await["error"].is_string());

    let head = client()
        .head(server.url("/observe/api/v1/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.bytes().await.unwrap().len(), 0);
}

#[tokio::test]
async fn a_body_over_64_kib_is_refused_with_413() {
    let server = Server::start().await;
    let big = vec![b'x'; observe_core::admin::MAX_BODY_BYTES + 1];
    let response = client()
        .post(server.url("/observe/api/v1/metrics"))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert!(
        json(response).await["error"]
            .as_str()
            .unwrap()
            .contains("65536")
    );
}

#[tokio::test]
async fn a_foreign_host_is_refused_with_421() {
    let server = Server::start().await;
    let port = server.addr.port();
    let get = |host: String| {
        client()
            .get(server.url("/observe/api/v1/metrics"))
            .header("host", host)
            .send()
    };
    let refused = get(format!("evil.example:{port}")).await.unwrap();
    assert_eq!(refused.status(), 421);
    // An error of the API like the others: `{"error": ...}`.
    assert!(
        json(refused).await["error"]
            .as_str()
            .unwrap()
            .starts_with("misdirected request")
    );
    assert_eq!(
        get("localhost.evil.example".into()).await.unwrap().status(),
        421
    );
    assert_eq!(
        get(format!("localhost:{port}")).await.unwrap().status(),
        200
    );
    assert_eq!(
        get(format!("127.0.0.1:{port}")).await.unwrap().status(),
        200
    );
}

/// docs/observe-api.md shows the answer of `GET /observe/api/v1`: it lists every
/// route of the table, and no other.
#[test]
fn the_documented_index_lists_every_route() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/observe-api.md"
    ))
    .unwrap();
    let start = doc.find("\"routes\": [").expect("the index example");
    let end = start + doc[start..].find(']').unwrap();
    let documented: Vec<&str> = doc[start..end]
        .lines()
        .skip(1)
        .map(|l| l.trim().trim_end_matches(',').trim_matches('"'))
        .filter(|l| !l.is_empty())
        .collect();
    let routes: Vec<String> = observe_core::admin::endpoints()
        .map(|(method, path)| format!("{method} {path}"))
        .collect();
    assert_eq!(documented, routes);
}
