//! `#[traced]` goes on functions, not on other items.
#![allow(unused_variables)]
use observe_core::traced;

#[traced]
struct Order {
    id: u64,
}

#[traced]
impl Order {
    fn id(&self) -> u64 {
        self.id
    }
}

#[traced]
mod orders {}

fn main() {}
