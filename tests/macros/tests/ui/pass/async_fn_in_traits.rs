//! `async fn` in traits (native, edition 2024): traced implementations and traced
//! default methods.
use observe_core::traced;

trait Repository {
    async fn load(&self, id: u64) -> Result<String, std::io::Error>;

    #[traced]
    async fn load_or_default(&self, id: u64) -> String {
        self.load(id).await.unwrap_or_default()
    }

    #[traced]
    fn name(&self) -> &'static str {
        "repository"
    }
}

struct Memory;

impl Repository for Memory {
    #[traced(args(id))]
    async fn load(&self, id: u64) -> Result<String, std::io::Error> {
        if id == 0 {
            return Err(std::io::Error::other("no such order"));
        }
        Ok(format!("order {id}"))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(Memory.load_or_default(0).await, "");
    assert_eq!(Memory.load_or_default(2).await, "order 2");
    assert_eq!(Memory.name(), "repository");
}
