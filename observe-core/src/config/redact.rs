//! Which log and span fields are sensitive (`OBSERVE_REDACT_FIELDS`).

/// The field names always treated as sensitive.
pub const DEFAULT_SENSITIVE_FIELDS: [&str; 6] = [
    "password",
    "token",
    "authorization",
    "secret",
    "cookie",
    "api_key",
];

/// The names of fields whose values are replaced by a placeholder in logs, spans and
/// exports.
///
/// It holds [`DEFAULT_SENSITIVE_FIELDS`] plus the names added with
/// `OBSERVE_REDACT_FIELDS` or [`Builder::redact_fields`]; names can be added, never
/// removed. A field is sensitive when a name equals, ignoring ASCII case, either its
/// full name or its **last path segment** (the part after the last `.`): `password`
/// covers `password`, `user.password` and `db.Password`, but not `password_hint` or
/// `db_password` (add those explicitly). A name containing dots, such as
/// `user.email`, covers that full field name.
///
/// ```
/// use observe_core::Builder;
///
/// let config = Builder::new()
///     .ignore_env()
///     .redact_fields(["email", "user.ssn"])
///     .build_config()?;
/// let redaction = &config.logs.redaction;
/// assert!(redaction.is_sensitive("http.request.header.Authorization"));
/// assert!(redaction.is_sensitive("customer.email"));
/// assert!(redaction.is_sensitive("user.ssn"));
/// assert!(!redaction.is_sensitive("ssn"));
/// assert!(!redaction.is_sensitive("password_hint"));
/// # Ok::<(), observe_core::config::ConfigError>(())
/// ```
///
/// [`Builder::redact_fields`]: crate::Builder::redact_fields
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redaction {
    /// Lowercase, without duplicates, the defaults first.
    names: Vec<Box<str>>,
    /// Bit `n` is set when some name is `n` bytes long (bit 63: 63 or more), so that
    /// most fields are found not sensitive without a comparison: this check runs
    /// for every field of every log line.
    lengths: u64,
    /// Bit `i` is set when [`ACCESS_FIELDS`]`[i]` is sensitive: decided when the
    /// names change, not for every access line.
    access: u16,
}

/// The fields of observe's own access-log lines (HTTP and gRPC), whose sensitivity
/// is decided once per set of names ([`Redaction::is_access_field_sensitive`]);
/// indexed by the [`access_field`] constants.
pub(crate) const ACCESS_FIELDS: [&str; 7] = [
    "http.request.method",
    "http.route",
    "http.response.status_code",
    "duration_ms",
    "rpc.service",
    "rpc.method",
    "rpc.grpc.status_code",
];

/// Indices into [`ACCESS_FIELDS`].
pub(crate) mod access_field {
    pub(crate) const HTTP_METHOD: usize = 0;
    pub(crate) const HTTP_ROUTE: usize = 1;
    pub(crate) const HTTP_STATUS_CODE: usize = 2;
    pub(crate) const DURATION_MS: usize = 3;
    pub(crate) const RPC_SERVICE: usize = 4;
    pub(crate) const RPC_METHOD: usize = 5;
    pub(crate) const RPC_STATUS_CODE: usize = 6;
}

fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

impl Default for Redaction {
    fn default() -> Self {
        let mut redaction = Redaction {
            names: DEFAULT_SENSITIVE_FIELDS.iter().map(|&n| n.into()).collect(),
            lengths: DEFAULT_SENSITIVE_FIELDS
                .iter()
                .fold(0, |m, n| m | length_bit(n.len())),
            access: 0,
        };
        redaction.decide_access_fields();
        redaction
    }
}

pub(crate) const FIELD_NAMES: &str =
    "a comma-separated list of field names such as email,ssn (no spaces inside a name)";

impl Redaction {
    /// Adds one name (trimmed; ignored when empty or already present). The error is
    /// the phrase after "expected".
    pub(crate) fn add(&mut self, name: &str) -> Result<(), String> {
        let name = name.trim();
        if name.is_empty() {
            return Ok(());
        }
        if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("{FIELD_NAMES} ({name:?} has a space)"));
        }
        let name = name.to_ascii_lowercase();
        if !self.names.iter().any(|n| **n == *name) {
            self.lengths |= length_bit(name.len());
            self.names.push(name.into());
            self.decide_access_fields();
        }
        Ok(())
    }

    fn decide_access_fields(&mut self) {
        self.access = ACCESS_FIELDS
            .iter()
            .enumerate()
            .filter(|(_, field)| self.is_sensitive(field))
            .fold(0, |m, (i, _)| m | 1 << i);
    }

    /// [`is_sensitive`](Self::is_sensitive) for `ACCESS_FIELDS[i]`, decided in
    /// advance.
    #[inline]
    pub(crate) fn is_access_field_sensitive(&self, i: usize) -> bool {
        self.access & (1 << i) != 0
    }

    /// `true` when the field's values must not be logged or exported.
    ///
    /// It does not allocate; its cost grows with the number of names (six by default).
    #[inline]
    pub fn is_sensitive(&self, field: &str) -> bool {
        let last = match field.as_bytes().iter().rposition(|&b| b == b'.') {
            Some(i) => &field[i + 1..],
            None => field,
        };
        let candidates = |s: &str| self.lengths & length_bit(s.len()) != 0;
        if !candidates(last) && !candidates(field) {
            return false;
        }
        self.names
            .iter()
            .any(|name| name.eq_ignore_ascii_case(last) || name.eq_ignore_ascii_case(field))
    }

    /// The sensitive names, lowercase, the defaults first.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> {
        self.names.iter().map(|n| &**n)
    }
}

/// `a=1&b=2` becomes `a=REDACTED&b=REDACTED` (keys are kept, at most 1 KiB of them).
pub(crate) fn redact_query(query: &str) -> String {
    let mut out = String::with_capacity(query.len().min(1024) + 16);
    for (i, pair) in query.split('&').enumerate() {
        if out.len() >= 1024 {
            out.push_str("&…");
            break;
        }
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((k, _)) => {
                out.push_str(&k[..k.floor_char_boundary(128)]);
                out.push_str("=REDACTED");
            }
            None => out.push_str(&pair[..pair.floor_char_boundary(128)]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_redacted_and_keys_kept() {
        assert_eq!(redact_query("a=1&b=two&flag"), "a=REDACTED&b=REDACTED&flag");
        assert_eq!(redact_query("=x"), "=REDACTED");
        let long = "k=v&".repeat(1000);
        assert!(redact_query(&long).len() < 1100);
    }

    #[test]
    fn the_access_fields_sensitivity_follows_the_names() {
        let mut r = Redaction::default();
        for (i, field) in ACCESS_FIELDS.iter().enumerate() {
            assert!(!r.is_access_field_sensitive(i), "{field}");
        }
        r.add("ROUTE").unwrap();
        r.add("rpc.service").unwrap();
        for (i, field) in ACCESS_FIELDS.iter().enumerate() {
            assert_eq!(
                r.is_access_field_sensitive(i),
                r.is_sensitive(field),
                "{field}"
            );
        }
        assert!(
            r.is_access_field_sensitive(access_field::HTTP_ROUTE)
                && r.is_access_field_sensitive(access_field::RPC_SERVICE)
        );
        // The constants name the fields they index.
        for (i, key) in [
            (access_field::HTTP_METHOD, "http.request.method"),
            (access_field::HTTP_ROUTE, "http.route"),
            (access_field::HTTP_STATUS_CODE, "http.response.status_code"),
            (access_field::DURATION_MS, "duration_ms"),
            (access_field::RPC_SERVICE, "rpc.service"),
            (access_field::RPC_METHOD, "rpc.method"),
            (access_field::RPC_STATUS_CODE, "rpc.grpc.status_code"),
        ] {
            assert_eq!(ACCESS_FIELDS[i], key);
        }
    }

    #[test]
    fn defaults_match_the_last_segment_case_insensitively() {
        let r = Redaction::default();
        for sensitive in [
            "password",
            "PASSWORD",
            "user.password",
            "http.request.header.authorization",
            "Cookie",
            "api_key",
            "a.b.c.Token",
            "secret",
        ] {
            assert!(r.is_sensitive(sensitive), "{sensitive}");
        }
        for plain in [
            "password_hint",
            "db_password",
            "tokens",
            "password.length",
            "user",
            "",
        ] {
            assert!(!r.is_sensitive(plain), "{plain}");
        }
    }

    #[test]
    fn added_names_extend_the_defaults_without_duplicates() {
        let mut r = Redaction::default();
        r.add(" Email ").unwrap();
        r.add("password").unwrap();
        r.add("").unwrap();
        r.add("user.ssn").unwrap();
        assert_eq!(
            r.names().collect::<Vec<_>>(),
            [
                "password",
                "token",
                "authorization",
                "secret",
                "cookie",
                "api_key",
                "email",
                "user.ssn"
            ]
        );
        assert!(r.is_sensitive("customer.EMAIL"));
        assert!(r.is_sensitive("USER.SSN"));
        assert!(!r.is_sensitive("other.ssn"));
        let err = r.add("two words").unwrap_err();
        assert!(err.contains("\"two words\" has a space"), "{err}");
    }
}
