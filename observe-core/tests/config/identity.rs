//! Service identity: `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OBSERVE_ENV`,
//! `service_info!()` and the fallbacks.

use observe_core::Builder;
use observe_core::config::ServiceInfo;

use crate::support::{config, env, problem, resolve};

fn executable_name() -> String {
    let path = std::env::current_exe().unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    match name.strip_suffix(std::env::consts::EXE_SUFFIX) {
        Some(stem) if !std::env::consts::EXE_SUFFIX.is_empty() => stem.to_owned(),
        _ => name,
    }
}

#[test]
fn without_anything_the_name_is_the_executable_and_the_version_unknown() {
    let c = config(&[]);
    assert_eq!(c.service.name, executable_name());
    assert_eq!(c.service.version, "unknown");
    assert_eq!(c.service.environment, None);
    assert!(!c.service.host.is_empty());
    assert!(c.service.attributes.is_empty());
}

#[test]
fn service_info_captures_the_calling_crate() {
    let info = observe_core::service_info!();
    assert_eq!(info.name, "observe-core", "the crate these tests belong to");
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        info.repository.as_deref(),
        Some(env!("CARGO_PKG_REPOSITORY"))
    );
    assert_eq!(
        info.team, None,
        "observe-core has no [package.metadata.observe]"
    );

    let c = resolve(Builder::new().ignore_env().service_info(info));
    assert_eq!(c.service.name, "observe-core");
    assert_eq!(c.service.version, env!("CARGO_PKG_VERSION"));
}

#[test]
fn service_info_metadata_reaches_the_config() {
    let info = ServiceInfo::new("checkout", "1.4.2")
        .with_team("payments")
        .with_owner("oncall@example.com")
        .with_runbook("https://wiki/runbooks/checkout")
        .with_repository("https://git/checkout");
    let c = resolve(Builder::new().ignore_env().service_info(info));
    let s = &c.service;
    assert_eq!((s.name.as_str(), s.version.as_str()), ("checkout", "1.4.2"));
    assert_eq!(s.team.as_deref(), Some("payments"));
    assert_eq!(s.owner.as_deref(), Some("oncall@example.com"));
    assert_eq!(s.runbook.as_deref(), Some("https://wiki/runbooks/checkout"));
    assert_eq!(s.repository.as_deref(), Some("https://git/checkout"));
}

#[test]
fn bad_manifest_metadata_is_reported_at_start_up() {
    // What `service_info!()` expands to for `team = 1` (observe-macros'
    // `manifest.rs` reads the table; its tests cover the reading).
    let info = ServiceInfo::__from_manifest(
        "a",
        "0.1.0",
        "",
        &[],
        &[("[package.metadata.observe] team", "1", "a string")],
    );
    let err = Builder::new()
        .ignore_env()
        .service_info(info)
        .build_config()
        .unwrap_err();
    assert_eq!(
        err.problems()[0].variable(),
        "[package.metadata.observe] team"
    );
    assert!(err.problems()[0].is_from_code());
}

#[test]
fn otel_service_name_wins_over_everything() {
    let c = resolve(
        env(&[
            ("OTEL_SERVICE_NAME", "from-env"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs"),
        ])
        .service_info(ServiceInfo::new("from-code", "1.0.0"))
        .service_name("from-builder"),
    );
    assert_eq!(c.service.name, "from-env");
    assert_eq!(c.service.version, "1.0.0");
}

#[test]
fn resource_attributes_supply_name_version_environment_and_host() {
    let c = resolve(
        env(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=billing,service.version=2.0.1,deployment.environment.name=staging,host.name=node-7,team=core%20platform,region=eu-west-1",
        )])
        .service_info(ServiceInfo::new("from-code", "1.0.0")),
    );
    let s = &c.service;
    assert_eq!(s.name, "billing");
    assert_eq!(s.version, "2.0.1");
    assert_eq!(s.environment.as_deref(), Some("staging"));
    assert_eq!(s.host, "node-7");
    assert_eq!(
        s.attributes,
        [
            ("team".to_owned(), "core platform".to_owned()),
            ("region".to_owned(), "eu-west-1".to_owned())
        ]
    );
}

#[test]
fn the_older_environment_key_is_read_too() {
    let c = config(&[("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod")]);
    assert_eq!(c.service.environment.as_deref(), Some("prod"));
    assert!(c.service.attributes.is_empty());
}

#[test]
fn observe_env_wins_over_the_resource_attribute_and_the_builder() {
    let c = resolve(
        env(&[
            ("OBSERVE_ENV", "production"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment.name=staging",
            ),
        ])
        .environment("dev"),
    );
    assert_eq!(c.service.environment.as_deref(), Some("production"));
    let c = resolve(env(&[]).environment("dev"));
    assert_eq!(c.service.environment.as_deref(), Some("dev"));
}

#[test]
fn environment_attributes_replace_builder_attributes_by_key() {
    let c = resolve(
        env(&[("OTEL_RESOURCE_ATTRIBUTES", "region=eu,zone=b")])
            .resource_attribute("region", "us")
            .resource_attribute("tier", "gold"),
    );
    assert_eq!(
        c.service.attributes,
        [
            ("region".to_owned(), "eu".to_owned()),
            ("tier".to_owned(), "gold".to_owned()),
            ("zone".to_owned(), "b".to_owned()),
        ]
    );
}

#[test]
fn bad_resource_attributes_name_the_variable_and_the_item() {
    let (var, value, expected) = problem(&[("OTEL_RESOURCE_ATTRIBUTES", "a=b,oops")]);
    assert_eq!(
        (var.as_str(), value.as_str()),
        ("OTEL_RESOURCE_ATTRIBUTES", "a=b,oops")
    );
    assert!(expected.ends_with("(item 2 has no `=`)"), "{expected}");
    let (_, _, expected) = problem(&[("OTEL_RESOURCE_ATTRIBUTES", "a=%E2%82")]);
    assert!(expected.contains("bad percent-encoding"), "{expected}");
}

#[test]
fn slos_in_the_manifest_add_to_code_and_environment_and_bad_ones_name_the_key() {
    use observe_core::slo::Slo;
    let info = ServiceInfo::new("checkout", "1.4.2").with_slos(
        "latency|GET /orders/{id}|99%|300ms; availability|GET /orders/{id}|99.9%|name=up",
    );
    let c = resolve(
        env(&[("OBSERVE_SLOS", "availability|GET /cart|99%|name=cart-up")])
            .slo(Slo::availability("GET /pay", 0.999).named("pay-up"))
            .service_info(info),
    );
    let names: Vec<_> = c.slo.slos.iter().map(|s| s.name().to_owned()).collect();
    assert_eq!(
        names,
        ["pay-up", "GET /orders/{id} latency", "up", "cart-up"],
        "code, then the manifest, then the environment"
    );

    let bad = ServiceInfo::new("checkout", "1.4.2").with_slos("latency|GET /x|99%");
    let err = Builder::new()
        .ignore_env()
        .service_info(bad)
        .build_config()
        .unwrap_err();
    assert_eq!(err.problems().len(), 1, "{err}");
    let p = &err.problems()[0];
    assert_eq!(p.variable(), "[package.metadata.observe] slos");
    assert_eq!(p.value(), "latency|GET /x|99%");
    assert!(p.expected().contains("needs a threshold"), "{err}");
}
