//! Server span names (`GET /orders/{id}`), interned per thread so that a request
//! does not allocate its span's name.

use std::cell::RefCell;
use std::collections::HashMap;

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

/// Route templates and span names kept for the life of the process, at most this
/// many strings: a route's text and its names are made once and then borrowed by
/// every request's span, access-log line and metric, with no allocation and no
/// reference count shared between threads. Beyond it (raw paths given as routes),
/// names are made per request, as `Arc`s.
const INTERNED_MAX: usize = 4096;

/// gRPC method names (`package.Service/Method`) kept for the life of the process,
/// at most this many, each at most 256 bytes (about 256 KiB): a name is interned
/// once a call of it was answered `OK`, so a client calling made-up methods (or
/// refused before routing) does not fill the table. Their own bound, so gRPC
/// clients cannot use up the routes' one.
const GRPC_INTERNED_MAX: usize = 1024;

/// Interned gRPC names, each with its access-log message for `OK`.
type GrpcNames = std::collections::HashMap<&'static str, &'static str>;

static GRPC_INTERNER: std::sync::Mutex<Option<GrpcNames>> = std::sync::Mutex::new(None);

/// A gRPC method name kept for the process: the name, and the access-log message
/// of a call answered `OK` (`{name} OK`), one string for both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InternedGrpcName {
    pub(crate) name: &'static str,
    pub(crate) ok_message: &'static str,
}

/// `name` as a string kept for the process, or `None` beyond the bound.
pub(crate) fn intern_grpc_name(name: &str) -> Option<InternedGrpcName> {
    let mut guard = GRPC_INTERNER.lock().unwrap_or_else(|e| e.into_inner());
    let names = guard.get_or_insert_with(Default::default);
    if let Some((&name, &ok_message)) = names.get_key_value(name) {
        return Some(InternedGrpcName { name, ok_message });
    }
    if names.len() >= GRPC_INTERNED_MAX {
        return None;
    }
    let ok_message: &'static str = Box::leak(format!("{name} OK").into_boxed_str());
    let name = &ok_message[..name.len()];
    names.insert(name, ok_message);
    Some(InternedGrpcName { name, ok_message })
}

/// The longest route template interned: routes are short templates; a longer one
/// (a raw path given as a route) is named per request, so the interned strings
/// stay within `INTERNED_MAX × (INTERNED_ROUTE_MAX + 12)` bytes (about 1 MiB: a
/// method, a space, the route and ` 200`).
const INTERNED_ROUTE_MAX: usize = 256;

/// A route as a request's span and access log see it: its template and its span
/// name, `'static` when interned.
#[derive(Debug, Clone)]
pub(crate) struct RouteNames {
    /// The template (`/orders/{id}`), when a route matched.
    pub(crate) route: Option<Route>,
    /// `{METHOD} {route}`, or the method alone.
    pub(crate) name: SpanName,
    /// The access-log message of a `200` answer (`{METHOD} {route} 200`), kept
    /// with an interned name of one of the nine methods (the name a prefix of it).
    pub(crate) ok_message: Option<&'static str>,
}

/// A matched route's template.
#[derive(Debug, Clone)]
pub(crate) enum Route {
    /// Interned for the process.
    Static(&'static str),
    /// Beyond the interning bound: a suffix of the span name.
    InName(usize),
}

impl RouteNames {
    /// The template, when a route matched.
    pub(crate) fn route(&self) -> Option<&str> {
        match self.route.as_ref()? {
            Route::Static(r) => Some(r),
            Route::InName(at) => self.name.as_str().get(*at..),
        }
    }

    /// The template as a `'static` string, when it is interned.
    pub(crate) fn static_route(&self) -> Option<&'static str> {
        match self.route.as_ref()? {
            Route::Static(r) => Some(r),
            Route::InName(_) => None,
        }
    }
}

/// A route's interned template and the span name of each method.
struct Interned {
    route: &'static str,
    names: [Option<Named>; METHODS],
}

/// An interned span name, and the access-log message of a `200` answer.
#[derive(Clone, Copy)]
struct Named {
    name: &'static str,
    ok_message: Option<&'static str>,
}

/// The process-wide interned strings, consulted when a thread's cache misses.
struct Interner {
    routes: HashMap<&'static str, Interned>,
    strings: usize,
}

static INTERNER: std::sync::Mutex<Option<Interner>> = std::sync::Mutex::new(None);

/// Interns `route` and the span name of `method_index` for it, within the bound.
fn intern(method_index: usize, route: &str) -> Option<(&'static str, Named)> {
    if route.len() > INTERNED_ROUTE_MAX {
        return None;
    }
    let mut guard = INTERNER.lock().unwrap_or_else(|e| e.into_inner());
    let interner = guard.get_or_insert_with(|| Interner {
        routes: HashMap::new(),
        strings: 0,
    });
    let leak = |s: String, strings: &mut usize| -> Option<&'static str> {
        if *strings >= INTERNED_MAX {
            return None;
        }
        *strings += 1;
        Some(Box::leak(s.into_boxed_str()))
    };
    if !interner.routes.contains_key(route) {
        let leaked = leak(route.to_owned(), &mut interner.strings)?;
        interner.routes.insert(
            leaked,
            Interned {
                route: leaked,
                names: [None; METHODS],
            },
        );
    }
    let Interner { routes, strings } = interner;
    let entry = routes.get_mut(route)?;
    let named = match entry.names[method_index] {
        Some(named) => named,
        None => {
            let method = SPAN_METHOD[method_index];
            // One string for the name and the `200` line's message, the name a
            // prefix of it. `HTTP` names the span of a method outside the nine,
            // whose line says `_OTHER`: no message kept.
            let named = if method_index < METHODS - 1 {
                let message = leak(format!("{method} {route} 200"), strings)?;
                Named {
                    name: &message[..message.len() - " 200".len()],
                    ok_message: Some(message),
                }
            } else {
                Named {
                    name: leak(format!("{method} {route}"), strings)?,
                    ok_message: None,
                }
            };
            entry.names[method_index] = Some(named);
            named
        }
    };
    Some((entry.route, named))
}

/// Route template to its interned text and the span name of each method, per
/// thread (no lock on the request path).
type Names = HashMap<Box<str>, Interned>;

thread_local! {
    static NAMES: RefCell<Names> =
        RefCell::new(HashMap::new());
}

/// The span name of a server request: `{METHOD} {route}` for a matched route, the
/// method alone otherwise (never the raw path, so names stay low-cardinality).
#[cfg(test)]
pub(crate) fn span_name(method_index: usize, route: Option<&str>) -> SpanName {
    route_names(method_index, route).name
}

/// The span name and route template of a server request (see [`span_name`]).
pub(crate) fn route_names(method_index: usize, route: Option<&str>) -> RouteNames {
    let method_index = method_index.min(METHODS - 1);
    let method = SPAN_METHOD[method_index];
    let Some(route) = route else {
        return RouteNames {
            route: None,
            name: SpanName::Static(method),
            ok_message: None,
        };
    };
    let cached = NAMES
        .try_with(|names| {
            let mut names = names.try_borrow_mut().ok()?;
            if let Some(entry) = names.get(route)
                && let Some(named) = entry.names[method_index]
            {
                return Some((entry.route, named));
            }
            let (interned, named) = intern(method_index, route)?;
            if names.len() >= CAPACITY && !names.contains_key(route) {
                names.clear();
            }
            let entry = names.entry(route.into()).or_insert_with(|| Interned {
                route: interned,
                names: [None; METHODS],
            });
            entry.names[method_index] = Some(named);
            Some((interned, named))
        })
        .ok()
        .flatten();
    match cached {
        Some((route, named)) => RouteNames {
            route: Some(Route::Static(route)),
            name: SpanName::Static(named.name),
            ok_message: named.ok_message,
        },
        None => RouteNames {
            route: Some(Route::InName(method.len() + 1)),
            name: SpanName::Shared(format!("{method} {route}").into()),
            ok_message: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_routes_are_named_per_request_not_interned() {
        let (_, get) = method_label(&http::Method::GET);
        let long = format!("/{}", "a".repeat(INTERNED_ROUTE_MAX));
        let names = route_names(get, Some(&long));
        assert!(matches!(names.name, SpanName::Shared(_)), "{names:?}");
        assert_eq!(names.route(), Some(long.as_str()));
        assert_eq!(names.static_route(), None);
    }

    #[test]
    fn names_are_method_and_template_and_shared_between_requests() {
        let (_, get) = method_label(&http::Method::GET);
        let a = span_name(get, Some("/orders/{id}"));
        let b = span_name(get, Some("/orders/{id}"));
        assert_eq!(a.as_str(), "GET /orders/{id}");
        match (&a, &b) {
            (SpanName::Static(a), SpanName::Static(b)) => assert!(std::ptr::eq(*a, *b)),
            _ => panic!("expected interned names"),
        }
        let (_, post) = method_label(&http::Method::POST);
        assert_eq!(
            span_name(post, Some("/orders/{id}")).as_str(),
            "POST /orders/{id}"
        );
        // The `200` line's message comes with an interned name; a method outside
        // the nine (span `HTTP`, line `_OTHER`) has none.
        let names = route_names(post, Some("/orders/{id}"));
        assert_eq!(names.ok_message, Some("POST /orders/{id} 200"));
        let (_, other) = method_label(&http::Method::from_bytes(b"PURGE").unwrap());
        let names = route_names(other, Some("/orders/{id}"));
        assert_eq!(names.name.as_str(), "HTTP /orders/{id}");
        assert_eq!(names.ok_message, None);
        assert_eq!(route_names(post, None).ok_message, None);
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
