//! Records of the `log` crate, as `tracing_log::LogTracer` dispatches them: an
//! event of one of `tracing-log`'s five callsites (target `log`, no file or line),
//! with the record's own target, module, file and line in the fields `log.target`,
//! `log.module_path`, `log.file` and `log.line`. A [`LogRecord`](super::LogRecord)
//! keeps a `&'static Metadata` (the JSON writer renders a callsite's target, file
//! and line once, keyed by its address), so the metadata `tracing-log` rebuilds
//! from those fields (`NormalizeEvent::normalized_metadata`, what
//! tracing-subscriber's `fmt` layer shows) is interned here: made `'static` once
//! per distinct record callsite, as `#[traced]`'s statics are, and shared by every
//! record of it after that.
//!
//! Only `log` records pay for this (a read lock and a hash of their strings);
//! `tracing`'s own events are told apart by their target first.

use std::collections::HashMap;
use std::sync::RwLock;

use tracing_core::{Event, Level, Metadata};
use tracing_log::NormalizeEvent as _;

/// `tracing-log`'s callsites' target.
const LOG_TARGET: &str = "log";

/// Distinct record callsites interned at most. Their number is bounded by the
/// program's `log!` calls unless targets are made at run time; past this bound,
/// records keep `tracing-log`'s metadata and fields (nothing is lost, only shown
/// as `log.*` fields).
const MAX_CALLSITES: usize = 4096;

/// The longest target, module path or file name interned, in bytes (a record with
/// a longer one keeps `tracing-log`'s metadata, as past [`MAX_CALLSITES`]).
const MAX_STRING_BYTES: usize = 512;

/// What tells two record callsites apart.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Key<'a> {
    level: Level,
    target: &'a str,
    module_path: Option<&'a str>,
    file: Option<&'a str>,
    line: Option<u32>,
}

type Interned = HashMap<Key<'static>, &'static Metadata<'static>, foldhash::fast::FixedState>;

static INTERNED: RwLock<Option<Interned>> = RwLock::new(None);

/// Whether `event` is a `log` record dispatched by `tracing-log`.
#[inline]
pub(super) fn is_log_record(event: &Event<'_>) -> bool {
    event.metadata().target() == LOG_TARGET && event.is_log()
}

/// The metadata of the `log` record `event` (see [`is_log_record`]) with its own
/// target, module, file and line; `None` when too many distinct ones were seen.
pub(super) fn metadata(event: &Event<'_>) -> Option<&'static Metadata<'static>> {
    let normalized = event.normalized_metadata()?;
    let key = Key {
        level: *normalized.level(),
        target: normalized.target(),
        module_path: normalized.module_path(),
        file: normalized.file(),
        line: normalized.line(),
    };
    {
        let map = INTERNED.read().unwrap_or_else(|e| e.into_inner());
        // `HashMap` is covariant in its key: looked up with the event's strings.
        let map: Option<&HashMap<Key<'_>, _, _>> = map.as_ref();
        if let Some(m) = map.and_then(|m| m.get(&key).copied()) {
            return Some(m);
        }
    }
    let mut map = INTERNED.write().unwrap_or_else(|e| e.into_inner());
    let map = map.get_or_insert_with(HashMap::default);
    let interned: &HashMap<Key<'_>, _, _> = map;
    if let Some(m) = interned.get(&key).copied() {
        return Some(m);
    }
    // Interned strings live as long as the process: bounded in number and size.
    let too_long = |s: Option<&str>| s.is_some_and(|s| s.len() > MAX_STRING_BYTES);
    if map.len() >= MAX_CALLSITES
        || too_long(Some(key.target))
        || too_long(key.module_path)
        || too_long(key.file)
    {
        return None;
    }
    let leak = |s: &str| -> &'static str { Box::leak(Box::from(s)) };
    let key = Key {
        level: key.level,
        target: leak(key.target),
        module_path: key.module_path.map(leak),
        file: key.file.map(leak),
        line: key.line,
    };
    let metadata: &'static Metadata<'static> = Box::leak(Box::new(Metadata::new(
        "log event",
        key.target,
        key.level,
        key.file,
        key.line,
        key.module_path,
        // The field set of `tracing-log`'s own callsite: its identifier is that
        // callsite's (as in `normalized_metadata`), the names only the message.
        tracing_core::field::FieldSet::new(&["message"], event.metadata().callsite()),
        tracing_core::metadata::Kind::EVENT,
    )));
    map.insert(key, metadata);
    Some(metadata)
}
