//! Unknown keys are errors (not warnings), with a hint for tracing's keys.
#![allow(unused_variables)]
use observe_core::traced;

#[traced(skip(password))]
fn login(password: &str) {}

#[traced(levle = "debug")]
fn typo() {}

#[traced(target = "db")]
fn tracing_key() {}

fn main() {}
