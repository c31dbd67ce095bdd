//! Functions returning `impl Trait`, trait objects, and futures written by hand.
use std::fmt::Display;
use std::future::Future;

use observe_core::traced;

#[traced]
fn evens(n: u32) -> impl Iterator<Item = u32> {
    (0..n).filter(|x| x % 2 == 0)
}

#[traced]
fn adder(k: u32) -> impl Fn(u32) -> u32 {
    move |x| x + k
}

#[traced]
fn boxed(flag: bool) -> Box<dyn Display> {
    if flag {
        return Box::new(1);
    }
    Box::new("one")
}

#[traced]
fn parsed(s: &str) -> Result<impl Display, std::num::ParseIntError> {
    let n: u32 = s.parse()?;
    Ok(n * 2)
}

// A hand-written future: the async block is instrumented, not the call that
// creates it.
#[traced]
fn later(x: u32) -> impl Future<Output = u32> {
    async move { x + 1 }
}

#[traced]
fn later_boxed(x: u32) -> std::pin::Pin<Box<dyn Future<Output = Result<u32, String>> + Send>> {
    Box::pin(async move { if x > 0 { Ok(x) } else { Err("zero".to_owned()) } })
}

#[traced]
async fn async_impl() -> impl Display {
    3
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(evens(5).count(), 3);
    assert_eq!(adder(1)(2), 3);
    assert_eq!(boxed(true).to_string(), "1");
    assert_eq!(boxed(false).to_string(), "one");
    assert_eq!(parsed("4").unwrap().to_string(), "8");
    assert!(parsed("x").is_err());
    assert_eq!(later(1).await, 2);
    assert_eq!(later_boxed(2).await, Ok(2));
    assert_eq!(async_impl().await.to_string(), "3");
}
