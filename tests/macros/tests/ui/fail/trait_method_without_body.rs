//! A trait method without a body has nothing to trace.
#![allow(unused_variables)]
use observe_core::traced;

trait Repository {
    #[traced]
    fn load(&self, id: u64) -> Option<String>;
}

fn main() {}
