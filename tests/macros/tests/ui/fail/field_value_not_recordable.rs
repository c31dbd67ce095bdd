//! A field without `%` or `?` must be a number, `bool` or string.
#![allow(unused_variables)]
use observe_core::traced;

#[derive(Debug)]
pub struct Cart;

#[traced(fields(cart = cart))]
fn checkout(cart: &Cart) {}

fn main() {}
