//! What a span is while it runs ([`SpanData`]) and once it has ended ([`SpanRecord`]).

use std::borrow::Cow;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use tracing_core::Level;

use super::value::{KeyValue, SpanName};
use crate::clock::Tick;
use crate::context::{RequestContext, RequestType};
use crate::ids::{SpanContext, SpanId, TraceFlags, TraceId};
use crate::pipeline::Pipeline;

/// The role of a span in a trace, as OpenTelemetry defines it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SpanKind {
    /// Work inside the process (the default; `#[traced]` functions).
    #[default]
    Internal,
    /// The handling of an inbound request.
    Server,
    /// An outbound request.
    Client,
    /// A message handed to a broker.
    Producer,
    /// A message received from a broker.
    Consumer,
}

impl SpanKind {
    /// The lowercase name used in logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

/// A span's status code, as OpenTelemetry defines it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum StatusCode {
    /// Nothing was said: the operation is assumed to have worked.
    #[default]
    Unset = 0,
    /// Explicitly successful.
    Ok = 1,
    /// Failed.
    Error = 2,
}

impl StatusCode {
    fn from_u8(v: u8) -> StatusCode {
        match v {
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => StatusCode::Unset,
        }
    }

    /// The lowercase name used in logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusCode::Unset => "unset",
            StatusCode::Ok => "ok",
            StatusCode::Error => "error",
        }
    }
}

/// Something that happened at a point in time during a span.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// When it happened.
    pub time: Tick,
    /// What happened (`exception`, `side_effect.skipped`, a log message, ...).
    pub name: Cow<'static, str>,
    /// Details.
    pub attributes: Vec<KeyValue>,
}

/// A reference from a span to another span that is not its parent (for example the
/// inbound trace an edge service did not continue).
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    /// The linked span.
    pub context: SpanContext,
    /// Why it is linked.
    pub attributes: Vec<KeyValue>,
}

/// The static description of a place in the code that opens spans: one `static` per
/// `#[traced]` function, built by the macro.
#[derive(Debug)]
pub struct Callsite {
    pub(crate) name: &'static str,
    pub(crate) function: &'static str,
    pub(crate) file: &'static str,
    pub(crate) line: u32,
    pub(crate) level: Level,
    pub(crate) kind: SpanKind,
    pub(crate) metrics: crate::metrics::FunctionMetrics,
}

impl Callsite {
    /// A callsite. `function` is the `code.function` attribute (module path and name).
    pub const fn new(
        name: &'static str,
        function: &'static str,
        file: &'static str,
        line: u32,
        level: Level,
        kind: SpanKind,
    ) -> Callsite {
        Callsite {
            name,
            function,
            file,
            line,
            level,
            kind,
            metrics: crate::metrics::FunctionMetrics::new(function),
        }
    }

    /// The span name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// `code.function`: the module path and function name.
    pub fn function(&self) -> &'static str {
        self.function
    }

    /// `code.filepath`.
    pub fn file(&self) -> &'static str {
        self.file
    }

    /// `code.lineno`.
    pub fn line(&self) -> u32 {
        self.line
    }

    /// The level the span was declared at.
    pub fn level(&self) -> Level {
        self.level
    }

    /// The span kind.
    pub fn kind(&self) -> SpanKind {
        self.kind
    }
}

/// The rarely used parts of a span, allocated only when a span gets one of them.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Extra {
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) events: Vec<Event>,
    pub(crate) links: Vec<Link>,
    pub(crate) status_message: Option<Cow<'static, str>>,
}

/// A server span's rare parts and its attributes kept typed until read (see
/// `span::deferred`, first in the span's attribute order), in one allocation:
/// apart, they were two per request, both freed on observe's worker. 984 bytes,
/// within glibc's per-thread cache (a test keeps it there).
///
/// `repr(C)`, the typed attributes first: what their drop reads (their head) and
/// what `Extra`'s reads are then three cache lines, where the flight recorder's
/// eviction of a server span would otherwise miss more.
#[derive(Debug, Default, Clone, PartialEq)]
#[repr(C)]
pub(crate) struct ServerExtra {
    pub(crate) deferred: super::deferred::DeferredAttributes,
    pub(crate) extra: Extra,
}

/// Where a span keeps its rare parts: alone, or beside a server span's typed
/// attributes. Reads as the [`Extra`] either way.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ExtraBox {
    Plain(Box<Extra>),
    Server(Box<ServerExtra>),
}

impl Default for ExtraBox {
    fn default() -> Self {
        ExtraBox::Plain(Box::default())
    }
}

impl std::ops::Deref for ExtraBox {
    type Target = Extra;
    fn deref(&self) -> &Extra {
        match self {
            ExtraBox::Plain(e) => e,
            ExtraBox::Server(s) => &s.extra,
        }
    }
}

impl std::ops::DerefMut for ExtraBox {
    fn deref_mut(&mut self) -> &mut Extra {
        match self {
            ExtraBox::Plain(e) => e,
            ExtraBox::Server(s) => &mut s.extra,
        }
    }
}

impl ExtraBox {
    /// The typed attributes, for a server span.
    pub(crate) fn deferred(&self) -> Option<&super::deferred::DeferredAttributes> {
        match self {
            ExtraBox::Plain(_) => None,
            ExtraBox::Server(s) => Some(&s.deferred),
        }
    }

    /// The typed attributes and the other parts, for a server span.
    fn parts_mut(&mut self) -> (&mut Extra, Option<&mut super::deferred::DeferredAttributes>) {
        match self {
            ExtraBox::Plain(e) => (e, None),
            ExtraBox::Server(s) => (&mut s.extra, Some(&mut s.deferred)),
        }
    }

    /// Adds an attribute after all the others.
    pub(crate) fn push_attribute(&mut self, kv: KeyValue) {
        let (extra, deferred) = self.parts_mut();
        extra.attributes.push(kv);
        if let Some(d) = deferred {
            d.changed();
        }
    }

    /// Sets an attribute: in place when the span has it, after the others
    /// otherwise.
    pub(crate) fn set_attribute(&mut self, kv: KeyValue) {
        let (extra, mut deferred) = self.parts_mut();
        let kv = match deferred.as_deref_mut() {
            Some(d) => match d.set(kv, extra.attributes.is_empty()) {
                Ok(()) => return,
                Err(kv) => kv,
            },
            None => kv,
        };
        match extra.attributes.iter_mut().find(|a| a.key == kv.key) {
            Some(existing) => existing.value = kv.value,
            None => extra.attributes.push(kv),
        }
        if let Some(d) = deferred {
            d.changed();
        }
    }
}

/// A span while it runs. Shared by reference with the thread that polls it (through
/// the thread's span stack) and, for spans opened through `tracing`, possibly with
/// several threads; hence the atomics and the mutex for the rare mutable parts.
pub(crate) struct SpanData {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) parent_id: SpanId,
    pub(crate) flags: TraceFlags,
    pub(crate) kind: SpanKind,
    pub(crate) parent_remote: bool,
    pub(crate) local_root: bool,
    /// Only carries context: not recorded when it ends (used to carry a span's
    /// identity into spawned tasks).
    pub(crate) context_only: bool,
    /// Below the level the filter enables: timed (its latency is recorded) but not
    /// entered on the stack nor recorded as a span.
    pub(crate) filtered: bool,
    pub(crate) name: SpanName,
    pub(crate) callsite: Option<&'static Callsite>,
    pub(crate) start: Tick,
    pub(crate) pipeline: &'static Pipeline,
    pub(crate) ctx: ContextCell,
    pub(crate) status: AtomicU8,
    pub(crate) extra: Mutex<Option<ExtraBox>>,
}

/// A span's request context: given when the span opens, or set once later (by
/// `set_user` and its kin, on a span that had none). Spans usually get theirs when
/// they open, and a plain field costs nothing there; a `OnceLock` alone made every
/// span with a context pay an out-of-line compare-and-swap to initialise it (about
/// a tenth of a child span's time in `perf`).
#[derive(Default)]
pub(crate) struct ContextCell {
    given: Option<Arc<RequestContext>>,
    later: OnceLock<Arc<RequestContext>>,
}

impl ContextCell {
    #[inline]
    pub(crate) fn new(context: Option<Arc<RequestContext>>) -> ContextCell {
        ContextCell {
            given: context,
            later: OnceLock::new(),
        }
    }

    #[inline]
    pub(crate) fn get(&self) -> Option<&Arc<RequestContext>> {
        self.given.as_ref().or_else(|| self.later.get())
    }

    /// Drops the context, leaving the cell empty: inline, where the cell's drop
    /// glue is a call.
    #[inline]
    pub(crate) fn clear(&mut self) {
        drop(self.given.take());
        drop(self.later.take());
    }

    /// Sets the context of a span that has none; gives it back if it had one.
    pub(crate) fn set(&self, context: Arc<RequestContext>) -> Result<(), Arc<RequestContext>> {
        if self.given.is_some() {
            return Err(context);
        }
        self.later.set(context)
    }
}

impl std::fmt::Debug for SpanData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanData")
            .field("name", &self.name)
            .field("trace_id", &self.trace_id)
            .field("span_id", &self.span_id)
            .field("parent_id", &self.parent_id)
            .finish_non_exhaustive()
    }
}

impl SpanData {
    pub(crate) fn span_context(&self) -> SpanContext {
        SpanContext {
            trace_id: self.trace_id,
            span_id: self.span_id,
            flags: self.flags,
            is_remote: false,
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        StatusCode::from_u8(self.status.load(Ordering::Relaxed))
    }

    pub(crate) fn request_type(&self) -> RequestType {
        self.ctx
            .get()
            .map_or(RequestType::Standard, |c| c.request_type())
    }

    /// Runs `f` on the span's extra parts, allocating them on first use.
    pub(crate) fn with_extra<R>(&self, f: impl FnOnce(&mut ExtraBox) -> R) -> R {
        let mut guard = self.extra.lock().unwrap_or_else(|e| e.into_inner());
        f(guard.get_or_insert_with(Default::default))
    }

    pub(crate) fn set_attribute(&self, kv: KeyValue) {
        self.with_extra(|e| e.set_attribute(kv));
    }

    pub(crate) fn add_event(&self, event: Event) {
        self.with_extra(|e| e.events.push(event));
    }

    pub(crate) fn set_error(&self, message: Option<Cow<'static, str>>) {
        self.status
            .store(StatusCode::Error as u8, Ordering::Relaxed);
        if let Some(m) = message {
            self.with_extra(|e| e.status_message = Some(m));
        }
    }

    pub(crate) fn set_ok(&self) {
        // Ok is final, except that an error always wins (OpenTelemetry says Ok
        // overrides Error; we keep the error because a panic after `Ok` matters).
        let _ = self.status.compare_exchange(
            StatusCode::Unset as u8,
            StatusCode::Ok as u8,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// A copy of this span to finish, for a span still referred to elsewhere (a
    /// closed `tracing` span with entries left on other threads' stacks): what it
    /// owns (extra parts) is taken, the rest copied.
    pub(crate) fn detach(&self) -> SpanData {
        SpanData {
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent_id: self.parent_id,
            flags: self.flags,
            kind: self.kind,
            parent_remote: self.parent_remote,
            local_root: self.local_root,
            context_only: self.context_only,
            filtered: self.filtered,
            name: self.name.clone(),
            callsite: self.callsite,
            start: self.start,
            pipeline: self.pipeline,
            ctx: ContextCell::new(self.ctx.get().cloned()),
            status: AtomicU8::new(self.status.load(Ordering::Relaxed)),
            extra: Mutex::new(self.extra.lock().unwrap_or_else(|e| e.into_inner()).take()),
        }
    }

    /// Builds the record of this span, taking what it owns (name, extra parts) and
    /// leaving the rest to be dropped where it lives: no copy of the whole span.
    /// `status` and `request_type` are its own, read once by the caller.
    #[inline(always)]
    pub(crate) fn take_record(
        &mut self,
        end: Tick,
        status: StatusCode,
        request_type: RequestType,
    ) -> SpanRecord {
        let extra = self
            .extra
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        SpanRecord {
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent_id: self.parent_id,
            flags: self.flags,
            kind: self.kind,
            parent_remote: self.parent_remote,
            local_root: self.local_root,
            request_type,
            status,
            name: std::mem::replace(&mut self.name, SpanName::Static("")),
            callsite: self.callsite,
            start: self.start,
            end,
            extra,
        }
    }
}

/// A span that has ended: what sinks, the flight recorder and the exporter receive.
#[derive(Clone)]
pub struct SpanRecord {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) parent_id: SpanId,
    pub(crate) flags: TraceFlags,
    pub(crate) kind: SpanKind,
    pub(crate) parent_remote: bool,
    pub(crate) local_root: bool,
    pub(crate) request_type: RequestType,
    pub(crate) status: StatusCode,
    pub(crate) name: SpanName,
    pub(crate) callsite: Option<&'static Callsite>,
    pub(crate) start: Tick,
    pub(crate) end: Tick,
    pub(crate) extra: Option<ExtraBox>,
}

impl std::fmt::Debug for SpanRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanRecord")
            .field("name", &self.name)
            .field("trace_id", &self.trace_id)
            .field("span_id", &self.span_id)
            .field("parent_id", &self.parent_id)
            .field("kind", &self.kind)
            .field("status", &self.status)
            .field("duration", &self.duration())
            .field("attributes", &self.attributes())
            .finish_non_exhaustive()
    }
}

static NO_ATTRIBUTES: [KeyValue; 0] = [];

impl SpanRecord {
    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }
    /// The span id.
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }
    /// The parent's span id; invalid (all zero) for a root span.
    pub fn parent_id(&self) -> SpanId {
        self.parent_id
    }
    /// The span's context (ids and flags).
    pub fn span_context(&self) -> SpanContext {
        SpanContext {
            trace_id: self.trace_id,
            span_id: self.span_id,
            flags: self.flags,
            is_remote: false,
        }
    }
    /// Trace flags (`sampled` decides whether the span is exported).
    pub fn flags(&self) -> TraceFlags {
        self.flags
    }
    /// Whether head sampling kept this span for export.
    pub fn is_sampled(&self) -> bool {
        self.flags.is_sampled()
    }
    /// The span kind.
    pub fn kind(&self) -> SpanKind {
        self.kind
    }
    /// Whether the parent came from another process.
    pub fn parent_is_remote(&self) -> bool {
        self.parent_remote
    }
    /// Whether this is the first span of its trace in this process (no parent, or a
    /// remote one).
    pub fn is_local_root(&self) -> bool {
        self.local_root
    }
    /// Standard request or tracer bullet.
    pub fn request_type(&self) -> RequestType {
        self.request_type
    }
    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// The error message, if the span failed with one.
    pub fn status_message(&self) -> Option<&str> {
        self.extra.as_ref()?.status_message.as_deref()
    }
    /// The span name.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }
    /// The span name as stored (static or shared).
    pub fn span_name(&self) -> &SpanName {
        &self.name
    }
    /// The code location of a `#[traced]` span.
    pub fn callsite(&self) -> Option<&'static Callsite> {
        self.callsite
    }
    /// Start as a raw tick.
    pub fn start_tick(&self) -> Tick {
        self.start
    }
    /// End as a raw tick.
    pub fn end_tick(&self) -> Tick {
        self.end
    }
    /// Start as wall-clock time.
    pub fn start_time(&self) -> SystemTime {
        self.start.system_time()
    }
    /// End as wall-clock time.
    pub fn end_time(&self) -> SystemTime {
        self.end.system_time()
    }
    /// How long the span ran.
    pub fn duration(&self) -> Duration {
        self.start.duration_until(self.end)
    }
    /// Attributes recorded on the span (code location attributes are not stored here:
    /// see [`callsite`](Self::callsite)).
    pub fn attributes(&self) -> &[KeyValue] {
        match &self.extra {
            None => &NO_ATTRIBUTES[..],
            Some(ExtraBox::Server(s)) => s.deferred.rendered(&s.extra.attributes),
            Some(ExtraBox::Plain(e)) => &e.attributes,
        }
    }
    /// One attribute by key.
    pub fn attribute(&self, key: &str) -> Option<&super::Value> {
        self.attributes()
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| &kv.value)
    }
    /// Events recorded during the span.
    pub fn events(&self) -> &[Event] {
        self.extra.as_ref().map_or(&[][..], |e| &e.events)
    }
    /// Links to other spans.
    pub fn links(&self) -> &[Link] {
        self.extra.as_ref().map_or(&[][..], |e| &e.links)
    }
    /// Marks the record sampled (used by tail promotion).
    pub fn set_sampled(&mut self, sampled: bool) {
        self.flags = self.flags.with_sampled(sampled);
    }
}
