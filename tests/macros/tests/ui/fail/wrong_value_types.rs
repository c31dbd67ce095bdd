//! Values of the wrong shape say what is accepted.
#![allow(unused_variables)]
use observe_core::traced;

#[traced(name = 3)]
fn name_not_a_string() {}

#[traced(name = load_order)]
fn name_an_ident() {}

#[traced(level = "verbose")]
fn unknown_level() {}

#[traced(level = debug)]
fn level_not_a_string() {}

#[traced(level)]
fn level_without_value() {}

#[traced(kind = "sideways")]
fn unknown_kind() {}

#[traced(err(Verbose))]
fn unknown_err_format() -> Result<(), String> {
    Ok(())
}

#[traced(ret = true)]
fn ret_with_value() {}

#[traced(side_effect = true)]
fn side_effect_with_value() {}

#[traced(crate = "observe_core")]
fn crate_not_a_path() {}

#[traced(fields(order_id))]
fn field_without_value(order_id: u64) {}

#[traced(fields = 1)]
fn fields_not_a_list() {}

#[traced(args(1))]
fn arg_not_a_name() {}

#[traced(name = "a" level = "debug")]
fn missing_comma() {}

fn main() {}
