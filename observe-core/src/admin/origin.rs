//! Cross-site request forgery: a page in the user's browser must not change
//! anything through the admin API. The `Host` check ([`check_host`](super::check_host))
//! stops DNS rebinding, not this: a page on any site can send a "simple" `POST`
//! (a form, or `fetch` with `mode: "no-cors"` and a `text/plain` body) to
//! `http://127.0.0.1:9464`, and the browser sends it without asking first. It
//! cannot read the answer, but the change is made.
//!
//! So every request that is not `GET`/`HEAD`/`OPTIONS` must come from the same
//! origin, as browsers report it, or from outside a browser. The order is the one
//! of Go's `net/http.CrossOriginProtection`:
//!
//! 1. `Sec-Fetch-Site` (every current browser sends it): `same-origin` or `none`
//!    (typed by the user) pass, anything else (`cross-site`, `same-site`: another
//!    port of the same host is another origin) is refused.
//! 2. Without it, `Origin` (browsers send it on every cross-origin `POST`): its
//!    host and port must be the request's `Host`, or the `X-Forwarded-Host` a
//!    reverse proxy that rewrites `Host` adds (browsers send no `Sec-Fetch-Site`
//!    over plain HTTP to hosts other than localhost, so behind such a proxy the
//!    page's own changes are told apart this way; a page of another site cannot
//!    add that header to a request the browser sends without asking first).
//! 3. Neither: not a browser (`curl`, the CLI, a script), which may pass.
//!
//! The body's `Content-Type` is not checked: `curl -d` sends JSON as a form, and
//! every browser that could send a form to another origin also sends `Origin`.

use http::header::ORIGIN;
use http::request::Parts;
use http::{Method, StatusCode};

use super::ApiResponse;

/// `Sec-Fetch-Site`, a fetch metadata header (not in `http`'s list).
const SEC_FETCH_SITE: &str = "sec-fetch-site";

/// Refuses (403) a change that comes from another site's page. `None` when it may
/// pass.
pub(crate) fn check(parts: &Parts) -> Option<ApiResponse> {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    if let Some(reason) = cross_origin(parts) {
        return Some(ApiResponse::error(
            StatusCode::FORBIDDEN,
            format!(
                "cross-origin request refused: {reason}; the admin API makes changes only \
                 for its own page or for clients outside a browser"
            ),
        ));
    }
    None
}

/// Why `parts` is a cross-origin request, if it is one.
fn cross_origin(parts: &Parts) -> Option<&'static str> {
    let headers = &parts.headers;
    if let Some(site) = headers.get(SEC_FETCH_SITE) {
        return match site.as_bytes() {
            b"same-origin" | b"none" => None,
            _ => Some("the browser says it comes from another site (Sec-Fetch-Site)"),
        };
    }
    let origin = headers.get(ORIGIN)?;
    let Some(origin) = origin
        .to_str()
        .ok()
        .and_then(|o| o.parse::<http::Uri>().ok())
        .and_then(|o| o.authority().cloned())
    else {
        return Some("its Origin is not a web origin");
    };
    let host = super::host::addressed_to(&parts.uri, headers);
    let forwarded = headers
        .get(X_FORWARDED_HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.split(',').next())
        .and_then(|h| h.trim().parse::<http::uri::Authority>().ok());
    let same = |a: &Option<http::uri::Authority>| {
        a.as_ref()
            .is_some_and(|a| a.as_str().eq_ignore_ascii_case(origin.as_str()))
    };
    if same(&host) || same(&forwarded) {
        None
    } else {
        Some("its Origin is not the address it was sent to")
    }
}

/// The host a reverse proxy was asked for, when it rewrites `Host`.
const X_FORWARDED_HOST: &str = "x-forwarded-host";

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::builder()
            .method(method)
            .uri("/observe/api/v1/log-level")
            .header("host", "127.0.0.1:9464");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    const JSON: (&str, &str) = ("content-type", "application/json");

    #[test]
    fn a_change_from_another_site_is_refused() {
        for headers in [
            &[("sec-fetch-site", "cross-site"), JSON][..],
            &[("sec-fetch-site", "same-site"), JSON],
            &[("origin", "https://evil.example"), JSON],
            &[("origin", "http://127.0.0.1:3000"), JSON],
            &[("origin", "null"), JSON],
            &[
                ("origin", "https://evil.example"),
                ("x-forwarded-host", "admin.example"),
                JSON,
            ],
            // Sec-Fetch-Site decides when both are there.
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "http://127.0.0.1:9464"),
                JSON,
            ],
        ] {
            let refused = check(&parts("POST", headers)).expect("refused");
            assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{headers:?}");
        }
    }

    #[test]
    fn its_own_page_and_clients_outside_a_browser_pass() {
        for headers in [
            &[JSON][..],
            &[("sec-fetch-site", "same-origin"), JSON],
            &[("sec-fetch-site", "none"), JSON],
            &[("origin", "http://127.0.0.1:9464"), JSON],
            // Behind a proxy that rewrites `Host` (no `Sec-Fetch-Site` over plain
            // HTTP to a host other than localhost).
            &[
                ("origin", "http://admin.example:8080"),
                ("x-forwarded-host", "admin.example:8080"),
                JSON,
            ],
            // `curl -d` (a form's content type, from outside a browser).
            &[("content-type", "application/x-www-form-urlencoded")],
        ] {
            assert!(check(&parts("POST", headers)).is_none(), "{headers:?}");
        }
        assert!(check(&parts("POST", &[])).is_none());
        // Reads are not checked: a browser cannot read another origin's answer.
        let get = parts("GET", &[("sec-fetch-site", "cross-site")]);
        assert!(check(&get).is_none());
    }
}
