//! `args(..)` only names the function's own arguments.
#![allow(unused_variables)]
use observe_core::traced;

#[traced(args(id, user))]
fn load(id: u64) {}

#[traced(args(x))]
fn no_arguments() {}

fn main() {}
