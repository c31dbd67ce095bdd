//! The internal-host matcher, configured through `OBSERVE_INTERNAL_HOSTS`.

use observe_core::config::InternalHosts;

use crate::support::{config, rejects};

fn hosts(list: &str) -> InternalHosts {
    config(&[("OBSERVE_INTERNAL_HOSTS", list)])
        .propagation
        .internal_hosts
}

#[test]
fn exact_hosts_wildcards_ips_and_ports() {
    let h = hosts(
        "orders.internal, *.svc.cluster.local, billing.example.com:8443, 10.0.0.7, [fd00::7]:9000",
    );
    assert_eq!(h.len(), 5);

    assert!(h.is_internal("orders.internal", Some(80)));
    assert!(
        h.is_internal("ORDERS.internal.", Some(443)),
        "case and trailing dot"
    );
    assert!(!h.is_internal("orders.internal.example.net", Some(80)));

    assert!(h.is_internal("payments.default.svc.cluster.local", Some(8080)));
    assert!(h.is_internal("a.b.c.svc.cluster.local", None), "any depth");
    assert!(
        !h.is_internal("svc.cluster.local", Some(80)),
        "not the suffix itself"
    );
    assert!(!h.is_internal("evilsvc.cluster.local", Some(80)));

    assert!(h.is_internal("billing.example.com", Some(8443)));
    assert!(
        !h.is_internal("billing.example.com", Some(443)),
        "another port"
    );
    assert!(
        !h.is_internal("billing.example.com", None),
        "no port never matches a port"
    );

    assert!(h.is_internal("10.0.0.7", Some(5432)));
    assert!(!h.is_internal("10.0.0.8", Some(5432)));
    assert!(
        h.is_internal("[fd00::7]", Some(9000)),
        "brackets as http::Uri::host gives them"
    );
    assert!(
        h.is_internal("fd00:0:0:0::7", Some(9000)),
        "compared as addresses"
    );
    assert!(!h.is_internal("[fd00::7]", Some(9001)));

    assert!(!h.is_internal("api.stripe.com", Some(443)));
    assert!(!h.is_internal("", None));
}

#[test]
fn nothing_is_internal_by_default() {
    let h = config(&[]).propagation.internal_hosts;
    assert!(h.is_empty());
    assert!(!h.is_internal("localhost", Some(80)));
}

#[test]
fn the_canonical_form_prints() {
    assert_eq!(
        hosts(" A.example.com ,*.Svc.local:80,::1 ").to_string(),
        "a.example.com,*.svc.local:80,[::1]"
    );
}

#[test]
fn bad_patterns_are_errors_naming_the_pattern() {
    rejects(
        "OBSERVE_INTERNAL_HOSTS",
        &["ok.internal,*"],
        "(\"*\" has a `*` that is not the leading `*.` of a wildcard)",
    );
    rejects(
        "OBSERVE_INTERNAL_HOSTS",
        &["10.0.0.0/8"],
        "CIDR ranges and URLs are not supported",
    );
    rejects(
        "OBSERVE_INTERNAL_HOSTS",
        &["api.internal:0"],
        "a port that is not a number from 1 to 65535",
    );
    rejects(
        "OBSERVE_INTERNAL_HOSTS",
        &["https://api.internal"],
        "a comma-separated list of host patterns",
    );
}
