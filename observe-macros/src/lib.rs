//! The `#[traced]` attribute of observe.
//!
//! Do not depend on this crate directly: use `observe_core::traced` or the
//! re-export of an adapter (`observe_axum::traced`, `observe_tonic::traced`). The
//! expansion names only `::observe_core::__private` paths (or `<path>::__private`
//! with `#[traced(crate = path)]`), whose shape is not a stable API.
//!
//! `lib.rs` is the entry point; `args.rs` parses the attribute's arguments and
//! `expand.rs` generates the instrumented function. Tests of `#[traced]` (trybuild
//! UI cases and behaviour tests) live in the `tests/macros` crate of the workspace.

use proc_macro::TokenStream;

mod args;
mod expand;
mod manifest;

/// What `observe_core::service_info!()` expands through: the application's
/// `[package.metadata.observe]`, read from its `Cargo.toml` at expansion. The input
/// is observe-core's path. Not for direct use.
#[doc(hidden)]
#[proc_macro]
pub fn __service_info(root: TokenStream) -> TokenStream {
    manifest::expand(root.into()).into()
}

// The examples need observe-core (which depends on this crate); they run as
// doctests of `tests/macros`, which includes this same file.
#[cfg_attr(not(doctest), doc = include_str!("traced.md"))]
#[proc_macro_attribute]
pub fn traced(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand_with(attr, item, quote::quote!(::observe_core))
}

/// `#[traced]` as `observe_axum::traced`: the expansion reaches observe-core through
/// observe-axum, so an axum service needs no other dependency. Not for direct use.
#[doc(hidden)]
#[proc_macro_attribute]
pub fn traced_axum(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand_with(attr, item, quote::quote!(::observe_axum::observe_core))
}

/// `#[traced]` as `observe_tonic::traced`. Not for direct use.
#[doc(hidden)]
#[proc_macro_attribute]
pub fn traced_tonic(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand_with(attr, item, quote::quote!(::observe_tonic::observe_core))
}

fn expand_with(
    attr: TokenStream,
    item: TokenStream,
    root: proc_macro2::TokenStream,
) -> TokenStream {
    let out = expand::expand(attr.into(), item.into(), root);
    if debug_requested() {
        print_expansion(&out);
    }
    out.into()
}

/// `OBSERVE_MACROS_DEBUG=1` (any value but empty or `0`) at compile time prints each
/// expansion to stderr.
fn debug_requested() -> bool {
    std::env::var_os("OBSERVE_MACROS_DEBUG").is_some_and(|v| !v.is_empty() && v != "0")
}

// Printing is the point: the user asked for the expansion on the compiler's stderr.
#[allow(clippy::print_stderr)]
fn print_expansion(out: &proc_macro2::TokenStream) {
    let at = proc_macro::Span::call_site();
    eprintln!(
        "// #[traced] expansion at {}:{}\n{}",
        at.file(),
        at.line(),
        expand::debug_dump(out)
    );
}
