//! Threads that keep the request context: [`spawn`] and [`Builder`] are
//! `std::thread::spawn` and `std::thread::Builder` carrying the current span and
//! request context into the new thread (see [`crate::task`] for why it matters in a
//! tracer bullet).
//!
//! ```
//! use observe_core::context::{self, RequestContext};
//! use observe_core::span::Span;
//!
//! let _capture = observe_core::testing::capture();
//! let job = Span::builder("job").context(RequestContext::builder().user("u-7").build()).start();
//! let handle = job.in_scope(|| {
//!     observe_core::thread::Builder::new()
//!         .name("resize".into())
//!         .spawn(|| context::current().and_then(|c| c.user_id().map(str::to_owned)))
//! })?;
//! assert_eq!(handle.join().unwrap().as_deref(), Some("u-7"));
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::thread::JoinHandle;

use crate::task::in_current_context;

/// `std::thread::spawn` with the current span and request context. Outside any
/// span it is `std::thread::spawn`.
///
/// # Panics
/// As `std::thread::spawn`: when the operating system cannot create a thread.
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    #[allow(clippy::disallowed_methods)] // the one place the bare function is right
    std::thread::spawn(in_current_context(f))
}

/// `std::thread::Builder` whose [`spawn`](Builder::spawn) carries the current span
/// and request context.
#[derive(Debug)]
#[must_use = "a thread builder does nothing until spawn is called"]
pub struct Builder {
    inner: std::thread::Builder,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// A builder with the defaults of `std::thread::Builder`.
    pub fn new() -> Builder {
        Builder {
            inner: std::thread::Builder::new(),
        }
    }

    /// The thread's name.
    pub fn name(self, name: String) -> Builder {
        Builder {
            inner: self.inner.name(name),
        }
    }

    /// The thread's stack size, in bytes.
    pub fn stack_size(self, size: usize) -> Builder {
        Builder {
            inner: self.inner.stack_size(size),
        }
    }

    /// Spawns the thread with the current span and request context.
    ///
    /// # Errors
    /// What `std::thread::Builder::spawn` returns: the thread could not be created.
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        #[allow(clippy::disallowed_methods)] // the one place the bare function is right
        self.inner.spawn(in_current_context(f))
    }
}
