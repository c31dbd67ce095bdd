//! The request context: who and what a unit of work is for.
//!
//! Every request carries a context (DESIGN.md, "Request context"): its trace and
//! span ids, a request id, the user and account once known, whether it is a
//! standard request or a tracer bullet, feature flags, and baggage. Adapters set it
//! from inbound headers; the application enriches it (after authentication, say);
//! every log line written while the request runs carries it; outgoing calls pass it
//! on.
//!
//! The context travels with spans: a span opened inside another inherits its
//! context, so it is carried across `.await` for free. A bare `tokio::spawn` starts
//! a task with *no* current span and therefore no context; spawn with
//! [`crate::task`]'s helpers (`observe_core::spawn`, `spawn_blocking`,
//! `thread::spawn`), or wrap the future with
//! [`FutureExt::in_current_context`](crate::FutureExt::in_current_context) for
//! another executor.
//!
//! ```
//! use observe_core::context;
//!
//! fn after_login(user: &str) {
//!     context::set_user(user); // every later log line of this request has user_id
//! }
//! # after_login("u-1");
//! if let Some(cx) = context::current() {
//!     println!("{:?} {:?}", cx.trace_id(), cx.user_id());
//! }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use crate::ids::{SpanId, TraceId};
use crate::span::stack;

pub use crate::metrics::RequestType;

/// How this process came to treat a request as a tracer bullet, which decides what
/// its outgoing calls may vouch for: a service that holds the tracer-bullet key
/// signs a token for downstream services only for a bullet it
/// [`Started`](Self::Started) or [`Verified`](Self::Verified), so an unsigned marker
/// can never become a signed one on its way through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TracerBulletOrigin {
    /// This process started it (a context built with
    /// [`RequestType::TracerBullet`] in code).
    Started,
    /// An inbound request carried a token this process verified.
    Verified,
    /// An inbound request from a trusted caller carried the marker, without a token
    /// this process could verify (the `trusted` policy). Outgoing calls carry the
    /// mode, and the caller's token unchanged when this process has no key to check
    /// it with, never a token of this process.
    Relayed,
}

/// The values of a request context at one moment. Cheap to share: log records keep
/// an `Arc` of the state current when they were written.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct ContextState {
    /// The request id (`x-request-id`).
    pub request_id: Option<Arc<str>>,
    /// The authenticated user.
    pub user_id: Option<Arc<str>>,
    /// The account (tenant) the request acts for.
    pub account_id: Option<Arc<str>>,
    /// Standard request or tracer bullet.
    pub request_type: RequestType,
    /// Feature flags, name to value.
    pub flags: BTreeMap<Arc<str>, Arc<str>>,
    /// Baggage members that are not observe's own, passed on unchanged: in the
    /// order received, duplicates and properties included.
    pub baggage: Vec<crate::propagation::BaggageMember>,
}

/// A request context shared by all spans of one request in this process.
///
/// Its request type is fixed when it is created; user, account, flags and baggage
/// can be set later and are visible to every span and log line from then on.
pub struct RequestContext {
    request_type: RequestType,
    /// Set when `request_type` is a tracer bullet.
    tracer_bullet_origin: Option<TracerBulletOrigin>,
    state: Mutex<Arc<ContextState>>,
    /// The inbound `tracestate`, passed on to every outgoing call.
    trace_state: crate::propagation::TraceState,
    /// The inbound tracer-bullet token, passed on to internal calls when this
    /// service has no key of its own to sign with.
    tracer_bullet_token: Option<Box<str>>,
    /// What a tracer bullet skipped here and in the services it called; `None`
    /// (one word, no allocation) for a standard request.
    footprint: Option<Box<crate::footprint::Footprint>>,
}

impl fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestContext")
            .field("state", &self.snapshot())
            .finish()
    }
}

impl RequestContext {
    /// A standard request context with a freshly generated request id.
    pub fn new() -> Arc<RequestContext> {
        RequestContext::from_state(ContextState {
            request_id: Some(crate::propagation::RequestId::generate().as_str().into()),
            ..Default::default()
        })
    }

    /// A builder, for contexts with known values.
    pub fn builder() -> RequestContextBuilder {
        RequestContextBuilder::default()
    }

    /// A context with exactly these values (a tracer bullet is one this process
    /// [`Started`](TracerBulletOrigin::Started)).
    pub fn from_state(state: ContextState) -> Arc<RequestContext> {
        RequestContext::with_inbound(state, crate::propagation::TraceState::new(), None, None)
    }

    fn with_inbound(
        state: ContextState,
        trace_state: crate::propagation::TraceState,
        tracer_bullet_token: Option<Box<str>>,
        origin: Option<TracerBulletOrigin>,
    ) -> Arc<RequestContext> {
        let bullet = state.request_type == RequestType::TracerBullet;
        Arc::new(RequestContext {
            request_type: state.request_type,
            tracer_bullet_origin: bullet.then(|| origin.unwrap_or(TracerBulletOrigin::Started)),
            state: Mutex::new(Arc::new(state)),
            trace_state,
            tracer_bullet_token: if bullet { tracer_bullet_token } else { None },
            footprint: bullet.then(|| Box::new(crate::footprint::Footprint::new())),
        })
    }

    /// The `tracestate` the request came with (empty when none, or when the trace
    /// was restarted at the edge).
    pub fn trace_state(&self) -> &crate::propagation::TraceState {
        &self.trace_state
    }

    /// The tracer-bullet token the request came with, when it was honoured as one.
    pub fn tracer_bullet_token(&self) -> Option<&str> {
        self.tracer_bullet_token.as_deref()
    }

    /// How this process came to treat the request as a tracer bullet; `None` for a
    /// standard request.
    pub fn tracer_bullet_origin(&self) -> Option<TracerBulletOrigin> {
        self.tracer_bullet_origin
    }

    /// Standard request or tracer bullet.
    pub fn request_type(&self) -> RequestType {
        self.request_type
    }

    /// The footprint of a tracer bullet: what it skipped here and in the services
    /// it called ([`crate::footprint`]). `None` for a standard request.
    pub fn footprint(&self) -> Option<&crate::footprint::Footprint> {
        self.footprint.as_deref()
    }

    /// The current values.
    pub fn snapshot(&self) -> Arc<ContextState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Changes the values: the closure gets a copy to modify; readers see either the
    /// old or the new state, never a mix.
    pub fn update(&self, f: impl FnOnce(&mut ContextState)) {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = ContextState::clone(&guard);
        f(&mut next);
        // The request type is part of the request's identity: it cannot change.
        next.request_type = self.request_type;
        *guard = Arc::new(next);
    }
}

/// Builds a [`RequestContext`] (adapters build one from inbound headers; workers one
/// per unit of work).
///
/// ```
/// use observe_core::context::{RequestContext, RequestType};
/// let cx = RequestContext::builder().request_id("job-17").user("u-1").flag("beta", "on").build();
/// assert_eq!(cx.snapshot().user_id.as_deref(), Some("u-1"));
/// assert_eq!(cx.request_type(), RequestType::Standard);
/// ```
#[derive(Debug, Default, Clone)]
#[must_use = "call build() to get the context"]
pub struct RequestContextBuilder {
    state: ContextState,
    trace_state: crate::propagation::TraceState,
    tracer_bullet_token: Option<Box<str>>,
    tracer_bullet_origin: Option<TracerBulletOrigin>,
}

impl RequestContextBuilder {
    /// The request id (without one, `build` generates one).
    pub fn request_id(mut self, id: impl AsRef<str>) -> Self {
        self.state.request_id = Some(id.as_ref().into());
        self
    }
    /// The user.
    pub fn user(mut self, id: impl AsRef<str>) -> Self {
        self.state.user_id = Some(id.as_ref().into());
        self
    }
    /// The account.
    pub fn account(mut self, id: impl AsRef<str>) -> Self {
        self.state.account_id = Some(id.as_ref().into());
        self
    }
    /// A feature flag.
    pub fn flag(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.state
            .flags
            .insert(name.as_ref().into(), value.as_ref().into());
        self
    }
    /// A baggage member passed on to internal services unchanged, after the ones
    /// given before (a key given twice is sent twice; a receiver reads the
    /// first). A key that is not an HTTP token, or a member over
    /// [`BAGGAGE_MAX_BYTES`](crate::propagation::BAGGAGE_MAX_BYTES), is left out
    /// ([`BaggageMember::new`](crate::propagation::BaggageMember::new) says why).
    pub fn baggage(mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        if let Ok(member) = crate::propagation::BaggageMember::new(key.as_ref(), value.as_ref()) {
            self.state.baggage.push(member);
        }
        self
    }
    /// Standard request or tracer bullet.
    pub fn request_type(mut self, request_type: RequestType) -> Self {
        self.state.request_type = request_type;
        self
    }
    /// Every value at once (adapters build the state from inbound headers).
    pub fn state(mut self, state: ContextState) -> Self {
        self.state = state;
        self
    }
    /// The inbound `tracestate`, passed on to outgoing calls.
    pub fn trace_state(mut self, trace_state: crate::propagation::TraceState) -> Self {
        self.trace_state = trace_state;
        self
    }
    /// The inbound tracer-bullet token (adapters set it once the policy honoured it;
    /// ignored for a standard request).
    pub fn tracer_bullet_token(mut self, token: impl Into<Box<str>>) -> Self {
        self.tracer_bullet_token = Some(token.into());
        self
    }
    /// How a tracer bullet came to be one (adapters say
    /// [`Verified`](TracerBulletOrigin::Verified) or
    /// [`Relayed`](TracerBulletOrigin::Relayed)); default
    /// [`Started`](TracerBulletOrigin::Started). Ignored for a standard request.
    pub fn tracer_bullet_origin(mut self, origin: TracerBulletOrigin) -> Self {
        self.tracer_bullet_origin = Some(origin);
        self
    }
    /// The context.
    pub fn build(mut self) -> Arc<RequestContext> {
        if self.state.request_id.is_none() {
            self.state.request_id = Some(crate::propagation::RequestId::generate().as_str().into());
        }
        RequestContext::with_inbound(
            self.state,
            self.trace_state,
            self.tracer_bullet_token,
            self.tracer_bullet_origin,
        )
    }
}

/// A snapshot of the current request context and span ids.
#[derive(Clone, Debug, PartialEq)]
pub struct Context {
    trace_id: TraceId,
    span_id: SpanId,
    parent_id: SpanId,
    state: Arc<ContextState>,
}

impl Context {
    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }
    /// The current span's id.
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }
    /// The current span's parent id (invalid for a root span).
    pub fn parent_id(&self) -> SpanId {
        self.parent_id
    }
    /// The request id.
    pub fn request_id(&self) -> Option<&str> {
        self.state.request_id.as_deref()
    }
    /// The user id, once set.
    pub fn user_id(&self) -> Option<&str> {
        self.state.user_id.as_deref()
    }
    /// The account id, once set.
    pub fn account_id(&self) -> Option<&str> {
        self.state.account_id.as_deref()
    }
    /// Standard request or tracer bullet.
    pub fn request_type(&self) -> RequestType {
        self.state.request_type
    }
    /// One feature flag's value.
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.state.flags.get(name).map(|v| &**v)
    }
    /// All feature flags.
    pub fn flags(&self) -> &BTreeMap<Arc<str>, Arc<str>> {
        &self.state.flags
    }
    /// The whole state.
    pub fn state(&self) -> &Arc<ContextState> {
        &self.state
    }
}

/// The context of the innermost span entered on this thread, or `None` outside any
/// span (or when observe is not initialised).
pub fn current() -> Option<Context> {
    stack::with_current(|cur| {
        let d = cur?;
        Some(Context {
            trace_id: d.trace_id,
            span_id: d.span_id,
            parent_id: d.parent_id,
            state: d.ctx.get().map(|c| c.snapshot()).unwrap_or_default(),
        })
    })
}

/// The request context of the innermost span on this thread, if it has one (without
/// creating one, unlike [`current_request`]).
pub fn current_request_context() -> Option<Arc<RequestContext>> {
    stack::with_current(|cur| cur?.ctx.get().cloned())
}

/// The request context of the innermost span on this thread, creating one for the
/// current unit of work when there is none yet (a `#[traced]` root in a worker, for
/// example). Returns `None` outside any span.
pub fn current_request() -> Option<Arc<RequestContext>> {
    if let Some(c) = stack::with_current(|cur| cur.and_then(|d| d.ctx.get().cloned())) {
        return Some(c);
    }
    let trace = stack::with_current(|cur| cur.map(|d| d.trace_id))?;
    let created = RequestContext::new();
    // Give it to every span of this trace entered on this thread that has none, so
    // that the spans around the current one (up to the local root) see it too.
    stack::for_each(|d| {
        if d.trace_id != trace {
            return false;
        }
        let _ = d.ctx.set(created.clone());
        true
    });
    stack::with_current(|cur| cur.and_then(|d| d.ctx.get().cloned()))
}

fn update(f: impl FnOnce(&mut ContextState)) -> bool {
    match current_request() {
        Some(c) => {
            c.update(f);
            true
        }
        None => false,
    }
}

/// Sets the user of the current request (after authentication). Every later log
/// line of the request carries it and internal downstream calls receive it in
/// baggage. Returns `false` when called outside any span.
pub fn set_user(user_id: impl AsRef<str>) -> bool {
    let v: Arc<str> = user_id.as_ref().into();
    update(|s| s.user_id = Some(v))
}

/// Sets the account (tenant) of the current request. Returns `false` outside any span.
pub fn set_account(account_id: impl AsRef<str>) -> bool {
    let v: Arc<str> = account_id.as_ref().into();
    update(|s| s.account_id = Some(v))
}

/// Sets a feature flag for the current request (logged on every line, passed to
/// internal services as `observe.flag.<name>` baggage). Returns `false` outside any
/// span.
pub fn set_flag(name: impl AsRef<str>, value: impl AsRef<str>) -> bool {
    let (n, v): (Arc<str>, Arc<str>) = (name.as_ref().into(), value.as_ref().into());
    update(|s| {
        s.flags.insert(n, v);
    })
}

/// Whether the current request is a tracer bullet.
pub fn is_tracer_bullet() -> bool {
    stack::with_current(|cur| {
        cur.and_then(|d| d.ctx.get())
            .is_some_and(|c| c.request_type() == RequestType::TracerBullet)
    })
}

/// The current request id, if any.
pub fn request_id() -> Option<Arc<str>> {
    stack::with_current(|cur| cur?.ctx.get()?.snapshot().request_id.clone())
}

/// The `baggage` an outgoing call to an internal host carries for this request:
/// the members of others kept from inbound, then user, account, request type and
/// feature flags under observe's keys. Shared by the client layers and the
/// OpenTelemetry propagator.
pub(crate) fn outgoing_baggage(
    ctx: &RequestContext,
    state: &ContextState,
) -> crate::propagation::Baggage {
    use crate::propagation::{BaggageMember, keys};
    let mut baggage = crate::propagation::Baggage::new();
    // observe's own members first, then the others in the order received, with
    // their properties: when a W3C limit is reached, the members at the end are
    // left out whole (never sent broken), the service's own never.
    let mut own = |key: &str, value: &str| {
        if crate::propagation::Baggage::is_valid_key(key) {
            let _ = baggage.push_within_limits(BaggageMember::from_parts(key, value, ""));
        }
    };
    if let Some(user) = &state.user_id {
        own(keys::USER_ID, user);
    }
    if let Some(account) = &state.account_id {
        own(keys::ACCOUNT_ID, account);
    }
    if ctx.request_type() == RequestType::TracerBullet {
        own(keys::REQUEST_TYPE, keys::REQUEST_TYPE_TRACER_BULLET);
    }
    let mut flag_key = String::new();
    for (name, value) in &state.flags {
        flag_key.clear();
        flag_key.push_str(keys::FLAG_PREFIX);
        flag_key.push_str(name);
        own(&flag_key, value);
    }
    for member in &state.baggage {
        // observe's keys come from the context alone (one value each); a key that
        // is not a token (pushed into the state by hand) would forge members.
        let key = member.key();
        if !crate::propagation::Baggage::is_valid_key(key)
            || key == keys::USER_ID
            || key == keys::ACCOUNT_ID
            || key == keys::REQUEST_TYPE
            || key.starts_with(keys::FLAG_PREFIX)
        {
            continue;
        }
        if !baggage.push_within_limits(member.clone()) {
            break;
        }
    }
    baggage
}
