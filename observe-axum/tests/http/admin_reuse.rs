//! `serve!` and observe's own admin listener: when observe is running with its
//! listener, `serve!` starts no second one; when `serve!` starts observe, the
//! listener it is given is served by observe's admin thread. Process-wide (`init`),
//! so each scenario runs in a child process of this test binary.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use axum::Router;
use axum::routing::get;

use crate::support::client;

const SCENARIO: &str = "OBSERVE_AXUM_ADMIN_SCENARIO";

/// Runs `scenario` with `OBSERVE_ADMIN_ADDR=admin`; returns its `KEY value` lines
/// printed before `READY`, and a closure that stops it (closing its stdin) and
/// checks it exited cleanly.
fn start(scenario: &str, admin: &str) -> (Vec<(String, String)>, impl FnOnce() + use<>) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "admin_reuse::child",
        "--nocapture",
        "--test-threads=1",
        "--quiet",
    ])
    .env(SCENARIO, scenario)
    .env_remove("RUST_LOG")
    .stdin(Stdio::piped())
    .stdout(Stdio::piped());
    for k in observe_core::config::VARIABLES {
        cmd.env_remove(k);
    }
    cmd.env("OBSERVE_ADMIN_ADDR", admin)
        .env("OBSERVE_LOG_OUTPUT", "none");
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut said = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line == "READY" {
            break;
        }
        if let Some((k, v)) = line.split_once(' ') {
            said.push((k.to_owned(), v.to_owned()));
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    let stop = move || {
        drop(child.stdin.take());
        let status = child.wait().unwrap();
        assert!(status.success(), "the child failed: {status}");
    };
    (said, stop)
}

fn value<'a>(said: &'a [(String, String)], key: &str) -> &'a str {
    &said
        .iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no {key} in {said:?}"))
        .1
}

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
    // Before any runtime, as a worker or a `main` would.
    let guard = (scenario == "init-then-serve").then(|| observe_core::init().expect("init"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        say(format!("APP {}", listener.local_addr().unwrap()));
        let app = Router::new().route("/work/{id}", get(|| async { "ok" }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut serve = observe_axum::serve!(listener, app).with_graceful_shutdown(async move {
            let _ = stopped.await;
        });
        if scenario == "serve-with-given-listener" {
            let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            say(format!("GIVEN {}", admin.local_addr().unwrap()));
            serve = serve.admin_listener(admin);
        }
        let server = tokio::spawn(serve.into_future());
        // Wait (boundedly) until observe's listener runs.
        for _ in 0..500 {
            if matches!(
                observe_core::admin::listener_state(),
                observe_core::admin::ListenerState::Listening(_)
            ) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        say(format!("STATE {:?}", observe_core::admin::listener_state()));
        say("READY".into());
        let _ = tokio::task::spawn_blocking(|| {
            let mut rest = String::new();
            let _ = std::io::stdin().read_line(&mut rest);
        })
        .await;
        let _ = stop.send(());
        server.await.unwrap().expect("serve ends cleanly");
    });
    drop(guard);
}

/// A port free a moment ago.
fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

#[tokio::test]
async fn serve_reuses_the_admin_listener_init_started() {
    let admin = free_port();
    // Were `serve!` to bind OBSERVE_ADMIN_ADDR again, it would fail (address in use)
    // and the child would exit with an error.
    let (said, stop) = start("init-then-serve", &admin);
    assert_eq!(value(&said, "STATE"), format!("Listening({admin})"));
    let app = value(&said, "APP");
    client()
        .get(format!("http://{app}/work/1"))
        .send()
        .await
        .unwrap();
    let scrape = client()
        .get(format!("http://{admin}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(scrape.contains(r#"http_route="/work/{id}""#), "{scrape}");
    stop();
}

#[tokio::test]
async fn a_listener_given_to_serve_is_served_by_observes_admin_thread() {
    let (said, stop) = start("serve-with-given-listener", &free_port());
    let given = value(&said, "GIVEN");
    assert_eq!(value(&said, "STATE"), format!("Listening({given})"));
    let response = client()
        .get(format!("http://{given}/observe/api/v1/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    stop();
}
