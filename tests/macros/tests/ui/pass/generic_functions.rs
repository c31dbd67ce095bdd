//! Generic functions: type, lifetime and const parameters, `where` clauses,
//! `impl Trait` arguments, sync and async.
use std::fmt::Debug;

use observe_core::traced;

#[traced(args(x))]
fn identity<T: Debug>(x: T) -> T {
    x
}

#[traced]
fn longest<'a, 'b: 'a>(a: &'a str, b: &'b str) -> &'a str {
    if a.len() >= b.len() { a } else { b }
}

#[traced]
fn sum<const N: usize>(xs: [u32; N]) -> u32 {
    xs.iter().sum()
}

#[traced]
fn collect<I>(it: I) -> Vec<I::Item>
where
    I: IntoIterator,
    I::Item: Clone,
{
    it.into_iter().collect()
}

#[traced]
fn describe(x: impl Debug, y: &impl Debug) -> String {
    format!("{x:?} {y:?}")
}

#[traced]
async fn async_generic<T: Send + Debug>(x: T) -> Option<T> {
    Some(x)
}

#[traced]
fn generic_result<T: std::str::FromStr>(s: &str) -> Result<T, T::Err>
where
    T::Err: std::fmt::Display,
{
    s.parse()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(identity(3), 3);
    assert_eq!(longest("ab", "c"), "ab");
    assert_eq!(sum([1, 2, 3]), 6);
    assert_eq!(collect(vec![1, 2]), vec![1, 2]);
    assert_eq!(describe(1, &"a"), "1 \"a\"");
    assert_eq!(async_generic("x").await, Some("x"));
    assert_eq!(generic_result::<u8>("7").unwrap(), 7);
}
