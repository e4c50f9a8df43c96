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
mod outfile;
mod output;
mod progress;
mod signals;
#[path = "../common/usage.rs"]
mod usage;

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use rawnet::sanitize::escape_str;
use rawnet::scan::{self, ProbeSource};
use rawnet::shard::Plan;

use crate::config::Config;
use crate::error::Error;
use crate::output::{Format, Printer, Writer};

fn main() -> ExitCode {
    let cli = match cli::parse_from(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => return usage::exit_for(&e),
    };
    match run(cli) {
        Ok(None) => ExitCode::SUCCESS,
        // 128 + the signal, as a shell reports a process it killed.
        Ok(Some(signal)) => ExitCode::from(128 + signal as u8),
        Err(e) => {
            // Messages quote what was typed or read from -iL: escaped.
            let _ = writeln!(io::stderr(), "error: {}", escape_str(&e.to_string()));
            e.exit_code()
        }
    }
}

/// Runs the scan; `Some(signal)` when a signal ended it early.
fn run(cli: cli::Cli) -> Result<Option<i32>, Error> {
    let config = Config::from_cli(cli, &config::read_list_file)?;
    let (targets, failures) = config::resolve_targets(&config)?;
    for failure in failures {
        warn(&format!("{failure}; skipped"));
    }
    let plan = Plan::new(targets, config.ports.clone(), config.seed, config.shard);

    let (out, out_is_terminal): (Box<dyn Write + Send>, bool) = match &config.output {
        Some(path) => {
            let file = File::create(path)
                .map_err(|e| Error::Runtime(format!("cannot create {}: {e}", path.display())))?;
            (Box::new(outfile::OutFile::new(file)), false)
        }
        None => (Box::new(io::stdout()), io::stdout().is_terminal()),
    };
    let format = config.format.unwrap_or(if out_is_terminal {
        Format::Table
    } else {
        Format::Json
    });
    let printer = Printer::new(out, format, config.report_all, config.scan.banner.is_some());
    let bar = progress::bar(plan.len(), config.progress);
    let writer = Writer::spawn(printer, bar, out_is_terminal)
        .map_err(|e| Error::Runtime(format!("cannot start the output thread: {e}")))?;
    signals::install().map_err(|e| Error::Runtime(format!("cannot handle signals: {e}")))?;

    let scanned = scan::run(&plan, &config.scan, &writer);
    let written = writer.finish();
    let summary = scanned?;
    match written {
        // The reader of our output went away (`portscan ... | head -1`):
        // that is success, and the scan has stopped; nothing left to say.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(None),
        Err(e) => return Err(Error::Runtime(format!("cannot write results: {e}"))),
        Ok(()) => {}
    }
    // The default ceiling is room to grow, not a request: lowering it is
    // worth a warning only below where the window starts.
    let asked = if config.scan.concurrency == cli::DEFAULT_CONCURRENCY as usize {
        scan::INITIAL_WINDOW
    } else {
        config.scan.concurrency
    };
    if summary.concurrency < asked && plan.len() > summary.concurrency as u64 {
        warn(&format!(
            "concurrency lowered from {} to {} to fit the open-file limit",
            config.scan.concurrency, summary.concurrency
        ));
    }
    let line = output::summary_line(&summary, &plan);
    let signal = signals::caught().filter(|_| summary.stopped);
    match signal {
        Some(signal) => {
            let _ = writeln!(
                io::stderr(),
                "interrupted by {} after {} of {} probes; {line}",
                signals::name(signal),
                summary.reported,
                plan.len()
            );
        }
        None => {
            let _ = writeln!(io::stderr(), "{line}");
        }
    }
    Ok(signal)
}

fn warn(message: &str) {
    let _ = writeln!(io::stderr(), "warning: {}", escape_str(message));
}
