//! portscan for long and split-up jobs (docs/portscan-jobs.md): shards
//! whose index comes from the job runner's environment, and the scan
//! fingerprint every output carries. Loopback only.

mod portscan_support;

use std::collections::BTreeSet;

use portscan_support::*;

/// Every variable a runner sets that `--shard env` reads.
const RUNNER_VARS: &[&str] = &[
    "JOB_COMPLETION_INDEX",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_STEP",
    "PARALLEL_SEQ",
    "AWS_BATCH_JOB_ARRAY_INDEX",
];

/// `portscan args` with only `vars` of the runners' variables set.
fn with_env(args: &[&str], vars: &[(&str, String)]) -> Run {
    let mut cmd = command(args);
    for var in RUNNER_VARS {
        cmd.env_remove(var);
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    run_command(cmd, None)
}

type Key = (String, u16, String);

/// A runner's variables for the task that is to be shard `i`.
type TaskEnv = fn(u64) -> Vec<(&'static str, String)>;

fn keys(run: &Run) -> BTreeSet<Key> {
    run.lines()
        .into_iter()
        .map(|l| (l.ip.to_string(), l.port, l.state))
        .collect()
}

/// 2 addresses x 12 ports around a listener on 127.0.0.1.
fn scope() -> (String, String) {
    let open = serve(LOCALHOST, None);
    let low = open.saturating_sub(5).max(1);
    (
        "127.0.0.1,127.0.0.2".to_string(),
        format!("{low}-{}", low + 11),
    )
}

#[test]
fn each_runner_variable_picks_the_same_shard_as_its_index() {
    let (targets, ports) = scope();
    let base = [targets.as_str(), ports.as_str(), "--all", "--seed", "3"];
    let whole = keys(&portscan(&base).ok());
    assert_eq!(whole.len(), 24);
    let fixed: Vec<BTreeSet<Key>> = (0..3)
        .map(|i| {
            let shard = format!("{i}/3");
            let mut args = base.to_vec();
            args.extend(["--shard", &shard]);
            keys(&portscan(&args).ok())
        })
        .collect();
    // Each runner's numbering of task i (0-based shard i).
    let runners: [(&str, TaskEnv); 5] = [
        ("kubernetes", |i| {
            vec![("JOB_COMPLETION_INDEX", i.to_string())]
        }),
        ("slurm", |i| vec![("SLURM_ARRAY_TASK_ID", i.to_string())]),
        ("slurm from 10", |i| {
            vec![
                ("SLURM_ARRAY_TASK_ID", (10 + i).to_string()),
                ("SLURM_ARRAY_TASK_MIN", "10".into()),
                ("SLURM_ARRAY_TASK_COUNT", "3".into()),
            ]
        }),
        ("parallel", |i| vec![("PARALLEL_SEQ", (i + 1).to_string())]),
        ("aws batch", |i| {
            vec![("AWS_BATCH_JOB_ARRAY_INDEX", i.to_string())]
        }),
    ];
    for (name, vars_of) in runners {
        let mut union = BTreeSet::new();
        for i in 0..3u64 {
            let mut args = base.to_vec();
            args.extend(["--shard", "env/3"]);
            let run = with_env(&args, &vars_of(i)).ok();
            assert!(
                run.lines().iter().all(|l| l.shard == format!("{i}/3")),
                "{name}: {}",
                run.stdout
            );
            let got = keys(&run);
            assert_eq!(got, fixed[i as usize], "{name}, task {i}");
            union.extend(got);
        }
        assert_eq!(union, whole, "{name}: the shards together are the scan");
    }
    // Slurm says how many tasks there are: `env` alone is enough.
    let mut args = base.to_vec();
    args.extend(["--shard", "env"]);
    let vars = [
        ("SLURM_ARRAY_TASK_ID", "2".to_string()),
        ("SLURM_ARRAY_TASK_COUNT", "3".to_string()),
    ];
    assert_eq!(keys(&with_env(&args, &vars).ok()), fixed[2]);
}

#[test]
fn a_missing_or_out_of_range_index_is_one_line_never_shard_0() {
    let port = serve(LOCALHOST, None).to_string();
    let cases: [(&[(&str, String)], &str); 5] = [
        (&[], "no job runner's index is set"),
        (&[("PARALLEL_SEQ", "4".into())], "out of range for 3 shards"),
        (&[("PARALLEL_SEQ", "0".into())], "counts jobs from 1"),
        (
            &[("JOB_COMPLETION_INDEX", "x".into())],
            "not a whole number",
        ),
        (
            &[
                ("JOB_COMPLETION_INDEX", "1".into()),
                ("AWS_BATCH_JOB_ARRAY_INDEX", "1".into()),
            ],
            "name one, like env:JOB_COMPLETION_INDEX/N",
        ),
    ];
    for (vars, why) in cases {
        let run = with_env(&["127.0.0.1", &port, "--shard", "env/3"], vars);
        assert_eq!(run.code(), 2, "{vars:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{vars:?}: nothing scanned");
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(
            run.stderr.starts_with("error: invalid shard 'env/3': ") && run.stderr.contains(why),
            "{vars:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn every_record_carries_the_scan_fingerprint() {
    let (targets, ports) = scope();
    let run = |seed: &str, shard: &str| {
        portscan(&[&targets, &ports, "--all", "--seed", seed, "--shard", shard]).ok()
    };
    let ids = |r: &Run| -> BTreeSet<String> { r.lines().into_iter().map(|l| l.scan_id).collect() };
    let a = ids(&run("1", "0/2"));
    let b = ids(&run("1", "1/2"));
    let c = ids(&run("2", "1/2"));
    assert_eq!(a.len(), 1);
    assert_eq!(a, b, "every shard of one scan has its fingerprint");
    assert_ne!(a, c, "another seed is another scan");
    assert_eq!(a.iter().next().unwrap().len(), 16);
}
