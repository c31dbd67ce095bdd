//! `side_effect` cannot return `impl Trait`: the dry-run value needs a named type.
#![allow(unused_variables)]
use observe_core::traced;

#[traced(side_effect)]
fn writes() -> impl Iterator<Item = u8> {
    std::iter::empty()
}

fn main() {}
