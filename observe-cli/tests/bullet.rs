//! `observe bullet` against a service on loopback: the real binary, a real
//! service with observe's server layer. It signs with the key from the
//! environment, the service honours the bullet (its side effect is skipped), and
//! the command prints the trace id, the status and the footprint; a refusal exits
//! with 2, a missing key with 1.

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use observe_axum::observe_core;
use observe_core::config::TracerBulletKey;
use observe_core::tracer_bullet::InboundPolicy;

const KEY_HEX: &str = "2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a";

/// One observe instance for this test process, and one runtime serving the
/// services in the background while the command runs.
fn runtime() -> &'static tokio::runtime::Runtime {
    static GUARD: Mutex<Option<observe_core::Guard>> = Mutex::new(None);
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let guard = observe_core::Observe::builder()
            .ignore_env()
            .service_name("cli-test")
            .admin_addr(None)
            .log_writer(std::io::sink())
            .init()
            .expect("observe starts");
        *GUARD.lock().unwrap() = Some(guard);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// The same service behind TLS on loopback: a certificate for `127.0.0.1` and
/// `localhost`, made now by a CA made now, both written under `dir` (`ca.pem`).
fn tls_service(dir: &std::path::Path) -> (String, Arc<AtomicUsize>) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        tokio_rustls::rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

    let (app, writes) = router();
    let listener = runtime()
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    runtime().spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                continue;
            };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                // A client that refuses our certificate ends here.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    move |mut req: hyper::Request<hyper::body::Incoming>| {
                        req.extensions_mut()
                            .insert(axum::extract::ConnectInfo(peer));
                        let mut app = app.clone();
                        async move {
                            tower_service::Service::call(&mut app, req.map(axum::body::Body::new))
                                .await
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (format!("https://{addr}/orders"), writes)
}

/// A service that honours signed bullets: `POST /orders` writes (a side effect)
/// and answers with the request type and the body it got. Returns its URL and the
/// count of writes that ran.
/// The service's routes and the count of writes that ran.
fn router() -> (Router, Arc<AtomicUsize>) {
    let writes = Arc::new(AtomicUsize::new(0));
    let counted = writes.clone();
    let key = TracerBulletKey::from_bytes([42u8; 32]).unwrap();
    let app = Router::new()
        .route(
            "/orders",
            post(move |body: String| {
                let writes = counted.clone();
                async move {
                    observe_core::side_effect("db.insert", || {
                        writes.fetch_add(1, Ordering::SeqCst);
                    });
                    let kind = observe_core::context::current().unwrap().request_type();
                    format!("{kind} {body}")
                }
            }),
        )
        .layer(
            observe_axum::layer()
                .tracer_bullet_policy(InboundPolicy::signed(key, Duration::from_secs(60))),
        );
    (app, writes)
}

fn service() -> (String, Arc<AtomicUsize>) {
    let (app, writes) = router();
    let listener = runtime()
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    runtime().spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    (format!("http://{addr}/orders"), writes)
}

fn observe(args: &[&str], key: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_observe"));
    command
        .arg("bullet")
        .args(args)
        .env_remove("OBSERVE_TRACER_BULLET_KEY");
    if let Some(key) = key {
        command.env("OBSERVE_TRACER_BULLET_KEY", key);
    }
    command.output().expect("observe runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_signed_bullet_is_honoured_and_its_footprint_printed() {
    let (url, writes) = service();
    let output = observe(
        &[
            "--json",
            "-d",
            "sku=A-1",
            "-H",
            "content-type: text/plain",
            &url,
        ],
        Some(KEY_HEX),
    );
    assert!(
        output.status.success(),
        "{:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(json["status"], 200, "{json}");
    assert_eq!(json["body"], "tracer_bullet sku=A-1");
    assert_eq!(writes.load(Ordering::SeqCst), 0, "the write ran");
    // The trace id printed is the one the service continued.
    let trace = json["trace_id"].as_str().unwrap();
    assert_eq!(trace.len(), 32);
    let traceresponse = json["headers"]["traceresponse"].as_str().unwrap();
    assert_eq!(traceresponse.split('-').nth(1), Some(trace));
    assert_eq!(json["footprint"]["services"][0], "cli-test");
    assert_eq!(json["footprint"]["skipped"][0]["name"], "db.insert");
    assert_eq!(json["footprint"]["skipped"][0]["count"], 1);
    assert!(
        json["footprint_header"]
            .as_str()
            .unwrap()
            .starts_with("v1;svc=cli-test;skip=cli-test/db.insert*1")
    );

    // The text form says the same for a person, with a chosen trace id.
    let chosen = "0af7651916cd43dd8448eb211c80319c";
    let output = observe(&["-X", "post", "--trace-id", chosen, &url], Some(KEY_HEX));
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(
        text.starts_with(&format!("trace_id: {chosen}\nstatus: 200 OK\n")),
        "{text}"
    );
    assert!(
        text.contains("footprint: v1;svc=cli-test;skip=cli-test/db.insert*1\n  crossed cli-test; skipped db.insert in cli-test x1"),
        "{text}"
    );
    assert_eq!(writes.load(Ordering::SeqCst), 0);
}

#[test]
fn a_refused_bullet_exits_with_2_and_says_why() {
    let (url, writes) = service();
    let other_key = "07".repeat(32);
    let output = observe(&["-d", "x", &url], Some(&other_key));
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(text.contains("status: 403 Forbidden"), "{text}");
    assert!(text.contains("refused: bad_signature"), "{text}");
    assert!(text.contains("footprint: none"), "{text}");
    assert_eq!(writes.load(Ordering::SeqCst), 0);
}

#[test]
fn without_a_key_nothing_is_sent() {
    let (url, writes) = service();
    let output = observe(&["-d", "x", &url], None);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("OBSERVE_TRACER_BULLET_KEY"), "{stderr}");
    let output = observe(&["-d", "x", &url], Some("not-a-key"));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("not-a-key"),
        "the key is never printed: {stderr}"
    );
    assert_eq!(writes.load(Ordering::SeqCst), 0);
}

/// Exit status 2 means a service refused the bullet; a bad argument is 1 (not
/// fired), as the help says, whichever part of the command line is wrong.
#[test]
fn a_bad_argument_exits_with_1_not_with_the_refusal_code() {
    const KEY: &str = "hex:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    for args in [
        &[][..],
        &["--timeout", "abc", "http://127.0.0.1:9/"],
        &["--timeout", "0", "http://127.0.0.1:9/"],
        &["--no-such-flag", "http://127.0.0.1:9/"],
        &[
            "--trace-id",
            "4BF92F3577B34DA6A3CE929D0E0E4736",
            "http://127.0.0.1:9/",
        ],
    ] {
        let output = observe(args, Some(KEY));
        assert_eq!(output.status.code(), Some(1), "{args:?}: {output:?}");
    }
    let no_subcommand = Command::new(env!("CARGO_BIN_EXE_observe"))
        .output()
        .unwrap();
    assert_eq!(no_subcommand.status.code(), Some(1));
    let help = observe(&["--help"], None);
    assert_eq!(help.status.code(), Some(0));
    let upper = observe(
        &[
            "--trace-id",
            "4BF92F3577B34DA6A3CE929D0E0E4736",
            "http://127.0.0.1:9/",
        ],
        Some(KEY),
    );
    assert!(String::from_utf8_lossy(&upper.stderr).contains("lowercase"));
}

/// A directory of its own for one test's files.
fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("observe-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_bullet_over_https_to_a_private_ca() {
    let dir = temp_dir("https");
    let (url, writes) = tls_service(&dir);
    let ca = dir.join("ca.pem");
    let output = observe(
        &[
            "--json",
            "--cacert",
            ca.to_str().unwrap(),
            "-d",
            "sku=A-1",
            &url,
        ],
        Some(KEY_HEX),
    );
    assert!(
        output.status.success(),
        "{:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(json["status"], 200, "{json}");
    assert_eq!(json["body"], "tracer_bullet sku=A-1");
    assert_eq!(json["footprint"]["skipped"][0]["name"], "db.insert");
    assert_eq!(writes.load(Ordering::SeqCst), 0, "the write ran");

    // Without --cacert the platform's store does not know our CA: nothing is sent.
    let output = observe(&["-d", "x", &url], Some(KEY_HEX));
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    // (Or, on a machine without a system CA bundle, no trust store at all.)
    assert!(
        stderr.contains("certificate") || stderr.contains("trust store"),
        "{stderr}"
    );

    // A CA file that is not one is an error naming it.
    let bad = dir.join("not-a-ca.pem");
    std::fs::write(&bad, "hello").unwrap();
    let output = observe(&["--cacert", bad.to_str().unwrap(), &url], Some(KEY_HEX));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not-a-ca.pem"), "{stderr}");
    assert_eq!(writes.load(Ordering::SeqCst), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
