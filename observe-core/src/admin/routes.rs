//! The admin route table: one line per endpoint, `(method, path pattern, handler)`.
//!
//! A pattern's segment `{name}` matches one non-empty path segment, which the
//! handler reads with [`ApiRequest::param`](super::ApiRequest::param). The first
//! line whose method and pattern match wins. `HEAD` is answered by the `GET` line.
//! Endpoints that change something are `POST` lines only.

use super::Handler;
use super::{bullet, controls, health, latency, metrics, page, service, slo, traces};

/// Every admin endpoint. Add yours here (keep the versioned JSON under
/// `/observe/api/v1/`; health stays outside, at fixed paths).
pub(crate) const ROUTES: &[(&str, &str, Handler)] = &[
    // Prometheus / OpenMetrics scrape.
    ("GET", "/metrics", metrics::prometheus),
    // The index, and who this is.
    ("GET", "/observe/api/v1", service::index),
    ("GET", "/observe/api/v1/service", service::service),
    // Metrics as JSON.
    ("GET", "/observe/api/v1/metrics", metrics::snapshot),
    ("GET", "/observe/api/v1/histograms", metrics::histograms),
    // The unversioned names of before v1 (aliases).
    ("GET", "/observe/api/metrics", metrics::snapshot),
    ("GET", "/observe/api/histograms", metrics::histograms),
    // Health: fixed paths for orchestrators, and the same under v1.
    ("GET", "/observe/health/live", health::live),
    ("GET", "/observe/health/ready", health::ready),
    ("GET", "/observe/api/v1/health", health::ready),
    // Latency per key from the HDR histograms.
    ("GET", "/observe/api/v1/latency", latency::rows),
    (
        "GET",
        "/observe/api/v1/latency/distribution",
        latency::distribution,
    ),
    // Run-time controls (changes audited).
    ("GET", "/observe/api/v1/sampling", controls::sampling),
    ("POST", "/observe/api/v1/sampling", controls::set_sampling),
    ("GET", "/observe/api/v1/log-level", controls::log_level),
    ("POST", "/observe/api/v1/log-level", controls::set_log_level),
    // A tracer bullet at this service, from the page.
    ("GET", "/observe/api/v1/bullet", bullet::status),
    ("POST", "/observe/api/v1/bullet", bullet::fire),
    // The flight recorder.
    ("GET", "/observe/api/v1/traces", traces::list),
    ("GET", "/observe/api/v1/traces/{trace_id}", traces::one),
    ("GET", "/observe/api/v1/dump", traces::download),
    ("POST", "/observe/api/v1/dump", traces::write),
    // SLOs, alerts, dependencies (crate::slo, crate::dependencies).
    ("GET", "/observe/api/v1/slos", slo::slos),
    ("GET", "/observe/api/v1/alerts", slo::alerts),
    ("GET", "/observe/api/v1/dependencies", slo::dependencies),
    // The /observe page and its files (embedded; docs/observe-page.md).
    ("GET", "/observe", page::index),
    ("GET", "/observe/assets/{file}", page::asset),
];

/// What the table holds for a method and path.
pub(crate) enum Found {
    /// The handler, with the values of the pattern's `{name}` segments.
    Route(Handler, Vec<(&'static str, String)>),
    /// The path exists with these other methods.
    WrongMethod(Vec<&'static str>),
    /// No such path.
    Nothing,
}

pub(crate) fn find(method: &str, path: &str) -> Found {
    find_in(ROUTES, method, path)
}

fn find_in(
    routes: &'static [(&'static str, &'static str, Handler)],
    method: &str,
    path: &str,
) -> Found {
    let mut allowed: Vec<&'static str> = Vec::new();
    for &(m, pattern, handler) in routes {
        let Some(params) = matches(pattern, path) else {
            continue;
        };
        if m == method {
            return Found::Route(handler, params);
        }
        if !allowed.contains(&m) {
            allowed.push(m);
        }
    }
    if allowed.is_empty() {
        Found::Nothing
    } else {
        if allowed.contains(&"GET") {
            allowed.push("HEAD");
        }
        Found::WrongMethod(allowed)
    }
}

/// The `{name}` values when `path` matches `pattern`.
fn matches(pattern: &'static str, path: &str) -> Option<Vec<(&'static str, String)>> {
    let path = match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => path,
    };
    let mut params = Vec::new();
    let mut want = pattern.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(g)) => {
                if let Some(name) = w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                    if g.is_empty() {
                        return None;
                    }
                    let value = percent_encoding::percent_decode_str(g)
                        .decode_utf8_lossy()
                        .into_owned();
                    params.push((name, value));
                } else if w != g {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{ApiRequest, ApiResponse};

    fn a(_: &ApiRequest) -> ApiResponse {
        ApiResponse::json(http::StatusCode::OK, serde_json::json!("a"))
    }
    fn b(_: &ApiRequest) -> ApiResponse {
        ApiResponse::json(http::StatusCode::OK, serde_json::json!("b"))
    }

    const TABLE: &[(&str, &str, Handler)] = &[
        ("GET", "/x/{id}", a),
        ("POST", "/x/{id}", b),
        ("POST", "/y", b),
        ("GET", "/z", a),
    ];

    #[test]
    fn patterns_methods_and_parameters() {
        let Found::Route(h, params) = find_in(TABLE, "GET", "/x/ab%20c") else {
            panic!("found");
        };
        assert_eq!(h as usize, a as Handler as usize);
        assert_eq!(params, vec![("id", "ab c".to_owned())]);
        assert!(matches!(find_in(TABLE, "POST", "/x/1"), Found::Route(..)));
        assert!(matches!(find_in(TABLE, "GET", "/x/"), Found::Nothing));
        assert!(matches!(find_in(TABLE, "GET", "/x/1/2"), Found::Nothing));
        assert!(matches!(find_in(TABLE, "GET", "/z/"), Found::Route(..)));
        let Found::WrongMethod(allowed) = find_in(TABLE, "GET", "/y") else {
            panic!("405");
        };
        assert_eq!(allowed, ["POST"]);
        let Found::WrongMethod(allowed) = find_in(TABLE, "DELETE", "/z") else {
            panic!("405");
        };
        assert_eq!(allowed, ["GET", "HEAD"]);
    }
}
