//! A scoped observe instance recording into memory, the echo service, a tonic server
//! on loopback and observed clients.

use std::pin::Pin;
use std::time::Duration;

use observe_core::Builder;
use observe_core::span::SpanRecord;
use observe_core::testing::{Captured, MemorySink, SharedBuffer};
use observe_core::{DefaultGuard, Observe};
use tokio_stream::{Stream, StreamExt};
use tonic::transport::Server;
use tonic::{Code, Request, Response, Status, Streaming};

#[allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    missing_debug_implementations,
    unreachable_pub
)]
pub(crate) mod proto {
    include!("echo.rs");
}

pub(crate) use proto::Msg;
pub(crate) use proto::echo_client::EchoClient;
pub(crate) use proto::echo_server::{Echo, EchoServer};

/// An observe instance current on this thread (the test's current-thread runtime
/// runs the server and the client, so every call is recorded here), with its spans
/// in memory and its JSON log lines in a buffer.
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

    /// An instance configured by `configure` (the environment is ignored); loopback
    /// is an internal host.
    pub(crate) fn with(configure: impl FnOnce(Builder) -> Builder) -> Harness {
        let (sink, captured) = MemorySink::new();
        let lines = SharedBuffer::default();
        let builder = Observe::builder()
            .ignore_env()
            .service_name("grpc-test")
            .admin_addr(None)
            .log_filter("debug")
            .internal_hosts(["127.0.0.1"])
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

    /// The spans of `kind` named `name`.
    pub(crate) fn spans_of(
        &self,
        name: &str,
        kind: observe_core::span::SpanKind,
    ) -> Vec<SpanRecord> {
        self.spans()
            .into_iter()
            .filter(|s| s.name() == name && s.kind() == kind)
            .collect()
    }

    /// Waits (yielding to the runtime, at most 10 s) until a span of `kind` named
    /// `name` was recorded: a server span ends when the server sees the end of
    /// its call, which may be after the client's `await` returned.
    pub(crate) async fn wait_for(
        &self,
        name: &str,
        kind: observe_core::span::SpanKind,
    ) -> SpanRecord {
        for _ in 0..1000 {
            if let Some(span) = self.spans_of(name, kind).pop() {
                return span;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no {kind:?} span {name:?} in {:?}", self.spans());
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
}

pub(crate) fn attr(span: &SpanRecord, key: &str) -> Option<String> {
    span.attribute(key).map(|v| v.to_string())
}

type MsgStream = Pin<Box<dyn Stream<Item = Result<Msg, Status>> + Send>>;

/// The echo service: `text` says what to do (`panic`, `panic-in-stream`,
/// `endless`), `count` how many messages to stream, `fail` the status code to end
/// with.
#[derive(Debug, Default, Clone)]
pub(crate) struct EchoService;

fn status(code: u32) -> Status {
    Status::new(Code::from(code as i32), "asked to fail")
}

#[tonic::async_trait]
impl Echo for EchoService {
    async fn unary(&self, request: Request<Msg>) -> Result<Response<Msg>, Status> {
        let msg = request.into_inner();
        if msg.text == "panic" {
            panic!("the handler panicked");
        }
        if msg.fail != 0 {
            return Err(status(msg.fail));
        }
        tracing::info!(text = %msg.text, "unary handler");
        let context = observe_core::context::current();
        let request_type = context.map_or("none", |c| c.request_type().as_str());
        Ok(Response::new(Msg {
            text: format!("{} {request_type}", msg.text),
            ..Msg::default()
        }))
    }

    type ServerStreamStream = MsgStream;

    async fn server_stream(&self, request: Request<Msg>) -> Result<Response<MsgStream>, Status> {
        let msg = request.into_inner();
        if msg.text == "endless" {
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            tokio::spawn(async move {
                let _ = tx.send(Ok(Msg::default())).await;
                tx.closed().await;
            });
            return Ok(Response::new(Box::pin(
                tokio_stream::wrappers::ReceiverStream::new(rx),
            )));
        }
        let panic_at = (msg.text == "panic-in-stream").then_some(msg.count);
        let items = (0..msg.count + u32::from(panic_at.is_some())).map(move |i| {
            if Some(i) == panic_at {
                panic!("the stream panicked");
            }
            tracing::info!(i, "streaming");
            Ok(Msg {
                text: i.to_string(),
                ..Msg::default()
            })
        });
        let fail = (msg.fail != 0).then(|| Err(status(msg.fail)));
        let stream = tokio_stream::iter(items).chain(tokio_stream::iter(fail));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn client_stream(
        &self,
        request: Request<Streaming<Msg>>,
    ) -> Result<Response<Msg>, Status> {
        let mut stream = request.into_inner();
        let mut count = 0;
        while let Some(msg) = stream.message().await? {
            count += 1;
            let _ = msg;
        }
        Ok(Response::new(Msg {
            count,
            ..Msg::default()
        }))
    }

    type BidiStream = MsgStream;

    async fn bidi(&self, request: Request<Streaming<Msg>>) -> Result<Response<MsgStream>, Status> {
        let stream = request.into_inner().map(|m| {
            m.map(|m| Msg {
                text: format!("echo {}", m.text),
                ..Msg::default()
            })
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

/// Serves the echo service (and the standard health service) behind `layer` on an
/// ephemeral loopback port; returns `http://127.0.0.1:<port>`.
pub(crate) async fn spawn(layer: observe_tonic::ObserveLayer) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_, health) = tonic_health::server::health_reporter();
    tokio::spawn(async move {
        Server::builder()
            .layer(layer)
            .add_service(EchoServer::new(EchoService))
            .add_service(health)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    format!("http://{addr}")
}

/// An observed client of the echo service at `base`.
pub(crate) fn client(base: &str) -> EchoClient<observe_tonic::client::ObservedChannel> {
    EchoClient::new(observe_tonic::client::connect_lazy(base.to_owned()).unwrap())
}

pub(crate) fn msg(text: &str) -> Msg {
    Msg {
        text: text.into(),
        ..Msg::default()
    }
}

pub(crate) const SERVICE: &str = "observe.test.Echo";
