//! A scoped observe instance recording into memory, and an axum app on loopback.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use observe_core::Builder;
use observe_core::span::SpanRecord;
use observe_core::testing::{Captured, MemorySink, SharedBuffer};
use observe_core::{DefaultGuard, Observe};

/// An observe instance current on this thread (the test's current-thread runtime
/// runs the server, so every request is recorded here), with its spans in memory and
/// its JSON log lines in a buffer.
pub(crate) struct Harness {
    // Field order: the guard goes before the instance shuts down.
    _guard: DefaultGuard,
    pub(crate) observe: Observe,
    pub(crate) captured: Captured,
    pub(crate) lines: SharedBuffer,
}

impl Harness {
    pub(crate) fn new() -> Harness {
        Harness::with(|b| b)
    }

    /// An instance configured by `configure` (the environment is ignored).
    pub(crate) fn with(configure: impl FnOnce(Builder) -> Builder) -> Harness {
        let (sink, captured) = MemorySink::new();
        let lines = SharedBuffer::default();
        let builder = Observe::builder()
            .ignore_env()
            .service_name("http-test")
            .admin_addr(None)
            .log_filter("debug")
            .sink(sink)
            .log_writer(lines.clone());
        let observe = configure(builder)
            .build()
            .expect("valid test configuration")
            .expect("observe enabled");
        let guard = observe.set_default();
        Harness {
            _guard: guard,
            observe,
            captured,
            lines,
        }
    }

    pub(crate) fn flush(&self) {
        assert!(
            self.observe.flush(Duration::from_secs(10)),
            "flush timed out"
        );
    }

    pub(crate) fn spans(&self) -> Vec<SpanRecord> {
        self.flush();
        self.captured.spans()
    }

    /// The one span named `name`.
    pub(crate) fn span(&self, name: &str) -> SpanRecord {
        self.flush();
        self.captured.span(name)
    }

    /// The JSON log lines written so far.
    pub(crate) fn log_lines(&self) -> Vec<serde_json::Value> {
        self.flush();
        self.lines
            .contents()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l:?}: {e}")))
            .collect()
    }

    /// The access-log lines (target `observe::access`).
    pub(crate) fn access_lines(&self) -> Vec<serde_json::Value> {
        self.log_lines()
            .into_iter()
            .filter(|l| l["target"] == "observe::access")
            .collect()
    }
}

/// Serves `router` (the caller adds the layer) on an ephemeral loopback port, with
/// the peer address available to the layer. Returns `http://127.0.0.1:<port>`.
pub(crate) async fn spawn(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}")
}

/// The tests' reqwest settings: no proxy, a timeout.
pub(crate) fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
}

pub(crate) fn client() -> reqwest::Client {
    client_builder().build().unwrap()
}

/// The JSON answer of `GET url`, whatever its status.
pub(crate) async fn get_json(url: String) -> serde_json::Value {
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Trusts the test's loopback callers (their identity and tracer-bullet marker).
pub(crate) fn trust_loopback(b: Builder) -> Builder {
    b.trusted_callers(["loopback"])
}

pub(crate) fn attr(span: &SpanRecord, key: &str) -> Option<String> {
    span.attribute(key).map(|v| v.to_string())
}

pub(crate) const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
pub(crate) const PARENT: &str = "00f067aa0ba902b7";
pub(crate) const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
