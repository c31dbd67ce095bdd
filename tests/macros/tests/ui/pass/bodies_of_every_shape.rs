//! Bodies that are a single expression (an `if`, a `match`, a block, a plain
//! value, a call) compile without a warning, async or not: the braces the expansion puts
//! around the body are never reported as unused (the lint's suggestion, removing
//! the function's own braces, would not compile). The bodies are on one line, as
//! the lint only looks at those: `rustfmt::skip` keeps them there.
#![deny(warnings)]

use observe_core::traced;

#[derive(Debug, PartialEq)]
struct E;

impl std::fmt::Display for E {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("E")
    }
}

#[rustfmt::skip]
mod async_fns {
    use super::*;

    #[traced]
    pub async fn single_if(id: u64) -> Result<u64, E> { if id == 0 { Err(E) } else { Ok(id) } }

    #[traced(err)]
    pub async fn single_if_err(id: u64) -> Result<u64, E> { if id == 0 { Err(E) } else { Ok(id) } }

    #[traced]
    pub async fn single_match(id: u64) -> Option<u64> { match id { 0 => None, n => Some(n) } }

    #[traced]
    pub async fn block_expression(id: u64) -> u64 { { let doubled = id * 2; doubled + 1 } }

    #[traced]
    pub async fn plain_value() -> u64 { 7 }

    #[traced]
    pub async fn unit_if(id: u64) { if id == 0 {} }

    #[traced]
    pub async fn unit_call(v: Vec<u8>) { drop(v) }
}

#[rustfmt::skip]
mod sync_fns {
    use super::*;

    #[traced]
    pub fn single_if(id: u64) -> Result<u64, E> { if id == 0 { Err(E) } else { Ok(id) } }

    #[traced(err)]
    pub fn single_if_err(id: u64) -> Result<u64, E> { if id == 0 { Err(E) } else { Ok(id) } }

    #[traced]
    pub fn single_match(id: u64) -> Option<u64> { match id { 0 => None, n => Some(n) } }

    #[traced]
    pub fn block_expression(id: u64) -> u64 { { let doubled = id * 2; doubled + 1 } }

    #[traced]
    pub fn plain_value() -> u64 { 7 }

    #[traced]
    pub fn unit_if(id: u64) { if id == 0 {} }

    #[traced]
    pub fn unit_call(v: Vec<u8>) { drop(v) }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(async_fns::single_if(0).await, Err(E));
    assert_eq!(async_fns::single_if_err(3).await, Ok(3));
    assert_eq!(async_fns::single_match(2).await, Some(2));
    assert_eq!(async_fns::block_expression(2).await, 5);
    assert_eq!(async_fns::plain_value().await, 7);
    async_fns::unit_if(0).await;
    async_fns::unit_call(vec![1]).await;
    assert_eq!(sync_fns::single_if(1), Ok(1));
    assert_eq!(sync_fns::single_if_err(0), Err(E));
    assert_eq!(sync_fns::single_match(0), None);
    assert_eq!(sync_fns::block_expression(1), 3);
    assert_eq!(sync_fns::plain_value(), 7);
    sync_fns::unit_if(1);
    sync_fns::unit_call(vec![1]);
}
