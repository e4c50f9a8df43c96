//! `portscan --merge FILE...`: shard outputs (JSON Lines and nmap XML,
//! mixed as they come) put back together into one report, written by the
//! same printers as a scan (so in any output format).
//!
//! The rules (docs/portscan-jobs.md says them to users):
//!
//! - **Which scan.** The scan is the one the first input that names a
//!   scan (`scan_id`) belongs to, split the way that input says (`I/N`).
//!   An input of another scan, or of the same scan split another way, is
//!   left out and reported. An input that names no scan (nmap's own XML,
//!   JSON Lines of older versions) is merged as it is, with a note.
//! - **One input per shard.** When several inputs hold the same shard
//!   (`-o` and `-oX` of one run, or a shard run twice), one is used: XML
//!   over JSON Lines (it also counts the ports it does not list), then the
//!   one given last. The others are reported as skipped.
//! - **Duplicates.** One record per address, protocol and port: a
//!   decided state wins over no answer (open, then closed, then
//!   open|filtered, then filtered), and between equals the later record.
//! - **Missing shards** of `0..N` are reported. A JSON Lines file with no
//!   record cannot say which shard it was (a shard that found nothing
//!   open writes nothing): it may be one of the missing shards, and the
//!   report says so.
//! - **Statistics** (counts per state, hosts, start, end, elapsed wall
//!   time from the first start to the last end) are recomputed from what
//!   was merged.
//!
//! Exit status: 0 when every shard of the scan was merged, 3 when shards
//! are missing or inputs were left out (the report is still written).

mod read;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use rawnet::ports::PortSpec;
use rawnet::scan::{Proto, State, Summary, Technique};
use rawnet::scanid::ScanId;
use rawnet::shard::Shard;

use crate::error::Error;
use crate::output::{Event, Printer, Printers, ScanEnd, ScanInfo};
pub use read::parse_record;
use read::{Input, Kind};

/// What `--merge` is to do.
pub struct MergeJob {
    /// The inputs, in the order given.
    pub inputs: Vec<PathBuf>,
    /// The command line, for the nmap formats' `args`.
    pub command: String,
}

/// The outcome: whether the merge was complete, and the notes for stderr.
pub struct Outcome {
    /// Every shard of the scan was merged and no input was left out.
    pub complete: bool,
    /// One line each, for stderr.
    pub notes: Vec<String>,
}

/// Reads every input, merges them and writes the result to `printers`.
pub fn run(job: &MergeJob, printers: &mut Printers) -> Result<Outcome, Error> {
    let mut inputs = Vec::with_capacity(job.inputs.len());
    for path in &job.inputs {
        inputs.push(read::read(path).map_err(|e| Error::Runtime(e.to_string()))?);
    }
    let mut notes = Vec::new();
    let chosen = choose(inputs, &mut notes);
    let complete = notes
        .iter()
        .all(|n| !n.starts_with("left out") && !n.starts_with("missing"));
    let merged = Merged::of(&chosen.inputs);
    let info = ScanInfo {
        started: merged.started,
        command: job.command.clone(),
        ports: merged.ports.0.clone(),
        udp_ports: merged.ports.1.clone(),
        addresses: merged.addresses,
        shard: Shard::WHOLE,
        total: merged.addresses * u64::from(merged.ports.0.len() + merged.ports.1.len()),
        scan_id: chosen
            .scan_id
            .unwrap_or_else(|| "0000000000000000".parse().expect("16 hex digits")),
        // The shards' own word: a merge of -sS shards is a SYN scan.
        syn: chosen
            .inputs
            .iter()
            .any(|i| i.tcp_technique == Some(Technique::Syn)),
    };
    let write = |printers: &mut Printers| -> io::Result<()> {
        printers.begin(&info)?;
        for event in merged.events.values() {
            printers.result(event)?;
        }
        for extra in chosen.inputs.iter().flat_map(|i| &i.extras) {
            printers.extra(extra)?;
        }
        printers.end(&merged.end())
    };
    match write(printers) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            return Err(Error::Runtime(format!(
                "cannot write the merged report: {e}"
            )))
        }
        Ok(()) => {}
    }
    Ok(Outcome { complete, notes })
}

/// The inputs that go into the merge, one per shard.
struct Chosen {
    scan_id: Option<ScanId>,
    inputs: Vec<Input>,
}

/// Applies the rules of the module docs: which scan, one input per
/// shard, which shards are missing. Notes go to `notes`; those that make
/// the merge incomplete start with "left out" or "missing".
fn choose(inputs: Vec<Input>, notes: &mut Vec<String>) -> Chosen {
    let first = inputs.iter().find_map(|i| Some((i.scan_id?, i.shard?)));
    let (scan_id, count) = match first {
        Some((id, shard)) => (Some(id), shard.count()),
        None => (None, 0),
    };
    let mut by_shard: BTreeMap<u64, Input> = BTreeMap::new();
    let mut untagged = Vec::new();
    let mut empty = Vec::new();
    for input in inputs {
        let name = input.path.display().to_string();
        match (input.scan_id, input.shard) {
            (Some(id), Some(shard)) if Some(id) == scan_id && shard.count() == count => {
                let index = shard.index();
                match by_shard.remove(&index) {
                    None => {
                        by_shard.insert(index, input);
                    }
                    Some(earlier) => {
                        let (keep, skip) = if earlier.kind == Kind::Xml && input.kind == Kind::Json
                        {
                            (earlier, input)
                        } else {
                            (input, earlier)
                        };
                        notes.push(format!(
                            "skipped {}: shard {} is also in {}, which is used",
                            skip.path.display(),
                            shard,
                            keep.path.display()
                        ));
                        by_shard.insert(index, keep);
                    }
                }
            }
            (Some(id), Some(shard)) if Some(id) == scan_id => notes.push(format!(
                "left out {name}: shard {shard} of the same scan split {} ways, not {count}",
                shard.count()
            )),
            (Some(id), _) => notes.push(format!(
                "left out {name}: it belongs to scan {id}, not {}",
                scan_id.map_or("-".to_string(), |s| s.to_string())
            )),
            (None, _) if input.kind == Kind::Json && input.events.is_empty() => empty.push(name),
            (None, _) => {
                notes.push(format!(
                    "{name} does not say which scan or shard it holds; merged as it is"
                ));
                untagged.push(input);
            }
        }
    }
    if scan_id.is_some() {
        let missing: Vec<String> = (0..count)
            .filter(|i| !by_shard.contains_key(i))
            .map(|i| format!("{i}/{count}"))
            .collect();
        if !missing.is_empty() {
            let mut line = format!("missing shards: {}", missing.join(" "));
            if !empty.is_empty() {
                line.push_str(&format!(
                    " ({} input(s) hold no record and may be among them, having found \
                     nothing to report: {})",
                    empty.len(),
                    empty.join(" ")
                ));
                if empty.len() >= missing.len() {
                    // Not proof, but no evidence of a missing shard either.
                    line = line.replacen("missing shards", "shards without records", 1);
                }
            }
            notes.push(line);
        }
    }
    let mut chosen: Vec<Input> = by_shard.into_values().collect();
    chosen.extend(untagged);
    Chosen {
        scan_id,
        inputs: chosen,
    }
}

/// The merged records and the recomputed run statistics.
struct Merged {
    events: BTreeMap<(IpAddr, Proto, u16), Event>,
    started: SystemTime,
    finished: SystemTime,
    ports: (PortSpec, PortSpec),
    addresses: u64,
    stopped: bool,
    extra: HashMap<State, u64>,
}

/// Rank of a state for the duplicate rule: lower wins.
fn rank(s: State) -> u8 {
    match s {
        State::Open => 0,
        State::Closed => 1,
        State::OpenFiltered => 2,
        _ => 3,
    }
}

impl Merged {
    fn of(inputs: &[Input]) -> Merged {
        let mut events: BTreeMap<(IpAddr, Proto, u16), Event> = BTreeMap::new();
        for event in inputs.iter().flat_map(|i| &i.events) {
            let r = &event.result;
            let key = (r.ip, r.proto, r.port);
            let better = match events.get(&key) {
                None => true,
                Some(old) => {
                    (rank(r.state), std::cmp::Reverse(event.at))
                        <= (rank(old.result.state), std::cmp::Reverse(old.at))
                }
            };
            if better {
                events.insert(key, event.clone());
            }
        }
        let started = inputs
            .iter()
            .filter_map(|i| i.started)
            .min()
            .unwrap_or_else(SystemTime::now);
        let finished = inputs
            .iter()
            .filter_map(|i| i.finished)
            .max()
            .unwrap_or(started);
        // The port lists: from XML's scaninfo, else the ports seen.
        let ports = inputs
            .iter()
            .find_map(|i| i.ports.clone())
            .unwrap_or_else(|| {
                let seen = |proto: Proto| -> PortSpec {
                    let set: BTreeSet<u16> = events
                        .keys()
                        .filter(|(_, p, _)| *p == proto)
                        .map(|(_, _, port)| *port)
                        .collect();
                    let list: Vec<String> = set.iter().map(u16::to_string).collect();
                    list.join(",").parse().unwrap_or_else(|_| PortSpec::none())
                };
                (seen(Proto::Tcp), seen(Proto::Udp))
            });
        let hosts: BTreeSet<IpAddr> = events
            .keys()
            .map(|(ip, _, _)| *ip)
            .chain(inputs.iter().flat_map(|i| i.extras.iter().map(|e| e.ip)))
            .collect();
        let addresses = inputs
            .iter()
            .find_map(|i| i.addresses)
            .unwrap_or(hosts.len() as u64)
            .max(hosts.len() as u64);
        let mut extra = HashMap::new();
        for e in inputs.iter().flat_map(|i| &i.extras) {
            *extra.entry(e.state).or_insert(0) += e.count;
        }
        Merged {
            events,
            started,
            finished,
            ports,
            addresses,
            stopped: inputs.iter().any(|i| i.stopped),
            extra,
        }
    }

    /// The end of the merged run: counts per state, wall time from the
    /// first start to the last end.
    fn end(&self) -> ScanEnd {
        let count = |s: State| {
            self.events.values().filter(|e| e.result.state == s).count() as u64
                + self.extra.get(&s).copied().unwrap_or(0)
        };
        let summary = Summary {
            open: count(State::Open),
            closed: count(State::Closed),
            filtered: count(State::Filtered),
            open_filtered: count(State::OpenFiltered),
            elapsed: self
                .finished
                .duration_since(self.started)
                .unwrap_or(Duration::ZERO),
            stopped: self.stopped,
            ..Summary::default()
        };
        let reported = summary.open + summary.closed + summary.filtered + summary.open_filtered;
        let summary = Summary {
            reported,
            ..summary
        };
        ScanEnd {
            finished: self.finished,
            ..ScanEnd::new(summary)
        }
    }
}

/// Writes `notes` to stderr, one `merge:` line each.
pub fn report(notes: &[String], out: &mut dyn Write) {
    for note in notes {
        let _ = writeln!(out, "merge: {}", crate::one_line(note));
    }
}
