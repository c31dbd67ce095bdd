//! The HTTP server metric as a request produces it: `http.server.request.duration`
//! carries `url.scheme`, and `error.type` exactly when the request failed, as the
//! HTTP semantic conventions require.

use observe_core::metrics;
use observe_core::server::{Inbound, RequestInfo, ServerOptions};

fn serve(route: &'static str, uri: &str, status: u16) {
    let request = http::Request::get(uri).body(()).unwrap();
    let info = RequestInfo::from_request(&request).route(Some(route));
    let inbound = Inbound::start(&ServerOptions::default(), &info);
    inbound.finish(status, &mut http::HeaderMap::new());
}

fn labels_of(route: &str, status: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    metrics::snapshot()
        .histograms
        .into_iter()
        .filter(|h| {
            h.name == "http.server.request.duration"
                && h.labels.get("http.route").map(String::as_str) == Some(route)
                && h.labels
                    .get("http.response.status_code")
                    .map(String::as_str)
                    == Some(status)
        })
        .map(|h| h.labels)
        .collect()
}

#[test]
fn the_server_duration_carries_url_scheme_and_error_type() {
    let _capture = observe_core::testing::capture();
    serve("/semconv/ok/{id}", "/semconv/ok/1", 200);
    serve("/semconv/missing/{id}", "/semconv/missing/1", 404);
    serve("/semconv/fail/{id}", "/semconv/fail/1", 503);
    serve(
        "/semconv/tls/{id}",
        "https://shop.example/semconv/tls/1",
        200,
    );

    let ok = labels_of("/semconv/ok/{id}", "200");
    assert_eq!(ok.len(), 1, "{ok:?}");
    assert_eq!(ok[0].get("url.scheme").map(String::as_str), Some("http"));
    assert!(!ok[0].contains_key("error.type"), "{ok:?}");
    // A 4xx is the client's failure, not the server's: no error.type.
    let missing = labels_of("/semconv/missing/{id}", "404");
    assert!(!missing[0].contains_key("error.type"), "{missing:?}");
    // A 5xx: error.type is the status code.
    let fail = labels_of("/semconv/fail/{id}", "503");
    assert_eq!(
        fail[0].get("error.type").map(String::as_str),
        Some("503"),
        "{fail:?}"
    );
    let tls = labels_of("/semconv/tls/{id}", "200");
    assert_eq!(
        tls[0].get("url.scheme").map(String::as_str),
        Some("https"),
        "{tls:?}"
    );
}
