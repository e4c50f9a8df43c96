//! `portscan`: a TCP connect scan (no raw packets, no root).
//!
//! The flow, one step per module: [`cli`] parses what was typed,
//! [`config`] checks it into library types and resolves names, the
//! library's `shard::Plan` orders the probes, `scan::run` probes them, and
//! [`output`]'s writer thread prints results while [`progress`] draws the
//! bar. Errors travel up to `main`, the one place that prints `error: ...`
//! and picks the exit status ([`error`]).

mod cli;
mod config;
mod error;
#[path = "../common/generate.rs"]
mod generate;
mod output;
mod progress;
mod timing;
#[path = "../common/usage.rs"]
mod usage;

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use rawnet::sanitize::escape_str;
use rawnet::scan::{self, ProbeSource};
use rawnet::shard::Plan;

use crate::config::{Config, Dest};
use crate::error::Error;
use crate::output::{Format, Options, Printers, ScanEnd, ScanInfo, SummaryPrinter, Writer};

fn main() -> ExitCode {
    let cli = match cli::parse_from(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => return usage::exit_for(&e),
    };
    if let Some(kind) = cli.generate {
        return generate::exit_with(kind, <cli::Cli as clap::CommandFactory>::command());
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Messages quote what was typed or read from -iL: escaped.
            let _ = writeln!(io::stderr(), "error: {}", one_line(&e.to_string()));
            e.exit_code()
        }
    }
}

fn run(cli: cli::Cli) -> Result<(), Error> {
    let mut config = Config::from_cli(cli, &config::read_list_file)?;
    for warning in &config.warnings {
        warn(warning);
    }
    let (targets, failures) = config::resolve_targets(&config)?;
    // The typed targets are in `targets` now; a long -iL list need not
    // stay in memory for the scan.
    config.targets = Vec::new();
    for failure in failures {
        warn(&format!("{failure}; skipped"));
    }
    config::check_scan_size(&config, targets.len())?;
    let plan = Plan::new(targets, config.ports.clone(), config.seed, config.shard);
    if config.verbose > 0 {
        let _ = writeln!(io::stderr(), "{}", settings_line(&config, &plan));
    }

    let options = Options {
        report_all: config.report_all,
        open_only: config.open_only,
        banners: config.scan.banner.is_some(),
    };
    let stdout_taken = config.nmap_outputs.iter().any(|(_, d)| *d == Dest::Stdout);
    let stdout_is_terminal = io::stdout().is_terminal();
    let mut printers = Printers::new();
    match &config.output {
        Some(path) => {
            let format = config.format.unwrap_or(Format::Json);
            printers.push(output::printer(format, create(path)?, options));
        }
        None if !stdout_taken => {
            let default = if stdout_is_terminal {
                Format::Table
            } else {
                Format::Json
            };
            let format = config.format.unwrap_or(default);
            printers.push(output::printer(format, Box::new(io::stdout()), options));
        }
        None => {}
    }
    for (format, dest) in &config.nmap_outputs {
        let out = match dest {
            Dest::Stdout => Box::new(io::stdout()),
            Dest::File(path) => create(path)?,
        };
        printers.push(output::printer(*format, out, options));
    }
    printers.push(Box::new(SummaryPrinter::new(io::stderr())));
    let out_is_terminal = stdout_is_terminal && (stdout_taken || config.output.is_none());
    let info = ScanInfo::new(&plan, command_line());
    let bar = progress::bar(plan.len(), config.progress);
    let writer = Writer::spawn(printers, info, options, bar, out_is_terminal)
        .map_err(|e| Error::Runtime(format!("cannot start the output thread: {e}")))?;

    let scanned = scan::run(&plan, &config.scan, &writer);
    let written = writer.finish(scanned.as_ref().ok().cloned().map(ScanEnd::new));
    let summary = scanned?;
    match written {
        // The reader of our output went away (`portscan ... | head -1`):
        // that is success, and the scan has stopped; nothing left to say.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
        Err(e) => return Err(Error::Runtime(format!("cannot write results: {e}"))),
        Ok(()) => {}
    }
    if summary.concurrency < config.scan.concurrency && plan.len() > summary.concurrency as u64 {
        warn(&format!(
            "concurrency lowered from {} to {} to fit the open-file limit",
            config.scan.concurrency, summary.concurrency
        ));
    }
    Ok(())
}

/// What `-v` prints before the scan: the scope and the timing settings.
fn settings_line(config: &Config, plan: &Plan) -> String {
    let scan = &config.scan;
    let rate = scan
        .rate
        .map_or("no limit".to_string(), |r| format!("{r}/s"));
    format!(
        "portscan: {} probes ({} addresses x {} ports, shard {}); timeout {} ms (floor {} ms), \
         {} retries, {} in flight, rate {rate}",
        plan.len(),
        plan.targets().len(),
        plan.ports().len(),
        plan.shard(),
        scan.timeout.as_millis(),
        scan.min_timeout.as_millis(),
        scan.retries,
        scan.concurrency,
    )
}

/// A buffered output file, created (or truncated) now.
fn create(path: &Path) -> Result<Box<dyn Write + Send>, Error> {
    let file = File::create(path)
        .map_err(|e| Error::Runtime(format!("cannot create {}: {e}", path.display())))?;
    Ok(Box::new(BufWriter::new(file)))
}

/// The command line as typed, for the nmap formats' `args`.
fn command_line() -> String {
    std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn warn(message: &str) {
    let _ = writeln!(io::stderr(), "warning: {}", one_line(message));
}

/// A message for one `error:`/`warning:` line: control characters
/// escaped, and line breaks too (a path from -iL or -o may hold one).
/// Not [`rawnet::sanitize::escape_line`]: messages already carry escaped
/// parts (target errors), whose backslashes must not be doubled.
fn one_line(message: &str) -> String {
    escape_str(message).replace('\n', "\\n")
}
