//! Outgoing gRPC calls: the same propagation by audience as HTTP, with the
//! OpenTelemetry RPC conventions.
//!
//! [`OutgoingRpc::start`] opens a client span named `package.Service/Method`
//! (`rpc.system=grpc`, `rpc.service`, `rpc.method`, `server.address`,
//! `server.port`), writes `traceparent`/`tracestate` for every target and
//! `baggage`, `x-request-id` and the tracer-bullet token for internal ones only,
//! and, in a tracer bullet, refuses a target that is neither internal nor allowed
//! ([`TracerBulletBlocked`]: do not send the call). [`OutgoingRpc::finish`] records
//! `rpc.grpc.status_code` (any code but `OK` is an error of a client span),
//! `rpc.client.call.duration` per target, service, method, code and request type,
//! and the callee's own duration from its `Server-Timing`.
//!
//! ```
//! use observe_core::client::{ClientOptions, OutgoingRpc};
//! use observe_core::span::Span;
//!
//! let capture = observe_core::testing::capture();
//! Span::new("job").in_scope(|| {
//!     let mut headers = http::HeaderMap::new();
//!     let target: http::Uri = "http://payments.example:443".parse().unwrap();
//!     let call = OutgoingRpc::start(&ClientOptions::default(), &target, "/pay.Payments/Charge", &mut headers)
//!         .expect("not a tracer bullet");
//!     assert!(headers.contains_key("traceparent"));
//!     assert!(!headers.contains_key("baggage")); // not an internal host
//!     call.finish(0, None, &http::HeaderMap::new());
//! });
//! capture.flush();
//! let span = capture.span("pay.Payments/Charge");
//! assert_eq!(span.attribute("rpc.method").unwrap().to_string(), "Charge");
//! assert_eq!(span.attribute("server.address").unwrap().to_string(), "payments.example");
//! ```

use std::time::Duration;

use http::HeaderMap;

use super::{ClientOptions, TracerBulletBlocked, propagate};
use crate::clock::Tick;
use crate::context::RequestType;
use crate::pipeline::Pipeline;
use crate::propagation::{self, Audience};
use crate::server::grpc::{
    CANCELLED, FAILED_PRECONDITION, GRPC, OTHER, UNKNOWN, code_name, status_message,
};
use crate::span::{Span, SpanKind, SpanName};

/// One outgoing gRPC call while it is in flight, from its headers to its status.
/// See the [module docs](self). Dropped unfinished (the caller gave up on it), it
/// ends as `CANCELLED`.
#[derive(Debug)]
pub struct OutgoingRpc {
    span: Span,
    state: Option<Box<State>>,
}

#[derive(Debug)]
struct State {
    start: Tick,
    host: String,
    /// `Service/Method`, and where `Method` starts.
    name: Option<(String, usize)>,
    request_type: RequestType,
    /// The callee's `Server-Timing`, when its headers had one.
    callee: Option<Duration>,
    /// A tracer bullet's call to an internal target: where the callee's footprint
    /// (in the trailers) is merged.
    footprint: Option<Box<crate::footprint::CalleeFootprint>>,
}

impl State {
    fn service_method(&self) -> (&str, &str) {
        match &self.name {
            Some((name, at)) => (&name[..at - 1], &name[*at..]),
            None => (OTHER, OTHER),
        }
    }
}

/// `Service/Method` from `/Service/Method`.
fn split(path: &str) -> Option<(&str, usize)> {
    let name = path.strip_prefix('/')?;
    let slash = name.find('/')?;
    (slash > 0 && slash + 1 < name.len() && !name[slash + 1..].contains('/'))
        .then_some((name, slash + 1))
}

impl OutgoingRpc {
    /// A call that records nothing (observe is not initialised).
    pub const fn disabled() -> OutgoingRpc {
        OutgoingRpc {
            span: Span::disabled(),
            state: None,
        }
    }

    /// Opens the client span of a call of `path` (`/package.Service/Method`) to
    /// `target` (the channel's endpoint: its host and port decide the audience) and
    /// writes the propagation headers into `headers`.
    ///
    /// # Errors
    /// [`TracerBulletBlocked`] when the current request is a tracer bullet and the
    /// target is neither internal nor allowed: do not send the call (the span
    /// records why).
    pub fn start(
        options: &ClientOptions,
        target: &http::Uri,
        path: &str,
        headers: &mut HeaderMap,
    ) -> Result<OutgoingRpc, TracerBulletBlocked> {
        let Some(pipeline) = Pipeline::current() else {
            return Ok(OutgoingRpc::disabled());
        };
        let start = Tick::now();
        let host = target.host().unwrap_or_default();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .to_owned();
        let port = target.port_u16().unwrap_or(match target.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        let config = &pipeline.settings.config.propagation;
        let internal = options
            .internal
            .as_ref()
            .unwrap_or(&config.internal_hosts)
            .is_internal(&host, Some(port));
        let audience = if internal {
            Audience::Internal
        } else {
            Audience::External
        };
        let current = crate::context::current_request_context();
        let tracer_bullet = current
            .as_ref()
            .is_some_and(|ctx| ctx.request_type() == RequestType::TracerBullet);

        let name = split(path).map(|(n, at)| (n.to_owned(), at));
        let span_name = match &name {
            Some((n, _)) => SpanName::from(n.clone()),
            None => SpanName::Static(GRPC),
        };
        let (service, method) = match &name {
            Some((n, at)) => (&n[..at - 1], &n[*at..]),
            None => (OTHER, OTHER),
        };
        let peer_service = match &options.peer_service {
            Some(name) => name.to_string(),
            None => host.clone(),
        };
        let span = Span::builder(span_name)
            .kind(SpanKind::Client)
            .start_time(start)
            .attribute("rpc.system", GRPC)
            .attribute("rpc.service", service.to_owned())
            .attribute("rpc.method", method.to_owned())
            .attribute("server.address", host.clone())
            .attribute("server.port", port)
            .attribute("peer.service", peer_service)
            .attribute(
                "observe.audience",
                if internal { "internal" } else { "external" },
            )
            .start();

        // Only observe decides what goes in its own header.
        headers.remove(crate::propagation::OBSERVE_TRACER_BULLET);
        if !internal {
            // No identity to an external target, whoever set it (as the HTTP client).
            headers.remove(crate::propagation::BAGGAGE);
        }
        if tracer_bullet && !internal && !options.allowed.is_internal(&host, Some(port)) {
            // The bullet's footprint names the call it did not make, as the HTTP
            // client's does.
            if let Some(footprint) = current.as_ref().and_then(|c| c.footprint()) {
                footprint.record_blocked(crate::footprint::service_name(pipeline), &host);
            }
            let blocked = TracerBulletBlocked::external(host);
            span.set_attribute("error.type", "tracer_bullet_blocked");
            // The status the application gets (observe-tonic's
            // `TRACER_BULLET_BLOCKED`), as on a call that was answered.
            span.set_attribute("rpc.grpc.status_code", i64::from(FAILED_PRECONDITION));
            span.set_error(blocked.to_string());
            span.end();
            return Err(blocked);
        }
        if let Some(cx) = span.span_context() {
            propagate(
                config,
                current.as_ref(),
                audience,
                tracer_bullet,
                cx,
                headers,
            );
        }
        let request_type = if tracer_bullet {
            RequestType::TracerBullet
        } else {
            RequestType::Standard
        };
        // Only an internal callee's footprint is believed.
        let footprint = match &current {
            Some(ctx) if tracer_bullet && internal => {
                Some(Box::new(crate::footprint::CalleeFootprint::new(
                    ctx.clone(),
                    crate::footprint::service_name(pipeline),
                    host.clone(),
                )))
            }
            _ => None,
        };
        Ok(OutgoingRpc {
            span,
            state: Some(Box::new(State {
                start,
                host,
                name,
                request_type,
                callee: None,
                footprint,
            })),
        })
    }

    /// The client span (poll the call inside it).
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Reads the response's initial metadata: the callee's span (`traceresponse`)
    /// and, for a trailers-only response, its `Server-Timing`.
    pub fn response_headers(&mut self, headers: &HeaderMap) {
        let Some(state) = &mut self.state else { return };
        let response = super::callee_response(&self.span, headers);
        if let Some(callee) = response.callee {
            self.span
                .set_attribute("observe.callee.span_id", callee.span_id.to_string());
        }
        if response.server_duration.is_some() {
            state.callee = response.server_duration;
        }
    }

    /// Records the status, from the trailers (or the headers of a trailers-only
    /// response) given as `metadata`: `rpc.grpc.status_code` (every code but `OK`
    /// is an error here), the callee's own duration from its `Server-Timing`, and
    /// `rpc.client.call.duration`.
    pub fn finish(mut self, code: u32, message: Option<&str>, metadata: &HeaderMap) {
        let Some(mut state) = self.state.take() else {
            return;
        };
        if let Some(callee) = propagation::extract_response(metadata).server_duration {
            state.callee = Some(callee);
        }
        if let Some(footprint) = &state.footprint {
            footprint.merge(metadata);
        }
        let span = std::mem::replace(&mut self.span, Span::disabled());
        end(span, &state, Some(code), message);
    }

    /// Records a call that got no status (connection refused, reset, ...):
    /// `error.type` is `transport`, and the duration is recorded without a status
    /// code.
    pub fn fail(mut self, error: &(dyn std::error::Error + 'static)) {
        let Some(state) = self.state.take() else {
            return;
        };
        let span = std::mem::replace(&mut self.span, Span::disabled());
        span.set_attribute("error.type", "transport");
        span.set_error(error.to_string());
        end(span, &state, None, None);
    }

    /// Ends a call the caller gave up on (`CANCELLED`); dropping an unfinished
    /// call does the same.
    pub fn cancel(mut self) {
        self.end_cancelled();
    }

    fn end_cancelled(&mut self) {
        let Some(state) = self.state.take() else {
            return;
        };
        let span = std::mem::replace(&mut self.span, Span::disabled());
        span.set_attribute("observe.cancelled", true);
        end(span, &state, Some(CANCELLED), None);
    }
}

impl Drop for OutgoingRpc {
    fn drop(&mut self) {
        self.end_cancelled();
    }
}

fn end(span: Span, state: &State, code: Option<u32>, message: Option<&str>) {
    let elapsed = state.start.duration_until(Tick::now());
    let code = code.map(|c| if c > 16 { UNKNOWN } else { c });
    let failed = code != Some(0);
    if let Some(code) = code {
        span.set_attribute("rpc.grpc.status_code", i64::from(code));
        if code != 0 {
            span.set_attribute("error.type", code_name(code));
            span.set_error(status_message(code, message));
        }
    }
    // A callee cannot have taken longer than the call it answered.
    if let Some(callee) = state.callee.filter(|d| *d <= elapsed) {
        span.set_attribute("observe.callee.duration_ms", crate::clock::millis(callee));
        span.set_attribute(
            "observe.network.duration_ms",
            crate::clock::millis(elapsed.saturating_sub(callee)),
        );
    }
    let (service, method) = state.service_method();
    let trace_id = span.span_context().map(|c| c.trace_id).unwrap_or_default();
    crate::metrics::rpc_client_duration(
        &state.host,
        GRPC,
        service,
        method,
        code,
        state.request_type,
    )
    .record_with_exemplar(
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
        trace_id,
        failed,
    );
    span.end();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_service_and_method() {
        assert_eq!(split("/a.B/C"), Some(("a.B/C", 4)));
        for bad in ["", "/", "/a", "//C", "/a.B/", "/a/b/c", "a/b"] {
            assert_eq!(split(bad), None, "{bad:?}");
        }
    }
}
