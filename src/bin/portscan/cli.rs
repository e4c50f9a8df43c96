//! What was typed: the clap definition of `portscan`'s command line.
//!
//! Nothing here is validated beyond what clap does (numbers are numbers);
//! `config` turns a [`Cli`] into the library's checked types, so port
//! specs, targets and shards have one parser each and one-line errors.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use clap::Parser;

use crate::generate::Generate;

/// Connect-scan TCP ports and probe UDP ports, without privileges: open,
/// closed, filtered or open|filtered, as JSON Lines or a table.
#[derive(Debug, Parser)]
#[command(name = "portscan", version)]
pub struct Cli {
    /// Host name, IPv4/IPv6 address, CIDR block (v4 or v6), or a
    /// comma-separated list of them. With -iL and no -p, a lone positional
    /// argument is PORTS instead.
    #[arg(value_name = "TARGET")]
    pub target: Option<String>,

    /// Ports: N, A-B, service names (http), comma lists of them, '-' or
    /// 'all' for 1-65535; T: and U: prefixes as in nmap (U:53,161,T:22)
    /// [default: nmap's top 1000 TCP ports, as nmap -sT; UDP: its top 1000
    /// UDP ports].
    #[arg(value_name = "PORTS")]
    pub ports: Option<String>,

    /// Ports, as a flag (nmap's -p); same syntax as PORTS.
    #[arg(
        short = 'p',
        long = "ports",
        value_name = "PORTS",
        allow_hyphen_values = true
    )]
    pub ports_flag: Option<String>,

    /// Read targets from FILE (also -iL FILE, as in nmap): whitespace- or
    /// comma-separated, '#' comments, blank lines ignored; '-' is stdin.
    #[arg(long = "input-list", value_name = "FILE")]
    pub input_list: Option<PathBuf>,

    /// Probe exactly these (address, port) pairs, from FILE ('-' is
    /// stdin): ADDRESS:PORT lines, masscan -oL/-oJ, zmap CSV, naabu and
    /// portscan JSON Lines (only ports they found open), so a fast sweep
    /// can feed -sV (docs/portscan-jobs.md).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["target", "input_list", "ports_flag", "top_ports", "fast", "ping_scan", "udp", "exclude", "exclude_file"])]
    pub pairs: Option<PathBuf>,

    /// Never probe these: addresses, CIDR blocks, octet ranges or names,
    /// comma-separated (nmap's --exclude).
    #[arg(long, value_name = "LIST")]
    pub exclude: Option<String>,

    /// Never probe the targets listed in FILE (same syntax as -iL; '-' is
    /// stdin).
    #[arg(long = "excludefile", value_name = "FILE")]
    pub exclude_file: Option<PathBuf>,

    /// Run an unsharded scan of 2^32 probes or more (refused by
    /// default: a /8 typed for a /24 should not start a day-long scan).
    #[arg(long)]
    pub allow_large_scan: bool,

    /// Only IPv4: names keep their IPv4 addresses; IPv6 literals are an error.
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,

    /// Only IPv6: names keep their IPv6 addresses; IPv4 literals are an error.
    #[arg(short = '6')]
    pub ipv6: bool,

    /// Scan only the first address a name resolves to, not all of them.
    #[arg(long)]
    pub first_address: bool,

    /// Most connects in flight at once: the ceiling of a window that
    /// starts at 1000 and grows while answers keep coming (the engine
    /// lowers it to fit the open-file limit) [default: 10000, or -T's].
    #[arg(
        short = 'c',
        long,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=1_000_000)
    )]
    pub concurrency: Option<u32>,

    /// Initial and maximum connect timeout per attempt, in milliseconds;
    /// no answer in time means filtered. Once an address answers, its
    /// timeout adapts to its round-trip time (down to --min-timeout)
    /// [default: 1000, or -T's].
    #[arg(
        short = 't',
        long = "timeout",
        value_name = "MS",
        value_parser = clap::value_parser!(u64).range(1..=600_000)
    )]
    pub timeout_ms: Option<u64>,

    /// Least connect timeout per attempt, in milliseconds, however fast an
    /// address answers (lowered to --timeout if above it; equal to it
    /// gives a fixed timeout) [default: 100, or -T's].
    #[arg(
        long = "min-timeout",
        value_name = "MS",
        value_parser = clap::value_parser!(u64).range(1..=600_000)
    )]
    pub min_timeout_ms: Option<u64>,

    /// Extra attempts for a port that came back filtered (nmap's
    /// --max-retries) [default: 1, or -T's].
    #[arg(
        long,
        visible_alias = "max-retries",
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(0..=10)
    )]
    pub retries: Option<u32>,

    /// Most connects started per second, across all workers (nmap's
    /// --max-rate) [default: no limit, or -T's].
    #[arg(
        long,
        visible_alias = "max-rate",
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub rate: Option<u32>,

    /// Timing template, nmap's -T0..-T5 (or paranoid, sneaky, polite,
    /// normal, aggressive, insane): sets --timeout, --min-timeout,
    /// --retries, --concurrency and --rate (docs/portscan-timing.md); those flags
    /// still win. -T3 is the default.
    #[arg(short = 'T', value_name = "0-5", value_parser = parse_template)]
    pub timing: Option<u8>,

    /// nmap's --initial-rtt-timeout TIME (seconds, or with ms/s/m/h):
    /// portscan's --timeout, unless --max-rtt-timeout is given.
    #[arg(long = "initial-rtt-timeout", value_name = "TIME", value_parser = parse_nmap_time)]
    pub initial_rtt_timeout: Option<u64>,

    /// nmap's --max-rtt-timeout TIME: portscan's --timeout.
    #[arg(long = "max-rtt-timeout", value_name = "TIME", value_parser = parse_nmap_time)]
    pub max_rtt_timeout: Option<u64>,

    /// nmap's --min-rtt-timeout TIME: portscan's --min-timeout.
    #[arg(long = "min-rtt-timeout", value_name = "TIME", value_parser = parse_nmap_time)]
    pub min_rtt_timeout: Option<u64>,

    /// nmap's --min-rate N: with -sS, the adaptive packet rate never falls
    /// below N a second; otherwise accepted for scripts written for nmap,
    /// with a warning (a connect scan never slows below what
    /// --concurrency allows).
    #[arg(long = "min-rate", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub min_rate: Option<u32>,

    /// Scan nmap's N most often open TCP ports (exactly nmap's list; with
    /// -sU, also its N most often open UDP ports).
    #[arg(long = "top-ports", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=65535))]
    pub top_ports: Option<u32>,

    /// Fast: nmap's top 100 ports (--top-ports 100).
    #[arg(short = 'F', conflicts_with = "top_ports")]
    pub fast: bool,

    /// TCP connect scan: the default; with -sU, scan both TCP and UDP.
    #[arg(long = "connect-scan", hide = true, conflicts_with = "syn")]
    pub connect_scan: bool,

    /// SYN scan (also -sS): hand-built TCP SYNs on a raw socket, replies
    /// matched by a keyed hash they carry, the packet rate adapting to
    /// loss (capped by --rate/--max-rate, floored by --min-rate). Needs
    /// CAP_NET_RAW (root, or setcap cap_net_raw+ep on the binary). With
    /// -sU, scan both.
    #[arg(long)]
    pub syn: bool,

    /// Scan UDP ports (also -sU): a request the service understands on
    /// well-known ports, an empty datagram elsewhere; no root needed.
    /// Only UDP, unless -sT is given too.
    #[arg(long)]
    pub udp: bool,

    /// Detect services on open TCP ports (also -sV): read the greeting,
    /// else send a few probes, and match the replies against built-in
    /// signatures.
    #[arg(long)]
    pub service: bool,

    /// Never reverse-resolve addresses (nmap's -n): portscan never does;
    /// accepted.
    #[arg(short = 'n')]
    pub no_reverse_dns: bool,

    /// Report only open ports (nmap's --open): portscan's default; in
    /// -oX/-oG/-oN, no closed or filtered port is listed either (as
    /// nmap --open). Conflicts with --all.
    #[arg(long, conflicts_with = "all")]
    pub open: bool,

    /// Discovery only (also -sn, as nmap's ping scan): which addresses
    /// are up, from TCP connects to ports 80 and 443 (an answer, even a
    /// refusal, means up); no port scan. In every output format.
    #[arg(long, conflicts_with_all = ["udp", "service", "ports", "ports_flag", "top_ports", "fast", "no_discovery"])]
    pub ping_scan: bool,

    /// Show why each port has its state (nmap's --reason): a REASON
    /// column in the table and in -oN (JSON and -oX always have it).
    #[arg(long)]
    pub reason: bool,

    /// Print a progress line to stderr every TIME (nmap's --stats-every;
    /// 500ms, 10s, 5m; a plain number is seconds), terminal or not: for
    /// job logs.
    #[arg(long, value_name = "TIME", value_parser = parse_stats_every)]
    pub stats_every: Option<u64>,

    /// More on stderr: the scan's settings before it starts (-v).
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// nmap options portscan cannot honour (-sS, -O, -A, ...), rewritten
    /// here by rewrite_nmap_flags so that config can say why in one line.
    #[arg(
        long = "nmap-unsupported",
        hide = true,
        value_name = "FLAG",
        allow_hyphen_values = true
    )]
    pub nmap_unsupported: Vec<String>,

    /// Read what open ports send first (capped; escaped in the table).
    #[arg(long)]
    pub banner: bool,

    /// How long to wait for a banner, in milliseconds (with --banner).
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 500,
        value_parser = clap::value_parser!(u64).range(1..=60_000)
    )]
    pub banner_wait: u64,

    /// Most banner bytes kept (with --banner).
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = 256,
        value_parser = clap::value_parser!(u32).range(1..=65_536)
    )]
    pub banner_max: u32,

    /// Report every probed port (closed and filtered too), not only open
    /// ones.
    #[arg(short = 'a', long)]
    pub all: bool,

    /// Write JSON Lines (one object per port), even to a terminal.
    #[arg(long, conflicts_with = "table")]
    pub json: bool,

    /// Write an aligned table (sorted, after the scan), even to a pipe.
    #[arg(long)]
    pub table: bool,

    /// Write results to FILE instead of stdout (JSON Lines unless --table).
    /// For nmap's formats, see -oX, -oG, -oN, -oA.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// -oX FILE: also write nmap's XML to FILE ('-' for stdout).
    #[arg(long = "xml-output", value_name = "FILE", allow_hyphen_values = true)]
    pub xml_output: Option<PathBuf>,

    /// -oG FILE: also write nmap's grepable format to FILE ('-' for stdout).
    #[arg(
        long = "grepable-output",
        value_name = "FILE",
        allow_hyphen_values = true
    )]
    pub grepable_output: Option<PathBuf>,

    /// -oN FILE: also write nmap's normal format to FILE ('-' for stdout).
    #[arg(
        long = "normal-output",
        value_name = "FILE",
        allow_hyphen_values = true
    )]
    pub normal_output: Option<PathBuf>,

    /// -oA BASE: -oX BASE.xml, -oG BASE.gnmap and -oN BASE.nmap at once.
    #[arg(long = "all-formats", value_name = "BASE")]
    pub all_formats: Option<PathBuf>,

    /// Scan only shard I of N (0-based: 0/4 .. 3/4) of the permuted
    /// (address, port) space; all shards must use the same targets, ports
    /// and --seed. 'env/N' takes I from the job runner's environment
    /// (JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID, PARALLEL_SEQ,
    /// AWS_BATCH_JOB_ARRAY_INDEX; docs/portscan-jobs.md).
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,

    /// Merge shard outputs (JSON Lines and nmap XML, mixed) into one
    /// report instead of scanning, written as -o/--json/--table/-oX/-oG/
    /// -oN/-oA say; missing shards and inputs of another scan are reported
    /// on stderr (exit 3). Rules: docs/portscan-jobs.md.
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with_all = ["target", "input_list", "shard"])]
    pub merge: Vec<PathBuf>,

    /// Make the scan resumable through the journal FILE (nmap's
    /// --resume, but given with the scan's own arguments): a new FILE is
    /// started; an existing one of the same scan is continued (outputs
    /// rewritten from it, only what it lacks probed). A FILE of another
    /// scan is refused. docs/portscan-jobs.md.
    #[arg(long, value_name = "FILE", conflicts_with = "merge")]
    pub resume: Option<PathBuf>,

    /// Seed of the pseudo-random probe order.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,

    /// Never draw the progress bar (it is drawn only when stderr is a
    /// terminal anyway).
    #[arg(long)]
    pub no_progress: bool,

    /// Print a shell completion script, the man page or the flag
    /// reference (Markdown), and exit
    #[arg(long, value_enum, value_name = "KIND")]
    pub generate: Option<Generate>,

    // issue 8: host discovery and the host timeout (nmap's -Pn and
    // --host-timeout; their semantics live in the engine's discovery).
    /// Skip host discovery (also -Pn, as in nmap): treat every address as
    /// up and probe all its ports. By default an address that answers
    /// none of its first probes (its first port, 80 and 443) is reported
    /// down once and its ports are not probed.
    #[arg(long)]
    pub no_discovery: bool,

    /// Give up on an address this long after its first probe: ports not
    /// yet probed are skipped (what it reported stays). nmap's time syntax:
    /// 500ms, 30s, 15m, 2h; a plain number is seconds, as in nmap.
    #[arg(long, value_name = "TIME", value_parser = parse_host_timeout)]
    pub host_timeout: Option<u64>,
}

/// The default ceiling of connects in flight (`-c`; issue 8): room for
/// the adaptive window to grow on slow paths.
pub const DEFAULT_CONCURRENCY: u32 = 10_000;

/// The command line definition with the text of manual.rs after the
/// flags: what `--help`, the man page and the reference show.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let manual = &crate::manual::MANUAL;
    Cli::command()
        .override_usage(manual.synopsis.join("\n       "))
        .after_help(crate::docgen::after_help(manual, false))
        .after_long_help(crate::docgen::after_help(manual, true))
}

/// Parses a command line (program name first), after [`rewrite_nmap_flags`].
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    use clap::FromArgMatches;
    Cli::from_arg_matches_mut(&mut command().try_get_matches_from(rewrite_nmap_flags(args))?)
}

/// nmap's single-dash long options and what they become for clap (whose
/// short flags are one letter: `-oX` would read as `-o X`, a file named
/// `X`).
pub const NMAP_FLAGS: &[(&str, &str)] = &[
    ("-iL", "--input-list"),
    ("-Pn", "--no-discovery"),
    ("-sS", "--syn"),
    ("-sT", "--connect-scan"),
    ("-sU", "--udp"),
    ("-sV", "--service"),
    ("-sn", "--ping-scan"),
    ("-oX", "--xml-output"),
    ("-oG", "--grepable-output"),
    ("-oN", "--normal-output"),
    ("-oA", "--all-formats"),
];

/// nmap options that need what portscan does not do (raw packets, SCTP,
/// OS detection, scripts).
pub const UNSUPPORTED: &[&str] = &[
    "-sA", "-sW", "-sM", "-sN", "-sF", "-sX", "-sY", "-sZ", "-sO", "-sI", "-sC", "-sL", "-sR",
    "-O", "-A", "-b",
];

/// Rewrites nmap's single-dash long options (`-iL`, `-Pn`, `-oX`, `-oG`,
/// `-oN`, `-oA`) into portscan's long ones. Arguments after `--` are left
/// alone, and so are values: only a whole argument that is exactly one of
/// these flags is rewritten.
pub fn rewrite_nmap_flags<I, T>(args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let mut after_dashes = false;
    args.into_iter()
        .map(Into::into)
        .map(|arg| {
            if arg == "--" {
                after_dashes = true;
            }
            if after_dashes {
                return arg;
            }
            if let Some((_, long)) = NMAP_FLAGS.iter().find(|(nmap, _)| arg == *nmap) {
                return OsString::from(long);
            }
            if let Some(attached) = with_equals(&arg) {
                return attached;
            }
            match arg.to_str() {
                Some(flag) if UNSUPPORTED.contains(&flag) => {
                    OsString::from(format!("--nmap-unsupported={flag}"))
                }
                _ => arg,
            }
        })
        .collect()
}

/// nmap's `-oX=FILE` (and `-iL=`, `-oG=`, ...; nmap takes the value after
/// `=` too) as `--xml-output=FILE`; clap would read it as `-o X=FILE`.
fn with_equals(arg: &OsStr) -> Option<OsString> {
    let text = arg.to_str()?;
    NMAP_FLAGS.iter().find_map(|(nmap, long)| {
        let value = text.strip_prefix(nmap)?.strip_prefix('=')?;
        Some(OsString::from(format!("{long}={value}")))
    })
}

/// `-T` values: 0-5 or nmap's names for them.
fn parse_template(text: &str) -> Result<u8, String> {
    const NAMES: [&str; 6] = [
        "paranoid",
        "sneaky",
        "polite",
        "normal",
        "aggressive",
        "insane",
    ];
    if let Some(i) = NAMES.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(i as u8);
    }
    match text.parse::<u8>() {
        Ok(n) if n <= 5 => Ok(n),
        _ => Err("expected 0-5 or paranoid, sneaky, polite, normal, aggressive, insane".into()),
    }
}

/// An nmap time: a number of seconds, or a number with `ms`, `s`, `m` or
/// `h`; returned in milliseconds (at least 1, at most 600000, portscan's
/// range for timeouts).
fn parse_nmap_time(text: &str) -> Result<u64, String> {
    nmap_millis(text, 600_000)
        .map_err(|e| e.unwrap_or_else(|| "must be between 1ms and 10m".into()))
}

/// `--host-timeout`: an nmap time (as [`parse_nmap_time`]) of up to a
/// week, in milliseconds.
fn parse_host_timeout(text: &str) -> Result<u64, String> {
    const WEEK_MS: u64 = 7 * 24 * 3_600_000;
    nmap_millis(text, WEEK_MS)
        .map_err(|e| e.unwrap_or_else(|| "must be between 1ms and 168h".into()))
}

/// `--stats-every`: an nmap time of 100ms to a day, in milliseconds.
fn parse_stats_every(text: &str) -> Result<u64, String> {
    match nmap_millis(text, 24 * 3_600_000) {
        Ok(ms) if ms >= 100 => Ok(ms),
        Ok(_) | Err(None) => Err("must be between 100ms and 24h".into()),
        Err(Some(why)) => Err(why),
    }
}

/// The milliseconds of an nmap time; `Err(None)` when it is out of
/// `1..=max_ms`, `Err(Some(why))` when it is not a time at all.
fn nmap_millis(text: &str, max_ms: u64) -> Result<u64, Option<String>> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "ms" => 1.0,
        "" | "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => {
            return Err(Some(
                "expected a time like 500ms, 2s, 1m or 1h (plain numbers are seconds)".into(),
            ))
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| Some("expected a time like 500ms, 2s, 1m or 1h".to_string()))?;
    let ms = (value * scale).round();
    if !(1.0..=max_ms as f64).contains(&ms) {
        return Err(None);
    }
    Ok(ms as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        parse_from(std::iter::once("portscan").chain(args.iter().copied()))
    }

    fn kind(args: &[&str]) -> ErrorKind {
        parse(args).unwrap_err().kind()
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let cli = parse(&["10.0.0.1"]).unwrap();
        assert_eq!(cli.target.as_deref(), Some("10.0.0.1"));
        assert_eq!(cli.ports, None);
        assert_eq!(cli.concurrency, None);
        assert_eq!((cli.timeout_ms, cli.min_timeout_ms), (None, None));
        assert_eq!((cli.retries, cli.timing), (None, None));
        assert_eq!(cli.rate, None);
        assert!(!cli.banner && !cli.all && !cli.json && !cli.table);
        assert_eq!((cli.banner_wait, cli.banner_max), (500, 256));
        assert_eq!(cli.seed, 0);
        assert_eq!(cli.shard, None);
    }

    #[test]
    fn positionals_and_flags() {
        let cli = parse(&[
            "localhost",
            "22,80",
            "-c",
            "50",
            "-t",
            "300",
            "--min-timeout",
            "20",
            "--retries",
            "0",
            "--rate",
            "100",
            "--banner",
            "--all",
            "--json",
            "--shard",
            "1/4",
            "--seed",
            "7",
            "-4",
            "--first-address",
            "-o",
            "out.jsonl",
        ])
        .unwrap();
        assert_eq!(cli.ports.as_deref(), Some("22,80"));
        assert_eq!(
            (cli.concurrency, cli.timeout_ms, cli.retries),
            (Some(50), Some(300), Some(0))
        );
        assert_eq!(cli.min_timeout_ms, Some(20));
        assert_eq!(cli.rate, Some(100));
        assert!(cli.banner && cli.all && cli.json && cli.ipv4 && cli.first_address);
        assert_eq!(cli.shard.as_deref(), Some("1/4"));
        assert_eq!(cli.seed, 7);
        assert_eq!(cli.output, Some(PathBuf::from("out.jsonl")));
    }

    #[test]
    fn dash_is_a_port_spec_not_a_flag() {
        let cli = parse(&["192.168.1.0/24", "-"]).unwrap();
        assert_eq!(cli.ports.as_deref(), Some("-"));
    }

    #[test]
    fn nmap_style_input_list() {
        let cli = parse(&["-iL", "hosts.txt", "22"]).unwrap();
        assert_eq!(cli.input_list, Some(PathBuf::from("hosts.txt")));
        assert_eq!(cli.target.as_deref(), Some("22"));
        let cli = parse(&["--input-list", "-", "-p", "22"]).unwrap();
        assert_eq!(cli.input_list, Some(PathBuf::from("-")));
        assert_eq!(cli.ports_flag.as_deref(), Some("22"));
        assert!(parse(&["-Pn", "h"]).unwrap().no_discovery);
        let timeout = |t: &str| parse(&["--host-timeout", t, "h"]).map(|c| c.host_timeout);
        assert_eq!(timeout("500ms").unwrap(), Some(500));
        assert_eq!(
            timeout("30").unwrap(),
            Some(30_000),
            "plain numbers are seconds"
        );
        assert_eq!(timeout("15m").unwrap(), Some(900_000));
        assert_eq!(timeout("2h").unwrap(), Some(7_200_000));
        assert!(timeout("0").is_err());
        assert!(timeout("200h").is_err());
        // After `--`, "-iL" is a plain value.
        let cli = parse(&["--", "-iL"]).unwrap();
        assert_eq!(cli.target.as_deref(), Some("-iL"));
    }

    #[test]
    fn nmap_habits() {
        let cli = parse(&[
            "-sT",
            "-n",
            "--open",
            "-v",
            "-v",
            "-T4",
            "--max-retries",
            "3",
            "--max-rate",
            "500",
            "--min-rate",
            "10",
            "--min-rtt-timeout",
            "50ms",
            "--max-rtt-timeout",
            "2s",
            "--initial-rtt-timeout",
            "1",
            "--top-ports",
            "100",
            "h",
        ])
        .unwrap();
        assert!(cli.connect_scan && cli.no_reverse_dns && cli.open);
        assert_eq!((cli.verbose, cli.timing), (2, Some(4)));
        assert_eq!(
            (cli.retries, cli.rate, cli.min_rate),
            (Some(3), Some(500), Some(10))
        );
        assert_eq!(cli.min_rtt_timeout, Some(50));
        assert_eq!(cli.max_rtt_timeout, Some(2000));
        assert_eq!(cli.initial_rtt_timeout, Some(1000));
        assert_eq!(cli.top_ports, Some(100));
        assert!(parse(&["-F", "h"]).unwrap().fast);
        assert_eq!(parse(&["-T", "insane", "h"]).unwrap().timing, Some(5));
        assert_eq!(parse(&["-Tparanoid", "h"]).unwrap().timing, Some(0));
        assert_eq!(kind(&["-T6", "h"]), ErrorKind::ValueValidation);
        assert_eq!(
            kind(&["--max-rtt-timeout", "2 weeks", "h"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            kind(&["--max-rtt-timeout", "11m", "h"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(kind(&["--open", "--all", "h"]), ErrorKind::ArgumentConflict);
        assert_eq!(
            kind(&["-F", "--top-ports", "5", "h"]),
            ErrorKind::ArgumentConflict
        );
        let cli = parse(&["-sA", "-O", "h", "-A"]).unwrap();
        assert_eq!(cli.nmap_unsupported, ["-sA", "-O", "-A"]);
        let cli = parse(&["-sS", "-sU", "h"]).unwrap();
        assert!(cli.syn && cli.udp && cli.nmap_unsupported.is_empty());
        assert_eq!(kind(&["-sS", "-sT", "h"]), ErrorKind::ArgumentConflict);
        let cli = parse(&["-sU", "-sT", "-sV", "h"]).unwrap();
        assert!(cli.udp && cli.connect_scan && cli.service);
        assert!(cli.nmap_unsupported.is_empty());
        assert!(parse(&["--udp", "--service", "h"]).unwrap().udp);
    }

    #[test]
    fn nmap_times() {
        assert_eq!(parse_nmap_time("250ms"), Ok(250));
        assert_eq!(parse_nmap_time("1.5"), Ok(1500));
        assert_eq!(parse_nmap_time("2m"), Ok(120_000));
        assert!(parse_nmap_time("0").is_err());
        assert!(parse_nmap_time("1h").is_err());
        assert!(parse_nmap_time("").is_err());
        assert!(parse_nmap_time("5x").is_err());
    }

    #[test]
    fn nmap_output_flags() {
        let cli = parse(&[
            "-oX",
            "a.xml",
            "-oG",
            "-",
            "-oN",
            "a.nmap",
            "-oA",
            "base",
            "127.0.0.1",
        ])
        .unwrap();
        assert_eq!(cli.xml_output, Some(PathBuf::from("a.xml")));
        assert_eq!(cli.grepable_output, Some(PathBuf::from("-")));
        assert_eq!(cli.normal_output, Some(PathBuf::from("a.nmap")));
        assert_eq!(cli.all_formats, Some(PathBuf::from("base")));
        assert_eq!(cli.target.as_deref(), Some("127.0.0.1"));
        // Only whole arguments are rewritten, and not after `--`.
        let args = rewrite_nmap_flags(["portscan", "-oXa", "-o", "-oX", "--", "-oN"]);
        assert_eq!(
            args,
            ["portscan", "-oXa", "-o", "--xml-output", "--", "-oN"]
        );
        // nmap also takes the value after `=`.
        let args = rewrite_nmap_flags(["portscan", "-oX=-", "-iL=a=b", "-oG=", "-oS=x"]);
        assert_eq!(
            args,
            [
                "portscan",
                "--xml-output=-",
                "--input-list=a=b",
                "--grepable-output=",
                "-oS=x"
            ]
        );
    }

    #[test]
    fn usage_errors() {
        assert_eq!(kind(&["x", "-c", "0"]), ErrorKind::ValueValidation);
        assert_eq!(kind(&["x", "-t", "abc"]), ErrorKind::ValueValidation);
        assert_eq!(
            kind(&["x", "--min-timeout", "0"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(kind(&["x", "--retries", "11"]), ErrorKind::ValueValidation);
        assert_eq!(kind(&["x", "--rate", "0"]), ErrorKind::ValueValidation);
        assert_eq!(
            kind(&["x", "--json", "--table"]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(kind(&["x", "-4", "-6"]), ErrorKind::ArgumentConflict);
        assert_eq!(kind(&["x", "--frobnicate"]), ErrorKind::UnknownArgument);
        assert_eq!(kind(&["x", "22", "extra"]), ErrorKind::UnknownArgument);
        for args in [&["x", "-c", "0"][..], &["--nope"]] {
            assert_eq!(parse(args).unwrap_err().exit_code(), 2);
        }
    }

    #[test]
    fn help_and_version_exit_zero() {
        for flag in ["--help", "-h", "--version", "-V"] {
            let e = parse(&[flag]).unwrap_err();
            assert!(
                matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion),
                "{flag}"
            );
            assert_eq!(e.exit_code(), 0, "{flag}");
        }
    }
}
