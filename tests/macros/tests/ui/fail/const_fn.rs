//! A `const fn` cannot open a span at run time.
#![allow(unused_variables)]
use observe_core::traced;

#[traced]
const fn answer() -> u32 {
    42
}

fn main() {}
