//! `async fn`s: unit, values, borrowed arguments and results, and futures that are
//! `Send` stay `Send`.
use observe_core::traced;

#[traced]
async fn unit() {}

#[traced]
async fn value(a: u32) -> u32 {
    tokio::task::yield_now().await;
    a + 1
}

#[traced]
async fn first<'a>(items: &'a [u8]) -> Option<&'a u8> {
    items.first()
}

#[traced]
async fn elided(s: &str) -> &str {
    s.trim()
}

#[traced]
async fn mutable(mut v: Vec<u8>) -> Vec<u8> {
    v.push(1);
    v
}

#[traced]
pub async fn calls_others() -> u32 {
    unit().await;
    value(1).await + u32::from(*first(&[3]).await.unwrap())
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(assert_send(calls_others()).await, 5);
    assert_eq!(elided(" x ").await, "x");
    assert_eq!(mutable(vec![]).await, vec![1]);
    tokio::spawn(calls_others()).await.unwrap();
}
