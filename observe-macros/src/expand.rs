//! Generation of the instrumented function.
//!
//! The shapes, by the kind of function:
//!
//! - synchronous: the span is pinned on the caller's stack
//!   (`ScopedSpan`) and the body runs in a `move` closure inside it, so that `?` and
//!   `return` come back through the macro's code (to record the outcome) and a
//!   panic is recorded on the span before it continues unwinding;
//! - `async fn`: the span is opened when the future is first polled, into a local
//!   of the `async fn`'s state where it stays, and the body becomes an `async
//!   move` block handed with a borrow of the span to `instrument_in` (whose hook
//!   records the outcome on the span when the body completes), so the span is
//!   entered on every poll and never held across an `.await`;
//! - a synchronous function whose body ends in an async block, possibly
//!   `Box::pin`-ed (what `#[async_trait]` generates, and hand-written
//!   `-> impl Future`): that block is instrumented as if it were an `async fn`.
//!
//! Every path in the output goes through `<root>::__private`, where `<root>` is
//! `::observe_core` or the `crate = path` override.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;
use syn::visit_mut::VisitMut;
use syn::{
    AttrStyle, Block, Expr, ExprAsync, FnArg, GenericArgument, Ident, ItemFn, LitStr, Pat,
    PathArguments, ReturnType, Stmt, Type, TypeParamBound,
};

use crate::args::{Args, Format};

/// Expands `#[traced(attr)] item`. Errors become `compile_error!`s, followed by the
/// original item so that they are the only errors the user sees.
/// Expands `#[traced]`; generated code names `default_root::__private` unless the
/// attribute says `crate = path`.
pub(crate) fn expand(
    attr: TokenStream,
    item: TokenStream,
    default_root: TokenStream,
) -> TokenStream {
    match try_expand(attr, item.clone(), default_root) {
        Ok(out) => out,
        Err(e) => {
            let mut out = e.into_compile_error();
            out.extend(item);
            out
        }
    }
}

fn try_expand(
    attr: TokenStream,
    item: TokenStream,
    default_root: TokenStream,
) -> syn::Result<TokenStream> {
    let args: Args = syn::parse2(attr)?;
    let func = parse_function(item)?;
    Traced::new(args, &func, default_root)?.generate(&func)
}

/// Parses the item, or explains why `#[traced]` does not apply to it.
fn parse_function(item: TokenStream) -> syn::Result<ItemFn> {
    let err = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(f) => {
            if let Some(c) = f.sig.constness {
                return Err(syn::Error::new(
                    c.span,
                    "#[traced] cannot be used on a `const fn`: a span is opened, timed and \
                     recorded at run time, which a `const fn` cannot do",
                ));
            }
            return Ok(f);
        }
        Err(e) => e,
    };
    if let Ok(f) = syn::parse2::<syn::TraitItemFn>(item.clone()) {
        return Err(syn::Error::new(
            f.sig.ident.span(),
            "#[traced] needs a function body: put it on the trait method's implementations \
             (or on a default method with a body)",
        ));
    }
    if let Ok(i) = syn::parse2::<syn::Item>(item) {
        let (what, span) = describe_item(&i);
        return Err(syn::Error::new(
            span,
            format!(
                "#[traced] can only be applied to functions and methods, not to {what}; \
                 put it on each function to trace"
            ),
        ));
    }
    Err(err)
}

fn describe_item(item: &syn::Item) -> (&'static str, Span) {
    use syn::Item::*;
    match item {
        Struct(i) => ("a struct", i.struct_token.span),
        Enum(i) => ("an enum", i.enum_token.span),
        Union(i) => ("a union", i.union_token.span),
        Impl(i) => ("an `impl` block", i.impl_token.span),
        Trait(i) => ("a trait", i.trait_token.span),
        Mod(i) => ("a module", i.mod_token.span),
        Const(i) => ("a constant", i.const_token.span),
        Static(i) => ("a static", i.static_token.span),
        Type(i) => ("a type alias", i.type_token.span),
        Use(i) => ("a `use` declaration", i.use_token.span),
        ExternCrate(i) => ("an `extern crate`", i.extern_token.span),
        ForeignMod(i) => ("an `extern` block", i.abi.extern_token.span),
        Macro(i) => ("a macro invocation", i.mac.path.span()),
        _ => ("this item", item.span()),
    }
}

/// How the function runs, which decides where its span lives.
enum Shape {
    /// A synchronous body.
    Sync,
    /// `async fn`.
    AsyncFn,
    /// A synchronous function whose last statement is an async block (index of that
    /// statement), possibly inside `Box::pin(..)`.
    AsyncBlock { stmt: usize },
}

/// Everything the generation needs, resolved from the arguments and signature.
struct Traced {
    args: Args,
    /// `<root>::__private`.
    private: TokenStream,
    shape: Shape,
    /// The type the body evaluates to (the function's output, or the future's), when
    /// it can be named. `None` for unit.
    output: Output,
    /// How the `Err` of a `Result` is recorded, if it is.
    err: Option<(Format, Span)>,
}

/// The value type of the function's body.
enum Output {
    /// No return type: `()`.
    Unit,
    /// A type written in the signature.
    Type(Box<Type>),
    /// The output of a future whose type cannot be read from the signature.
    Unknown,
}

impl Output {
    fn ty(&self) -> Option<&Type> {
        match self {
            Output::Type(t) => Some(t),
            _ => None,
        }
    }

    /// Where errors about the return type point.
    fn span(&self, func: &ItemFn) -> Span {
        match (&func.sig.output, self) {
            (_, Output::Type(t)) => t.span(),
            (ReturnType::Type(_, t), _) => t.span(),
            (ReturnType::Default, _) => func.sig.ident.span(),
        }
    }
}

impl Traced {
    fn new(args: Args, func: &ItemFn, default_root: TokenStream) -> syn::Result<Traced> {
        let root = match &args.krate {
            Some(path) => path.to_token_stream(),
            None => default_root,
        };
        let private = quote!(#root::__private);

        let shape = if func.sig.asyncness.is_some() {
            Shape::AsyncFn
        } else if let Some(stmt) = async_block_stmt(&func.block) {
            Shape::AsyncBlock { stmt }
        } else {
            Shape::Sync
        };

        let output = match (&shape, &func.sig.output) {
            (Shape::AsyncBlock { .. }, ReturnType::Type(_, ty)) => {
                future_output(ty).map_or(Output::Unknown, |t| Output::Type(Box::new(t.clone())))
            }
            (Shape::AsyncBlock { .. }, ReturnType::Default) => Output::Unknown,
            (_, ReturnType::Type(_, ty)) => Output::Type(ty.clone()),
            (_, ReturnType::Default) => Output::Unit,
        };

        let err = match args.err {
            Some(e) => Some(e),
            None => output
                .ty()
                .filter(|t| is_result(t))
                .map(|t| (Format::Display, t.span())),
        };

        validate_args(&args, func, &shape)?;

        if let Some(key) = args.side_effect {
            match &output {
                Output::Type(t) if contains_impl_trait(t) => {
                    let mut e = syn::Error::new(
                        t.span(),
                        "`side_effect` needs a return type without `impl Trait`: in a tracer \
                         bullet the function returns `DryRun::dry_run()`, which must name a \
                         concrete type",
                    );
                    e.combine(syn::Error::new(key, "`side_effect` is requested here"));
                    return Err(e);
                }
                Output::Unknown => {
                    return Err(syn::Error::new(
                        key,
                        "`side_effect` needs to know the function's output type: write it as \
                         `async fn` or return `impl Future<Output = T>`",
                    ));
                }
                _ => {}
            }
        }

        Ok(Traced {
            args,
            private,
            shape,
            output,
            err,
        })
    }

    fn generate(&self, func: &ItemFn) -> syn::Result<TokenStream> {
        let (outer, inner): (Vec<_>, Vec<_>) = func
            .attrs
            .iter()
            .partition(|a| matches!(a.style, AttrStyle::Outer));
        let vis = &func.vis;
        let sig = &func.sig;
        let body = match &self.shape {
            Shape::Sync => self.sync_body(func),
            Shape::AsyncFn => self.async_fn_body(func),
            Shape::AsyncBlock { stmt } => self.async_block_body(func, *stmt),
        };
        Ok(quote! {
            #(#outer)*
            #vis #sig {
                #(#inner)*
                #body
            }
        })
    }

    /// The `static` describing this function.
    fn callsite(&self, func: &ItemFn) -> TokenStream {
        let p = &self.private;
        let ident = &func.sig.ident;
        let fn_name = ident.unraw().to_string();
        let name = match &self.args.name {
            Some(n) => n.clone(),
            None => LitStr::new(&fn_name, ident.span()),
        };
        let level = Ident::new(self.args.level_const(), Span::call_site());
        let kind = Ident::new(self.args.kind_variant(), Span::call_site());
        // `file!()`/`line!()` spanned at the function's name: the location users see.
        let file = quote_spanned!(ident.span()=> ::core::file!());
        let line = quote_spanned!(ident.span()=> ::core::line!());
        quote! {
            static __OBSERVE_CALLSITE: #p::Callsite = #p::Callsite::new(
                #name,
                ::core::concat!(::core::module_path!(), "::", #fn_name),
                #file,
                #line,
                #p::Level::#level,
                #p::SpanKind::#kind,
            );
        }
    }

    /// Records `fields(..)` and `args(..)` on the span `span` (an expression of type
    /// `&Span`), only when the span records.
    fn prelude(&self, span: &TokenStream) -> TokenStream {
        let p = &self.private;
        let mut records = Vec::new();
        for f in &self.args.fields {
            let key = LitStr::new(&f.key, f.key_span);
            let value = convert(p, f.format, &f.value.to_token_stream(), f.value.span());
            records.push(quote!(#p::record(#span, #key, || #value);));
        }
        for a in &self.args.args {
            let key = LitStr::new(&a.ident.unraw().to_string(), a.ident.span());
            let ident = &a.ident;
            let value = convert(p, a.format, &quote!(#ident), a.ident.span());
            records.push(quote!(#p::record(#span, #key, || #value);));
        }
        if records.is_empty() {
            return TokenStream::new();
        }
        quote! {
            if #p::is_recording(#span) {
                #(#records)*
            }
        }
    }

    /// In a tracer bullet, records the skipped side effect and returns the dry-run
    /// value (from the function, or from the async block being instrumented).
    fn side_effect(&self, span: &TokenStream, func: &ItemFn) -> TokenStream {
        if self.args.side_effect.is_none() {
            return TokenStream::new();
        }
        let p = &self.private;
        let ret_span = self.output.span(func);
        let ty = match &self.output {
            Output::Type(t) => t.to_token_stream(),
            _ => quote!(()),
        };
        let dry_run = quote_spanned!(ret_span=> <#ty as #p::DryRun>::dry_run());
        quote! {
            if #p::is_tracer_bullet_span(#span) {
                #p::side_effect_skipped(#span, __OBSERVE_CALLSITE.function());
                return #dry_run;
            }
        }
    }

    /// Where errors about the outcome point: the return type.
    fn outcome_span(&self, func: &ItemFn) -> Span {
        match self.err {
            Some((_, at)) if self.args.err.is_none() => at,
            _ => self.output.span(func),
        }
    }

    /// Records the outcome held in `__observe_ret` on the span `span` (an
    /// expression of type `&Span`): the value itself after a synchronous body
    /// (`by_ref`), a reference to it in the hook of an instrumented async body.
    fn outcome(&self, span: &TokenStream, by_ref: bool, func: &ItemFn) -> TokenStream {
        let p = &self.private;
        let mut out = TokenStream::new();
        if let Some((format, _)) = self.err {
            let at = self.outcome_span(func);
            // The whole call carries the return type's span, so that a missing
            // `TracedResult`/`Display`/`Debug` is reported once, there.
            let ret = if by_ref {
                quote_spanned!(at=> &__observe_ret)
            } else {
                quote_spanned!(at=> __observe_ret)
            };
            out.extend(match format {
                Format::Debug => quote_spanned!(at=> #p::record_result_debug(#span, #ret);),
                _ => quote_spanned!(at=> #p::record_result_display(#span, #ret);),
            });
        }
        if let Some(format) = self.args.ret {
            let value = convert(p, format, &quote!(__observe_ret), self.output.span(func));
            out.extend(quote! {
                if #p::is_recording(#span) {
                    #p::record(#span, "return", || #value);
                }
            });
        }
        out
    }

    fn has_outcome(&self) -> bool {
        self.err.is_some() || self.args.ret.is_some()
    }

    fn sync_body(&self, func: &ItemFn) -> TokenStream {
        let p = &self.private;
        let callsite = self.callsite(func);
        let span = quote!(#p::sync_span(&__observe_span));
        let prelude = self.prelude(&span);
        let side_effect = self.side_effect(&span, func);
        let outcome = self.outcome(&span, true, func);
        let block = &func.block;
        // The closure's return type is the function's (with `impl Trait` left to
        // inference), so `?` converts errors and `return` coerces as in the original.
        let ret = match &func.sig.output {
            ReturnType::Default => quote!(-> ()),
            ReturnType::Type(arrow, ty) => {
                let ty = erase_impl_trait(ty);
                quote!(#arrow #ty)
            }
        };
        quote! {
            #callsite
            let __observe_span = ::core::pin::pin!(#p::start_sync(&__OBSERVE_CALLSITE));
            #prelude
            #side_effect
            #[allow(clippy::redundant_closure_call, clippy::unused_unit, unused_braces)]
            let __observe_ret = #p::run(__observe_span.as_ref(), move || #ret #block);
            #outcome
            __observe_ret
        }
    }

    /// The statements that open the span and return the instrumented future's
    /// output; `inner` is the async block (with its `async`/`move` tokens) that holds
    /// the original body.
    fn instrumented(&self, func: &ItemFn, inner: TokenStream) -> TokenStream {
        let p = &self.private;
        let callsite = self.callsite(func);
        let span = quote!(#p::async_span(&__observe_span));
        let prelude = self.prelude(&span);
        let side_effect = self.side_effect(&span, func);
        // The body future is made once and awaited either inside its span or bare
        // (observe not initialised): the bare path never builds the span's future.
        // The span stays where it was opened, a local of the `async fn`'s state,
        // and the instrumented future borrows it (moved into that future, it was
        // copied right after it was written, a stall). The outcome is recorded by
        // the instrumented future with the span in hand (a span below the level
        // filter is never current, but its outcome decides its latency's `outcome`
        // label).
        let on_ready = if self.has_outcome() {
            let outcome = self.outcome(&quote!(__observe_span), false, func);
            quote!(|__observe_span: &#p::Span, __observe_ret| { #outcome })
        } else {
            quote!(|_: &#p::Span, _| {})
        };
        quote! {
            #callsite
            let mut __observe_span = #p::start_async(&__OBSERVE_CALLSITE);
            #prelude
            #side_effect
            let __observe_body = #inner;
            match &mut __observe_span {
                ::core::option::Option::Some(__observe_span) => {
                    #p::instrument_in(__observe_body, __observe_span, #on_ready).await
                }
                ::core::option::Option::None => __observe_body.await,
            }
        }
    }

    fn async_fn_body(&self, func: &ItemFn) -> TokenStream {
        let block = &func.block;
        // An unreachable `return` of the declared type, so that `?` in the body's
        // async block infers the function's error type (as tracing-attributes does).
        let fake_return = match &func.sig.output {
            ReturnType::Type(_, ty) if !contains_impl_trait(ty) => quote_spanned! {ty.span()=>
                #[allow(
                    unknown_lints,
                    unreachable_code,
                    clippy::diverging_sub_expression,
                    clippy::empty_loop,
                    clippy::let_unit_value,
                    clippy::needless_return,
                    clippy::unreachable
                )]
                if false {
                    let __observe_fake_return: #ty = loop {};
                    return __observe_fake_return;
                }
            },
            _ => TokenStream::new(),
        };
        // The async block's body is the function's own block, with the fake return
        // as its first statement (it binds nothing): wrapped in braces of ours, a
        // body that is one expression (`{ if .. }`, `{ 7 }`) is a block returning a
        // block, which `unused_braces` reports, suggesting to remove the
        // function's braces (tracing-attributes likewise writes `async move #block`).
        let mut body = TokenStream::new();
        block.brace_token.surround(&mut body, |body| {
            body.extend(fake_return);
            for stmt in &block.stmts {
                stmt.to_tokens(body);
            }
        });
        self.instrumented(func, quote!(async move #body))
    }

    fn async_block_body(&self, func: &ItemFn, index: usize) -> TokenStream {
        let stmts = &func.block.stmts;
        let before = &stmts[..index];
        let after = &stmts[index + 1..];
        let Stmt::Expr(expr, semi) = &stmts[index] else {
            unreachable!("async_block_stmt only returns expression statements")
        };
        let rewrite = |a: &ExprAsync| {
            let attrs = &a.attrs;
            let capture = &a.capture;
            let async_token = &a.async_token;
            let block = &a.block;
            let inner = quote!(#async_token #capture #block);
            let body = self.instrumented(func, inner);
            quote!(#(#attrs)* #async_token #capture { #body })
        };
        let new_expr = match expr {
            Expr::Async(a) => rewrite(a),
            Expr::Call(call) => {
                let Some(Expr::Async(a)) = call.args.first() else {
                    unreachable!("async_block_stmt checked the argument")
                };
                let attrs = &call.attrs;
                let f = &call.func;
                let rewritten = rewrite(a);
                quote!(#(#attrs)* #f(#rewritten))
            }
            _ => unreachable!("async_block_stmt only returns async blocks and calls"),
        };
        quote! {
            #(#before)*
            #new_expr #semi
            #(#after)*
        }
    }
}

/// `%`, `?` or a bare value, as an expression of type `Value`.
fn convert(p: &TokenStream, format: Format, expr: &TokenStream, span: Span) -> TokenStream {
    match format {
        Format::Display => quote_spanned!(span=> #p::display(&(#expr))),
        Format::Debug => quote_spanned!(span=> #p::debug(&(#expr))),
        Format::Value => quote_spanned!(span=> #p::field_value(&(#expr))),
    }
}

/// The index of the last statement when it is the function's value and an async
/// block, bare or as the single argument of a call ending in `pin`
/// (`Box::pin(async move { .. })`, as `#[async_trait]` writes it).
fn async_block_stmt(block: &Block) -> Option<usize> {
    let last = block.stmts.len().checked_sub(1)?;
    let Stmt::Expr(expr, None) = &block.stmts[last] else {
        return None;
    };
    match expr {
        Expr::Async(_) => Some(last),
        Expr::Call(call) => {
            let Expr::Path(path) = &*call.func else {
                return None;
            };
            let is_pin = path.path.segments.last().is_some_and(|s| s.ident == "pin");
            let single_async = call.args.len() == 1 && matches!(call.args[0], Expr::Async(_));
            (is_pin && single_async).then_some(last)
        }
        _ => None,
    }
}

/// The `Output = T` of the future a return type names (`impl Future<Output = T>`,
/// `Pin<Box<dyn Future<Output = T> + Send + 'a>>`).
fn future_output(ty: &Type) -> Option<&Type> {
    fn in_bounds<'a>(bounds: impl IntoIterator<Item = &'a TypeParamBound>) -> Option<&'a Type> {
        bounds.into_iter().find_map(|b| match b {
            TypeParamBound::Trait(t) => in_path(&t.path),
            _ => None,
        })
    }
    fn in_path(path: &syn::Path) -> Option<&Type> {
        path.segments.iter().find_map(|seg| match &seg.arguments {
            PathArguments::AngleBracketed(a) => a.args.iter().find_map(|arg| match arg {
                GenericArgument::AssocType(at) if at.ident == "Output" => Some(&at.ty),
                GenericArgument::Type(t) => future_output(t),
                _ => None,
            }),
            _ => None,
        })
    }
    match ty {
        Type::Path(p) => in_path(&p.path),
        Type::ImplTrait(i) => in_bounds(&i.bounds),
        Type::TraitObject(o) => in_bounds(&o.bounds),
        Type::Paren(p) => future_output(&p.elem),
        Type::Group(g) => future_output(&g.elem),
        _ => None,
    }
}

/// Whether a type is spelled as a `Result` (`Result<T, E>`, `io::Result<T>`,
/// `anyhow::Result<T>`, ...): its `Err` then marks the span failed.
fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => {
            p.qself.is_none() && p.path.segments.last().is_some_and(|s| s.ident == "Result")
        }
        Type::Paren(p) => is_result(&p.elem),
        Type::Group(g) => is_result(&g.elem),
        _ => false,
    }
}

fn contains_impl_trait(ty: &Type) -> bool {
    erase_impl_trait(ty) != *ty
}

/// The type with every `impl Trait` replaced by `_` (a closure's return type may
/// leave parts to inference; it may not name `impl Trait`).
fn erase_impl_trait(ty: &Type) -> Type {
    struct Erase;
    impl VisitMut for Erase {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if let Type::ImplTrait(i) = ty {
                *ty = Type::Infer(syn::TypeInfer {
                    underscore_token: syn::Token![_](i.impl_token.span),
                });
            } else {
                syn::visit_mut::visit_type_mut(self, ty);
            }
        }
    }
    let mut ty = ty.clone();
    Erase.visit_type_mut(&mut ty);
    ty
}

/// Checks that every name in `args(..)` is an argument of the function.
fn validate_args(args: &Args, func: &ItemFn, shape: &Shape) -> syn::Result<()> {
    if args.args.is_empty() {
        return Ok(());
    }
    let mut names = Vec::new();
    for input in &func.sig.inputs {
        match input {
            FnArg::Receiver(r) => names.push(Ident::new("self", r.self_token.span)),
            FnArg::Typed(t) => match shape {
                // `#[async_trait]` binds destructured arguments inside the future
                // only: offer the plain ones.
                Shape::AsyncBlock { .. } => {
                    if let Pat::Ident(i) = &*t.pat {
                        names.push(i.ident.clone());
                    }
                }
                _ => pattern_idents(&t.pat, &mut names),
            },
        }
    }
    for a in &args.args {
        if !names.iter().any(|n| n == &a.ident) {
            let listed = if names.is_empty() {
                format!("`{}` has no arguments", func.sig.ident)
            } else {
                let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
                format!("its arguments are {}", list.join(", "))
            };
            return Err(syn::Error::new(
                a.ident.span(),
                format!(
                    "`{}` is not an argument of `{}`: {listed} (use `fields(name = expr)` for \
                     other values)",
                    a.ident, func.sig.ident
                ),
            ));
        }
    }
    Ok(())
}

fn pattern_idents(pat: &Pat, out: &mut Vec<Ident>) {
    match pat {
        Pat::Ident(i) => {
            out.push(i.ident.clone());
            if let Some((_, sub)) = &i.subpat {
                pattern_idents(sub, out);
            }
        }
        Pat::Tuple(t) => t.elems.iter().for_each(|p| pattern_idents(p, out)),
        Pat::TupleStruct(t) => t.elems.iter().for_each(|p| pattern_idents(p, out)),
        Pat::Struct(s) => s.fields.iter().for_each(|f| pattern_idents(&f.pat, out)),
        Pat::Reference(r) => pattern_idents(&r.pat, out),
        Pat::Slice(s) => s.elems.iter().for_each(|p| pattern_idents(p, out)),
        Pat::Type(t) => pattern_idents(&t.pat, out),
        Pat::Paren(p) => pattern_idents(&p.pat, out),
        _ => {}
    }
}

/// The expansion, as text for `OBSERVE_MACROS_DEBUG`.
pub(crate) fn debug_dump(out: &TokenStream) -> String {
    match syn::parse2::<syn::File>(out.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(_) => out.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(s: &str) -> Type {
        syn::parse_str(s).unwrap()
    }

    fn expand_str(attr: &str, item: &str) -> String {
        expand(
            attr.parse().unwrap(),
            item.parse().unwrap(),
            quote!(::observe_core),
        )
        .to_string()
    }

    #[test]
    fn result_types_are_recognised_by_name() {
        for t in [
            "Result<u8, E>",
            "io::Result<()>",
            "::std::result::Result<u8, E>",
        ] {
            assert!(is_result(&ty(t)), "{t}");
        }
        for t in [
            "Option<u8>",
            "Results",
            "<T as Tr>::Result",
            "Vec<Result<u8, E>>",
        ] {
            assert!(!is_result(&ty(t)), "{t}");
        }
    }

    #[test]
    fn future_outputs_are_read_from_signatures() {
        let out = |s: &str| future_output(&ty(s)).map(|t| t.to_token_stream().to_string());
        assert_eq!(
            out("Pin<Box<dyn Future<Output = Result<u8, E>> + Send + 'a>>").as_deref(),
            Some("Result < u8 , E >")
        );
        assert_eq!(out("impl Future<Output = u8>").as_deref(), Some("u8"));
        assert_eq!(out("BoxFuture<'a, u8>"), None);
    }

    #[test]
    fn impl_trait_is_left_to_inference_in_closure_types() {
        let erased = erase_impl_trait(&ty("Result<impl Display, Box<impl Error>>"));
        assert_eq!(
            erased.to_token_stream().to_string(),
            "Result < _ , Box < _ > >"
        );
        assert!(contains_impl_trait(&ty("Vec<impl Fn()>")));
        assert!(!contains_impl_trait(&ty("Vec<Box<dyn Fn()>>")));
    }

    #[test]
    fn async_blocks_at_the_tail_are_found() {
        let block = |s: &str| async_block_stmt(&syn::parse_str::<Block>(s).unwrap());
        assert_eq!(block("{ Box::pin(async move { 1 }) }"), Some(0));
        assert_eq!(block("{ let x = 1; async move { x } }"), Some(1));
        assert_eq!(block("{ std::pin::pin(async {}) }"), Some(0));
        assert_eq!(block("{ async move { 1 }; }"), None);
        assert_eq!(block("{ Box::new(async move { 1 }) }"), None);
        assert_eq!(block("{ Box::pin(async move { 1 }, 2) }"), None);
    }

    #[test]
    fn expansion_names_only_the_private_module() {
        let out = expand_str("", "fn f(x: u8) -> Result<u8, E> { Ok(x) }");
        assert!(out.contains(":: observe_core :: __private :: start_sync"));
        assert!(out.contains(":: observe_core :: __private :: record_result_display"));
        let out = expand_str("crate = ::my::obs", "async fn f() {}");
        assert!(out.contains(":: my :: obs :: __private :: start_async"));
        assert!(!out.contains("observe_core"));
    }

    #[test]
    fn errors_keep_the_item() {
        let out = expand_str("bogus", "fn kept() {}");
        assert!(out.contains("compile_error"));
        assert!(out.contains("fn kept ()"));
    }

    #[test]
    fn args_must_be_arguments() {
        let out = expand_str(
            "args(y)",
            "fn f((a, b): (u8, u8), Point { x, .. }: Point) {}",
        );
        assert!(
            out.contains("`y` is not an argument of `f`: its arguments are `a`, `b`, `x`"),
            "{out}"
        );
        let out = expand_str(
            "args(a, x, self)",
            "fn f(&self, (a, b): (u8, u8), Point { x, .. }: Point) {}",
        );
        assert!(!out.contains("compile_error"), "{out}");
    }
}
