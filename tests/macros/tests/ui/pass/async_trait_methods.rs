//! `#[async_trait]` methods: the boxed future is instrumented (not the call that
//! creates it), with arguments, errors and side effects.
use async_trait::async_trait;
use observe_core::traced;

#[async_trait]
trait Payments {
    async fn charge(&self, cents: u64) -> Result<u64, String>;
    async fn refund(&mut self, cents: u64);
}

struct Gateway {
    refunded: u64,
}

#[async_trait]
impl Payments for Gateway {
    #[traced(side_effect, args(cents), fields(refunded = self.refunded))]
    async fn charge(&self, cents: u64) -> Result<u64, String> {
        if cents == 0 {
            return Err("nothing to charge".to_owned());
        }
        tokio::task::yield_now().await;
        Ok(cents)
    }

    #[traced(name = "refund", ret)]
    async fn refund(&mut self, cents: u64) {
        self.refunded += cents;
    }
}

#[async_trait(?Send)]
trait Local {
    async fn local(&self) -> u8;
}

#[async_trait(?Send)]
impl Local for Gateway {
    #[traced]
    async fn local(&self) -> u8 {
        1
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut g = Gateway { refunded: 0 };
    assert_eq!(g.charge(5).await, Ok(5));
    assert!(g.charge(0).await.is_err());
    g.refund(5).await;
    assert_eq!(g.refunded, 5);
    assert_eq!(g.local().await, 1);
}
