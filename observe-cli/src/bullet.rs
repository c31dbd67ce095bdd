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
pub const HEADERS_OF_INTEREST: [&str; 5] = [
    "traceresponse",
    "server-timing",
    "x-request-id",
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
        }
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
    /// No answer (connection refused, timeout, an `https://` URL, ...).
    Send(reqwest::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Key(e) => f.write_str(e),
            Error::Request(e) => write!(f, "invalid request: {e}"),
            Error::Send(e) => {
                write!(f, "no answer: {e}")?;
                let mut source = std::error::Error::source(e);
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
/// with `key`, and reads the whole answer.
///
/// # Errors
/// [`Error::Request`] for a request that cannot be built, [`Error::Send`] when no
/// answer came.
pub async fn fire(key: &TracerBulletKey, bullet: &Bullet) -> Result<Outcome, Error> {
    let trace_id = bullet.trace_id.unwrap_or_else(TraceId::random);
    let traceparent = format!("00-{trace_id}-{}-01", SpanId::random());
    let token = tracer_bullet::sign_now(key, trace_id);

    let client = reqwest::Client::builder()
        .timeout(bullet.timeout)
        // What the edge answers is the point: never follow it elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(Error::Send)?;
    let mut request = client.request(bullet.method.clone(), &bullet.url);
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
    if let Some(body) = &bullet.body {
        request = request.body(body.clone());
    }
    let request = request.build().map_err(|e| Error::Request(e.to_string()))?;
    let response = client.execute(request).await.map_err(Error::Send)?;

    let status = response.status().as_u16();
    let headers = response.headers();
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
    let body = response.bytes().await.map_err(Error::Send)?.to_vec();
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
