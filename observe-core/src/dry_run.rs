//! Side effects that do not happen in a tracer bullet.
//!
//! A *tracer bullet* is a real request through production that must change nothing
//! (DESIGN.md, "Tracer bullet"). Code that writes outside the process (a database
//! insert, a payment, an e-mail) declares itself, either with
//! `#[traced(side_effect)]` on the function or with [`side_effect`] around the call.
//! In a tracer bullet the code does not run: the call returns [`DryRun::dry_run()`]
//! and its span records a `side_effect.skipped` event, so the trace shows what
//! would have happened. In every other request it runs normally.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, LinkedList, VecDeque};
use std::hash::BuildHasher;

use crate::context::RequestType;
use crate::span::{KeyValue, Span};

/// The value a side effect returns when it is skipped in a tracer bullet: a value
/// that means "nothing was done".
///
/// Implemented for `()`, `bool` (`false`), numbers (`0`), `Option<T>` (`None`),
/// `Result<T, E>` where `T: DryRun` (`Ok(T::dry_run())`), `String`, `&str`, `Vec`,
/// `VecDeque`, `LinkedList`, `BinaryHeap`, `HashMap`/`BTreeMap`, `HashSet`/
/// `BTreeSet` (empty), `Box<T>`, `Duration` (zero) and tuples of up to 8 elements.
///
/// Implement it for your own return types. Pick the value that callers can handle
/// as "nothing happened", the way they would handle an empty result:
///
/// ```
/// use observe_core::{DryRun, traced};
///
/// #[derive(Debug)]
/// pub struct Receipt {
///     pub id: Option<String>,
///     pub charged_cents: u64,
/// }
///
/// impl DryRun for Receipt {
///     fn dry_run() -> Self {
///         Receipt { id: None, charged_cents: 0 }
///     }
/// }
///
/// #[derive(Debug)]
/// pub struct PayError;
/// # impl std::fmt::Display for PayError {
/// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("declined") }
/// # }
///
/// // In a tracer bullet this returns `Ok(Receipt::dry_run())` without running.
/// #[traced(side_effect)]
/// fn charge_card(cents: u64) -> Result<Receipt, PayError> {
///     Ok(Receipt { id: Some("ch_1".into()), charged_cents: cents })
/// }
///
/// assert_eq!(charge_card(250).unwrap().charged_cents, 250);
/// ```
///
/// Types that cannot have such a value (a file handle, a connection) should not be
/// returned by a side effect: return what the caller needs from it instead.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no dry-run value, so a side effect returning it cannot be skipped in a tracer bullet",
    label = "`{Self}` does not implement `observe_core::DryRun`",
    note = "implement `observe_core::DryRun` for `{Self}` with a value meaning \"nothing was done\", or return `Option<T>`/`Result<T, E>` with a `T` that has one"
)]
pub trait DryRun {
    /// The value returned instead of running the side effect.
    fn dry_run() -> Self;
}

/// Runs `f`, a side effect named `name` (`"db.insert"`, `"email.send"`), unless
/// the current request is a tracer bullet: then `f` does not run, the current span
/// records a `side_effect.skipped` event with `side_effect.name`, the bullet's
/// [footprint](crate::footprint) counts it, and the call returns
/// [`DryRun::dry_run()`].
///
/// ```
/// use observe_core::side_effect;
///
/// # struct Db; impl Db { fn insert(&self, _: &str) -> Result<u64, std::io::Error> { Ok(1) } }
/// # let db = Db;
/// // Outside a tracer bullet the closure runs.
/// let rows: Result<u64, std::io::Error> = side_effect("db.insert", || db.insert("order-17"));
/// assert_eq!(rows.unwrap(), 1);
/// ```
///
/// For `async` code put `#[traced(side_effect)]` on an `async fn` that does the
/// write: the closure given here runs synchronously.
///
/// The mode is read from the current span's request context: in a task or thread
/// started without it (a bare `tokio::spawn`) the side effect runs. Spawn with
/// [`crate::task`]'s helpers; in debug builds a side effect that runs with no
/// context while a tracer bullet is in flight logs a warning.
#[cfg_attr(debug_assertions, track_caller)]
pub fn side_effect<R: DryRun>(name: impl Into<Cow<'static, str>>, f: impl FnOnce() -> R) -> R {
    let here = crate::span::stack::with_current(|cur| match cur {
        Some(d) => match d.ctx.get() {
            Some(ctx) if ctx.request_type() == RequestType::TracerBullet => Here::Bullet {
                ctx: ctx.clone(),
                service: crate::footprint::service_name(d.pipeline),
                carrier: d.context_only,
            },
            Some(_) => Here::Standard,
            None => Here::NoContext,
        },
        None => Here::NoContext,
    });
    match here {
        Here::Standard => {}
        Here::NoContext => {
            #[cfg(debug_assertions)]
            let site = std::panic::Location::caller() as *const _ as usize;
            #[cfg(not(debug_assertions))]
            let site = 0;
            let name: Cow<'static, str> = name.into();
            crate::task::side_effect_without_context(site, &name);
        }
        Here::Bullet {
            ctx,
            service,
            carrier,
        } => {
            let name = name.into();
            if let Some(footprint) = ctx.footprint() {
                footprint.record_skipped(service, &name);
            }
            let event = vec![KeyValue::new("side_effect.name", name.clone())];
            if carrier {
                // A task or thread started with the context only: its carrier is
                // not recorded, so the event gets a span of its own.
                let name: crate::span::SpanName = match name {
                    Cow::Borrowed(s) => s.into(),
                    Cow::Owned(s) => s.into(),
                };
                Span::new(name).add_event("side_effect.skipped", event);
            } else {
                crate::span::add_event("side_effect.skipped", event);
            }
            return R::dry_run();
        }
    }
    f()
}

/// Where a side effect runs.
enum Here {
    /// A standard request.
    Standard,
    /// No span, or a span without a request context.
    NoContext,
    /// A tracer bullet; `carrier` when the current span only carries the context
    /// into a task.
    Bullet {
        ctx: std::sync::Arc<crate::context::RequestContext>,
        service: &'static str,
        carrier: bool,
    },
}

impl DryRun for () {
    fn dry_run() -> Self {}
}

impl DryRun for bool {
    fn dry_run() -> Self {
        false
    }
}

macro_rules! dry_run_zero {
    ($($t:ty),* $(,)?) => {
        $(impl DryRun for $t {
            fn dry_run() -> Self {
                0 as $t
            }
        })*
    };
}

dry_run_zero!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64
);

impl<T> DryRun for Option<T> {
    fn dry_run() -> Self {
        None
    }
}

impl<T: DryRun, E> DryRun for Result<T, E> {
    fn dry_run() -> Self {
        Ok(T::dry_run())
    }
}

impl<T: DryRun> DryRun for Box<T> {
    fn dry_run() -> Self {
        Box::new(T::dry_run())
    }
}

impl DryRun for String {
    fn dry_run() -> Self {
        String::new()
    }
}

impl DryRun for &str {
    fn dry_run() -> Self {
        ""
    }
}

impl DryRun for std::time::Duration {
    fn dry_run() -> Self {
        std::time::Duration::ZERO
    }
}

impl<T> DryRun for std::marker::PhantomData<T> {
    fn dry_run() -> Self {
        std::marker::PhantomData
    }
}

impl<T> DryRun for Vec<T> {
    fn dry_run() -> Self {
        Vec::new()
    }
}

impl<T> DryRun for VecDeque<T> {
    fn dry_run() -> Self {
        VecDeque::new()
    }
}

impl<T> DryRun for LinkedList<T> {
    fn dry_run() -> Self {
        LinkedList::new()
    }
}

impl<T: Ord> DryRun for BinaryHeap<T> {
    fn dry_run() -> Self {
        BinaryHeap::new()
    }
}

impl<K, V, S: BuildHasher + Default> DryRun for HashMap<K, V, S> {
    fn dry_run() -> Self {
        HashMap::default()
    }
}

impl<T, S: BuildHasher + Default> DryRun for HashSet<T, S> {
    fn dry_run() -> Self {
        HashSet::default()
    }
}

impl<K, V> DryRun for BTreeMap<K, V> {
    fn dry_run() -> Self {
        BTreeMap::new()
    }
}

impl<T> DryRun for BTreeSet<T> {
    fn dry_run() -> Self {
        BTreeSet::new()
    }
}

macro_rules! dry_run_tuple {
    ($($name:ident)+) => {
        impl<$($name: DryRun),+> DryRun for ($($name,)+) {
            fn dry_run() -> Self {
                ($($name::dry_run(),)+)
            }
        }
    };
}

dry_run_tuple!(A);
dry_run_tuple!(A B);
dry_run_tuple!(A B C);
dry_run_tuple!(A B C D);
dry_run_tuple!(A B C D E);
dry_run_tuple!(A B C D E F);
dry_run_tuple!(A B C D E F G);
dry_run_tuple!(A B C D E F G H);

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::context::{ContextState, RequestContext, RequestType};
    use crate::span::Span;

    fn tracer_bullet() -> Arc<RequestContext> {
        RequestContext::from_state(ContextState {
            request_type: RequestType::TracerBullet,
            ..Default::default()
        })
    }

    #[test]
    fn dry_run_values_mean_nothing_was_done() {
        <()>::dry_run();
        assert!(!bool::dry_run());
        assert_eq!(u64::dry_run(), 0);
        assert_eq!(i8::dry_run(), 0);
        assert_eq!(f64::dry_run(), 0.0);
        assert_eq!(Option::<String>::dry_run(), None);
        assert_eq!(Result::<u32, String>::dry_run(), Ok(0));
        assert_eq!(Result::<Vec<u8>, ()>::dry_run(), Ok(vec![]));
        assert_eq!(String::dry_run(), "");
        assert_eq!(<&str>::dry_run(), "");
        assert!(Vec::<u8>::dry_run().is_empty());
        assert!(VecDeque::<u8>::dry_run().is_empty());
        assert!(LinkedList::<u8>::dry_run().is_empty());
        assert!(BinaryHeap::<u8>::dry_run().is_empty());
        assert!(HashMap::<u8, u8>::dry_run().is_empty());
        assert!(HashSet::<u8>::dry_run().is_empty());
        assert!(BTreeMap::<u8, u8>::dry_run().is_empty());
        assert!(BTreeSet::<u8>::dry_run().is_empty());
        assert_eq!(*Box::<u16>::dry_run(), 0);
        assert_eq!(std::time::Duration::dry_run(), std::time::Duration::ZERO);
        assert_eq!(<(bool, u8, Option<()>)>::dry_run(), (false, 0, None));
    }

    #[test]
    fn side_effect_runs_outside_a_tracer_bullet() {
        let capture = crate::testing::capture();
        let mut ran = 0;
        let out = Span::new("standard").in_scope(|| {
            side_effect("db.insert", || {
                ran += 1;
                Some(7)
            })
        });
        assert_eq!((out, ran), (Some(7), 1));
        // Without any span (and so without any context) it runs too.
        assert!(side_effect("db.insert", || true));
        capture.flush();
        assert!(capture.span("standard").events().is_empty());
    }

    #[test]
    fn side_effect_is_skipped_and_recorded_in_a_tracer_bullet() {
        let capture = crate::testing::capture();
        let mut ran = false;
        let span = Span::builder("bullet").context(tracer_bullet()).start();
        let out: Result<u32, String> = span.in_scope(|| {
            side_effect("payment.charge", || {
                ran = true;
                Ok(250)
            })
        });
        drop(span);
        assert!(!ran, "the side effect ran in a tracer bullet");
        assert_eq!(out, Ok(0));
        capture.flush();
        let events = capture.span("bullet").events().to_vec();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].name, "side_effect.skipped");
        assert_eq!(
            events[0].attributes,
            vec![KeyValue::new("side_effect.name", "payment.charge")]
        );
    }
}
