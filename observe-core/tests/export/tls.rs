//! OTLP over TLS, against a real TLS endpoint on loopback: the Python receiver
//! serving TLS (Python's `ssl` over HTTP, grpcio's own TLS over gRPC) with
//! certificates this test makes (rcgen): a private CA, the receiver's certificate
//! for `127.0.0.1`, a client certificate for mutual TLS, and a second CA that
//! signed none of them (the wrong-CA case).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use observe_core::Builder;
use observe_core::config::{ExportConfig, OtlpExport, OtlpTls};
use observe_core::export::{Exporter, MetricsExporter};
use observe_core::span::Span;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

use crate::support::{Instance, Receiver, resource, settings, spans_of};

/// The files of a small PKI in a fresh directory.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new() -> Pki {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "tls-{}-{}",
            std::process::id(),
            observe_core::TraceId::random()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = ca_issuer("observe test CA");
        let wrong = ca_issuer("another CA");
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.join("wrong-ca.pem"), wrong.pem()).unwrap();
        let leaf = |name: &str, sans: Vec<String>| {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(sans)
                .unwrap()
                .signed_by(&key, &ca)
                .unwrap();
            std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
            std::fs::write(dir.join(format!("{name}-key.pem")), key.serialize_pem()).unwrap();
        };
        leaf("server", vec!["127.0.0.1".into(), "localhost".into()]);
        leaf("client", vec!["observe-client".into()]);
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn path_str(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_owned()
    }

    /// A TLS receiver; with `mtls`, it requires a client certificate of our CA.
    fn receiver(&self, mtls: bool) -> Option<Receiver> {
        let (cert, key, ca) = (
            self.path_str("server.pem"),
            self.path_str("server-key.pem"),
            self.path_str("ca.pem"),
        );
        let mut args = vec!["--tls-cert", &cert, "--tls-key", &key];
        if mtls {
            args.extend(["--client-ca", &ca]);
        }
        Receiver::start_with(0, 0, None, &args)
    }

    fn trusting(&self, ca: &str) -> OtlpTls {
        OtlpTls::new().ca_certificate(self.path(ca))
    }

    fn with_client(&self, ca: &str) -> OtlpTls {
        self.trusting(ca)
            .client_identity(self.path("client.pem"), self.path("client-key.pem"))
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ca_params(name: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(rcgen::DnType::CommonName, name.to_owned());
    p
}

fn ca_issuer(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    CertifiedIssuer::self_signed(ca_params(name), KeyPair::generate().unwrap()).unwrap()
}

fn http(rx: &Receiver, tls: OtlpTls) -> OtlpExport {
    OtlpExport::http(format!("https://127.0.0.1:{}/v1/traces", rx.http_port)).with_tls(tls)
}

#[cfg(feature = "grpc")]
fn grpc(rx: &Receiver, tls: OtlpTls) -> OtlpExport {
    OtlpExport::grpc(format!("https://127.0.0.1:{}", rx.grpc_port)).with_tls(tls)
}

/// Exports `n` spans to `target`; returns the exporter after a flush.
fn export_spans(target: OtlpExport, n: usize) -> (Exporter, Instance) {
    let mut target = target;
    target.timeout = Duration::from_secs(3);
    let exporter = Exporter::start(settings(target, None), &resource()).expect("exporter");
    let inst = Instance::start(&exporter, 1.0, Duration::from_secs(3));
    for i in 0..n {
        let s = Span::new("GET /secure");
        s.set_attribute("i", i as u64);
        s.end();
    }
    (exporter, inst)
}

fn delivered(rx: &Receiver, target: OtlpExport, n: usize) {
    let (exporter, inst) = export_spans(target, n);
    assert!(inst.flush(Duration::from_secs(10)), "flush in time");
    let recs = rx.wait_for(Duration::from_secs(10), |r| spans_of(r).len() >= n);
    assert_eq!(spans_of(&recs).len(), n, "{:?}", exporter.stats());
    let st = exporter.stats();
    assert_eq!(st.spans_exported, n as u64, "{st:?}");
    assert_eq!(st.spans_failed, 0, "{st:?}");
}

/// The receiver refuses the handshake (or we do): nothing arrives, the failure is
/// counted with its error, and neither flush nor shutdown blocks past its deadline.
fn refused(rx: &Receiver, target: OtlpExport, expected_error: &[&str]) {
    let (exporter, mut inst) = export_spans(target, 10);
    let start = Instant::now();
    inst.flush(Duration::from_secs(2));
    assert!(inst.shutdown() || start.elapsed() < Duration::from_secs(30));
    let st = exporter.stats();
    assert!(spans_of(&rx.records()).is_empty(), "nothing crossed");
    assert_eq!(st.spans_exported, 0, "{st:?}");
    assert!(
        st.spans_failed + st.spans_queued + st.spans_in_flight + st.spans_dropped == 10,
        "{st:?}"
    );
    let error = st.last_error.clone().unwrap_or_default().to_lowercase();
    assert!(
        expected_error.iter().any(|e| error.contains(e)),
        "the error says why: {error:?} ({st:?})"
    );
}

#[test]
fn http_export_over_tls_to_a_private_ca() {
    let pki = Pki::new();
    let Some(rx) = pki.receiver(false) else {
        return;
    };
    delivered(&rx, http(&rx, pki.trusting("ca.pem")), 5);
}

#[cfg(feature = "grpc")]
#[test]
fn grpc_export_over_tls_to_a_private_ca() {
    let pki = Pki::new();
    let Some(rx) = pki.receiver(false) else {
        return;
    };
    delivered(&rx, grpc(&rx, pki.trusting("ca.pem")), 5);
}

#[test]
fn http_export_with_a_client_certificate() {
    let pki = Pki::new();
    let Some(rx) = pki.receiver(true) else {
        return;
    };
    delivered(&rx, http(&rx, pki.with_client("ca.pem")), 5);
}

#[cfg(feature = "grpc")]
#[test]
fn grpc_export_with_a_client_certificate() {
    let pki = Pki::new();
    let Some(rx) = pki.receiver(true) else {
        return;
    };
    delivered(&rx, grpc(&rx, pki.with_client("ca.pem")), 5);
}

#[test]
fn http_export_without_the_required_client_certificate_is_refused() {
    let pki = Pki::new();
    let Some(rx) = pki.receiver(true) else {
        return;
    };
    refused(
        &rx,
        http(&rx, pki.trusting("ca.pem")),
        &["error", "connection", "certificate", "handshake"],
    );
}

#[test]
fn http_export_to_a_certificate_of_the_wrong_ca_is_refused() {
    let pki = Pki::new();
    let Some(rx) = pki.receiver(false) else {
        return;
    };
    refused(
        &rx,
        http(&rx, pki.trusting("wrong-ca.pem")),
        &["certificate"],
    );
}

#[cfg(feature = "grpc")]
#[test]
fn grpc_export_to_a_certificate_of_the_wrong_ca_is_refused() {
    let pki = Pki::new();
    let Some(rx) = pki.receiver(false) else {
        return;
    };
    refused(
        &rx,
        grpc(&rx, pki.trusting("wrong-ca.pem")),
        &["certificate"],
    );
}

#[test]
fn the_platform_trust_store_does_not_trust_a_private_ca() {
    // No CA file: the platform's store is used, and our test CA is not in it.
    let pki = Pki::new();
    let Some(rx) = pki.receiver(false) else {
        return;
    };
    let target = http(&rx, OtlpTls::new());
    // A machine without a system CA bundle cannot start the exporter at all,
    // which says so; with one, our CA is not in it and the handshake fails.
    if let Err(e) = Exporter::start(settings(target.clone(), None), &resource()) {
        assert!(e.to_string().contains("trust store"), "{e}");
        return;
    }
    refused(&rx, target, &["certificate"]);
}

fn metrics_over_tls_arrive(grpc: bool) {
    let pki = Pki::new();
    let Some(rx) = pki.receiver(true) else {
        return;
    };
    observe_core::metrics::counter("tls.metrics.sends", &[]).add(1);
    let target = if grpc {
        OtlpExport::grpc(format!("https://127.0.0.1:{}", rx.grpc_port))
    } else {
        OtlpExport::http(format!("https://127.0.0.1:{}/v1/metrics", rx.http_port))
    }
    .with_tls(pki.with_client("ca.pem"));
    let exporter = MetricsExporter::start(
        target,
        Duration::from_millis(100),
        Duration::from_secs(5),
        &resource(),
    )
    .expect("sender");
    for _ in 0..500 {
        if exporter.stats().exports >= 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(exporter.shutdown(Instant::now() + Duration::from_secs(5)));
    let st = exporter.stats();
    assert!(st.exports >= 1, "{st:?}");
    assert_eq!(st.failures, 0, "{st:?}");
    let recs = rx.wait_for(Duration::from_secs(5), |r| {
        r.iter().any(|x| x["signal"] == "metric")
    });
    assert!(recs.iter().any(|x| x["signal"] == "metric"), "{recs:?}");
}

#[test]
fn http_metrics_over_mutual_tls_arrive() {
    metrics_over_tls_arrive(false);
}

#[cfg(feature = "grpc")]
#[test]
fn grpc_metrics_over_mutual_tls_arrive() {
    metrics_over_tls_arrive(true);
}

#[test]
fn a_bad_key_file_stops_the_exporter_at_start_without_quoting_it() {
    let pki = Pki::new();
    let fake_key = pki.path("not-a-key.pem");
    std::fs::write(
        &fake_key,
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let target = OtlpExport::http("https://127.0.0.1:1/v1/traces")
        .with_tls(OtlpTls::new().client_identity(pki.path("client.pem"), &fake_key));
    let err = Exporter::start(
        ExportConfig {
            traces: Some(target),
            ..ExportConfig::default()
        },
        &resource(),
    )
    .expect_err("a key rustls cannot use");
    let text = err.to_string();
    assert!(text.contains("not-a-key.pem"), "{text}");
    assert!(
        !text.contains("c2VjcmV0"),
        "the key's content is never shown: {text}"
    );
}

fn problems(vars: &[(&'static str, String)]) -> Vec<(String, String, String)> {
    let vars = vars.to_vec();
    let lookup = move |name: &str| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    };
    match Builder::new().env_lookup(lookup).build_config() {
        Ok(_) => Vec::new(),
        Err(e) => e
            .problems()
            .iter()
            .map(|p| {
                (
                    p.variable().to_owned(),
                    p.value().to_owned(),
                    p.expected().to_owned(),
                )
            })
            .collect(),
    }
}

#[test]
fn unreadable_or_invalid_files_are_configuration_errors_naming_the_variable() {
    let pki = Pki::new();
    let not_pem = pki.path("not-pem.txt");
    std::fs::write(&not_pem, "hello").unwrap();
    let found = problems(&[
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://collector:4318".into(),
        ),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/no/such/ca.pem".into()),
        (
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
            not_pem.display().to_string(),
        ),
        (
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
            pki.path_str("client.pem"),
        ),
    ]);
    let vars: Vec<&str> = found.iter().map(|p| p.0.as_str()).collect();
    assert!(
        vars.contains(&"OTEL_EXPORTER_OTLP_CERTIFICATE"),
        "{found:?}"
    );
    assert!(
        vars.contains(&"OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE"),
        "{found:?}"
    );
    assert!(
        vars.contains(&"OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY"),
        "a certificate is not a key: {found:?}"
    );
    // A good set is no problem.
    assert!(
        problems(&[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "https://collector:4318".into()
            ),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", pki.path_str("ca.pem")),
            (
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                pki.path_str("client.pem")
            ),
            (
                "OTEL_EXPORTER_OTLP_CLIENT_KEY",
                pki.path_str("client-key.pem")
            ),
        ])
        .is_empty()
    );
}
