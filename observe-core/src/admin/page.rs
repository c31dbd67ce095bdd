//! The `/observe` page: one HTML file, one script and one style sheet, embedded in
//! the binary (no CDN, no build step), served by the admin listener at `/observe` and
//! `/observe/assets/*`. The page only reads the JSON API v1 and draws it
//! (`docs/observe-page.md`); everything it shows is computed by the server.
//!
//! Its URLs are relative, so the page works wherever the admin routes are mounted
//! (`Router::new().nest("/admin", admin_routes())` serves it at `/admin/observe`, and
//! a proxy may strip any prefix): `index.html` loads `observe/assets/...`, relative to
//! `<mount>/observe`; from `<mount>/observe/` the same page loads `assets/...`
//! ([`index_for`]). The script finds the API beside itself (`../api/v1`).

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
pub(crate) fn lookup(path: &str) -> Option<Asset> {
    if path == INDEX.path || path == "/observe/" {
        return Some(index_for(path));
    }
    ASSETS.iter().find(|a| a.path == path).copied()
}

/// The page as served at `path` (the path the router saw, after any prefix a nesting
/// router or a proxy stripped): `index.html`, whose URLs (`observe/...`) are relative
/// to the directory of `<mount>/observe`; at `<mount>/observe/` the directory is one
/// level deeper, so the same page without the `observe/` of its URLs.
pub(crate) fn index_for(path: &str) -> Asset {
    static IN_DIRECTORY: std::sync::LazyLock<Box<[u8]>> = std::sync::LazyLock::new(|| {
        let index = std::str::from_utf8(INDEX.body).expect("index.html is UTF-8");
        index
            .replace("=\"observe/", "=\"")
            .into_bytes()
            .into_boxed_slice()
    });
    if path.ends_with('/') {
        Asset {
            path: "/observe/",
            body: &IN_DIRECTORY,
            ..INDEX
        }
    } else {
        INDEX
    }
}

/// `GET /observe` (and `/observe/`): the page.
pub(crate) fn index(request: &ApiRequest) -> ApiResponse {
    respond(&index_for(request.path()))
}

/// `GET /observe/assets/{file}`: one of the page's files, or 404.
pub(crate) fn asset(request: &ApiRequest) -> ApiResponse {
    let file = request.param("file").unwrap_or_default();
    match lookup(&format!("/observe/assets/{file}")) {
        Some(asset) => respond(&asset),
        None => ApiResponse::error(
            StatusCode::NOT_FOUND,
            format!("the /observe page has no file {file:?}"),
        ),
    }
}

fn respond(asset: &Asset) -> ApiResponse {
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

    /// The `src` and `href` values of an HTML text.
    fn urls(html: &str) -> Vec<&str> {
        let mut urls = Vec::new();
        for attr in ["src=\"", "href=\""] {
            for (at, _) in html.match_indices(attr) {
                let value = &html[at + attr.len()..];
                urls.push(&value[..value.find('"').unwrap_or(value.len())]);
            }
        }
        urls
    }

    #[test]
    fn the_page_loads_exactly_the_embedded_assets_and_nothing_remote() {
        let index = text(&INDEX);
        for asset in &ASSETS {
            // Relative to the mount point (`<mount>/observe` is the page).
            let relative = &asset.path[1..];
            assert!(
                index.contains(&format!("\"{relative}\"")),
                "index.html does not load {relative}"
            );
        }
        for value in urls(index) {
            // Relative to where the admin routes are mounted, never absolute: a page
            // nested under `/admin` must load `/admin/observe/...`.
            assert!(
                value.starts_with("observe/") || value.starts_with("data:"),
                "index.html loads {value:?}: the page must work offline, from the binary \
                 only, under any prefix (observe/... relative to the mount point)"
            );
            if let Some(path) = value.strip_prefix("observe/assets/") {
                assert!(
                    lookup(&format!("/observe/assets/{path}")).is_some(),
                    "index.html loads {value}, which is not embedded"
                );
            }
        }
        // No inline script or style attribute: the Content-Security-Policy forbids them.
        assert!(!index.contains("<script>") && !index.contains(" style=\""));
        assert!(!index.contains(" onclick=") && !index.contains(" onload="));
    }

    #[test]
    fn the_page_at_its_trailing_slash_form_loads_the_same_files() {
        let page = index_for("/observe/");
        let html = std::str::from_utf8(page.body).unwrap();
        let plain = urls(text(&INDEX));
        let in_dir = urls(html);
        assert_eq!(plain.len(), in_dir.len());
        for (from_page, from_dir) in plain.iter().zip(&in_dir) {
            // Resolved against `<mount>/observe` and `<mount>/observe/`: the same URL.
            let same = from_page.strip_prefix("observe/").unwrap_or(from_page);
            assert_eq!(*from_dir, same);
        }
        assert!(in_dir.contains(&"assets/app.js") && in_dir.contains(&"api/v1/dump"));
        assert_eq!(index_for("/observe").body, INDEX.body);
        let answer = index(&ApiRequest::new(http::Method::GET, "/observe/", ""));
        assert_eq!(answer.body_bytes().as_ref(), page.body);
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
        // Beside the script (`<mount>/observe/assets/app.js`), under any mount point.
        assert!(app.contains("const API = new URL('../api/v1', document.currentScript.src)"));
        assert!(
            !app.contains("'/observe"),
            "an absolute /observe URL in app.js"
        );
        // Every request goes through `api()`, relative to the v1 tree.
        assert_eq!(app.matches("fetch(").count(), 1);
    }
}
