//! `portscan`: a TCP connect scan and a UDP scan (no raw packets, no
//! root), with service detection.
//!
//! The flow, one step per module: [`cli`] parses what was typed,
//! [`config`] checks it into library types and resolves names, the
//! library's `shard::Plan` orders the probes (one plan per protocol),
//! `scan::run_with_budget` probes them (TCP first, then UDP; with `-sV`
//! `scan::run_with_detection`, whose probe connects are flights of the
//! same engine drawing on the same `scan::ConnectBudget` of `-c` and
//! `--rate`), and
//! [`output`]'s writer thread prints results while [`progress`] draws the
//! bar. Errors travel up to `main`, the one place that prints `error: ...`
//! and picks the exit status ([`error`]).

mod cli;
mod closed_stdout;
mod config;
#[path = "../common/docgen.rs"]
mod docgen;
mod error;
#[path = "../common/generate.rs"]
mod generate;
mod manual;
mod outfile;
mod output;
mod progress;
mod signals;
mod timing;
#[path = "../common/usage.rs"]
mod usage;

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use rawnet::sanitize::escape_str;
use rawnet::scan::{self, ProbeSource, Sink, Summary};
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
        return generate::exit_with(kind, cli::command(), &manual::MANUAL);
    }
    match run(cli) {
        Ok(None) => ExitCode::SUCCESS,
        // 128 + the signal, as a shell reports a process it killed.
        Ok(Some(signal)) => ExitCode::from(128 + signal as u8),
        Err(e) => {
            // Messages quote what was typed or read from -iL: escaped.
            // Usage errors say where to look, as clap's own do.
            let hint = match e {
                Error::Usage(_) => " (see --help)",
                Error::Runtime(_) => "",
            };
            let _ = writeln!(io::stderr(), "error: {}{hint}", one_line(&e.to_string()));
            e.exit_code()
        }
    }
}

/// Runs the scan; `Some(signal)` when a signal ended it early.
fn run(cli: cli::Cli) -> Result<Option<i32>, Error> {
    let mut config = Config::from_cli(cli, &config::read_list_file)?;
    if config.syn.is_some() {
        // Before any name is resolved or anything is sent.
        check_raw_permission()?;
    }
    let stdout_taken = config.nmap_outputs.iter().any(|(_, d)| *d == Dest::Stdout);
    if closed_stdout::was_closed() && (stdout_taken || config.output.is_none()) {
        // Nowhere to write results: fail before scanning, as a full disk
        // fails at the first write.
        return Err(Error::Runtime(
            "cannot write results: standard output is closed".into(),
        ));
    }
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
    let plans: Vec<Plan> = config
        .protocols()
        .into_iter()
        .map(|(proto, ports)| {
            Plan::new(targets.clone(), ports.clone(), config.seed, config.shard).with_proto(proto)
        })
        .collect();
    drop(targets);
    let probes: u64 = plans.iter().map(|p| p.len()).sum();
    if config.verbose > 0 {
        let _ = writeln!(io::stderr(), "{}", settings_line(&config, &plans));
    }

    let options = Options {
        report_all: config.report_all,
        open_only: config.open_only,
        banners: config.scan.banner.is_some(),
        versions: config.service.is_some(),
    };
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
    let mut info = ScanInfo::new(&plans, command_line());
    info.syn = config.syn.is_some();
    let bar = progress::bar(probes, config.progress);
    let writer = Writer::spawn(printers, info, options, bar, out_is_terminal)
        .map_err(|e| Error::Runtime(format!("cannot start the output thread: {e}")))?;
    signals::install().map_err(|e| Error::Runtime(format!("cannot handle signals: {e}")))?;

    // One budget for the scan's connects and the -sV probes (-c, --rate).
    let budget = scan::ConnectBudget::new(config.scan.concurrency, config.scan.rate);
    let scanned = scan_all(&plans, &config, &budget, &writer);
    let end = scanned.as_ref().ok().map(|summary| {
        let signal = signals::caught().filter(|_| summary.stopped);
        ScanEnd::new(summary.clone()).interrupted_by(signal.map(signals::name), probes)
    });
    let written = writer.finish(end);
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
    if summary.concurrency < asked && probes > summary.concurrency as u64 {
        warn(&format!(
            "concurrency lowered from {} to {} to fit the open-file limit",
            config.scan.concurrency, summary.concurrency
        ));
    }
    Ok(signals::caught().filter(|_| summary.stopped))
}

/// Runs the plans one after the other (TCP, then UDP) into one sink and
/// adds up their summaries; a stopped pass stops the rest. Every pass
/// draws on `budget`; with `-sV`, open TCP ports are identified by
/// sessions of the same pass.
fn scan_all(
    plans: &[Plan],
    config: &Config,
    budget: &scan::ConnectBudget,
    sink: &dyn Sink,
) -> Result<Summary, scan::ScanError> {
    let mut total: Option<Summary> = None;
    for plan in plans {
        let summary = match (config.syn, &config.service) {
            (Some(rate), service) if plan.protocol() == scan::Proto::Tcp => {
                scan::syn_loop::run_detected(
                    plan,
                    &config.scan,
                    rate,
                    service.as_ref(),
                    sink,
                    budget,
                )?
            }
            (None, Some(service)) => {
                scan::run_with_detection(plan, &config.scan, service, sink, budget)?
            }
            _ => scan::run_with_budget(plan, &config.scan, sink, budget)?,
        };
        let stopped = summary.stopped;
        match &mut total {
            Some(t) => t.absorb(summary),
            None => total = Some(summary),
        }
        if stopped {
            break;
        }
    }
    Ok(total.unwrap_or_default())
}

/// `-sS` without `CAP_NET_RAW`: one line saying what is needed (exit 2,
/// as for a flag the process cannot honour). Tried by opening a raw
/// socket, which sends nothing.
fn check_raw_permission() -> Result<(), Error> {
    match rawnet::rawsock::check_raw_permission() {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES)) => {
            Err(Error::Usage(
                "-sS needs raw sockets (CAP_NET_RAW): run portscan as root or give the binary \
                 the capability (setcap cap_net_raw+ep PATH), or scan with -sT"
                    .into(),
            ))
        }
        Err(e) => Err(Error::Runtime(format!(
            "-sS: cannot open a raw socket: {e}"
        ))),
    }
}

/// What `-v` prints before the scan: the scope and the timing settings.
fn settings_line(config: &Config, plans: &[Plan]) -> String {
    let scan = &config.scan;
    let rate = scan
        .rate
        .map_or("no limit".to_string(), |r| format!("{r}/s"));
    let ports: Vec<String> = plans
        .iter()
        .map(|p| format!("{} {} ports", p.ports().len(), p.protocol()))
        .collect();
    format!(
        "portscan: {} probes ({} addresses x {}, shard {}); timeout {} ms (floor {} ms), \
         {} retries, {} in flight, rate {rate}",
        plans.iter().map(|p| p.len()).sum::<u64>(),
        plans.first().map_or(0, |p| p.targets().len()),
        ports.join(" + "),
        config.shard,
        scan.timeout.as_millis(),
        scan.min_timeout.as_millis(),
        scan.retries,
        scan.concurrency,
    )
}

/// An output file, created (or truncated) now, written in whole records
/// (see [`outfile`]).
fn create(path: &Path) -> Result<Box<dyn Write + Send>, Error> {
    let file = File::create(path)
        .map_err(|e| Error::Runtime(format!("cannot create {}: {e}", path.display())))?;
    Ok(Box::new(outfile::OutFile::new(file)))
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
