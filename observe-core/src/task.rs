//! Tasks that keep the request context.
//!
//! The request context (and with it the tracer-bullet mode) follows spans, and a
//! span is current only on the thread that entered it. A bare `tokio::spawn`,
//! `tokio::task::spawn_blocking` or `std::thread::spawn` starts its work with *no*
//! context: its log lines lose the request's trace and user, and in a tracer bullet
//! [`side_effect`](crate::side_effect), `#[traced(side_effect)]` and the outgoing
//! client block no longer see the bullet, **so the write runs for real**.
//!
//! Spawn with these instead; they carry the current span and request context into
//! the new task or thread, without opening a span:
//!
//! | instead of | use |
//! | --- | --- |
//! | `tokio::spawn(fut)` | [`observe_core::spawn(fut)`](spawn) |
//! | `tokio::task::spawn_blocking(f)` | [`observe_core::spawn_blocking(f)`](spawn_blocking) |
//! | `std::thread::spawn(f)` | [`observe_core::thread::spawn(f)`](crate::thread::spawn) |
//! | another executor's spawn | `spawn(fut.in_current_context())` ([`FutureExt`](crate::FutureExt)), or [`in_current_context(f)`](in_current_context) for a closure |
//!
//! Clippy can hold a service to it: see `docs/tracer-bullet.md` for the
//! `disallowed-methods` configuration that flags the bare functions. In debug
//! builds, a side effect that runs with no request context at all while a tracer
//! bullet is in flight in the process logs a warning (once per call site, under
//! the target `observe::tracer_bullet`): that is what a context that fell off
//! looks like.
//!
//! ```
//! use observe_core::context::{self, RequestContext, RequestType};
//! use observe_core::span::Span;
//! use observe_core::FutureExt as _;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let _capture = observe_core::testing::capture();
//! let bullet = RequestContext::builder().request_type(RequestType::TracerBullet).build();
//! async {
//!     let in_task = observe_core::spawn(async { context::is_tracer_bullet() });
//!     let in_blocking = observe_core::spawn_blocking(context::is_tracer_bullet);
//!     let in_thread = observe_core::thread::spawn(context::is_tracer_bullet);
//!     assert!(in_task.await.unwrap());
//!     assert!(in_blocking.await.unwrap());
//!     assert!(in_thread.join().unwrap());
//! }
//! .in_span(Span::builder("request").context(bullet).start())
//! .await;
//! # }
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::span::Span;

/// Spawns `future` on the current Tokio runtime with the current span and request
/// context: what `tokio::spawn(future.in_current_context())` does. Outside any span
/// it is `tokio::spawn`.
///
/// # Panics
/// As `tokio::spawn`: when called outside a Tokio runtime.
#[track_caller]
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    use crate::FutureExt as _;
    #[allow(clippy::disallowed_methods)] // the one place the bare function is right
    tokio::spawn(future.in_current_context())
}

/// Runs `f` on Tokio's blocking pool with the current span and request context.
/// Outside any span it is `tokio::task::spawn_blocking`.
///
/// # Panics
/// As `tokio::task::spawn_blocking`: when called outside a Tokio runtime.
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    #[allow(clippy::disallowed_methods)] // the one place the bare function is right
    tokio::task::spawn_blocking(in_current_context(f))
}

/// Wraps `f` so that it runs with the current span and request context wherever
/// it is called: on another thread, a thread pool, another executor. Outside any
/// span, `f` runs as it is.
///
/// ```
/// use observe_core::context::{self, RequestContext};
/// use observe_core::span::Span;
///
/// let _capture = observe_core::testing::capture();
/// let request = Span::builder("job").context(RequestContext::builder().user("u-7").build()).start();
/// let work = request.in_scope(|| observe_core::task::in_current_context(|| context::current().unwrap().user_id().map(str::to_owned)));
/// let user = std::thread::scope(|s| s.spawn(work).join().unwrap());
/// assert_eq!(user.as_deref(), Some("u-7"));
/// ```
pub fn in_current_context<F, R>(f: F) -> impl FnOnce() -> R + Send
where
    F: FnOnce() -> R + Send,
{
    let carrier = Span::from_data(crate::span::current_context_carrier());
    move || carrier.in_scope(f)
}

/// Tracer bullets being served by this process (the server adapters count them
/// from the request's admission to its end).
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Counts one tracer bullet in flight while it lives (held by a server request).
#[derive(Debug)]
pub(crate) struct TracerBulletInFlight(());

impl TracerBulletInFlight {
    pub(crate) fn enter() -> TracerBulletInFlight {
        IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
        TracerBulletInFlight(())
    }
}

impl Drop for TracerBulletInFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How many tracer bullets this process is serving now (read by the debug-build
/// check below only).
#[cfg(debug_assertions)]
pub(crate) fn tracer_bullets_in_flight() -> usize {
    IN_FLIGHT.load(Ordering::Relaxed)
}

/// A side effect ran with no request context at all. In debug builds, while a
/// tracer bullet is in flight, that is likely a bullet's context that fell off a
/// bare spawn: warn, once per call site (`site` is its address: a
/// `std::panic::Location` or a `#[traced]` callsite), at most 256 call sites and
/// then once a minute. Release builds compile nothing here.
#[inline]
pub(crate) fn side_effect_without_context(site: usize, name: &dyn std::fmt::Display) {
    #[cfg(debug_assertions)]
    {
        let bullets = tracer_bullets_in_flight();
        if bullets > 0 && detached::first_time(site) {
            tracing::warn!(
                target: "observe::tracer_bullet",
                side_effect = %name,
                "side effect {name} ran with no request context while {bullets} tracer bullet(s) \
                 are in flight in this process: if it belongs to one, its context fell off (a bare \
                 tokio::spawn, spawn_blocking or std::thread::spawn) and it ran for real; spawn \
                 with observe_core::spawn, observe_core::spawn_blocking or \
                 observe_core::thread::spawn (debug builds; logged once per call site)"
            );
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = (site, name);
}

#[cfg(debug_assertions)]
mod detached {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};

    /// Call sites warned about so far.
    static SITES: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    const MAX_SITES: usize = 256;
    /// Once the list is full: the Unix second of the last warning.
    static LAST: AtomicU64 = AtomicU64::new(0);

    pub(super) fn first_time(site: usize) -> bool {
        let mut sites = SITES.lock().unwrap_or_else(|e| e.into_inner());
        if sites.contains(&site) {
            return false;
        }
        if sites.len() < MAX_SITES {
            sites.push(site);
            return true;
        }
        drop(sites);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = LAST.load(Ordering::Relaxed);
        now >= last + 60
            && LAST
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::context::{RequestContext, RequestType};
    use crate::{FutureExt as _, side_effect};

    fn bullet() -> Arc<RequestContext> {
        RequestContext::builder()
            .request_type(RequestType::TracerBullet)
            .build()
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn detached_warnings(capture: &crate::testing::Capture) -> Vec<serde_json::Value> {
        capture.flush();
        capture
            .log_lines()
            .into_iter()
            .filter(|l| {
                l["target"] == "observe::tracer_bullet"
                    && l["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("ran with no request context"))
            })
            .collect()
    }

    #[test]
    fn spawned_work_in_a_bullet_still_skips_its_side_effects() {
        let capture = crate::testing::capture();
        let writes = Arc::new(AtomicUsize::new(0));
        let (w1, w2, w3) = (writes.clone(), writes.clone(), writes.clone());
        let ctx = bullet();
        runtime().block_on(
            async move {
                let task = spawn(async move {
                    side_effect("task.write", || {
                        w1.fetch_add(1, Ordering::SeqCst);
                    })
                });
                let blocking = spawn_blocking(move || {
                    side_effect("blocking.write", || {
                        w2.fetch_add(1, Ordering::SeqCst);
                    })
                });
                let thread = crate::thread::spawn(move || {
                    side_effect("thread.write", || {
                        w3.fetch_add(1, Ordering::SeqCst);
                    })
                });
                task.await.unwrap();
                blocking.await.unwrap();
                thread.join().unwrap();
            }
            .in_span(Span::builder("request").context(ctx.clone()).start()),
        );
        assert_eq!(writes.load(Ordering::SeqCst), 0, "a spawned write ran");
        let footprint = ctx.footprint().unwrap().summary();
        let mut names: Vec<_> = footprint
            .skipped()
            .iter()
            .map(|e| (e.name.as_str(), e.count))
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                ("blocking.write", 1),
                ("task.write", 1),
                ("thread.write", 1)
            ]
        );
        // The events are in the trace: on a span of their own under the request
        // (the carrier that crossed into the task records nothing itself).
        capture.flush();
        let request = capture.span("request");
        for name in ["task.write", "blocking.write", "thread.write"] {
            let span = capture.span(name);
            assert_eq!(span.parent_id(), request.span_id());
            assert_eq!(span.events()[0].name, "side_effect.skipped");
        }
    }

    #[test]
    fn a_bare_spawn_loses_the_bullet_and_debug_builds_warn() {
        let capture = crate::testing::capture();
        let writes = Arc::new(AtomicUsize::new(0));
        let w = writes.clone();
        let _in_flight = TracerBulletInFlight::enter();
        runtime().block_on(
            async move {
                #[allow(clippy::disallowed_methods)] // the mistake under test
                tokio::spawn(async move {
                    side_effect("escaped.write", || {
                        w.fetch_add(1, Ordering::SeqCst);
                    })
                })
                .await
                .unwrap();
            }
            .in_span(Span::builder("request").context(bullet()).start()),
        );
        assert_eq!(
            writes.load(Ordering::SeqCst),
            1,
            "the bare spawn ran the write: the hazard the helpers exist for"
        );
        let warnings = detached_warnings(&capture);
        if cfg!(debug_assertions) {
            assert_eq!(warnings.len(), 1, "{warnings:?}");
            assert_eq!(warnings[0]["level"], "WARN");
            assert!(
                warnings[0]["message"]
                    .as_str()
                    .unwrap()
                    .contains("escaped.write")
            );
        } else {
            assert!(warnings.is_empty());
        }
    }

    #[test]
    fn one_call_site_warns_once() {
        let capture = crate::testing::capture();
        let _in_flight = TracerBulletInFlight::enter();
        for _ in 0..3 {
            side_effect("looped.write", || ());
        }
        let expected = usize::from(cfg!(debug_assertions));
        assert_eq!(detached_warnings(&capture).len(), expected);
    }
}
