//! From what was typed ([`Cli`]) to what to do ([`Config`]): every value
//! checked and turned into a library type, so nothing after this point
//! sees a string from the command line.
//!
//! Syntax errors here are usage errors (exit 2). Reading the `-iL` file is
//! the one piece of I/O (an unreadable file is a runtime error, exit 1);
//! names are resolved later, by [`resolve_targets`].

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rawnet::jobshard::ShardArg;
use rawnet::pairs::Pair;
use rawnet::ports::{PortSpec, ProtoPorts};
use rawnet::resolve::{self, Family, ResolveError};
use rawnet::scan::detection::ServiceConfig;
use rawnet::scan::SynRate;
use rawnet::scan::{BannerConfig, Proto, ScanConfig};
use rawnet::shard::Shard;
use rawnet::targets::{self, Expansion, TargetOptions, TargetSpec, TargetSpecError, Targets};

use crate::cli::Cli;
use crate::error::Error;
use crate::output::Format;
use crate::timing;

/// How long one name may take to resolve before it counts as failed.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(15);

/// Where an output goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dest {
    /// Standard output (`-`).
    Stdout,
    /// A file, created (or truncated) before the scan.
    File(PathBuf),
}

impl Dest {
    fn of(path: PathBuf) -> Dest {
        if path.as_os_str() == "-" {
            Dest::Stdout
        } else {
            Dest::File(path)
        }
    }
}

/// Where results go, in which formats (a scan's or a `--merge`'s).
#[derive(Debug)]
pub struct Outputs {
    /// Output format, or `None` to pick by whether the output is a
    /// terminal.
    pub format: Option<Format>,
    /// Where results go; `None` is stdout (unless an nmap format takes
    /// it: then nowhere).
    pub output: Option<PathBuf>,
    /// nmap's formats asked for (`-oX`, `-oG`, `-oN`, `-oA`), each with
    /// its destination.
    pub nmap: Vec<(Format, Dest)>,
}

impl Outputs {
    /// The outputs `cli` asks for, checked.
    pub fn from_cli(cli: &Cli) -> Result<Outputs, Error> {
        let format = match (cli.json, cli.table) {
            (true, _) => Some(Format::Json),
            (_, true) => Some(Format::Table),
            _ => None,
        };
        if let Some(path) = &cli.output {
            check_output_name(path)?;
        }
        Ok(Outputs {
            format,
            output: cli.output.clone(),
            nmap: nmap_outputs(cli)?,
        })
    }
}

/// The ports `-sn` connects to, as an unprivileged `nmap -sn` does.
const PING_PORTS: &str = "80,443";

/// A validated scan request.
#[derive(Debug)]
pub struct Config {
    /// Targets as parsed (names not yet resolved), in the order given.
    pub targets: Vec<TargetSpec>,
    /// How to expand them.
    pub target_options: TargetOptions,
    /// Never probed (`--exclude`, `--excludefile`), names not resolved.
    pub excludes: Vec<TargetSpec>,
    /// `--allow-large-scan`: no limit on unsharded probes.
    pub allow_large_scan: bool,
    /// TCP ports to probe on every address (empty: no TCP scan).
    pub ports: PortSpec,
    /// UDP ports to probe on every address (empty: no UDP scan, the
    /// default; `-sU`).
    pub udp_ports: PortSpec,
    /// SYN scan (`-sS`) of the TCP ports, with its rate bounds; `None`:
    /// connect scan.
    pub syn: Option<SynRate>,
    /// Service detection on open TCP ports (`-sV`).
    pub service: Option<ServiceConfig>,
    /// Which part of the permuted space this run covers.
    pub shard: Shard,
    /// Seed of the probe order.
    pub seed: u64,
    /// Settings for the engine.
    pub scan: ScanConfig,
    /// Report closed and filtered ports too.
    pub report_all: bool,
    /// `--open`: nmap's formats list no closed or filtered port either.
    pub open_only: bool,
    /// Where results go, in which formats.
    pub outputs: Outputs,
    /// Draw a progress bar (when stderr is a terminal).
    pub progress: bool,
    /// `-v` count: print the settings to stderr before the scan.
    pub verbose: u8,
    /// `--reason`: a reason column in the table and `-oN`.
    pub reasons: bool,
    /// `-sn`: discovery only (ports 80 and 443, hosts up or down).
    pub ping: bool,
    /// `--pairs FILE`: probe these pairs instead of targets x ports.
    pub pairs: Option<Vec<Pair>>,
    /// `--resume FILE`: the journal of a resumable scan.
    pub resume: Option<PathBuf>,
    /// `--stats-every`: a progress line on stderr this often.
    pub stats_every: Option<Duration>,
    /// Warnings about flags accepted but not honoured, for stderr.
    pub warnings: Vec<String>,
}

impl Config {
    /// Checks `cli`; `read_list` reads the `-iL` file (`-` for stdin).
    pub fn from_cli(
        cli: Cli,
        read_list: &dyn Fn(&Path) -> io::Result<String>,
    ) -> Result<Config, Error> {
        let pairs = match &cli.pairs {
            Some(path) => {
                let text = read_list(path).map_err(|e| {
                    Error::Runtime(format!("cannot read pairs list {}: {e}", path.display()))
                })?;
                let list = rawnet::pairs::parse(&text, &path.display().to_string())
                    .map_err(|e| Error::Usage(e.to_string()))?;
                if list.is_empty() {
                    return Err(Error::Usage(format!(
                        "pairs list {} holds no open (address, port) pair",
                        path.display()
                    )));
                }
                Some(list)
            }
            None => None,
        };
        let (target_arg, ports_arg) = split_positionals(&cli)?;
        let mut targets = Vec::new();
        if let Some(path) = &cli.input_list {
            let text = read_list(path).map_err(|e| {
                Error::Runtime(format!("cannot read target list {}: {e}", path.display()))
            })?;
            targets = targets::parse_file(&text, &path.display().to_string())?;
            if targets.is_empty() && target_arg.is_none() {
                return Err(Error::Usage(format!(
                    "target list {} holds no targets",
                    path.display()
                )));
            }
        }
        match target_arg {
            Some(list) => targets.extend(targets::parse_list(list)?),
            None if cli.input_list.is_none() && pairs.is_none() => {
                return Err(Error::Usage(
                    "no target given; usage: portscan [OPTIONS] TARGET [PORTS]".into(),
                ))
            }
            None => {}
        }
        let mut excludes = Vec::new();
        if let Some(path) = &cli.exclude_file {
            let text = read_list(path).map_err(|e| {
                Error::Runtime(format!("cannot read exclude list {}: {e}", path.display()))
            })?;
            excludes = targets::parse_file(&text, &path.display().to_string())?;
        }
        if let Some(list) = &cli.exclude {
            match targets::parse_list(list) {
                Err(TargetSpecError::Empty) => {
                    return Err(Error::Usage(
                        "the exclusion list of --exclude is empty".into(),
                    ))
                }
                parsed => excludes.extend(parsed?),
            }
        }
        if let Some(flag) = cli.nmap_unsupported.first() {
            return Err(Error::Usage(unsupported(flag)));
        }
        let (ports, udp_ports) = if pairs.is_some() {
            // The pairs name their ports; these only say what is scanned.
            (PortSpec::none(), PortSpec::none())
        } else if cli.ping_scan {
            if ports_arg.is_some() {
                return Err(Error::Usage(
                    "-sn pings hosts on ports 80 and 443; it takes no port list".into(),
                ));
            }
            (PING_PORTS.parse()?, PortSpec::none())
        } else {
            scan_ports(&cli, ports_arg)?
        };
        let template = timing::TEMPLATES[usize::from(cli.timing.unwrap_or(timing::DEFAULT))];
        let timeout_ms = cli
            .timeout_ms
            .or(cli.max_rtt_timeout)
            .or(cli.initial_rtt_timeout)
            .unwrap_or(template.timeout_ms);
        let min_timeout_ms = cli
            .min_timeout_ms
            .or(cli.min_rtt_timeout)
            .unwrap_or(template.min_timeout_ms);
        let mut warnings = Vec::new();
        if cli.syn && cli.banner {
            return Err(Error::Usage(
                "--banner reads what a connection says; -sS opens none: use -sT with --banner \
                 (or -sS -sV, which connects to the open ports)"
                    .into(),
            ));
        }
        if cli.min_rate.is_some() && !cli.syn {
            warnings.push(
                "--min-rate ignored: portscan has no lower bound on its rate; it goes as fast \
                 as --concurrency and the network allow"
                    .to_string(),
            );
        }
        // `env/N`: the index from the job runner's environment (a
        // missing or out-of-range one is a usage error, never shard 0).
        let shard = match &cli.shard {
            Some(s) => s
                .parse::<ShardArg>()?
                .resolve(&|name| std::env::var(name).ok())?,
            None => Shard::WHOLE,
        };
        let family = match (cli.ipv4, cli.ipv6) {
            (true, _) => Family::V4,
            (_, true) => Family::V6,
            _ => Family::Any,
        };
        let outputs = Outputs::from_cli(&cli)?;
        Ok(Config {
            targets,
            target_options: TargetOptions {
                family,
                first_address: cli.first_address,
                ..TargetOptions::default()
            },
            excludes,
            allow_large_scan: cli.allow_large_scan,
            ports,
            udp_ports,
            syn: cli.syn.then(|| SynRate {
                min: cli.min_rate,
                max: cli.rate.or(template.rate),
            }),
            service: cli.service.then(ServiceConfig::default),
            shard,
            seed: cli.seed,
            scan: ScanConfig {
                timeout: Duration::from_millis(timeout_ms),
                min_timeout: Duration::from_millis(min_timeout_ms.min(timeout_ms)),
                concurrency: cli.concurrency.unwrap_or(template.concurrency) as usize,
                retries: cli.retries.unwrap_or(template.retries),
                // -sn does the discovery itself, from every answer.
                // --pairs: the first sweep found them up; probing 80 and
                // 443 to discover them would leave the list.
                discover_hosts: !cli.no_discovery && !cli.ping_scan && cli.pairs.is_none(),
                host_timeout: cli.host_timeout.map(Duration::from_millis),
                rate: cli.rate.or(template.rate),
                banner: cli.banner.then(|| BannerConfig {
                    wait: Duration::from_millis(cli.banner_wait),
                    max_len: cli.banner_max as usize,
                }),
            },
            report_all: cli.all,
            open_only: cli.open,
            outputs,
            progress: !cli.no_progress,
            verbose: cli.verbose,
            reasons: cli.reason,
            ping: cli.ping_scan,
            pairs,
            resume: cli.resume.clone(),
            stats_every: cli.stats_every.map(Duration::from_millis),
            warnings,
        })
    }
}

/// The TCP and the UDP ports to scan (either may be empty, not both):
/// TCP unless only `-sU` is given, UDP with `-sU`; each protocol from the
/// list's items for it, else the top ports of its own ranking.
fn scan_ports(cli: &Cli, ports_arg: Option<&str>) -> Result<(PortSpec, PortSpec), Error> {
    let udp = cli.udp;
    let tcp = cli.connect_scan || cli.syn || !udp;
    let top = cli.top_ports.or(cli.fast.then_some(100));
    let (tcp_ports, udp_ports) = match (ports_arg, top) {
        (Some(_), Some(_)) => {
            return Err(Error::Usage(
                "ports given twice: as a list and with --top-ports/-F; use one".into(),
            ))
        }
        (Some(spec), None) => {
            let parsed: ProtoPorts = spec.parse()?;
            if parsed.udp_only && !udp {
                return Err(Error::Usage(format!(
                    "'{spec}' names UDP ports (U:) but no UDP scan was asked for: add -sU"
                )));
            }
            if parsed.tcp_only && !tcp {
                return Err(Error::Usage(format!(
                    "'{spec}' names TCP ports (T:) but -sU alone scans only UDP: add -sT"
                )));
            }
            (parsed.tcp, parsed.udp)
        }
        (None, Some(n)) => (PortSpec::top(n), PortSpec::top_udp(n)),
        (None, None) => (
            PortSpec::default_ports(),
            PortSpec::top_udp(rawnet::ports::DEFAULT_TOP_PORTS),
        ),
    };
    let pick = |wanted: bool, ports: PortSpec| if wanted { ports } else { PortSpec::none() };
    let (tcp_ports, udp_ports) = (pick(tcp, tcp_ports), pick(udp, udp_ports));
    if tcp_ports.is_empty() && udp_ports.is_empty() {
        return Err(Error::Usage(
            "no ports left to scan for the protocols asked for".into(),
        ));
    }
    Ok((tcp_ports, udp_ports))
}

impl Config {
    /// How ports are probed, for the scan's fingerprint: `connect`, with
    /// `+version` under `-sV` (the protocols are hashed with their
    /// ports).
    pub fn technique(&self) -> String {
        if self.ping {
            return "ping".to_string();
        }
        let mut t = String::from(if self.syn.is_some() { "syn" } else { "connect" });
        if self.service.is_some() {
            t.push_str("+version");
        }
        t
    }

    /// The protocols to scan and their ports, TCP first; empty sets left
    /// out.
    pub fn protocols(&self) -> Vec<(Proto, &PortSpec)> {
        [(Proto::Tcp, &self.ports), (Proto::Udp, &self.udp_ports)]
            .into_iter()
            .filter(|(_, p)| !p.is_empty())
            .collect()
    }
}

/// The one line for an nmap option portscan cannot honour.
fn unsupported(flag: &str) -> String {
    let why = match flag {
        "-sA" | "-sW" | "-sM" | "-sN" | "-sF" | "-sX" | "-sI" | "-b" => {
            "not supported; portscan scans with connect() (-sT) or SYNs (-sS)"
        }
        "-sY" | "-sZ" | "-sO" => {
            "portscan scans TCP (-sT) and UDP (-sU); SCTP and IP protocol scans are not supported"
        }
        "-O" => "OS detection needs raw packets; portscan cannot do it",
        "-A" => "OS detection and scripts are not portscan's; for service versions use -sV",
        "-sR" => "RPC scanning is not portscan's; -sV identifies services",
        "-sC" => "portscan runs no scripts",
        "-sL" => "portscan has no list-only mode",
        _ => "portscan cannot do that",
    };
    format!("{flag}: {why}")
}

/// `-o X` (and G, N, A, S) is nmap's `-oX` typed with a space, or by
/// habit: never write JSON Lines to a file named `X`. Nor to one named
/// `X=...`: that is `-oS=FILE` (nmap's script-kiddie output, which
/// portscan lacks) or `-o X=FILE`.
fn check_output_name(path: &Path) -> Result<(), Error> {
    let name = path.to_string_lossy();
    for letter in ["X", "G", "N", "A", "S"] {
        let attached = name
            .strip_prefix(letter)
            .is_some_and(|rest| rest.starts_with('='));
        if name == letter || attached {
            return Err(Error::Usage(format!(
                "-o {name} would write JSON Lines to a file named '{name}'; \
                 for nmap's formats write -o{letter} FILE (no space): -oX, -oG, -oN or -oA"
            )));
        }
    }
    Ok(())
}

/// The nmap formats asked for, `-oA BASE` expanded; at most one output
/// may go to stdout.
fn nmap_outputs(cli: &Cli) -> Result<Vec<(Format, Dest)>, Error> {
    let mut outputs = Vec::new();
    let single = [
        (Format::Xml, &cli.xml_output),
        (Format::Grepable, &cli.grepable_output),
        (Format::Normal, &cli.normal_output),
    ];
    for (format, path) in single {
        if let Some(path) = path {
            outputs.push((format, Dest::of(path.clone())));
        }
    }
    if let Some(base) = &cli.all_formats {
        if base.as_os_str() == "-" {
            return Err(Error::Usage(
                "-oA needs a file name base (it writes BASE.xml, BASE.gnmap, BASE.nmap), not '-'"
                    .into(),
            ));
        }
        for (format, ext) in [
            (Format::Xml, "xml"),
            (Format::Grepable, "gnmap"),
            (Format::Normal, "nmap"),
        ] {
            let mut name = base.clone().into_os_string();
            name.push(".");
            name.push(ext);
            outputs.push((format, Dest::File(PathBuf::from(name))));
        }
    }
    let to_stdout = outputs.iter().filter(|(_, d)| *d == Dest::Stdout).count();
    if to_stdout > 1 {
        return Err(Error::Usage(
            "only one of -oX, -oG, -oN can write to stdout ('-')".into(),
        ));
    }
    Ok(outputs)
}

/// Which positional argument is which: `TARGET [PORTS]`, or with `-iL`
/// and no `-p`, a lone positional is `PORTS`. Ports may come from the
/// positional or from `-p`, not both.
fn split_positionals(cli: &Cli) -> Result<(Option<&str>, Option<&str>), Error> {
    let (first, second) = (cli.target.as_deref(), cli.ports.as_deref());
    let flag = cli.ports_flag.as_deref();
    let (target, positional_ports) = match (first, second) {
        (Some(only), None) if cli.input_list.is_some() && flag.is_none() => (None, Some(only)),
        pair => pair,
    };
    if positional_ports.is_some() && flag.is_some() {
        return Err(Error::Usage(
            "ports given twice: as PORTS and with -p; use one".into(),
        ));
    }
    Ok((target, positional_ports.or(flag)))
}

/// Reads a target list: a file, or stdin for `-`.
pub fn read_list_file(path: &Path) -> io::Result<String> {
    let reader: Box<dyn Read> = if path == Path::new("-") {
        Box::new(io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(path)?)
    };
    read_bounded(reader, MAX_LIST_BYTES)
}

/// Largest target list read (`-iL`): a list of 65536 addresses with
/// comments is well under it; an endless stream is stopped here.
const MAX_LIST_BYTES: u64 = 16 * 1024 * 1024;

fn read_bounded(reader: impl Read, limit: u64) -> io::Result<String> {
    let mut text = String::new();
    reader.take(limit + 1).read_to_string(&mut text)?;
    if text.len() as u64 > limit {
        return Err(io::Error::other(format!(
            "larger than the limit of {} MiB; split it",
            limit / (1024 * 1024)
        )));
    }
    Ok(text)
}

/// Expands the configured targets through the system resolver. Names that
/// fail are returned for the caller to warn about; if nothing at all is
/// left to scan, that is a runtime error.
pub fn resolve_targets(config: &Config) -> Result<(Targets, Vec<ResolveError>), Error> {
    let resolver =
        |host: &str, family: Family| resolve::resolve_within(host, family, Some(RESOLVE_TIMEOUT));
    let Expansion {
        targets,
        failures,
        exclude_failures,
    } = targets::expand_excluding(
        &config.targets,
        &config.excludes,
        &config.target_options,
        &resolver,
    )?;
    if let Some(failure) = exclude_failures.first() {
        return Err(Error::Runtime(format!(
            "{failure} (in --exclude); not scanning, since its addresses cannot be left out"
        )));
    }
    if targets.is_empty() && failures.is_empty() {
        return Err(Error::Usage(
            "every target is excluded; nothing to scan".into(),
        ));
    }
    if targets.is_empty() {
        return Err(Error::Runtime(match failures.as_slice() {
            [only] => only.to_string(),
            _ => format!("none of the {} targets resolved", failures.len()),
        }));
    }
    Ok((targets, failures))
}

/// Fewest probes an unsharded run is refused without `--allow-large-scan`:
/// 2^32, an IPv4 /16 on every port, a /8 on 256 ports or `0.0.0.0/0` on
/// one port, hours at least.
pub const MAX_UNSHARDED_PROBES: u64 = 1 << 32;

/// The scan's total probe count, if it fits in a u64 and passes the typo
/// guard: [`MAX_UNSHARDED_PROBES`] or more only with `--shard` or
/// `--allow-large-scan`.
pub fn check_scan_size(config: &Config, addresses: u64) -> Result<u64, Error> {
    let ports = u64::from(config.ports.len()) + u64::from(config.udp_ports.len());
    let total = addresses.checked_mul(ports).ok_or_else(|| {
        Error::Usage(format!(
            "{addresses} addresses x {ports} ports is more probes than a scan can count (2^64 - 1); \
             split the targets"
        ))
    })?;
    if total >= MAX_UNSHARDED_PROBES && config.shard.count() == 1 && !config.allow_large_scan {
        return Err(Error::Usage(format!(
            "{total} probes ({addresses} addresses x {ports} ports) is 2^32 or more for one \
             unsharded run; check the targets (a /8 typed for a /24?), split the scan with \
             --shard I/N, or pass --allow-large-scan"
        )));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli;

    fn no_file(_: &Path) -> io::Result<String> {
        Err(io::Error::new(io::ErrorKind::NotFound, "no such file"))
    }

    fn config(args: &[&str]) -> Result<Config, Error> {
        config_with(args, &no_file)
    }

    fn config_with(
        args: &[&str],
        read: &dyn Fn(&Path) -> io::Result<String>,
    ) -> Result<Config, Error> {
        let cli = cli::parse_from(std::iter::once("portscan").chain(args.iter().copied()))
            .expect("clap accepts");
        Config::from_cli(cli, read)
    }

    fn usage(args: &[&str]) -> String {
        match config(args) {
            Err(Error::Usage(m)) => m,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn defaults_become_a_scan_config() {
        let c = config(&["127.0.0.1"]).unwrap();
        assert_eq!(c.ports, PortSpec::default_ports());
        assert_eq!(c.shard, Shard::WHOLE);
        assert_eq!(
            c.scan,
            ScanConfig {
                timeout: Duration::from_millis(1000),
                min_timeout: Duration::from_millis(100),
                concurrency: 10_000,
                retries: 1,
                discover_hosts: true,
                host_timeout: None,
                rate: None,
                banner: None,
            }
        );
        assert_eq!(c.outputs.format, None);
        assert!(!c.report_all && c.progress);
        assert_eq!(c.target_options, TargetOptions::default());
    }

    #[test]
    fn flags_reach_the_config() {
        let c = config(&[
            "127.0.0.1,::1",
            "22,80",
            "--banner",
            "--banner-wait",
            "200",
            "--banner-max",
            "64",
            "--rate",
            "10",
            "--shard",
            "2/3",
            "--seed",
            "9",
            "--table",
            "-6",
            "--first-address",
            "--no-progress",
        ])
        .unwrap();
        assert_eq!(c.targets.len(), 2);
        assert_eq!(c.ports.to_string(), "22,80");
        assert_eq!(
            c.scan.banner,
            Some(BannerConfig {
                wait: Duration::from_millis(200),
                max_len: 64
            })
        );
        assert_eq!(c.scan.rate, Some(10));
        assert_eq!(c.shard, Shard::new(2, 3).unwrap());
        assert_eq!(c.seed, 9);
        assert_eq!(c.outputs.format, Some(Format::Table));
        assert_eq!(c.target_options.family, Family::V6);
        assert!(c.target_options.first_address && !c.progress);
    }

    #[test]
    fn min_timeout_is_capped_by_the_timeout() {
        let c = config(&["h", "-t", "50"]).unwrap();
        assert_eq!(c.scan.timeout, Duration::from_millis(50));
        assert_eq!(c.scan.min_timeout, Duration::from_millis(50));
        let c = config(&["h", "-t", "300", "--min-timeout", "300"]).unwrap();
        assert_eq!(c.scan.min_timeout, c.scan.timeout);
        let c = config(&["h", "--min-timeout", "20"]).unwrap();
        assert_eq!(c.scan.min_timeout, Duration::from_millis(20));
    }

    #[test]
    fn ports_by_flag_or_positional_not_both() {
        assert_eq!(config(&["h", "-p", "22"]).unwrap().ports.to_string(), "22");
        assert_eq!(config(&["h", "-"]).unwrap().ports, PortSpec::all());
        assert!(usage(&["h", "22", "-p", "23"]).contains("ports given twice"));
    }

    #[test]
    fn bad_values_are_usage_errors() {
        assert!(usage(&["h", "65536"]).contains("out of range"));
        assert!(usage(&["h", "http*"]).contains("not supported"));
        assert!(usage(&["h,,h"]).contains("empty target"));
        assert!(usage(&["h", "--shard", "4/4"]).contains("0-based"));
        // The documented one-line form of every usage error.
        assert_eq!(
            usage(&[]),
            "no target given; usage: portscan [OPTIONS] TARGET [PORTS]"
        );
    }

    #[test]
    fn input_list_with_a_lone_positional_takes_it_as_ports() {
        let read = |p: &Path| {
            assert_eq!(p, Path::new("hosts.txt"));
            Ok("# two hosts\n127.0.0.1\n127.0.0.2\n".to_string())
        };
        let c = config_with(&["-iL", "hosts.txt", "22"], &read).unwrap();
        assert_eq!(c.targets.len(), 2);
        assert_eq!(c.ports.to_string(), "22");
        // With -p, the positional is a target added to the list.
        let c = config_with(&["-iL", "hosts.txt", "-p", "22", "127.0.0.3"], &read).unwrap();
        assert_eq!(c.targets.len(), 3);
        let c = config_with(&["-iL", "hosts.txt", "127.0.0.3", "22"], &read).unwrap();
        assert_eq!(c.targets.len(), 3);
    }

    #[test]
    fn input_list_errors() {
        match config(&["-iL", "missing.txt"]) {
            Err(Error::Runtime(m)) => assert!(m.contains("cannot read target list missing.txt")),
            other => panic!("{other:?}"),
        }
        let empty = |_: &Path| Ok("# nothing\n\n".to_string());
        match config_with(&["-iL", "empty.txt"], &empty) {
            Err(Error::Usage(m)) => assert!(m.contains("holds no targets")),
            other => panic!("{other:?}"),
        }
        let bad = |_: &Path| Ok("127.0.0.1\n300.1.1.1\n".to_string());
        match config_with(&["-iL", "bad.txt"], &bad) {
            Err(Error::Usage(m)) => assert!(m.starts_with("bad.txt:2: invalid target")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn timing_templates_and_explicit_flags() {
        let c = config(&["h", "-T5"]).unwrap();
        assert_eq!(c.scan.timeout, Duration::from_millis(250));
        assert_eq!(c.scan.min_timeout, Duration::from_millis(50));
        assert_eq!((c.scan.retries, c.scan.concurrency), (0, 10_000));
        let c = config(&["h", "-T0", "--retries", "2", "-c", "7"]).unwrap();
        assert_eq!(
            (c.scan.retries, c.scan.concurrency, c.scan.rate),
            (2, 7, Some(1))
        );
        assert_eq!(c.scan.timeout, Duration::from_millis(10_000));
        let c = config(&["h", "-T3"]).unwrap();
        assert_eq!(c.scan, config(&["h"]).unwrap().scan);
        let c = config(&[
            "h",
            "--max-rtt-timeout",
            "300ms",
            "--min-rtt-timeout",
            "20ms",
        ])
        .unwrap();
        assert_eq!(c.scan.timeout, Duration::from_millis(300));
        assert_eq!(c.scan.min_timeout, Duration::from_millis(20));
        let c = config(&["h", "--initial-rtt-timeout", "2"]).unwrap();
        assert_eq!(c.scan.timeout, Duration::from_millis(2000));
        let c = config(&["h", "--max-rate", "9", "--min-rate", "5"]).unwrap();
        assert_eq!(c.scan.rate, Some(9));
        assert_eq!(c.warnings.len(), 1);
    }

    #[test]
    fn top_ports_fast_and_what_portscan_cannot_do() {
        assert_eq!(
            config(&["h", "--top-ports", "10"]).unwrap().ports,
            PortSpec::top(10)
        );
        assert_eq!(config(&["h", "-F"]).unwrap().ports, PortSpec::top(100));
        assert!(usage(&["h", "22", "-F"]).contains("ports given twice"));
        assert!(usage(&["h", "-p", "22", "--top-ports", "5"]).contains("ports given twice"));
        assert!(usage(&["h", "-sA"]).starts_with("-sA: not supported"));
        let c = config(&["h", "-sS", "--max-rate", "9", "--min-rate", "5"]).unwrap();
        assert_eq!(
            c.syn,
            Some(SynRate {
                min: Some(5),
                max: Some(9)
            })
        );
        assert!(c.warnings.is_empty(), "--min-rate is honoured with -sS");
        assert!(usage(&["h", "-sS", "--banner"]).contains("-sS opens none"));
        assert_eq!(config(&["h", "-sT"]).unwrap().syn, None);
        assert!(usage(&["h", "-O"]).starts_with("-O: OS detection"));
        assert!(usage(&["h", "-A"]).starts_with("-A: "));
        assert!(usage(&["h", "-sY"]).contains("SCTP"));
        assert_eq!(
            config(&["-sT", "-n", "--open", "h"]).unwrap().ports,
            PortSpec::top(1000)
        );
    }

    #[test]
    fn udp_and_both_protocols() {
        let c = config(&["-sU", "h"]).unwrap();
        assert!(c.ports.is_empty());
        assert_eq!(c.udp_ports, PortSpec::top_udp(1000));
        let c = config(&["-sU", "-sT", "--top-ports", "20", "h"]).unwrap();
        assert_eq!(
            (c.ports.clone(), c.udp_ports.clone()),
            (PortSpec::top(20), PortSpec::top_udp(20))
        );
        assert_eq!(c.protocols().len(), 2);
        let c = config(&["-sU", "-sT", "-p", "U:53,161,T:22,80", "h"]).unwrap();
        assert_eq!(c.ports.to_string(), "22,80");
        assert_eq!(c.udp_ports.to_string(), "53,161");
        let c = config(&["-sU", "-p", "53", "h"]).unwrap();
        assert_eq!(
            (c.ports.len(), c.udp_ports.to_string()),
            (0, "53".to_string())
        );
        assert!(usage(&["-p", "U:53", "h"]).contains("add -sU"));
        assert!(usage(&["-sU", "-p", "T:22", "h"]).contains("add -sT"));
        let c = config(&["-sU", "-sT", "-p", "T:22", "h"]).unwrap();
        assert!(c.udp_ports.is_empty() && c.protocols().len() == 1);
        assert_eq!(config(&["h"]).unwrap().service, None);
        assert!(config(&["-sV", "h"]).unwrap().service.is_some());
    }

    #[test]
    fn nmap_outputs_and_the_o_letter_guard() {
        let c = config(&["h", "-oX", "-", "-oA", "scan", "-o", "r.jsonl"]).unwrap();
        assert_eq!(
            c.outputs.nmap,
            vec![
                (Format::Xml, Dest::Stdout),
                (Format::Xml, Dest::File("scan.xml".into())),
                (Format::Grepable, Dest::File("scan.gnmap".into())),
                (Format::Normal, Dest::File("scan.nmap".into())),
            ]
        );
        assert_eq!(c.outputs.output, Some(PathBuf::from("r.jsonl")));
        for letter in ["X", "G", "N", "A", "S"] {
            let m = usage(&["h", "-o", letter]);
            assert!(m.contains(&format!("-o{letter} FILE")), "{m}");
            let m = usage(&["h", "-o", &format!("{letter}=-")]);
            assert!(m.contains(&format!("-o{letter} FILE")), "{m}");
        }
        assert!(usage(&["h", "-oS=-"]).contains("named 'S=-'"));
        let c = config(&["h", "-oX=-", "-oG=g", "-o", "X.jsonl"]).unwrap();
        assert_eq!(c.outputs.output, Some(PathBuf::from("X.jsonl")));
        assert!(usage(&["h", "-oX", "-", "-oG", "-"]).contains("only one"));
        assert!(usage(&["h", "-oA", "-"]).contains("file name base"));
    }

    #[test]
    fn oversized_blocks_fail_before_any_lookup() {
        let c = config(&["no-such-host.invalid,fd00::/64"]).unwrap();
        match resolve_targets(&c) {
            Err(Error::Usage(m)) => assert_eq!(
                m,
                "CIDR fd00::/64 has 2^64 addresses, more than the limit of 2^64 - 1"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_typo_guard_and_the_u64_bound() {
        let c = config(&["10.0.0.0/8", "80"]).unwrap();
        assert_eq!(check_scan_size(&c, 1 << 24).unwrap(), 1 << 24);
        let c = config(&["0.0.0.0/0", "80,443"]).unwrap();
        match check_scan_size(&c, 1 << 32) {
            Err(Error::Usage(m)) => assert!(m.contains("--allow-large-scan"), "{m}"),
            other => panic!("{other:?}"),
        }
        let c = config(&["0.0.0.0/0", "80"]).unwrap();
        assert!(
            check_scan_size(&c, 1 << 32).is_err(),
            "exactly 2^32 is refused"
        );
        assert_eq!(check_scan_size(&c, (1 << 32) - 1).unwrap(), (1 << 32) - 1);
        let c = config(&["0.0.0.0/0", "80,443", "--shard", "0/64"]).unwrap();
        assert_eq!(check_scan_size(&c, 1 << 32).unwrap(), 1 << 33);
        let c = config(&["0.0.0.0/0", "80,443", "--allow-large-scan"]).unwrap();
        assert!(check_scan_size(&c, 1 << 32).is_ok());
        let c = config(&["fd00::/65", "-", "--allow-large-scan"]).unwrap();
        assert!(matches!(check_scan_size(&c, 1 << 63), Err(Error::Usage(_))));
    }

    #[test]
    fn exclusions_reach_the_expansion() {
        let read = |p: &Path| {
            assert_eq!(p, Path::new("skip.txt"));
            Ok("127.0.0.3 # not this one\n".to_string())
        };
        let c = config_with(
            &[
                "127.0.0.0/30",
                "--exclude",
                "127.0.0.0,127.0.0.1",
                "--excludefile",
                "skip.txt",
            ],
            &read,
        )
        .unwrap();
        assert_eq!(c.excludes.len(), 3);
        let (targets, _) = resolve_targets(&c).unwrap();
        let ips: Vec<String> = targets.iter().map(|(_, ip)| ip.to_string()).collect();
        assert_eq!(ips, ["127.0.0.2"]);
        let c = config(&["127.0.0.1", "--exclude", "127.0.0.0/8"]).unwrap();
        assert!(
            matches!(resolve_targets(&c), Err(Error::Usage(m)) if m.contains("every target is excluded"))
        );
        assert!(usage(&["h", "--exclude", "10.0.0.300"]).contains("invalid target"));
    }

    #[test]
    fn literal_targets_resolve_without_dns() {
        let c = config(&["127.0.0.1,127.0.0.0/31"]).unwrap();
        let (targets, failures) = resolve_targets(&c).unwrap();
        assert_eq!(targets.len(), 2);
        assert!(failures.is_empty());
    }
}
