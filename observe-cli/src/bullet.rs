//! Firing a tracer bullet: [`fire`] sends one request and returns what came back.
//!
//! ```no_run
//! use observe_cli::bullet::{self, Bullet};
//!
//! # async fn doc() -> Result<(), Box<dyn std::error::Error>> {
//! let key = bullet::key_from_env()?;
//! let outcome = bullet::fire(&key, &Bullet::get("http://localhost:8080/checkout")).await?;
//! println!("trace {} answered {}", outcome.trace_id, outcome.status);
//! if let Some(Ok(footprint)) = &outcome.footprint {
//!     println!("{}", footprint.describe());
//! }
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::time::Duration;

use observe_core::Builder;
use observe_core::config::TracerBulletKey;
use observe_core::footprint::{self, ParseError, Summary};
use observe_core::propagation::{BAGGAGE, OBSERVE_TRACER_BULLET, TRACEPARENT};
use observe_core::server::Refusal;
use observe_core::{SpanId, TraceId, tracer_bullet};

/// The variable the key is read from, as the services read it.
pub const KEY_VAR: &str = "OBSERVE_TRACER_BULLET_KEY";

/// The response headers [`fire`] keeps (besides the footprint and the refusal).
/// `location` shows where a redirect, which a bullet never follows, points.
pub const HEADERS_OF_INTEREST: [&str; 6] = [
    "traceresponse",
    "server-timing",
    "x-request-id",
    "location",
    "content-type",
    "content-length",
];

/// A request to fire as a tracer bullet.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Bullet {
    /// The method.
    pub method: http::Method,
    /// The URL.
    pub url: String,
    /// More request headers (`traceparent`, `baggage` and the token are observe's).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Option<Vec<u8>>,
    /// The trace id to use; a random one when `None`.
    pub trace_id: Option<TraceId>,
    /// How long to wait for the whole answer.
    pub timeout: Duration,
    /// For an `https://` URL: a PEM file of the CA certificates to trust instead
    /// of the platform's trust store (a private CA). `None`: the platform's store.
    pub ca_certificate: Option<std::path::PathBuf>,
}

impl Bullet {
    /// A `GET` of `url`, with a 30 s timeout.
    pub fn get(url: impl Into<String>) -> Bullet {
        Bullet {
            method: http::Method::GET,
            url: url.into(),
            headers: Vec::new(),
            body: None,
            trace_id: None,
            timeout: Duration::from_secs(30),
            ca_certificate: None,
        }
    }

    /// Trusts the CA certificates of this PEM file (only them) for `https://`.
    pub fn ca_certificate(mut self, path: impl Into<std::path::PathBuf>) -> Bullet {
        self.ca_certificate = Some(path.into());
        self
    }

    /// Another method.
    pub fn method(mut self, method: http::Method) -> Bullet {
        self.method = method;
        self
    }

    /// Adds a request header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Bullet {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Bullet {
        self.body = Some(body.into());
        self
    }

    /// A chosen trace id.
    pub fn trace_id(mut self, trace_id: TraceId) -> Bullet {
        self.trace_id = Some(trace_id);
        self
    }

    /// The timeout.
    pub fn timeout(mut self, timeout: Duration) -> Bullet {
        self.timeout = timeout;
        self
    }
}

/// What came back.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Outcome {
    /// The trace the bullet started: look it up in the tracing backend.
    pub trace_id: TraceId,
    /// The response status.
    pub status: u16,
    /// The refusal reason, when a service refused the bullet
    /// (`observe-tracer-bullet-refused`).
    pub refused: Option<String>,
    /// The [`HEADERS_OF_INTEREST`] present in the response.
    pub headers: Vec<(String, String)>,
    /// The footprint header as sent, when there was one.
    pub footprint_header: Option<String>,
    /// The footprint, read; `None` without the header.
    pub footprint: Option<Result<Summary, ParseError>>,
    /// The body.
    pub body: Vec<u8>,
}

impl Outcome {
    /// A service refused the bullet: 403 with `observe-tracer-bullet-refused`.
    pub fn is_refused(&self) -> bool {
        self.status == Refusal::HTTP_STATUS && self.refused.is_some()
    }

    /// The outcome as JSON (what `observe bullet --json` prints).
    pub fn to_json(&self) -> serde_json::Value {
        let footprint = match &self.footprint {
            None => serde_json::Value::Null,
            Some(Err(e)) => serde_json::json!({ "error": e.to_string() }),
            Some(Ok(s)) => serde_json::json!({
                "services": s.services(),
                "skipped": s.skipped().iter().map(|e| serde_json::json!({
                    "service": e.service, "name": e.name, "count": e.count,
                })).collect::<Vec<_>>(),
                "blocked": s.blocked().iter().map(|e| serde_json::json!({
                    "service": e.service, "host": e.host, "count": e.count,
                })).collect::<Vec<_>>(),
                "refused": s.refused().iter().map(|e| serde_json::json!({
                    "service": e.service, "host": e.host, "reason": e.reason, "count": e.count,
                })).collect::<Vec<_>>(),
                "cut": s.cut(),
                "summary": s.describe(),
            }),
        };
        serde_json::json!({
            "trace_id": self.trace_id.to_string(),
            "status": self.status,
            "refused": self.refused,
            "headers": self
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str())))
                .collect::<serde_json::Map<_, _>>(),
            "footprint_header": self.footprint_header,
            "footprint": footprint,
            "body": String::from_utf8_lossy(&self.body),
        })
    }
}

/// Why a bullet could not be fired or answered.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// No key, or not a valid one.
    Key(String),
    /// The request could not be built (a bad URL, header or method).
    Request(String),
    /// The TLS settings could not be used (an unreadable or invalid CA file, no
    /// trust store).
    Tls(String),
    /// No answer (connection refused, a certificate that does not verify,
    /// timeout, ...).
    Send(Box<dyn std::error::Error + Send + Sync>),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Key(e) => f.write_str(e),
            Error::Request(e) => write!(f, "invalid request: {e}"),
            Error::Tls(e) => write!(f, "TLS: {e}"),
            Error::Send(e) => {
                write!(f, "no answer: {e}")?;
                let mut source = e.source();
                while let Some(s) = source {
                    write!(f, ": {s}")?;
                    source = s.source();
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Error {}

/// Reads a key in the services' format (hex or base64, optionally prefixed `hex:`
/// or `base64:`, at least 32 bytes), with observe's own parser.
///
/// # Errors
/// [`Error::Key`] naming what is expected (never the key itself).
pub fn parse_key(text: &str) -> Result<TracerBulletKey, Error> {
    let text = text.trim().to_owned();
    let config = Builder::new()
        .env_lookup(move |name| (name == KEY_VAR).then(|| text.clone()))
        .build_config()
        .map_err(|e| Error::Key(e.to_string()))?;
    config
        .propagation
        .tracer_bullet_key
        .ok_or_else(|| Error::Key(format!("{KEY_VAR} is empty")))
}

/// The key from `OBSERVE_TRACER_BULLET_KEY`.
///
/// # Errors
/// [`Error::Key`]: unset or invalid.
pub fn key_from_env() -> Result<TracerBulletKey, Error> {
    match std::env::var(KEY_VAR) {
        Ok(v) if !v.trim().is_empty() => parse_key(&v),
        _ => Err(Error::Key(format!(
            "no key: set {KEY_VAR} (the services' key) or pass --key-file"
        ))),
    }
}

/// The key from a file (its whole content, surrounding whitespace ignored).
///
/// # Errors
/// [`Error::Key`]: the file cannot be read, or is not a key.
pub fn key_from_file(path: &std::path::Path) -> Result<TracerBulletKey, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Key(format!("cannot read the key file {}: {e}", path.display())))?;
    parse_key(&text)
}

/// Sends `bullet` with `traceparent` (a new span of its trace, sampled), the
/// baggage marker `observe.request_type=tracer_bullet` and a token signed now
/// with `key`, and reads the whole answer. An `https://` URL is spoken over TLS
/// (rustls): the platform's trust store, or [`Bullet::ca_certificate`]'s CAs only;
/// the server's certificate must verify for its host name, or nothing is sent.
/// Redirects are never followed, so a bullet never reaches another host.
///
/// # Errors
/// [`Error::Request`] for a request that cannot be built, [`Error::Send`] when no
/// answer came.
pub async fn fire(key: &TracerBulletKey, bullet: &Bullet) -> Result<Outcome, Error> {
    let trace_id = bullet.trace_id.unwrap_or_else(TraceId::random);
    let traceparent = format!("00-{trace_id}-{}-01", SpanId::random());
    let token = tracer_bullet::sign_now(key, trace_id);

    let uri: http::Uri = bullet
        .url
        .parse()
        .map_err(|e| Error::Request(format!("URL {:?}: {e}", bullet.url)))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(Error::Request(format!(
            "URL {:?}: expected http:// or https:// and a host",
            bullet.url
        )));
    }
    let mut request = http::Request::builder()
        .method(bullet.method.clone())
        .uri(uri.clone());
    for (name, value) in &bullet.headers {
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| Error::Request(format!("header name {name:?}: {e}")))?;
        let value = http::HeaderValue::from_str(value)
            .map_err(|e| Error::Request(format!("header {name}: {e}")))?;
        request = request.header(name, value);
    }
    request = request
        .header(TRACEPARENT, traceparent)
        .header(BAGGAGE, "observe.request_type=tracer_bullet")
        .header(OBSERVE_TRACER_BULLET, token);
    let body = bytes::Bytes::from(bullet.body.clone().unwrap_or_default());
    let request = request
        .body(http_body_util::Full::new(body))
        .map_err(|e| Error::Request(e.to_string()))?;

    // hyper follows no redirect: what the edge answers is the point.
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_config(
            uri.scheme_str() == Some("https"),
            bullet.ca_certificate.as_deref(),
        )?)
        .https_or_http()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, http_body_util::Full<bytes::Bytes>>(connector);
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| Error::Send(Box::new(e)))?;
        let (parts, body) = response.into_parts();
        let body = http_body_util::BodyExt::collect(body)
            .await
            .map_err(|e| Error::Send(Box::new(e)))?
            .to_bytes();
        Ok::<_, Error>((parts, body))
    };
    let (response, body) = tokio::time::timeout(bullet.timeout, exchange)
        .await
        .map_err(|_| {
            Error::Send(format!("no complete answer within {:?}", bullet.timeout).into())
        })??;

    let status = response.status.as_u16();
    let headers = &response.headers;
    let text = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let refused = text(Refusal::HEADER);
    let kept = HEADERS_OF_INTEREST
        .iter()
        .filter_map(|name| Some((name.to_string(), text(name)?)))
        .collect();
    let footprint_header = text(footprint::HEADER);
    let footprint = headers
        .get(footprint::HEADER)
        .map(|v| Summary::parse(v.as_bytes()));
    let body = body.to_vec();
    Ok(Outcome {
        trace_id,
        status,
        refused,
        headers: kept,
        footprint_header,
        footprint,
        body,
    })
}

/// The rustls configuration of `https://` URLs: the platform's trust store, or
/// the CA certificates of `ca_file` only. The collector's name and validity are
/// verified by rustls (TLS 1.2 and 1.3, the ring provider). For an `http://` URL
/// (`https` false) nothing is read: no root is needed where no TLS is spoken.
fn tls_config(
    https: bool,
    ca_file: Option<&std::path::Path>,
) -> Result<rustls::ClientConfig, Error> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?;
    if !https {
        return Ok(builder
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth());
    }
    let config = match ca_file {
        Some(path) => {
            let shown = path.display();
            let pem = std::fs::read(path)
                .map_err(|e| Error::Tls(format!("cannot read the CA file {shown}: {e}")))?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| Error::Tls(format!("the CA file {shown}: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| Error::Tls(format!("the CA file {shown}: {e}")))?;
            }
            if roots.is_empty() {
                return Err(Error::Tls(format!(
                    "the CA file {shown} holds no CERTIFICATE"
                )));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => {
            let verifier = rustls_platform_verifier::Verifier::new(provider).map_err(|e| {
                Error::Tls(format!(
                    "the platform's trust store could not be used ({e}); pass --cacert"
                ))
            })?;
            builder
                .dangerous() // only to plug in the platform's verifier; nothing is disabled
                .with_custom_certificate_verifier(std::sync::Arc::new(verifier))
                .with_no_client_auth()
        }
    };
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_as_the_services_read_them() {
        let hex = "2a".repeat(32);
        let key = parse_key(&format!(" {hex}\n")).unwrap();
        assert_eq!(key.expose_bytes(), [42u8; 32]);
        assert_eq!(
            parse_key(&format!("hex:{hex}")).unwrap().expose_bytes(),
            [42u8; 32]
        );
        let short = parse_key("abcd").unwrap_err().to_string();
        assert!(short.contains("OBSERVE_TRACER_BULLET_KEY"), "{short}");
        assert!(!short.contains("abcd"), "the key is never printed: {short}");
    }
}
