//! Plays the W3C Trace Context test suite (`w3c/trace-context`, `test/test.py`, at
//! its default strict level 2) against the conformance service, case by case and in
//! the suite's order (the suite itself cannot be fetched here). Requests are written
//! byte for byte on a TCP connection, as the suite's harness sends them (header
//! names in any case, repeated headers, empty values); a harness server records the
//! calls the service makes, and each one is read the way the suite reads it: exactly
//! one `traceparent` in the suite's format, and a `tracestate` every member of which
//! the suite's own parser accepts.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::Path;
use axum::routing::post;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

struct Service {
    child: Child,
    addr: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_service() -> Service {
    let mut child = Command::new(env!("CARGO_BIN_EXE_w3c-conformance"))
        .args(["--addr", "127.0.0.1:0"])
        .env("OBSERVE_ADMIN_ADDR", "off")
        .env("OBSERVE_LOG_FORMAT", "json")
        .env("OBSERVE_LOG_OUTPUT", "stdout")
        .env("RUST_LOG", "info")
        .env_remove("OTEL_SDK_DISABLED")
        .env_remove("OBSERVE_INTERNAL_HOSTS")
        .env_remove("OBSERVE_INBOUND_CONTEXT")
        .env_remove("OTEL_TRACES_SAMPLER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let marker = r#""message":"listening on "#;
    for _ in 0..50 {
        line.clear();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(at) = line.find(marker) {
            let rest = &line[at + marker.len()..];
            let base = &rest[..rest.find('"').unwrap()];
            let addr = base.trim_start_matches("http://").to_owned();
            // Keep draining its output so it never blocks on a full pipe.
            #[allow(clippy::disallowed_methods)] // test plumbing, no request context
            std::thread::spawn(move || for _ in stdout.lines() {});
            return Service { child, addr };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the service did not say where it listens");
}

/// The calls the harness received: (callback index, headers, body).
type Seen = Arc<Mutex<Vec<(usize, Vec<(String, String)>, serde_json::Value)>>>;

/// The harness: records the headers (in order, as received) and body of every call.
async fn harness() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = Router::new().route(
        "/callback/{idx}",
        post(
            move |Path(idx): Path<usize>, headers: http::HeaderMap, body: String| {
                let record = record.clone();
                async move {
                    let body = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
                    let headers = headers
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.as_str().to_owned(),
                                String::from_utf8_lossy(v.as_bytes()).into_owned(),
                            )
                        })
                        .collect();
                    record.lock().unwrap().push((idx, headers, body));
                    "null"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    #[allow(clippy::disallowed_methods)] // the server itself: no request context to carry
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/callback"), seen)
}

struct Suite {
    service: Service,
    callback: String,
    seen: Seen,
}

/// What the harness received in one callback: its headers.
struct Callback(Vec<(String, String)>);

/// A `traceparent` as the suite's `Traceparent.from_string` reads it.
#[derive(Debug)]
struct Traceparent {
    trace_id: String,
    parent_id: String,
    flags: String,
}

impl Callback {
    fn values(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Exactly one `traceparent` (`get_traceparent` asserts it), of version 00,
    /// lowercase hex, ids not zero (`Traceparent.from_string` raises otherwise).
    fn traceparent(&self) -> Traceparent {
        let values = self.values("traceparent");
        assert_eq!(values.len(), 1, "expect one traceparent header: {values:?}");
        let parts: Vec<&str> = values[0].split('-').collect();
        let hex = |s: &str, n: usize| {
            s.len() == n
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        assert!(
            parts.len() == 4
                && parts[0] == "00"
                && hex(parts[1], 32)
                && hex(parts[2], 16)
                && hex(parts[3], 2),
            "{values:?}"
        );
        assert_ne!(parts[1], "0".repeat(32));
        assert_ne!(parts[2], "0".repeat(16));
        Traceparent {
            trace_id: parts[1].to_owned(),
            parent_id: parts[2].to_owned(),
            flags: parts[3].to_owned(),
        }
    }

    /// Every `tracestate` header, read as the suite's `Tracestate.from_string`
    /// reads it: members split on `OWS "," OWS`, each must match the suite's
    /// key/value grammar (it raises otherwise), the first of a duplicated key wins.
    fn tracestate(&self) -> Vec<(String, String)> {
        let mut members: Vec<(String, String)> = Vec::new();
        for value in self.values("tracestate") {
            for member in value.split(',').map(|m| m.trim_matches([' ', '\t'])) {
                if member.is_empty() {
                    continue;
                }
                let (key, value) = member
                    .split_once('=')
                    .unwrap_or_else(|| panic!("illegal key-value format {member:?}"));
                assert!(suite_key(key), "illegal key {key:?}");
                assert!(suite_value(value), "illegal value {value:?}");
                if !members.iter().any(|(k, _)| k == key) {
                    members.push((key.to_owned(), value.to_owned()));
                }
            }
        }
        members
    }

    fn tracestate_get(&self, key: &str) -> Option<String> {
        self.tracestate()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    fn tracestate_string(&self) -> String {
        self.tracestate()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The suite's key format: `[a-z][_0-9a-z\-\*\/]{0,255}` or
/// `[0-9a-z][_0-9a-z\-\*\/]{0,240}@[a-z][_0-9a-z\-\*\/]{0,13}`.
fn suite_key(key: &str) -> bool {
    let chars = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*/".contains(&b))
    };
    match key.split_once('@') {
        None => {
            (1..=256).contains(&key.len()) && key.as_bytes()[0].is_ascii_lowercase() && chars(key)
        }
        Some((tenant, system)) => {
            (1..=241).contains(&tenant.len())
                && chars(tenant)
                && (1..=14).contains(&system.len())
                && system.as_bytes()[0].is_ascii_lowercase()
                && chars(system)
        }
    }
}

/// The suite's value format: `[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}` then one of
/// `[\x21-\x2b\x2d-\x3c\x3e-\x7e]`.
fn suite_value(value: &str) -> bool {
    (1..=256).contains(&value.len())
        && value
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
        && !value.ends_with(' ')
}

impl Suite {
    /// `make_request`: the harness sends `headers` (raw, in order) to the service's
    /// `/test` with `count` callbacks, and returns what each callback received.
    async fn request(&self, headers: &[(&str, &str)], count: usize) -> Vec<Callback> {
        self.seen.lock().unwrap().clear();
        let cases: Vec<_> = (0..count)
            .map(|i| serde_json::json!({"url": format!("{}/{i}", self.callback), "arguments": []}))
            .collect();
        let body = serde_json::to_string(&cases).unwrap();
        let mut request = format!(
            "POST /test HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.service.addr,
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        let mut stream = tokio::net::TcpStream::connect(&self.service.addr)
            .await
            .unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        let response = String::from_utf8_lossy(&response);
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "{headers:?}: {response}"
        );
        let mut seen = self.seen.lock().unwrap().clone();
        seen.sort_by_key(|(idx, _, _)| *idx);
        assert_eq!(
            seen.iter().map(|(idx, _, _)| *idx).collect::<Vec<_>>(),
            (0..count).collect::<Vec<_>>(),
            "one callback per entry, {headers:?}"
        );
        for (_, _, body) in &seen {
            assert_eq!(body, &serde_json::json!([]), "arguments are sent as JSON");
        }
        seen.into_iter().map(|(_, h, _)| Callback(h)).collect()
    }

    /// `make_single_request_and_get_tracecontext`.
    async fn single(&self, headers: &[(&str, &str)]) -> Callback {
        self.request(headers, 1).await.remove(0)
    }
}

const TRACE: &str = "12345678901234567890123456789012";
const PARENT: &str = "1234567890123456";
const TP00: &str = "00-12345678901234567890123456789012-1234567890123456-00";
const TP01: &str = "00-12345678901234567890123456789012-1234567890123456-01";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_passes_every_case_of_the_w3c_suite_at_strict_level_2() {
    let (callback, seen) = harness().await;
    let suite = Suite {
        service: start_service(),
        callback,
        seen,
    };
    trace_context_test(&suite).await;
    trace_context_test_tracestate(&suite).await;
    advanced_test(&suite).await;
}

/// `TraceContextTest`, the `traceparent` cases.
async fn trace_context_test(s: &Suite) {
    // test_both_traceparent_and_tracestate_missing
    let c = s.single(&[]).await;
    c.traceparent();
    assert!(c.values("tracestate").is_empty());

    // test_traceparent_included_tracestate_missing
    let tp = s.single(&[("traceparent", TP01)]).await.traceparent();
    assert_eq!(tp.trace_id, TRACE);
    assert_ne!(tp.parent_id, PARENT, "the service is a participant");
    assert_eq!(tp.flags, "01", "the caller's sampled flag is kept");
    let tp = s.single(&[("traceparent", TP00)]).await.traceparent();
    assert_eq!((tp.trace_id.as_str(), tp.flags.as_str()), (TRACE, "00"));

    // test_traceparent_duplicated
    let tp = s
        .single(&[
            (
                "traceparent",
                "00-12345678901234567890123456789011-1234567890123456-01",
            ),
            ("traceparent", TP01),
        ])
        .await
        .traceparent();
    assert_ne!(tp.trace_id, "12345678901234567890123456789011");
    assert_ne!(tp.trace_id, TRACE);

    // test_traceparent_header_name
    for name in ["trace-parent", "trace.parent"] {
        let tp = s.single(&[(name, TP01)]).await.traceparent();
        assert_ne!(tp.trace_id, TRACE, "{name}");
    }

    // test_traceparent_header_name_valid_casing
    for name in ["TraceParent", "TrAcEpArEnT", "TRACEPARENT"] {
        let tp = s.single(&[(name, TP01)]).await.traceparent();
        assert_eq!(tp.trace_id, TRACE, "{name}");
    }

    // A new trace id for each of these (test_traceparent_version_0x00,
    // ..._version_0xcc (the last case), ..._version_0xff,
    // ..._version_illegal_characters, ..._version_too_long, ..._version_too_short,
    // ..._trace_id_illegal_characters, ..._trace_id_too_long, ..._trace_id_too_short,
    // ..._parent_id_all_zero, ..._parent_id_illegal_characters,
    // ..._parent_id_too_long, ..._parent_id_too_short,
    // ..._trace_flags_illegal_characters, ..._trace_flags_too_long,
    // ..._trace_flags_too_short).
    let restart = [
        "00-12345678901234567890123456789012-1234567890123456-01.",
        "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
        "cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like",
        "ff-12345678901234567890123456789012-1234567890123456-01",
        ".0-12345678901234567890123456789012-1234567890123456-01",
        "0.-12345678901234567890123456789012-1234567890123456-01",
        "000-12345678901234567890123456789012-1234567890123456-01",
        "0000-12345678901234567890123456789012-1234567890123456-01",
        "0-12345678901234567890123456789012-1234567890123456-01",
        "00-.2345678901234567890123456789012-1234567890123456-01",
        "00-1234567890123456789012345678901.-1234567890123456-01",
        "00-1234567890123456789012345678901-1234567890123456-01",
        "00-12345678901234567890123456789012-0000000000000000-01",
        "00-12345678901234567890123456789012-.234567890123456-01",
        "00-12345678901234567890123456789012-123456789012345.-01",
        "00-12345678901234567890123456789012-12345678901234567-01",
        "00-12345678901234567890123456789012-123456789012345-01",
        "00-12345678901234567890123456789012-1234567890123456-.0",
        "00-12345678901234567890123456789012-1234567890123456-0.",
        "00-12345678901234567890123456789012-1234567890123456-001",
        "00-12345678901234567890123456789012-1234567890123456-1",
        // Not in the suite, same rule: uppercase hex is invalid.
        "00-1234567890123456789012345678901A-1234567890123456-01",
    ];
    for value in restart {
        let tp = s.single(&[("traceparent", value)]).await.traceparent();
        assert_ne!(tp.trace_id, TRACE, "{value:?} restarts the trace");
    }

    // test_traceparent_version_0xcc: a future version is continued.
    for value in [
        "cc-12345678901234567890123456789012-1234567890123456-01",
        "cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
    ] {
        let tp = s.single(&[("traceparent", value)]).await.traceparent();
        assert_eq!(tp.trace_id, TRACE, "{value:?}");
    }

    // test_traceparent_trace_id_all_zero
    let tp = s
        .single(&[(
            "traceparent",
            "00-00000000000000000000000000000000-1234567890123456-01",
        )])
        .await
        .traceparent();
    assert_ne!(tp.trace_id, "0".repeat(32));

    // test_traceparent_trace_id_too_long: neither the 33 digits nor either 32.
    let tp = s
        .single(&[(
            "traceparent",
            "00-123456789012345678901234567890123-1234567890123456-01",
        )])
        .await
        .traceparent();
    assert_ne!(tp.trace_id, TRACE);
    assert_ne!(tp.trace_id, "23456789012345678901234567890123");

    // test_traceparent_ows_handling (HTTP removes whitespace around a value before
    // the service sees it; the parser ignores it too).
    for value in [
        " 00-12345678901234567890123456789012-1234567890123456-01",
        "\t00-12345678901234567890123456789012-1234567890123456-01",
        "00-12345678901234567890123456789012-1234567890123456-01 ",
        "00-12345678901234567890123456789012-1234567890123456-01\t",
        "\t 00-12345678901234567890123456789012-1234567890123456-01 \t",
    ] {
        let tp = s.single(&[("traceparent", value)]).await.traceparent();
        assert_eq!(tp.trace_id, TRACE, "{value:?}");
    }
}

/// `TraceContextTest`, the `tracestate` cases.
async fn trace_context_test_tracestate(s: &Suite) {
    // test_tracestate_included_traceparent_missing: discarded either way.
    let one = s.single(&[("tracestate", "foo=1")]).await;
    let two = s.single(&[("tracestate", "foo=1,bar=2")]).await;
    assert_eq!(one.tracestate().len(), two.tracestate().len());
    assert!(one.tracestate().is_empty());

    // test_tracestate_included_traceparent_included
    let c = s
        .single(&[("traceparent", TP00), ("tracestate", "foo=1,bar=2")])
        .await;
    assert_eq!(c.traceparent().trace_id, TRACE);
    assert_eq!(c.tracestate_get("foo").as_deref(), Some("1"));
    assert_eq!(c.tracestate_get("bar").as_deref(), Some("2"));

    // test_tracestate_header_name
    for name in ["trace-state", "trace.state"] {
        let c = s.single(&[("traceparent", TP00), (name, "foo=1")]).await;
        assert_eq!(c.tracestate_get("foo"), None, "{name}");
    }

    // test_tracestate_header_name_valid_casing
    for name in ["TraceState", "TrAcEsTaTe", "TRACESTATE"] {
        let c = s.single(&[("traceparent", TP00), (name, "foo=1")]).await;
        assert_eq!(c.tracestate_get("foo").as_deref(), Some("1"), "{name}");
    }

    // test_tracestate_empty_header
    let c = s.single(&[("traceparent", TP00), ("tracestate", "")]).await;
    assert_eq!(c.traceparent().trace_id, TRACE);
    assert!(
        c.values("tracestate").iter().all(|v| !v.is_empty()),
        "an empty tracestate is not sent"
    );
    for headers in [
        [
            ("traceparent", TP00),
            ("tracestate", "foo=1"),
            ("tracestate", ""),
        ],
        [
            ("traceparent", TP00),
            ("tracestate", ""),
            ("tracestate", "foo=1"),
        ],
    ] {
        let c = s.single(&headers).await;
        assert_eq!(c.traceparent().trace_id, TRACE);
        assert_eq!(c.tracestate_get("foo").as_deref(), Some("1"), "{headers:?}");
    }

    // test_tracestate_multiple_headers_different_keys
    let c = s
        .single(&[
            ("traceparent", TP00),
            ("tracestate", "foo=1,bar=2"),
            ("tracestate", "rojo=1,congo=2"),
            ("tracestate", "baz=3"),
        ])
        .await;
    assert_eq!(c.traceparent().trace_id, TRACE);
    assert_eq!(c.tracestate_string(), "foo=1,bar=2,rojo=1,congo=2,baz=3");

    // test_tracestate_duplicated_keys (strict)
    for headers in [
        &[("traceparent", TP00), ("tracestate", "foo=1,foo=1")][..],
        &[("traceparent", TP00), ("tracestate", "foo=1,foo=2")],
        &[
            ("traceparent", TP00),
            ("tracestate", "foo=1"),
            ("tracestate", "foo=1"),
        ],
        &[
            ("traceparent", TP00),
            ("tracestate", "foo=1"),
            ("tracestate", "foo=2"),
        ],
    ] {
        let c = s.single(headers).await;
        assert_eq!(c.traceparent().trace_id, TRACE);
        assert_eq!(c.tracestate_get("foo"), None, "{headers:?}");
    }

    // test_tracestate_all_allowed_characters
    let key_without_vendor = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
    let key_with_vendor = format!("{key_without_vendor}@a-z0-9_-*/");
    let value: String = (0x20u8..=0x2b)
        .chain(0x2d..=0x3c)
        .chain(0x3e..=0x7e)
        .map(char::from)
        .collect();
    for key in [key_without_vendor, key_with_vendor.as_str()] {
        let member = format!("{key}={value}");
        let c = s
            .single(&[("traceparent", TP00), ("tracestate", &member)])
            .await;
        assert_eq!(
            c.tracestate_get(key).as_deref(),
            Some(value.as_str()),
            "{key}"
        );
    }

    // test_tracestate_ows_handling
    for value in [
        "foo=1 \t , \t bar=2, \t baz=3",
        "foo=1\t \t,\t \tbar=2,\t \tbaz=3",
    ] {
        let c = s
            .single(&[("traceparent", TP00), ("tracestate", value)])
            .await;
        assert_eq!(c.tracestate_string(), "foo=1,bar=2,baz=3", "{value:?}");
    }
    for value in [" foo=1", "\tfoo=1", "foo=1 ", "foo=1\t", "\t foo=1 \t"] {
        let c = s
            .single(&[("traceparent", TP00), ("tracestate", value)])
            .await;
        assert_eq!(c.traceparent().trace_id, TRACE);
        assert_eq!(c.tracestate_get("foo").as_deref(), Some("1"), "{value:?}");
    }

    // test_tracestate_key_illegal_characters (strict)
    for (value, key) in [
        ("foo =1", "foo "),
        ("FOO=1", "FOO"),
        ("foo.bar=1", "foo.bar"),
    ] {
        let c = s
            .single(&[("traceparent", TP00), ("tracestate", value)])
            .await;
        assert_eq!(c.tracestate_get(key), None, "{value:?}");
        assert!(c.tracestate().is_empty(), "{value:?}: discarded");
    }

    // test_tracestate_key_illegal_vendor_format (strict)
    for value in [
        "foo@=1,bar=2",
        "@foo=1,bar=2",
        "foo@@bar=1,bar=2",
        "foo@bar@baz=1,bar=2",
    ] {
        let c = s
            .single(&[("traceparent", TP00), ("tracestate", value)])
            .await;
        assert_eq!(c.tracestate_get("bar"), None, "{value:?}");
    }

    // test_tracestate_member_count_limit (strict): 32 kept, 33 discarded.
    let lines = [
        "bar01=01,bar02=02,bar03=03,bar04=04,bar05=05,bar06=06,bar07=07,bar08=08,bar09=09,bar10=10",
        "bar11=11,bar12=12,bar13=13,bar14=14,bar15=15,bar16=16,bar17=17,bar18=18,bar19=19,bar20=20",
        "bar21=21,bar22=22,bar23=23,bar24=24,bar25=25,bar26=26,bar27=27,bar28=28,bar29=29,bar30=30",
    ];
    let mut headers = vec![("traceparent", TP00)];
    headers.extend(lines.iter().map(|l| ("tracestate", *l)));
    let mut with_32 = headers.clone();
    with_32.push(("tracestate", "bar31=31,bar32=32"));
    let c = s.single(&with_32).await;
    assert_eq!(c.tracestate_get("bar01").as_deref(), Some("01"));
    assert_eq!(c.tracestate().len(), 32);
    let mut with_33 = headers;
    with_33.push(("tracestate", "bar31=31,bar32=32,bar33=33"));
    let c = s.single(&with_33).await;
    assert_eq!(c.tracestate_get("bar01"), None);

    // test_tracestate_key_length_limit (strict)
    let z256 = format!("{}=1", "z".repeat(256));
    let z257 = format!("{}=1", "z".repeat(257));
    let t241 = format!("{}@{}=1", "t".repeat(241), "v".repeat(14));
    let t242 = format!("{}@v=1", "t".repeat(242));
    let v15 = format!("t@{}=1", "v".repeat(15));
    for (member, kept) in [
        (&z256, true),
        (&z257, false),
        (&t241, true),
        (&t242, false),
        (&v15, false),
    ] {
        let c = s
            .single(&[
                ("traceparent", TP00),
                ("tracestate", "foo=1"),
                ("tracestate", member),
            ])
            .await;
        assert_eq!(c.tracestate_get("foo").is_some(), kept, "{member}");
    }

    // test_tracestate_value_illegal_characters (strict)
    let c = s
        .single(&[("traceparent", TP00), ("tracestate", "foo=bar=baz")])
        .await;
    assert_eq!(c.tracestate_get("foo"), None);
    let c = s
        .single(&[("traceparent", TP00), ("tracestate", "foo=,bar=3")])
        .await;
    assert_eq!(c.tracestate_get("foo"), None);
    assert_eq!(c.tracestate_get("bar"), None);

    // Not in the suite: a huge tracestate is read only up to its limit; the
    // members within the first 512 characters are continued.
    let huge = format!("foo=1{}", ",k=v".repeat(60_000));
    let c = s
        .single(&[("traceparent", TP00), ("tracestate", &huge)])
        .await;
    assert_eq!(c.traceparent().trace_id, TRACE);
    assert!(
        c.tracestate().is_empty(),
        "k is duplicated within 512 characters"
    );
}

/// `AdvancedTest`.
async fn advanced_test(s: &Suite) {
    // test_multiple_requests_with_valid_traceparent
    let calls = s.request(&[("traceparent", TP01)], 3).await;
    let tps: Vec<Traceparent> = calls.iter().map(Callback::traceparent).collect();
    assert!(tps.iter().all(|tp| tp.trace_id == TRACE));
    let mut parents: Vec<&str> = tps.iter().map(|tp| tp.parent_id.as_str()).collect();
    parents.sort_unstable();
    parents.dedup();
    assert_eq!(parents.len(), 3, "one client span per call");

    // test_multiple_requests_without_traceparent
    let calls = s.request(&[], 3).await;
    let mut parents: Vec<String> = calls.iter().map(|c| c.traceparent().parent_id).collect();
    parents.sort_unstable();
    parents.dedup();
    assert_eq!(parents.len(), 3);

    // test_multiple_requests_with_illegal_traceparent
    let calls = s
        .request(
            &[(
                "traceparent",
                "00-00000000000000000000000000000000-1234567890123456-01",
            )],
            3,
        )
        .await;
    let tps: Vec<Traceparent> = calls.iter().map(Callback::traceparent).collect();
    assert!(tps.iter().all(|tp| tp.trace_id != "0".repeat(32)));
    let mut parents: Vec<&str> = tps.iter().map(|tp| tp.parent_id.as_str()).collect();
    parents.sort_unstable();
    parents.dedup();
    assert_eq!(parents.len(), 3);
}
