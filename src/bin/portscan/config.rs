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

use rawnet::ports::PortSpec;
use rawnet::resolve::{self, Family, ResolveError};
use rawnet::scan::{BannerConfig, ScanConfig};
use rawnet::shard::Shard;
use rawnet::targets::{self, Expansion, TargetOptions, TargetSpec, Targets};

use crate::cli::Cli;
use crate::error::Error;
use crate::output::Format;

/// How long one name may take to resolve before it counts as failed.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(15);

/// A validated scan request.
#[derive(Debug)]
pub struct Config {
    /// Targets as parsed (names not yet resolved), in the order given.
    pub targets: Vec<TargetSpec>,
    /// How to expand them.
    pub target_options: TargetOptions,
    /// Ports to probe on every address.
    pub ports: PortSpec,
    /// Which part of the permuted space this run covers.
    pub shard: Shard,
    /// Seed of the probe order.
    pub seed: u64,
    /// Settings for the engine.
    pub scan: ScanConfig,
    /// Report closed and filtered ports too.
    pub report_all: bool,
    /// Output format, or `None` to pick by whether the output is a
    /// terminal.
    pub format: Option<Format>,
    /// Where results go; `None` is stdout.
    pub output: Option<PathBuf>,
    /// Draw a progress bar (when stderr is a terminal).
    pub progress: bool,
}

impl Config {
    /// Checks `cli`; `read_list` reads the `-iL` file (`-` for stdin).
    pub fn from_cli(
        cli: Cli,
        read_list: &dyn Fn(&Path) -> io::Result<String>,
    ) -> Result<Config, Error> {
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
            None if cli.input_list.is_none() => {
                return Err(Error::Usage(
                    "no target given (usage: portscan [OPTIONS] TARGET [PORTS])".into(),
                ))
            }
            None => {}
        }
        let ports = match ports_arg {
            Some(spec) => spec.parse::<PortSpec>()?,
            None => PortSpec::default_ports(),
        };
        let shard = match &cli.shard {
            Some(s) => s.parse::<Shard>()?,
            None => Shard::WHOLE,
        };
        let family = match (cli.ipv4, cli.ipv6) {
            (true, _) => Family::V4,
            (_, true) => Family::V6,
            _ => Family::Any,
        };
        let format = match (cli.json, cli.table) {
            (true, _) => Some(Format::Json),
            (_, true) => Some(Format::Table),
            _ => None,
        };
        Ok(Config {
            targets,
            target_options: TargetOptions {
                family,
                first_address: cli.first_address,
                ..TargetOptions::default()
            },
            ports,
            shard,
            seed: cli.seed,
            scan: ScanConfig {
                timeout: Duration::from_millis(cli.timeout_ms),
                min_timeout: Duration::from_millis(cli.min_timeout_ms.min(cli.timeout_ms)),
                concurrency: cli.concurrency as usize,
                retries: cli.retries,
                discover_hosts: !cli.no_discovery,
                host_timeout: cli.host_timeout.map(Duration::from_millis),
                rate: cli.rate,
                banner: cli.banner.then(|| BannerConfig {
                    wait: Duration::from_millis(cli.banner_wait),
                    max_len: cli.banner_max as usize,
                }),
            },
            report_all: cli.all,
            format,
            output: cli.output,
            progress: !cli.no_progress,
        })
    }
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
    let Expansion { targets, failures } =
        targets::expand(&config.targets, &config.target_options, &resolver)?;
    if targets.is_empty() {
        return Err(Error::Runtime(match failures.as_slice() {
            [only] => only.to_string(),
            _ => format!("none of the {} targets resolved", failures.len()),
        }));
    }
    Ok((targets, failures))
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
        assert_eq!(c.format, None);
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
        assert_eq!(c.format, Some(Format::Table));
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
        assert!(usage(&["h", "0"]).contains("out of range"));
        assert!(usage(&["h", "80-"]).contains("needs both ends"));
        assert!(usage(&["h,,h"]).contains("empty target"));
        assert!(usage(&["h", "--shard", "4/4"]).contains("0-based"));
        assert!(usage(&[]).contains("no target given"));
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
    fn oversized_blocks_fail_before_any_lookup() {
        let c = config(&["no-such-host.invalid,10.0.0.0/8"]).unwrap();
        match resolve_targets(&c) {
            Err(Error::Usage(m)) => assert_eq!(
                m,
                "CIDR 10.0.0.0/8 has 16777216 addresses, more than the limit of 65536"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn literal_targets_resolve_without_dns() {
        let c = config(&["127.0.0.1,127.0.0.0/31"]).unwrap();
        let (targets, failures) = resolve_targets(&c).unwrap();
        assert_eq!(targets.len(), 2);
        assert!(failures.is_empty());
    }
}
