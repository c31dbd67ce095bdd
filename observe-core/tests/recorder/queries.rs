//! Queries from another thread, and the dump decoded with the OTLP proto types.

use std::time::{Duration, SystemTime};

use observe_core::recorder::{FlightRecorder, Query, RecorderSettings};
use observe_core::span::{Span, StatusCode};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

fn filled() -> FlightRecorder {
    let recorder = FlightRecorder::new(RecorderSettings::default());
    let observe = crate::start(0.0, vec![Box::new(recorder.sink())]);
    let guard = observe.set_default();
    for i in 0..30u64 {
        let root = Span::new(if i % 2 == 0 { "GET /a" } else { "GET /b" });
        root.set_attribute("customer", format!("c{}", i % 3));
        root.in_scope(|| {
            Span::new("db").in_scope(|| {
                if i == 7 {
                    std::thread::sleep(Duration::from_millis(30));
                }
                tracing::info!(i, "query done");
            });
        });
        if i % 10 == 3 {
            root.set_error("bad input");
        }
        root.end();
    }
    drop(guard);
    assert!(observe.shutdown());
    recorder
}

#[test]
fn lists_search_and_trace_detail() {
    let _q = crate::QUIET.read().unwrap_or_else(|e| e.into_inner());
    let recorder = filled();
    // Queried from another thread, as the admin page does.
    let r = recorder.clone();
    std::thread::spawn(move || {
        let recent = r.recent(5);
        assert_eq!(recent.len(), 5);
        assert!(
            recent
                .windows(2)
                .all(|w| w[0].start_unix_nanos >= w[1].start_unix_nanos)
        );
        assert!(
            recent
                .iter()
                .all(|t| t.complete && t.span_count == 2 && t.log_count == 1)
        );

        let slowest = r.slowest(1);
        assert!(slowest[0].duration_ns >= 30_000_000, "{slowest:?}");

        let failed = r.failed(10);
        assert_eq!(failed.len(), 3);
        assert!(
            failed
                .iter()
                .all(|t| t.status == "error" && t.error_count == 1)
        );
        assert_eq!(failed[0].status_message.as_deref(), Some("bad input"));

        let found = r.search(&Query::new().name("GET /a").attribute("customer", "c1"));
        // i even and i % 3 == 1: 4, 10, 16, 22, 28.
        assert_eq!(found.len(), 5, "{found:?}");
        assert!(found.iter().all(|t| t.matched_span_ids.len() == 1));
        let found = r.search(&Query::new().status(StatusCode::Error).limit(2));
        assert_eq!(found.len(), 2);
        let found = r.search(
            &Query::new()
                .name("db")
                .min_duration(Duration::from_millis(30)),
        );
        assert_eq!(found.len(), 1);
        let future = SystemTime::now() + Duration::from_secs(3600);
        assert!(r.search(&Query::new().since(future)).is_empty());
        assert_eq!(r.search(&Query::new().until(future).limit(100)).len(), 30);
        assert!(
            r.search(&Query::new().max_duration(Duration::ZERO))
                .is_empty(),
            "nothing takes no time"
        );

        let detail = r.trace(failed[0].trace_id).expect("held");
        assert_eq!(detail.spans.len(), 2);
        assert_eq!(detail.spans[0].parent_span_id, None, "root first");
        assert_eq!(
            detail.spans[1].parent_span_id,
            Some(detail.spans[0].span_id)
        );
        assert_eq!(detail.logs[0].span_id, Some(detail.spans[1].span_id));
        // Serializable as is for the JSON API.
        let json = serde_json::to_value(&detail).unwrap();
        assert_eq!(json["summary"]["trace_id"], failed[0].trace_id.to_hex());
        assert_eq!(json["spans"][0]["status"], "error");
        assert!(r.trace(observe_core::TraceId::random()).is_none());
    })
    .join()
    .unwrap();

    let st = recorder.stats();
    assert_eq!((st.spans, st.logs, st.traces), (60, 30, 30));
    assert!(st.covers_ns > 0 && st.used_bytes > 0 && st.used_bytes <= st.budget_bytes);
}

#[test]
fn dump_is_otlp_json() {
    let _q = crate::QUIET.read().unwrap_or_else(|e| e.into_inner());
    let recorder = filled();
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("dump-{}.jsonl", std::process::id()));
    let summary = recorder.dump(&path).expect("dump");
    assert_eq!((summary.spans, summary.logs), (60, 30));

    let text = std::fs::read_to_string(&path).unwrap();
    let (mut spans, mut logs) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v.get("resourceSpans").is_some() {
            let req: ExportTraceServiceRequest = serde_json::from_str(line).unwrap();
            for rs in req.resource_spans {
                for ss in rs.scope_spans {
                    spans.extend(ss.spans);
                }
            }
        } else {
            let req: ExportLogsServiceRequest = serde_json::from_str(line).unwrap();
            for rl in req.resource_logs {
                logs.extend(rl.scope_logs.into_iter().flat_map(|s| s.log_records));
            }
        }
    }
    assert_eq!(text.lines().count(), summary.lines);
    assert_eq!((spans.len(), logs.len()), (60, 30));
    // Ids round-trip: every log's span is a dumped span.
    let ids: std::collections::HashSet<Vec<u8>> = spans.iter().map(|s| s.span_id.clone()).collect();
    assert!(logs.iter().all(|l| ids.contains(&l.span_id)));
    let detail = recorder.trace(recorder.failed(1)[0].trace_id).unwrap();
    let root = spans
        .iter()
        .find(|s| s.span_id == detail.spans[0].span_id.to_bytes())
        .expect("root dumped");
    assert_eq!(root.trace_id, detail.summary.trace_id.to_bytes());
    assert_eq!(root.status.as_ref().unwrap().message, "bad input");

    // Rate-limited automatic dumps: the second one within the interval is skipped.
    let first = recorder.dump_rate_limited(&dir, "slo: p99 > 5s", Duration::from_secs(3600));
    let written = first.unwrap().expect("first dump written");
    assert!(
        written
            .path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("-slo__p99___5s.jsonl")
    );
    // A dump holds what logs hold: its owner's alone, in a shared /tmp too.
    #[cfg(unix)]
    for dumped in [&path, &written.path] {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dumped).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", dumped.display());
    }
    assert!(
        recorder
            .dump_rate_limited(&dir, "again", Duration::from_secs(3600))
            .unwrap()
            .is_none()
    );
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&written.path);

    let e = recorder.dump(dir.join("no/such/dir/x.jsonl")).unwrap_err();
    assert!(e.to_string().contains("no/such/dir"), "{e}");
    assert!(matches!(
        observe_core::recorder::dump(dir.join("global.jsonl")),
        Err(observe_core::recorder::DumpError::NotRunning)
    ));
}
