//! Structured logs: one JSON object per line, with the request's context on every
//! line.
//!
//! An event logged through `tracing` is captured on the application thread into a
//! [`LogRecord`] (message, fields, the current span's ids and the request context
//! as it is at that moment; sensitive fields already redacted) and moved into the
//! thread's ring. The background thread formats it (JSON, or a readable line for
//! local development with `OBSERVE_LOG_FORMAT=pretty`) and hands batches of lines to
//! a writer thread, so neither formatting nor a slow or blocked output ever holds
//! up a request. When the output cannot keep up, lines are dropped and counted, and
//! a warning line says how many.
//!
//! The line schema (fields absent when empty):
//!
//! ```text
//! {"timestamp":"2026-11-22T09:14:03.512034Z","level":"INFO","message":"order loaded",
//!  "target":"shop::orders","service":"shop","version":"1.4.2","env":"prod","host":"web-1",
//!  "trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7",
//!  "parent_id":"b7ad6b7169203331","request_id":"2f1c...","user_id":"u-42",
//!  "account_id":"acme","request_type":"standard","flags":{"new_checkout":"on"},
//!  "span":"load_order","fields":{"order_id":17},"file":"src/orders.rs","line":42}
//! ```

mod format;
mod record;
mod writer;

pub(crate) use record::AttributeVisitor;
pub use record::{LogRecord, LogSpan};
pub(crate) use writer::{LogFormat, LogWriter, Output};

pub(crate) use format::Resource;

/// Decides which field names are sensitive: their values are replaced by
/// `[REDACTED]` in logs, span attributes and exports.
///
/// A name matches when its last `.`-separated segment equals one of the configured
/// names, ignoring ASCII case (`password`, `user.password` and `Password` match
/// `password`; `password_hint` does not).
#[derive(Debug, Clone)]
pub struct Redactor {
    names: Vec<String>,
}

/// The field names redacted by default.
pub const DEFAULT_SENSITIVE_FIELDS: &[&str] = &[
    "password",
    "passwd",
    "token",
    "access_token",
    "refresh_token",
    "authorization",
    "secret",
    "client_secret",
    "cookie",
    "set-cookie",
    "api_key",
    "apikey",
];

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new(DEFAULT_SENSITIVE_FIELDS.iter().copied())
    }
}

impl Redactor {
    /// A redactor for exactly these names.
    pub fn new<I, S>(names: I) -> Redactor
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Redactor {
            names: names
                .into_iter()
                .map(|s| s.as_ref().to_ascii_lowercase())
                .collect(),
        }
    }

    /// Adds names to redact.
    pub fn with<I, S>(mut self, names: I) -> Redactor
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for n in names {
            let n = n.as_ref().to_ascii_lowercase();
            if !self.names.contains(&n) {
                self.names.push(n);
            }
        }
        self
    }

    /// Whether values of the field `name` must not be recorded.
    #[inline]
    pub fn is_sensitive(&self, name: &str) -> bool {
        let last = name.rsplit('.').next().unwrap_or(name);
        self.names.iter().any(|n| n.eq_ignore_ascii_case(last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redactor_matches_last_segment_case_insensitively() {
        let r = Redactor::default();
        assert!(r.is_sensitive("password"));
        assert!(r.is_sensitive("Password"));
        assert!(r.is_sensitive("user.password"));
        assert!(r.is_sensitive("http.request.header.authorization"));
        assert!(!r.is_sensitive("password_hint"));
        assert!(!r.is_sensitive("order_id"));
        let r = r.with(["card_number"]);
        assert!(r.is_sensitive("payment.card_number"));
    }
}
