//! Semantic-convention metric names, their labels, and cached typed constructors.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use super::handles::Histogram;
use super::registry::Registry;
use super::unit::Unit;

/// Metric and attribute names used by observe (OpenTelemetry semantic conventions,
/// plus `observe.function.duration` and `request_type`).
pub mod names {
    /// Duration of HTTP server requests.
    pub const HTTP_SERVER_REQUEST_DURATION: &str = "http.server.request.duration";
    /// Duration of HTTP client requests.
    pub const HTTP_CLIENT_REQUEST_DURATION: &str = "http.client.request.duration";
    /// Duration of RPC server calls.
    pub const RPC_SERVER_CALL_DURATION: &str = "rpc.server.call.duration";
    /// Duration of RPC client calls.
    pub const RPC_CLIENT_CALL_DURATION: &str = "rpc.client.call.duration";
    /// Duration of `#[traced]` functions.
    pub const FUNCTION_DURATION: &str = "observe.function.duration";

    /// HTTP method, normalized (`GET` ... `PATCH`, else `_OTHER`).
    pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
    /// The route template (`/orders/{id}`), never the raw path.
    pub const HTTP_ROUTE: &str = "http.route";
    /// The response status code, as its decimal value.
    pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
    /// The URI scheme (`http` or `https`; `_OTHER` for anything else).
    pub const URL_SCHEME: &str = "url.scheme";
    /// Why an operation failed: the status code for HTTP errors (5xx on a server,
    /// 4xx and 5xx on a client), else a low-cardinality error type; absent on
    /// success.
    pub const ERROR_TYPE: &str = "error.type";
    /// The peer host of a client call.
    pub const SERVER_ADDRESS: &str = "server.address";
    /// The RPC system (`grpc`).
    pub const RPC_SYSTEM: &str = "rpc.system";
    /// The RPC service (`helloworld.Greeter`).
    pub const RPC_SERVICE: &str = "rpc.service";
    /// The RPC method (`SayHello`).
    pub const RPC_METHOD: &str = "rpc.method";
    /// The numeric gRPC status code.
    pub const RPC_GRPC_STATUS_CODE: &str = "rpc.grpc.status_code";
    /// The function of a `#[traced]` span.
    pub const CODE_FUNCTION: &str = "code.function";
    /// `ok` or `error`.
    pub const OUTCOME: &str = "outcome";
    /// `standard` or `tracer_bullet`.
    pub const REQUEST_TYPE: &str = "request_type";
    /// The `http.route` value for requests that matched no route.
    pub const UNMATCHED_ROUTE: &str = "unmatched";
    /// The value for a method outside the known set.
    pub const OTHER: &str = "_OTHER";
    /// The `rpc.system` of gRPC, and the name of a gRPC call whose path is not
    /// `/Service/Method` (its span and access line).
    pub const GRPC: &str = "grpc";
}

use names::*;

/// Whether a gRPC status code is an error of the server, by OpenTelemetry's gRPC
/// conventions for server spans (`UNKNOWN`, `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`,
/// `INTERNAL`, `UNAVAILABLE`, `DATA_LOSS`, and any code past 16).
pub(crate) fn grpc_server_error(code: u32) -> bool {
    matches!(code, 2 | 4 | 12 | 13 | 14 | 15) || code > 16
}

/// Whether a duration series of `metric` holds failed calls, by its labels:
/// `error.type` set (HTTP errors, and any failure before a status), `outcome="error"`
/// (`#[traced]` functions), or an error status of gRPC, which its series carry
/// as `rpc.grpc.status_code` only: any status but `OK` for a client, the server
/// errors of OpenTelemetry's gRPC conventions for a server
/// ([`grpc_server_error`]). The latency table,
/// the SLOs and the dependency view all decide with it.
pub(crate) fn series_failed(metric: &str, labels: &[(String, String)]) -> bool {
    let status = || {
        labels
            .iter()
            .find(|(k, _)| k == names::RPC_GRPC_STATUS_CODE)
            .and_then(|(_, v)| v.parse::<u32>().ok())
    };
    labels
        .iter()
        .any(|(k, v)| k == names::ERROR_TYPE || (k == names::OUTCOME && v == "error"))
        || match metric {
            names::RPC_SERVER_CALL_DURATION => status().is_some_and(grpc_server_error),
            names::RPC_CLIENT_CALL_DURATION => status().is_some_and(|c| c != 0),
            _ => false,
        }
}

/// Whether a request is ordinary traffic or a tracer bullet (a probe through
/// production whose side effects are skipped). Every latency metric carries it as
/// the `request_type` label, so tracer bullets stay out of SLOs; the request
/// context holds it (also named `context::RequestType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestType {
    /// Ordinary traffic.
    #[default]
    Standard,
    /// A tracer bullet: traced end to end, side effects turned into no-ops, kept out
    /// of SLOs.
    TracerBullet,
}

impl RequestType {
    /// `standard` or `tracer_bullet`, as written in logs, metrics and baggage.
    pub const fn as_str(self) -> &'static str {
        match self {
            RequestType::Standard => "standard",
            RequestType::TracerBullet => "tracer_bullet",
        }
    }
}

impl fmt::Display for RequestType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(crate) fn builtin_description(name: &str) -> Option<(Unit, &'static str)> {
    Some(match name {
        HTTP_SERVER_REQUEST_DURATION => (Unit::Nanoseconds, "Duration of HTTP server requests."),
        HTTP_CLIENT_REQUEST_DURATION => (Unit::Nanoseconds, "Duration of HTTP client requests."),
        RPC_SERVER_CALL_DURATION => (Unit::Nanoseconds, "Duration of RPC server calls."),
        RPC_CLIENT_CALL_DURATION => (Unit::Nanoseconds, "Duration of RPC client calls."),
        FUNCTION_DURATION => (Unit::Nanoseconds, "Duration of #[traced] functions."),
        _ => return None,
    })
}

/// The semantic-convention form of an HTTP method: the nine standard methods
/// (case-sensitive, as HTTP defines them), anything else `_OTHER`.
pub fn normalize_method(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "CONNECT" => "CONNECT",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "PATCH" => "PATCH",
        _ => OTHER,
    }
}

/// A status code's label value: its decimal value for 100..=599, `_OTHER` otherwise.
fn status_label(code: u16, buf: &mut itoa::Buffer) -> &str {
    if (100..=599).contains(&code) {
        buf.format(code)
    } else {
        OTHER
    }
}

/// The `url.scheme` label value: `http`, `https`, else `_OTHER`.
fn scheme_label(scheme: &str) -> &'static str {
    if scheme.eq_ignore_ascii_case("https") {
        "https"
    } else if scheme.eq_ignore_ascii_case("http") {
        "http"
    } else {
        OTHER
    }
}

fn route_label(route: &str) -> &str {
    if route.is_empty() {
        UNMATCHED_ROUTE
    } else {
        route
    }
}

// ---------------------------------------------------------------------------------
// The per-thread handle cache.

const CACHE_CAPACITY: usize = 1024;

/// What a typed constructor is looked up by: its kind, its small bounded values
/// (method, status, scheme, request type...) packed in one word, and up to four
/// free-form strings (route, peer, RPC names, an error type). Comparing it is a
/// word compare and a string compare per non-empty string.
struct CacheKey<'a> {
    kind: u8,
    small: u64,
    strs: [&'a str; 4],
}

struct CacheEntry {
    registry: u64,
    kind: u8,
    small: u64,
    strs: [Box<str>; 4],
    handle: Histogram,
}

/// String equality that calls no `memcmp` for empty strings (most key strings).
#[inline]
fn str_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && (a.is_empty() || a == b)
}

struct Cache {
    hasher: foldhash::fast::RandomState,
    map: HashMap<u64, Vec<CacheEntry>, foldhash::fast::FixedState>,
    len: usize,
}

impl Cache {
    fn hash(&self, registry: u64, k: &CacheKey<'_>) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write_u64(registry);
        h.write_u64(k.small ^ ((k.kind as u64) << 56));
        for s in k.strs {
            h.write_usize(s.len());
            if !s.is_empty() {
                h.write(s.as_bytes());
            }
        }
        h.finish()
    }

    fn find(&self, hash: u64, registry: u64, k: &CacheKey<'_>) -> Option<&Histogram> {
        self.map
            .get(&hash)?
            .iter()
            .find(|e| {
                e.registry == registry
                    && e.kind == k.kind
                    && e.small == k.small
                    && e.strs.iter().zip(k.strs).all(|(a, b)| str_eq(a, b))
            })
            .map(|e| &e.handle)
    }
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache {
        hasher: foldhash::fast::RandomState::default(),
        map: HashMap::default(),
        len: 0,
    });
}

#[cfg(test)]
thread_local! {
    static MISSES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Looks the key up in this thread's cache and applies `f` to the handle, resolving
/// (and caching) it on a miss. `f` runs on the cached handle, so a caller that only
/// records never touches the handle's shared reference count. The cache is bounded:
/// when full it starts over.
fn cached<R>(
    registry: &Registry,
    key: CacheKey<'_>,
    resolve: impl FnOnce() -> Histogram,
    f: impl Fn(&Histogram) -> R,
) -> R {
    let id = registry.inner.id;
    let hit = CACHE.try_with(|c| {
        let c = c.try_borrow().ok()?;
        let hash = c.hash(id, &key);
        c.find(hash, id, &key).map(&f)
    });
    if let Ok(Some(r)) = hit {
        return r;
    }
    #[cfg(test)]
    MISSES.with(|m| m.set(m.get() + 1));
    let handle = resolve();
    let r = f(&handle);
    let _ = CACHE.try_with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            if c.len >= CACHE_CAPACITY {
                c.map.clear();
                c.len = 0;
            }
            c.len += 1;
            let hash = c.hash(id, &key);
            c.map.entry(hash).or_default().push(CacheEntry {
                registry: id,
                kind: key.kind,
                small: key.small,
                strs: key.strs.map(Box::from),
                handle,
            });
        }
    });
    r
}

/// The index of a normalized method (what `normalize_method` returns).
fn method_code(method: &str) -> u64 {
    match method {
        "GET" => 1,
        "HEAD" => 2,
        "POST" => 3,
        "PUT" => 4,
        "DELETE" => 5,
        "CONNECT" => 6,
        "OPTIONS" => 7,
        "TRACE" => 8,
        "PATCH" => 9,
        _ => 0,
    }
}

/// A status code as a key value: the code in 100..=599, else 0 (`_OTHER`).
fn status_code_key(code: u16) -> u64 {
    if (100..=599).contains(&code) {
        code as u64
    } else {
        0
    }
}

fn request_type_code(r: RequestType) -> u64 {
    (r == RequestType::TracerBullet) as u64
}

impl Registry {
    /// `http.server.request.duration` for one route, method, status code, scheme,
    /// error type and request type, through a per-thread cache (adapters call this
    /// once per request; the process-wide [`super::http_server_duration`] also
    /// avoids cloning the handle). A duration histogram: record nanoseconds.
    ///
    /// `route` is the route template (`/orders/{id}`); an empty route becomes
    /// `unmatched`. `method` is normalized ([`normalize_method`]). The status code is
    /// kept as its value (`http.response.status_code="404"`) as the semantic
    /// conventions define it; codes outside 100..=599 become `_OTHER`. `scheme` is
    /// `url.scheme` (`http`, `https`, else `_OTHER`). `error.type` is set only when
    /// the request failed, as the conventions require: the status code for a 5xx
    /// response, else `error_type` when given (a low-cardinality type such as
    /// `panic` or `timeout`).
    ///
    /// ```
    /// use observe_core::metrics::{Registry, RequestType};
    ///
    /// let registry = Registry::new();
    /// registry
    ///     .http_server_duration("/orders/{id}", "GET", 200, "http", None, RequestType::Standard)
    ///     .record(3_000_000);
    /// registry
    ///     .http_server_duration("/orders/{id}", "GET", 503, "http", None, RequestType::Standard)
    ///     .record(9_000_000);
    /// let text = registry.prometheus_text();
    /// assert!(text.contains(
    ///     r#"http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200",http_route="/orders/{id}",request_type="standard",url_scheme="http"} 1"#
    /// ));
    /// assert!(text.contains(
    ///     r#"http_server_request_duration_seconds_count{error_type="503",http_request_method="GET",http_response_status_code="503",http_route="/orders/{id}",request_type="standard",url_scheme="http"} 1"#
    /// ));
    /// ```
    pub fn http_server_duration(
        &self,
        route: &str,
        method: &str,
        status_code: u16,
        scheme: &str,
        error_type: Option<&str>,
        request_type: RequestType,
    ) -> Histogram {
        self.http_server_duration_with(
            route,
            method,
            status_code,
            scheme,
            error_type,
            request_type,
            Histogram::clone,
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn http_server_duration_with<R>(
        &self,
        route: &str,
        method: &str,
        status_code: u16,
        scheme: &str,
        error_type: Option<&str>,
        request_type: RequestType,
        f: impl Fn(&Histogram) -> R,
    ) -> R {
        let mut buf = itoa::Buffer::new();
        let (route, method, status, scheme) = (
            route_label(route),
            normalize_method(method),
            status_label(status_code, &mut buf),
            scheme_label(scheme),
        );
        let error = if (500..=599).contains(&status_code) {
            Some(status)
        } else {
            error_type.filter(|e| !e.is_empty())
        };
        let key = CacheKey {
            kind: 1,
            small: method_code(method)
                | status_code_key(status_code) << 8
                | ((scheme == "https") as u64 | ((scheme == OTHER) as u64) << 1) << 24
                | request_type_code(request_type) << 32,
            // The error type matters only when the status is not a 5xx.
            strs: [
                route,
                if (500..=599).contains(&status_code) {
                    ""
                } else {
                    error.unwrap_or("")
                },
                "",
                "",
            ],
        };
        cached(
            self,
            key,
            || {
                let mut labels = vec![
                    (HTTP_ROUTE, route),
                    (HTTP_REQUEST_METHOD, method),
                    (HTTP_RESPONSE_STATUS_CODE, status),
                    (URL_SCHEME, scheme),
                    (REQUEST_TYPE, request_type.as_str()),
                ];
                labels.extend(error.map(|e| (ERROR_TYPE, e)));
                self.duration_histogram(HTTP_SERVER_REQUEST_DURATION, &labels)
            },
            f,
        )
    }

    /// `http.client.request.duration` for one peer host (`server.address`), method,
    /// status code (`None` when no response arrived: the label is left out) and
    /// request type, through a per-thread cache. `error.type` is the status code
    /// for a 4xx or 5xx response, and `_OTHER` when no response arrived (see
    /// [`Registry::http_client_duration_failed`] to name the error).
    pub fn http_client_duration(
        &self,
        server_address: &str,
        method: &str,
        status_code: Option<u16>,
        request_type: RequestType,
    ) -> Histogram {
        self.http_client_duration_with(
            server_address,
            method,
            status_code,
            None,
            request_type,
            Histogram::clone,
        )
    }

    /// `http.client.request.duration` of a call that got no response, with its
    /// `error.type`: a low-cardinality type (`timeout`, `transport`,
    /// `tracer_bullet_blocked`...).
    pub fn http_client_duration_failed(
        &self,
        server_address: &str,
        method: &str,
        error_type: &str,
        request_type: RequestType,
    ) -> Histogram {
        self.http_client_duration_with(
            server_address,
            method,
            None,
            Some(error_type),
            request_type,
            Histogram::clone,
        )
    }

    pub(crate) fn http_client_duration_with<R>(
        &self,
        server_address: &str,
        method: &str,
        status_code: Option<u16>,
        error_type: Option<&str>,
        request_type: RequestType,
        f: impl Fn(&Histogram) -> R,
    ) -> R {
        let mut buf = itoa::Buffer::new();
        let method = normalize_method(method);
        let status = status_code.map(|c| status_label(c, &mut buf));
        let error = match (status_code, status) {
            (Some(c), Some(s)) if c >= 400 => Some(s),
            (Some(_), _) => None,
            (None, _) => Some(error_type.filter(|e| !e.is_empty()).unwrap_or(OTHER)),
        };
        let key = CacheKey {
            kind: 2,
            small: method_code(method)
                | status_code.map_or(0xFFFF, status_code_key) << 8
                | request_type_code(request_type) << 32,
            strs: [
                server_address,
                if status_code.is_some() {
                    ""
                } else {
                    error.unwrap_or("")
                },
                "",
                "",
            ],
        };
        cached(
            self,
            key,
            || {
                let mut labels = vec![
                    (SERVER_ADDRESS, server_address),
                    (HTTP_REQUEST_METHOD, method),
                    (REQUEST_TYPE, request_type.as_str()),
                ];
                labels.extend(status.map(|s| (HTTP_RESPONSE_STATUS_CODE, s)));
                labels.extend(error.map(|e| (ERROR_TYPE, e)));
                self.duration_histogram(HTTP_CLIENT_REQUEST_DURATION, &labels)
            },
            f,
        )
    }

    /// `rpc.server.call.duration` for one RPC system (`grpc`), service, method,
    /// gRPC status code (`None` for systems without one) and request type, through a
    /// per-thread cache.
    pub fn rpc_server_duration(
        &self,
        system: &str,
        service: &str,
        method: &str,
        grpc_status_code: Option<u32>,
        request_type: RequestType,
    ) -> Histogram {
        self.rpc_duration_with(
            3,
            RPC_SERVER_CALL_DURATION,
            None,
            [system, service, method],
            grpc_status_code,
            request_type,
            Histogram::clone,
        )
    }

    /// `rpc.client.call.duration`, as [`Registry::rpc_server_duration`] plus the
    /// peer host (`server.address`).
    pub fn rpc_client_duration(
        &self,
        server_address: &str,
        system: &str,
        service: &str,
        method: &str,
        grpc_status_code: Option<u32>,
        request_type: RequestType,
    ) -> Histogram {
        self.rpc_duration_with(
            4,
            RPC_CLIENT_CALL_DURATION,
            Some(server_address),
            [system, service, method],
            grpc_status_code,
            request_type,
            Histogram::clone,
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn rpc_duration_with<R>(
        &self,
        kind: u8,
        name: &str,
        server_address: Option<&str>,
        [system, service, method]: [&str; 3],
        code: Option<u32>,
        request_type: RequestType,
        f: impl Fn(&Histogram) -> R,
    ) -> R {
        let mut buf = itoa::Buffer::new();
        let key = CacheKey {
            kind,
            small: code.map_or(0, |c| u64::from(c) + 1) | request_type_code(request_type) << 40,
            strs: [server_address.unwrap_or(""), system, service, method],
        };
        let code = code.map(|c| buf.format(c));
        cached(
            self,
            key,
            || {
                let mut labels = vec![
                    (RPC_SYSTEM, system),
                    (RPC_SERVICE, service),
                    (RPC_METHOD, method),
                    (REQUEST_TYPE, request_type.as_str()),
                ];
                labels.extend(server_address.map(|s| (SERVER_ADDRESS, s)));
                labels.extend(code.map(|c| (RPC_GRPC_STATUS_CODE, c)));
                self.duration_histogram(name, &labels)
            },
            f,
        )
    }

    /// `observe.function.duration` for one function, outcome and request type,
    /// through a per-thread cache. The span engine uses [`FunctionMetrics`] instead,
    /// which needs no lookup at all.
    pub fn function_duration(
        &self,
        code_function: &str,
        is_error: bool,
        request_type: RequestType,
    ) -> Histogram {
        self.function_duration_with(code_function, is_error, request_type, Histogram::clone)
    }

    pub(crate) fn function_duration_with<R>(
        &self,
        code_function: &str,
        is_error: bool,
        request_type: RequestType,
        f: impl Fn(&Histogram) -> R,
    ) -> R {
        let outcome = if is_error { "error" } else { "ok" };
        let key = CacheKey {
            kind: 5,
            small: is_error as u64 | request_type_code(request_type) << 1,
            strs: [code_function, "", "", ""],
        };
        cached(
            self,
            key,
            || {
                self.duration_histogram(
                    FUNCTION_DURATION,
                    &[
                        (CODE_FUNCTION, code_function),
                        (OUTCOME, outcome),
                        (REQUEST_TYPE, request_type.as_str()),
                    ],
                )
            },
            f,
        )
    }
}

/// The `observe.function.duration` histograms of one function, resolved lazily in
/// the process-wide registry: meant for a per-callsite `static`, so recording costs
/// no lookup.
///
/// ```
/// use observe_core::metrics::{FunctionMetrics, RequestType};
///
/// static LOAD_ORDER: FunctionMetrics = FunctionMetrics::new("shop::load_order");
///
/// LOAD_ORDER.histogram(false, RequestType::Standard).record(42_000);
/// ```
#[derive(Debug)]
pub struct FunctionMetrics {
    code_function: &'static str,
    handles: [OnceLock<Histogram>; 4],
}

impl FunctionMetrics {
    /// The metrics of the function `code_function` (its path, as `code.function`).
    pub const fn new(code_function: &'static str) -> FunctionMetrics {
        FunctionMetrics {
            code_function,
            handles: [const { OnceLock::new() }; 4],
        }
    }

    /// The histogram for one outcome and request type.
    #[inline]
    pub fn histogram(&self, is_error: bool, request_type: RequestType) -> &Histogram {
        let i = (is_error as usize) | ((request_type == RequestType::TracerBullet) as usize) << 1;
        match self.handles[i].get() {
            Some(h) => h,
            None => self.resolve(i, is_error, request_type),
        }
    }

    #[cold]
    #[inline(never)]
    fn resolve(&self, i: usize, is_error: bool, request_type: RequestType) -> &Histogram {
        self.handles[i].get_or_init(|| {
            let outcome = if is_error { "error" } else { "ok" };
            super::global().duration_histogram(
                FUNCTION_DURATION,
                &[
                    (CODE_FUNCTION, self.code_function),
                    (OUTCOME, outcome),
                    (REQUEST_TYPE, request_type.as_str()),
                ],
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_and_statuses_are_bounded() {
        assert_eq!(normalize_method("GET"), "GET");
        assert_eq!(normalize_method("get"), "_OTHER");
        assert_eq!(normalize_method("BREW"), "_OTHER");
        let mut b = itoa::Buffer::new();
        assert_eq!(status_label(404, &mut b), "404");
        assert_eq!(status_label(0, &mut b), "_OTHER");
        assert_eq!(status_label(1000, &mut b), "_OTHER");
    }

    #[test]
    fn typed_constructors_return_the_same_series_from_the_cache() {
        let r = Registry::new();
        let std = RequestType::Standard;
        let a = r.http_server_duration("/a", "GET", 200, "http", None, std);
        let b = r.http_server_duration("/a", "GET", 200, "http", None, std);
        assert!(std::sync::Arc::ptr_eq(&a.s, &b.s));
        let c = r.http_server_duration("/a", "GET", 200, "http", None, RequestType::TracerBullet);
        assert!(!std::sync::Arc::ptr_eq(&a.s, &c.s));
        let c = r.http_server_duration("/a", "GET", 200, "https", None, std);
        assert!(!std::sync::Arc::ptr_eq(&a.s, &c.s));
        // Another registry never gets this one's handle.
        let r2 = Registry::new();
        let d = r2.http_server_duration("/a", "GET", 200, "http", None, std);
        assert!(!std::sync::Arc::ptr_eq(&a.s, &d.s));
        // From another thread, the same series.
        let r3 = r.clone();
        let e = std::thread::spawn(move || {
            r3.http_server_duration("/a", "GET", 200, "http", None, RequestType::Standard)
        })
        .join()
        .unwrap();
        assert!(std::sync::Arc::ptr_eq(&a.s, &e.s));
        assert!(a.is_duration());
        let labels: Vec<_> = a.labels().collect();
        assert_eq!(
            labels,
            [
                ("http.request.method", "GET"),
                ("http.response.status_code", "200"),
                ("http.route", "/a"),
                ("request_type", "standard"),
                ("url.scheme", "http")
            ]
        );
    }

    #[test]
    fn error_type_follows_the_http_conventions() {
        let r = Registry::new();
        let std = RequestType::Standard;
        let error = |h: Histogram| {
            h.labels()
                .find(|l| l.0 == ERROR_TYPE)
                .map(|l| l.1.to_owned())
        };
        // Server: 5xx is an error, named by its code; 4xx is not.
        assert_eq!(
            error(r.http_server_duration("/a", "GET", 503, "http", None, std)).as_deref(),
            Some("503")
        );
        assert_eq!(
            error(r.http_server_duration("/a", "GET", 404, "http", None, std)),
            None
        );
        assert_eq!(
            error(r.http_server_duration("/a", "GET", 500, "http", Some("panic"), std)).as_deref(),
            Some("500")
        );
        assert_eq!(
            error(r.http_server_duration("/a", "GET", 499, "http", Some("cancelled"), std))
                .as_deref(),
            Some("cancelled")
        );
        let h = r.http_server_duration("/a", "GET", 200, "ftp", None, std);
        assert_eq!(
            h.labels().find(|l| l.0 == URL_SCHEME),
            Some((URL_SCHEME, "_OTHER"))
        );
        let h = r.http_server_duration("/a", "GET", 200, "HTTPS", None, std);
        assert_eq!(
            h.labels().find(|l| l.0 == URL_SCHEME),
            Some((URL_SCHEME, "https"))
        );
        // Client: 4xx and 5xx are errors; no response is `_OTHER` unless named.
        assert_eq!(
            error(r.http_client_duration("api", "GET", Some(404), std)).as_deref(),
            Some("404")
        );
        assert_eq!(
            error(r.http_client_duration("api", "GET", Some(200), std)),
            None
        );
        assert_eq!(
            error(r.http_client_duration("api", "GET", None, std)).as_deref(),
            Some("_OTHER")
        );
        assert_eq!(
            error(r.http_client_duration_failed("api", "GET", "timeout", std)).as_deref(),
            Some("timeout")
        );
    }

    #[test]
    fn client_and_rpc_labels() {
        let r = Registry::new();
        let h = r.http_client_duration(
            "api.example.com",
            "POST",
            Some(200),
            RequestType::TracerBullet,
        );
        let labels: Vec<_> = h.labels().collect();
        assert_eq!(
            labels,
            [
                ("http.request.method", "POST"),
                ("http.response.status_code", "200"),
                ("request_type", "tracer_bullet"),
                ("server.address", "api.example.com")
            ]
        );
        let h = r.rpc_client_duration(
            "10.0.0.1",
            "grpc",
            "helloworld.Greeter",
            "SayHello",
            Some(0),
            RequestType::Standard,
        );
        let labels: Vec<_> = h.labels().collect();
        assert_eq!(
            labels,
            [
                ("request_type", "standard"),
                ("rpc.grpc.status_code", "0"),
                ("rpc.method", "SayHello"),
                ("rpc.service", "helloworld.Greeter"),
                ("rpc.system", "grpc"),
                ("server.address", "10.0.0.1")
            ]
        );
        let h = r.function_duration("shop::load", true, RequestType::Standard);
        assert_eq!(
            h.labels().find(|l| l.0 == "outcome"),
            Some(("outcome", "error"))
        );
    }

    #[test]
    fn a_second_lookup_is_a_cache_hit() {
        let r = Registry::new();
        let std = RequestType::Standard;
        let misses = || MISSES.with(|m| m.get());
        let m0 = misses();
        for _ in 0..3 {
            r.http_server_duration("/hit", "GET", 200, "http", None, std)
                .record(1);
            r.http_server_duration("/hit", "GET", 503, "http", None, std)
                .record(1);
            r.http_client_duration("api", "GET", None, std).record(1);
            r.function_duration("f", false, std).record(1);
        }
        assert_eq!(misses() - m0, 4);
    }

    #[test]
    fn the_cache_is_bounded() {
        let r = Registry::builder().max_keys(10_000).build().unwrap();
        for i in 0..(CACHE_CAPACITY + 10) {
            r.function_duration(&format!("f{i}"), false, RequestType::Standard);
        }
        let len = CACHE.with(|c| c.borrow().len);
        assert!(len <= CACHE_CAPACITY, "{len}");
    }
}
