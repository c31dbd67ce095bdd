//! Tracer-bullet tokens and the inbound policy that decides whether a request may be
//! a tracer bullet.
//!
//! A tracer bullet is a real request through production whose side effects are
//! skipped. Because it changes what a service does, a service honours the mode from
//! an inbound request only under an explicit [`TracerBulletPolicy`]:
//!
//! | policy | the request is a tracer bullet when |
//! | --- | --- |
//! | [`Deny`](TracerBulletPolicy::Deny) (default) | never |
//! | [`Trusted`](TracerBulletPolicy::Trusted) | the caller is trusted (`OBSERVE_TRUSTED_CALLERS`), and its baggage says `observe.request_type=tracer_bullet` or it carries a token this service verifies with its key (from any other caller: refused) |
//! | [`Signed`](TracerBulletPolicy::Signed) | it carries a valid `observe-tracer-bullet` token for its trace id, signed with the shared key and not older than the max age |
//!
//! **Fail closed**: a request marked as a tracer bullet (the baggage member or the
//! token header) that the policy does not accept is *refused*
//! ([`Decision::Refused`], with a [`DenyReason`] whose [`as_str`](DenyReason::as_str)
//! is machine-readable): the server adapters answer it without running the
//! application (HTTP 403 with `observe-tracer-bullet-refused: <reason>`), log it at
//! `WARN` and count it. It is never served as a standard request (that would write)
//! and never gets a dry run (a dry run that answers like the real thing would let
//! anyone test stolen data without leaving a trace).
//!
//! The token is `v1.<unix_secs>.<hex HMAC-SHA256(key, trace_id + "." + unix_secs)>`,
//! where `trace_id` is the 32 lowercase hex digits of the request's `traceparent`.
//! Verification compares the MAC in constant time.
//!
//! ```
//! use std::time::Duration;
//! use observe_core::TraceId;
//! use observe_core::config::TracerBulletKey;
//! use observe_core::tracer_bullet::{self, TokenError};
//!
//! let key = TracerBulletKey::from_bytes([7u8; 32]).unwrap();
//! let trace = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
//! let token = tracer_bullet::sign(&key, trace, 1_700_000_000);
//! assert!(token.starts_with("v1.1700000000."));
//!
//! let max_age = Duration::from_secs(300);
//! assert_eq!(tracer_bullet::verify(&key, token.as_bytes(), trace, 1_700_000_060, max_age), Ok(()));
//! assert!(matches!(
//!     tracer_bullet::verify(&key, token.as_bytes(), trace, 1_700_001_000, max_age),
//!     Err(TokenError::Expired { .. })
//! ));
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{KeyInit as _, Mac as _};

use crate::config::{PropagationConfig, TracerBulletKey, TracerBulletPolicy};
pub use crate::context::TracerBulletOrigin;
use crate::ids::TraceId;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The version prefix of the token format.
pub const TOKEN_VERSION: &str = "v1";

/// How far in the future a token's timestamp may be (clock skew between the signer
/// and this service) before it is rejected.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(30);

/// The longest token accepted: `v1.` + 20 digits + `.` + 64 hex digits.
pub const TOKEN_MAX_LEN: usize = 3 + 20 + 1 + 64;

/// Why a tracer-bullet token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// The token is not `v1.<unix_secs>.<64 hex digits>`; the string says which part.
    Malformed(&'static str),
    /// The version is not `v1`.
    UnsupportedVersion,
    /// The token is older than the allowed age.
    Expired {
        /// How old it is.
        age: Duration,
        /// The allowed age.
        max_age: Duration,
    },
    /// The timestamp is further in the future than [`MAX_CLOCK_SKEW`].
    FromTheFuture {
        /// How far ahead it is.
        ahead: Duration,
    },
    /// The MAC does not match this trace id and timestamp under the key.
    BadSignature,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Malformed(part) => write!(
                f,
                "malformed tracer-bullet token ({part}); expected v1.<unix_secs>.<64 hex digits>"
            ),
            TokenError::UnsupportedVersion => {
                f.write_str("unsupported tracer-bullet token version; expected v1")
            }
            TokenError::Expired { age, max_age } => write!(
                f,
                "tracer-bullet token expired: {}s old, at most {}s accepted",
                age.as_secs(),
                max_age.as_secs()
            ),
            TokenError::FromTheFuture { ahead } => write!(
                f,
                "tracer-bullet token dated {}s in the future, at most {}s of clock skew accepted",
                ahead.as_secs(),
                MAX_CLOCK_SKEW.as_secs()
            ),
            TokenError::BadSignature => {
                f.write_str("tracer-bullet token signature does not match the trace id and key")
            }
        }
    }
}

impl std::error::Error for TokenError {}

fn mac(key: &TracerBulletKey, trace_id: TraceId, unix_secs: u64) -> HmacSha256 {
    // HMAC accepts keys of any length; the key type guarantees at least 32 bytes.
    let mut mac = HmacSha256::new_from_slice(key.expose_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    let mut hex = [0u8; 32];
    trace_id.write_hex(&mut hex);
    mac.update(&hex);
    mac.update(b".");
    mac.update(itoa::Buffer::new().format(unix_secs).as_bytes());
    mac
}

/// Signs a token for `trace_id` at `unix_secs`.
pub fn sign(key: &TracerBulletKey, trace_id: TraceId, unix_secs: u64) -> String {
    let tag = mac(key, trace_id, unix_secs).finalize().into_bytes();
    let mut out = String::with_capacity(TOKEN_MAX_LEN);
    out.push_str(TOKEN_VERSION);
    out.push('.');
    out.push_str(itoa::Buffer::new().format(unix_secs));
    out.push('.');
    let mut hex = [0u8; 64];
    crate::ids::write_hex(&mut hex, &tag);
    out.extend(hex.iter().map(|&c| char::from(c)));
    out
}

/// Signs a token for `trace_id` now.
pub fn sign_now(key: &TracerBulletKey, trace_id: TraceId) -> String {
    sign(key, trace_id, unix_now())
}

/// The current Unix time in whole seconds (0 before 1970).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Checks a token for `trace_id` at time `now` (Unix seconds): well formed, not
/// older than `max_age`, not dated more than [`MAX_CLOCK_SKEW`] ahead, and signed
/// with `key` (compared in constant time). Never panics, whatever the bytes; a
/// token longer than [`TOKEN_MAX_LEN`] is rejected before any other work, so the
/// cost is bounded whatever is sent.
///
/// # Errors
/// What was wrong, as a [`TokenError`].
pub fn verify(
    key: &TracerBulletKey,
    token: &[u8],
    trace_id: TraceId,
    now: u64,
    max_age: Duration,
) -> Result<(), TokenError> {
    // Before anything reads the bytes: the work is bounded by the format, not by
    // what was sent (a header value carries no surrounding whitespace anyway).
    if token.len() > TOKEN_MAX_LEN {
        return Err(TokenError::Malformed("too long"));
    }
    let token = crate::propagation::trim_ows(token);
    let mut parts = token.split(|&b| b == b'.');
    let (Some(version), Some(secs), Some(tag), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed("not three dot-separated parts"));
    };
    if !version.eq_ignore_ascii_case(TOKEN_VERSION.as_bytes()) {
        return Err(TokenError::UnsupportedVersion);
    }
    if secs.is_empty() || secs.len() > 20 || !secs.iter().all(u8::is_ascii_digit) {
        return Err(TokenError::Malformed("timestamp is not decimal seconds"));
    }
    let unix_secs = secs.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    });
    let Some(unix_secs) = unix_secs else {
        return Err(TokenError::Malformed("timestamp out of range"));
    };
    if tag.len() != 64 {
        return Err(TokenError::Malformed("signature is not 64 hex digits"));
    }
    let mut expected = [0u8; 32];
    for (out, pair) in expected.iter_mut().zip(tag.chunks_exact(2)) {
        let (Some(hi), Some(lo)) = (hex_digit(pair[0]), hex_digit(pair[1])) else {
            return Err(TokenError::Malformed("signature is not 64 hex digits"));
        };
        *out = hi << 4 | lo;
    }
    if unix_secs > now {
        let ahead = Duration::from_secs(unix_secs - now);
        if ahead > MAX_CLOCK_SKEW {
            return Err(TokenError::FromTheFuture { ahead });
        }
    } else {
        let age = Duration::from_secs(now - unix_secs);
        if age > max_age {
            return Err(TokenError::Expired { age, max_age });
        }
    }
    // `verify_slice` compares in constant time.
    mac(key, trace_id, unix_secs)
        .verify_slice(&expected)
        .map_err(|_| TokenError::BadSignature)
}

/// Why an inbound tracer-bullet attempt was not honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DenyReason {
    /// The policy is [`Deny`](TracerBulletPolicy::Deny).
    PolicyDeny,
    /// The policy is [`Trusted`](TracerBulletPolicy::Trusted) and the caller is not
    /// one of the trusted callers.
    UntrustedCaller,
    /// The policy is [`Trusted`](TracerBulletPolicy::Trusted), the request has a
    /// token but no baggage marker, and this service has no key to verify the token
    /// with: a token header alone is never taken unverified.
    UnverifiedToken,
    /// The policy is [`Signed`](TracerBulletPolicy::Signed) and the request has no
    /// token.
    MissingToken,
    /// A token must be verified and the request has no valid `traceparent` to check
    /// it against.
    NoTraceId,
    /// The token was rejected.
    Token(TokenError),
}

impl DenyReason {
    /// A short, stable label for the refusal header, counters and logs:
    /// `policy_deny`, `untrusted_caller`, `unverified_token`, `missing_token`,
    /// `no_trace_id`, and for a rejected token `malformed_token`,
    /// `unsupported_version`, `expired`, `not_yet_valid` or `bad_signature` (a
    /// forged token, or a valid one replayed on another trace).
    pub fn as_str(&self) -> &'static str {
        match self {
            DenyReason::PolicyDeny => "policy_deny",
            DenyReason::UntrustedCaller => "untrusted_caller",
            DenyReason::UnverifiedToken => "unverified_token",
            DenyReason::MissingToken => "missing_token",
            DenyReason::NoTraceId => "no_trace_id",
            DenyReason::Token(TokenError::Malformed(_)) => "malformed_token",
            DenyReason::Token(TokenError::UnsupportedVersion) => "unsupported_version",
            DenyReason::Token(TokenError::Expired { .. }) => "expired",
            DenyReason::Token(TokenError::FromTheFuture { .. }) => "not_yet_valid",
            DenyReason::Token(TokenError::BadSignature) => "bad_signature",
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DenyReason::PolicyDeny => f.write_str(
                "the tracer-bullet policy is deny (OBSERVE_TRACER_BULLET_POLICY=trusted or signed honours them)",
            ),
            DenyReason::UntrustedCaller => f.write_str(
                "the tracer-bullet policy is trusted and the caller is not trusted (OBSERVE_TRUSTED_CALLERS)",
            ),
            DenyReason::UnverifiedToken => f.write_str(
                "the tracer-bullet policy is trusted and the request has a token but no marker, which this service has no key to verify",
            ),
            DenyReason::MissingToken => f.write_str(
                "the tracer-bullet policy is signed and the request has no observe-tracer-bullet token",
            ),
            DenyReason::NoTraceId => f.write_str(
                "the request has no valid traceparent to check its tracer-bullet token against",
            ),
            DenyReason::Token(e) => e.fmt(f),
        }
    }
}

/// What the inbound policy decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The request did not ask to be a tracer bullet.
    Standard,
    /// The request is a tracer bullet, honoured as
    /// [`Verified`](TracerBulletOrigin::Verified) (a valid token) or
    /// [`Relayed`](TracerBulletOrigin::Relayed) (a trusted caller's marker).
    TracerBullet(TracerBulletOrigin),
    /// The request asked and is refused: fail closed (see the [module
    /// docs](self)).
    Refused(DenyReason),
}

/// What an inbound request says about the tracer-bullet mode.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attempt<'a> {
    /// The baggage has `observe.request_type=tracer_bullet`.
    pub baggage_says_so: bool,
    /// The `observe-tracer-bullet` header, if present.
    pub token: Option<&'a [u8]>,
    /// The trace id of the inbound `traceparent`, when valid.
    pub trace_id: Option<TraceId>,
    /// The caller is one of the trusted callers (`OBSERVE_TRUSTED_CALLERS`).
    pub trusted_caller: bool,
}

/// The inbound tracer-bullet policy of a service, from its configuration.
///
/// ```
/// use observe_core::Builder;
/// use observe_core::config::TracerBulletPolicy;
/// use observe_core::tracer_bullet::{Attempt, Decision, DenyReason, InboundPolicy};
///
/// let config = Builder::new().ignore_env().build_config()?;
/// let policy = InboundPolicy::from_config(&config.propagation);
/// assert_eq!(policy.policy(), TracerBulletPolicy::Deny);
/// let attempt = Attempt { baggage_says_so: true, ..Attempt::default() };
/// assert_eq!(policy.decide(&attempt, 0), Decision::Refused(DenyReason::PolicyDeny));
/// # Ok::<(), observe_core::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundPolicy {
    policy: TracerBulletPolicy,
    key: Option<TracerBulletKey>,
    max_age: Duration,
}

impl Default for InboundPolicy {
    fn default() -> Self {
        InboundPolicy {
            policy: TracerBulletPolicy::Deny,
            key: None,
            max_age: Duration::from_secs(300),
        }
    }
}

impl InboundPolicy {
    /// The policy configured in `config` (`OBSERVE_TRACER_BULLET_POLICY`, `_KEY`,
    /// `_MAX_AGE`).
    pub fn from_config(config: &PropagationConfig) -> Self {
        InboundPolicy {
            policy: config.tracer_bullet_policy,
            key: config.tracer_bullet_key.clone(),
            max_age: config.tracer_bullet_max_age,
        }
    }

    /// Never honour tracer bullets.
    pub fn deny() -> Self {
        InboundPolicy::default()
    }

    /// Honour the baggage's request type from trusted callers.
    pub fn trusted() -> Self {
        InboundPolicy {
            policy: TracerBulletPolicy::Trusted,
            ..InboundPolicy::default()
        }
    }

    /// Honour only valid tokens signed with `key`, at most `max_age` old.
    pub fn signed(key: TracerBulletKey, max_age: Duration) -> Self {
        InboundPolicy {
            policy: TracerBulletPolicy::Signed,
            key: Some(key),
            max_age,
        }
    }

    /// The policy.
    pub fn policy(&self) -> TracerBulletPolicy {
        self.policy
    }

    /// The same policy, verifying tokens with `key` (for
    /// [`Trusted`](TracerBulletPolicy::Trusted), a token header alone is honoured
    /// only when it verifies).
    pub fn with_key(mut self, key: TracerBulletKey) -> Self {
        self.key = Some(key);
        self
    }

    /// The key that verifies tokens, if any.
    pub fn key(&self) -> Option<&TracerBulletKey> {
        self.key.as_ref()
    }

    /// How old a token may be.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// Decides for one request at time `now` (Unix seconds). Refusals are counted
    /// ([`denied_attempts`]).
    pub fn decide(&self, attempt: &Attempt<'_>, now: u64) -> Decision {
        decide_with(self.policy, self.key.as_ref(), self.max_age, attempt, now)
    }
}

/// [`InboundPolicy::decide`] on borrowed parts (no key clone per request).
pub(crate) fn decide_with(
    policy: TracerBulletPolicy,
    key: Option<&TracerBulletKey>,
    max_age: Duration,
    attempt: &Attempt<'_>,
    now: u64,
) -> Decision {
    if !attempt.baggage_says_so && attempt.token.is_none() {
        return Decision::Standard;
    }
    let verified = |key: &TracerBulletKey, token: &[u8]| match attempt.trace_id {
        None => Decision::Refused(DenyReason::NoTraceId),
        Some(trace) => match verify(key, token, trace, now, max_age) {
            Ok(()) => Decision::TracerBullet(TracerBulletOrigin::Verified),
            Err(e) => Decision::Refused(DenyReason::Token(e)),
        },
    };
    let decision = match policy {
        TracerBulletPolicy::Deny => Decision::Refused(DenyReason::PolicyDeny),
        TracerBulletPolicy::Trusted if !attempt.trusted_caller => {
            Decision::Refused(DenyReason::UntrustedCaller)
        }
        TracerBulletPolicy::Trusted => match (key, attempt.token) {
            // A token this service can check makes it a verified bullet, which it
            // may vouch for downstream.
            (Some(key), Some(token)) => match verified(key, token) {
                Decision::Refused(_) if attempt.baggage_says_so => {
                    Decision::TracerBullet(TracerBulletOrigin::Relayed)
                }
                decision => decision,
            },
            _ if attempt.baggage_says_so => Decision::TracerBullet(TracerBulletOrigin::Relayed),
            // A token header alone is never taken unverified.
            _ => Decision::Refused(DenyReason::UnverifiedToken),
        },
        TracerBulletPolicy::Signed => match (key, attempt.token) {
            // The configuration guarantees a key with the signed policy; without
            // one nothing can be verified.
            (None, _) => Decision::Refused(DenyReason::Token(TokenError::BadSignature)),
            (_, None) => Decision::Refused(DenyReason::MissingToken),
            (Some(key), Some(token)) => verified(key, token),
        },
    };
    if let Decision::Refused(_) = decision {
        DENIED.fetch_add(1, Ordering::Relaxed);
    }
    decision
}

static DENIED: AtomicU64 = AtomicU64::new(0);

/// How many inbound tracer-bullet attempts this process has not honoured so far
/// (refused, or served as standard requests by an edge that opted into it).
pub fn denied_attempts() -> u64 {
    DENIED.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> TracerBulletKey {
        TracerBulletKey::from_bytes((0u8..32).collect::<Vec<_>>()).unwrap()
    }

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const MAX_AGE: Duration = Duration::from_secs(300);

    fn trace() -> TraceId {
        TraceId::from_hex(TRACE).unwrap()
    }

    #[test]
    fn the_mac_is_hmac_sha256_over_the_hex_trace_id_a_dot_and_the_seconds() {
        // Computed independently: python3 -c 'import hmac,hashlib;
        // print(hmac.new(bytes(range(32)), b"4bf92f3577b34da6a3ce929d0e0e4736.1700000000",
        // hashlib.sha256).hexdigest())'
        let token = sign(&key(), trace(), 1_700_000_000);
        assert_eq!(
            token,
            "v1.1700000000.0cc6d47f59ce85fd5e061049d3d511dd417a0277d9dbb458a2264141914afb31"
        );
    }

    #[test]
    fn a_fresh_token_verifies_and_an_upper_case_one_too() {
        let token = sign(&key(), trace(), 1000);
        assert_eq!(
            verify(&key(), token.as_bytes(), trace(), 1000, MAX_AGE),
            Ok(())
        );
        assert_eq!(
            verify(&key(), token.as_bytes(), trace(), 1300, MAX_AGE),
            Ok(())
        );
        let upper = token.to_uppercase();
        assert_eq!(
            verify(&key(), upper.as_bytes(), trace(), 1001, MAX_AGE),
            Ok(())
        );
    }

    #[test]
    fn expired_future_forged_and_other_trace_tokens_are_rejected() {
        let token = sign(&key(), trace(), 1000);
        assert_eq!(
            verify(&key(), token.as_bytes(), trace(), 1301, MAX_AGE),
            Err(TokenError::Expired {
                age: Duration::from_secs(301),
                max_age: MAX_AGE
            })
        );
        assert_eq!(
            verify(&key(), token.as_bytes(), trace(), 900, MAX_AGE),
            Err(TokenError::FromTheFuture {
                ahead: Duration::from_secs(100)
            })
        );
        assert_eq!(
            verify(&key(), token.as_bytes(), trace(), 990, MAX_AGE),
            Ok(())
        );
        let other_key = TracerBulletKey::from_bytes([9u8; 32]).unwrap();
        assert_eq!(
            verify(&other_key, token.as_bytes(), trace(), 1000, MAX_AGE),
            Err(TokenError::BadSignature)
        );
        let other_trace = TraceId::from_hex("00000000000000000000000000000001").unwrap();
        assert_eq!(
            verify(&key(), token.as_bytes(), other_trace, 1000, MAX_AGE),
            Err(TokenError::BadSignature)
        );
        // A token re-dated without re-signing.
        let redated = token.replacen("v1.1000.", "v1.1200.", 1);
        assert_eq!(
            verify(&key(), redated.as_bytes(), trace(), 1200, MAX_AGE),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn malformed_tokens_say_what_is_wrong_and_never_panic() {
        let sig = "0".repeat(64);
        let cases: [(&[u8], TokenError); 9] = [
            (b"", TokenError::Malformed("not three dot-separated parts")),
            (
                b"v1.12",
                TokenError::Malformed("not three dot-separated parts"),
            ),
            (
                b"v1.1.2.3",
                TokenError::Malformed("not three dot-separated parts"),
            ),
            (b"v2.1.ab", TokenError::UnsupportedVersion),
            (
                b"v1.-1.ab",
                TokenError::Malformed("timestamp is not decimal seconds"),
            ),
            (
                b"v1..ab",
                TokenError::Malformed("timestamp is not decimal seconds"),
            ),
            (
                b"v1.99999999999999999999.ab",
                TokenError::Malformed("timestamp out of range"),
            ),
            (
                b"v1.1.abc",
                TokenError::Malformed("signature is not 64 hex digits"),
            ),
            (&[0xff; 200], TokenError::Malformed("too long")),
        ];
        for (token, expected) in cases {
            assert_eq!(
                verify(&key(), token, trace(), 1, MAX_AGE),
                Err(expected),
                "{token:?}"
            );
        }
        let non_hex = format!("v1.1.{}", "g".repeat(64));
        assert_eq!(
            verify(&key(), non_hex.as_bytes(), trace(), 1, MAX_AGE),
            Err(TokenError::Malformed("signature is not 64 hex digits"))
        );
        let zeros = format!("v1.1.{sig}");
        assert_eq!(
            verify(&key(), zeros.as_bytes(), trace(), 1, MAX_AGE),
            Err(TokenError::BadSignature)
        );
        assert!(
            TokenError::Malformed("x")
                .to_string()
                .contains("expected v1.")
        );
    }

    #[test]
    fn the_policy_decides_per_request_and_counts_refusals() {
        let token = sign(&key(), trace(), 1000);
        let asked = Attempt {
            baggage_says_so: true,
            token: None,
            trace_id: Some(trace()),
            trusted_caller: false,
        };
        let signed = Attempt {
            token: Some(token.as_bytes()),
            ..asked
        };
        let before = denied_attempts();
        assert_eq!(
            InboundPolicy::deny().decide(&Attempt::default(), 1000),
            Decision::Standard
        );
        assert_eq!(
            InboundPolicy::deny().decide(&signed, 1000),
            Decision::Refused(DenyReason::PolicyDeny)
        );
        let policy = InboundPolicy::signed(key(), MAX_AGE);
        assert_eq!(
            policy.decide(&signed, 1000),
            Decision::TracerBullet(TracerBulletOrigin::Verified)
        );
        assert_eq!(
            policy.decide(&asked, 1000),
            Decision::Refused(DenyReason::MissingToken)
        );
        let no_trace = Attempt {
            trace_id: None,
            ..signed
        };
        assert_eq!(
            policy.decide(&no_trace, 1000),
            Decision::Refused(DenyReason::NoTraceId)
        );
        let expired = policy.decide(&signed, 5000);
        assert!(matches!(
            expired,
            Decision::Refused(DenyReason::Token(TokenError::Expired { .. }))
        ));
        // Other tests may count too: at least our four refusals.
        assert!(denied_attempts() >= before + 4);
    }

    #[test]
    fn trusted_honours_the_marker_of_trusted_callers_and_never_a_token_alone_unverified() {
        let token = sign(&key(), trace(), 1000);
        let marker = Attempt {
            baggage_says_so: true,
            token: None,
            trace_id: Some(trace()),
            trusted_caller: true,
        };
        let trusted = InboundPolicy::trusted();
        assert_eq!(
            trusted.decide(&marker, 1000),
            Decision::TracerBullet(TracerBulletOrigin::Relayed)
        );
        let untrusted = Attempt {
            trusted_caller: false,
            ..marker
        };
        assert_eq!(
            trusted.decide(&untrusted, 1000),
            Decision::Refused(DenyReason::UntrustedCaller)
        );
        let token_alone = Attempt {
            baggage_says_so: false,
            token: Some(token.as_bytes()),
            ..marker
        };
        assert_eq!(
            trusted.decide(&token_alone, 1000),
            Decision::Refused(DenyReason::UnverifiedToken),
            "no key to verify it"
        );
        let keyed = InboundPolicy::trusted().with_key(key());
        assert_eq!(
            keyed.decide(&token_alone, 1000),
            Decision::TracerBullet(TracerBulletOrigin::Verified)
        );
        let forged_alone = Attempt {
            token: Some(b"v1.1000.00"),
            ..token_alone
        };
        assert_eq!(
            keyed.decide(&forged_alone, 1000),
            Decision::Refused(DenyReason::Token(TokenError::Malformed(
                "signature is not 64 hex digits"
            )))
        );
        // The marker of a trusted caller with a token that does not verify: a
        // relayed bullet (never a verified one).
        let marker_and_forged = Attempt {
            baggage_says_so: true,
            ..forged_alone
        };
        assert_eq!(
            keyed.decide(&marker_and_forged, 1000),
            Decision::TracerBullet(TracerBulletOrigin::Relayed)
        );
    }

    #[test]
    fn reasons_have_stable_labels() {
        let labels: Vec<&str> = [
            DenyReason::PolicyDeny,
            DenyReason::UntrustedCaller,
            DenyReason::UnverifiedToken,
            DenyReason::MissingToken,
            DenyReason::NoTraceId,
            DenyReason::Token(TokenError::Malformed("too long")),
            DenyReason::Token(TokenError::UnsupportedVersion),
            DenyReason::Token(TokenError::Expired {
                age: Duration::ZERO,
                max_age: Duration::ZERO,
            }),
            DenyReason::Token(TokenError::FromTheFuture {
                ahead: Duration::ZERO,
            }),
            DenyReason::Token(TokenError::BadSignature),
        ]
        .iter()
        .map(DenyReason::as_str)
        .collect();
        assert_eq!(
            labels,
            [
                "policy_deny",
                "untrusted_caller",
                "unverified_token",
                "missing_token",
                "no_trace_id",
                "malformed_token",
                "unsupported_version",
                "expired",
                "not_yet_valid",
                "bad_signature"
            ]
        );
    }

    #[test]
    fn an_oversize_token_is_rejected_before_it_is_read() {
        // Whitespace the trimming would have to scan: never looked at.
        let mut huge = vec![b' '; 1 << 20];
        huge.extend_from_slice(sign(&key(), trace(), 1000).as_bytes());
        assert_eq!(
            verify(&key(), &huge, trace(), 1000, MAX_AGE),
            Err(TokenError::Malformed("too long"))
        );
        let just_over = "v".repeat(TOKEN_MAX_LEN + 1);
        assert_eq!(
            verify(&key(), just_over.as_bytes(), trace(), 1000, MAX_AGE),
            Err(TokenError::Malformed("too long"))
        );
    }
}

/// The tracer-bullet guide, compiled only for doctests so that its examples run.
#[cfg(doctest)]
#[doc = include_str!("../../docs/tracer-bullet.md")]
struct TracerBulletGuide;
