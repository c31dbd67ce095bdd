//! `#[traced(side_effect)]` on functions returning every type with a dry-run value,
//! and a user type that implements `DryRun`.
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use observe_core::{DryRun, traced};

#[derive(Debug, PartialEq)]
struct Receipt {
    id: Option<String>,
}

impl DryRun for Receipt {
    fn dry_run() -> Self {
        Receipt { id: None }
    }
}

#[traced(side_effect)]
fn unit() {}

#[traced(side_effect)]
fn boolean() -> bool {
    true
}

#[traced(side_effect)]
fn number() -> u64 {
    1
}

#[traced(side_effect)]
fn float() -> f64 {
    1.0
}

#[traced(side_effect)]
fn option() -> Option<std::fs::File> {
    None
}

#[traced(side_effect)]
fn result() -> Result<(), std::io::Error> {
    Ok(())
}

#[traced(side_effect)]
fn result_of_vec() -> Result<Vec<u8>, String> {
    Ok(vec![1])
}

#[traced(side_effect)]
fn collections() -> (
    String,
    HashMap<String, u8>,
    BTreeMap<u8, u8>,
    HashSet<u8>,
    BTreeSet<u8>,
    VecDeque<u8>,
) {
    Default::default()
}

#[traced(side_effect)]
fn own_type(id: &str) -> Result<Receipt, String> {
    Ok(Receipt { id: Some(id.to_owned()) })
}

#[traced(side_effect)]
async fn async_side_effect(cents: u64) -> Result<u64, String> {
    Ok(cents)
}

struct Db;

impl Db {
    #[traced(side_effect)]
    fn insert(&mut self, _row: &str) -> Result<u64, String> {
        Ok(1)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    unit();
    assert!(boolean());
    assert_eq!(number(), 1);
    assert_eq!(float(), 1.0);
    assert!(option().is_none());
    assert!(result().is_ok());
    assert_eq!(result_of_vec().unwrap(), vec![1]);
    assert!(collections().0.is_empty());
    assert_eq!(own_type("r").unwrap().id.as_deref(), Some("r"));
    assert_eq!(async_side_effect(3).await, Ok(3));
    assert_eq!(Db.insert("x"), Ok(1));
}
