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
#[path = "../common/usage.rs"]
mod usage;

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
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
    if let Some(kind) = cli.generate {
        return generate::exit_with(kind, <cli::Cli as clap::CommandFactory>::command());
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Messages quote what was typed or read from -iL: escaped.
            let _ = writeln!(io::stderr(), "error: {}", escape_str(&e.to_string()));
            e.exit_code()
        }
    }
}

fn run(cli: cli::Cli) -> Result<(), Error> {
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
            (Box::new(BufWriter::new(file)), false)
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
    let writer = Writer::spawn(printer, bar, out_is_terminal, stdout_closed)
        .map_err(|e| Error::Runtime(format!("cannot start the output thread: {e}")))?;

    let scanned = scan::run(&plan, &config.scan, &|r| writer.send(r));
    let written = writer.finish();
    let summary = scanned?;
    match written {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => stdout_closed(),
        Err(e) => return Err(Error::Runtime(format!("cannot write results: {e}"))),
        Ok(()) => {}
    }
    if summary.concurrency < config.scan.concurrency && plan.len() > summary.concurrency as u64 {
        warn(&format!(
            "concurrency lowered from {} to {} to fit the open-file limit",
            config.scan.concurrency, summary.concurrency
        ));
    }
    let _ = writeln!(io::stderr(), "{}", output::summary_line(&summary, &plan));
    Ok(())
}

/// The reader of our output went away (`portscan ... | head -1`): that is
/// success, and there is nothing left worth doing. The engine cannot be
/// cancelled mid-scan, so the process ends here, from whichever thread
/// noticed.
fn stdout_closed() {
    std::process::exit(0);
}

fn warn(message: &str) {
    let _ = writeln!(io::stderr(), "warning: {}", escape_str(message));
}
