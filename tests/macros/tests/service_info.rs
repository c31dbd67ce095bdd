//! `service_info!()` reads this crate's `[package.metadata.observe]` when it
//! expands (observe-macros' `manifest.rs`): the values arrive as literals.

#[test]
fn the_manifest_metadata_is_captured_at_build_time() {
    let info = observe_core::service_info!();
    assert_eq!(info.name, "observe-macros-tests");
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(info.team.as_deref(), Some("observability"));
    assert_eq!(
        info.runbook.as_deref(),
        Some("https://wiki.example.com/runbooks/macros")
    );
    assert_eq!(info.owner, None);
    // No `repository` in the table: the package's own.
    assert_eq!(
        info.repository.as_deref(),
        Some("https://example.com/observe-macros-tests")
    );
    let config = observe_core::Builder::new()
        .ignore_env()
        .service_info(info)
        .build_config()
        .expect("no problem in the table");
    assert_eq!(config.service.team.as_deref(), Some("observability"));
}
