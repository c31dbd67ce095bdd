//! The checked-in code of `echo.proto` is what tonic-prost-build makes of it now
//! (needs `protoc`, which scripts/setup.sh installs). `OBSERVE_REGENERATE=1`
//! rewrites it.

use std::path::PathBuf;

#[test]
fn echo_rs_is_what_tonic_prost_build_generates() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/grpc");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("echo-codegen");
    std::fs::create_dir_all(&out).unwrap();
    tonic_prost_build::configure()
        .out_dir(&out)
        .emit_rerun_if_changed(false)
        .compile_protos(&[dir.join("echo.proto")], std::slice::from_ref(&dir))
        .expect("protoc runs (scripts/setup.sh installs protobuf-compiler)");
    let generated = std::fs::read_to_string(out.join("observe.test.rs")).unwrap();
    let checked_in = dir.join("echo.rs");
    if std::env::var_os("OBSERVE_REGENERATE").is_some() {
        std::fs::write(&checked_in, &generated).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&checked_in).unwrap_or_default(),
        generated,
        "tests/grpc/echo.rs is stale: run with OBSERVE_REGENERATE=1"
    );
}
