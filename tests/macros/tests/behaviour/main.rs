//! What `#[traced]` records, checked against an in-memory observe instance
//! (`observe_core::testing::capture`): names, code location, parent/child structure
//! (across `.await` and `tokio::spawn`), fields and arguments, redaction, error
//! status, return values, panics, side effects in tracer bullets, `crate = path`.

// Tests print nothing, but panicking functions under test write to stderr through
// the default panic hook.
#![allow(clippy::print_stderr)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use observe_core::context::{ContextState, RequestContext, RequestType};
use observe_core::span::{Span, SpanKind, SpanRecord, StatusCode, Value};
use observe_core::testing::{Capture, capture};
use observe_core::{FutureExt as _, traced};

fn tracer_bullet() -> Arc<RequestContext> {
    // `ContextState` is non-exhaustive: start from the default and set the type.
    let mut state = ContextState::default();
    state.request_type = RequestType::TracerBullet;
    RequestContext::from_state(state)
}

fn string(v: &str) -> Option<Value> {
    Some(Value::Str(v.to_owned().into()))
}

fn attr(span: &SpanRecord, key: &str) -> Option<Value> {
    span.attribute(key).cloned()
}

fn flushed(c: &Capture) -> &Capture {
    c.flush();
    c
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

// ---------------------------------------------------------------- names, location

#[traced]
fn plain() {}

#[traced(name = "custom name")]
fn renamed() {}

mod location {
    pub(crate) const LINE: u32 = line!() + 3;

    #[observe_core::traced(level = "debug", kind = "client")]
    pub(crate) fn located() {}
}

#[test]
fn span_is_named_after_the_function_or_the_name_given() {
    let c = capture();
    plain();
    renamed();
    flushed(&c);
    assert_eq!(c.span("plain").name(), "plain");
    let renamed = c.span("custom name");
    assert_eq!(
        renamed.callsite().map(|cs| cs.function()),
        Some("behaviour::renamed"),
        "code.function keeps the function's real name"
    );
    assert!(c.captured().spans_named("renamed").is_empty());
}

#[test]
fn spans_point_at_the_code_with_level_and_kind() {
    let c = capture();
    location::located();
    let span = flushed(&c).span("located");
    let cs = span.callsite().expect("a #[traced] span has a callsite");
    assert_eq!(cs.function(), "behaviour::location::located");
    assert_eq!(cs.file(), file!());
    assert_eq!(cs.line(), location::LINE);
    assert_eq!(cs.level(), tracing::Level::DEBUG);
    assert_eq!(cs.kind(), SpanKind::Client);
    assert_eq!(span.kind(), SpanKind::Client);
    assert_eq!(c.span("located").status(), StatusCode::Unset);
}

// ---------------------------------------------------------------- structure

#[traced]
fn outer_sync() -> u32 {
    tracing::info!("in outer");
    inner_sync() + 1
}

#[traced]
fn inner_sync() -> u32 {
    tracing::info!(answer = 41, "in inner");
    41
}

#[test]
fn nested_calls_and_events_are_children_of_the_function_span() {
    let c = capture();
    assert_eq!(outer_sync(), 42);
    flushed(&c);
    let outer = c.span("outer_sync");
    let inner = c.span("inner_sync");
    assert!(!outer.parent_id().is_valid(), "outer is a root");
    assert_eq!(inner.parent_id(), outer.span_id());
    assert_eq!(inner.trace_id(), outer.trace_id());
    let logs = c.logs();
    assert_eq!(logs.len(), 2);
    let by_message = |m: &str| {
        logs.iter()
            .find(|l| l.message() == m)
            .and_then(|l| l.span().cloned())
            .unwrap_or_else(|| panic!("no event {m:?} with a span in {logs:?}"))
    };
    assert_eq!(by_message("in outer").span_id, outer.span_id());
    assert_eq!(by_message("in inner").span_id, inner.span_id());
    assert_eq!(by_message("in inner").trace_id, outer.trace_id());
}

#[traced]
async fn outer_async() -> u32 {
    tokio::task::yield_now().await;
    tracing::info!("after first await");
    let a = inner_async(1).await;
    tokio::task::yield_now().await;
    let b = inner_async(2).await;
    a + b
}

#[traced(args(n))]
async fn inner_async(n: u32) -> u32 {
    tokio::task::yield_now().await;
    tracing::info!(n, "inner");
    n
}

#[test]
fn async_spans_stay_parents_across_await() {
    let c = capture();
    assert_eq!(runtime().block_on(outer_async()), 3);
    flushed(&c);
    let outer = c.span("outer_async");
    let inners = c.captured().spans_named("inner_async");
    assert_eq!(inners.len(), 2);
    for inner in &inners {
        assert_eq!(inner.parent_id(), outer.span_id());
        assert_eq!(inner.trace_id(), outer.trace_id());
        assert!(inner.duration() <= outer.duration());
    }
    let logs = c.logs();
    let after = logs
        .iter()
        .find(|l| l.message() == "after first await")
        .expect("event");
    assert_eq!(after.span().map(|s| s.span_id), Some(outer.span_id()));
    let inner_events: Vec<_> = logs.iter().filter(|l| l.message() == "inner").collect();
    assert_eq!(inner_events.len(), 2);
    for e in inner_events {
        assert!(
            inners
                .iter()
                .any(|i| Some(i.span_id()) == e.span().map(|s| s.span_id))
        );
    }
}

#[traced]
async fn spawning_parent() -> u32 {
    let a = tokio::spawn(spawned_child(1).in_current_context());
    let b = tokio::spawn(spawned_child(2).in_current_context());
    a.await.expect("task") + b.await.expect("task")
}

#[traced]
async fn spawned_child(n: u32) -> u32 {
    tokio::task::yield_now().await;
    n
}

#[test]
fn spawned_tasks_with_in_current_context_are_children() {
    let c = capture();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let out = rt.block_on(async { spawning_parent().in_current_context().await });
    assert_eq!(out, 3);
    drop(rt);
    flushed(&c);
    let parent = c.span("spawning_parent");
    let children = c.captured().spans_named("spawned_child");
    assert_eq!(children.len(), 2);
    for child in children {
        assert_eq!(child.parent_id(), parent.span_id());
        assert_eq!(child.trace_id(), parent.trace_id());
    }
}

// ---------------------------------------------------------------- fields and args

#[derive(Debug)]
struct Cart {
    items: Vec<&'static str>,
}

#[traced(fields(user = %user, items = cart.items.len(), first = ?cart.items.first(), http.request.method = "GET", vip = true, delta = -3))]
fn checkout(user: &str, cart: &Cart) -> usize {
    cart.items.len()
}

#[traced(args(id, %user, cart))]
fn with_args(id: u64, user: &str, cart: Cart) -> usize {
    let _ = (id, user);
    cart.items.len()
}

#[traced]
fn secret_args(password: &str, id: u64) -> usize {
    password.len() + id as usize
}

#[test]
fn fields_record_chosen_expressions() {
    let c = capture();
    let cart = Cart {
        items: vec!["apple", "pear"],
    };
    assert_eq!(checkout("ada", &cart), 2);
    let span = flushed(&c).span("checkout");
    assert_eq!(attr(&span, "user"), string("ada"));
    assert_eq!(attr(&span, "items"), Some(Value::U64(2)));
    assert_eq!(attr(&span, "first"), string("Some(\"apple\")"));
    assert_eq!(attr(&span, "http.request.method"), string("GET"));
    assert_eq!(attr(&span, "vip"), Some(Value::Bool(true)));
    assert_eq!(attr(&span, "delta"), Some(Value::I64(-3)));
    assert_eq!(span.attributes().len(), 6);
}

#[test]
fn args_record_named_arguments_and_nothing_else_is_recorded() {
    let c = capture();
    let cart = Cart { items: vec!["fig"] };
    assert_eq!(with_args(17, "ada", cart), 1);
    assert_eq!(secret_args("hunter2", 1), 8);
    flushed(&c);
    let span = c.span("with_args");
    assert_eq!(attr(&span, "id"), string("17"));
    assert_eq!(attr(&span, "user"), string("ada"));
    assert_eq!(attr(&span, "cart"), string("Cart { items: [\"fig\"] }"));
    assert!(
        c.span("secret_args").attributes().is_empty(),
        "arguments are not recorded unless asked"
    );
}

static EVALUATED: AtomicUsize = AtomicUsize::new(0);

fn counted(s: &str) -> String {
    EVALUATED.fetch_add(1, Ordering::SeqCst);
    s.to_owned()
}

#[traced(args(password, user), fields(token = %counted("t0k3n"), user.api_key = counted("k"), note = "kept"))]
fn login(password: &str, user: &str) -> bool {
    !password.is_empty() && !user.is_empty()
}

#[test]
fn sensitive_names_are_redacted_even_when_asked_and_not_evaluated() {
    let c = capture();
    let before = EVALUATED.load(Ordering::SeqCst);
    assert!(login("hunter2", "ada"));
    assert_eq!(
        EVALUATED.load(Ordering::SeqCst),
        before,
        "a redacted field's expression is not evaluated"
    );
    let span = flushed(&c).span("login");
    assert_eq!(attr(&span, "password"), string("[REDACTED]"));
    assert_eq!(attr(&span, "token"), string("[REDACTED]"));
    assert_eq!(attr(&span, "user.api_key"), string("[REDACTED]"));
    assert_eq!(attr(&span, "user"), string("\"ada\""));
    assert_eq!(attr(&span, "note"), string("kept"));
}

#[traced(fields(seen = counted("x")))]
fn counted_field() -> u8 {
    1
}

#[test]
fn without_observe_nothing_is_recorded_or_evaluated_and_results_are_unchanged() {
    // No capture on this thread: observe is not initialised here.
    let before = EVALUATED.load(Ordering::SeqCst);
    assert_eq!(counted_field(), 1);
    assert_eq!(EVALUATED.load(Ordering::SeqCst), before);
    assert_eq!(outer_sync(), 42);
    assert_eq!(runtime().block_on(outer_async()), 3);
    assert!(fails(true).is_err());
    assert_eq!(fails(false), Ok(7));
    let mut ran = 0;
    assert_eq!(charge(&mut ran, 5), Ok(5));
    assert_eq!(ran, 1, "side effects run when observe is not initialised");
}

// ---------------------------------------------------------------- outcome

#[derive(Debug, PartialEq)]
struct OrderError {
    code: u16,
}

impl std::fmt::Display for OrderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "order failed with {}", self.code)
    }
}

#[traced]
fn fails(fail: bool) -> Result<u32, OrderError> {
    if fail {
        return Err(OrderError { code: 409 });
    }
    Ok(7)
}

#[traced(err(Debug))]
fn fails_debug() -> Result<(), OrderError> {
    Err(OrderError { code: 500 })
}

fn parse_number(s: &str) -> Result<u32, std::num::ParseIntError> {
    s.parse()
}

#[traced]
fn question_mark(s: &str) -> Result<u32, Box<dyn std::error::Error>> {
    let n = parse_number(s)?;
    Ok(n + 1)
}

#[traced]
async fn fails_async(fail: bool) -> Result<u32, OrderError> {
    tokio::task::yield_now().await;
    if fail {
        Err(OrderError { code: 404 })
    } else {
        Ok(1)
    }
}

#[traced(err(Debug))]
async fn fails_async_debug() -> std::io::Result<()> {
    tokio::task::yield_now().await;
    Err(std::io::Error::new(std::io::ErrorKind::NotFound, "gone"))
}

#[test]
fn err_marks_the_span_failed_with_type_and_display_message() {
    let c = capture();
    assert!(fails(true).is_err());
    let span = flushed(&c).span("fails");
    assert_eq!(span.status(), StatusCode::Error);
    assert_eq!(
        attr(&span, "error.type"),
        string(std::any::type_name::<OrderError>())
    );
    assert_eq!(
        attr(&span, "error.message"),
        string("order failed with 409")
    );
    assert_eq!(span.status_message(), Some("order failed with 409"));
}

#[test]
fn ok_leaves_the_status_unset_and_records_no_error() {
    let c = capture();
    assert_eq!(fails(false), Ok(7));
    let span = flushed(&c).span("fails");
    assert_eq!(span.status(), StatusCode::Unset);
    assert_eq!(attr(&span, "error.type"), None);
    assert_eq!(attr(&span, "error.message"), None);
}

#[test]
fn err_debug_formats_the_message_with_debug() {
    let c = capture();
    assert!(fails_debug().is_err());
    let span = flushed(&c).span("fails_debug");
    assert_eq!(span.status(), StatusCode::Error);
    assert_eq!(
        attr(&span, "error.message"),
        string("OrderError { code: 500 }")
    );
}

#[test]
fn errors_returned_by_question_mark_are_recorded() {
    let c = capture();
    assert!(question_mark("x").is_err());
    assert_eq!(question_mark("1").unwrap(), 2);
    flushed(&c);
    let spans = c.captured().spans_named("question_mark");
    assert_eq!(spans.len(), 2);
    let failed: Vec<_> = spans
        .iter()
        .filter(|s| s.status() == StatusCode::Error)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        attr(failed[0], "error.message"),
        string("invalid digit found in string")
    );
    assert_eq!(
        attr(failed[0], "error.type"),
        string(std::any::type_name::<Box<dyn std::error::Error>>())
    );
}

#[test]
fn async_errors_are_recorded_with_display_or_debug() {
    let c = capture();
    let rt = runtime();
    assert!(rt.block_on(fails_async(true)).is_err());
    assert!(rt.block_on(fails_async_debug()).is_err());
    assert_eq!(rt.block_on(fails_async(false)), Ok(1));
    flushed(&c);
    let spans = c.captured().spans_named("fails_async");
    let failed: Vec<_> = spans
        .iter()
        .filter(|s| s.status() == StatusCode::Error)
        .collect();
    assert_eq!((spans.len(), failed.len()), (2, 1));
    assert_eq!(
        attr(failed[0], "error.message"),
        string("order failed with 404")
    );
    let debug = c.span("fails_async_debug");
    assert_eq!(debug.status(), StatusCode::Error);
    assert_eq!(
        attr(&debug, "error.message"),
        string("Custom { kind: NotFound, error: \"gone\" }")
    );
    assert_eq!(
        attr(&debug, "error.type"),
        string(std::any::type_name::<std::io::Error>())
    );
}

#[traced(ret)]
fn ret_debug(n: u8) -> Option<u8> {
    n.checked_add(1)
}

#[traced(ret(Display))]
async fn ret_display() -> String {
    "shipped".to_owned()
}

#[traced]
fn no_ret() -> u8 {
    1
}

#[test]
fn ret_records_the_return_value_when_asked() {
    let c = capture();
    assert_eq!(ret_debug(1), Some(2));
    assert_eq!(runtime().block_on(ret_display()), "shipped");
    assert_eq!(no_ret(), 1);
    flushed(&c);
    assert_eq!(attr(&c.span("ret_debug"), "return"), string("Some(2)"));
    assert_eq!(attr(&c.span("ret_display"), "return"), string("shipped"));
    assert_eq!(attr(&c.span("no_ret"), "return"), None);
}

// ---------------------------------------------------------------- panics

#[traced]
fn panics_sync(msg: &'static str) -> u32 {
    panic!("{}", msg)
}

#[traced]
async fn panics_async() -> u32 {
    tokio::task::yield_now().await;
    panic!("async boom")
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

fn assert_panic_recorded(span: &SpanRecord, message: &str) {
    assert_eq!(span.status(), StatusCode::Error);
    assert_eq!(span.status_message(), Some(message));
    let events = span.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].name, "exception");
    assert!(events[0].attributes.iter().any(
        |kv| kv.key == "exception.message" && kv.value == Value::Str(message.to_owned().into())
    ));
}

#[test]
fn sync_panic_is_recorded_and_keeps_unwinding_unchanged() {
    let c = capture();
    let payload = catch_unwind(|| panics_sync("sync boom")).expect_err("it panics");
    assert_eq!(panic_message(payload.as_ref()), "sync boom");
    assert_panic_recorded(&flushed(&c).span("panics_sync"), "sync boom");
}

#[test]
fn async_panic_is_recorded_and_keeps_unwinding_unchanged() {
    let c = capture();
    let rt = runtime();
    let payload =
        catch_unwind(AssertUnwindSafe(|| rt.block_on(panics_async()))).expect_err("it panics");
    assert_eq!(panic_message(payload.as_ref()), "async boom");
    assert_panic_recorded(&flushed(&c).span("panics_async"), "async boom");
}

/// An error whose `Display` panics: what `#[traced(err)]` runs to record it.
#[derive(Debug)]
struct Unprintable;

impl std::fmt::Display for Unprintable {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("display boom")
    }
}

#[traced(err)]
async fn fails_unprintably() -> Result<u32, Unprintable> {
    tokio::task::yield_now().await;
    Err(Unprintable)
}

/// The outcome hook runs user code after the body: its panic is the call's,
/// recorded as a panic, not ended as a cancelled span when the future is dropped.
#[test]
fn a_panic_recording_the_outcome_of_an_async_call_is_recorded() {
    let c = capture();
    let rt = runtime();
    let payload =
        catch_unwind(AssertUnwindSafe(|| rt.block_on(fails_unprintably()))).expect_err("it panics");
    assert_eq!(panic_message(payload.as_ref()), "display boom");
    let span = flushed(&c).span("fails_unprintably");
    assert_eq!(attr(&span, "observe.cancelled"), None);
    assert!(
        span.events().iter().any(|e| e.name == "exception"),
        "{:?}",
        span.events()
    );
    assert_eq!(span.status(), StatusCode::Error);
}

// ---------------------------------------------------------------- side effects

#[traced(side_effect)]
fn charge(ran: &mut u32, cents: u64) -> Result<u64, OrderError> {
    *ran += 1;
    Ok(cents)
}

#[traced(side_effect)]
async fn send_email(sent: Arc<AtomicUsize>) -> bool {
    tokio::task::yield_now().await;
    sent.fetch_add(1, Ordering::SeqCst);
    true
}

fn assert_skipped(span: &SpanRecord, function: &str) {
    let events = span.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].name, "side_effect.skipped");
    assert!(
        events[0]
            .attributes
            .iter()
            .any(|kv| kv.key == "code.function"
                && kv.value == Value::Str(function.to_owned().into())),
        "{events:?}"
    );
}

#[test]
fn side_effect_is_skipped_in_a_tracer_bullet() {
    let c = capture();
    let mut ran = 0;
    let root = Span::builder("bullet").context(tracer_bullet()).start();
    let out = root.in_scope(|| charge(&mut ran, 250));
    drop(root);
    assert_eq!(ran, 0, "the side effect ran in a tracer bullet");
    assert_eq!(
        out,
        Ok(0),
        "a skipped side effect returns DryRun::dry_run()"
    );
    flushed(&c);
    let span = c.span("charge");
    assert_eq!(span.request_type(), RequestType::TracerBullet);
    assert_eq!(span.parent_id(), c.span("bullet").span_id());
    assert_skipped(&span, "behaviour::charge");
}

#[test]
fn async_side_effect_is_skipped_in_a_tracer_bullet() {
    let c = capture();
    let sent = Arc::new(AtomicUsize::new(0));
    let root = Span::builder("bullet").context(tracer_bullet()).start();
    let out = runtime().block_on(send_email(sent.clone()).in_span(root));
    assert!(!out, "bool's dry run is false");
    assert_eq!(sent.load(Ordering::SeqCst), 0);
    assert_skipped(&flushed(&c).span("send_email"), "behaviour::send_email");
}

#[test]
fn side_effect_runs_in_a_standard_request() {
    let c = capture();
    let mut ran = 0;
    let root = Span::builder("standard")
        .context(RequestContext::new())
        .start();
    assert_eq!(root.in_scope(|| charge(&mut ran, 250)), Ok(250));
    drop(root);
    let sent = Arc::new(AtomicUsize::new(0));
    assert!(runtime().block_on(send_email(sent.clone())));
    assert_eq!((ran, sent.load(Ordering::SeqCst)), (1, 1));
    flushed(&c);
    assert!(c.span("charge").events().is_empty());
    assert!(c.span("send_email").events().is_empty());
}

#[test]
fn side_effect_helper_is_skipped_in_a_tracer_bullet_too() {
    let c = capture();
    let mut ran = false;
    let root = Span::builder("bullet").context(tracer_bullet()).start();
    let rows: Result<Vec<u8>, String> = root.in_scope(|| {
        observe_core::side_effect("db.insert", || {
            ran = true;
            Ok(vec![1])
        })
    });
    drop(root);
    assert!(!ran);
    assert_eq!(rows, Ok(vec![]));
    let events = flushed(&c).span("bullet").events().to_vec();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].name, "side_effect.skipped");
}

// ---------------------------------------------------------------- shapes

#[async_trait::async_trait]
trait Repository {
    async fn load(&self, id: u64) -> Result<String, OrderError>;
}

struct Memory;

#[async_trait::async_trait]
impl Repository for Memory {
    #[traced(args(id))]
    async fn load(&self, id: u64) -> Result<String, OrderError> {
        tokio::task::yield_now().await;
        inner_async(1).await;
        if id == 0 {
            return Err(OrderError { code: 404 });
        }
        Ok(format!("order {id}"))
    }
}

#[test]
fn async_trait_methods_time_the_future_not_its_creation() {
    let c = capture();
    let rt = runtime();
    let fut = Memory.load(0);
    // Creating the future opens nothing: the span starts when it is polled.
    flushed(&c);
    assert!(c.captured().spans_named("load").is_empty());
    assert!(rt.block_on(fut).is_err());
    flushed(&c);
    let load = c.span("load");
    assert_eq!(load.status(), StatusCode::Error);
    assert_eq!(attr(&load, "id"), string("0"));
    assert_eq!(
        attr(&load, "error.message"),
        string("order failed with 404")
    );
    assert_eq!(c.span("inner_async").parent_id(), load.span_id());
}

trait Native {
    async fn native(&self) -> u32;
}

impl Native for Memory {
    #[traced]
    async fn native(&self) -> u32 {
        inner_async(5).await
    }
}

#[traced]
fn hand_written_future(n: u32) -> impl std::future::Future<Output = u32> {
    async move { inner_async(n).await }
}

#[test]
fn trait_async_fns_and_hand_written_futures_are_parents_of_their_awaits() {
    let c = capture();
    let rt = runtime();
    assert_eq!(rt.block_on(Memory.native()), 5);
    assert_eq!(rt.block_on(hand_written_future(6)), 6);
    flushed(&c);
    let inners = c.captured().spans_named("inner_async");
    assert_eq!(inners.len(), 2);
    let native = c.span("native");
    let hand = c.span("hand_written_future");
    assert!(inners.iter().any(|s| s.parent_id() == native.span_id()));
    assert!(inners.iter().any(|s| s.parent_id() == hand.span_id()));
}

mod reexport {
    pub(crate) mod telemetry {
        pub(crate) use observe_core::*;
    }
}

#[traced(crate = reexport::telemetry, fields(via = "re-export"))]
fn through_reexport() -> u8 {
    inner_sync();
    1
}

#[test]
fn crate_path_override_records_like_the_default() {
    let c = capture();
    assert_eq!(through_reexport(), 1);
    flushed(&c);
    let span = c.span("through_reexport");
    assert_eq!(attr(&span, "via"), string("re-export"));
    assert_eq!(c.span("inner_sync").parent_id(), span.span_id());
}

// ---------------------------------------------------------------- latency histograms

mod histograms {
    use super::*;

    #[traced]
    pub(crate) fn measured(fail: bool) -> Result<(), String> {
        if fail { Err("no".into()) } else { Ok(()) }
    }

    #[traced]
    pub(crate) async fn measured_async() {}

    fn count(function: &str, outcome: &str, request_type: &str) -> u64 {
        observe_core::metrics::snapshot()
            .histograms
            .iter()
            .filter(|h| {
                h.name == "observe.function.duration"
                    && h.labels.get("code.function").map(String::as_str) == Some(function)
                    && h.labels.get("outcome").map(String::as_str) == Some(outcome)
                    && h.labels.get("request_type").map(String::as_str) == Some(request_type)
            })
            .map(|h| h.cumulative.count)
            .sum()
    }

    /// Formatting it counts: a filtered span formats nothing.
    pub(crate) struct CountedError;

    pub(crate) static FORMATTED: AtomicUsize = AtomicUsize::new(0);

    impl std::fmt::Display for CountedError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            FORMATTED.fetch_add(1, Ordering::Relaxed);
            f.write_str("counted")
        }
    }

    #[traced(level = "debug")]
    pub(crate) async fn quiet_counted() -> Result<(), CountedError> {
        Err(CountedError)
    }

    #[traced(level = "debug")]
    pub(crate) async fn quiet_async(fail: bool) -> Result<u32, OrderError> {
        tokio::task::yield_now().await;
        if fail {
            Err(OrderError { code: 503 })
        } else {
            Ok(1)
        }
    }

    #[traced(level = "debug", ret)]
    pub(crate) fn quiet_sync(fail: bool) -> Result<u32, OrderError> {
        if fail {
            Err(OrderError { code: 503 })
        } else {
            Ok(1)
        }
    }

    #[traced(level = "debug", ret)]
    pub(crate) async fn quiet_async_ret(fail: bool) -> Result<u32, OrderError> {
        tokio::task::yield_now().await;
        if fail {
            Err(OrderError { code: 503 })
        } else {
            Ok(1)
        }
    }

    /// A span below the level filter is timed but never recorded nor entered; its
    /// `Err` still makes its latency an `error`, async or not.
    #[test]
    fn a_span_below_the_level_filter_still_records_its_outcome() {
        let (sink, captured) = observe_core::testing::MemorySink::new();
        let observe = observe_core::Observe::builder()
            .ignore_env()
            .log_filter("info")
            .log_writer(std::io::sink())
            .sink(sink)
            .build()
            .expect("observe starts")
            .expect("observe is enabled");
        let _default = observe.set_default();
        let rt = runtime();
        for i in 0..5 {
            let fail = i % 2 == 0;
            assert_eq!(rt.block_on(quiet_async(fail)).is_err(), fail);
            assert_eq!(rt.block_on(quiet_async_ret(fail)).is_err(), fail);
            assert_eq!(quiet_sync(fail).is_err(), fail);
        }
        assert!(observe.flush(std::time::Duration::from_secs(10)));
        assert!(rt.block_on(quiet_counted()).is_err());
        assert_eq!(FORMATTED.load(Ordering::Relaxed), 0, "nothing formatted");
        for f in ["quiet_async", "quiet_async_ret", "quiet_sync"] {
            assert!(
                captured.spans_named(f).is_empty(),
                "{f} is below the filter"
            );
            let function = format!("{}::{f}", module_path!());
            assert_eq!(count(&function, "error", "standard"), 3, "{f}");
            assert_eq!(count(&function, "ok", "standard"), 2, "{f}");
        }
    }

    #[test]
    fn every_call_records_its_latency_by_function_outcome_and_request_type() {
        let c = capture();
        for i in 0..7 {
            let _ = measured(i % 3 == 0);
        }
        runtime().block_on(async {
            measured_async().await;
            measured_async().await;
        });
        // A tracer bullet's calls land under their own request type, out of SLOs.
        Span::builder("probe")
            .context(tracer_bullet())
            .start()
            .in_scope(|| measured(false))
            .unwrap();
        flushed(&c);
        let f = concat!(module_path!(), "::measured");
        assert_eq!(count(f, "ok", "standard"), 4);
        assert_eq!(count(f, "error", "standard"), 3);
        assert_eq!(count(f, "ok", "tracer_bullet"), 1);
        assert_eq!(
            count(
                concat!(module_path!(), "::measured_async"),
                "ok",
                "standard"
            ),
            2
        );
        let h = observe_core::metrics::snapshot()
            .histograms
            .into_iter()
            .find(|h| h.labels.get("code.function").map(String::as_str) == Some(f))
            .unwrap();
        assert!(h.cumulative.max.is_some() && h.cumulative.sum > 0);
    }
}
