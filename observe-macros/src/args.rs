//! Parsing of `#[traced(...)]` arguments.
//!
//! Strict from the first release: an unknown key, a repeated key or a value of the
//! wrong shape is a compile error that points at the offending token and says what
//! is accepted.

use proc_macro2::Span;
use syn::ext::IdentExt as _;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, LitStr, Path, Token, parenthesized};

/// The keys `#[traced]` accepts, as listed in error messages.
const KEYS: &str = "`name = \"..\"`, `level = \"..\"`, `kind = \"..\"`, `fields(..)`, \
                    `args(..)`, `err`, `err(Debug)`, `err(Display)`, `ret`, `ret(Debug)`, \
                    `ret(Display)`, `side_effect`, `crate = path`";

const LEVELS: &str = "\"trace\", \"debug\", \"info\", \"warn\" or \"error\"";
const KINDS: &str = "\"internal\", \"server\", \"client\", \"producer\" or \"consumer\"";

mod kw {
    syn::custom_keyword!(Debug);
    syn::custom_keyword!(Display);
}

/// Everything `#[traced(...)]` was given.
#[derive(Default)]
pub(crate) struct Args {
    /// `name = "..."`: the span name (default: the function's name).
    pub(crate) name: Option<LitStr>,
    /// `level = "..."` (default: info).
    pub(crate) level: Option<Level>,
    /// `kind = "..."` (default: internal).
    pub(crate) kind: Option<Kind>,
    /// `fields(key = value, ...)`.
    pub(crate) fields: Vec<Field>,
    /// `args(a, %b)`.
    pub(crate) args: Vec<Arg>,
    /// `err` / `err(Debug)` / `err(Display)`, with the span of the key.
    pub(crate) err: Option<(Format, Span)>,
    /// `ret` / `ret(Debug)` / `ret(Display)`.
    pub(crate) ret: Option<Format>,
    /// `side_effect`, with the span of the key.
    pub(crate) side_effect: Option<Span>,
    /// `crate = path`.
    pub(crate) krate: Option<Path>,
}

/// How a value is turned into an attribute.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Format {
    /// `%`: `Display`.
    Display,
    /// `?`: `Debug`.
    Debug,
    /// No sigil: the value as it is (numbers, booleans, strings).
    Value,
}

/// A span level.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// A span kind.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

/// One entry of `fields(...)`.
pub(crate) struct Field {
    /// The attribute key (`order_id`, `http.method`).
    pub(crate) key: String,
    /// Where the key was written.
    pub(crate) key_span: Span,
    pub(crate) format: Format,
    pub(crate) value: Expr,
}

/// One entry of `args(...)`.
pub(crate) struct Arg {
    /// The argument's name (`self` included).
    pub(crate) ident: Ident,
    pub(crate) format: Format,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        let mut seen: Vec<String> = Vec::new();
        while !input.is_empty() {
            let key = if input.peek(Token![crate]) {
                Ident::new("crate", input.parse::<Token![crate]>()?.span)
            } else {
                input
                    .call(Ident::parse_any)
                    .map_err(|e| syn::Error::new(e.span(), format!("expected a key: {KEYS}")))?
            };
            let name = key.to_string();
            if seen.contains(&name) {
                return Err(syn::Error::new(
                    key.span(),
                    format!("duplicate key `{name}`: each key may be given once"),
                ));
            }
            seen.push(name.clone());
            match name.as_str() {
                "name" => {
                    eq(input, &key)?;
                    args.name = Some(string(input, "name = \"span name\"")?);
                }
                "level" => {
                    eq(input, &key)?;
                    let lit = string(input, &format!("level = {LEVELS}"))?;
                    args.level = Some(match lit.value().to_ascii_lowercase().as_str() {
                        "trace" => Level::Trace,
                        "debug" => Level::Debug,
                        "info" => Level::Info,
                        "warn" => Level::Warn,
                        "error" => Level::Error,
                        other => {
                            return Err(syn::Error::new(
                                lit.span(),
                                format!("unknown level {other:?}: expected {LEVELS}"),
                            ));
                        }
                    });
                }
                "kind" => {
                    eq(input, &key)?;
                    let lit = string(input, &format!("kind = {KINDS}"))?;
                    args.kind = Some(match lit.value().to_ascii_lowercase().as_str() {
                        "internal" => Kind::Internal,
                        "server" => Kind::Server,
                        "client" => Kind::Client,
                        "producer" => Kind::Producer,
                        "consumer" => Kind::Consumer,
                        other => {
                            return Err(syn::Error::new(
                                lit.span(),
                                format!("unknown span kind {other:?}: expected {KINDS}"),
                            ));
                        }
                    });
                }
                "fields" => {
                    let content = parens(input, &key, "fields(key = value, ...)")?;
                    let fields = Punctuated::<Field, Token![,]>::parse_terminated(&content)?;
                    for f in fields {
                        if let Some(first) = args.fields.iter().find(|g| g.key == f.key) {
                            let mut e = syn::Error::new(
                                f.key_span,
                                format!(
                                    "duplicate field `{}`: each field may be given once",
                                    f.key
                                ),
                            );
                            e.combine(syn::Error::new(first.key_span, "first given here"));
                            return Err(e);
                        }
                        args.fields.push(f);
                    }
                }
                "args" => {
                    let content = parens(input, &key, "args(name, %name, ?name)")?;
                    let list = Punctuated::<Arg, Token![,]>::parse_terminated(&content)?;
                    for a in list {
                        if args.args.iter().any(|b| b.ident == a.ident) {
                            return Err(syn::Error::new(
                                a.ident.span(),
                                format!(
                                    "duplicate argument `{}`: each argument may be listed once",
                                    a.ident
                                ),
                            ));
                        }
                        args.args.push(a);
                    }
                }
                "err" => {
                    let format = optional_format(input, &key, "err")?.unwrap_or(Format::Display);
                    args.err = Some((format, key.span()));
                }
                "ret" => {
                    args.ret = Some(optional_format(input, &key, "ret")?.unwrap_or(Format::Debug));
                }
                "side_effect" => {
                    no_value(input, &key, "side_effect")?;
                    args.side_effect = Some(key.span());
                }
                "crate" => {
                    eq(input, &key)?;
                    let path = input.call(Path::parse_mod_style).map_err(|e| {
                        syn::Error::new(
                            e.span(),
                            "expected a path to the observe crate: `crate = my_lib::observe_core`",
                        )
                    })?;
                    args.krate = Some(path);
                }
                _ => return Err(unknown_key(&key)),
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    format!("expected `,` between keys; keys are {KEYS}"),
                )
            })?;
        }
        Ok(args)
    }
}

fn unknown_key(key: &Ident) -> syn::Error {
    let hint = match key.to_string().as_str() {
        "skip" | "skip_all" => {
            " (arguments are never recorded unless listed: there is nothing to skip; \
             use `args(..)` to record some)"
        }
        "target" | "parent" | "follows_from" => " (not supported by #[traced])",
        "field" => " (did you mean `fields(..)`?)",
        "arg" => " (did you mean `args(..)`?)",
        "error" => " (did you mean `err`?)",
        "return" | "returns" => " (did you mean `ret`?)",
        _ => "",
    };
    syn::Error::new(
        key.span(),
        format!("unknown key `{key}`{hint}; #[traced] accepts {KEYS}"),
    )
}

fn eq(input: ParseStream<'_>, key: &Ident) -> syn::Result<()> {
    input
        .parse::<Token![=]>()
        .map(drop)
        .map_err(|_| syn::Error::new(key.span(), format!("`{key}` needs a value: `{key} = ...`")))
}

fn string(input: ParseStream<'_>, example: &str) -> syn::Result<LitStr> {
    if input.peek(LitStr) {
        input.parse()
    } else {
        let span = if input.is_empty() {
            input.span()
        } else {
            input.fork().parse::<proc_macro2::TokenTree>()?.span()
        };
        Err(syn::Error::new(
            span,
            format!("expected a string literal: {example}"),
        ))
    }
}

fn parens<'a>(
    input: ParseStream<'a>,
    key: &Ident,
    example: &str,
) -> syn::Result<syn::parse::ParseBuffer<'a>> {
    if !input.peek(syn::token::Paren) {
        return Err(syn::Error::new(
            key.span(),
            format!("`{key}` takes a list: `{example}`"),
        ));
    }
    let content;
    parenthesized!(content in input);
    Ok(content)
}

fn no_value(input: ParseStream<'_>, key: &Ident, name: &str) -> syn::Result<()> {
    if input.is_empty() || input.peek(Token![,]) {
        Ok(())
    } else {
        Err(syn::Error::new(
            key.span(),
            format!("`{name}` takes no value: write `{name}`"),
        ))
    }
}

/// `key`, `key(Debug)` or `key(Display)`.
fn optional_format(input: ParseStream<'_>, key: &Ident, name: &str) -> syn::Result<Option<Format>> {
    if !input.peek(syn::token::Paren) {
        if input.peek(Token![=]) {
            return Err(syn::Error::new(
                key.span(),
                format!(
                    "`{name}` takes no `=`: write `{name}`, `{name}(Debug)` or `{name}(Display)`"
                ),
            ));
        }
        return Ok(None);
    }
    let content;
    parenthesized!(content in input);
    let lookahead = content.lookahead1();
    let format = if lookahead.peek(kw::Debug) {
        content.parse::<kw::Debug>()?;
        Format::Debug
    } else if lookahead.peek(kw::Display) {
        content.parse::<kw::Display>()?;
        Format::Display
    } else {
        let span = if content.is_empty() {
            content.span()
        } else {
            content.fork().parse::<proc_macro2::TokenTree>()?.span()
        };
        return Err(syn::Error::new(
            span,
            format!("expected `Debug` or `Display`: `{name}(Debug)` or `{name}(Display)`"),
        ));
    };
    if !content.is_empty() {
        return Err(syn::Error::new(
            content.span(),
            format!("expected only `Debug` or `Display` in `{name}(..)`"),
        ));
    }
    Ok(Some(format))
}

fn sigil(input: ParseStream<'_>) -> syn::Result<Format> {
    Ok(if input.peek(Token![%]) {
        input.parse::<Token![%]>()?;
        Format::Display
    } else if input.peek(Token![?]) {
        input.parse::<Token![?]>()?;
        Format::Debug
    } else {
        Format::Value
    })
}

impl Parse for Field {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let (key, key_span) = if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            if lit.value().is_empty() {
                return Err(syn::Error::new(lit.span(), "a field name cannot be empty"));
            }
            (lit.value(), lit.span())
        } else if input.peek(Ident::peek_any) {
            let first = input.call(Ident::parse_any)?;
            let mut key = first.unraw().to_string();
            let span = first.span();
            while input.peek(Token![.]) {
                input.parse::<Token![.]>()?;
                let next = input.call(Ident::parse_any)?;
                key.push('.');
                key.push_str(&next.unraw().to_string());
            }
            (key, span)
        } else {
            return Err(input.error(
                "expected a field: `name = value`, `name = %value` (Display) or `name = ?value` (Debug)",
            ));
        };
        if !input.peek(Token![=]) {
            return Err(syn::Error::new(
                key_span,
                format!(
                    "field `{key}` needs a value: `{key} = value`, `{key} = %value` (Display) \
                     or `{key} = ?value` (Debug)"
                ),
            ));
        }
        input.parse::<Token![=]>()?;
        let format = sigil(input)?;
        let value: Expr = input.parse()?;
        Ok(Field {
            key,
            key_span,
            format,
            value,
        })
    }
}

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let format = match sigil(input)? {
            Format::Value => Format::Debug,
            f => f,
        };
        let ident = if input.peek(Token![self]) {
            let t = input.parse::<Token![self]>()?;
            Ident::new("self", t.span)
        } else if input.peek(Ident) {
            input.parse::<Ident>()?
        } else {
            return Err(input.error(
                "expected an argument name: `args(a, %b, ?c)` (Debug by default, `%` for Display)",
            ));
        };
        Ok(Arg { ident, format })
    }
}

impl Args {
    /// The span kind's variant name in `SpanKind`.
    pub(crate) fn kind_variant(&self) -> &'static str {
        match self.kind.unwrap_or(Kind::Internal) {
            Kind::Internal => "Internal",
            Kind::Server => "Server",
            Kind::Client => "Client",
            Kind::Producer => "Producer",
            Kind::Consumer => "Consumer",
        }
    }

    /// The level's constant name in `Level`.
    pub(crate) fn level_const(&self) -> &'static str {
        match self.level.unwrap_or(Level::Info) {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(tokens: &str) -> syn::Result<Args> {
        syn::parse_str::<Args>(tokens)
    }

    fn error(tokens: &str) -> String {
        match parse(tokens) {
            Ok(_) => panic!("`{tokens}` parsed"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_key_parses() {
        let a = parse(
            r#"name = "n", level = "DEBUG", kind = "client", fields(a.b = 1, "c d" = %x, e = ?y),
               args(p, %q, ?self), err(Debug), ret(Display), side_effect, crate = ::my::obs"#,
        )
        .unwrap();
        assert_eq!(a.name.as_ref().unwrap().value(), "n");
        assert_eq!(a.level_const(), "DEBUG");
        assert_eq!(a.kind_variant(), "Client");
        let fields: Vec<_> = a
            .fields
            .iter()
            .map(|f| (f.key.as_str(), f.format))
            .collect();
        assert_eq!(
            fields,
            [
                ("a.b", Format::Value),
                ("c d", Format::Display),
                ("e", Format::Debug)
            ]
        );
        let args: Vec<_> = a
            .args
            .iter()
            .map(|a| (a.ident.to_string(), a.format))
            .collect();
        assert_eq!(
            args,
            [
                ("p".to_owned(), Format::Debug),
                ("q".to_owned(), Format::Display),
                ("self".to_owned(), Format::Debug)
            ]
        );
        assert_eq!(a.err.map(|e| e.0), Some(Format::Debug));
        assert_eq!(a.ret, Some(Format::Display));
        assert!(a.side_effect.is_some());
        assert_eq!(
            a.krate.as_ref().unwrap().to_token_stream().to_string(),
            ":: my :: obs"
        );
    }

    #[test]
    fn defaults_and_trailing_comma() {
        let a = parse("").unwrap();
        assert_eq!((a.level_const(), a.kind_variant()), ("INFO", "Internal"));
        assert!(a.err.is_none() && a.ret.is_none() && a.side_effect.is_none());
        let a = parse("err, ret,").unwrap();
        assert_eq!(a.err.map(|e| e.0), Some(Format::Display));
        assert_eq!(a.ret, Some(Format::Debug));
        assert_eq!(parse("fields(r#type = 1)").unwrap().fields[0].key, "type");
    }

    #[test]
    fn unknown_and_repeated_keys_are_errors() {
        assert!(error("skip(a)").starts_with("unknown key `skip` (arguments are never recorded"));
        assert!(error("levle = \"x\"").starts_with("unknown key `levle`; #[traced] accepts"));
        assert_eq!(
            error("ret, ret"),
            "duplicate key `ret`: each key may be given once"
        );
        assert_eq!(
            error("fields(a = 1, a = 2)"),
            "duplicate field `a`: each field may be given once"
        );
        assert_eq!(
            error("args(a, ?a)"),
            "duplicate argument `a`: each argument may be listed once"
        );
    }

    #[test]
    fn wrong_values_say_what_is_accepted() {
        assert_eq!(
            error("level = \"loud\""),
            r#"unknown level "loud": expected "trace", "debug", "info", "warn" or "error""#
        );
        assert_eq!(
            error("kind = \"up\""),
            r#"unknown span kind "up": expected "internal", "server", "client", "producer" or "consumer""#
        );
        assert_eq!(
            error("name = 1"),
            r#"expected a string literal: name = "span name""#
        );
        assert_eq!(error("name"), "`name` needs a value: `name = ...`");
        assert_eq!(
            error("err(Json)"),
            "expected `Debug` or `Display`: `err(Debug)` or `err(Display)`"
        );
        assert_eq!(
            error("side_effect(true)"),
            "`side_effect` takes no value: write `side_effect`"
        );
        assert!(error("fields(a)").starts_with("field `a` needs a value"));
        assert!(error("name = \"a\" ret").starts_with("expected `,` between keys"));
    }

    use quote::ToTokens as _;
}
