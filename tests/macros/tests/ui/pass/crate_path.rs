//! `#[traced(crate = path)]`: observe reached through a re-export, under another
//! name, with no `observe_core` in scope.
mod platform {
    pub mod telemetry {
        pub use observe_core::*;
    }
}

mod service {
    use crate::platform::telemetry::traced;

    #[traced(crate = crate::platform::telemetry, side_effect)]
    pub fn sync_call(x: u8) -> Result<u8, String> {
        Ok(x)
    }

    #[traced(crate = crate::platform::telemetry, args(x))]
    pub async fn async_call(x: u8) -> u8 {
        x
    }
}

extern crate observe_core as renamed;

#[renamed::traced(crate = renamed)]
fn via_renamed_crate() -> u8 {
    1
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(service::sync_call(1), Ok(1));
    assert_eq!(service::async_call(2).await, 2);
    assert_eq!(via_renamed_crate(), 1);
}
