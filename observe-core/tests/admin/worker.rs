//! The core's own admin listener, started by `init()` in a program without a Tokio
//! runtime (a worker): each scenario runs in a child process of this test binary,
//! since `init()` is process-wide.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use crate::{client, json};

const SCENARIO: &str = "OBSERVE_ADMIN_SCENARIO";

/// A child process running `scenario` with `env`, its stdin kept open (the child
/// stops when it closes).
pub(crate) struct Worker {
    child: Child,
    /// The lines the child printed before `READY`, then those read by `command`.
    pub(crate) lines: Vec<String>,
    later: mpsc::Receiver<String>,
}

impl Worker {
    pub(crate) fn start(scenario: &str, env: &[(&str, &str)]) -> Worker {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "worker::child",
            "--nocapture",
            "--test-threads=1",
            "--quiet",
        ])
        .env(SCENARIO, scenario)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        for k in observe_core::config::VARIABLES {
            cmd.env_remove(k);
        }
        cmd.env_remove("OBSERVE_DUMP_DIR");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = Vec::new();
        let mut reader = BufReader::new(stdout).lines();
        for line in reader.by_ref() {
            let line = line.unwrap();
            if line == "READY" {
                break;
            }
            lines.push(line);
        }
        // What the child prints later is read as it comes (and the pipe never fills).
        let (tx, later) = mpsc::channel();
        std::thread::spawn(move || {
            for line in reader.map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Worker {
            child,
            lines,
            later,
        }
    }

    /// The `RESULT: ` lines.
    pub(crate) fn results(&self) -> Vec<&str> {
        self.lines
            .iter()
            .filter_map(|l| l.strip_prefix("RESULT: "))
            .collect()
    }

    /// The JSON log lines.
    pub(crate) fn logs(&self) -> Vec<serde_json::Value> {
        self.lines
            .iter()
            .filter(|l| l.starts_with('{'))
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Sends `command` to the child and collects its output up to `DONE`; returns
    /// the `RESULT: ` lines of that output (all lines go to `lines`).
    pub(crate) fn command(&mut self, command: &str) -> Vec<String> {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
        let mut results = Vec::new();
        loop {
            let line = self
                .later
                .recv_timeout(std::time::Duration::from_secs(30))
                .expect("the worker answers");
            if line == "DONE" {
                return results;
            }
            if let Some(r) = line.strip_prefix("RESULT: ") {
                results.push(r.to_owned());
            }
            self.lines.push(line);
        }
    }

    /// Closes the child's stdin and waits for it to finish cleanly.
    pub(crate) fn stop(mut self) {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the worker failed: {status}");
    }
}

/// The child side: `init()` with no runtime in `main`, print what the parent needs,
/// `READY`, then wait for stdin to close.
#[test]
fn child() {
    let Ok(scenario) = std::env::var(SCENARIO) else {
        return;
    };
    #[allow(clippy::print_stdout)]
    let say = |s: String| {
        println!("{s}");
        std::io::stdout().flush().unwrap();
    };
    let guard = if scenario == "beside" {
        // The application installed its own subscriber first: it owns the filter.
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .init();
        observe_core::Observe::builder()
            .init_beside_subscriber()
            .expect("init beside")
    } else {
        observe_core::init().expect("init")
    };
    // The log writer runs on its own thread: let it write the start-up lines.
    assert!(guard.flush(std::time::Duration::from_secs(5)));
    say(format!(
        "RESULT: {:?}",
        observe_core::admin::listener_state()
    ));
    if scenario == "traces" {
        // One ordinary trace with a log line, one failed trace with a child.
        let ok = observe_core::span::Span::builder("GET /orders/{id}")
            .attribute("http.request.method", "GET")
            .start();
        ok.in_scope(|| tracing::info!(order = 17, "loading the order"));
        say(format!("TRACE ok {}", ok.span_context().unwrap().trace_id));
        ok.end();
        let failed = observe_core::span::Span::new("POST /pay");
        failed.in_scope(|| {
            let child = observe_core::span::Span::new("charge card");
            child.set_error("card declined");
            child.end();
            tracing::warn!("payment failed");
        });
        failed.set_error("payment failed");
        say(format!(
            "TRACE failed {}",
            failed.span_context().unwrap().trace_id
        ));
        failed.end();
        assert!(guard.flush(std::time::Duration::from_secs(5)));
    }
    if scenario == "health" {
        let flag = std::env::var("HEALTH_FLAG").unwrap();
        observe_core::health::register("flag", move || {
            if std::path::Path::new(&flag).exists() {
                Ok(())
            } else {
                Err(format!("{flag} is missing"))
            }
        });
        observe_core::health::register_async("async", || async { Ok(()) });
    }
    if scenario == "stop" {
        drop(guard);
        say(format!(
            "RESULT: after drop {:?}",
            observe_core::admin::listener_state()
        ));
        say("READY".into());
        return;
    }
    say("READY".into());
    // Commands until stdin closes.
    for line in std::io::stdin().lines().map_while(Result::ok) {
        let (command, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        match command {
            "hang" => {
                observe_core::health::register_with_timeout(
                    "hung",
                    std::time::Duration::from_millis(50),
                    || {
                        std::thread::sleep(std::time::Duration::from_secs(3));
                        Ok(())
                    },
                );
            }
            "log" => {
                tracing::debug!(target: "worker", "a debug line");
                tracing::info!(target: "worker", "an info line");
            }
            "traced" => {
                let recorded = debug_work();
                say(format!("RESULT: debug span recorded={recorded}"));
            }
            "span" => {
                let span = observe_core::span::Span::new(arg.to_owned());
                let sampled = span.span_context().unwrap().flags.is_sampled();
                say(format!("RESULT: sampled={sampled}"));
            }
            _ => {}
        }
        assert!(guard.flush(std::time::Duration::from_secs(5)));
        say("DONE".into());
    }
    drop(guard);
}

/// A `#[traced]` function at DEBUG: whether its span is recorded (enabled) under
/// the filter in force.
#[observe_core::traced(level = "debug")]
fn debug_work() -> bool {
    observe_core::span::current_context().is_some()
}

impl Worker {
    /// The value of the `KEY value` line printed before `READY`.
    pub(crate) fn said(&self, key: &str) -> &str {
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {key} in {:?}", self.lines))
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

pub(crate) fn listening(worker: &Worker) -> std::net::SocketAddr {
    let state = worker.results()[0];
    let addr = state
        .strip_prefix("Listening(")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not listening: {state}"));
    addr.parse().unwrap()
}

#[tokio::test]
async fn init_serves_the_admin_api_from_its_own_thread_without_a_runtime_in_main() {
    let worker = Worker::start("serve", &[("OBSERVE_ADMIN_ADDR", "127.0.0.1:0")]);
    let addr = listening(&worker);
    let response = client()
        .get(format!("http://{addr}/observe/api/v1/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    json(response).await;
    let scrape = client()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(scrape.contains("target_info"), "{scrape}");
    // The Host check is there too.
    let foreign = client()
        .get(format!("http://{addr}/metrics"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 421);
    let info = worker
        .logs()
        .into_iter()
        .find(|l| l["target"] == "observe::admin")
        .expect("a line saying where the admin listener is");
    assert_eq!(info["level"], "INFO");
    assert!(
        info["message"]
            .as_str()
            .unwrap()
            .contains(&addr.to_string()),
        "{info}"
    );
    worker.stop();
}

#[test]
fn an_address_in_use_is_a_warning_and_the_program_runs_on() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let worker = Worker::start("serve", &[("OBSERVE_ADMIN_ADDR", &addr)]);
    let state = worker.results()[0].to_owned();
    assert!(state.starts_with("Failed {"), "{state}");
    assert!(state.contains(&addr), "{state}");
    assert!(state.contains("AddrInUse"), "{state}");
    let warning = worker
        .logs()
        .into_iter()
        .find(|l| l["target"] == "observe::admin" && l["level"] == "WARN")
        .expect("a warning");
    let message = warning["message"].as_str().unwrap();
    assert!(message.contains(&addr), "{message}");
    assert!(message.contains("OBSERVE_ADMIN_ADDR"), "{message}");
    worker.stop();
}

#[test]
fn off_starts_nothing_and_dropping_the_guard_stops_it() {
    let worker = Worker::start("serve", &[("OBSERVE_ADMIN_ADDR", "off")]);
    assert_eq!(worker.results(), ["Off"]);
    worker.stop();

    let worker = Worker::start("stop", &[("OBSERVE_ADMIN_ADDR", "127.0.0.1:0")]);
    let results = worker.results();
    assert!(results[0].starts_with("Listening("), "{results:?}");
    assert_eq!(results[1], "after drop Off");
    worker.stop();
}

#[tokio::test]
async fn a_non_loopback_address_logs_a_warning() {
    let worker = Worker::start("serve", &[("OBSERVE_ADMIN_ADDR", "0.0.0.0:0")]);
    let addr = listening(&worker);
    let local = std::net::SocketAddr::from(([127, 0, 0, 1], addr.port()));
    let response = client()
        .get(format!("http://{local}/observe/api/v1/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let warning = worker
        .logs()
        .into_iter()
        .find(|l| l["target"] == "observe::admin" && l["level"] == "WARN")
        .expect("a warning about the non-loopback admin listener");
    assert!(
        warning["message"]
            .as_str()
            .unwrap()
            .contains("reachable from other machines"),
        "{warning}"
    );
    worker.stop();
}
