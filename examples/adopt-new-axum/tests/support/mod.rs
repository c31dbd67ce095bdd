//! What the adopter examples' tests share: run a service as an operator would (a
//! clean environment, a request, SIGTERM) and read what it printed.

#![allow(dead_code)]
// The test harness has no request context to lose.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The program with a clean environment: no variable of the machine running the
/// test (an `OTEL_*` or `OBSERVE_*` one would change what it prints), the service
/// and admin listeners on free ports.
pub fn command(program: &str) -> Command {
    let mut c = Command::new(program);
    c.env_clear()
        .env("ADDR", "127.0.0.1:0")
        .env("OBSERVE_ADMIN_ADDR", "127.0.0.1:0")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// What a run printed.
pub struct Run {
    pub stdout: Vec<String>,
    pub stderr: String,
    pub response: String,
}

/// Starts the service, waits for its "listening on" line, sends `GET path`, stops
/// it with SIGTERM and returns everything it printed. Panics when it exits with
/// an error.
pub fn serve_one_request(mut command: Command, path: &str) -> Run {
    let mut child = command.spawn().expect("start the service");
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut lines = Vec::new();
    let addr = loop {
        // A generous bound so that a broken service fails the test instead of
        // hanging it; no assertion is made on how long it took.
        let line = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "no `listening on` line; printed:\n{}\n{}",
                    lines.join("\n"),
                    err_reader.join().unwrap()
                );
            }
        };
        let addr = line.split_once("listening on http://").map(|(_, rest)| {
            rest.split(|c: char| c == '"' || c.is_whitespace())
                .next()
                .unwrap()
                .to_owned()
        });
        lines.push(line);
        if let Some(addr) = addr {
            break addr;
        }
    };
    let mut stream = TcpStream::connect(&addr).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    let stderr = err_reader.join().unwrap();
    assert!(
        status.success(),
        "exit {status:?}\n{}\n{stderr}",
        lines.join("\n")
    );
    Run {
        stdout: lines.iter().map(|l| strip_ansi(l)).collect(),
        stderr,
        response,
    }
}

/// Runs the program with `OTEL_TRACES_SAMPLER_ARG=1.5` and returns its exit
/// success and standard error.
pub fn with_a_bad_variable(mut command: Command) -> (bool, String) {
    let out = command
        .env("OTEL_TRACES_SAMPLER_ARG", "1.5")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The JSON lines among `lines` (every line, when observe writes them).
pub fn json(lines: &[String]) -> Vec<serde_json::Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

/// Terminal colour codes taken out, in case the subscriber writes them.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
