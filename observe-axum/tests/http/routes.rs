//! Span names come from route templates: nested routers, 404s, 405s, odd methods.

use axum::Router;
use axum::routing::{get, post};

use crate::support::*;

fn app() -> Router {
    let users = Router::new().route("/users/{id}", get(|| async { "user" }));
    let admin = Router::new().nest(
        "/admin",
        Router::new().route("/stats", get(|| async { "s" })),
    );
    Router::new()
        .route("/", get(|| async { "root" }))
        .route("/items", post(|| async { "created" }))
        .nest("/api", users.merge(admin))
        .layer(observe_axum::layer())
}

#[tokio::test]
async fn nested_routers_are_named_by_their_full_template() {
    let h = Harness::new();
    let base = spawn(app()).await;
    client()
        .get(format!("{base}/api/users/42"))
        .send()
        .await
        .unwrap();
    client()
        .get(format!("{base}/api/admin/stats"))
        .send()
        .await
        .unwrap();
    let span = h.span("GET /api/users/{id}");
    assert_eq!(
        attr(&span, "http.route").as_deref(),
        Some("/api/users/{id}")
    );
    assert_eq!(attr(&span, "url.path").as_deref(), Some("/api/users/42"));
    let span = h.span("GET /api/admin/stats");
    assert_eq!(attr(&span, "url.path").as_deref(), Some("/api/admin/stats"));
}

#[tokio::test]
async fn unmatched_paths_get_a_fixed_name_never_the_raw_path() {
    let h = Harness::new();
    let base = spawn(app()).await;
    for path in ["/nope", "/api/users", "/secret/token-123"] {
        let r = client().get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 404);
    }
    let spans = h.spans();
    assert_eq!(spans.len(), 3);
    for span in &spans {
        assert_eq!(span.name(), "GET");
        assert_eq!(attr(span, "http.route"), None);
        assert_eq!(
            attr(span, "http.response.status_code").as_deref(),
            Some("404")
        );
    }
    let access = h.access_lines();
    assert!(
        access
            .iter()
            .all(|l| l["fields"]["http.route"] == "unmatched"),
        "{access:?}"
    );
}

#[tokio::test]
async fn a_wrong_method_on_a_known_route_keeps_the_template_and_odd_methods_are_other() {
    let h = Harness::new();
    let base = spawn(app()).await;
    let r = client().get(format!("{base}/items")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let purge = reqwest::Method::from_bytes(b"PURGE").unwrap();
    client()
        .request(purge, format!("{base}/items"))
        .send()
        .await
        .unwrap();
    let span = h.span("GET /items");
    assert_eq!(
        attr(&span, "http.response.status_code").as_deref(),
        Some("405")
    );
    let span = h.span("HTTP /items");
    assert_eq!(
        attr(&span, "http.request.method").as_deref(),
        Some("_OTHER")
    );
    assert_eq!(
        attr(&span, "http.request.method_original").as_deref(),
        Some("PURGE")
    );
}
