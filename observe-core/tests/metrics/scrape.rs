//! A real Prometheus server scrapes two instances (two registries, each served on
//! its own loopback listener the way `/metrics` serves the process-wide one:
//! format negotiated from the scraper's `Accept`, `target_info`, process metrics).
//! `histogram_quantile(0.99, sum by (le) (rate(..._bucket[1m])))` over both must
//! agree with observe's merged HDR p99 within the bucket resolution, and the
//! exemplars Prometheus stores must be trace ids observe recorded.
//!
//! Bounded: every wait polls with a deadline, the server is killed and its
//! directory removed however the test ends. Skips, loudly, only when the
//! `prometheus` binary is not installed (`scripts/setup.sh` installs it).

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use observe_core::TraceId;
use observe_core::metrics::prometheus::{Encoder, Format};
use observe_core::metrics::{DEFAULT_DURATION_BUCKETS, Registry, merge};

use crate::exposition::parse;
use crate::support::Rng;

/// Kills the server and removes the directory however the test ends.
pub(crate) struct Cleanup {
    pub(crate) child: Option<Child>,
    pub(crate) dir: PathBuf,
    pub(crate) stop: Arc<AtomicBool>,
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
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A minimal HTTP/1.1 GET over a fresh connection; returns the body.
pub(crate) fn http_get(port: u16, path_and_query: &str) -> Option<String> {
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

fn encode_query(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An instant query at `time` (seconds); the result vector.
pub(crate) fn query(port: u16, promql: &str, time: f64) -> Vec<serde_json::Value> {
    let body = http_get(
        port,
        &format!(
            "/api/v1/query?query={}&time={time:.3}",
            encode_query(promql)
        ),
    );
    body.and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("data")?.get("result")?.as_array().cloned())
        .unwrap_or_default()
}

pub(crate) fn value(result: &serde_json::Value) -> Option<f64> {
    result.get("value")?.get(1)?.as_str()?.parse().ok()
}

/// One instance: a registry served on a loopback port, counting scrapes and
/// remembering the format each scrape negotiated.
struct Instance {
    registry: Registry,
    port: u16,
    scrapes: Arc<AtomicU64>,
    formats: Arc<Mutex<Vec<Format>>>,
    /// Once set, scrapes are refused (503): Prometheus marks the series stale and
    /// they get no new samples.
    refuse: Arc<AtomicBool>,
    refused: Arc<AtomicU64>,
}

fn serve(name: &'static str, registry: Registry, stop: Arc<AtomicBool>) -> Instance {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let scrapes = Arc::new(AtomicU64::new(0));
    let formats = Arc::new(Mutex::new(Vec::new()));
    let refuse = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicU64::new(0));
    {
        let (scrapes, formats, registry) = (scrapes.clone(), formats.clone(), registry.clone());
        let (refuse, refused) = (refuse.clone(), refused.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(90);
            while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                let Ok((mut conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                let mut accept = None;
                while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                    if line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':')
                        && k.eq_ignore_ascii_case("accept")
                    {
                        accept = http::HeaderValue::from_str(v.trim()).ok();
                    }
                    line.clear();
                }
                if refuse.load(Ordering::SeqCst) {
                    let _ = write!(
                        conn,
                        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    refused.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                let format = Format::negotiate(accept.as_ref());
                let body = Encoder::new(format)
                    .target_info(&[("service.name", name), ("service.version", "1.0.0")])
                    .process_metrics(true)
                    .encode(&registry);
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                    format.content_type(),
                    body.len(),
                    body
                );
                formats.lock().unwrap().push(format);
                scrapes.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
    Instance {
        registry,
        port,
        scrapes,
        formats,
        refuse,
        refused,
    }
}

/// Waits (bounded) until `f` holds.
pub(crate) fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// `histogram_quantile`'s answer for cumulative bucket counts (Prometheus's
/// algorithm: the first bucket reaching the rank, linear inside it). Returns the
/// value and the bucket's index.
fn histogram_quantile(q: f64, bounds: &[f64], cumulative: &[f64]) -> (f64, usize) {
    let total = *cumulative.last().unwrap();
    let rank = q * total;
    let j = cumulative.iter().position(|&c| c >= rank).unwrap();
    if j == bounds.len() {
        return (bounds[bounds.len() - 1], j);
    }
    let (start, below) = if j == 0 {
        (0.0, 0.0)
    } else {
        (bounds[j - 1], cumulative[j - 1])
    };
    let v = start + (bounds[j] - start) * ((rank - below) / (cumulative[j] - below));
    (v, j)
}

/// An instance's cumulative bucket counts, as served.
fn buckets(r: &Registry) -> Vec<f64> {
    let samples = parse(&r.prometheus_text());
    let mut out: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.name == "checkout_duration_seconds_bucket")
        .map(|s| {
            let le = s.labels["le"].as_str();
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            (le, s.value)
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out.into_iter().map(|(_, c)| c).collect()
}

#[test]
fn a_real_prometheus_aggregates_two_instances_and_keeps_their_exemplars() {
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
                "\n\n*** SKIPPED a_real_prometheus_aggregates_two_instances_and_keeps_their_exemplars: `prometheus` not found (apt-get install prometheus; scripts/setup.sh installs it) ***\n\n"
            );
        }
        return;
    };

    let stop = Arc::new(AtomicBool::new(false));
    let a = serve("checkout-a", Registry::new(), stop.clone());
    let b = serve("checkout-b", Registry::new(), stop.clone());
    // The series exist (all buckets at zero) before the first scrape.
    let ha = a.registry.duration_histogram("checkout.duration", &[]);
    let hb = b.registry.duration_histogram("checkout.duration", &[]);

    let dir = std::env::temp_dir().join(format!("observe-prom-{}-{}", std::process::id(), a.port));
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
            "global:\n  scrape_interval: 250ms\n  scrape_timeout: 250ms\nscrape_configs:\n  - job_name: observe\n    static_configs:\n      - targets: ['127.0.0.1:{}', '127.0.0.1:{}']\n",
            a.port, b.port
        ),
    )
    .unwrap();

    // The server's own port may be taken between our probe and its bind: retry once.
    let mut prom = 0;
    for _attempt in 0..2 {
        prom = free_port();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom}"))
            .arg("--enable-feature=exemplar-storage")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts");
        cleanup.child = Some(child);
        let up = Instant::now() + Duration::from_secs(10);
        while Instant::now() < up && http_get(prom, "/-/ready").is_none() {
            if let Some(Ok(Some(_))) = cleanup.child.as_mut().map(|c| c.try_wait()) {
                break; // exited (port taken?)
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if http_get(prom, "/-/ready").is_some() {
            break;
        }
        if let Some(mut c) = cleanup.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    assert!(cleanup.child.is_some(), "prometheus did not become ready");

    // Scrapes of the empty histograms first, so every bucket series starts at 0.
    wait_for(
        "scrapes of the empty histograms",
        Duration::from_secs(30),
        || a.scrapes.load(Ordering::SeqCst) >= 8 && b.scrapes.load(Ordering::SeqCst) >= 8,
    );

    // Two different distributions: A fast (median 2 ms), B slower with a tail
    // (median 25 ms). Some observations fail; all offer their trace id.
    let mut traces = HashSet::new();
    let mut rng = Rng::new(42);
    for i in 0..20_000u64 {
        let t = TraceId::random();
        traces.insert(t);
        ha.record_with_exemplar((2e6 * (0.7 * rng.normal()).exp()) as u64, t, i % 997 == 0);
    }
    for i in 0..4_000u64 {
        let t = TraceId::random();
        traces.insert(t);
        hb.record_with_exemplar((2.5e7 * (0.6 * rng.normal()).exp()) as u64, t, i % 499 == 0);
    }
    let (sa, sb) = (
        a.scrapes.load(Ordering::SeqCst),
        b.scrapes.load(Ordering::SeqCst),
    );
    wait_for(
        "scrapes of the recorded histograms",
        Duration::from_secs(30),
        || a.scrapes.load(Ordering::SeqCst) >= sa + 8 && b.scrapes.load(Ordering::SeqCst) >= sb + 8,
    );

    // Both targets up, both scraped in OpenMetrics (what Prometheus asks for).
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    wait_for(
        "both targets' recorded counts in Prometheus",
        Duration::from_secs(20),
        || {
            let counts = query(prom, "checkout_duration_seconds_count", now());
            counts.len() == 2
                && counts
                    .iter()
                    .all(|c| value(c).is_some_and(|v| v == 20_000.0 || v == 4_000.0))
        },
    );
    let up = query(prom, "up{job=\"observe\"}", now());
    assert_eq!(up.len(), 2);
    assert!(
        up.iter().all(|u| value(u) == Some(1.0)),
        "a scrape failed: {up:?}"
    );
    for i in [&a, &b] {
        let formats = i.formats.lock().unwrap();
        assert!(
            formats.iter().all(|f| *f == Format::OpenMetrics),
            "Prometheus negotiated {formats:?}"
        );
    }
    let info = query(
        prom,
        "target_info{service_name=\"checkout-b\",service_version=\"1.0.0\"}",
        now(),
    );
    assert_eq!(info.len(), 1, "target_info: {info:?}");
    #[cfg(target_os = "linux")]
    {
        let rss = query(prom, "process_resident_memory_bytes", now());
        assert_eq!(rss.len(), 2);
        assert!(rss.iter().all(|r| value(r).unwrap_or(0.0) > 1e6), "{rss:?}");
    }

    // `rate` extrapolates each series by how far its last sample is from the end of
    // the range; with the scrapes still running that distance differs between the
    // two targets (by up to a scrape interval), which weighs them differently. So
    // the targets stop answering (the series go stale) and the query is made more
    // than 1.1 intervals after their last samples, where Prometheus extrapolates
    // both by half an interval: their weights are then equal but for a difference
    // of one sample in count (read back and checked below).
    a.refuse.store(true, Ordering::SeqCst);
    b.refuse.store(true, Ordering::SeqCst);
    wait_for("refused scrapes", Duration::from_secs(10), || {
        a.refused.load(Ordering::SeqCst) >= 2 && b.refused.load(Ordering::SeqCst) >= 2
    });
    let t = now();
    let results = (
        query(prom, "rate(checkout_duration_seconds_count[1m])", t),
        query(
            prom,
            "histogram_quantile(0.99, sum by (le) (rate(checkout_duration_seconds_bucket[1m])))",
            t,
        ),
    );
    assert_eq!((results.0.len(), results.1.len()), (2, 1), "{results:?}");

    // What Prometheus answered.
    let prometheus_p99 = value(&results.1[0]).expect("a p99");

    // observe's merged HDR p99 (both instances' histograms merged bin by bin).
    let fleet = merge(&[
        a.registry.export_histograms(),
        b.registry.export_histograms(),
    ])
    .unwrap();
    let stats = fleet
        .series("checkout.duration", &[])
        .unwrap()
        .cumulative
        .stats()
        .unwrap();
    assert_eq!(stats.count, 24_000);
    let hdr_p99 = stats.p99.unwrap() as f64 / 1e9;

    // The bound: the p99 is in bucket j of the merged counts; Prometheus answers
    // inside [le(j-1), le(j)], the HDR p99 (the top of its 3-digit bin) inside
    // (le(j-1), le(j) * (1 + 2^-10)] (a bin is counted in the first bucket at or
    // above its lowest value, and is at most 1/1024 of it wide).
    let bounds: Vec<f64> = DEFAULT_DURATION_BUCKETS.to_vec();
    let (ca, cb) = (buckets(&a.registry), buckets(&b.registry));
    assert_eq!((ca.len(), cb.len()), (bounds.len() + 1, bounds.len() + 1));
    let merged: Vec<f64> = ca.iter().zip(&cb).map(|(x, y)| x + y).collect();
    let (_, j) = histogram_quantile(0.99, &bounds, &merged);
    assert!(j < bounds.len(), "p99 above the last boundary");
    let low = if j == 0 { 0.0 } else { bounds[j - 1] };
    let bound = bounds[j] * (1.0 + 1.0 / 1024.0) - low;

    // Read the weights back (rate of the count times the range, over the count)
    // and check that the weighted merge puts the p99 in the same bucket and gives
    // exactly Prometheus's answer: the comparison below is then about the buckets.
    let factor = |port: u16| {
        let r = results
            .0
            .iter()
            .find(|r| r["metric"]["instance"] == format!("127.0.0.1:{port}"))
            .unwrap();
        value(r).unwrap() * 60.0
    };
    let (fa, fb) = (factor(a.port) / 20_000.0, factor(b.port) / 4_000.0);
    let weighted: Vec<f64> = ca.iter().zip(&cb).map(|(x, y)| fa * x + fb * y).collect();
    let (expected, jw) = histogram_quantile(0.99, &bounds, &weighted);
    assert_eq!(
        jw, j,
        "the extrapolation factors ({fa}, {fb}) moved the p99 to another bucket: the data sits too close to a boundary for this check"
    );
    assert!(
        (prometheus_p99 - expected).abs() <= 1e-9 * expected,
        "Prometheus {prometheus_p99} vs the same algorithm here {expected}"
    );
    assert!(
        (prometheus_p99 - hdr_p99).abs() <= bound,
        "Prometheus p99 {prometheus_p99} s vs observe's merged HDR p99 {hdr_p99} s: more than the bound {bound} s (bucket ({low}, {}])",
        bounds[j]
    );
    assert!(prometheus_p99 >= low && prometheus_p99 <= bounds[j]);
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "p99: Prometheus {prometheus_p99} s, observe merged HDR {hdr_p99} s, bucket ({low}, {}], bound {bound} s, weights {fa} / {fb}; rank {} between cumulative counts {} and {}",
            bounds[j],
            0.99 * merged[bounds.len()],
            if j == 0 { 0.0 } else { merged[j - 1] },
            merged[j]
        );
    }

    // Exemplars: Prometheus keeps those of the OpenMetrics scrapes; every one is a
    // trace observe recorded.
    let mut stored: BTreeMap<String, f64> = BTreeMap::new();
    wait_for("exemplars in Prometheus", Duration::from_secs(15), || {
        let t = now();
        let body = http_get(
            prom,
            &format!(
                "/api/v1/query_exemplars?query={}&start={:.3}&end={t:.3}",
                encode_query("checkout_duration_seconds_bucket"),
                t - 120.0
            ),
        );
        let v: serde_json::Value = body
            .and_then(|b| serde_json::from_str(&b).ok())
            .unwrap_or_default();
        for series in v["data"].as_array().into_iter().flatten() {
            for e in series["exemplars"].as_array().into_iter().flatten() {
                if let (Some(id), Some(value)) = (
                    e["labels"]["trace_id"].as_str(),
                    e["value"].as_str().and_then(|v| v.parse().ok()),
                ) {
                    stored.insert(id.to_owned(), value);
                }
            }
        }
        stored.len() >= 2
    });
    for (id, v) in &stored {
        let t = TraceId::from_hex(id).expect("a trace id");
        assert!(
            traces.contains(&t),
            "exemplar {id} ({v} s) was never recorded"
        );
    }
    drop(cleanup);
}
