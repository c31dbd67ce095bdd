//! TLS settings of OTLP export: which certificates to trust, and the client
//! certificate for mutual TLS (`OTEL_EXPORTER_OTLP_CERTIFICATE`,
//! `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`, `OTEL_EXPORTER_OTLP_CLIENT_KEY` and
//! their `OTEL_EXPORTER_OTLP_<SIGNAL>_*` forms).
//!
//! Each file is named by a path; the configuration holds paths only, never key
//! material. The files of an `https://` destination are read and checked when the
//! configuration is resolved (a missing, unreadable or malformed file is a
//! configuration error naming its variable) and read again when the exporter
//! starts. Files of a destination that is not `https://` are not read.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use super::error::{Origin, Problem};
use super::export::Signal;

/// The TLS settings of one OTLP destination. Every field is optional: with none
/// set, an `https://` endpoint is verified against the platform's trust store and
/// no client certificate is sent.
///
/// ```
/// use observe_core::Builder;
/// use observe_core::config::OtlpTls;
///
/// let builder = Builder::new().otlp_endpoint("https://collector.internal:4318").otlp_tls(
///     OtlpTls::new()
///         .ca_certificate("/etc/otel/ca.pem")
///         .client_identity("/etc/otel/client.pem", "/etc/otel/client-key.pem"),
/// );
/// # let _ = builder;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OtlpTls {
    /// A PEM file of the certificates trusted to sign the collector's certificate
    /// (`OTEL_EXPORTER_OTLP_CERTIFICATE`). When set, they **replace** the
    /// platform's trust store for this destination (a private CA).
    pub ca_certificate: Option<PathBuf>,
    /// A PEM file of the client's certificate chain, leaf first, sent when the
    /// collector asks for one (`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`). Needs
    /// [`client_key`](Self::client_key).
    pub client_certificate: Option<PathBuf>,
    /// A PEM file of the client certificate's private key (PKCS#8, PKCS#1 or SEC1)
    /// (`OTEL_EXPORTER_OTLP_CLIENT_KEY`). Its content is never logged or kept in
    /// the configuration.
    pub client_key: Option<PathBuf>,
}

impl OtlpTls {
    /// No setting: the platform's trust store, no client certificate.
    pub fn new() -> OtlpTls {
        OtlpTls::default()
    }

    /// Trusts the certificates in this PEM file instead of the platform's store.
    pub fn ca_certificate(mut self, path: impl Into<PathBuf>) -> OtlpTls {
        self.ca_certificate = Some(path.into());
        self
    }

    /// Sends this client certificate chain, proven with this private key (mutual
    /// TLS). Both are PEM files.
    pub fn client_identity(
        mut self,
        certificate: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> OtlpTls {
        self.client_certificate = Some(certificate.into());
        self.client_key = Some(key.into());
        self
    }

    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.ca_certificate.is_none()
            && self.client_certificate.is_none()
            && self.client_key.is_none()
    }
}

/// Which of the three files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TlsFile {
    Ca,
    ClientCertificate,
    ClientKey,
}

impl TlsFile {
    const ALL: [TlsFile; 3] = [TlsFile::Ca, TlsFile::ClientCertificate, TlsFile::ClientKey];

    fn get(self, tls: &OtlpTls) -> Option<&PathBuf> {
        match self {
            TlsFile::Ca => tls.ca_certificate.as_ref(),
            TlsFile::ClientCertificate => tls.client_certificate.as_ref(),
            TlsFile::ClientKey => tls.client_key.as_ref(),
        }
    }

    fn set(self, tls: &mut OtlpTls, path: PathBuf) {
        match self {
            TlsFile::Ca => tls.ca_certificate = Some(path),
            TlsFile::ClientCertificate => tls.client_certificate = Some(path),
            TlsFile::ClientKey => tls.client_key = Some(path),
        }
    }
}

/// The variables of one scope, in [`TlsFile`] order.
pub(super) type TlsVars = [&'static str; 3];

/// The generic variables ([`VARIABLES`](super::VARIABLES) lists them from here).
pub(super) const GENERIC_VARS: TlsVars = [
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_KEY",
];
/// The variables of each signal, in [`Signal::ALL`] order.
pub(super) const SIGNAL_VARS: [TlsVars; 3] = [
    [
        "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
    ],
    [
        "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY",
    ],
    [
        "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY",
    ],
];
const GENERIC_METHOD: &str = "Builder::otlp_tls";
const SIGNAL_METHOD: &str = "Builder::otlp_signal_tls";

/// One path and where it came from.
#[derive(Clone, Debug)]
struct Given {
    path: PathBuf,
    origin: Origin,
    name: &'static str,
}

impl Given {
    fn problem(&self, expected: impl Into<Cow<'static, str>>) -> Problem {
        Problem::new(
            self.origin,
            self.name,
            self.path.display().to_string(),
            expected,
        )
    }
}

/// The TLS variables of the environment: generic and per signal.
pub(crate) struct EnvTls {
    generic: [Option<PathBuf>; 3],
    signal: [[Option<PathBuf>; 3]; 3],
}

impl EnvTls {
    /// Reads the variables with `raw` (the trimmed value, `None` when unset).
    pub(crate) fn read(mut raw: impl FnMut(&'static str) -> Option<String>) -> EnvTls {
        let mut read = |vars: &TlsVars| vars.map(|v| raw(v).map(PathBuf::from));
        EnvTls {
            generic: read(&GENERIC_VARS),
            signal: SIGNAL_VARS.map(|vars| read(&vars)),
        }
    }
}

/// The TLS settings of one signal, by the OpenTelemetry precedence, field by
/// field: the signal's variable, the generic variable, the signal's builder
/// setting, the generic builder setting. For an `https://` endpoint, the files
/// are checked (in a build with the `tls` feature) and every problem is returned.
pub(crate) fn resolve(
    env: &EnvTls,
    signal: Signal,
    code_own: &OtlpTls,
    code_generic: &OtlpTls,
    endpoint: &str,
) -> (OtlpTls, Vec<Problem>) {
    let i = signal.index();
    let mut tls = OtlpTls::default();
    let mut given: [Option<Given>; 3] = [None, None, None];
    for (n, file) in TlsFile::ALL.into_iter().enumerate() {
        let candidates = [
            env.signal[i][n]
                .clone()
                .map(|p| (p, Origin::Env, SIGNAL_VARS[i][n])),
            env.generic[n]
                .clone()
                .map(|p| (p, Origin::Env, GENERIC_VARS[n])),
            file.get(code_own)
                .cloned()
                .map(|p| (p, Origin::Code, SIGNAL_METHOD)),
            file.get(code_generic)
                .cloned()
                .map(|p| (p, Origin::Code, GENERIC_METHOD)),
        ];
        if let Some((path, origin, name)) = candidates.into_iter().flatten().next() {
            file.set(&mut tls, path.clone());
            given[n] = Some(Given { path, origin, name });
        }
    }
    let problems = if is_https(endpoint) {
        check(&given)
    } else {
        Vec::new()
    };
    (tls, problems)
}

/// Whether a URL asks for TLS.
pub(crate) fn is_https(endpoint: &str) -> bool {
    endpoint
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

fn check(given: &[Option<Given>; 3]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let [ca, cert, key] = given;
    match (cert, key) {
        (Some(cert), None) => {
            problems.push(cert.problem(
                "a client certificate together with its key (OTEL_EXPORTER_OTLP_CLIENT_KEY)",
            ))
        }
        (None, Some(key)) => problems.push(key.problem(
            "a client key together with its certificate (OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE)",
        )),
        _ => {}
    }
    #[cfg(feature = "tls")]
    {
        use super::pem::{load_certificates, load_key};
        if let Some(ca) = ca
            && let Err(e) = load_certificates(&ca.path)
        {
            problems.push(ca.problem(format!(
                "a readable PEM file of trusted CA certificates ({e})"
            )));
        }
        if let Some(cert) = cert
            && let Err(e) = load_certificates(&cert.path)
        {
            problems.push(cert.problem(format!(
                "a readable PEM file of the client certificate chain ({e})"
            )));
        }
        // The key's content never appears in a problem: only its path and why it
        // could not be used.
        if let Some(key) = key
            && let Err(e) = load_key(&key.path)
        {
            problems.push(key.problem(format!("a readable PEM file of a private key ({e})")));
        }
    }
    #[cfg(not(feature = "tls"))]
    let _ = (ca, cert, key);
    problems
}

/// Reads a file of at most `limit` bytes: a path that is a directory, a device or
/// a huge file is refused before anything is read.
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(crate) fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > limit {
        return Err(format!("larger than {limit} bytes"));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(format!("larger than {limit} bytes"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&'static str, &str)]) -> EnvTls {
        EnvTls::read(|v| {
            pairs
                .iter()
                .find(|(k, _)| *k == v)
                .map(|(_, val)| (*val).to_owned())
        })
    }

    #[test]
    fn each_field_follows_the_opentelemetry_precedence() {
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/generic-ca.pem"),
            ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "/traces-ca.pem"),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/generic-key.pem"),
        ]);
        let code_own = OtlpTls::new().client_identity("/own-cert.pem", "/own-key.pem");
        let code_generic = OtlpTls::new().ca_certificate("/code-ca.pem");
        let (t, _) = resolve(
            &e,
            Signal::Traces,
            &code_own,
            &code_generic,
            "http://x:4318",
        );
        assert_eq!(
            t.ca_certificate.as_deref(),
            Some(Path::new("/traces-ca.pem"))
        );
        assert_eq!(
            t.client_certificate.as_deref(),
            Some(Path::new("/own-cert.pem"))
        );
        assert_eq!(t.client_key.as_deref(), Some(Path::new("/generic-key.pem")));
        let (l, _) = resolve(&e, Signal::Logs, &OtlpTls::new(), &code_generic, "http://x");
        assert_eq!(
            l.ca_certificate.as_deref(),
            Some(Path::new("/generic-ca.pem"))
        );
        let (m, _) = resolve(
            &env(&[]),
            Signal::Metrics,
            &OtlpTls::new(),
            &code_generic,
            "http://x",
        );
        assert_eq!(m.ca_certificate.as_deref(), Some(Path::new("/code-ca.pem")));
    }

    #[test]
    fn files_of_a_plaintext_destination_are_not_read() {
        let e = env(&[("OTEL_EXPORTER_OTLP_CERTIFICATE", "/does/not/exist.pem")]);
        let (_, problems) = resolve(
            &e,
            Signal::Traces,
            &OtlpTls::new(),
            &OtlpTls::new(),
            "http://collector:4318/v1/traces",
        );
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn a_certificate_without_its_key_is_a_problem_naming_the_variable() {
        let e = env(&[("OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE", "/c.pem")]);
        let (_, problems) = resolve(
            &e,
            Signal::Logs,
            &OtlpTls::new(),
            &OtlpTls::new(),
            "HTTPS://collector:4318/v1/logs",
        );
        assert!(
            problems.iter().any(
                |p| p.variable() == "OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE"
                    && p.expected().contains("key")
            ),
            "{problems:?}"
        );
    }

    #[cfg(feature = "tls")]
    #[test]
    fn an_unreadable_file_is_a_problem_naming_the_variable() {
        let e = env(&[("OTEL_EXPORTER_OTLP_CERTIFICATE", "/does/not/exist.pem")]);
        let (_, problems) = resolve(
            &e,
            Signal::Traces,
            &OtlpTls::new(),
            &OtlpTls::new(),
            "https://collector:4318/v1/traces",
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].variable(), "OTEL_EXPORTER_OTLP_CERTIFICATE");
        assert_eq!(problems[0].value(), "/does/not/exist.pem");
    }

    #[test]
    fn reading_is_bounded() {
        let dir = std::env::temp_dir().join(format!("observe-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("big.pem");
        std::fs::write(&f, vec![b'a'; 100]).unwrap();
        assert!(read_bounded(&f, 99).unwrap_err().contains("larger"));
        assert_eq!(read_bounded(&f, 100).unwrap().len(), 100);
        assert!(read_bounded(&dir, 100).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
