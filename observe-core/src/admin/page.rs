//! The `/observe` page: one HTML file, one script and one style sheet, embedded in
//! the binary (no CDN, no build step), served by the admin listener at `/observe` and
//! `/observe/assets/*`. The page only reads the JSON API v1 and draws it
//! (`docs/observe-page.md`); everything it shows is computed by the server.

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

/// The page's weight budget: every embedded file together, uncompressed.
pub(crate) const WEIGHT_BUDGET_BYTES: usize = 150 * 1024;

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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_script_uses_only_the_v1_api() {
        let app = text(&ASSETS[0]);
        assert!(app.contains("const API = '/observe/api/v1';"));
        // Every request goes through `api()`, relative to the v1 tree.
        assert_eq!(app.matches("fetch(").count(), 1);
    }
}
