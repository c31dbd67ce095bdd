//! The protocol-neutral phases of an inbound request, shared by HTTP
//! ([`Inbound::start`](super::Inbound::start)) and gRPC
//! ([`InboundRpc::start`](super::InboundRpc::start)): extraction, the tracer-bullet
//! decision, the trust policy, the request context, the span's parent, and what is
//! logged and counted about refused attempts and ignored headers.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue};

use super::{PROPAGATION_REJECTED, ServerOptions, TRACER_BULLET_DENIED};
use crate::clock::Tick;
use crate::config::InboundContext;
use crate::context::{ContextState, RequestContext, RequestType};
use crate::ids::SpanContext;
use crate::pipeline::Pipeline;
use crate::propagation::{self, Rejections, RequestId, keys};
use crate::span::{KeyValue, Parent, Span, SpanBuilder, SpanKind, SpanName};
use crate::tracer_bullet::{self, Attempt, Decision};

/// What the protocol-neutral phases decided about an inbound request.
pub(super) struct Accepted {
    pub(super) request_id: RequestId,
    pub(super) request_type: RequestType,
    pub(super) decision: Decision,
    pub(super) context: Arc<RequestContext>,
    inbound_context: InboundContext,
    /// The caller's span, when its `traceparent` was valid.
    caller: Option<SpanContext>,
    rejections: Rejections,
}

/// Extraction, the tracer-bullet decision, the trust policy and the request context
/// of an inbound request with these headers.
pub(super) fn accept(
    pipeline: &Pipeline,
    options: &ServerOptions,
    headers: &HeaderMap,
) -> Accepted {
    let config = &pipeline.settings.config.propagation;
    let inbound_context = options.inbound_context.unwrap_or(config.inbound_context);
    let mut extracted = propagation::extract(headers);

    // The tracer-bullet decision.
    let token = headers
        .get(propagation::OBSERVE_TRACER_BULLET)
        .map(HeaderValue::as_bytes);
    let attempt = Attempt {
        baggage_says_so: extracted.baggage.get(keys::REQUEST_TYPE)
            == Some(keys::REQUEST_TYPE_TRACER_BULLET),
        token,
        trace_id: extracted.parent.map(|p| p.trace_id),
    };
    let now = tracer_bullet::unix_now();
    let decision = match &options.tracer_bullet {
        Some(policy) => policy.decide(&attempt, now),
        None => tracer_bullet::decide_with(
            config.tracer_bullet_policy,
            config.tracer_bullet_key.as_ref(),
            config.tracer_bullet_max_age,
            &attempt,
            now,
        ),
    };
    let request_type = match decision {
        Decision::TracerBullet => RequestType::TracerBullet,
        _ => RequestType::Standard,
    };

    // The request context.
    let request_id = extracted.request_id.unwrap_or_else(RequestId::generate);
    let mut state = ContextState {
        request_id: Some(request_id.as_str().into()),
        request_type,
        ..ContextState::default()
    };
    let trusted = inbound_context == InboundContext::Trust;
    if trusted {
        for member in extracted.baggage.iter() {
            match member.key() {
                keys::USER_ID => state.user_id = Some(member.value().into()),
                keys::ACCOUNT_ID => state.account_id = Some(member.value().into()),
                keys::REQUEST_TYPE => {}
                k => match k.strip_prefix(keys::FLAG_PREFIX) {
                    Some(flag) if !flag.is_empty() => {
                        state.flags.insert(flag.into(), member.value().into());
                    }
                    Some(_) => {}
                    None => state.baggage.push((k.into(), member.value().into())),
                },
            }
        }
    }

    // What the outgoing calls of this request pass on beyond the context.
    let mut cx = RequestContext::builder();
    if trusted {
        cx = cx.trace_state(std::mem::take(&mut extracted.trace_state));
    }
    if let (Decision::TracerBullet, Some(t)) = (&decision, token)
        && let Ok(t) = std::str::from_utf8(t)
    {
        cx = cx.tracer_bullet_token(t);
    }
    let context = cx.state(state).build();

    Accepted {
        request_id,
        request_type,
        decision,
        context,
        inbound_context,
        caller: extracted.parent,
        rejections: extracted.rejections,
    }
}

impl Accepted {
    /// The server span's builder: its parent (the caller's span when trusted, else
    /// a new trace linked to it), the request context and the start time.
    pub(super) fn span(&self, name: SpanName, start: Tick) -> SpanBuilder {
        let parent = match (self.inbound_context, self.caller) {
            (InboundContext::Trust, Some(p)) => Parent::Remote(p),
            _ => Parent::Root,
        };
        let mut builder = Span::builder(name)
            .kind(SpanKind::Server)
            .parent(parent)
            .context(self.context.clone())
            .start_time(start);
        if let (InboundContext::Restart, Some(p)) = (self.inbound_context, self.caller) {
            builder = builder.link(
                p,
                vec![KeyValue::new(
                    "observe.link.reason",
                    "inbound_context_restart",
                )],
            );
        }
        builder
    }

    /// The attributes about the decisions: request type, refused attempt, ignored
    /// headers.
    pub(super) fn attributes(&self, mut builder: SpanBuilder) -> SpanBuilder {
        if self.request_type == RequestType::TracerBullet {
            builder = builder.attribute("observe.request_type", RequestType::TracerBullet.as_str());
        }
        if let Decision::Denied(reason) = self.decision {
            builder = builder.attribute("observe.tracer_bullet.denied", reason.as_str());
        }
        if !self.rejections.is_empty() {
            builder = builder.attribute(
                "observe.propagation.rejected",
                self.rejections.total() as u64,
            );
        }
        builder
    }

    /// Once the span is open: a refused tracer-bullet attempt and the ignored
    /// headers are counted and logged in it.
    pub(super) fn report(&self, span: &Span) {
        if let Decision::Denied(reason) = self.decision {
            crate::metrics::counter(TRACER_BULLET_DENIED, &[("reason", reason.as_str())]).inc();
            span.in_scope(|| {
                tracing::warn!(
                    target: "observe::tracer_bullet",
                    reason = reason.as_str(),
                    "tracer-bullet attempt refused, served as a standard request: {reason}"
                );
            });
        }
        if !self.rejections.is_empty() {
            for rejection in self.rejections.iter() {
                crate::metrics::counter(PROPAGATION_REJECTED, &[("header", rejection.header)])
                    .inc();
            }
            span.in_scope(|| {
                for rejection in self.rejections.iter() {
                    tracing::debug!(target: "observe::propagation", "ignored inbound header: {rejection}");
                }
            });
        }
    }
}
