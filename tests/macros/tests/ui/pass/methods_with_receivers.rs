//! Methods with every kind of receiver, sync and async, returning borrows of `self`.
use std::pin::Pin;
use std::sync::Arc;

use observe_core::traced;

#[derive(Debug, Default)]
struct Store {
    name: String,
    items: Vec<u32>,
}

impl Store {
    #[traced]
    fn new(name: &str) -> Self {
        Store { name: name.to_owned(), items: vec![] }
    }

    #[traced]
    fn by_value(self) -> String {
        self.name
    }

    #[traced]
    fn by_ref(&self) -> &str {
        &self.name
    }

    #[traced]
    fn by_mut(&mut self) -> &mut Vec<u32> {
        &mut self.items
    }

    #[traced(args(self))]
    fn by_arc(self: Arc<Self>) -> usize {
        self.items.len()
    }

    #[traced]
    fn by_box(self: Box<Self>) -> Self {
        *self
    }

    #[traced]
    fn by_pin(self: Pin<&mut Self>) -> usize {
        self.items.len()
    }

    #[traced]
    async fn async_ref(&self) -> &str {
        &self.name
    }

    #[traced]
    async fn async_mut(&mut self, x: u32) -> usize {
        self.items.push(x);
        self.items.len()
    }

    #[traced]
    async fn async_arc(self: Arc<Self>) -> usize {
        self.items.len()
    }
}

#[derive(Debug)]
struct Generic<T>(T);

impl<T: Clone + std::fmt::Debug> Generic<T> {
    #[traced(args(self))]
    fn get(&self) -> T {
        self.0.clone()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut s = Store::new("s");
    s.by_mut().push(1);
    assert_eq!(s.by_ref(), "s");
    assert_eq!(s.async_ref().await, "s");
    assert_eq!(s.async_mut(2).await, 2);
    let mut pinned = Box::pin(Store::default());
    assert_eq!(pinned.as_mut().by_pin(), 0);
    let s = Box::new(s).by_box();
    let arc = Arc::new(s);
    assert_eq!(arc.clone().by_arc(), 2);
    assert_eq!(arc.clone().async_arc().await, 2);
    let s = Arc::try_unwrap(arc).unwrap();
    assert_eq!(s.by_value(), "s");
    assert_eq!(Generic(3).get(), 3);
}
