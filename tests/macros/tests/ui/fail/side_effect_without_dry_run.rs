//! `side_effect` needs a return type with a dry-run value; the error points at the
//! return type and says how to give it one.
#![allow(unused_variables)]
use observe_core::traced;

pub struct Connection;

#[traced(side_effect)]
fn connect() -> Connection {
    Connection
}

#[traced(side_effect)]
async fn open(path: &str) -> Result<std::fs::File, std::io::Error> {
    std::fs::File::open(path)
}

fn main() {}
