//! Phases 1 and 2 of an inbound request: what the caller says and what this service
//! accepts of it ([`Admission::decide`]), then the request context
//! ([`Admission::request_context`]). Nothing here knows a protocol: the input is a
//! header map (HTTP headers, or gRPC metadata at the tower layer) and the peer's
//! address.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderMap, HeaderValue};

use crate::config::{InboundContext, TracerBulletPolicy, UntrustedMarker};
use crate::context::{ContextState, RequestContext, RequestType, TracerBulletOrigin};
use crate::ids::SpanContext;
use crate::pipeline::Pipeline;
use crate::propagation::{self, Extracted, RequestId, ScannedHeaders, keys};
use crate::tracer_bullet::{self, Attempt, Decision, DenyReason, TokenError};

use super::ServerOptions;

/// A request marked as a tracer bullet that this service does not accept: answer
/// it without running the application (fail closed).
///
/// | protocol | answer |
/// | --- | --- |
/// | HTTP | status [`HTTP_STATUS`](Self::HTTP_STATUS) (403), header [`HEADER`](Self::HEADER) `: <reason>` |
/// | gRPC | status [`GRPC_CODE`](Self::GRPC_CODE) (7, `PERMISSION_DENIED`), the same header in the response metadata |
///
/// [`Inbound::finish`](super::Inbound::finish) adds the header itself; the reason
/// is machine-readable ([`DenyReason::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    reason: DenyReason,
}

impl Refusal {
    /// The HTTP status of a refused tracer bullet: 403 Forbidden.
    pub const HTTP_STATUS: u16 = 403;
    /// The gRPC status code of a refused tracer bullet: 7, `PERMISSION_DENIED`.
    pub const GRPC_CODE: u32 = 7;
    /// The response header naming the reason.
    pub const HEADER: &'static str = crate::footprint::REFUSED_HEADER;

    /// Why.
    pub fn reason(&self) -> DenyReason {
        self.reason
    }

    /// The reason's label (`expired`, `untrusted_caller`, ...), the header's value.
    pub fn as_str(&self) -> &'static str {
        self.reason.as_str()
    }

    /// Adds [`HEADER`](Self::HEADER) to a response's headers.
    pub fn insert_header(&self, headers: &mut HeaderMap) {
        headers.insert(Self::HEADER, HeaderValue::from_static(self.as_str()));
    }
}

/// Phase 1 of an inbound request: the propagation headers read, the caller's trust
/// decided from its address, and the tracer-bullet decision made. Phase 2,
/// [`request_context`](Self::request_context), builds the request context from it;
/// phase 3, [`Inbound::open`](super::Inbound::open), opens the server span.
///
/// Before anything runs for the request, an adapter asks
/// [`refusal`](Self::refusal): a request marked as a tracer bullet that this
/// service does not accept must be answered without calling the application.
///
/// ```
/// use observe_core::server::{Admission, ServerOptions};
///
/// let _capture = observe_core::testing::capture();
/// let mut headers = http::HeaderMap::new();
/// headers.insert("baggage", "observe.user_id=mallory,observe.request_type=tracer_bullet".parse()?);
/// let admission = Admission::decide(&ServerOptions::default(), &headers, None);
/// // The default policy is deny: refused, never served, never a dry run.
/// assert_eq!(admission.refusal().unwrap().as_str(), "policy_deny");
/// assert!(!admission.is_caller_trusted());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Admission {
    pub(super) enabled: bool,
    extracted: Extracted,
    pub(super) request_id: RequestId,
    trusted_caller: bool,
    continue_trace: bool,
    /// The caller's span, continued.
    pub(super) parent: Option<SpanContext>,
    /// The caller's span, linked from a restarted trace.
    pub(super) link: Option<SpanContext>,
    /// An untrusted caller's `sampled` flag beyond the budget: the local sampler
    /// decides instead (in phase 3, where the span's name is known).
    pub(super) sampled_limited: bool,
    pub(super) decision: Decision,
    pub(super) refusal: Option<Refusal>,
    /// A marker served as a standard request (the edge opted in), and why.
    pub(super) stripped: Option<DenyReason>,
    /// Baggage members ignored because the caller is not trusted.
    pub(super) ignored_baggage: usize,
    token: Option<Box<str>>,
    context: Option<Arc<RequestContext>>,
}

impl Admission {
    /// Observe is not initialised: nothing to decide, nothing recorded.
    pub(super) fn disabled() -> Admission {
        Admission {
            enabled: false,
            extracted: Extracted::default(),
            request_id: RequestId::generate(),
            trusted_caller: false,
            continue_trace: false,
            parent: None,
            link: None,
            sampled_limited: false,
            decision: Decision::Standard,
            refusal: None,
            stripped: None,
            ignored_baggage: 0,
            token: None,
            context: None,
        }
    }

    /// Phase 1: reads `traceparent`, `tracestate`, `baggage`, `x-request-id` and
    /// `observe-tracer-bullet` from `headers` (W3C rules; invalid input is dropped,
    /// never an error), decides whether the caller at `peer` is trusted
    /// ([`TrustedCallers`](crate::config::TrustedCallers); an unknown peer is not),
    /// and makes the tracer-bullet decision under the policy.
    ///
    /// - The trace continues from any caller (`OBSERVE_INBOUND_CONTEXT=continue`), or
    ///   restarts with a link for untrusted callers (`restart`).
    /// - An untrusted caller's `sampled` flag is honoured for at most
    ///   `OBSERVE_UNTRUSTED_SAMPLED_PER_SECOND` requests a second (per
    ///   [`ServerOptions`]); beyond that the local sampler decides, counted in
    ///   `observe.sampling.untrusted_limited`.
    /// - Identity and the other baggage members are kept only from a trusted caller.
    /// - A marked request the policy does not accept is a [`refusal`](Self::refusal)
    ///   (or, on an edge that opted in and for a marker without a token, a standard
    ///   request with the marker stripped).
    ///
    /// The peer is the connection's remote address as the adapter sees it: behind a
    /// proxy it is the proxy's.
    pub fn decide(options: &ServerOptions, headers: &HeaderMap, peer: Option<IpAddr>) -> Admission {
        let Some(pipeline) = Pipeline::current() else {
            return Admission::disabled();
        };
        let config = &pipeline.settings.config.propagation;
        let inbound_context = options.inbound_context.unwrap_or(config.inbound_context);
        let callers = options
            .trusted_callers
            .as_ref()
            .unwrap_or(&config.trusted_callers);
        let trusted_caller = inbound_context == InboundContext::Trust || callers.contains(peer);
        let continue_trace = inbound_context != InboundContext::Restart || trusted_caller;
        let scanned = ScannedHeaders::new(headers);
        let mut extracted = propagation::extract(&scanned);

        let (parent, link) = if continue_trace {
            (extracted.parent, None)
        } else {
            (None, extracted.parent)
        };
        let sampled_limited = match parent {
            Some(p) if !trusted_caller && p.flags.is_sampled() => {
                // A sampler that ignores the parent needs no budget.
                pipeline.sampler().is_parent_based() && {
                    let per_second = options
                        .untrusted_sampled_per_second
                        .unwrap_or(config.untrusted_sampled_per_second);
                    !options.sampled_budget.try_take(per_second)
                }
            }
            _ => false,
        };

        // The tracer-bullet decision. The name as a constant: a `&str` one is
        // parsed and checked on every lookup (made only when the scan saw one).
        const TOKEN: http::HeaderName =
            http::HeaderName::from_static(propagation::OBSERVE_TRACER_BULLET);
        let (token, repeated) = if scanned.may_have(propagation::OBSERVE_TRACER_BULLET) {
            let mut tokens = headers.get_all(TOKEN).iter().map(HeaderValue::as_bytes);
            let token = tokens.next();
            (token, tokens.any(|t| Some(t) != token))
        } else {
            (None, false)
        };
        // Marked when any member says so, not only the first that `get` reads: a
        // marker is never missed, so a request that asks to change nothing is
        // never served as one that may (fail closed).
        let is_marker = |m: &propagation::BaggageMember| {
            m.key() == keys::REQUEST_TYPE && m.value() == keys::REQUEST_TYPE_TRACER_BULLET
        };
        let markers = extracted.baggage.iter().filter(|m| is_marker(m)).count();
        let baggage_says_so = markers > 0;
        let attempt = Attempt {
            baggage_says_so,
            token,
            trace_id: extracted.parent.map(|p| p.trace_id),
            trusted_caller,
        };
        let (policy, key, max_age) = match &options.tracer_bullet {
            Some(p) => (
                p.policy(),
                p.key().or(config.tracer_bullet_key.as_ref()),
                p.max_age(),
            ),
            None => (
                config.tracer_bullet_policy,
                config.tracer_bullet_key.as_ref(),
                config.tracer_bullet_max_age,
            ),
        };
        let mut decision =
            tracer_bullet::decide_with(policy, key, max_age, &attempt, tracer_bullet::unix_now());
        if repeated && decision == Decision::TracerBullet(TracerBulletOrigin::Verified) {
            // Two different tokens: which one was meant is anybody's guess.
            decision = Decision::Refused(DenyReason::Token(TokenError::Malformed(
                "observe-tracer-bullet sent more than once",
            )));
        }
        let marker = options
            .untrusted_marker
            .unwrap_or(config.tracer_bullet_untrusted_marker);
        let (refusal, stripped) = match decision {
            // A marker relayed in baggage by a client of a public edge that opted in.
            // A token is never relayed by accident: it is always refused.
            Decision::Refused(reason) if token.is_none() && marker == UntrustedMarker::Strip => {
                (None, Some(reason))
            }
            Decision::Refused(reason) => (Some(Refusal { reason }), None),
            _ => (None, None),
        };
        // The token the request context keeps for outgoing calls: one this service
        // verified, or a trusted caller's that it has no key to check (passed on
        // unchanged; the next service verifies it). Never one it could not verify
        // although it holds a key.
        let token = match decision {
            Decision::TracerBullet(TracerBulletOrigin::Verified) => token,
            Decision::TracerBullet(TracerBulletOrigin::Relayed) if key.is_none() => token,
            _ => None,
        }
        .and_then(|t| std::str::from_utf8(t).ok())
        .map(Box::from);

        let ignored_baggage = if trusted_caller {
            0
        } else {
            extracted.baggage.iter().count() - markers
        };
        let request_id = extracted
            .request_id
            .take()
            .unwrap_or_else(RequestId::generate);
        if !continue_trace {
            extracted.trace_state = Default::default();
        }
        Admission {
            enabled: true,
            extracted,
            request_id,
            trusted_caller,
            continue_trace,
            parent,
            link,
            sampled_limited,
            decision,
            refusal,
            stripped,
            ignored_baggage,
            token,
            context: None,
        }
    }

    /// The request must be answered without running the application: it is marked
    /// as a tracer bullet and this service does not accept it.
    pub fn refusal(&self) -> Option<Refusal> {
        self.refusal
    }

    /// Whether the request is a tracer bullet this service honours.
    pub fn request_type(&self) -> RequestType {
        match self.decision {
            Decision::TracerBullet(_) => RequestType::TracerBullet,
            _ => RequestType::Standard,
        }
    }

    /// Whether the caller is trusted (its identity and baggage are believed).
    pub fn is_caller_trusted(&self) -> bool {
        self.trusted_caller
    }

    /// Whether the caller's trace continues (else a new one starts, linked to it).
    pub fn continues_trace(&self) -> bool {
        self.continue_trace
    }

    /// The request id: the caller's when valid, else a generated one.
    pub fn request_id(&self) -> &str {
        self.request_id.as_str()
    }

    /// What was rejected while reading the headers.
    pub fn rejections(&self) -> &propagation::Rejections {
        &self.extracted.rejections
    }

    /// Phase 2: the request context every span and log line of the request carries,
    /// built once (later calls return the same one): request id, request type, and
    /// from a trusted caller its user, account, feature flags and other baggage
    /// members; the `tracestate` of a continued trace; the tracer-bullet token and
    /// origin that outgoing calls may vouch for.
    pub fn request_context(&mut self) -> Arc<RequestContext> {
        if let Some(cx) = &self.context {
            return cx.clone();
        }
        let mut state = ContextState {
            request_id: Some(self.request_id.as_str().into()),
            request_type: self.request_type(),
            ..ContextState::default()
        };
        if self.trusted_caller {
            for member in self.extracted.baggage.iter() {
                // The first member of each of observe's keys counts, as
                // `Baggage::get` reads it; the others are kept whole, in order.
                match member.key() {
                    keys::USER_ID => {
                        state.user_id.get_or_insert_with(|| member.value().into());
                    }
                    keys::ACCOUNT_ID => {
                        state
                            .account_id
                            .get_or_insert_with(|| member.value().into());
                    }
                    keys::REQUEST_TYPE => {}
                    k => match k.strip_prefix(keys::FLAG_PREFIX) {
                        Some(flag) if !flag.is_empty() => {
                            state
                                .flags
                                .entry(flag.into())
                                .or_insert_with(|| member.value().into());
                        }
                        Some(_) => {}
                        None => state.baggage.push(member.clone()),
                    },
                }
            }
        }
        let mut cx =
            RequestContext::builder().trace_state(std::mem::take(&mut self.extracted.trace_state));
        if let Decision::TracerBullet(origin) = self.decision {
            cx = cx.tracer_bullet_origin(origin);
            if let Some(token) = self.token.take() {
                cx = cx.tracer_bullet_token(token);
            }
        }
        let cx = cx.state(state).build();
        self.context = Some(cx.clone());
        cx
    }

    /// Whether the policy could honour any tracer bullet at all.
    pub(super) fn policy_honours_any(options: &ServerOptions) -> bool {
        match &options.tracer_bullet {
            Some(p) => p.policy() != TracerBulletPolicy::Deny,
            None => crate::Observe::current_config()
                .is_some_and(|c| c.propagation.tracer_bullet_policy != TracerBulletPolicy::Deny),
        }
    }
}

/// The rate at which untrusted callers' `sampled` flags are honoured: a GCRA
/// (generic cell rate algorithm, a token bucket in one atomic) allowing
/// `per_second` a second with a burst of as many. Shared by the clones of one
/// [`ServerOptions`], so by every route of a server.
#[derive(Debug, Default)]
pub(crate) struct SampledBudget {
    /// The theoretical arrival time of the next request, in nanoseconds since
    /// [`epoch`]; 0 before the first.
    tat: AtomicU64,
}

fn epoch() -> std::time::Instant {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

impl SampledBudget {
    /// Takes one unit of budget at `per_second`; `false` when there is none left
    /// (always with 0).
    pub(crate) fn try_take(&self, per_second: u32) -> bool {
        if per_second == 0 {
            return false;
        }
        let now = u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.try_take_at(per_second, now)
    }

    fn try_take_at(&self, per_second: u32, now: u64) -> bool {
        let interval = 1_000_000_000 / u64::from(per_second);
        // A burst of `per_second` requests at once.
        let tolerance = interval * (u64::from(per_second) - 1);
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let start = tat.max(now);
            if start - now > tolerance {
                return false;
            }
            match self.tat.compare_exchange_weak(
                tat,
                start + interval,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(current) => tat = current,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_allows_a_burst_then_the_rate() {
        let budget = SampledBudget::default();
        let second = 1_000_000_000;
        let taken = (0..100).filter(|_| budget.try_take_at(10, second)).count();
        assert_eq!(taken, 10, "a burst of one second's worth");
        // A tenth of a second later, one more.
        assert!(budget.try_take_at(10, second + second / 10));
        assert!(!budget.try_take_at(10, second + second / 10));
        // Two seconds later, a full burst again, never more.
        let later = 3 * second;
        let taken = (0..100).filter(|_| budget.try_take_at(10, later)).count();
        assert_eq!(taken, 10);
        assert!(!SampledBudget::default().try_take(0), "0 means never");
        assert!(SampledBudget::default().try_take(1));
    }
}
