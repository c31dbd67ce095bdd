//! The `/observe` page in a real browser: an axum service with observe and its admin
//! listener on loopback gets some ordinary requests, one slow and one failing; then
//! `drive.py` opens the page in Debian's headless chromium (Selenium, chromedriver)
//! and reports what the DOM shows, and this test asserts on it: the slow request
//! heads the slowest list, its waterfall has its spans in parent-child order, the
//! percentile plot has points, the SLO card a burn rate, a sampling change made on
//! the page reaches the JSON API, and the browser logged no error. The same page is
//! driven again at `/observe/` (its trailing-slash form) and nested under `/admin` on
//! an axum router (`Router::new().nest("/admin", admin_routes())`), where its files,
//! API calls and links must all stay under `/admin`.
//!
//! The interpreter comes from `OBSERVE_TEST_PYTHON` (set by `scripts/test.sh`), else
//! the workspace's `.venv/bin/python`; without either, or without chromium and
//! chromedriver (`scripts/setup.sh` installs all three), the browser part says so and
//! is skipped; the serving checks always run.
//!
//! Screenshots of each view go to a temporary directory, or with
//! `OBSERVE_UPDATE_SCREENSHOTS=1` to `docs/observe-page/`, which
//! `docs/observe-page.md` shows.

use std::future::IntoFuture as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::get;
use observe_axum::traced;
use observe_core::client::{ClientOptions, ObserveMiddleware};
use observe_core::config::{LogOutput, Sampler};
use observe_core::slo::Slo;
use reqwest_middleware::ClientWithMiddleware;
use serde_json::Value;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The ratio the browser sets through the Controls view, one per page driven (each
/// run's change must reach the API under that page's mount point).
const NEW_RATIOS: [&str; 3] = ["0.25", "0.5", "0.75"];

fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("OBSERVE_TEST_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    venv.exists().then_some(venv)
}

#[derive(Clone)]
struct App {
    base: String,
    http: ClientWithMiddleware,
}

#[traced]
async fn load_order(id: u32) -> Result<u32, String> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    tracing::info!(order_id = id, "order loaded");
    Ok(id)
}

async fn order(State(app): State<App>, UrlPath(id): UrlPath<u32>) -> Result<String, StatusCode> {
    let id = load_order(id)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let stock = app
        .http
        .get(format!("{}/inventory/{id}", app.base))
        .send()
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?
        .text()
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?;
    Ok(format!("order {id}: {stock}"))
}

async fn inventory(UrlPath(id): UrlPath<u32>) -> String {
    format!("7 of {id}")
}

#[traced]
async fn render_report() -> usize {
    tokio::time::sleep(Duration::from_millis(150)).await;
    tracing::info!("report rendered");
    42
}

#[traced]
async fn build_report() -> usize {
    tokio::time::sleep(Duration::from_millis(150)).await;
    render_report().await
}

async fn slow() -> String {
    format!("{} rows", build_report().await)
}

async fn fail() -> (StatusCode, &'static str) {
    tracing::error!("the payment provider is down");
    (StatusCode::INTERNAL_SERVER_ERROR, "failed")
}

fn router(app: App) -> Router {
    Router::new()
        .route("/orders/{id}", get(order))
        .route("/inventory/{id}", get(inventory))
        .route("/slow", get(slow))
        .route("/fail", get(fail))
        .with_state(app)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let response = client.get(url).send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_the_slow_and_the_failing_request_in_a_browser() {
    let _guard = observe_core::Observe::builder()
        .ignore_env()
        .service_name("page-demo")
        .admin_addr(None)
        .sampler(Sampler::AlwaysOn)
        .log_output(LogOutput::None)
        // The page's tracer-bullet button fires at the service from loopback.
        .tracer_bullet_policy(observe_core::config::TracerBulletPolicy::Trusted)
        .trusted_callers(["loopback"])
        // 300 ms for GET /slow breaks it: the SLO burns.
        .slo(Slo::latency("GET /slow", 0.99, Duration::from_millis(200)).named("slow-under-200ms"))
        .slo(Slo::availability("GET /orders/{id}", 0.999).named("orders-available"))
        // The alert's snapshot of the recorder goes under target/, not /tmp.
        .alert_snapshots(
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("observe-page-snapshots"),
            Duration::from_secs(300),
        )
        .init()
        .expect("observe starts");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_base = format!("http://{}", admin.local_addr().unwrap());
    let http = ObserveMiddleware::with_options(
        ClientOptions::new().internal_hosts(["127.0.0.1"]).unwrap(),
    )
    .client_builder(reqwest::Client::builder().no_proxy())
    .unwrap()
    .build();
    let app = router(App {
        base: base.clone(),
        http,
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        observe_axum::serve(listener, app)
            .admin_listener(admin)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .into_future(),
    );

    let client = client();
    for id in 1..=8 {
        let r = client
            .get(format!("{base}/orders/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    assert_eq!(
        client
            .get(format!("{base}/slow"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .get(format!("{base}/fail"))
            .send()
            .await
            .unwrap()
            .status(),
        500
    );

    // The page and its assets, embedded and served with their policy.
    let page = client
        .get(format!("{admin_base}/observe"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    let mut weight = html.len();
    for asset in ["/observe/assets/app.js", "/observe/assets/style.css"] {
        assert!(html.contains(&asset[1..]), "the page loads {asset}");
        let r = client
            .get(format!("{admin_base}{asset}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{asset}");
        weight += r.bytes().await.unwrap().len();
    }
    assert!(weight <= 150 * 1024, "the page weighs {weight} bytes");
    let missing = client
        .get(format!("{admin_base}/observe/assets/nothing.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // The recorder has the slow trace once the background thread has moved it there
    // (among the slowest: on a loaded machine another request may be slower still;
    // the wait is long for the same reason, and ends as soon as it is there).
    let find_slow = |slowest: &Value| {
        slowest["traces"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["name"] == "GET /slow"))
            .and_then(|t| t["trace_id"].as_str())
            .map(str::to_owned)
    };
    let mut slowest = Value::Null;
    for _ in 0..300 {
        slowest = get_json(
            &client,
            &format!("{admin_base}/observe/api/v1/traces?list=slowest&limit=5"),
        )
        .await;
        if find_slow(&slowest).is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let slow_trace = find_slow(&slowest).unwrap_or_else(|| panic!("GET /slow: {slowest}"));

    // Endpoints the page reads that other modules own: one found absent (404) is
    // said, its failed loads are excused in the console check, and the SLO
    // assertions are skipped while the SLO endpoints are absent.
    let mut absent = Vec::new();
    for endpoint in ["/service", "/health", "/slos", "/alerts", "/dependencies"] {
        let url = format!("{admin_base}/observe/api/v1{endpoint}");
        if client.get(&url).send().await.unwrap().status() == 404 {
            absent.push(endpoint);
        }
    }
    if !absent.is_empty() {
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "NOTE the /observe page test: {absent:?} answered 404 (not mounted on this \
                 build); the checks that need them are skipped"
            );
        }
    }
    let slo_absent: Vec<&str> = absent
        .iter()
        .copied()
        .filter(|e| ["/slos", "/alerts", "/dependencies"].contains(e))
        .collect();
    if slo_absent.is_empty() {
        // The SLO engine has counted the slow request once it shows a burn rate.
        let mut slos = Value::Null;
        for _ in 0..300 {
            slos = get_json(&client, &format!("{admin_base}/observe/api/v1/slos")).await;
            if burn_rates(&slos).iter().any(|&r| r > 0.0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(burn_rates(&slos).iter().any(|&r| r > 0.0), "{slos}");
    }

    // The admin routes nested under /admin on an application's own router.
    let nested_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let nested_mount = format!("http://{}/admin", nested_listener.local_addr().unwrap());
    let nested = tokio::spawn(
        axum::serve(
            nested_listener,
            Router::new().nest("/admin", observe_axum::admin_routes()),
        )
        .into_future(),
    );
    // Each page's files and links resolve under its mount point.
    let pages = [
        (admin_base.as_str(), "/observe"),
        (admin_base.as_str(), "/observe/"),
        (nested_mount.as_str(), "/observe"),
    ];
    for (mount, path) in pages {
        page_loads_its_files(&client, mount, path).await;
    }

    if let Some(python) = browser_tools() {
        let shots = if std::env::var_os("OBSERVE_UPDATE_SCREENSHOTS").is_some_and(|v| v == "1") {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/observe-page")
        } else {
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("observe-page")
        };
        let other = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("observe-page-at");
        let runs = [
            (pages[0], shots, NEW_RATIOS[0]),
            (pages[1], other.join("trailing-slash"), NEW_RATIOS[1]),
            (pages[2], other.join("nested"), NEW_RATIOS[2]),
        ];
        for ((mount, path), shots, ratio) in runs {
            let page = Page {
                mount,
                path,
                shots: &shots,
                ratio,
            };
            browser(&python, &client, &page, &slow_trace, &absent).await;
        }
    }

    nested.abort();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// The `src` and `href` values of the page's HTML, but `data:` ones.
fn linked_urls(html: &str) -> Vec<&str> {
    let mut urls = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for (at, _) in html.match_indices(attr) {
            let value = &html[at + attr.len()..];
            let value = &value[..value.find('"').unwrap_or(value.len())];
            if !value.starts_with("data:") {
                urls.push(value);
            }
        }
    }
    urls
}

/// The page at `<mount><path>`, and every file and link it names, as the browser
/// resolves them: all under `<mount>/observe/`, all answered.
async fn page_loads_its_files(client: &reqwest::Client, mount: &str, path: &str) {
    let url = reqwest::Url::parse(&format!("{mount}{path}")).unwrap();
    let page = client.get(url.clone()).send().await.unwrap();
    assert_eq!(page.status(), 200, "{url}");
    let html = page.text().await.unwrap();
    let linked = linked_urls(&html);
    assert!(linked.len() >= 3, "{url} links {linked:?}");
    for value in linked {
        let resolved = url.join(value).unwrap();
        assert!(
            resolved.as_str().starts_with(&format!("{mount}/observe/")),
            "the page at {url} links {value:?}, which is {resolved}: outside {mount}/observe/"
        );
        let r = client.get(resolved.clone()).send().await.unwrap();
        assert_eq!(
            r.status(),
            200,
            "the page at {url} links {value:?}, {resolved}"
        );
    }
}

fn burn_rates(slos: &Value) -> Vec<f64> {
    slos["slos"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["windows"].as_array().into_iter().flatten())
        .filter_map(|w| w["burn_rate"].as_f64())
        .collect()
}

/// The Python interpreter that drives chromium, when it and chromium are there.
fn browser_tools() -> Option<PathBuf> {
    let Some(python) = python() else {
        skip("no Python with selenium (run ./scripts/setup.sh, or set OBSERVE_TEST_PYTHON)");
        return None;
    };
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        skip("no chromium or chromedriver (run ./scripts/setup.sh)");
        return None;
    }
    Some(python)
}

/// One page for the browser: the admin routes' mount point (the admin listener, or
/// `/admin` on the application's router) and the page's path under it.
struct Page<'a> {
    mount: &'a str,
    path: &'a str,
    shots: &'a Path,
    /// The sampling ratio set through the Controls view.
    ratio: &'a str,
}

async fn browser(
    python: &Path,
    client: &reqwest::Client,
    page: &Page<'_>,
    slow_trace: &str,
    absent: &[&str],
) {
    let slo_absent = absent
        .iter()
        .any(|e| ["/slos", "/alerts", "/dependencies"].contains(e));
    let mount = page.mount;
    let url = format!("{mount}{}", page.path);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/page/drive.py");
    let output = tokio::process::Command::new(python)
        .arg(&script)
        .arg(&url)
        .arg(page.shots)
        .arg("GET /slow")
        .arg("GET /orders/{id}")
        .arg(page.ratio)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "drive.py failed ({}):\n{stderr}",
        output.status
    );
    let full: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("drive.py printed no report ({e}):\n{stderr}"));
    // The report as failure messages show it: the console apart (it can be long).
    let mut report = full.clone();
    report["console"] = Value::from(full["console"].as_array().map_or(0, |c| c.len()));

    // Every view did what drive.py asked (else: which wait timed out, and what the
    // view's message said).
    assert!(
        report["failed"].is_null(),
        "{url}: views that did not show what was expected: {:#}\nthe whole report: {report}",
        report["failed"]
    );

    // Its script, style sheet, API calls and links, all under its mount point.
    assert_eq!(
        report["script_src"],
        format!("{mount}/observe/assets/app.js"),
        "{report}"
    );
    let sheet = format!("{mount}/observe/assets/style.css");
    assert!(
        report["stylesheets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["href"] == sheet.as_str() && s["rules"].as_u64() > Some(10)),
        "{url} did not load {sheet}: {report}"
    );
    assert_eq!(
        report["dump_href"],
        format!("{mount}/observe/api/v1/dump"),
        "{report}"
    );
    let calls = report["api_calls"].as_array().unwrap();
    assert!(calls.len() >= 5, "{url}: the page called the API {calls:?}");
    let api = format!("{mount}/observe/api/v1/");
    for call in calls {
        let called = call["url"].as_str().unwrap();
        assert!(
            called.starts_with(&api),
            "{url} called {called}, outside {api}"
        );
        let endpoint = &called[api.len() - 1..];
        let endpoint = &endpoint[..endpoint.find('?').unwrap_or(endpoint.len())];
        if !absent.contains(&endpoint) {
            assert_eq!(call["status"], 200, "{url} called {called}: {call}");
        }
    }

    // The slow request heads the slowest list.
    assert_eq!(report["slowest"][0]["name"], "GET /slow", "{url}: {report}");
    assert_eq!(report["slowest"][0]["trace_id"], slow_trace, "{report}");

    // Its waterfall: the server span, then build_report under it, then render_report
    // under that; every span after its parent, one level deeper.
    let rows = report["waterfall"].as_array().expect("waterfall rows");
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    let at = |name: &str| {
        names
            .iter()
            .position(|n| n.ends_with(name))
            .unwrap_or_else(|| panic!("no {name} in the waterfall {names:?}"))
    };
    let (root, build, render) = (at("GET /slow"), at("build_report"), at("render_report"));
    assert_eq!(root, 0, "the server span first: {names:?}");
    assert!(rows[root]["parent_span_id"].is_null(), "{report}");
    assert!(root < build && build < render, "{names:?}");
    assert_eq!(rows[build]["parent_span_id"], rows[root]["span_id"]);
    assert_eq!(rows[render]["parent_span_id"], rows[build]["span_id"]);
    assert_eq!(rows[root]["depth"], 0);
    assert_eq!(rows[build]["depth"], 1);
    assert_eq!(rows[render]["depth"], 2);
    for (i, row) in rows.iter().enumerate() {
        if let Some(parent) = row["parent_span_id"].as_str() {
            let p = rows
                .iter()
                .position(|r| r["span_id"] == parent)
                .unwrap_or_else(|| panic!("row {i}'s parent is not in the waterfall"));
            assert!(p < i, "row {i} comes before its parent: {names:?}");
            assert_eq!(
                row["depth"].as_u64(),
                rows[p]["depth"].as_u64().map(|d| d + 1)
            );
        }
    }
    assert!(
        report["log_lines"].as_u64().unwrap() >= 1,
        "the trace's log lines: {report}"
    );

    // The percentile plot drew the slow route (and the comparison).
    assert!(
        report["plot_series"]
            .as_str()
            .unwrap()
            .contains("GET /slow"),
        "{report}"
    );
    assert!(report["plot_points"].as_u64().unwrap() >= 2, "{report}");
    assert!(report["plot_points_b"].as_u64().unwrap() >= 2, "{report}");

    // The sampling change made on the page, with its confirmation and audit line.
    assert!(
        report["confirm_text"]
            .as_str()
            .unwrap()
            .contains(page.ratio),
        "{report}"
    );
    assert!(
        report["control_result"].as_str().unwrap().contains("audit"),
        "{report}"
    );
    // The tracer-bullet button fired at the service: served, with a link to its trace.
    assert!(
        report["bullet_status"]
            .as_str()
            .unwrap()
            .contains("as a tracer bullet"),
        "{report}"
    );
    assert!(
        report["bullet_result"]
            .as_str()
            .unwrap()
            .starts_with("answered 200"),
        "{report}"
    );
    assert_eq!(report["bullet_links"], 1, "{report}");
    // Writing a snapshot asks first as well (cancelled here: nothing written).
    assert!(
        report["dump_confirm_text"]
            .as_str()
            .unwrap()
            .contains("snapshot"),
        "{report}"
    );
    assert!(
        report["dump_result"]
            .as_str()
            .unwrap()
            .contains("no snapshot written"),
        "{report}"
    );
    let sampling = get_json(client, &format!("{mount}/observe/api/v1/sampling")).await;
    assert_eq!(
        sampling["ratio"].as_f64(),
        Some(page.ratio.parse().unwrap()),
        "{sampling}"
    );

    // The SLO card of the slow route shows its burn rates.
    if !slo_absent {
        let names = report["slo_names"].as_array().unwrap();
        assert!(names.iter().any(|n| n == "slow-under-200ms"), "{report}");
        let rates: Vec<f64> = report["burn_rates"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r.as_str()?.parse().ok())
            .collect();
        assert!(
            rates.iter().any(|&r| r > 0.0),
            "no burn rate on the SLO cards: {report}"
        );
        assert!(
            !report["deps_callees"].as_array().unwrap().is_empty(),
            "{report}"
        );
        assert!(report["graph_nodes"].as_u64().unwrap() >= 2, "{report}");
    }

    // No error in the browser's console (script errors, failed loads), but the
    // failed loads of the endpoints found absent above.
    let errors: Vec<&Value> = full["console"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["level"] == "SEVERE" || e["level"] == "WARNING")
        .filter(|e| {
            let message = e["message"].as_str().unwrap_or_default();
            !(e["source"] == "network"
                && absent
                    .iter()
                    .any(|a| message.contains(&format!("/observe/api/v1{a} "))))
        })
        .collect();
    assert!(errors.is_empty(), "{url}: the browser logged: {errors:?}");
}

#[allow(clippy::print_stderr)]
fn skip(why: &str) {
    eprintln!("SKIPPED the browser part of the /observe page test: {why}");
}
