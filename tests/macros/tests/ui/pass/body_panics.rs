//! Functions whose body panics or never returns still compile; the panic goes on
//! unwinding to the caller.
use observe_core::traced;

#[traced]
fn always_panics() -> u32 {
    panic!("always")
}

#[traced]
fn diverges(msg: &str) -> ! {
    panic!("{msg}")
}

#[traced]
fn sometimes(n: u32) -> u32 {
    if n == 0 {
        unreachable!("zero");
    }
    n
}

#[traced]
async fn async_panics() -> u32 {
    panic!("async")
}

fn main() {
    assert!(std::panic::catch_unwind(always_panics).is_err());
    assert!(std::panic::catch_unwind(|| diverges("x")).is_err());
    assert_eq!(sometimes(2), 2);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert!(std::panic::catch_unwind(|| rt.block_on(async_panics())).is_err());
}
