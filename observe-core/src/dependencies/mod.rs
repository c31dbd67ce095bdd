//! The dependency view: who this service calls, how often, how fast, how often it
//! fails, how much of a request's time each callee takes, and, for recent failed
//! traces, the deepest failing span and the service it ran in (where to page first).
//!
//! Two sources, each for what it knows best:
//!
//! * the client latency histograms (`http.client.request.duration`,
//!   `rpc.client.call.duration`, keyed by `server.address`), over the metrics'
//!   rolling window: calls, errors and p50/p99/p99.9 from the merged HDR
//!   histograms, whenever one callee is the only one seen at its address;
//! * the client spans held by the flight recorder: the callee's name
//!   (`peer.service` when the client set one, else `host:port`), the callee's own
//!   time from its `Server-Timing` (`observe.callee.duration_ms`) against the time
//!   seen, the critical path of recent traces, the failures, and the graph. When
//!   several callees share one address (services on one host, on different
//!   ports), the histograms cannot tell them apart and the view counts their
//!   spans instead (HDR percentiles from the span durations, over what the
//!   recorder holds); `source` says which.
//!
//! Tracer bullets are left out of both. The view is computed when asked (the
//! admin API, [`view`]); nothing is kept between calls.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::ids::{SpanId, TraceId};
use crate::metrics::{Registry, names};
use crate::recorder::FlightRecorder;
use crate::span::{SpanKind, StatusCode, Value};

/// At most this many of the newest spans are examined per view.
pub const MAX_SPANS_SCANNED: usize = 50_000;
/// Recent traces per callee whose critical path is measured.
pub const CRITICAL_PATH_TRACES: usize = 50;
/// Recent failed traces whose deepest failing span is reported.
pub const FAILED_TRACES: usize = 10;

/// One callee.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dependency {
    /// `peer.service` when the client named it, else `host:port` (the address
    /// alone when only the histograms know it).
    pub callee: String,
    /// `http` or `grpc`.
    pub kind: &'static str,
    /// Calls (standard requests).
    pub calls: u64,
    /// Calls that failed (HTTP 4xx/5xx, a gRPC error, no response).
    pub errors: u64,
    /// Median latency seen by this service, seconds.
    pub p50_s: Option<f64>,
    /// 99th percentile, seconds.
    pub p99_s: Option<f64>,
    /// 99.9th percentile, seconds.
    pub p999_s: Option<f64>,
    /// The callee's own time from its `Server-Timing`, mean seconds per call;
    /// `None` when it sent none.
    pub server_time_s: Option<f64>,
    /// Time seen minus the callee's own (network, queueing), mean seconds.
    pub network_s: Option<f64>,
    /// Over the newest traces that called this callee (at most
    /// [`CRITICAL_PATH_TRACES`]), the mean share of the trace's root duration
    /// that its calls spent on the trace's critical path.
    pub critical_path_share: f64,
    /// `histogram` or `recorder`: where calls, errors and percentiles come from.
    pub source: &'static str,
}

/// The deepest failing span of a failed trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeepestFailure {
    /// The trace.
    pub trace_id: TraceId,
    /// The span.
    pub span_id: SpanId,
    /// The service it ran in (for a client span whose callee is not in the
    /// recorder: the callee).
    pub service: String,
    /// The span's name.
    pub name: String,
    /// Its error message.
    pub status_message: Option<String>,
}

/// A node of the dependency graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    /// The service (or callee) name.
    pub id: String,
    /// What to show.
    pub label: String,
    /// Whether it is this service.
    #[serde(rename = "self")]
    pub is_self: bool,
}

/// An edge: calls from one service to another.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edge {
    /// The caller.
    pub from: String,
    /// The callee.
    pub to: String,
    /// Calls.
    pub calls: u64,
    /// Failed calls.
    pub errors: u64,
}

/// The graph of calls seen.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Graph {
    /// Services.
    pub nodes: Vec<Node>,
    /// Calls between them.
    pub edges: Vec<Edge>,
}

/// The whole view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DependencyView {
    /// The metrics' rolling window (seconds), the span of the histograms' figures.
    pub window_s: f64,
    /// The time the recorder's spans cover (seconds).
    pub recorder_covers_s: f64,
    /// Per callee, most calls first.
    pub dependencies: Vec<Dependency>,
    /// For recent failed traces (newest first), the deepest failing span.
    pub deepest_failures: Vec<DeepestFailure>,
    /// Who calls whom.
    pub graph: Graph,
}

/// A span, as much as the view needs.
#[derive(Debug, Clone)]
struct S {
    trace: TraceId,
    id: SpanId,
    parent: SpanId,
    kind: SpanKind,
    name: String,
    error: bool,
    message: Option<String>,
    start: u64,
    end: u64,
    bullet: bool,
    /// For a client span: the callee's name, address and protocol.
    callee: Option<(String, String, &'static str)>,
    server_ms: Option<f64>,
    network_ms: Option<f64>,
}

fn text(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        other => other.to_string(),
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::F64(f) => Some(*f),
        Value::U64(u) => Some(*u as f64),
        Value::I64(i) => Some(*i as f64),
        Value::Str(s) => s.parse().ok(),
        Value::Bool(_) => None,
    }
}

fn compact(r: &crate::span::SpanRecord) -> S {
    let kind = r.kind();
    let callee = (kind == SpanKind::Client).then(|| {
        let address = r
            .attribute(names::SERVER_ADDRESS)
            .map(text)
            .unwrap_or_default();
        let port = r.attribute("server.port").map(text);
        let peer = r.attribute("peer.service").map(text);
        let protocol = if r.attribute(names::RPC_SYSTEM).is_some() {
            "grpc"
        } else {
            "http"
        };
        let name = match (peer, port) {
            (Some(p), _) if !p.is_empty() && p != address => p,
            (_, Some(port)) => format!("{address}:{port}"),
            _ => address.clone(),
        };
        (name, address, protocol)
    });
    S {
        trace: r.trace_id(),
        id: r.span_id(),
        parent: r.parent_id(),
        kind,
        name: r.name().to_owned(),
        error: r.status() == StatusCode::Error,
        message: r.status_message().map(str::to_owned),
        start: r.start_tick().unix_nanos(),
        end: r.end_tick().unix_nanos(),
        bullet: r.request_type() == crate::context::RequestType::TracerBullet,
        callee,
        server_ms: r.attribute("observe.callee.duration_ms").and_then(number),
        network_ms: r.attribute("observe.network.duration_ms").and_then(number),
    }
}

/// The newest spans of the recorder (at most [`MAX_SPANS_SCANNED`]), a chunk per
/// lock so the worker waits little.
fn scan(recorder: &FlightRecorder) -> Vec<S> {
    const CHUNK: u64 = 4096;
    let mut out = Vec::new();
    let mut end = recorder.lock().store.seq_range().end;
    while out.len() < MAX_SPANS_SCANNED {
        let st = recorder.lock();
        let range = st.store.seq_range();
        let stop = end.min(range.end);
        let start = stop.saturating_sub(CHUNK).max(range.start);
        if start >= stop {
            break;
        }
        for seq in (start..stop).rev() {
            if let Some(crate::recorder::Entry::Span(s)) = st.store.get(seq) {
                out.push(compact(s));
                if out.len() == MAX_SPANS_SCANNED {
                    break;
                }
            }
        }
        end = start;
    }
    out
}

/// One trace's spans, with their tree.
struct Trace<'a> {
    spans: Vec<&'a S>,
    by_id: HashMap<SpanId, usize>,
    children: HashMap<SpanId, Vec<usize>>,
}

impl<'a> Trace<'a> {
    fn new(spans: Vec<&'a S>) -> Trace<'a> {
        let by_id: HashMap<SpanId, usize> =
            spans.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
        let mut children: HashMap<SpanId, Vec<usize>> = HashMap::new();
        for (i, s) in spans.iter().enumerate() {
            if by_id.contains_key(&s.parent) {
                children.entry(s.parent).or_default().push(i);
            }
        }
        Trace {
            spans,
            by_id,
            children,
        }
    }

    fn parent(&self, s: &S) -> Option<&'a S> {
        self.by_id.get(&s.parent).map(|&i| self.spans[i])
    }

    fn depth(&self, s: &S) -> usize {
        let mut d = 0;
        let mut cur = s;
        while let Some(p) = self.parent(cur) {
            d += 1;
            cur = p;
            if d > self.spans.len() {
                break; // a cycle in corrupt input
            }
        }
        d
    }

    /// The service a span ran in: the callee of the nearest client span above a
    /// server span on its path up (a call made in this process to a service also
    /// recorded here), else `own`.
    fn service_of(&self, s: &S, own: &str) -> String {
        let mut cur = s;
        let mut steps = 0;
        while let Some(p) = self.parent(cur) {
            if cur.kind == SpanKind::Server
                && let Some((name, _, _)) = &p.callee
            {
                return name.clone();
            }
            cur = p;
            steps += 1;
            if steps > self.spans.len() {
                break;
            }
        }
        own.to_owned()
    }

    /// Roots: spans whose parent is not held.
    fn roots(&self) -> impl Iterator<Item = &'a S> + '_ {
        self.spans
            .iter()
            .copied()
            .filter(|s| !self.by_id.contains_key(&s.parent))
    }

    /// Adds, per callee, the time its client spans spend on the critical path
    /// of `s` up to `limit`.
    fn critical(&self, s: &S, limit: u64, out: &mut HashMap<String, u64>, depth: usize) {
        let end = s.end.min(limit);
        if let Some((callee, _, _)) = &s.callee {
            *out.entry(callee.clone()).or_default() += end.saturating_sub(s.start);
        }
        if depth > 256 {
            return;
        }
        let mut kids: Vec<&S> = self
            .children
            .get(&s.id)
            .map(|v| v.iter().map(|&i| self.spans[i]).collect())
            .unwrap_or_default();
        kids.sort_by_key(|k| std::cmp::Reverse(k.end));
        let mut cursor = end;
        for c in kids {
            if c.start >= cursor {
                continue;
            }
            self.critical(c, c.end.min(cursor), out, depth + 1);
            cursor = c.start;
        }
    }
}

/// A callee's figures from its spans.
#[derive(Default)]
struct FromSpans {
    address: String,
    kind: &'static str,
    calls: u64,
    errors: u64,
    durations: Vec<u64>,
    server_ms: (f64, u64),
    network_ms: (f64, u64),
}

/// A histogram family's figures for one address.
struct FromHistograms {
    kind: &'static str,
    calls: u64,
    errors: u64,
    hist: crate::metrics::hdrhistogram::Histogram<u64>,
}

fn seconds(h: &crate::metrics::hdrhistogram::Histogram<u64>, q: f64) -> Option<f64> {
    (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1e9)
}

/// The dependency view of this service (`own` is its name) from `registry`'s
/// client histograms and `recorder`'s spans.
pub fn view(own: &str, registry: &Registry, recorder: Option<&FlightRecorder>) -> DependencyView {
    let spans = recorder.map(scan).unwrap_or_default();
    let mut traces: BTreeMap<TraceId, Vec<&S>> = BTreeMap::new();
    for s in &spans {
        traces.entry(s.trace).or_default().push(s);
    }
    let traces: Vec<(TraceId, Trace<'_>)> = traces
        .into_iter()
        .map(|(t, v)| (t, Trace::new(v)))
        .collect();

    // Per callee from the spans, and the graph's edges.
    let mut callees: BTreeMap<String, FromSpans> = BTreeMap::new();
    let mut edges: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for (_, t) in &traces {
        for s in &t.spans {
            let Some((name, address, kind)) = &s.callee else {
                continue;
            };
            if s.bullet {
                continue;
            }
            let c = callees.entry(name.clone()).or_default();
            c.address.clone_from(address);
            c.kind = kind;
            c.calls += 1;
            c.errors += u64::from(s.error);
            c.durations.push(s.end.saturating_sub(s.start));
            if let Some(ms) = s.server_ms {
                c.server_ms.0 += ms;
                c.server_ms.1 += 1;
            }
            if let Some(ms) = s.network_ms {
                c.network_ms.0 += ms;
                c.network_ms.1 += 1;
            }
            let e = edges
                .entry((t.service_of(s, own), name.clone()))
                .or_default();
            e.0 += 1;
            e.1 += u64::from(s.error);
        }
    }

    // Per address from the histograms (standard requests only).
    let mut by_address: BTreeMap<String, FromHistograms> = BTreeMap::new();
    for (metric, kind) in [
        (names::HTTP_CLIENT_REQUEST_DURATION, "http"),
        (names::RPC_CLIENT_CALL_DURATION, "grpc"),
    ] {
        for (labels, h) in registry.window_histograms(metric) {
            let get = |k: &str| labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            if get(names::REQUEST_TYPE).is_some_and(|t| t != "standard") {
                continue;
            }
            let Some(address) = get(names::SERVER_ADDRESS) else {
                continue;
            };
            let failed = crate::metrics::series_failed(metric, &labels);
            let e = by_address
                .entry(address.to_owned())
                .or_insert_with(|| FromHistograms {
                    kind,
                    calls: 0,
                    errors: 0,
                    hist: crate::metrics::new_duration_hdr(),
                });
            e.calls += h.len();
            if failed {
                e.errors += h.len();
            }
            let _ = e.hist.add(&h);
        }
    }

    // Critical-path shares: per callee, over the newest traces (with a root) that
    // called it, at most CRITICAL_PATH_TRACES of them.
    let mut recent: Vec<(u64, &Trace<'_>, &S)> = traces
        .iter()
        .filter_map(|(_, t)| {
            let root = t
                .roots()
                .filter(|r| !r.bullet)
                .max_by_key(|r| r.end - r.start)?;
            Some((root.end, t, root))
        })
        .collect();
    recent.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut shares: HashMap<String, (f64, usize)> = HashMap::new();
    for (_, t, root) in &recent {
        let total = root.end.saturating_sub(root.start);
        if total == 0 {
            continue;
        }
        let called: HashSet<&str> = t
            .spans
            .iter()
            .filter_map(|s| s.callee.as_ref().map(|c| c.0.as_str()))
            .collect();
        if called
            .iter()
            .all(|c| shares.get(*c).is_some_and(|s| s.1 >= CRITICAL_PATH_TRACES))
        {
            continue;
        }
        let mut on_path = HashMap::new();
        t.critical(root, root.end, &mut on_path, 0);
        for callee in called {
            let e = shares.entry(callee.to_owned()).or_default();
            if e.1 < CRITICAL_PATH_TRACES {
                e.0 += on_path.get(callee).copied().unwrap_or(0) as f64 / total as f64;
                e.1 += 1;
            }
        }
    }

    // Callees that share an address cannot be told apart by the histograms.
    let mut per_address: HashMap<&str, usize> = HashMap::new();
    for c in callees.values() {
        *per_address.entry(c.address.as_str()).or_default() += 1;
    }
    let mut deps = Vec::new();
    let mut used_addresses = HashSet::new();
    for (name, c) in &callees {
        let mean = |(sum, n): (f64, u64)| (n > 0).then(|| sum / n as f64 / 1e3);
        let share = shares
            .get(name)
            .map_or(0.0, |&(sum, n)| sum / n.max(1) as f64);
        let histogram = (per_address.get(c.address.as_str()) == Some(&1))
            .then(|| by_address.get(&c.address))
            .flatten();
        let d = match histogram {
            Some(h) => {
                used_addresses.insert(c.address.clone());
                Dependency {
                    callee: name.clone(),
                    kind: h.kind,
                    calls: h.calls,
                    errors: h.errors,
                    p50_s: seconds(&h.hist, 0.5),
                    p99_s: seconds(&h.hist, 0.99),
                    p999_s: seconds(&h.hist, 0.999),
                    server_time_s: mean(c.server_ms),
                    network_s: mean(c.network_ms),
                    critical_path_share: share,
                    source: "histogram",
                }
            }
            None => {
                used_addresses.insert(c.address.clone());
                let mut h = crate::metrics::new_duration_hdr();
                for &d in &c.durations {
                    let _ = h.record(d.max(1));
                }
                Dependency {
                    callee: name.clone(),
                    kind: c.kind,
                    calls: c.calls,
                    errors: c.errors,
                    p50_s: seconds(&h, 0.5),
                    p99_s: seconds(&h, 0.99),
                    p999_s: seconds(&h, 0.999),
                    server_time_s: mean(c.server_ms),
                    network_s: mean(c.network_ms),
                    critical_path_share: share,
                    source: "recorder",
                }
            }
        };
        deps.push(d);
    }
    for (address, h) in &by_address {
        if used_addresses.contains(address) {
            continue;
        }
        deps.push(Dependency {
            callee: address.clone(),
            kind: h.kind,
            calls: h.calls,
            errors: h.errors,
            p50_s: seconds(&h.hist, 0.5),
            p99_s: seconds(&h.hist, 0.99),
            p999_s: seconds(&h.hist, 0.999),
            server_time_s: None,
            network_s: None,
            critical_path_share: 0.0,
            source: "histogram",
        });
        edges.insert((own.to_owned(), address.clone()), (h.calls, h.errors));
    }
    deps.sort_by(|a, b| b.calls.cmp(&a.calls).then(a.callee.cmp(&b.callee)));

    let deepest_failures = deepest(&traces, own, FAILED_TRACES);

    let mut nodes = vec![Node {
        id: own.to_owned(),
        label: own.to_owned(),
        is_self: true,
    }];
    let mut seen: HashSet<String> = HashSet::from([own.to_owned()]);
    for (from, to) in edges.keys() {
        for n in [from, to] {
            if seen.insert(n.clone()) {
                nodes.push(Node {
                    id: n.clone(),
                    label: n.clone(),
                    is_self: false,
                });
            }
        }
    }
    let covers = spans
        .iter()
        .map(|s| s.end)
        .max()
        .zip(spans.iter().map(|s| s.start).min())
        .map_or(0.0, |(a, b)| a.saturating_sub(b) as f64 / 1e9);
    DependencyView {
        window_s: registry.window().0.as_secs_f64(),
        recorder_covers_s: covers,
        dependencies: deps,
        deepest_failures,
        graph: Graph {
            nodes,
            edges: edges
                .into_iter()
                .map(|((from, to), (calls, errors))| Edge {
                    from,
                    to,
                    calls,
                    errors,
                })
                .collect(),
        },
    }
}

/// For the `limit` newest failed traces, the deepest span in error (the latest
/// to start among equally deep ones).
fn deepest(traces: &[(TraceId, Trace<'_>)], own: &str, limit: usize) -> Vec<DeepestFailure> {
    let mut failed: Vec<(u64, DeepestFailure)> = traces
        .iter()
        .filter_map(|(trace, t)| {
            let s = t
                .spans
                .iter()
                .filter(|s| s.error && !s.bullet)
                .max_by_key(|s| (t.depth(s), s.start))?;
            // A client span is deepest when its callee's spans are elsewhere:
            // the callee is where to look.
            let service = match &s.callee {
                Some((name, _, _)) => name.clone(),
                None => t.service_of(s, own),
            };
            let last = t.spans.iter().map(|s| s.end).max().unwrap_or(0);
            Some((
                last,
                DeepestFailure {
                    trace_id: *trace,
                    span_id: s.id,
                    service,
                    name: s.name.clone(),
                    status_message: s.message.clone(),
                },
            ))
        })
        .collect();
    failed.sort_by_key(|f| std::cmp::Reverse(f.0));
    failed.into_iter().take(limit).map(|(_, f)| f).collect()
}

/// The deepest failing span of the newest failed trace the recorder holds.
pub fn deepest_failure(own: &str, recorder: &FlightRecorder) -> Option<DeepestFailure> {
    deepest_failure_of(own, recorder, |_| true)
}

/// The deepest failing span of the newest failed trace among `among` (an SLO
/// alert's evidence: the traces of its key that broke the objective), `None`
/// when none of them failed. Any failed trace of the recorder would often be
/// another route's, which an alert must not point at.
pub(crate) fn deepest_failure_among(
    own: &str,
    recorder: &FlightRecorder,
    among: &[TraceId],
) -> Option<DeepestFailure> {
    deepest_failure_of(own, recorder, |t| among.contains(t))
}

fn deepest_failure_of(
    own: &str,
    recorder: &FlightRecorder,
    keep: impl Fn(&TraceId) -> bool,
) -> Option<DeepestFailure> {
    let spans = scan(recorder);
    let mut traces: BTreeMap<TraceId, Vec<&S>> = BTreeMap::new();
    for s in spans.iter().filter(|s| keep(&s.trace)) {
        traces.entry(s.trace).or_default().push(s);
    }
    let traces: Vec<(TraceId, Trace<'_>)> = traces
        .into_iter()
        .map(|(t, v)| (t, Trace::new(v)))
        .collect();
    deepest(&traces, own, 1).into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: u64, parent: u64, kind: SpanKind, start: u64, end: u64) -> S {
        S {
            trace: TraceId::new(1),
            id: SpanId::new(id),
            parent: SpanId::new(parent),
            kind,
            name: format!("s{id}"),
            error: false,
            message: None,
            start,
            end,
            bullet: false,
            callee: None,
            server_ms: None,
            network_ms: None,
        }
    }

    #[test]
    fn a_grpc_callee_counts_every_status_but_ok_as_an_error() {
        let r = Registry::new();
        let call = |code| {
            r.rpc_client_duration(
                "orders:50051",
                "grpc",
                "shop.Orders",
                "GetOrder",
                Some(code),
                crate::metrics::RequestType::Standard,
            )
            .record(1_000_000);
        };
        for code in [0, 0, 0, 13, 5] {
            call(code);
        }
        let v = view("shop", &r, None);
        let d = &v.dependencies[0];
        assert_eq!((d.callee.as_str(), d.kind), ("orders:50051", "grpc"));
        assert_eq!((d.calls, d.errors), (5, 2), "INTERNAL and NOT_FOUND failed");
    }

    #[test]
    fn the_critical_path_takes_the_last_finishing_child_and_what_precedes_it() {
        // root 0..100; two parallel calls: b 10..90 and c 20..50; then d 92..98.
        let root = span(1, 0, SpanKind::Server, 0, 100);
        let mut b = span(2, 1, SpanKind::Client, 10, 90);
        b.callee = Some(("b".into(), "h".into(), "http"));
        let mut c = span(3, 1, SpanKind::Client, 20, 50);
        c.callee = Some(("c".into(), "h".into(), "http"));
        let mut d = span(4, 1, SpanKind::Client, 92, 98);
        d.callee = Some(("d".into(), "h".into(), "http"));
        let spans = [root, b, c, d];
        let t = Trace::new(spans.iter().collect());
        let mut out = HashMap::new();
        t.critical(&spans[0], 100, &mut out, 0);
        assert_eq!(out.get("b"), Some(&80));
        assert_eq!(out.get("d"), Some(&6));
        // c ran in parallel with b, which finished later: not on the path.
        assert_eq!(out.get("c"), None);
    }

    #[test]
    fn the_deepest_failure_is_attributed_to_the_service_that_ran_it() {
        // a's server -> a's client to "b" -> b's server -> b's client to "c" ->
        // c's server (failed) -> c's function (failed).
        let a = span(1, 0, SpanKind::Server, 0, 100);
        let mut ab = span(2, 1, SpanKind::Client, 1, 99);
        ab.callee = Some(("b".into(), "127.0.0.1".into(), "http"));
        ab.error = true;
        let b = span(3, 2, SpanKind::Server, 2, 98);
        let mut bc = span(4, 3, SpanKind::Client, 3, 97);
        bc.callee = Some(("c".into(), "127.0.0.1".into(), "http"));
        bc.error = true;
        let mut c = span(5, 4, SpanKind::Server, 4, 96);
        c.error = true;
        let mut f = span(6, 5, SpanKind::Internal, 5, 95);
        f.error = true;
        f.message = Some("disk full".into());
        let spans = [a, ab, b, bc, c, f];
        let t = Trace::new(spans.iter().collect());
        let d = deepest(&[(TraceId::new(1), t)], "a", 5);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].span_id, SpanId::new(6));
        assert_eq!(d[0].service, "c");
        assert_eq!(d[0].status_message.as_deref(), Some("disk full"));
    }
}
