//! A real Prometheus server scrapes the text: the test serves it on a loopback port,
//! starts `prometheus` with a temporary config and data directory on another
//! loopback port, waits (bounded) for a scrape, and queries `up` and a series.
//! Skips, loudly, only when the `prometheus` binary is not installed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::exposition::realistic_registry;

/// Kills the server and removes the directory however the test ends.
struct Cleanup {
    child: Option<Child>,
    dir: PathBuf,
    stop: Arc<AtomicBool>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A free loopback port (the listener is closed before the port is handed out).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A minimal HTTP/1.1 GET over a fresh connection; returns the body.
fn http_get(port: u16, path_and_query: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        // Decode chunked bodies.
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            if n == 0 {
                break;
            }
            out.push_str(tail.get(..n)?);
            rest = tail.get(n + 2..)?;
        }
        return Some(out);
    }
    Some(body.to_owned())
}

fn query(port: u16, promql: &str) -> Option<serde_json::Value> {
    let q: String = promql
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let body = http_get(port, &format!("/api/v1/query?query={q}"))?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    let result = v.get("data")?.get("result")?.as_array()?.first()?.clone();
    Some(result)
}

fn sample_value(result: &serde_json::Value) -> Option<f64> {
    result.get("value")?.get(1)?.as_str()?.parse().ok()
}

#[test]
fn a_real_prometheus_scrapes_the_text() {
    let binary = ["/usr/bin/prometheus", "prometheus"].into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    });
    let Some(binary) = binary else {
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "\n\n*** SKIPPED a_real_prometheus_scrapes_the_text: `prometheus` not found (apt-get install prometheus) ***\n\n"
            );
        }
        return;
    };

    let text = Arc::new(realistic_registry().prometheus_text());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let target_port = listener.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let scrapes = Arc::new(AtomicU64::new(0));
    {
        let (stop, scrapes, text) = (stop.clone(), scrapes.clone(), text.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(40);
            while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        let _ = conn.set_nonblocking(false);
                        let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                        let mut reader = BufReader::new(conn.try_clone().unwrap());
                        let mut line = String::new();
                        // Read the request head.
                        while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                            if line == "\r\n" {
                                break;
                            }
                            line.clear();
                        }
                        let _ = write!(
                            conn,
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                            text.len(),
                            text
                        );
                        scrapes.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
    }

    let dir = std::env::temp_dir().join(format!(
        "observe-prom-{}-{}",
        std::process::id(),
        target_port
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cleanup = Cleanup {
        child: None,
        dir: dir.clone(),
        stop,
    };
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: observe\n    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
        ),
    )
    .unwrap();

    // The server's own port may be taken between our probe and its bind: retry once.
    let mut prom_port = 0;
    for _attempt in 0..2 {
        prom_port = free_port();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts");
        cleanup.child = Some(child);
        let up = Instant::now() + Duration::from_secs(8);
        while Instant::now() < up && http_get(prom_port, "/-/ready").is_none() {
            if let Some(Ok(Some(_))) = cleanup.child.as_mut().map(|c| c.try_wait()) {
                break; // exited (port taken?)
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if http_get(prom_port, "/-/ready").is_some() {
            break;
        }
        if let Some(mut c) = cleanup.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    assert!(cleanup.child.is_some(), "prometheus did not become ready");

    // Wait (bounded) for a successful scrape and the series to be queryable.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut up = None;
    let mut count = None;
    while Instant::now() < deadline {
        up = query(prom_port, "up{job=\"observe\"}")
            .as_ref()
            .and_then(sample_value);
        count = query(
            prom_port,
            "http_server_request_duration_seconds_count{http_route=\"/orders/{id}\",http_response_status_code=\"200\",request_type=\"standard\"}",
        )
        .as_ref()
        .and_then(sample_value);
        if up == Some(1.0) && count.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        scrapes.load(Ordering::SeqCst) >= 1,
        "prometheus never scraped"
    );
    assert_eq!(up, Some(1.0), "the scrape failed (up != 1)");
    assert_eq!(count, Some(200.0));
    let p99 = query(
        prom_port,
        "http_server_request_duration_seconds{http_route=\"/orders/{id}\",http_response_status_code=\"200\",request_type=\"standard\",quantile=\"0.99\"}",
    )
    .as_ref()
    .and_then(sample_value)
    .expect("p99 series");
    assert!(p99 > 0.002 && p99 < 0.004, "p99 {p99} s");
    drop(cleanup);
}
