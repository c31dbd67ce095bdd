//! Service identity: what the application's own crate says about itself, captured at
//! build time by [`service_info!`](crate::service_info), and what is detected at run
//! time (executable name, host name).

use std::borrow::Cow;

use super::error::{Origin, Problem};

/// The application's identity as its Cargo package describes it: name, version and
/// the `[package.metadata.observe]` table (team, owner, runbook, repository).
///
/// A library cannot read the application's `Cargo.toml` at run time, so the
/// [`service_info!`](crate::service_info) macro captures it where it expands, in the
/// application crate, and [`Builder::service_info`](crate::Builder::service_info)
/// takes the result:
///
/// ```
/// let builder = observe_core::Builder::new()
///     .service_info(observe_core::service_info!());
/// # let _ = builder;
/// ```
///
/// The environment still wins: `OTEL_SERVICE_NAME` and the `service.name` /
/// `service.version` keys of `OTEL_RESOURCE_ATTRIBUTES` override the name and version.
/// Without any of these, the name is the executable's file name and the version
/// `unknown`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceInfo {
    /// The service name (`CARGO_PKG_NAME` of the application).
    pub name: Cow<'static, str>,
    /// The service version (`CARGO_PKG_VERSION` of the application).
    pub version: Cow<'static, str>,
    /// The owning team (`[package.metadata.observe] team`).
    pub team: Option<Cow<'static, str>>,
    /// The owner to page (`[package.metadata.observe] owner`).
    pub owner: Option<Cow<'static, str>>,
    /// A link to the runbook (`[package.metadata.observe] runbook`).
    pub runbook: Option<Cow<'static, str>>,
    /// The source repository (`[package.metadata.observe] repository`, else the
    /// package's own `repository` field).
    pub repository: Option<Cow<'static, str>>,
    /// SLO declarations (`[package.metadata.observe] slos`), in the syntax of
    /// `OBSERVE_SLOS` (docs/slo.md): added to those declared in code and in the
    /// environment; a bad entry is a start-up error naming the manifest key.
    pub slos: Option<Cow<'static, str>>,
    /// Problems found in `[package.metadata.observe]`, reported by the builder.
    problems: Vec<Problem>,
}

impl ServiceInfo {
    /// An identity from a name and a version, without metadata.
    ///
    /// ```
    /// use observe_core::config::ServiceInfo;
    ///
    /// let info = ServiceInfo::new("checkout", "1.4.2").with_team("payments");
    /// assert_eq!(info.team.as_deref(), Some("payments"));
    /// ```
    pub fn new(name: impl Into<Cow<'static, str>>, version: impl Into<Cow<'static, str>>) -> Self {
        ServiceInfo {
            name: name.into(),
            version: version.into(),
            team: None,
            owner: None,
            runbook: None,
            repository: None,
            slos: None,
            problems: Vec::new(),
        }
    }

    /// Sets the owning team.
    pub fn with_team(mut self, team: impl Into<Cow<'static, str>>) -> Self {
        self.team = Some(team.into());
        self
    }

    /// Sets the owner to page.
    pub fn with_owner(mut self, owner: impl Into<Cow<'static, str>>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Sets the runbook link.
    pub fn with_runbook(mut self, runbook: impl Into<Cow<'static, str>>) -> Self {
        self.runbook = Some(runbook.into());
        self
    }

    /// Sets the source repository.
    pub fn with_repository(mut self, repository: impl Into<Cow<'static, str>>) -> Self {
        self.repository = Some(repository.into());
        self
    }

    /// Sets the SLO declarations, in the syntax of `OBSERVE_SLOS`
    /// (`latency|GET /orders/{id}|99%|300ms; availability|...`).
    pub fn with_slos(mut self, slos: impl Into<Cow<'static, str>>) -> Self {
        self.slos = Some(slos.into());
        self
    }

    /// What [`service_info!`](crate::service_info) expands to. Not a stable API.
    ///
    /// `fields` are the string values of the application's
    /// `[package.metadata.observe]` table and `problems` what was wrong with it
    /// (where, the value, what is accepted), both read from its `Cargo.toml` when
    /// the macro expanded; the builder reports the problems at start-up.
    #[doc(hidden)]
    pub fn __from_manifest(
        name: &'static str,
        version: &'static str,
        package_repository: &'static str,
        fields: &[(&'static str, &'static str)],
        problems: &[(&'static str, &'static str, &'static str)],
    ) -> Self {
        let mut info = ServiceInfo::new(name, version);
        if !package_repository.is_empty() {
            info.repository = Some(Cow::Borrowed(package_repository));
        }
        for &(key, value) in fields {
            let slot = match key {
                "team" => &mut info.team,
                "owner" => &mut info.owner,
                "runbook" => &mut info.runbook,
                "repository" => &mut info.repository,
                "slos" => &mut info.slos,
                _ => continue,
            };
            *slot = Some(Cow::Borrowed(value));
        }
        for &(place, value, expected) in problems {
            info.problems
                .push(Problem::new(Origin::Code, place, value, expected));
        }
        info
    }

    pub(crate) fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

/// Captures the calling crate's [`ServiceInfo`] at build time: its
/// `CARGO_PKG_NAME`, `CARGO_PKG_VERSION`, `repository`, and its
/// `[package.metadata.observe]` table.
///
/// ```toml
/// # The application's Cargo.toml
/// [package.metadata.observe]
/// team = "payments"
/// owner = "payments-oncall@example.com"
/// runbook = "https://wiki.example.com/runbooks/checkout"
/// repository = "https://github.com/example/checkout"   # default: package.repository
/// ```
///
/// ```
/// let info = observe_core::service_info!();
/// assert_eq!(info.name, env!("CARGO_PKG_NAME"));
/// assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
/// ```
///
/// # How it works, and why this way
///
/// Cargo gives a crate its package name, version and a few other fields as
/// compile-time environment variables (`CARGO_PKG_*`), but nothing from
/// `[package.metadata]`. Rather than ask every application for a build script or a
/// `.cargo/config.toml` `[env]` section, the macro reads the application's manifest
/// (`$CARGO_MANIFEST_DIR/Cargo.toml`) when it expands, in observe's proc-macro
/// crate, and emits the `[package.metadata.observe]` strings as literals. This works
/// on stable Cargo and needs no extra line; the expansion also names the manifest in
/// an unused `include_bytes!` so that the compiler tracks it (editing it rebuilds the
/// crate) without putting its bytes in the binary. Only the four values are in the
/// binary, and no TOML parser. Unknown keys or non-string values in the table are
/// reported by the builder as configuration errors, at start-up.
///
/// It must be expanded by Cargo (it needs `CARGO_MANIFEST_DIR`), in the application's
/// crate: expanded in a library, it describes that library instead.
#[macro_export]
macro_rules! service_info {
    () => {
        $crate::__macros::__service_info!($crate)
    };
}

/// The executable's file name (without `.exe` on Windows), the fallback service name.
pub(crate) fn executable_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|path| {
            let name = path.file_name()?.to_string_lossy().into_owned();
            let suffix = std::env::consts::EXE_SUFFIX;
            Some(match name.strip_suffix(suffix) {
                Some(stem) if !suffix.is_empty() && !stem.is_empty() => stem.to_owned(),
                _ => name,
            })
        })
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown_service".to_owned())
}

/// The machine's host name, as the operating system reports it.
pub(crate) fn host_name() -> String {
    let name = gethostname::gethostname()
        .to_string_lossy()
        .trim()
        .to_owned();
    if name.is_empty() {
        "unknown".to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reading the manifest is observe-macros' (`manifest.rs`, with its tests); what
    // it emits arrives here.

    #[test]
    fn the_manifest_fields_fill_the_identity() {
        let info = ServiceInfo::__from_manifest(
            "checkout",
            "1.2.3",
            "https://git/pkg",
            &[
                ("owner", "oncall@example.com"),
                ("runbook", "https://wiki/runbook"),
                ("team", "payments"),
            ],
            &[],
        );
        assert_eq!(info.name, "checkout");
        assert_eq!(info.version, "1.2.3");
        assert_eq!(info.team.as_deref(), Some("payments"));
        assert_eq!(info.owner.as_deref(), Some("oncall@example.com"));
        assert_eq!(info.runbook.as_deref(), Some("https://wiki/runbook"));
        assert_eq!(info.repository.as_deref(), Some("https://git/pkg"));
        assert!(info.problems().is_empty());
    }

    #[test]
    fn metadata_repository_overrides_the_package_one() {
        let info = ServiceInfo::__from_manifest(
            "a",
            "0.1.0",
            "https://git/pkg",
            &[("repository", "https://git/meta")],
            &[],
        );
        assert_eq!(info.repository.as_deref(), Some("https://git/meta"));
    }

    #[test]
    fn no_metadata_means_no_team_and_no_problem() {
        let info = ServiceInfo::__from_manifest("a", "0.1.0", "", &[], &[]);
        assert_eq!(info, ServiceInfo::new("a", "0.1.0"));
    }

    #[test]
    fn problems_found_at_build_time_are_reported_as_configuration_problems() {
        let info = ServiceInfo::__from_manifest(
            "a",
            "0.1.0",
            "",
            &[],
            &[("[package.metadata.observe] team", "5", "a string")],
        );
        let problems: Vec<String> = info.problems().iter().map(|p| p.to_string()).collect();
        assert_eq!(
            problems,
            ["[package.metadata.observe] team(\"5\"): expected a string"]
        );
        assert!(info.problems()[0].is_from_code());
        assert_eq!(info.team, None);
    }

    #[test]
    fn the_fallback_names_are_never_empty() {
        assert!(!executable_name().is_empty());
        assert!(!host_name().is_empty());
    }
}
