//! A key, a field or an argument given twice is an error at the repetition.
#![allow(unused_variables)]
use observe_core::traced;

#[traced(level = "debug", level = "info")]
fn twice() {}

#[traced(fields(a = 1), fields(b = 2))]
fn two_field_lists() {}

#[traced(fields(order.id = 1, order.id = 2))]
fn same_field() {}

#[traced(args(a, %a))]
fn same_arg(a: u8) {}

fn main() {}
