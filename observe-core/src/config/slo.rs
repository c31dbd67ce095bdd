//! SLO declarations: what is measured, against what objective, and how they are
//! written in code and in `OBSERVE_SLOS`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::Overrides;
use super::error::Problem;

use crate::metrics::names;

/// At most this many SLOs per process (declared in code and in `OBSERVE_SLOS`
/// together); the rest are refused with a configuration error.
pub const MAX_SLOS: usize = 64;
/// `OBSERVE_SLOS` longer than this many bytes is refused without being parsed.
pub const MAX_ENV_BYTES: usize = 8192;
/// A selector key or an SLO name longer than this many bytes is refused.
pub const MAX_KEY_BYTES: usize = 256;
/// The default period the error budget is counted over (and that scales the
/// burn-rate windows): 30 days, the SRE workbook's.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(30 * 24 * 3600);

/// What an SLO counts as good.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SloKind {
    /// A request is good when its latency is at or under `threshold`.
    Latency {
        /// The latency objective.
        threshold: Duration,
    },
    /// A request is good when it did not fail (HTTP 5xx, a gRPC server error, a
    /// `#[traced]` function returning an error).
    Availability,
}

impl SloKind {
    /// `latency` or `availability`.
    pub fn as_str(&self) -> &'static str {
        match self {
            SloKind::Latency { .. } => "latency",
            SloKind::Availability => "availability",
        }
    }
}

/// Which requests an SLO is about: one route, gRPC method or `#[traced]` function,
/// read from the latency histogram observe records for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The histogram (`http.server.request.duration`, `rpc.server.call.duration`,
    /// `observe.function.duration`).
    pub metric: &'static str,
    /// `GET /orders/{id}`, `package.Service/Method`, or the function's
    /// `code.function`.
    pub key: String,
}

impl Selector {
    /// The selector for `key`: `"<METHOD> /<route template>"` is an HTTP route
    /// (`GET /orders/{id}`), `"package.Service/Method"` a gRPC method, anything else
    /// a `#[traced]` function by its `code.function` (`my_crate::orders::load`).
    pub fn parse(key: &str) -> Selector {
        let key = key.trim();
        let metric = match key.split_once(' ') {
            Some((method, route))
                if route.starts_with('/')
                    && !method.is_empty()
                    && method.bytes().all(|b| b.is_ascii_uppercase()) =>
            {
                names::HTTP_SERVER_REQUEST_DURATION
            }
            _ if key.contains('/') && !key.contains("::") => names::RPC_SERVER_CALL_DURATION,
            _ => names::FUNCTION_DURATION,
        };
        Selector {
            metric,
            key: key.to_owned(),
        }
    }

    /// What is wrong with a key that can never select anything: one read as a gRPC
    /// method (it has a `/`) that is not `package.Service/Method`, such as a route
    /// whose method is not in capitals (`get /orders`) or has none (`/orders`), or
    /// a key with spaces that is no `METHOD /route`. A typo would otherwise be an
    /// SLO that stays "ok" forever.
    fn problem(&self) -> Option<String> {
        const FORMS: &str = "`METHOD /route` (the method in capitals: `GET /orders/{id}`), \
                             `package.Service/Method`, or a function path (`crate::module::function`)";
        let key = self.key.as_str();
        let bad = match self.metric {
            names::RPC_SERVER_CALL_DURATION => {
                key.rsplit_once('/').is_none_or(|(service, method)| {
                    service.is_empty()
                        || method.is_empty()
                        || service.starts_with('/')
                        || key.contains(char::is_whitespace)
                })
            }
            names::FUNCTION_DURATION => key.contains(char::is_whitespace),
            _ => false,
        };
        bad.then(|| format!("the key {key:?} selects nothing: it must be {FORMS}"))
    }

    /// Whether a series of this selector's metric, with these labels, is one of
    /// its requests: the key matches, and the request is standard (tracer bullets
    /// never count).
    pub(crate) fn matches(&self, labels: &[(String, String)]) -> bool {
        let get = |k: &str| labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        if get(names::REQUEST_TYPE).is_some_and(|t| t != "standard") {
            return false;
        }
        match self.metric {
            names::HTTP_SERVER_REQUEST_DURATION => {
                let Some((method, route)) = self.key.split_once(' ') else {
                    return false;
                };
                get(names::HTTP_REQUEST_METHOD) == Some(method)
                    && get(names::HTTP_ROUTE) == Some(route)
            }
            names::RPC_SERVER_CALL_DURATION => {
                let Some((service, method)) = self.key.rsplit_once('/') else {
                    return false;
                };
                get(names::RPC_SERVICE) == Some(service) && get(names::RPC_METHOD) == Some(method)
            }
            _ => get(names::CODE_FUNCTION) == Some(self.key.as_str()),
        }
    }

    /// Whether a series of this selector's metric with these labels holds failed
    /// requests ([`series_failed`](crate::metrics::series_failed): `error.type`,
    /// `outcome="error"`, or a gRPC error status).
    pub(crate) fn is_failure(&self, labels: &[(String, String)]) -> bool {
        crate::metrics::series_failed(self.metric, labels)
    }
}

/// A declared service-level objective.
///
/// ```
/// use std::time::Duration;
/// use observe_core::slo::Slo;
///
/// // 99% of GET /orders/{id} under 300 ms; 99.9% of them not failing.
/// let fast = Slo::latency("GET /orders/{id}", 0.99, Duration::from_millis(300));
/// let up = Slo::availability("GET /orders/{id}", 0.999).named("orders-availability");
/// assert_eq!(fast.name(), "GET /orders/{id} latency");
/// assert_eq!(up.name(), "orders-availability");
/// let _ = observe_core::Observe::builder().slo(fast).slo(up);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    pub(crate) name: String,
    pub(crate) kind: SloKind,
    pub(crate) objective: f64,
    pub(crate) selector: Selector,
    pub(crate) period: Duration,
}

impl Slo {
    /// `objective` (say 0.99) of the requests of `key` (see [`Selector::parse`])
    /// finish at or under `threshold`.
    pub fn latency(key: &str, objective: f64, threshold: Duration) -> Slo {
        Slo::new(key, objective, SloKind::Latency { threshold })
    }

    /// `objective` (say 0.999) of the requests of `key` do not fail.
    pub fn availability(key: &str, objective: f64) -> Slo {
        Slo::new(key, objective, SloKind::Availability)
    }

    fn new(key: &str, objective: f64, kind: SloKind) -> Slo {
        let selector = Selector::parse(key);
        Slo {
            name: format!("{} {}", selector.key, kind.as_str()),
            kind,
            objective,
            selector,
            period: DEFAULT_PERIOD,
        }
    }

    /// Names it (default: `"<key> <kind>"`): the `slo` label of its metrics.
    pub fn named(mut self, name: impl Into<String>) -> Slo {
        self.name = name.into();
        self
    }

    /// The period its error budget is counted over (default 30 days). The
    /// burn-rate windows scale with it (see `docs/slo.md`).
    pub fn period(mut self, period: Duration) -> Slo {
        self.period = period;
        self
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What it counts as good.
    pub fn kind(&self) -> SloKind {
        self.kind
    }

    /// The fraction of good requests it promises.
    pub fn objective(&self) -> f64 {
        self.objective
    }

    /// Which requests it is about.
    pub fn selector(&self) -> &Selector {
        &self.selector
    }

    /// The budget period.
    pub fn budget_period(&self) -> Duration {
        self.period
    }

    /// Why it cannot be evaluated, if it cannot.
    pub(crate) fn problem(&self) -> Option<String> {
        if !(self.objective > 0.0 && self.objective < 1.0) {
            return Some(format!(
                "objective {} is not a fraction strictly between 0 and 1",
                self.objective
            ));
        }
        if self.selector.key.is_empty() || self.selector.key.len() > MAX_KEY_BYTES {
            return Some(format!("the key must be 1 to {MAX_KEY_BYTES} bytes"));
        }
        if let Some(p) = self.selector.problem() {
            return Some(p);
        }
        if self.name.is_empty() || self.name.len() > MAX_KEY_BYTES {
            return Some(format!("the name must be 1 to {MAX_KEY_BYTES} bytes"));
        }
        if let SloKind::Latency { threshold } = self.kind
            && threshold.is_zero()
        {
            return Some("the latency threshold must be above zero".into());
        }
        if self.period < Duration::from_secs(60) || self.period > Duration::from_secs(366 * 86400) {
            return Some("the period must be between 1m and 366d".into());
        }
        None
    }
}

/// Why `OBSERVE_SLOS` was refused: the entry (0-based) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SloParseError {
    /// The entry at fault (0-based), `None` for the whole value.
    pub entry: Option<usize>,
    /// What is wrong and what is expected.
    pub message: String,
}

impl fmt::Display for SloParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.entry {
            Some(i) => write!(f, "entry {}: {}", i + 1, self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for SloParseError {}

/// The syntax `OBSERVE_SLOS` accepts, for error messages.
pub const ENV_SYNTAX: &str = "entries separated by ';', each \
     'latency|<key>|<objective>|<threshold>' or 'availability|<key>|<objective>', \
     then optional '|name=<name>' and '|period=<duration>'; objective as 99.9% or 0.999, \
     durations as 300ms, 2s, 30d";

/// Parses `OBSERVE_SLOS`: entries separated by `;`, fields by `|`:
///
/// ```text
/// latency|GET /orders/{id}|99%|300ms;availability|GET /orders/{id}|99.9%|name=orders-up|period=7d
/// ```
///
/// Bounded: at most [`MAX_ENV_BYTES`] bytes and [`MAX_SLOS`] entries, each key
/// and name at most [`MAX_KEY_BYTES`]; the first problem is reported with its entry.
///
/// ```
/// use observe_core::slo::{parse_env, SloKind};
///
/// let slos = parse_env("latency|GET /orders/{id}|99%|300ms; availability|GET /orders/{id}|99.9%").unwrap();
/// assert_eq!(slos.len(), 2);
/// assert_eq!(slos[0].objective(), 0.99);
/// assert!(matches!(slos[0].kind(), SloKind::Latency { .. }));
/// assert_eq!(parse_env("latency|GET /x|99%").unwrap_err().to_string(),
///            "entry 1: a latency SLO needs a threshold: latency|<key>|<objective>|<threshold>");
/// ```
pub fn parse_env(value: &str) -> Result<Vec<Slo>, SloParseError> {
    let whole = |message: String| SloParseError {
        entry: None,
        message,
    };
    if value.len() > MAX_ENV_BYTES {
        return Err(whole(format!(
            "{} bytes, more than the {MAX_ENV_BYTES} accepted",
            value.len()
        )));
    }
    let mut out = Vec::new();
    for (i, entry) in value.split(';').enumerate() {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        if out.len() == MAX_SLOS {
            return Err(whole(format!("more than {MAX_SLOS} SLOs")));
        }
        let err = |message: String| SloParseError {
            entry: Some(i),
            message,
        };
        let mut fields = entry.split('|').map(str::trim);
        let kind = fields.next().unwrap_or_default();
        let key = fields.next().unwrap_or_default();
        if key.is_empty() {
            return Err(err(format!("expected {ENV_SYNTAX}")));
        }
        let objective = parse_objective(fields.next().unwrap_or_default()).ok_or_else(|| {
            err(
                "the objective must be like 99.9% or 0.999, strictly between 0 and 100% \
                 (100% leaves no error budget to burn)"
                    .into(),
            )
        })?;
        let mut slo = match kind {
            "latency" => {
                let t = fields.next().unwrap_or_default();
                if t.is_empty() || t.contains('=') {
                    return Err(err(
                        "a latency SLO needs a threshold: latency|<key>|<objective>|<threshold>"
                            .into(),
                    ));
                }
                let threshold = humantime::parse_duration(t)
                    .map_err(|_| err(format!("threshold {t:?} is not a duration like 300ms")))?;
                Slo::latency(key, objective, threshold)
            }
            "availability" => Slo::availability(key, objective),
            other => {
                return Err(err(format!(
                    "kind {other:?} is neither 'latency' nor 'availability'"
                )));
            }
        };
        for option in fields {
            match option.split_once('=') {
                Some(("name", n)) => slo = slo.named(n.trim()),
                Some(("period", p)) => {
                    slo = slo
                        .period(humantime::parse_duration(p.trim()).map_err(|_| {
                            err(format!("period {p:?} is not a duration like 30d"))
                        })?);
                }
                _ => {
                    return Err(err(format!(
                        "unknown option {option:?}: expected name=<name> or period=<duration>"
                    )));
                }
            }
        }
        if let Some(p) = slo.problem() {
            return Err(err(p));
        }
        out.push(slo);
    }
    Ok(out)
}

fn parse_objective(s: &str) -> Option<f64> {
    let v = match s.strip_suffix('%') {
        // `99.9%` is read as `99.9e-2`, the f64 nearest 0.999; dividing the f64
        // nearest 99.9 by 100 gave 0.9990000000000001.
        Some(p) => {
            let p = p.trim();
            if p.contains(['e', 'E']) {
                return None;
            }
            format!("{p}e-2").parse::<f64>().ok()?
        }
        None => s.parse::<f64>().ok()?,
    };
    (v > 0.0 && v < 1.0).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_slo_list_says_the_syntax_once_and_a_dump_dir_must_be_a_directory() {
        let config = crate::Builder::new()
            .env_lookup(|name| match name {
                "OBSERVE_SLOS" => Some("availability|GET /a|99%;oops".into()),
                "OBSERVE_DUMP_DIR" => Some(env!("CARGO_MANIFEST_PATH").into()),
                _ => None,
            })
            .build_config()
            .unwrap_err()
            .to_string();
        assert_eq!(
            config.matches("entries separated by").count(),
            1,
            "{config}"
        );
        assert!(config.contains("(entry 2 is not one)"), "{config}");
        assert!(
            config.contains("OBSERVE_DUMP_DIR=")
                && config.contains("a directory (this path is a file)"),
            "{config}"
        );
    }

    #[test]
    fn a_duplicate_slo_name_is_blamed_on_where_it_was_declared() {
        let error = |code: Vec<Slo>, env: &'static str| {
            let mut b = crate::Builder::new()
                .env_lookup(move |name| (name == "OBSERVE_SLOS").then(|| env.to_owned()));
            for slo in code {
                b = b.slo(slo);
            }
            b.build_config().unwrap_err().to_string()
        };
        let both_env = error(vec![], "availability|GET /x|99%;availability|GET /x|99.9%");
        assert!(both_env.contains("OBSERVE_SLOS="), "{both_env}");
        assert!(!both_env.contains("Builder::slo"), "{both_env}");
        assert!(
            both_env.contains("declared in OBSERVE_SLOS too"),
            "{both_env}"
        );
        let code_then_env = error(
            vec![Slo::availability("GET /x", 0.99)],
            "availability|GET /x|99.9%",
        );
        assert!(code_then_env.contains("OBSERVE_SLOS="), "{code_then_env}");
        assert!(
            code_then_env.contains("declared in Builder::slo too"),
            "{code_then_env}"
        );
    }

    #[test]
    fn a_percentage_objective_is_the_decimal_it_says() {
        assert_eq!(parse_objective("99.9%"), Some(0.999));
        assert_eq!(parse_objective("99.95 %"), Some(0.9995));
        assert_eq!(parse_objective("0.999"), Some(0.999));
        assert_eq!(parse_objective("99e1%"), None);
        assert_eq!(parse_objective("100%"), None);
    }

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn keys_select_the_right_histogram_and_never_tracer_bullets() {
        let http = Selector::parse("GET /orders/{id}");
        assert_eq!(http.metric, names::HTTP_SERVER_REQUEST_DURATION);
        let std = labels(&[
            ("http.request.method", "GET"),
            ("http.route", "/orders/{id}"),
            ("request_type", "standard"),
        ]);
        assert!(http.matches(&std));
        let bullet = labels(&[
            ("http.request.method", "GET"),
            ("http.route", "/orders/{id}"),
            ("request_type", "tracer_bullet"),
        ]);
        assert!(!http.matches(&bullet));
        let grpc = Selector::parse("helloworld.Greeter/SayHello");
        assert_eq!(grpc.metric, names::RPC_SERVER_CALL_DURATION);
        assert!(grpc.matches(&labels(&[
            ("rpc.service", "helloworld.Greeter"),
            ("rpc.method", "SayHello"),
            ("request_type", "standard"),
        ])));
        let f = Selector::parse("shop::orders::load");
        assert_eq!(f.metric, names::FUNCTION_DURATION);
        assert!(f.matches(&labels(&[("code.function", "shop::orders::load")])));
        assert!(http.is_failure(&labels(&[("error.type", "500")])));
        assert!(f.is_failure(&labels(&[("outcome", "error")])));
        assert!(!f.is_failure(&labels(&[("outcome", "ok")])));
    }

    #[test]
    fn a_key_that_can_select_nothing_is_refused() {
        for key in [
            "get /orders",
            "/orders",
            "GET orders",
            "shop.Orders/",
            "a b/c",
        ] {
            let p = Slo::availability(key, 0.99).problem();
            assert!(
                p.as_deref().is_some_and(|p| p.contains("selects nothing")),
                "{key}: {p:?}"
            );
        }
        for key in [
            "GET /orders/{id}",
            "shop.Orders/GetOrder",
            "shop::orders::load",
        ] {
            assert_eq!(Slo::availability(key, 0.99).problem(), None, "{key}");
        }
    }

    #[test]
    fn a_grpc_series_fails_by_its_status_code() {
        let server = Selector::parse("shop.Orders/GetOrder");
        let status = |code: &str| labels(&[("rpc.grpc.status_code", code)]);
        // INTERNAL, UNAVAILABLE, DEADLINE_EXCEEDED, UNKNOWN: the server's errors.
        for code in ["13", "14", "4", "2"] {
            assert!(server.is_failure(&status(code)), "{code}");
        }
        // OK and the caller's errors (NOT_FOUND, INVALID_ARGUMENT) are good service.
        for code in ["0", "5", "3"] {
            assert!(!server.is_failure(&status(code)), "{code}");
        }
    }

    #[test]
    fn the_environment_syntax_parses_and_names_the_bad_entry() {
        let s =
            parse_env("latency|GET /a|99%|300ms|name=a-fast|period=7d ; availability|GET /a|0.999")
                .unwrap();
        assert_eq!(s[0].name(), "a-fast");
        assert_eq!(s[0].budget_period(), Duration::from_secs(7 * 86400));
        assert_eq!(
            s[0].kind(),
            SloKind::Latency {
                threshold: Duration::from_millis(300)
            }
        );
        assert_eq!(s[1].objective(), 0.999);
        let e = parse_env("availability|GET /a|99.9%;bogus|GET /b|99%").unwrap_err();
        assert_eq!(e.entry, Some(1));
        assert!(parse_env("availability|GET /a|100%").is_err());
        assert!(parse_env("availability|GET /a|99%|color=red").is_err());
        assert!(parse_env(&"x".repeat(MAX_ENV_BYTES + 1)).is_err());
        let many = vec!["availability|GET /a|99%"; MAX_SLOS + 1].join(";");
        assert_eq!(
            parse_env(&many).unwrap_err().message,
            format!("more than {MAX_SLOS} SLOs")
        );
        assert!(parse_env(" ; ").unwrap().is_empty());
    }
}

/// The resolved SLO settings: the SLOs declared in code, in the manifest, then in
/// `OBSERVE_SLOS`,
/// and the directory alert snapshots go to (`OBSERVE_DUMP_DIR`, else the system's
/// temporary directory).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SloConfig {
    /// Every SLO, validated.
    pub slos: Vec<Slo>,
    /// Where alert snapshots are written.
    pub snapshot_dir: Option<PathBuf>,
    /// The least time between two alert snapshots (`Builder::alert_snapshots`;
    /// `None`: the default, 5 minutes).
    pub snapshot_interval: Option<Duration>,
}

impl SloConfig {
    /// The latency objectives of HTTP routes and gRPC methods, by their server
    /// span's name (which is the SLO's key): a request slower than one breached
    /// it, and the flight recorder promotes its trace.
    pub(crate) fn latency_objectives(&self) -> Vec<(String, Duration)> {
        self.slos
            .iter()
            .filter_map(|s| match s.kind {
                SloKind::Latency { threshold } if s.selector.metric != names::FUNCTION_DURATION => {
                    Some((s.selector.key.clone(), threshold))
                }
                _ => None,
            })
            .collect()
    }
}

/// Where SLOs declared in the application's manifest come from (its
/// `service_info!()`).
const MANIFEST_SLOS: &str = "[package.metadata.observe] slos";

/// Resolves the SLO settings: the builder's SLOs, then the manifest's
/// (`service_info!()`), then `OBSERVE_SLOS`.
pub(crate) fn resolve(
    code: &Overrides,
    env_slos: Option<String>,
    env_dir: Option<String>,
    problems: &mut Vec<Problem>,
) -> SloConfig {
    let mut slos = Vec::new();
    // Where each SLO was declared, for the duplicate check's message.
    let mut sources: Vec<&'static str> = Vec::new();
    for s in code.slos.iter().cloned() {
        match s.problem() {
            Some(p) => problems.push(Problem::code("Builder::slo", s.name.clone(), p)),
            None => {
                slos.push(s);
                sources.push("Builder::slo");
            }
        }
    }
    if let Some(raw) = code.service_info.as_ref().and_then(|i| i.slos.as_deref()) {
        match parse_env(raw) {
            Ok(v) => {
                sources.extend(std::iter::repeat_n(MANIFEST_SLOS, v.len()));
                slos.extend(v);
            }
            Err(e) => {
                let shown: String = raw.chars().take(200).collect();
                problems.push(Problem::code(MANIFEST_SLOS, shown, syntax_problem(&e)));
            }
        }
    }
    if let Some(raw) = env_slos {
        match parse_env(&raw) {
            Ok(v) => {
                sources.extend(std::iter::repeat_n("OBSERVE_SLOS", v.len()));
                slos.extend(v);
            }
            Err(e) => {
                let shown: String = raw.chars().take(200).collect();
                problems.push(Problem::env("OBSERVE_SLOS", shown, syntax_problem(&e)));
            }
        }
    }
    if slos.len() > MAX_SLOS {
        problems.push(Problem::code(
            "Builder::slo",
            slos.len().to_string(),
            format!("at most {MAX_SLOS} SLOs in code, {MANIFEST_SLOS} and OBSERVE_SLOS together"),
        ));
        slos.truncate(MAX_SLOS);
    }
    let mut seen = std::collections::HashMap::new();
    for (s, &source) in slos.iter().zip(&sources) {
        if let Some(first) = seen.insert(s.name.as_str(), source) {
            let expected = format!(
                "SLO names that differ (an SLO of this name is declared in {first} too; \
                 rename one with name=...)"
            );
            problems.push(if source == "OBSERVE_SLOS" {
                Problem::env(source, s.name.clone(), expected)
            } else {
                Problem::code(source, s.name.clone(), expected)
            });
        }
    }
    let env_dir = env_dir.map(PathBuf::from);
    if let Some(dir) = &env_dir {
        // Made when a dump is written; a path that can never be a directory is a
        // mistake to say now, not at the first alert.
        if dir.exists() && !dir.is_dir() {
            problems.push(Problem::env(
                "OBSERVE_DUMP_DIR",
                dir.display().to_string(),
                "a directory (this path is a file)",
            ));
        }
    }
    SloConfig {
        slos,
        snapshot_dir: code.alert_snapshot_dir.clone().or(env_dir),
        snapshot_interval: code.alert_snapshot_interval,
    }
}

/// What an unparsable SLO list expected: the syntax, with the entry at fault
/// (said once when the entry's own message is the syntax).
fn syntax_problem(e: &SloParseError) -> String {
    match e.entry {
        Some(i) if e.message.contains(ENV_SYNTAX) => {
            format!("{ENV_SYNTAX} (entry {} is not one)", i + 1)
        }
        _ => format!("{ENV_SYNTAX} ({e})"),
    }
}
