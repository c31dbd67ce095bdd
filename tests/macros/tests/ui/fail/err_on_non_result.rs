//! `err` needs a function returning `Result`.
#![allow(unused_variables)]
use observe_core::traced;

#[traced(err)]
fn count() -> usize {
    1
}

fn main() {}
