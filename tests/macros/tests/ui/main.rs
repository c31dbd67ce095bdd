//! trybuild UI cases of `#[traced]`: every supported shape compiles (`pass/`), and
//! every misuse is a compile error pointing at the offending token with a message
//! that says what is accepted (`fail/`, with the expected `.stderr`).
//!
//! Regenerate the expected output after an intended change with
//! `TRYBUILD=overwrite cargo test -p observe-macros-tests --test ui`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
