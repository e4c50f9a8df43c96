//! portscan for long and split-up jobs (docs/portscan-jobs.md): shards
//! whose index comes from the job runner's environment, and the scan
//! fingerprint every output carries. Loopback only.

mod portscan_support;
mod require;

use std::collections::BTreeSet;

use portscan_support::*;
use require::{or_skip, Skipped};

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

/// A scan of 3 addresses x 41 ports around a listener (more than 25
/// closed ports per host, so nmap's formats fold them: the merge must
/// fold them again from shards that each listed them).
struct Lab {
    targets: &'static str,
    ports: String,
    dir: std::path::PathBuf,
}

impl Lab {
    fn new(name: &str) -> Lab {
        let open = serve(LOCALHOST, None);
        let low = open.saturating_sub(20).max(1);
        let dir = temp_path(name);
        std::fs::create_dir_all(&dir).unwrap();
        Lab {
            targets: "127.0.0.1-3",
            ports: format!("{low}-{}", low + 40),
            dir,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_string()
    }

    /// Runs the scan (shard `shard`, or whole) with `outputs`.
    fn scan(&self, shard: Option<&str>, outputs: &[&str]) {
        let mut args = vec![self.targets, self.ports.as_str(), "--seed", "11"];
        if let Some(s) = shard {
            args.extend(["--shard", s]);
        }
        args.extend(outputs);
        portscan(&args).ok();
    }

    /// `portscan --merge files... extra...`.
    fn merge(&self, files: &[&str], extra: &[&str]) -> Run {
        let paths: Vec<String> = files.iter().map(|f| self.path(f)).collect();
        let mut args = vec!["--merge"];
        args.extend(paths.iter().map(String::as_str));
        args.extend(extra);
        portscan(&args)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// xmllint, ndiff and nmap's DTD.
type XmlTools = (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf);

fn xml_tools() -> Result<XmlTools, Skipped> {
    let xmllint = require_tool("xmllint", "libxml2-utils")?;
    let ndiff = require_tool("ndiff", "ndiff")?;
    let dtd = require::file("/usr/share/nmap/nmap.dtd", "nmap's DTD", "nmap")?;
    Ok((xmllint, ndiff, dtd))
}

fn assert_valid_and_ndiff_equal(tools: &XmlTools, a: &str, b: &str) {
    let (xmllint, ndiff, dtd) = tools;
    let (code, out) = run_tool(
        xmllint,
        &["--noout", "--dtdvalid", dtd.to_str().unwrap(), b],
    );
    assert_eq!(code, 0, "xmllint {b}: {out}");
    let (code, out) = run_tool(ndiff, &[a, b]);
    assert_eq!(code, 0, "ndiff {a} {b}:\n{out}");
}

#[test]
fn merged_xml_of_4_shards_is_ndiff_equal_to_the_unsplit_scan() {
    let tools = or_skip!(xml_tools());
    let lab = Lab::new("merge-xml");
    for i in 0..4 {
        let shard = format!("{i}/4");
        lab.scan(Some(&shard), &["-oX", &lab.path(&format!("s{i}.xml"))]);
    }
    lab.scan(None, &["-oX", &lab.path("whole.xml")]);
    let merged = lab.path("merged.xml");
    let run = lab.merge(&["s2.xml", "s0.xml", "s3.xml", "s1.xml"], &["-oX", &merged]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(!run.stderr.contains("merge:"), "{}", run.stderr);
    assert_valid_and_ndiff_equal(&tools, &lab.path("whole.xml"), &merged);
    let xml = std::fs::read_to_string(&merged).unwrap();
    // 41 ports x 3 hosts; one host per address; closed ports folded again.
    assert_eq!(xml.matches("<host>").count(), 3, "{xml}");
    assert!(
        xml.contains("<hosts up=\"3\" down=\"0\" total=\"3\"/>"),
        "{xml}"
    );
    assert!(xml.contains("shard=\"0/1\""), "{xml}");
    // An octet range is no host name (nmap never writes one).
    assert!(!xml.contains("<hostname "), "{xml}");
    // Mixed inputs: JSON Lines (with --all, so closed ports are there)
    // and XML of the other shards.
    for i in 0..2 {
        let shard = format!("{i}/4");
        lab.scan(
            Some(&shard),
            &["--all", "-o", &lab.path(&format!("s{i}.jsonl"))],
        );
    }
    let mixed = lab.path("mixed.xml");
    let run = lab.merge(
        &["s0.jsonl", "s1.jsonl", "s2.xml", "s3.xml"],
        &["-oX", &mixed],
    );
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert_valid_and_ndiff_equal(&tools, &lab.path("whole.xml"), &mixed);
}

#[test]
fn merged_json_lines_are_the_unsplit_records_once_each() {
    let lab = Lab::new("merge-json");
    for i in 0..4 {
        let shard = format!("{i}/4");
        lab.scan(
            Some(&shard),
            &["--all", "-o", &lab.path(&format!("s{i}.jsonl"))],
        );
    }
    lab.scan(None, &["--all", "-o", &lab.path("whole.jsonl")]);
    let whole = std::fs::read_to_string(lab.path("whole.jsonl")).unwrap();
    let key = |l: &Line| {
        (
            l.ip.to_string(),
            l.port,
            l.proto.clone(),
            l.state.clone(),
            l.reason.clone(),
        )
    };
    let parse = |text: &str| -> Vec<Line> {
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let mut expected: Vec<_> = parse(&whole).iter().map(key).collect();
    expected.sort();
    assert_eq!(expected.len(), 123);
    // Shard 1 given twice (a retried shard): its records count once.
    let run = lab
        .merge(
            &["s0.jsonl", "s1.jsonl", "s2.jsonl", "s3.jsonl", "s1.jsonl"],
            &["--all"],
        )
        .ok();
    assert!(run.stderr.contains("merge: skipped"), "{}", run.stderr);
    let lines = run.lines();
    let mut got: Vec<_> = lines.iter().map(key).collect();
    got.sort();
    assert_eq!(got, expected);
    let scan_ids: BTreeSet<String> = parse(&whole).into_iter().map(|l| l.scan_id).collect();
    assert_eq!(scan_ids.len(), 1);
    assert!(lines
        .iter()
        .all(|l| l.shard == "0/1" && scan_ids.contains(&l.scan_id)));
    assert!(
        run.stderr.contains("123 probes"),
        "recomputed: {}",
        run.stderr
    );
}

#[test]
fn missing_shards_and_other_scans_are_reported() {
    let lab = Lab::new("merge-missing");
    for i in 0..4 {
        let shard = format!("{i}/4");
        lab.scan(Some(&shard), &["-oX", &lab.path(&format!("s{i}.xml"))]);
    }
    // The same targets and ports in another order (another seed): another scan.
    let other = lab.path("other.xml");
    portscan(&[
        lab.targets,
        &lab.ports,
        "--seed",
        "12",
        "--shard",
        "2/4",
        "-oX",
        &other,
    ])
    .ok();
    let run = lab.merge(
        &["s0.xml", "s1.xml", "s3.xml", "other.xml"],
        &["-oX", &lab.path("m.xml")],
    );
    assert_eq!(run.code(), 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("merge: missing shards: 2/4"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("merge: left out")
            && run.stderr.contains("other.xml: it belongs to scan"),
        "{}",
        run.stderr
    );
    // The report is still written, and valid.
    let xml = std::fs::read_to_string(lab.path("m.xml")).unwrap();
    assert!(xml.trim_end().ends_with("</nmaprun>"));
    // A file that is no shard output: one line, exit 1.
    std::fs::write(lab.path("junk.xml"), "<nmaprun><host>").unwrap();
    let run = lab.merge(&["s0.xml", "junk.xml"], &[]);
    assert_eq!(run.code(), 1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("junk.xml: not well-formed XML"),
        "{}",
        run.stderr
    );
}

/// A network namespace of this test file (`jobs-` prefix), deleted with
/// whatever runs in it on drop. Inside: `lo` up, and on `lo` the hosts
/// 10.251.0.1 (every SYN answered with a RST by nftables: up, closed),
/// 10.251.0.2 (every SYN dropped: down, filtered) and 10.251.0.3 (real
/// listeners on 8080 and 1000, the other ports closed).
struct JobsNs {
    name: String,
    listener: Option<std::process::Child>,
}

const NS_RULES: &str = "table ip jobs {
    chain out {
        type filter hook output priority 0; policy accept;
        ip daddr 10.251.0.1 tcp flags & (syn | ack) == syn reject with tcp reset
        ip daddr 10.251.0.2 drop
    }
}";

impl JobsNs {
    fn new() -> Result<JobsNs, Skipped> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        require::root("network namespaces")?;
        require_tool("ip", "iproute2")?;
        require_tool("nft", "nftables")?;
        require_tool("python3", "python3")?;
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "jobs-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        sh(&["ip", "netns", "add", &name]);
        let mut ns = JobsNs {
            name,
            listener: None,
        };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        for host in ["10.251.0.1/32", "10.251.0.2/32", "10.251.0.3/32"] {
            ns.exec(&["ip", "addr", "add", host, "dev", "lo"]);
        }
        let mut nft = ns
            .command("nft")
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        nft.stdin
            .take()
            .unwrap()
            .write_all(NS_RULES.as_bytes())
            .unwrap();
        assert!(nft.wait().unwrap().success(), "nft rules");
        // The listeners: python3, bounded to 300 s, killed on drop; it
        // prints a line once listening (no sleep to wait out). They keep
        // the last 64 connections open, so that a scan sees them `silent`
        // after the handshake on every run, never a close that may or may
        // not come within its wait (runs are compared as nmap XML, where
        // a close makes the port `tcpwrapped`).
        let mut child = ns
            .command("python3")
            .args([
                "-c",
                "import select,socket,time\nss=[]\nfor port in (8080,1000):\n  s=socket.socket()\n  s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n  s.bind(('10.251.0.3',port))\n  s.listen(64)\n  ss.append(s)\nprint('ready',flush=True)\nend=time.time()+300\nheld=[]\nwhile time.time()<end:\n  r,_,_=select.select(ss,[],[],1)\n  for s in r:\n    c,_=s.accept();held.append(c)\n    if len(held)>64: held.pop(0).close()\n",
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 is needed");
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        ns.listener = Some(child);
        Ok(ns)
    }

    fn command(&self, program: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    fn exec(&self, args: &[&str]) {
        let status = self.command(args[0]).args(&args[1..]).status().unwrap();
        assert!(status.success(), "{args:?}");
    }

    /// `portscan args` inside, as [`portscan`] runs it.
    fn portscan(&self, args: &[&str]) -> Run {
        let mut cmd = self.command(env!("CARGO_BIN_EXE_portscan"));
        cmd.args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        run_command(cmd, None)
    }
}

impl Drop for JobsNs {
    fn drop(&mut self) {
        if let Some(mut c) = self.listener.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn sh(args: &[&str]) {
    let status = std::process::Command::new(args[0])
        .args(&args[1..])
        .status()
        .unwrap();
    assert!(status.success(), "{args:?}");
}

#[test]
fn ping_scan_says_which_hosts_are_up_in_every_format() {
    let ns = or_skip!(JobsNs::new());
    let dir = temp_path("ping");
    std::fs::create_dir_all(&dir).unwrap();
    let base = dir.join("ping");
    let base = base.to_str().unwrap();
    let run = ns.portscan(&[
        "-sn",
        "10.251.0.1-3",
        "-t",
        "300",
        "--retries",
        "0",
        "-oA",
        base,
        "--json",
    ]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let records: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let status: Vec<(String, String, String)> = records
        .iter()
        .map(|r| {
            (
                r["ip"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        status,
        [
            ("10.251.0.1".into(), "up".into(), "conn-refused".into()),
            ("10.251.0.2".into(), "down".into(), "no-response".into()),
            ("10.251.0.3".into(), "up".into(), "conn-refused".into()),
        ]
    );
    assert!(run.stderr.contains("2 hosts up, 1 down"), "{}", run.stderr);
    let xml = std::fs::read_to_string(format!("{base}.xml")).unwrap();
    assert_eq!(xml.matches("<host>").count(), 2, "{xml}");
    assert!(
        xml.contains("<hosts up=\"2\" down=\"1\" total=\"3\"/>"),
        "{xml}"
    );
    let (xmllint, _, dtd) = or_skip!(xml_tools());
    let (code, out) = run_tool(
        &xmllint,
        &[
            "--noout",
            "--dtdvalid",
            dtd.to_str().unwrap(),
            &format!("{base}.xml"),
        ],
    );
    assert_eq!(code, 0, "{out}");
    let gnmap = std::fs::read_to_string(format!("{base}.gnmap")).unwrap();
    assert!(
        gnmap.contains("Host: 10.251.0.1 ()\tStatus: Up\n")
            && gnmap.contains("Host: 10.251.0.3 ()\tStatus: Up\n"),
        "{gnmap}"
    );
    assert!(!gnmap.contains("10.251.0.2"), "{gnmap}");
    let normal = std::fs::read_to_string(format!("{base}.nmap")).unwrap();
    assert_eq!(
        normal.matches("portscan scan report for").count(),
        2,
        "{normal}"
    );
    assert!(normal.contains("3 IP addresses (2 hosts up)"), "{normal}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn reason_column_hint_and_stats_lines() {
    let ns = or_skip!(JobsNs::new());
    // --reason: the table and -oN get the column.
    let normal = temp_path("reason.nmap");
    let run = ns.portscan(&[
        "10.251.0.2-3",
        "8080,8081",
        "--table",
        "-a",
        "--reason",
        "-t",
        "300",
        "--retries",
        "0",
        "-Pn",
        "-oN",
        normal.to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let rows: Vec<&str> = run.stdout.lines().collect();
    let header: Vec<&str> = rows[0].split_whitespace().collect();
    assert_eq!(
        header[..5],
        ["TARGET", "ADDRESS", "PORT", "STATE", "REASON"],
        "{}",
        run.stdout
    );
    assert!(
        rows.iter().any(|r| r.contains("10.251.0.3")
            && r.contains("8080/tcp")
            && r.contains("open")
            && r.contains("syn-ack")),
        "{}",
        run.stdout
    );
    assert!(
        rows.iter()
            .any(|r| r.contains("8081/tcp") && r.contains("closed") && r.contains("conn-refused")),
        "{}",
        run.stdout
    );
    assert!(
        rows.iter().any(|r| r.contains("10.251.0.2")
            && r.contains("filtered")
            && r.contains("no-response")),
        "{}",
        run.stdout
    );
    let text = std::fs::read_to_string(&normal).unwrap();
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["PORT", "STATE", "SERVICE", "REASON"]),
        "{text}"
    );
    assert!(
        text.contains("8080/tcp open") && text.contains("syn-ack"),
        "{text}"
    );
    let _ = std::fs::remove_file(&normal);
    // Without -a, the table leaves the filtered ports out and says so.
    let run = ns.portscan(&[
        "10.251.0.2-3",
        "8080,8081",
        "--table",
        "-t",
        "300",
        "--retries",
        "0",
        "-Pn",
    ]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(!run.stdout.contains("filtered"), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("hint: 2 filtered ports (and closed ones) not shown; -a/--all lists them"),
        "{}",
        run.stderr
    );
    // --stats-every: lines on stderr though it is no terminal. The 5
    // dropped ports take their 1 s timeout, far beyond the 100 ms period.
    let run = ns.portscan(&[
        "10.251.0.2",
        "1-5",
        "-Pn",
        "-t",
        "1000",
        "--min-timeout",
        "1000",
        "--retries",
        "0",
        "--stats-every",
        "100ms",
    ]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let stats: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("Stats: "))
        .collect();
    assert!(!stats.is_empty(), "{}", run.stderr);
    assert!(stats[0].contains(" of 5 probes done ("), "{}", stats[0]);
    // A bad interval is a usage error.
    let run = ns.portscan(&["10.251.0.2", "1", "--stats-every", "5ms"]);
    assert_eq!(run.code(), 2);
}

#[test]
fn pairs_from_a_first_sweep_are_probed_alone() {
    let ns = or_skip!(JobsNs::new());
    let dir = temp_path("pairs");
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let key = |l: &Line| (l.ip.to_string(), l.port, l.state.clone());
    // Stage 1: portscan's own sweep; stage 2: just what it found, -sV.
    let sweep = ns.portscan(&["10.251.0.1-3", "8079-8082", "-t", "300", "--retries", "0"]);
    assert_eq!(sweep.code(), 0, "{}", sweep.stderr);
    let found = file("sweep.jsonl", &sweep.stdout);
    let second = ns.portscan(&["--pairs", &found, "-sV", "--all", "-v"]);
    assert_eq!(second.code(), 0, "{}", second.stderr);
    let got: Vec<_> = second.lines().iter().map(key).collect();
    assert_eq!(got, [("10.251.0.3".to_string(), 8080, "open".to_string())]);
    assert!(
        second
            .stderr
            .contains("portscan: 1 probes (1 pairs of 1 addresses"),
        "{}",
        second.stderr
    );
    // masscan's -oL and -oJ, as masscan writes them (10.251.0.1 answers
    // every SYN with a RST: its port is closed in the second pass).
    let list = file(
        "masscan.txt",
        "#masscan\nopen tcp 8080 10.251.0.3 1700000000\nopen tcp 8081 10.251.0.1 1700000000\n# end\n",
    );
    let json = file(
        "masscan.json",
        "[\n{   \"ip\": \"10.251.0.3\",   \"timestamp\": \"1700000000\", \"ports\": [ {\"port\": 8080, \"proto\": \"tcp\", \"status\": \"open\", \"reason\": \"syn-ack\", \"ttl\": 64} ] }\n,\n{   \"ip\": \"10.251.0.1\",   \"timestamp\": \"1700000000\", \"ports\": [ {\"port\": 8081, \"proto\": \"tcp\", \"status\": \"open\", \"reason\": \"syn-ack\", \"ttl\": 64} ] }\n]\n",
    );
    for input in [&list, &json] {
        let run = ns.portscan(&["--pairs", input, "--all"]);
        assert_eq!(run.code(), 0, "{input}: {}", run.stderr);
        let mut got: Vec<_> = run.lines().iter().map(key).collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("10.251.0.1".to_string(), 8081, "closed".to_string()),
                ("10.251.0.3".to_string(), 8080, "open".to_string()),
            ],
            "{input}"
        );
    }
    // A bad line: one line naming it, exit 2, nothing probed.
    let bad = file("bad.txt", "10.251.0.3:8080\n10.251.0.3:http\n");
    let run = ns.portscan(&["--pairs", &bad]);
    assert_eq!(run.code(), 2);
    assert!(run.stdout.is_empty());
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("bad.txt line 2: 'http' is not a port (1-65535)"),
        "{}",
        run.stderr
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Lines in `path` (0 when it does not exist yet).
fn line_count(path: &std::path::Path) -> usize {
    std::fs::read(path).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
}

#[test]
fn a_scan_killed_at_several_points_and_resumed_equals_an_uninterrupted_one() {
    let ns = or_skip!(JobsNs::new());
    let tools = or_skip!(xml_tools());
    let dir = temp_path("resume");
    std::fs::create_dir_all(&dir).unwrap();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let scan = |state: &str, json: &str, xml: &str| -> Vec<String> {
        [
            "10.251.0.1-3",
            "1-200",
            "-Pn",
            "--all",
            "-t",
            "300",
            "--min-timeout",
            "300",
            "--retries",
            "0",
            "--rate",
            "300",
            "--resume",
            state,
            "-o",
            json,
            "-oX",
            xml,
        ]
        .map(String::from)
        .to_vec()
    };
    let (state, json, xml) = (path("state"), path("out.jsonl"), path("out.xml"));
    // Killed with SIGKILL once the journal holds 50, 250 and 450 results.
    for at in [50, 250, 450] {
        let mut cmd = ns.command(env!("CARGO_BIN_EXE_portscan"));
        cmd.args(scan(&state, &json, &xml))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let started = std::time::Instant::now();
        while line_count(std::path::Path::new(&state)) < at + 1 {
            assert!(
                started.elapsed() < RUN_LIMIT,
                "the journal never reached {at}"
            );
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the scan ended ({status}) before {at} results");
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
    }
    // Resumed to the end.
    let args = scan(&state, &json, &xml);
    let run = ns.portscan(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(run.stderr.contains("600 probes"), "{}", run.stderr);
    // An uninterrupted run of the same scan, with its own journal.
    let (state2, json2, xml2) = (path("state2"), path("whole.jsonl"), path("whole.xml"));
    let args = scan(&state2, &json2, &xml2);
    ns.portscan(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .ok();
    let records = |p: &str| -> Vec<(String, u16, String, String)> {
        let mut v: Vec<_> = std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Line>(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .map(|l| (l.ip.to_string(), l.port, l.state, l.reason))
            .collect();
        v.sort();
        v
    };
    let resumed = records(&json);
    let whole = records(&json2);
    assert_eq!(whole.len(), 600);
    let unique: BTreeSet<_> = resumed.iter().collect();
    assert_eq!(unique.len(), resumed.len(), "nothing reported twice");
    assert_eq!(resumed, whole, "nothing missed");
    assert_valid_and_ndiff_equal(&tools, &xml2, &xml);
    // A resume with a changed scan (another port list) is refused in one
    // line, and the journal is left alone.
    let before = std::fs::read(&state).unwrap();
    let mut changed = scan(&state, &json, &xml);
    changed[1] = "1-201".into();
    let run = ns.portscan(&changed.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.code(), 2);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("it holds scan") && run.stderr.contains("not this one"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(&state).unwrap(), before);
    let _ = std::fs::remove_dir_all(dir);
}

/// A single-node Slurm (munged, slurmctld, slurmd) whose daemons run in
/// the network namespace `ns`, so the jobs' traffic stays there; stopped
/// on drop through their pid files.
struct Slurm {
    dir: std::path::PathBuf,
    netns: String,
}

impl Slurm {
    fn start(ns: &JobsNs) -> Result<Slurm, Skipped> {
        for (tool, package) in [
            ("munged", "munge"),
            ("mungekey", "munge"),
            ("slurmctld", "slurmctld"),
            ("slurmd", "slurmd"),
            ("sbatch", "slurm-client"),
            ("sinfo", "slurm-client"),
            ("nsenter", "util-linux"),
        ] {
            require_tool(tool, package)?;
        }
        // getaddrinfo (AI_ADDRCONFIG) wants an address besides loopback.
        ns.exec(&[
            "ip", "link", "add", "j0", "type", "veth", "peer", "name", "j1",
        ]);
        ns.exec(&["ip", "addr", "add", "10.251.1.1/24", "dev", "j0"]);
        ns.exec(&["ip", "link", "set", "j0", "up"]);
        ns.exec(&["ip", "link", "set", "j1", "up"]);
        let dir = temp_path("slurm");
        std::fs::create_dir_all(dir.join("state")).unwrap();
        std::fs::create_dir_all(dir.join("spool")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711)).unwrap();
        let slurm = Slurm {
            dir: dir.clone(),
            netns: format!("/run/netns/{}", ns.name),
        };
        let d = dir.to_str().unwrap();
        let key = format!("{d}/munge.key");
        sh(&["mungekey", "--create", &format!("--keyfile={key}")]);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        slurm.run(&[
            "munged",
            "-f",
            &format!("--socket={d}/munge.sock"),
            &format!("--key-file={key}"),
            &format!("--pid-file={d}/munged.pid"),
            &format!("--log-file={d}/munged.log"),
            &format!("--seed-file={d}/munged.seed"),
        ]);
        let host = std::process::Command::new("hostname")
            .arg("-s")
            .output()
            .unwrap();
        let host = String::from_utf8(host.stdout).unwrap().trim().to_string();
        let conf = format!(
            "ClusterName=jobs\nSlurmctldHost={host}(10.251.1.1)\nSlurmctldPort=16817\nSlurmdPort=16818\n\
             AuthType=auth/munge\nAuthInfo=socket={d}/munge.sock\nCredType=cred/munge\n\
             SlurmUser=root\nSlurmdUser=root\nStateSaveLocation={d}/state\nSlurmdSpoolDir={d}/spool\n\
             SlurmctldPidFile={d}/slurmctld.pid\nSlurmdPidFile={d}/slurmd.pid\n\
             ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nSwitchType=switch/none\nMpiDefault=none\n\
             ReturnToService=2\nSchedulerType=sched/builtin\nSelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n\
             JobCompType=jobcomp/none\nJobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n\
             SlurmctldLogFile={d}/slurmctld.log\nSlurmdLogFile={d}/slurmd.log\n\
             NodeName={host} NodeAddr=10.251.1.1 CPUs=2 State=UNKNOWN\n\
             PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP\n"
        );
        std::fs::write(dir.join("slurm.conf"), conf).unwrap();
        // The host's cgroups are v1 beside a v2 mount: name the plugin.
        std::fs::write(dir.join("cgroup.conf"), "CgroupPlugin=cgroup/v1\n").unwrap();
        slurm.run(&["slurmctld", "-i"]);
        slurm.run(&["slurmd"]);
        // Until the node is idle (it registers in a second or two).
        let started = std::time::Instant::now();
        loop {
            let out = slurm
                .command("sinfo")
                .args(["-h", "-o", "%t"])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout).trim() == "idle" {
                break;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "the Slurm node never became idle: {}",
                std::fs::read_to_string(dir.join("slurmd.log")).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        Ok(slurm)
    }

    /// `program` in the namespace's network (its own mounts, unlike `ip
    /// netns exec`, keep /sys/fs/cgroup for slurmd), with this Slurm's
    /// configuration.
    fn command(&self, program: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new("nsenter");
        cmd.arg(format!("--net={}", self.netns))
            .arg(program)
            .env("SLURM_CONF", self.dir.join("slurm.conf"));
        cmd
    }

    /// Runs a daemon (it forks away) or a command, which must succeed.
    fn run(&self, args: &[&str]) {
        let status = self.command(args[0]).args(&args[1..]).status().unwrap();
        assert!(status.success(), "{args:?}");
    }
}

impl Drop for Slurm {
    fn drop(&mut self) {
        for daemon in ["slurmd", "slurmctld", "munged"] {
            let Ok(pid) = std::fs::read_to_string(self.dir.join(format!("{daemon}.pid"))) else {
                continue;
            };
            let pid = pid.trim().to_string();
            let _ = std::process::Command::new("kill").arg(&pid).status();
            // Until it is gone, at most 10 s, then SIGKILL.
            let started = std::time::Instant::now();
            while std::path::Path::new(&format!("/proc/{pid}")).exists()
                && started.elapsed() < std::time::Duration::from_secs(10)
            {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid])
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `n`-th ```bash block after `marker` in docs/portscan-shards.md
/// (the recipes the README points to).
fn recipe_block(marker: &str, n: usize) -> String {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/portscan-shards.md"
    ))
    .unwrap();
    let after = &doc[doc
        .find(marker)
        .unwrap_or_else(|| panic!("docs/portscan-shards.md: {marker}"))..];
    let block = after.split("```bash\n").nth(n + 1).unwrap();
    block[..block.find("```").unwrap()].to_string()
}

#[test]
fn the_gnu_parallel_recipe_runs_as_written_and_merges_to_the_unsplit_scan() {
    let ns = or_skip!(JobsNs::new());
    let tools = or_skip!(xml_tools());
    or_skip!(require_tool("parallel", "parallel"));
    let work = temp_path("parallel-work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("targets.txt"), "10.251.0.1\n10.251.0.3\n").unwrap();
    // Both lines of the README's block, as written (`--will-cite` comes
    // from the environment, as a user's ~/.parallel/will-cite would).
    let commands = recipe_block("## GNU parallel", 0);
    assert!(commands.contains("--shard env/4"), "{commands}");
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_portscan"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut sh = ns.command("timeout");
    sh.args(["300", "sh", "-ec", &commands])
        .current_dir(&work)
        .env("PATH", path)
        .env("PARALLEL", "--will-cite")
        .env_remove("PARALLEL_SEQ");
    let out = sh.output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let shards = std::fs::read_dir(&work)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with("shard-")
        })
        .count();
    assert_eq!(shards, 4, "one XML per job");
    let whole = work.join("whole.xml");
    let targets = work.join("targets.txt");
    ns.portscan(&[
        "-iL",
        targets.to_str().unwrap(),
        "1-1024",
        "-oX",
        whole.to_str().unwrap(),
        "-o",
        work.join("whole.jsonl").to_str().unwrap(),
    ])
    .ok();
    let merged = work.join("scan.xml");
    assert_valid_and_ndiff_equal(&tools, whole.to_str().unwrap(), merged.to_str().unwrap());
    let records = |name: &str| -> BTreeSet<(String, u16, String)> {
        std::fs::read_to_string(work.join(name))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Line>(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .map(|l| (l.ip.to_string(), l.port, l.state))
            .collect()
    };
    let merged = records("scan.jsonl");
    assert_eq!(merged, records("whole.jsonl"));
    assert!(merged.contains(&("10.251.0.3".to_string(), 1000, "open".to_string())));
    let _ = std::fs::remove_dir_all(work);
}

#[test]
fn the_slurm_recipe_runs_as_written_and_merges_to_the_unsplit_scan() {
    let ns = or_skip!(JobsNs::new());
    let tools = or_skip!(xml_tools());
    let slurm = or_skip!(Slurm::start(&ns));
    let work = temp_path("slurm-work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("targets.txt"), "10.251.0.1\n10.251.0.3\n").unwrap();
    std::fs::write(
        work.join("portscan.sbatch"),
        recipe_block("## Slurm job array", 0),
    )
    .unwrap();
    let commands = recipe_block("## Slurm job array", 1);
    assert!(
        commands.contains("sbatch --wait portscan.sbatch"),
        "{commands}"
    );
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_portscan"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut sh = slurm.command("timeout");
    sh.args(["300", "sh", "-ec", &commands])
        .current_dir(&work)
        .env("PATH", path);
    let out = sh.output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let shards = std::fs::read_dir(work.join("results")).unwrap().count();
    assert_eq!(shards, 8, "one XML per array task");
    // The unsplit scan, in the same namespace.
    let whole = work.join("whole.xml");
    let targets = work.join("targets.txt");
    ns.portscan(&[
        "-iL",
        targets.to_str().unwrap(),
        "1-1024",
        "-oX",
        whole.to_str().unwrap(),
    ])
    .ok();
    let merged = work.join("scan.xml");
    assert_valid_and_ndiff_equal(&tools, whole.to_str().unwrap(), merged.to_str().unwrap());
    let jsonl = std::fs::read_to_string(work.join("scan.jsonl")).unwrap();
    assert!(
        jsonl.contains("\"ip\":\"10.251.0.3\",\"port\":1000"),
        "{jsonl}"
    );
    drop(slurm);
    let _ = std::fs::remove_dir_all(work);
}
