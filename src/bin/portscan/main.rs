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
mod merge;
mod outfile;
mod output;
mod progress;
mod resume;
mod signals;
mod stats;
mod timing;
#[path = "../common/usage.rs"]
mod usage;

use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use rawnet::pairs::{Pair, PairPlan};
use rawnet::ports::PortSpec;
use rawnet::sanitize::escape_str;
use rawnet::scan::Proto;
use rawnet::scan::{self, ProbeSource, Sink, Summary};
use rawnet::scanid::ScanId;
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
    if !cli.merge.is_empty() {
        return match merge(cli) {
            Ok(code) => ExitCode::from(code),
            Err(e) => fail(e),
        };
    }
    match run(cli) {
        Ok(None) => ExitCode::SUCCESS,
        // 128 + the signal, as a shell reports a process it killed.
        Ok(Some(signal)) => ExitCode::from(128 + signal as u8),
        Err(e) => fail(e),
    }
}

/// Prints `e` as the one `error:` line and picks the exit status.
fn fail(e: Error) -> ExitCode {
    // Messages quote what was typed or read from -iL: escaped.
    // Usage errors say where to look, as clap's own do.
    let hint = match e {
        Error::Usage(_) => " (see --help)",
        _ => "",
    };
    let _ = writeln!(io::stderr(), "error: {}{hint}", one_line(&e.to_string()));
    e.exit_code()
}

/// `--merge FILE...`: the shard outputs as one report; 0 when complete,
/// [`error::EXIT_MERGE_INCOMPLETE`] when not.
fn merge(cli: cli::Cli) -> Result<u8, Error> {
    let outputs = config::Outputs::from_cli(&cli)?;
    let options = Options {
        report_all: cli.all,
        open_only: cli.open,
        banners: cli.banner,
        versions: cli.service,
        reasons: cli.reason,
        ping: false,
    };
    let mut printers = printers(&outputs, options)?;
    let job = merge::MergeJob {
        inputs: cli.merge,
        command: command_line(),
    };
    let outcome = merge::run(&job, &mut printers)?;
    merge::report(&outcome.notes, &mut io::stderr());
    Ok(if outcome.complete {
        0
    } else {
        error::EXIT_MERGE_INCOMPLETE
    })
}

/// The printers `outputs` ask for, then the summary line on stderr.
fn printers(outputs: &config::Outputs, options: Options) -> Result<Printers, Error> {
    let stdout_taken = outputs.nmap.iter().any(|(_, d)| *d == Dest::Stdout);
    let mut printers = Printers::new();
    let mut table = false;
    match &outputs.output {
        Some(path) => {
            let format = outputs.format.unwrap_or(Format::Json);
            printers.push(output::printer(format, create(path)?, options));
        }
        None if !stdout_taken => {
            let default = if io::stdout().is_terminal() {
                Format::Table
            } else {
                Format::Json
            };
            let format = outputs.format.unwrap_or(default);
            table = format == Format::Table;
            printers.push(output::printer(format, Box::new(io::stdout()), options));
        }
        None => {}
    }
    for (format, dest) in &outputs.nmap {
        let out = match dest {
            Dest::Stdout => Box::new(io::stdout()),
            Dest::File(path) => create(path)?,
        };
        printers.push(output::printer(*format, out, options));
    }
    // The table on stdout leaves filtered ports out unless --all: say so.
    let hint = table && !options.report_all && !options.ping;
    printers.push(Box::new(
        SummaryPrinter::new(io::stderr())
            .with_hint(hint)
            .for_ping(options.ping),
    ));
    Ok(printers)
}

/// Runs the scan; `Some(signal)` when a signal ended it early.
fn run(cli: cli::Cli) -> Result<Option<i32>, Error> {
    let mut config = Config::from_cli(cli, &config::read_list_file)?;
    if config.syn.is_some() {
        // Before any name is resolved or anything is sent.
        check_raw_permission()?;
    }
    let stdout_taken = config.outputs.nmap.iter().any(|(_, d)| *d == Dest::Stdout);
    if closed_stdout::was_closed() && (stdout_taken || config.outputs.output.is_none()) {
        // Nowhere to write results: fail before scanning, as a full disk
        // fails at the first write.
        return Err(Error::Runtime(
            "cannot write results: standard output is closed".into(),
        ));
    }
    for warning in &config.warnings {
        warn(warning);
    }
    let mut work = match config.pairs.take() {
        Some(pairs) => Work::of_pairs(&pairs, &config, command_line()),
        None => Work::of_targets(&mut config, command_line())?,
    };
    // --resume: what an earlier run journaled is replayed, not probed.
    let journal = match &config.resume {
        Some(path) => Some(resume::open(path, &work.info)?),
        None => None,
    };
    let replayed: Vec<output::Event> = match &journal {
        Some(j) if !j.done.is_empty() => {
            let done: HashSet<_> = j
                .done
                .iter()
                .map(|e| (e.result.ip, e.result.port, e.result.proto))
                .collect();
            work.sources = std::mem::take(&mut work.sources)
                .into_iter()
                .map(|s| Box::new(resume::Remaining::new(s, &done)) as Box<dyn ProbeSource>)
                .collect();
            j.done.clone()
        }
        _ => Vec::new(),
    };
    let probes: u64 = work.sources.iter().map(|s| s.len()).sum::<u64>() + replayed.len() as u64;
    if config.verbose > 0 {
        let _ = writeln!(io::stderr(), "{}", settings_line(&config, &work));
    }

    let options = Options {
        report_all: config.report_all,
        open_only: config.open_only,
        banners: config.scan.banner.is_some(),
        versions: config.service.is_some(),
        reasons: config.reasons,
        ping: config.ping,
    };
    let stdout_is_terminal = io::stdout().is_terminal();
    let outputs = printers(&config.outputs, options)?;
    let printers = match journal {
        Some(j) => {
            // The journal first: a result is on disk there before any
            // output has it.
            let mut all = Printers::new();
            all.push(Box::new(resume::Journal::new(
                j.file,
                replayed.len() as u64,
            )));
            all.push(Box::new(outputs));
            all
        }
        None => outputs,
    };
    let out_is_terminal = stdout_is_terminal && (stdout_taken || config.outputs.output.is_none());
    let bar = progress::bar(probes, config.progress);
    let stats = match config.stats_every {
        Some(every) => Some(
            stats::Stats::start(bar.clone(), every)
                .map_err(|e| Error::Runtime(format!("cannot start the stats thread: {e}")))?,
        ),
        None => None,
    };
    let writer = Writer::spawn(printers, work.info.clone(), options, bar, out_is_terminal)
        .map_err(|e| Error::Runtime(format!("cannot start the output thread: {e}")))?;
    signals::install().map_err(|e| Error::Runtime(format!("cannot handle signals: {e}")))?;
    let mut earlier = Summary::default();
    for event in replayed {
        match event.result.state {
            scan::State::Open => earlier.open += 1,
            scan::State::Closed => earlier.closed += 1,
            scan::State::Filtered => earlier.filtered += 1,
            _ => earlier.open_filtered += 1,
        }
        earlier.reported += 1;
        writer.replay(event);
    }

    // One budget for the scan's connects and the -sV probes (-c, --rate).
    let budget = scan::ConnectBudget::new(config.scan.concurrency, config.scan.rate);
    let scanned = scan_all(&work.sources, &config, &budget, &writer);
    let scanned = scanned.map(|mut summary| {
        // Counts of the whole scan, what an earlier run found included.
        summary.open += earlier.open;
        summary.closed += earlier.closed;
        summary.filtered += earlier.filtered;
        summary.open_filtered += earlier.open_filtered;
        summary.reported += earlier.reported;
        summary
    });
    let end = scanned.as_ref().ok().map(|summary| {
        let signal = signals::caught().filter(|_| summary.stopped);
        ScanEnd::new(summary.clone()).interrupted_by(signal.map(signals::name), probes)
    });
    if let Some(stats) = stats {
        stats.stop();
    }
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
    sources: &[Box<dyn ProbeSource>],
    config: &Config,
    budget: &scan::ConnectBudget,
    sink: &dyn Sink,
) -> Result<Summary, scan::ScanError> {
    let mut total: Option<Summary> = None;
    for source in sources {
        let source = source.as_ref();
        let summary = match (config.syn, &config.service) {
            (Some(rate), service) if source.proto() == scan::Proto::Tcp => {
                scan::run_syn(source, &config.scan, rate, service.as_ref(), sink, budget)?
            }
            (None, Some(service)) => {
                scan::run_with_detection(source, &config.scan, service, sink, budget)?
            }
            _ => scan::run_with_budget(source, &config.scan, sink, budget)?,
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

/// What is to be probed: one source per protocol (TCP first), and what
/// the printers are told about it.
struct Work {
    sources: Vec<Box<dyn ProbeSource>>,
    info: ScanInfo,
    /// For `-v`: "N addresses x M tcp ports" or "N pairs".
    scope: String,
}

impl Work {
    /// The product of the resolved targets and the ports, permuted and
    /// sharded ([`Plan`]).
    fn of_targets(config: &mut Config, command: String) -> Result<Work, Error> {
        let (targets, failures) = config::resolve_targets(config)?;
        // The typed targets are in `targets` now; a long -iL list need not
        // stay in memory for the scan.
        config.targets = Vec::new();
        for failure in failures {
            warn(&format!("{failure}; skipped"));
        }
        config::check_scan_size(config, targets.len())?;
        let plans: Vec<Plan> = config
            .protocols()
            .into_iter()
            .map(|(proto, ports)| {
                Plan::new(targets.clone(), ports.clone(), config.seed, config.shard)
                    .with_proto(proto)
            })
            .collect();
        let scan_id = ScanId::of(
            &targets,
            &config.protocols(),
            config.seed,
            &config.technique(),
        );
        let ports: Vec<String> = plans
            .iter()
            .map(|p| format!("{} {} ports", p.ports().len(), p.protocol()))
            .collect();
        let scope = format!("{} addresses x {}", targets.len(), ports.join(" + "));
        let mut info = ScanInfo::new(&plans, command, scan_id);
        info.syn = config.syn.is_some();
        let sources = plans
            .into_iter()
            .map(|p| Box::new(p) as Box<dyn ProbeSource>)
            .collect();
        Ok(Work {
            sources,
            info,
            scope,
        })
    }

    /// An explicit list of pairs (`--pairs`), permuted and sharded
    /// ([`PairPlan`]).
    fn of_pairs(pairs: &[Pair], config: &Config, command: String) -> Work {
        let plans: Vec<PairPlan> = [Proto::Tcp, Proto::Udp]
            .into_iter()
            .map(|proto| PairPlan::new(pairs, proto, config.seed, config.shard))
            .filter(|p| p.total() > 0)
            .collect();
        let scan_id = ScanId::of_pairs(pairs, config.seed, &config.technique());
        let ports = |proto: Proto| -> PortSpec {
            let set: BTreeSet<u16> = pairs
                .iter()
                .filter(|p| p.proto == proto)
                .map(|p| p.port)
                .collect();
            let list: Vec<String> = set.iter().map(u16::to_string).collect();
            list.join(",").parse().unwrap_or_else(|_| PortSpec::none())
        };
        let addresses: BTreeSet<std::net::IpAddr> = pairs.iter().map(|p| p.ip).collect();
        let info = ScanInfo {
            started: std::time::SystemTime::now(),
            command,
            ports: ports(Proto::Tcp),
            udp_ports: ports(Proto::Udp),
            addresses: addresses.len() as u64,
            shard: config.shard,
            total: pairs.len() as u64,
            scan_id,
            syn: config.syn.is_some(),
        };
        let scope = format!("{} pairs of {} addresses", pairs.len(), addresses.len());
        let sources = plans
            .into_iter()
            .map(|p| Box::new(p) as Box<dyn ProbeSource>)
            .collect();
        Work {
            sources,
            info,
            scope,
        }
    }
}

/// What `-v` prints before the scan: the scope and the timing settings.
fn settings_line(config: &Config, work: &Work) -> String {
    let scan = &config.scan;
    let rate = scan
        .rate
        .map_or("no limit".to_string(), |r| format!("{r}/s"));
    format!(
        "portscan: {} probes ({}, shard {}); timeout {} ms (floor {} ms), \
         {} retries, {} in flight, rate {rate}",
        work.sources.iter().map(|s| s.len()).sum::<u64>(),
        work.scope,
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
pub(crate) fn one_line(message: &str) -> String {
    escape_str(message).replace('\n', "\\n")
}
