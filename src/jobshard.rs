//! Which shard a job runner assigned: `--shard env/N` takes the shard
//! index from the environment a job runner sets for each task of an array
//! job, so one job spec (one command line) serves every shard.
//!
//! The runners and their variables ([`Runner`]):
//!
//! | runner | variable | numbering |
//! |---|---|---|
//! | Kubernetes Indexed Job | `JOB_COMPLETION_INDEX` | 0-based |
//! | Slurm job array | `SLURM_ARRAY_TASK_ID` | from `SLURM_ARRAY_TASK_MIN` (0 when unset) |
//! | GNU parallel | `PARALLEL_SEQ` | 1-based |
//! | AWS Batch array job | `AWS_BATCH_JOB_ARRAY_INDEX` | 0-based |
//!
//! Nothing here falls back to shard 0: a missing, unreadable or
//! out-of-range index is a [`ShardError`], since a silent shard 0 in every
//! task would scan one part N times and the rest never. When several of
//! the variables are set (GNU parallel inside a Slurm task), the form
//! `env:VARIABLE/N` names the one to use. Slurm also says how many tasks
//! there are (`SLURM_ARRAY_TASK_COUNT`): `env` alone takes N from it, and
//! `env/N` must agree with it.
//!
//! The environment is read through a lookup function, never from the
//! process directly, so the rules are tested without touching it.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use crate::shard::{Shard, ShardError};

/// A job runner whose array tasks carry their index in the environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Runner {
    /// Kubernetes Indexed Jobs: `JOB_COMPLETION_INDEX`, 0-based.
    Kubernetes,
    /// Slurm job arrays: `SLURM_ARRAY_TASK_ID` less `SLURM_ARRAY_TASK_MIN`.
    Slurm,
    /// GNU parallel: `PARALLEL_SEQ`, 1-based.
    Parallel,
    /// AWS Batch array jobs: `AWS_BATCH_JOB_ARRAY_INDEX`, 0-based.
    AwsBatch,
}

impl Runner {
    /// Every runner, in the order they are looked for.
    pub const ALL: [Runner; 4] = [
        Runner::Kubernetes,
        Runner::Slurm,
        Runner::Parallel,
        Runner::AwsBatch,
    ];

    /// The variable that holds a task's index.
    pub fn variable(self) -> &'static str {
        match self {
            Runner::Kubernetes => "JOB_COMPLETION_INDEX",
            Runner::Slurm => "SLURM_ARRAY_TASK_ID",
            Runner::Parallel => "PARALLEL_SEQ",
            Runner::AwsBatch => "AWS_BATCH_JOB_ARRAY_INDEX",
        }
    }

    fn by_variable(name: &str) -> Option<Runner> {
        Runner::ALL.into_iter().find(|r| r.variable() == name)
    }
}

/// What `--shard` said: a fixed `I/N`, or "the index the job runner set".
///
/// ```
/// use rawnet::jobshard::ShardArg;
/// use rawnet::shard::Shard;
/// let env = |name: &str| (name == "PARALLEL_SEQ").then(|| "3".to_string());
/// let arg: ShardArg = "env/4".parse().unwrap();
/// assert_eq!(arg.resolve(&env).unwrap(), Shard::new(2, 4).unwrap());
/// let fixed: ShardArg = "1/4".parse().unwrap();
/// assert_eq!(fixed.resolve(&env).unwrap(), Shard::new(1, 4).unwrap());
/// let none = |_: &str| None;
/// assert!(arg.resolve(&none).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardArg {
    /// `I/N`.
    Fixed(Shard),
    /// `env[:VARIABLE][/N]`.
    Env {
        /// The runner named with `env:VARIABLE`, or `None` to look for
        /// whichever one is set.
        runner: Option<Runner>,
        /// N, or `None` to take it from the runner (Slurm only).
        count: Option<u64>,
    },
}

impl FromStr for ShardArg {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<ShardArg, ShardError> {
        let trimmed = s.trim();
        let Some(rest) = trimmed.strip_prefix("env") else {
            return s.parse().map(ShardArg::Fixed);
        };
        let error = |reason: String| ShardError::new(s, reason);
        let (name, count) = match rest.split_once('/') {
            Some((name, count)) => (name, Some(count)),
            None => (rest, None),
        };
        let runner = match name {
            "" => None,
            _ => {
                let var = name
                    .strip_prefix(':')
                    .ok_or_else(|| error("expected env/N or env:VARIABLE/N, like env/4".into()))?;
                Some(Runner::by_variable(var).ok_or_else(|| {
                    error(format!(
                        "unknown job runner variable '{var}'; expected one of {}",
                        variables()
                    ))
                })?)
            }
        };
        let count = match count {
            None => None,
            Some(n) => match number(n) {
                Some(0) => return Err(error("the number of shards N must be at least 1".into())),
                Some(n) => Some(n),
                None => {
                    return Err(error(
                        "expected env/N with N a whole number, like env/4".into(),
                    ))
                }
            },
        };
        Ok(ShardArg::Env { runner, count })
    }
}

impl fmt::Display for ShardArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardArg::Fixed(shard) => shard.fmt(f),
            ShardArg::Env { runner, count } => {
                f.write_str("env")?;
                if let Some(r) = runner {
                    write!(f, ":{}", r.variable())?;
                }
                match count {
                    Some(n) => write!(f, "/{n}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl ShardArg {
    /// The shard this process is to scan, reading the runner's variables
    /// through `env` (`std::env::var(name).ok()` in the binary).
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Shard, ShardError> {
        let (runner, count) = match *self {
            ShardArg::Fixed(shard) => return Ok(shard),
            ShardArg::Env { runner, count } => (runner, count),
        };
        let text = self.to_string();
        let error = |reason: String| ShardError::new(&text, reason);
        let runner = match runner {
            Some(r) => r,
            None => {
                let set: Vec<Runner> = Runner::ALL
                    .into_iter()
                    .filter(|r| env(r.variable()).is_some())
                    .collect();
                match set[..] {
                    [one] => one,
                    [] => {
                        return Err(error(format!(
                            "no job runner's index is set in the environment ({}); \
                             use --shard I/N outside a job array",
                            variables()
                        )))
                    }
                    _ => {
                        let names: Vec<&str> = set.iter().map(|r| r.variable()).collect();
                        return Err(error(format!(
                            "several job runners' indexes are set ({}); name one, \
                             like env:{}/N",
                            names.join(", "),
                            names[0]
                        )));
                    }
                }
            }
        };
        let var = runner.variable();
        let read = |name: &str| -> Result<Option<u64>, ShardError> {
            match env(name) {
                None => Ok(None),
                Some(value) => number(&value)
                    .map(Some)
                    .ok_or_else(|| error(format!("{name}={} is not a whole number", clip(&value)))),
            }
        };
        let raw = read(var)?.ok_or_else(|| error(format!("{var} is not set")))?;
        let index = match runner {
            Runner::Parallel => raw
                .checked_sub(1)
                .ok_or_else(|| error(format!("{var}=0, but GNU parallel counts jobs from 1")))?,
            Runner::Slurm => {
                if let Some(step) = read("SLURM_ARRAY_TASK_STEP")? {
                    if step != 1 {
                        return Err(error(format!(
                            "SLURM_ARRAY_TASK_STEP={step}: use an array without a step \
                             (like --array=0-7)"
                        )));
                    }
                }
                let min = read("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
                raw.checked_sub(min).ok_or_else(|| {
                    error(format!("{var}={raw} is below SLURM_ARRAY_TASK_MIN={min}"))
                })?
            }
            Runner::Kubernetes | Runner::AwsBatch => raw,
        };
        let runner_count = match runner {
            Runner::Slurm => read("SLURM_ARRAY_TASK_COUNT")?,
            _ => None,
        };
        let count = match (count, runner_count) {
            (Some(n), Some(m)) if n != m => {
                return Err(error(format!(
                    "SLURM_ARRAY_TASK_COUNT={m} tasks, but {n} shards were asked for"
                )))
            }
            (Some(n), _) | (None, Some(n)) => n,
            (None, None) => {
                return Err(error(format!(
                    "{var} gives the index but not the number of shards: write env/N"
                )))
            }
        };
        Shard::new(index, count).ok_or_else(|| {
            error(format!(
                "{var}={raw} is shard {index} (0-based), out of range for {count} shards"
            ))
        })
    }
}

fn variables() -> String {
    Runner::ALL.map(Runner::variable).join(", ")
}

/// A decimal whole number, nothing else (no sign, no spaces inside).
fn number(text: &str) -> Option<u64> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// An environment value for a message: at most 40 characters.
fn clip(value: &str) -> Cow<'_, str> {
    match value.char_indices().nth(40) {
        Some((at, _)) => Cow::Owned(format!("{}...", &value[..at])),
        None => Cow::Borrowed(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn resolve(arg: &str, vars: &[(&str, &str)]) -> Result<(u64, u64), String> {
        let arg: ShardArg = arg.parse().map_err(|e: ShardError| e.to_string())?;
        arg.resolve(&env_of(vars))
            .map(|s| (s.index(), s.count()))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn kubernetes_index_is_0_based() {
        assert_eq!(
            resolve("env/8", &[("JOB_COMPLETION_INDEX", "0")]),
            Ok((0, 8))
        );
        assert_eq!(
            resolve("env/8", &[("JOB_COMPLETION_INDEX", "7")]),
            Ok((7, 8))
        );
        let e = resolve("env/8", &[("JOB_COMPLETION_INDEX", "8")]).unwrap_err();
        assert!(
            e.contains("JOB_COMPLETION_INDEX=8") && e.contains("out of range"),
            "{e}"
        );
    }

    #[test]
    fn slurm_index_counts_from_the_array_minimum() {
        let vars = [
            ("SLURM_ARRAY_TASK_ID", "12"),
            ("SLURM_ARRAY_TASK_MIN", "10"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ];
        assert_eq!(resolve("env/4", &vars), Ok((2, 4)));
        assert_eq!(resolve("env", &vars), Ok((2, 4)), "N from the task count");
        let e = resolve("env/8", &vars).unwrap_err();
        assert!(e.contains("SLURM_ARRAY_TASK_COUNT=4"), "{e}");
        assert_eq!(
            resolve("env/3", &[("SLURM_ARRAY_TASK_ID", "2")]),
            Ok((2, 3))
        );
        let e = resolve(
            "env/4",
            &[("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_MIN", "2")],
        )
        .unwrap_err();
        assert!(e.contains("below SLURM_ARRAY_TASK_MIN=2"), "{e}");
        let e = resolve(
            "env/4",
            &[("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_STEP", "2")],
        )
        .unwrap_err();
        assert!(e.contains("STEP=2"), "{e}");
    }

    #[test]
    fn parallel_seq_is_1_based() {
        assert_eq!(resolve("env/4", &[("PARALLEL_SEQ", "1")]), Ok((0, 4)));
        assert_eq!(resolve("env/4", &[("PARALLEL_SEQ", "4")]), Ok((3, 4)));
        let e = resolve("env/4", &[("PARALLEL_SEQ", "5")]).unwrap_err();
        assert!(e.contains("PARALLEL_SEQ=5 is shard 4"), "{e}");
        let e = resolve("env/4", &[("PARALLEL_SEQ", "0")]).unwrap_err();
        assert!(e.contains("counts jobs from 1"), "{e}");
        let e = resolve("env", &[("PARALLEL_SEQ", "1")]).unwrap_err();
        assert!(e.contains("write env/N"), "{e}");
    }

    #[test]
    fn aws_batch_index_is_0_based() {
        assert_eq!(
            resolve("env/2", &[("AWS_BATCH_JOB_ARRAY_INDEX", "1")]),
            Ok((1, 2))
        );
        let e = resolve("env/2", &[("AWS_BATCH_JOB_ARRAY_INDEX", "2")]).unwrap_err();
        assert!(e.contains("out of range"), "{e}");
    }

    #[test]
    fn missing_bad_or_ambiguous_indexes_are_errors_never_shard_0() {
        let e = resolve("env/4", &[]).unwrap_err();
        assert!(
            e.starts_with("invalid shard 'env/4': no job runner's index"),
            "{e}"
        );
        for bad in ["", "x", "-1", "1.0", "1 2"] {
            let e = resolve("env/4", &[("JOB_COMPLETION_INDEX", bad)]).unwrap_err();
            assert!(e.contains("not a whole number"), "{bad:?}: {e}");
        }
        let both = [("PARALLEL_SEQ", "2"), ("SLURM_ARRAY_TASK_ID", "0")];
        let e = resolve("env/4", &both).unwrap_err();
        assert!(
            e.contains("several") && e.contains("env:SLURM_ARRAY_TASK_ID/N"),
            "{e}"
        );
        assert_eq!(resolve("env:PARALLEL_SEQ/4", &both), Ok((1, 4)));
        let e = resolve("env:PARALLEL_SEQ/4", &[("JOB_COMPLETION_INDEX", "1")]).unwrap_err();
        assert!(e.contains("PARALLEL_SEQ is not set"), "{e}");
        let long = "9".repeat(100);
        let e = resolve("env/4", &[("JOB_COMPLETION_INDEX", &long)]).unwrap_err();
        assert!(e.len() < 200, "{e}");
    }

    #[test]
    fn parses_the_forms() {
        for bad in ["env/0", "env/x", "envy/4", "env:HOME/4", "env:/4", "env/"] {
            assert!(bad.parse::<ShardArg>().is_err(), "{bad}");
        }
        for good in [
            "env",
            "env/4",
            "env:PARALLEL_SEQ/4",
            "env:SLURM_ARRAY_TASK_ID",
            "2/4",
        ] {
            let arg: ShardArg = good.parse().unwrap();
            assert_eq!(arg.to_string(), good);
        }
    }
}
