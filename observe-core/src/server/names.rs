//! Server span names (`GET /orders/{id}`), interned per thread so that a request
//! does not allocate its span's name.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use crate::span::SpanName;

/// The semantic-convention form of a method: the nine methods HTTP defines, else
/// `_OTHER` (and the span name uses `HTTP`).
pub(crate) fn method_label(method: &http::Method) -> (&'static str, usize) {
    match *method {
        http::Method::GET => ("GET", 0),
        http::Method::HEAD => ("HEAD", 1),
        http::Method::POST => ("POST", 2),
        http::Method::PUT => ("PUT", 3),
        http::Method::DELETE => ("DELETE", 4),
        http::Method::CONNECT => ("CONNECT", 5),
        http::Method::OPTIONS => ("OPTIONS", 6),
        http::Method::TRACE => ("TRACE", 7),
        http::Method::PATCH => ("PATCH", 8),
        _ => (OTHER_METHOD, 9),
    }
}

/// `http.request.method` for a method outside the nine HTTP defines.
pub(crate) const OTHER_METHOD: &str = crate::metrics::names::OTHER;

const METHODS: usize = 10;
/// What the span name says for `_OTHER` (the OpenTelemetry convention).
const SPAN_METHOD: [&str; METHODS] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "HTTP",
];

/// The span-name form of a method (`HTTP` for `_OTHER`), as client spans are named.
#[cfg(feature = "http-client")]
pub(crate) fn method_span_name(method_index: usize) -> &'static str {
    SPAN_METHOD[method_index.min(METHODS - 1)]
}

/// Routes remembered per thread before the cache starts over (routes are a bounded
/// set in any application; this bounds a misuse such as raw paths as routes).
const CAPACITY: usize = 1024;

/// Route template to the span name of each method.
type Names = HashMap<Box<str>, [Option<Arc<str>>; METHODS]>;

thread_local! {
    static NAMES: RefCell<Names> =
        RefCell::new(HashMap::new());
}

/// The span name of a server request: `{METHOD} {route}` for a matched route, the
/// method alone otherwise (never the raw path, so names stay low-cardinality).
pub(crate) fn span_name(method_index: usize, route: Option<&str>) -> SpanName {
    let method = SPAN_METHOD[method_index.min(METHODS - 1)];
    let Some(route) = route else {
        return SpanName::Static(method);
    };
    let cached = NAMES
        .try_with(|names| {
            let mut names = names.try_borrow_mut().ok()?;
            if let Some(slot) = names
                .get(route)
                .and_then(|slots| slots[method_index].clone())
            {
                return Some(slot);
            }
            let name: Arc<str> = format!("{method} {route}").into();
            if names.len() >= CAPACITY && !names.contains_key(route) {
                names.clear();
            }
            let slots = names
                .entry(route.into())
                .or_insert_with(|| std::array::from_fn(|_| None));
            slots[method_index] = Some(name.clone());
            Some(name)
        })
        .ok()
        .flatten();
    SpanName::Shared(cached.unwrap_or_else(|| format!("{method} {route}").into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_method_and_template_and_shared_between_requests() {
        let (_, get) = method_label(&http::Method::GET);
        let a = span_name(get, Some("/orders/{id}"));
        let b = span_name(get, Some("/orders/{id}"));
        assert_eq!(a.as_str(), "GET /orders/{id}");
        match (&a, &b) {
            (SpanName::Shared(a), SpanName::Shared(b)) => assert!(Arc::ptr_eq(a, b)),
            _ => panic!("expected shared names"),
        }
        let (_, post) = method_label(&http::Method::POST);
        assert_eq!(
            span_name(post, Some("/orders/{id}")).as_str(),
            "POST /orders/{id}"
        );
    }

    #[test]
    fn unmatched_routes_and_unknown_methods_have_fixed_names() {
        let (label, other) = method_label(&http::Method::from_bytes(b"PURGE").unwrap());
        assert_eq!(label, "_OTHER");
        assert_eq!(span_name(other, Some("/x")).as_str(), "HTTP /x");
        assert_eq!(span_name(0, None).as_str(), "GET");
        assert_eq!(span_name(other, None).as_str(), "HTTP");
    }
}
