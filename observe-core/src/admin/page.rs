//! The `/observe` page: one HTML file, one script and one style sheet, embedded in
//! the binary (no CDN, no build step), served by the admin listener at `/observe` and
//! `/observe/assets/*`. The page only reads the JSON API v1 and draws it
//! (`docs/observe-page.md`); everything it shows is computed by the server.

use bytes::Bytes;
use http::StatusCode;
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY as CSP, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};

use super::{ApiRequest, ApiResponse};

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asset {
    /// The path it is served at.
    pub(crate) path: &'static str,
    /// Its `Content-Type`.
    pub(crate) content_type: &'static str,
    /// Its bytes.
    pub(crate) body: &'static [u8],
}

/// The page itself (`GET /observe`).
pub(crate) const INDEX: Asset = Asset {
    path: "/observe",
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("page/index.html"),
};

/// What the page loads (`GET /observe/assets/*`).
pub(crate) const ASSETS: [Asset; 2] = [
    Asset {
        path: "/observe/assets/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("page/app.js"),
    },
    Asset {
        path: "/observe/assets/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("page/style.css"),
    },
];

/// The page's `Content-Security-Policy`: its own script, style and API only (no inline
/// script, no other origin, not framed), so a value shown on the page (a span
/// attribute, a log message) can never run as code.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The embedded file served at `path`, if any (`/observe/` is the page too).
pub(crate) fn lookup(path: &str) -> Option<&'static Asset> {
    if path == INDEX.path || path == "/observe/" {
        return Some(&INDEX);
    }
    ASSETS.iter().find(|a| a.path == path)
}

/// `GET /observe`: the page.
pub(crate) fn index(_request: &ApiRequest) -> ApiResponse {
    respond(&INDEX)
}

/// `GET /observe/assets/{file}`: one of the page's files, or 404.
pub(crate) fn asset(request: &ApiRequest) -> ApiResponse {
    let file = request.param("file").unwrap_or_default();
    match lookup(&format!("/observe/assets/{file}")) {
        Some(asset) => respond(asset),
        None => ApiResponse::error(
            StatusCode::NOT_FOUND,
            format!("the /observe page has no file {file:?}"),
        ),
    }
}

fn respond(asset: &'static Asset) -> ApiResponse {
    ApiResponse::body(
        StatusCode::OK,
        asset.content_type,
        Bytes::from_static(asset.body),
    )
    .header(CSP, CONTENT_SECURITY_POLICY)
    .header(X_CONTENT_TYPE_OPTIONS, "nosniff")
    .header(X_FRAME_OPTIONS, "DENY")
    .header(REFERRER_POLICY, "no-referrer")
    // The files change with the binary: revalidate rather than keep an old script.
    .header(CACHE_CONTROL, "no-cache")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page's weight budget: every embedded file together, uncompressed.
    const WEIGHT_BUDGET_BYTES: usize = 150 * 1024;

    fn text(asset: &Asset) -> &'static str {
        std::str::from_utf8(asset.body).expect("the page's files are UTF-8")
    }

    #[test]
    fn the_embedded_files_stay_within_the_weight_budget() {
        let total: usize = INDEX.body.len() + ASSETS.iter().map(|a| a.body.len()).sum::<usize>();
        assert!(
            total <= WEIGHT_BUDGET_BYTES,
            "the /observe page weighs {total} bytes, over its budget of {WEIGHT_BUDGET_BYTES}"
        );
    }

    #[test]
    fn the_page_loads_exactly_the_embedded_assets_and_nothing_remote() {
        let index = text(&INDEX);
        for asset in &ASSETS {
            assert!(
                index.contains(&format!("\"{}\"", asset.path)),
                "index.html does not load {}",
                asset.path
            );
        }
        for attr in ["src=\"", "href=\""] {
            for (at, _) in index.match_indices(attr) {
                let value = &index[at + attr.len()..];
                let value = &value[..value.find('"').unwrap_or(value.len())];
                assert!(
                    value.starts_with('/') || value.starts_with("data:"),
                    "index.html loads {value:?}: the page must work offline, from the binary only"
                );
                if let Some(path) = value.strip_prefix("/observe/assets/") {
                    assert!(
                        lookup(&format!("/observe/assets/{path}")).is_some(),
                        "index.html loads {value}, which is not embedded"
                    );
                }
            }
        }
        // No inline script or style attribute: the Content-Security-Policy forbids them.
        assert!(!index.contains("<script>") && !index.contains(" style=\""));
        assert!(!index.contains(" onclick=") && !index.contains(" onload="));
    }

    #[test]
    fn lookup_serves_the_page_and_its_assets_only() {
        assert_eq!(lookup("/observe").unwrap().content_type, INDEX.content_type);
        assert!(lookup("/observe/").is_some());
        assert!(
            lookup("/observe/assets/app.js")
                .unwrap()
                .content_type
                .starts_with("text/javascript")
        );
        assert!(lookup("/observe/assets/style.css").is_some());
        for absent in [
            "/observe/assets/",
            "/observe/assets/../page.rs",
            "/observe/assets/app.js/",
            "/observe/index.html",
        ] {
            assert!(lookup(absent).is_none(), "{absent}");
        }
    }

    #[test]
    fn the_handlers_answer_with_the_policy() {
        let page = index(&ApiRequest::new(http::Method::GET, "/observe", ""));
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(page.body_bytes().as_ref(), INDEX.body);
        let http = page.into_http();
        assert_eq!(http.headers()[CSP], CONTENT_SECURITY_POLICY);
        assert_eq!(http.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
        let js = asset(
            &ApiRequest::new(http::Method::GET, "/observe/assets/app.js", "")
                .with_param("file", "app.js"),
        );
        assert_eq!(js.status(), StatusCode::OK);
        assert_eq!(js.body_bytes().as_ref(), ASSETS[0].body);
        for absent in ["nothing.js", "..", "../page.rs", ""] {
            let r = asset(
                &ApiRequest::new(http::Method::GET, "/observe/assets/x", "")
                    .with_param("file", absent),
            );
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{absent}");
        }
    }

    #[test]
    fn the_script_uses_only_the_v1_api() {
        let app = text(&ASSETS[0]);
        assert!(app.contains("const API = '/observe/api/v1';"));
        // Every request goes through `api()`, relative to the v1 tree.
        assert_eq!(app.matches("fetch(").count(), 1);
    }
}
