//! Test support: the Python OTLP receiver, a collector that never answers, an
//! in-process exporter, and an observe instance wired with the export sinks.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use observe_core::config::ExportConfig;
use observe_core::config::Service;
use observe_core::config::{BatchConfig, OtlpExport};
use observe_core::export::Exporter;
use observe_core::recorder::{FlightRecorder, RecorderSettings};
use observe_core::sink::Sink;
use observe_core::testing::{Captured, MemorySink};
use observe_core::{DefaultGuard, Observe};
use serde_json::Value;

pub(crate) fn resource() -> Service {
    Service {
        name: "shop".into(),
        version: "1.4.2".into(),
        environment: Some("test".into()),
        host: "web-1".into(),
        attributes: vec![("cloud.region".into(), "eu-1".into())],
        team: Some("checkout".into()),
        ..Service::default()
    }
}

/// Batches every 50 ms, so tests see records quickly.
pub(crate) fn fast_batches() -> BatchConfig {
    let mut b = BatchConfig::SPANS;
    b.schedule_delay = Duration::from_millis(50);
    b.max_queue_size = 2048;
    b.max_export_batch_size = 256;
    b
}

/// The python with the receiver's packages: the one `scripts/test.sh` prepared
/// (`OBSERVE_TEST_PYTHON`), else a virtualenv created once under the target dir;
/// `None` (after a loud message) when Python or pip are not available.
pub(crate) fn python() -> Option<PathBuf> {
    static PY: OnceLock<Option<PathBuf>> = OnceLock::new();
    PY.get_or_init(|| {
        if let Some(p) = std::env::var_os("OBSERVE_TEST_PYTHON").map(PathBuf::from)
            && p.exists()
        {
            return Some(p);
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/setup-python.sh");
        let venv = concat!(env!("CARGO_TARGET_TMPDIR"), "/otlp-venv");
        let out = Command::new("bash").arg(script).arg(venv).output();
        match out {
            Ok(o) if o.status.success() => Some(PathBuf::from(
                String::from_utf8_lossy(&o.stdout).trim().to_owned(),
            )),
            other => {
                #[allow(clippy::print_stderr)]
                {
                    eprintln!(
                        "\n\n!!!!! SKIPPING OTLP END-TO-END TESTS: python3/pip unavailable \
                         ({other:?}). Install python3 with venv and pip to run them. !!!!!\n"
                    );
                }
                None
            }
        }
    })
    .clone()
}

/// The Python receiver, decoding with opentelemetry-proto.
pub(crate) struct Receiver {
    child: Child,
    _stdin: ChildStdin,
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    pub(crate) grpc_port: i32,
    pub(crate) http_port: i32,
    out: PathBuf,
}

impl Receiver {
    /// Starts a receiver; ports: 0 picks one, -1 disables the transport.
    pub(crate) fn start(grpc_port: i32, http_port: i32, out: Option<PathBuf>) -> Option<Receiver> {
        Receiver::start_with(grpc_port, http_port, out, &[])
    }

    /// Starts a receiver with more arguments (fault injection: `--fail-count`,
    /// `--fail-status`, `--retry-after`).
    pub(crate) fn start_with(
        grpc_port: i32,
        http_port: i32,
        out: Option<PathBuf>,
        args: &[&str],
    ) -> Option<Receiver> {
        let py = python()?;
        let out = out.unwrap_or_else(|| {
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
            dir.join(format!(
                "otlp-{}-{}.jsonl",
                std::process::id(),
                observe_core::TraceId::random()
            ))
        });
        let mut child = Command::new(py)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/otlp_receiver.py"
            ))
            .args(["--out", out.to_str().expect("utf-8 path")])
            .args(["--grpc-port", &grpc_port.to_string()])
            .args(["--http-port", &http_port.to_string()])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the receiver");
        let stdin = child.stdin.take().expect("stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("receiver READY line");
        let mut ports = line
            .trim()
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("unexpected receiver output {line:?}"))
            .split(' ')
            .map(|kv| kv.split('=').nth(1).unwrap().parse::<i32>().unwrap());
        Some(Receiver {
            child,
            _stdin: stdin,
            grpc_port: ports.next().unwrap(),
            http_port: ports.next().unwrap(),
            out,
        })
    }

    pub(crate) fn out_path(&self) -> PathBuf {
        self.out.clone()
    }

    pub(crate) fn http(&self, signal: &str) -> OtlpExport {
        OtlpExport::http(format!("http://127.0.0.1:{}/v1/{signal}", self.http_port))
    }

    #[cfg(feature = "grpc")]
    pub(crate) fn grpc(&self) -> OtlpExport {
        OtlpExport::grpc(format!("http://127.0.0.1:{}", self.grpc_port))
    }

    /// Everything received so far.
    pub(crate) fn records(&self) -> Vec<Value> {
        read_records(&self.out)
    }

    /// Waits (polling, at most `limit`) until `done` holds for what was received.
    pub(crate) fn wait_for(&self, limit: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let until = Instant::now() + limit;
        loop {
            let r = self.records();
            if done(&r) || Instant::now() > until {
                return r;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process (a collector crash).
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn read_records(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("receiver JSON"))
        .collect()
}

pub(crate) fn spans_of(records: &[Value]) -> Vec<&Value> {
    records.iter().filter(|r| r["signal"] == "span").collect()
}

pub(crate) fn logs_of(records: &[Value]) -> Vec<&Value> {
    records.iter().filter(|r| r["signal"] == "log").collect()
}

pub(crate) fn unique_span_ids(records: &[Value]) -> HashSet<String> {
    spans_of(records)
        .iter()
        .map(|s| s["span_id"].as_str().unwrap().to_owned())
        .collect()
}

/// A collector that accepts connections and never answers.
pub(crate) struct Silent {
    pub(crate) port: u16,
    held: Arc<Mutex<Vec<std::net::TcpStream>>>,
}

impl Silent {
    pub(crate) fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let held = Arc::new(Mutex::new(Vec::new()));
        let h = held.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                h.lock().unwrap().push(s);
            }
        });
        Silent { port, held }
    }

    pub(crate) fn connections(&self) -> usize {
        self.held.lock().unwrap().len()
    }
}

/// A port nothing listens on.
pub(crate) fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().unwrap().port()
}

/// An observe instance exporting through `exporter` (and keeping a flight
/// recorder promoting to it), plus a memory sink holding every span produced.
pub(crate) struct Instance {
    pub(crate) guard: Option<DefaultGuard>,
    pub(crate) observe: Option<Observe>,
    pub(crate) captured: Captured,
}

impl Instance {
    pub(crate) fn start(exporter: &Exporter, ratio: f64, shutdown: Duration) -> Instance {
        let recorder = FlightRecorder::new(RecorderSettings {
            resource: resource(),
            ..RecorderSettings::default()
        });
        let (memory, captured) = MemorySink::new();
        let sinks: Vec<Box<dyn Sink>> = vec![
            Box::new(memory),
            Box::new(recorder.sink_promoting_to(exporter.clone())),
            Box::new(exporter.sink()),
        ];
        let observe = observe_core::testing::instance(ratio, sinks, shutdown).expect("instance");
        let guard = observe.set_default();
        Instance {
            guard: Some(guard),
            observe: Some(observe),
            captured,
        }
    }

    pub(crate) fn flush(&self, limit: Duration) -> bool {
        self.observe.as_ref().unwrap().flush(limit)
    }

    /// Shuts down; returns whether it finished in time.
    pub(crate) fn shutdown(&mut self) -> bool {
        self.guard.take();
        self.observe.take().is_none_or(Observe::shutdown)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.shutdown();
    }
}

pub(crate) fn settings(traces: OtlpExport, logs: Option<OtlpExport>) -> ExportConfig {
    ExportConfig {
        traces: Some(traces),
        logs,
        span_batch: fast_batches(),
        log_batch: fast_batches(),
        ..ExportConfig::default()
    }
}
