//! Errors are recorded with `Display` unless `err(Debug)` is given: the error says
//! which to use.
#![allow(unused_variables)]
use observe_core::traced;

#[derive(Debug)]
pub struct NoDisplay;

pub struct Neither;

#[traced]
fn fails() -> Result<(), NoDisplay> {
    Err(NoDisplay)
}

#[traced(err(Debug))]
async fn fails_debug() -> Result<(), Neither> {
    Err(Neither)
}

fn main() {}
