//! What was typed: the clap definition of `portscan`'s command line.
//!
//! Nothing here is validated beyond what clap does (numbers are numbers);
//! `config` turns a [`Cli`] into the library's checked types, so port
//! specs, targets and shards have one parser each and one-line errors.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

/// Connect-scan TCP ports: open, closed or filtered, as JSON Lines or a
/// table.
#[derive(Debug, Parser)]
#[command(
    name = "portscan",
    version,
    override_usage = "portscan [OPTIONS] TARGET [PORTS]\n       \
                      portscan [OPTIONS] -iL FILE [PORTS]",
    after_help = "Exit status: 0 scan done (whatever was found), 1 runtime error, 2 usage error,\n\
                  130/143 interrupted by SIGINT/SIGTERM (what was found is written).\n\
                  JSON Lines is the default when stdout is not a terminal; a table otherwise."
)]
pub struct Cli {
    /// Host name, IPv4/IPv6 address, CIDR block (v4 or v6), or a
    /// comma-separated list of them. With -iL and no -p, a lone positional
    /// argument is PORTS instead.
    #[arg(value_name = "TARGET")]
    pub target: Option<String>,

    /// Ports: N, A-B, comma lists of both, '-' or 'all' for 1-65535
    /// [default: 1-1024].
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
    /// lowers it to fit the open-file limit).
    #[arg(
        short = 'c',
        long,
        value_name = "N",
        default_value_t = DEFAULT_CONCURRENCY,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000)
    )]
    pub concurrency: u32,

    /// Initial and maximum connect timeout per attempt, in milliseconds;
    /// no answer in time means filtered. Once an address answers, its
    /// timeout adapts to its round-trip time (down to --min-timeout).
    #[arg(
        short = 't',
        long = "timeout",
        value_name = "MS",
        default_value_t = 1000,
        value_parser = clap::value_parser!(u64).range(1..=600_000)
    )]
    pub timeout_ms: u64,

    /// Least connect timeout per attempt, in milliseconds, however fast an
    /// address answers (lowered to --timeout if above it; equal to it
    /// gives a fixed timeout).
    #[arg(
        long = "min-timeout",
        value_name = "MS",
        default_value_t = 100,
        value_parser = clap::value_parser!(u64).range(1..=600_000)
    )]
    pub min_timeout_ms: u64,

    /// Extra attempts for a port that came back filtered.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        value_parser = clap::value_parser!(u32).range(0..=10)
    )]
    pub retries: u32,

    /// Most connects started per second, across all workers [default:
    /// no limit].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: Option<u32>,

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
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Scan only shard I of N (0-based: 0/4 .. 3/4) of the permuted
    /// (address, port) space; all shards must use the same targets, ports
    /// and --seed.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,

    /// Seed of the pseudo-random probe order.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,

    /// Never draw the progress bar (it is drawn only when stderr is a
    /// terminal anyway).
    #[arg(long)]
    pub no_progress: bool,

    // issue 8: host discovery and the host timeout (nmap's -Pn and
    // --host-timeout; their semantics live in the engine's discovery).
    /// Skip host discovery (also -Pn, as in nmap): treat every address as
    /// up and probe all its ports. By default an address that answers
    /// none of its first probes (its first port, 80 and 443) is reported
    /// down once and its ports are not probed.
    #[arg(long)]
    pub no_discovery: bool,

    /// Give up on an address this many milliseconds after its first
    /// probe: ports not yet probed are skipped (what it reported stays).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub host_timeout: Option<u64>,
}

/// The default ceiling of connects in flight (`-c`; issue 8): room for
/// the adaptive window to grow on slow paths.
pub const DEFAULT_CONCURRENCY: u32 = 10_000;

/// Parses a command line (program name first), accepting nmap's
/// single-dash `-iL FILE` as `--input-list FILE`.
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    Cli::try_parse_from(rewrite_nmap_flags(args))
}

/// Rewrites `-iL` to `--input-list` and `-Pn` to `--no-discovery` (clap
/// short flags are one letter: `-iL` would read as `-i -L`). Arguments
/// after `--` are left alone.
fn rewrite_nmap_flags<I, T>(args: I) -> Vec<OsString>
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
                arg
            } else if arg == "-iL" {
                OsString::from("--input-list")
            } else if arg == "-Pn" {
                OsString::from("--no-discovery")
            } else {
                arg
            }
        })
        .collect()
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
        assert_eq!(cli.concurrency, DEFAULT_CONCURRENCY);
        assert_eq!((cli.timeout_ms, cli.min_timeout_ms), (1000, 100));
        assert_eq!(cli.retries, 1);
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
        assert_eq!((cli.concurrency, cli.timeout_ms, cli.retries), (50, 300, 0));
        assert_eq!(cli.min_timeout_ms, 20);
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
        assert_eq!(
            parse(&["--host-timeout", "500", "h"]).unwrap().host_timeout,
            Some(500)
        );
        assert!(parse(&["--host-timeout", "0", "h"]).is_err());
        // After `--`, "-iL" is a plain value.
        let cli = parse(&["--", "-iL"]).unwrap();
        assert_eq!(cli.target.as_deref(), Some("-iL"));
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
