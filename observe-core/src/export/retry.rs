//! Which export failures are worth retrying, and when.
//!
//! `opentelemetry-otlp` 0.33 retries inside one export call (3 retries, 100 ms to
//! 1.6 s apart, all within the export timeout); a collector away for ten seconds
//! outlasts that, and the batch is lost. We switch its retries off and retry in our
//! exporter driver instead, where the batch can wait as long as the bounded queue
//! holds (see `driver.rs`). To know why an attempt failed, the HTTP client is
//! wrapped ([`ProbeClient`]) to note the status and `Retry-After` of each answer
//! before `opentelemetry-otlp` turns them into text; for gRPC, the status code is
//! in the error text it returns.
//!
//! Transient, as the OTLP specification lists them: no answer (connection refused
//! or reset, timeout), HTTP 429, 502, 503 and 504, gRPC `UNAVAILABLE`,
//! `RESOURCE_EXHAUSTED`, `DEADLINE_EXCEEDED`, `CANCELLED`, `ABORTED`,
//! `OUT_OF_RANGE`, `DATA_LOSS`. Everything else (400, 401, 403, 404, 413, gRPC
//! `INVALID_ARGUMENT`, `UNAUTHENTICATED`...) is permanent: resending the same
//! batch would fail the same way.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use opentelemetry_http::{Bytes, HttpClient, HttpError};

/// The first retry comes after about this long.
pub(super) const INITIAL_BACKOFF: Duration = Duration::from_millis(250);
/// Retries are never further apart than this (unless the server asks for more).
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The longest `Retry-After` honoured; a longer one is cut to this.
pub(super) const MAX_SERVER_DELAY: Duration = Duration::from_secs(60);

/// Why an export attempt failed, for deciding what to do with the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    /// Worth retrying; the server may have said when.
    Transient(Option<Duration>),
    /// Resending would fail the same way.
    Permanent,
}

/// What the collector answered to the last HTTP request of one exporter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Answer {
    /// No answer: the connection failed (TLS included), was reset, or timed out;
    /// why, as the HTTP client's error chain says it.
    Nothing(String),
    /// An answer too large to read (permanent: it would be again).
    TooLarge,
    /// A status, with the `Retry-After` delay when one was given, and what the
    /// collector said of an error ([`said`]).
    Status(u16, Option<Duration>, Option<String>),
}

/// The most of a collector's error message kept (characters).
const MAX_SAID: usize = 256;

/// What a collector said in an error answer's body: the `message` of an OTLP
/// `google.rpc.Status` (protobuf, field 2), or a text body; one line, control
/// characters replaced, at most [`MAX_SAID`] characters. `None` for a success or
/// an empty or binary body.
fn said(response: &http::Response<Bytes>) -> Option<String> {
    if response.status().is_success() || response.body().is_empty() {
        return None;
    }
    let body = &response.body()[..response.body().len().min(4096)];
    let protobuf = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            t.starts_with("application/x-protobuf") || t.starts_with("application/protobuf")
        });
    let text = if protobuf {
        status_message(body)?
    } else {
        std::str::from_utf8(body).ok()?
    };
    let line: String = text
        .trim()
        .chars()
        .take(MAX_SAID)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    (!line.is_empty()).then_some(line)
}

/// Field 2 (`message`) of a protobuf `google.rpc.Status`, read from its top-level
/// fields only (the others are skipped by their wire type).
fn status_message(mut b: &[u8]) -> Option<&str> {
    fn varint(b: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = b.split_first()?;
            *b = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    while !b.is_empty() {
        let key = varint(&mut b)?;
        let len = match key & 7 {
            0 => {
                varint(&mut b)?;
                continue;
            }
            1 => 8,
            5 => 4,
            2 => usize::try_from(varint(&mut b)?).ok()?,
            _ => return None,
        };
        let (field, rest) = (b.get(..len)?, b.get(len..)?);
        if key >> 3 == 2 && key & 7 == 2 {
            return std::str::from_utf8(field).ok();
        }
        b = rest;
    }
    None
}

/// Where a [`ProbeClient`] leaves the last answer; the exporter driver takes it
/// after each attempt.
pub(super) type Probe = Arc<Mutex<Option<Answer>>>;

/// The destination's HTTP client (reqwest, or hyper-rustls for `https://`) as
/// `opentelemetry-otlp` uses it, noting each answer.
#[derive(Debug)]
pub(super) struct ProbeClient {
    inner: super::tls::OtlpHttpClient,
    probe: Probe,
}

impl ProbeClient {
    /// A client for `target` (with TLS for `https://`) whose requests take at most
    /// `timeout`.
    pub(super) fn new(
        target: &crate::config::OtlpExport,
        timeout: Duration,
    ) -> Result<(ProbeClient, Probe), String> {
        let inner = super::tls::http_client(target, timeout)?;
        let probe = Probe::default();
        Ok((
            ProbeClient {
                inner,
                probe: probe.clone(),
            },
            probe,
        ))
    }
}

impl HttpClient for ProbeClient {
    // `HttpClient` is an `async_trait`; this is the signature it expands to.
    fn send_bytes<'life0, 'async_trait>(
        &'life0 self,
        request: http::Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<http::Response<Bytes>, HttpError>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            let result = self.inner.send(request).await;
            let answer = match &result {
                Ok(r) => Answer::Status(r.status().as_u16(), retry_after(r.headers()), said(r)),
                Err(e) if e.is::<opentelemetry_http::ResponseBodyTooLarge>() => Answer::TooLarge,
                Err(e) => Answer::Nothing(error_chain(e.as_ref())),
            };
            *self.probe.lock().unwrap_or_else(|e| e.into_inner()) = Some(answer);
            result
        })
    }
}

/// An error and its sources, `: `-separated (`opentelemetry-otlp` reports only
/// "network error"; the cause, such as a certificate the collector's name or our
/// trusted CAs do not match, is in the chain).
pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    // A bound on a chain we do not control.
    for _ in 0..8 {
        let Some(s) = source else { break };
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// The delay of a `Retry-After` header: seconds, or an HTTP date.
pub(super) fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let v = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // More seconds than a u64 holds is still a number of seconds (capped later
    // like any long wait), not a date that fails to parse.
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(u64::MAX));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Classifies a failed attempt: by the HTTP answer when the probe saw one, else
/// by the error `opentelemetry-otlp` (or an exporter of your own) returned.
pub(super) fn classify(
    error: &opentelemetry_sdk::error::OTelSdkError,
    answer: Option<Answer>,
) -> Failure {
    use opentelemetry_sdk::error::OTelSdkError;
    match answer {
        Some(Answer::Nothing(_)) => return Failure::Transient(None),
        Some(Answer::TooLarge) => return Failure::Permanent,
        Some(Answer::Status(code, after, _)) => return http_status(code, after),
        None => {}
    }
    match error {
        OTelSdkError::Timeout(_) => Failure::Transient(None),
        OTelSdkError::AlreadyShutdown => Failure::Permanent,
        OTelSdkError::InternalFailure(text) => from_text(text),
    }
}

/// The OTLP/HTTP rule: 429, 502, 503 and 504 are retried (with `Retry-After`).
pub(super) fn http_status(code: u16, after: Option<Duration>) -> Failure {
    match code {
        429 | 502 | 503 | 504 => Failure::Transient(after),
        _ => Failure::Permanent,
    }
}

/// From the error text: `opentelemetry-otlp`'s gRPC errors name the status code
/// ("... export failed with gRPC code: Unavailable: ..."), its HTTP errors the
/// status ("... failed with status code: 503") or a network error.
fn from_text(text: &str) -> Failure {
    if let Some(rest) = text.split("gRPC code: ").nth(1) {
        let code: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        // tonic's own report of a connection cut during the call (the collector
        // killed or restarted), not a status the collector sent: no answer, so
        // retried like a connection refused. Taken as permanent, it lost the
        // batch in flight at the moment of an outage.
        if code == "Unknown" && rest[code.len()..].starts_with(": transport error") {
            return Failure::Transient(None);
        }
        return match code.as_str() {
            "Unavailable" | "ResourceExhausted" | "DeadlineExceeded" | "Cancelled" | "Aborted"
            | "OutOfRange" | "DataLoss" => Failure::Transient(None),
            _ => Failure::Permanent,
        };
    }
    if let Some(rest) = text.split("status code: ").nth(1) {
        let code: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(code) = code.parse() {
            return http_status(code, None);
        }
    }
    if text.contains("network error") {
        return Failure::Transient(None);
    }
    Failure::Permanent
}

/// Exponential backoff with jitter, shared by the batches of one signal while the
/// collector keeps failing: about 250 ms, 500 ms, 1 s ... up to 5 s, each delay
/// drawn between half and all of its step (so many processes restarting together
/// do not retry in step), and never shorter than what the server asked for.
#[derive(Debug, Default)]
pub(super) struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The delay before the next attempt, after another transient failure.
    pub(super) fn next(&mut self, server: Option<Duration>) -> Duration {
        let step = INITIAL_BACKOFF
            .saturating_mul(1u32 << self.failures.min(16))
            .min(MAX_BACKOFF);
        self.failures = self.failures.saturating_add(1);
        let half = step / 2;
        let jitter = Duration::from_nanos(crate::ids::next_u64() % (half.as_nanos() as u64).max(1));
        let delay = half + jitter;
        match server {
            Some(s) => delay.max(s.min(MAX_SERVER_DELAY)),
            None => delay,
        }
    }

    /// The collector answered: start over.
    pub(super) fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_collectors_error_message_is_kept_from_its_status_or_text() {
        let answer = |ct: &str, status: u16, body: &[u8]| {
            let mut r = http::Response::new(Bytes::copy_from_slice(body));
            *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
            r.headers_mut()
                .insert(http::header::CONTENT_TYPE, ct.parse().unwrap());
            said(&r)
        };
        // google.rpc.Status { code: 3, message: "invalid span: bad trace id" }.
        let mut status = vec![0x08, 0x03, 0x12, 26];
        status.extend_from_slice(b"invalid span: bad trace id");
        assert_eq!(
            answer("application/x-protobuf", 400, &status).as_deref(),
            Some("invalid span: bad trace id")
        );
        assert_eq!(
            answer("text/plain", 503, b"overloaded\r\n\x1b[31mnow").as_deref(),
            Some("overloaded   [31mnow"),
            "one line, no terminal escapes"
        );
        assert_eq!(
            answer("text/plain", 200, b"fine"),
            None,
            "a success says nothing"
        );
        assert_eq!(answer("application/x-protobuf", 400, &[0xff, 0xff]), None);
        let long = "x".repeat(1000);
        assert_eq!(
            answer("text/plain", 400, long.as_bytes()).unwrap().len(),
            MAX_SAID
        );
    }
    use opentelemetry_sdk::error::OTelSdkError;

    #[test]
    fn transient_and_permanent_failures() {
        let fail = |t: &str| OTelSdkError::InternalFailure(t.into());
        let e = fail("HTTP export failed with status code: 503");
        assert_eq!(classify(&e, None), Failure::Transient(None));
        assert_eq!(
            classify(
                &e,
                Some(Answer::Status(429, Some(Duration::from_secs(2)), None))
            ),
            Failure::Transient(Some(Duration::from_secs(2)))
        );
        for code in [400, 401, 403, 404, 413, 500] {
            assert_eq!(
                classify(&e, Some(Answer::Status(code, None, None))),
                Failure::Permanent,
                "{code}"
            );
        }
        assert_eq!(
            classify(&e, Some(Answer::Nothing(String::new()))),
            Failure::Transient(None)
        );
        assert_eq!(classify(&e, Some(Answer::TooLarge)), Failure::Permanent);
        let grpc = |code: &str| {
            classify(
                &fail(&format!(
                    "TonicTracesClient export failed with gRPC code: {code}: transport error"
                )),
                None,
            )
        };
        assert_eq!(grpc("Unavailable"), Failure::Transient(None));
        assert_eq!(grpc("ResourceExhausted"), Failure::Transient(None));
        assert_eq!(grpc("Unauthenticated"), Failure::Permanent);
        assert_eq!(grpc("InvalidArgument"), Failure::Permanent);
        // A call cut by a reset connection, as tonic reports it (seen when the
        // collector is killed mid-call): no answer, retried. An `Unknown` the
        // collector sent is not.
        assert_eq!(
            classify(
                &fail(
                    "Operation failed: TonicTracesClient export failed with gRPC code: Unknown: \
                     transport error: connection error: connection reset"
                ),
                None
            ),
            Failure::Transient(None)
        );
        assert_eq!(
            classify(
                &fail("TonicTracesClient export failed with gRPC code: Unknown: boom"),
                None
            ),
            Failure::Permanent
        );
        assert_eq!(
            classify(&fail("HTTP export failed: network error"), None),
            Failure::Transient(None)
        );
        assert_eq!(
            classify(&fail("HTTP export failed with status code: 400"), None),
            Failure::Permanent
        );
        assert_eq!(
            classify(&OTelSdkError::Timeout(Duration::ZERO), None),
            Failure::Transient(None)
        );
        assert_eq!(classify(&fail("something else"), None), Failure::Permanent);
    }

    #[test]
    fn backoff_grows_with_jitter_up_to_its_cap_and_honours_the_server() {
        let mut b = Backoff::default();
        let mut step = INITIAL_BACKOFF;
        for _ in 0..10 {
            let d = b.next(None);
            assert!(d >= step / 2 && d <= step, "{d:?} for step {step:?}");
            step = (step * 2).min(MAX_BACKOFF);
        }
        assert!(b.next(Some(Duration::from_secs(30))) >= Duration::from_secs(30));
        assert_eq!(b.next(Some(Duration::from_secs(3600))), MAX_SERVER_DELAY);
        b.reset();
        assert!(b.next(None) <= INITIAL_BACKOFF);
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let mut h = http::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(http::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            http::header::RETRY_AFTER,
            "999999999999999999999".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::from_secs(u64::MAX)));
        let later = SystemTime::now() + Duration::from_secs(120);
        h.insert(
            http::header::RETRY_AFTER,
            httpdate::fmt_http_date(later).parse().unwrap(),
        );
        let d = retry_after(&h).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        h.insert(http::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }
}
