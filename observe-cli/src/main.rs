//! `observe`: the operator's command.
//!
//! Run with: `OBSERVE_TRACER_BULLET_KEY=<hex> cargo run -p observe-cli -- bullet <URL>`
//! (`observe bullet --help` for the options).
//!
//! Exit status: 0 when the bullet was answered (whatever the status), 2 when a
//! service refused it (403 with `observe-tracer-bullet-refused`), 1 when it could
//! not be fired (no key, a bad argument, no answer).

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Command};
use observe_cli::bullet::{self, Bullet, Outcome};
use observe_core::TraceId;

fn cli() -> Command {
    Command::new("observe")
        .about("observe's operator command")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(true)
        .subcommand(
            Command::new("bullet")
                .about(
                    "Fire a signed tracer bullet: a real request that changes nothing; prints \
                     its trace id, the response and its footprint",
                )
                .after_help(
                    "The key is read from OBSERVE_TRACER_BULLET_KEY (or --key-file), in the \
                     services' format: 64+ hex digits or base64, optionally prefixed hex: or \
                     base64:.\n\nExit status: 0 answered, 2 refused by a service \
                     (observe-tracer-bullet-refused), 1 not fired.",
                )
                .arg(Arg::new("url").required(true).help("The URL to send it to"))
                .arg(
                    Arg::new("method")
                        .short('X')
                        .long("method")
                        .help("The method (default GET, or POST with --data)"),
                )
                .arg(
                    Arg::new("header")
                        .short('H')
                        .long("header")
                        .action(ArgAction::Append)
                        .help("A request header, 'name: value' (repeatable)"),
                )
                .arg(
                    Arg::new("data")
                        .short('d')
                        .long("data")
                        .help("The body; @file reads a file, @- standard input"),
                )
                .arg(
                    Arg::new("key-file")
                        .long("key-file")
                        .value_parser(clap::value_parser!(PathBuf))
                        .help("Read the key from this file instead of OBSERVE_TRACER_BULLET_KEY"),
                )
                .arg(
                    Arg::new("trace-id")
                        .long("trace-id")
                        .help("The trace id (32 lowercase hex digits, not all zero); a random one by default"),
                )
                .arg(
                    Arg::new("timeout")
                        .long("timeout")
                        .value_parser(clap::value_parser!(u64).range(1..))
                        .default_value("30")
                        .help("Seconds to wait for the whole answer"),
                )
                .arg(
                    Arg::new("cacert")
                        .long("cacert")
                        .value_name("FILE")
                        .value_parser(clap::value_parser!(PathBuf))
                        .help("For https://: trust the CA certificates of this PEM file instead of the system's"),
                )
                .arg(
                    Arg::new("json")
                        .long("json")
                        .action(ArgAction::SetTrue)
                        .help("Print one JSON object instead of text"),
                ),
        )
}

fn main() -> ExitCode {
    // A bad argument is 1 ("not fired"), never clap's 2, which means "refused".
    let matches = match cli().try_get_matches() {
        Ok(matches) => matches,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS // --help, --version
            };
        }
    };
    let Some(("bullet", args)) = matches.subcommand() else {
        return ExitCode::from(1);
    };
    match run(args) {
        Ok(outcome) => {
            let printed = if args.get_flag("json") {
                print_json(&outcome)
            } else {
                print_text(&outcome)
            };
            if let Err(e) = printed {
                fail(&format!("cannot print: {e}"));
                return ExitCode::from(1);
            }
            if outcome.is_refused() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            fail(&e);
            ExitCode::from(1)
        }
    }
}

#[allow(clippy::print_stderr)]
fn fail(message: &str) {
    eprintln!("observe bullet: {message}");
}

fn run(args: &ArgMatches) -> Result<Outcome, String> {
    let key = match args.get_one::<PathBuf>("key-file") {
        Some(path) => bullet::key_from_file(path),
        None => bullet::key_from_env(),
    }
    .map_err(|e| e.to_string())?;
    let url = args.get_one::<String>("url").cloned().unwrap_or_default();
    let body = match args.get_one::<String>("data") {
        None => None,
        Some(d) if d == "@-" => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| format!("cannot read standard input: {e}"))?;
            Some(buf)
        }
        Some(d) => match d.strip_prefix('@') {
            Some(path) => {
                Some(std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?)
            }
            None => Some(d.clone().into_bytes()),
        },
    };
    let method = match args.get_one::<String>("method") {
        Some(m) => http::Method::from_bytes(m.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("not a method: {m}"))?,
        None if body.is_some() => http::Method::POST,
        None => http::Method::GET,
    };
    let mut request = Bullet::get(url).method(method).timeout(Duration::from_secs(
        *args.get_one::<u64>("timeout").unwrap_or(&30),
    ));
    for header in args.get_many::<String>("header").into_iter().flatten() {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| format!("a header is 'name: value', not {header:?}"))?;
        request = request.header(name.trim(), value.trim());
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    if let Some(path) = args.get_one::<PathBuf>("cacert") {
        request = request.ca_certificate(path);
    }
    if let Some(id) = args.get_one::<String>("trace-id") {
        let id = TraceId::from_hex(id).map_err(|_| {
            format!("not a trace id: {id} (32 lowercase hex digits, not all zero, as W3C requires)")
        })?;
        request = request.trace_id(id);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    runtime
        .block_on(bullet::fire(&key, &request))
        .map_err(|e| e.to_string())
}

fn print_json(outcome: &Outcome) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", outcome.to_json())
}

fn print_text(outcome: &Outcome) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "trace_id: {}", outcome.trace_id)?;
    let reason = http::StatusCode::from_u16(outcome.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    writeln!(out, "status: {} {reason}", outcome.status)?;
    if let Some(refused) = &outcome.refused {
        writeln!(
            out,
            "refused: {refused} (a service did not accept the bullet; nothing ran there)"
        )?;
    }
    for (name, value) in &outcome.headers {
        writeln!(out, "{name}: {value}")?;
    }
    match (&outcome.footprint_header, &outcome.footprint) {
        (Some(header), Some(Ok(summary))) => {
            writeln!(out, "footprint: {header}")?;
            writeln!(out, "  {}", summary.describe())?;
        }
        (Some(header), Some(Err(e))) => writeln!(out, "footprint: {header}\n  unreadable: {e}")?,
        _ => writeln!(
            out,
            "footprint: none (the service did not honour the bullet, or does not run observe)"
        )?,
    }
    writeln!(out)?;
    out.write_all(&outcome.body)?;
    if !outcome.body.ends_with(b"\n") && !outcome.body.is_empty() {
        writeln!(out)?;
    }
    Ok(())
}
