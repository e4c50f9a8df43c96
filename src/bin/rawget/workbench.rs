//! The workbench: `--send` (a request file, byte for byte), `--pin`
//! (the same bytes to several targets, compared), `--pipeline` (several
//! URLs of one origin on one keep-alive connection), `--repeat` (timing
//! statistics), `--waterfall` and `--har` (every millisecond, drawn or
//! filed).
//!
//! Every mode is the same engine: [`rawnet::http::client::open`] makes
//! the connection, [`rawnet::http::pipeline::run`] sends bytes and reads
//! the answers, [`Timeline`] records the steps. This file turns the
//! settings into runs and hands the runs to the printers (JSON here,
//! [`crate::waterfall`], [`crate::har`]).

use std::io::{self, IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use rawnet::http::client::{self, Exchange, FetchError, FetchOptions, Handler, Step};
use rawnet::http::compare::{self, Summary, TargetSummary};
use rawnet::http::pipeline::{self, Observer, Outcome, Response};
use rawnet::http::request::RequestSpec;
use rawnet::http::response::Framing;
use rawnet::http::route::{ConnectTo, Routes};
use rawnet::http::server_timing;
use rawnet::http::splitter::{self, BodyFraming, Request};
use rawnet::http::target::Target;
use rawnet::http::timeline::{Stats, Timeline};
use rawnet::sanitize::escape_bytes;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::cli::Config;
use crate::exit::{Classify, Exit};
use crate::json::{self, ErrorRecord, Field, TlsRecord, WarningRecord};
use crate::request_file::{self, Input};
use crate::trace::Tracer;

/// Size of the buffer in front of stdout.
const OUT_BUF: usize = 64 * 1024;

/// Most bytes of remaining (unframed) data shown on stderr.
const PREVIEW: usize = 200;

/// Where one run connects and what it sends.
pub struct Plan {
    /// What the user sees this target as (the URL, and the pin).
    pub label: String,
    pub target: Target,
    pub opts: FetchOptions,
    /// The request file mapped, or the bytes read (shared by the plans
    /// that send the same input).
    pub input: Arc<Input>,
    /// The requests in `input`, split when first needed (shared by the
    /// plans that send the same input): a pipelined run writes the input
    /// before it is split.
    pub split: Arc<OnceLock<Vec<Request>>>,
}

impl Plan {
    /// The requests in the input.
    pub fn requests(&self) -> &[Request] {
        self.split.get_or_init(|| splitter::split(&self.input))
    }
}

/// One connection's worth of work, done.
pub struct Run {
    pub plan: Arc<Plan>,
    /// Wall-clock time the run started (for HAR).
    pub started: SystemTime,
    pub timeline: Timeline,
    pub exchange: Exchange,
    pub outcome: Option<Outcome>,
    /// Decoded bodies, per response (kept for JSON and HAR).
    pub bodies: Vec<Vec<u8>>,
    /// SHA-256 of each decoded body (for the comparison).
    pub digests: Vec<Vec<u8>>,
    /// Since the run started: when the connection was ready.
    pub ready: Option<Duration>,
}

impl Run {
    /// The error that ended the run, if any.
    pub fn error(&self) -> Option<&FetchError> {
        self.exchange
            .error
            .as_ref()
            .or_else(|| self.outcome.as_ref()?.error.as_ref())
    }

    pub fn responses(&self) -> &[Response] {
        self.outcome.as_ref().map_or(&[], |o| &o.responses)
    }
}

/// Runs the workbench; returns the exit status.
pub fn run(cfg: &Config) -> Result<Exit, (Exit, String)> {
    let plans = plans(cfg)?;
    let bench = &cfg.bench;
    if let Some(n) = bench.repeat {
        return repeat(cfg, &plans, n);
    }
    let single = plans.len() == 1 && bench.send.is_some();
    let raw_to_stdout = !cfg.json && (single || bench.pipeline || bench.send.is_none());
    let comparing = compare_mode(cfg);
    let terminal = io::stdout().is_terminal();
    // One buffered writer for everything on stdout (raw answers, JSON):
    // 10000 pipelined answers are a few large writes, not one per line.
    let mut stdout = io::BufWriter::with_capacity(OUT_BUF, io::stdout().lock());
    // Raw answers not escaped for a terminal go from the read buffer
    // straight to stdout's file descriptor (a duplicate of it): one write
    // per read, no copy into our buffer nor into the line buffer std keeps
    // behind it (which writes a line's tail on its own). Nothing else is
    // written to stdout in this mode.
    let mut direct = (raw_to_stdout && !comparing && !terminal)
        .then(|| io::stdout().as_fd().try_clone_to_owned().ok())
        .flatten()
        .map(std::fs::File::from);
    let mut runs = Vec::new();
    let mut exit = Exit::Ok;
    for plan in &plans {
        let raw: Option<&mut dyn Write> = match &mut direct {
            Some(file) => Some(file),
            None if raw_to_stdout && !comparing => Some(&mut stdout),
            None => None,
        };
        let run = run_one(
            Arc::clone(plan),
            cfg,
            raw,
            terminal,
            cfg.json || bench.har.is_some(),
        );
        if let Some(path) = bench.send.as_ref().filter(|_| input_changed(&run)) {
            return Err(request_file::changed_error(path));
        }
        report_problems(&run);
        if exit == Exit::Ok {
            exit = run_exit(&run);
        }
        if cfg.json {
            let record = SendRecord::new(&run);
            write_json(&mut stdout, &record).map_err(output_error)?;
        }
        // What this run wrote shows before its waterfall (on stderr).
        stdout.flush().map_err(output_error)?;
        if bench.waterfall {
            crate::waterfall::draw(&mut io::stderr().lock(), &run).map_err(output_error)?;
        }
        runs.push(run);
    }
    if comparing {
        let differ = report_comparison(&mut stdout, cfg.json, &runs).map_err(output_error)?;
        if differ && exit == Exit::Ok {
            exit = Exit::Differ;
        }
    }
    if let Some(path) = &bench.har {
        crate::har::write(path, &runs).map_err(|e| {
            (
                Exit::WriteError,
                format!("cannot write {}: {e}", path.display()),
            )
        })?;
    }
    stdout.flush().map_err(output_error)?;
    // The process ends now: the records of a long pipeline (and its
    // split requests) are left for the exit to take back at once rather
    // than freed piece by piece first, which cost half a millisecond
    // after the last answer for 10000 requests.
    std::mem::forget(runs);
    std::mem::forget(plans);
    Ok(exit)
}

/// The request file changed under a run that sent from it, or failed
/// to (EFAULT: the pages it was sending from are gone): what went out is
/// not known (see `request_file`). A run that sent nothing keeps its own
/// error.
fn input_changed(run: &Run) -> bool {
    let sent = run.outcome.as_ref().is_some_and(|o| o.sent_bytes > 0);
    let lost = run.error().is_some_and(FetchError::input_gone);
    (sent || lost) && run.plan.input.changed()
}

/// `--send` to several targets: the answers are compared.
fn compare_mode(cfg: &Config) -> bool {
    cfg.bench.send.is_some() && (cfg.urls.len() + cfg.bench.pins.len()) > 1
}

fn output_error(e: io::Error) -> (Exit, String) {
    let exit = FetchError::Output(e);
    (exit.exit(), exit.to_string())
}

/// The runs to make: one per target of `--send` (URLs, then pins), or
/// one per origin of the URLs.
fn plans(cfg: &Config) -> Result<Vec<Arc<Plan>>, (Exit, String)> {
    let targets: Vec<(String, Target)> = cfg
        .urls
        .iter()
        .map(|u| {
            u.parse::<Target>()
                .map(|t| (u.clone(), t))
                .map_err(|e| (e.exit(), format!("{u}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let bench = &cfg.bench;
    let Some(path) = &bench.send else {
        return url_plans(cfg, targets);
    };
    let input = Arc::new(read_input(path, cfg.quiet)?);
    let split = Arc::new(OnceLock::new());
    let mut plans: Vec<Arc<Plan>> = targets
        .iter()
        .map(|(label, target)| {
            Arc::new(Plan {
                label: label.clone(),
                target: target.clone(),
                opts: cfg.fetch.clone(),
                input: Arc::clone(&input),
                split: Arc::clone(&split),
            })
        })
        .collect();
    let (first_label, first) = &targets[0];
    for pin in &bench.pins {
        let to = pin_route(pin, first.port)?;
        let mut routes = Routes::clone(&cfg.fetch.routes);
        routes.connect_to.insert(0, to);
        plans.push(Arc::new(Plan {
            label: format!("{first_label} via {pin}"),
            target: first.clone(),
            opts: FetchOptions {
                routes: Arc::new(routes),
                ..cfg.fetch.clone()
            },
            input: Arc::clone(&input),
            split: Arc::clone(&split),
        }));
    }
    Ok(plans)
}

/// `--pin ADDR[:PORT]` as a `--connect-to` entry that matches anything.
fn pin_route(pin: &str, port: u16) -> Result<ConnectTo, (Exit, String)> {
    let (ip, port) = match pin.parse::<SocketAddr>() {
        Ok(sa) => (sa.ip(), sa.port()),
        Err(_) => match pin.parse::<IpAddr>() {
            Ok(ip) => (ip, port),
            Err(_) => {
                return Err((
                    Exit::Usage,
                    format!("--pin '{pin}': expected ADDR or ADDR:PORT ([v6]:PORT)"),
                ))
            }
        },
    };
    let host = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    };
    format!("::{host}:{port}")
        .parse()
        .map_err(|e: rawnet::http::route::RouteError| (Exit::Usage, e.to_string()))
}

/// The request file (mapped), or stdin for `-`.
fn read_input(path: &std::path::Path, quiet: bool) -> Result<Input, (Exit, String)> {
    let input = request_file::open(path, quiet).map_err(|e| {
        (
            Exit::ReadError,
            format!("cannot read requests from '{}': {e}", path.display()),
        )
    })?;
    if input.is_empty() {
        return Err((
            Exit::ReadError,
            format!("'{}' holds no request", path.display()),
        ));
    }
    Ok(input)
}

/// URL mode: the requests rawget would send, one connection per origin
/// with `--pipeline`, else one per URL; the last request of a connection
/// says `Connection: close` (with `--repeat` none does).
fn url_plans(
    cfg: &Config,
    targets: Vec<(String, Target)>,
) -> Result<Vec<Arc<Plan>>, (Exit, String)> {
    if !cfg.curl.data.is_empty() || cfg.curl.upload_file.is_some() {
        return Err((
            Exit::Usage,
            "-d and -T do not apply to --pipeline, --repeat, --waterfall or --har without --send"
                .into(),
        ));
    }
    if cfg.redirects.follow {
        // Refused rather than ignored: these runs are one exchange per
        // URL (-L --waterfall alone is drawn hop by hop, not here).
        return Err((
            Exit::Usage,
            "-L does not apply to --pipeline, --repeat or --har without --send \
             (--waterfall, --json and -v show every hop)"
                .into(),
        ));
    }
    let mut spec = RequestSpec::new(&cfg.method, &cfg.headers, None)
        .map_err(|e| (Exit::Usage, e.to_string()))?;
    if cfg.curl.http1_0 {
        spec.version = rawnet::http::request::Version::Http10;
    }
    let user_connection = spec.has_user_header("connection");
    let mut groups: Vec<Vec<(String, Target)>> = Vec::new();
    for (label, target) in targets {
        let origin = |t: &Target| (t.scheme, t.host.clone(), t.port);
        match groups
            .iter_mut()
            .find(|g| cfg.bench.pipeline && origin(&g[0].1) == origin(&target))
        {
            Some(g) => g.push((label, target)),
            None => groups.push(vec![(label, target)]),
        }
    }
    let keep_all = cfg.bench.repeat.is_some();
    Ok(groups
        .into_iter()
        .map(|group| {
            let mut input = Vec::new();
            let n = group.len();
            for (i, (_, target)) in group.iter().enumerate() {
                let mut head = spec.head_for(target, None, true);
                // The last request closes the connection, so the server
                // ends the exchange (with --repeat every run keeps it).
                if !user_connection && !keep_all && i + 1 == n {
                    head.headers.push(("Connection".into(), "close".into()));
                }
                input.extend_from_slice(&head.to_bytes());
            }
            let labels: Vec<&str> = group.iter().map(|(l, _)| l.as_str()).collect();
            Arc::new(Plan {
                label: labels.join(" "),
                target: group[0].1.clone(),
                opts: cfg.fetch.clone(),
                input: Arc::new(Input::Read(input)),
                split: Arc::new(OnceLock::new()),
            })
        })
        .collect())
}

/// Passes steps to the timeline and to `-v`.
struct Steps<'a> {
    timeline: &'a mut Timeline,
    tracer: Option<Tracer>,
}

impl Handler for Steps<'_> {
    fn trace(&mut self, at: Duration, step: &Step<'_>) {
        self.timeline.trace(at, step);
        if let Some(t) = &self.tracer {
            t.step(at, step);
        }
    }
}

/// Writes the raw stream (escaped on a terminal), keeps and hashes bodies.
struct Keep<'a> {
    raw: Option<&'a mut dyn Write>,
    terminal: bool,
    /// Hash the bodies (for the comparison).
    hash: bool,
    keep_bodies: bool,
    max_body: u64,
    bodies: Vec<Vec<u8>>,
    hashers: Vec<Sha256>,
}

impl Observer for Keep<'_> {
    fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.raw {
            Some(out) if self.terminal => out.write_all(escape_bytes(bytes).as_bytes()),
            Some(out) => out.write_all(bytes),
            None => Ok(()),
        }
    }

    fn body(&mut self, response: usize, data: &[u8]) {
        if !self.hash && !self.keep_bodies {
            return;
        }
        while self.hashers.len() <= response {
            self.hashers.push(Sha256::new());
            self.bodies.push(Vec::new());
        }
        self.hashers[response].update(data);
        let body = &mut self.bodies[response];
        if self.keep_bodies && (body.len() as u64) < self.max_body {
            let room = usize::try_from(self.max_body - body.len() as u64).unwrap_or(usize::MAX);
            body.extend_from_slice(&data[..data.len().min(room)]);
        }
    }
}

/// Connects and runs the plan once.
fn run_one(
    plan: Arc<Plan>,
    cfg: &Config,
    raw: Option<&mut dyn Write>,
    terminal: bool,
    keep_bodies: bool,
) -> Run {
    let started = SystemTime::now();
    let mut timeline = Timeline::default();
    let opts = FetchOptions {
        deadline: cfg.max_time.and_then(|t| Instant::now().checked_add(t)),
        ..plan.opts.clone()
    };
    let tracer = cfg.verbose.then(|| Tracer::new(None));
    let mut steps = Steps {
        timeline: &mut timeline,
        tracer,
    };
    let (transport, exchange, start) = client::open(&plan.target, &opts, &mut steps);
    let ready = transport.is_some().then(|| start.elapsed());
    let mut keep = Keep {
        raw,
        terminal,
        hash: compare_mode(cfg),
        keep_bodies,
        max_body: cfg.fetch.limits.max_body.unwrap_or(u64::MAX),
        bodies: Vec::new(),
        hashers: Vec::new(),
    };
    let keep_heads = keep_bodies || cfg.bench.waterfall || compare_mode(cfg);
    let outcome = transport.map(|mut t| {
        let popts = pipeline::Options {
            sequential: cfg.bench.sequential,
            limits: opts.limits,
            deadline: opts.deadline,
            linger: if cfg.bench.send.is_some() {
                cfg.bench.linger
            } else {
                Duration::ZERO
            },
            keep_heads,
            // --repeat's phases look at every response's times.
            keep_records: keep_heads || cfg.bench.repeat.is_some(),
        };
        pipeline::run(
            &mut t,
            &plan.input,
            &|| plan.requests(),
            &popts,
            start,
            &mut keep,
        )
    });
    timeline.close(start.elapsed());
    // One digest and one body per response, only when they are used (a
    // 10000-answer pipeline shown raw needs neither).
    let n = outcome.as_ref().map_or(0, |o| o.responses.len());
    if keep.hash {
        keep.hashers
            .resize_with(n.max(keep.hashers.len()), Sha256::new);
    }
    if keep.keep_bodies {
        keep.bodies.resize_with(n.max(keep.bodies.len()), Vec::new);
    }
    Run {
        plan,
        started,
        timeline,
        exchange,
        outcome,
        bodies: keep.bodies,
        digests: keep
            .hashers
            .into_iter()
            .map(|h| h.finalize().to_vec())
            .collect(),
        ready,
    }
}

/// Stderr lines for what went wrong in a run: the exchange's error, a
/// response that could not be read (where, and what remains), responses
/// that never came.
fn report_problems(run: &Run) {
    let label = &run.plan.label;
    if let Some(e) = run.error() {
        crate::report(&format!("{label}: {e}"));
    }
    let Some(outcome) = &run.outcome else {
        return;
    };
    // Without records only the last responses are kept: number them as read.
    let first = outcome.read - outcome.responses.len();
    for (i, r) in outcome.responses.iter().enumerate() {
        if let Some(s) = &r.stopped {
            let preview = &s.remaining[..s.remaining.len().min(PREVIEW)];
            crate::report(&format!(
                "{label}: response {}: {} at byte {} of the stream; {} bytes remain: {}",
                first + i + 1,
                s.error,
                s.at,
                s.remaining_total,
                // One line: line ends are shown as escapes too.
                escape_bytes(preview).replace('\n', "\\n")
            ));
        }
    }
    // Counted by the pipeline: walking 10000 requests again here, long
    // after they left the cache, cost more than the rest of the exit.
    let expected = outcome.expected;
    let answered = outcome.answered;
    if answered < expected && outcome.peer_closed && run.error().is_none() {
        crate::report(&format!(
            "{label}: the server closed the connection after {answered} of {expected} responses"
        ));
    }
}

/// The exit status of one run: its error, else the first response that
/// could not be read.
fn run_exit(run: &Run) -> Exit {
    if let Some(e) = run.error() {
        return e.exit();
    }
    run.responses()
        .iter()
        .find_map(|r| r.stopped.as_ref())
        .map_or(Exit::Ok, |s| FetchError::Response(s.error).exit())
}

fn framing_name(f: Framing) -> &'static str {
    match f {
        Framing::NoBody => "none",
        Framing::ContentLength(_) => "length",
        Framing::Chunked => "chunked",
        Framing::CloseDelimited => "close",
    }
}

/// What the comparison looks at in one run.
fn summarize(run: &Run) -> TargetSummary {
    TargetSummary {
        responses: run
            .responses()
            .iter()
            .enumerate()
            .map(|(i, r)| Summary {
                status: r.head.as_deref().map(|h| h.status),
                header_names: r
                    .head
                    .as_ref()
                    .map(|h| h.headers.iter().map(|(n, _)| n.clone()).collect())
                    .unwrap_or_default(),
                framing: r.framing.map(framing_name),
                body_bytes: r.body_bytes,
                body_digest: run.digests.get(i).cloned().unwrap_or_default(),
                warnings: r.warnings.iter().map(|w| w.code()).collect(),
                error: r.stopped.as_ref().map(|s| s.error.to_string()),
            })
            .collect(),
        connection_open: run.outcome.as_ref().is_some_and(|o| !o.peer_closed),
        // The kind, not the message: messages name each target's address.
        error: run.error().map(|e| e.kind().to_owned()),
    }
}

/// Prints where the targets differ; true when they do.
fn report_comparison(out: &mut dyn Write, as_json: bool, runs: &[Run]) -> io::Result<bool> {
    let summaries: Vec<TargetSummary> = runs.iter().map(summarize).collect();
    let differences = compare::compare(&summaries);
    let labels: Vec<&str> = runs.iter().map(|r| r.plan.label.as_str()).collect();
    if as_json {
        let record = ComparisonLine {
            comparison: ComparisonRecord {
                agreed: differences.is_empty(),
                targets: labels,
                differences: differences
                    .iter()
                    .map(|d| DifferenceRecord {
                        response: d.response.map(|i| i + 1),
                        aspect: d.aspect.name(),
                        values: d.values.iter().map(String::as_str).collect(),
                    })
                    .collect(),
            },
        };
        write_json(out, &record)?;
        return Ok(!differences.is_empty());
    }
    let mut text = String::new();
    for (i, l) in labels.iter().enumerate() {
        text.push_str(&format!("target {}: {}\n", i + 1, escape_str_line(l)));
    }
    for d in &differences {
        let place = d
            .response
            .map_or("connection".to_owned(), |i| format!("response {}", i + 1));
        let values: Vec<String> = d.values.iter().map(|v| escape_str_line(v)).collect();
        text.push_str(&format!("{place}: {}: {}\n", d.aspect, values.join(" | ")));
    }
    if differences.is_empty() {
        let n = summaries.first().map_or(0, |s| s.responses.len());
        text.push_str(&format!(
            "agreed: {n} responses each, the same in every aspect compared\n"
        ));
    } else {
        text.push_str(&format!("differ: {} differences\n", differences.len()));
    }
    out.write_all(text.as_bytes())?;
    Ok(!differences.is_empty())
}

fn escape_str_line(s: &str) -> String {
    rawnet::sanitize::escape_str(s).into_owned()
}

fn write_json<T: Serialize>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    let mut ser =
        serde_json::Serializer::with_formatter(&mut *out, rawnet::sanitize::TerminalSafeJson);
    value.serialize(&mut ser).map_err(io::Error::from)?;
    out.write_all(b"\n")
}

#[derive(Serialize)]
struct ComparisonLine<'a> {
    comparison: ComparisonRecord<'a>,
}

#[derive(Serialize)]
struct ComparisonRecord<'a> {
    agreed: bool,
    targets: Vec<&'a str>,
    differences: Vec<DifferenceRecord<'a>>,
}

#[derive(Serialize)]
struct DifferenceRecord<'a> {
    /// 1-based; null for the connection as a whole.
    response: Option<usize>,
    aspect: &'static str,
    values: Vec<&'a str>,
}

/// One `--json` line of the workbench: a connection and its exchanges.
#[derive(Serialize)]
struct SendRecord<'a> {
    url: &'a str,
    ip: Option<String>,
    port: u16,
    requests: Vec<RequestRecord<'a>>,
    responses: Vec<ResponseRecord<'a>>,
    connection: ConnectionRecord,
    timing_ms: ConnectTiming,
    tls: Option<TlsRecord<'a>>,
    error: Option<ErrorRecord>,
}

#[derive(Serialize)]
struct RequestRecord<'a> {
    index: usize,
    method: &'a str,
    target: std::borrow::Cow<'a, str>,
    offset: u64,
    length: u64,
    framing: &'static str,
    content_length: Option<u64>,
    notes: Vec<&'static str>,
    complete: bool,
    sent_ms: Option<f64>,
}

#[derive(Serialize)]
struct ResponseRecord<'a> {
    /// The request it answers (1-based); null for an answer no request
    /// asked for.
    request: Option<usize>,
    offset: u64,
    raw_bytes: u64,
    version: Option<String>,
    status: Option<u16>,
    reason: Option<&'a str>,
    headers: Vec<Field<'a>>,
    framing: Option<&'static str>,
    body: Option<std::borrow::Cow<'a, str>>,
    body_encoding: Option<&'static str>,
    body_bytes: u64,
    trailers: Vec<Field<'a>>,
    warnings: Vec<WarningRecord>,
    server_timing: Vec<MetricRecord>,
    stopped: Option<StoppedRecord>,
    timing_ms: ResponseTimingMs,
}

#[derive(Debug, Serialize)]
pub struct MetricRecord {
    name: String,
    dur: Option<f64>,
    desc: Option<String>,
}

#[derive(Serialize)]
struct StoppedRecord {
    error: ErrorRecord,
    at: u64,
    remaining: String,
    remaining_encoding: &'static str,
    remaining_bytes: u64,
}

#[derive(Serialize)]
struct ResponseTimingMs {
    sent: Option<f64>,
    first_byte: Option<f64>,
    last_byte: Option<f64>,
}

#[derive(Serialize)]
struct ConnectionRecord {
    peer_closed: bool,
    tunnel: bool,
    sent_bytes: u64,
    received_bytes: u64,
}

#[derive(Serialize)]
struct ConnectTiming {
    dns: Option<f64>,
    connect: Option<f64>,
    tls: Option<f64>,
    attempts: Vec<AttemptRecord>,
    total: f64,
}

#[derive(Debug, Serialize)]
pub struct AttemptRecord {
    address: String,
    start: f64,
    duration: Option<f64>,
    result: &'static str,
    error: Option<String>,
}

/// The attempts of a timeline, for JSON.
pub fn attempts(t: &Timeline) -> Vec<AttemptRecord> {
    t.attempts
        .iter()
        .map(|a| AttemptRecord {
            address: a.addr.to_string(),
            start: json::ms(a.start),
            duration: a.duration.map(json::ms),
            result: a.result.name(),
            error: match &a.result {
                rawnet::http::timeline::AttemptResult::Failed(e) => Some(e.clone()),
                _ => None,
            },
        })
        .collect()
}

/// The Server-Timing metrics of a head, for JSON.
pub fn metrics(headers: &[(String, String)]) -> Vec<MetricRecord> {
    server_timing::parse(headers)
        .into_iter()
        .map(|m| MetricRecord {
            name: m.name,
            dur: m.dur,
            desc: m.desc,
        })
        .collect()
}

impl<'a> SendRecord<'a> {
    fn new(run: &'a Run) -> Self {
        let outcome = run.outcome.as_ref();
        let requests = run
            .plan
            .requests()
            .iter()
            .enumerate()
            .map(|(i, r)| RequestRecord {
                index: i + 1,
                method: &r.method,
                target: r.target_text(&run.plan.input),
                offset: r.start,
                length: r.end - r.start,
                framing: r.framing.name(),
                content_length: match r.framing {
                    BodyFraming::Length(n) => Some(n),
                    _ => None,
                },
                notes: r.notes.iter().map(|n| n.code()).collect(),
                complete: r.complete,
                sent_ms: outcome.and_then(|o| o.sent.get(i)).map(json::ms),
            })
            .collect();
        let responses = run
            .responses()
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let head = r.head.as_deref();
                let (body, enc) = match head {
                    Some(_) => {
                        let body = run.bodies.get(i).map_or(&[][..], Vec::as_slice);
                        let (b, e) = json::encode_body(body);
                        (Some(b), Some(e))
                    }
                    None => (None, None),
                };
                ResponseRecord {
                    request: r.request.map(|i| i + 1),
                    offset: r.offset,
                    raw_bytes: r.raw_bytes,
                    version: head.map(|h| format!("HTTP/1.{}", h.version)),
                    status: head.map(|h| h.status),
                    reason: head.map(|h| h.reason.as_str()),
                    headers: head.map_or_else(Vec::new, json::exact_fields),
                    framing: r.framing.map(framing_name),
                    body,
                    body_encoding: enc,
                    body_bytes: r.body_bytes,
                    trailers: json::exact(&r.trailers, &[]),
                    warnings: r
                        .warnings
                        .iter()
                        .map(|w| WarningRecord {
                            code: w.code(),
                            message: w.message(),
                        })
                        .collect(),
                    server_timing: head.map_or_else(Vec::new, |h| metrics(&h.headers)),
                    stopped: r.stopped.as_ref().map(|s| {
                        let e = FetchError::Response(s.error);
                        let (text, enc) = json::encode_body(&s.remaining);
                        StoppedRecord {
                            error: ErrorRecord {
                                kind: e.kind(),
                                message: e.to_string(),
                            },
                            at: s.at,
                            remaining: text.into_owned(),
                            remaining_encoding: enc,
                            remaining_bytes: s.remaining_total,
                        }
                    }),
                    timing_ms: ResponseTimingMs {
                        sent: r.timing.sent.map(json::ms),
                        first_byte: r.timing.first_byte.map(json::ms),
                        last_byte: r.timing.last_byte.map(json::ms),
                    },
                }
            })
            .collect();
        let ex = &run.exchange;
        let total = run
            .responses()
            .iter()
            .filter_map(|r| r.timing.last_byte)
            .max()
            .unwrap_or(ex.timing.total);
        SendRecord {
            url: &run.plan.label,
            ip: ex.ip.map(|ip| ip.to_string()),
            port: ex.port,
            requests,
            responses,
            connection: ConnectionRecord {
                peer_closed: outcome.is_some_and(|o| o.peer_closed),
                tunnel: outcome.is_some_and(|o| o.tunnel),
                sent_bytes: outcome.map_or(0, |o| o.sent_bytes),
                received_bytes: outcome.map_or(0, |o| o.received_bytes),
            },
            timing_ms: ConnectTiming {
                dns: run.timeline.dns.end.map(json::ms),
                connect: run.timeline.connect().end.map(json::ms),
                tls: run.timeline.tls.end.map(json::ms),
                attempts: attempts(&run.timeline),
                total: json::ms(total),
            },
            tls: ex.tls.as_ref().map(|t| TlsRecord::new(t, ex)),
            error: run.error().map(|e| ErrorRecord {
                kind: e.kind(),
                message: e.to_string(),
            }),
        }
    }
}

/// The phases of one run, as durations.
#[derive(Default)]
struct Phases {
    dns: Option<Duration>,
    connect: Option<Duration>,
    tls: Option<Duration>,
    /// Connection ready to the last request byte handed to the socket.
    send: Option<Duration>,
    /// First request sent to the first response byte.
    wait: Option<Duration>,
    /// First response byte to the last.
    receive: Option<Duration>,
    total: Option<Duration>,
}

fn phases(timeline: &Timeline, outcome: &Outcome, ready: Duration) -> Phases {
    let first_sent = outcome.sent.min();
    let last_sent = outcome.sent.max();
    let first_byte = outcome.responses.first().and_then(|r| r.timing.first_byte);
    let last_byte = outcome
        .responses
        .iter()
        .filter_map(|r| r.timing.last_byte)
        .max();
    let complete = !outcome.responses.is_empty()
        && outcome.responses.iter().all(|r| r.complete)
        && outcome.error.is_none();
    Phases {
        dns: timeline.dns.duration(),
        connect: timeline.connect().duration(),
        tls: timeline.tls.duration(),
        send: last_sent.map(|s| s.saturating_sub(ready)),
        wait: first_sent.zip(first_byte).map(|(s, f)| f.saturating_sub(s)),
        receive: first_byte.zip(last_byte).map(|(f, l)| l.saturating_sub(f)),
        total: last_byte.filter(|_| complete),
    }
}

#[derive(Serialize)]
struct StatsMs {
    count: usize,
    min: f64,
    median: f64,
    p95: f64,
    max: f64,
}

fn stats_ms(values: &[Duration]) -> Option<StatsMs> {
    Stats::of(values).map(|s| StatsMs {
        count: s.count,
        min: json::ms(s.min),
        median: json::ms(s.median),
        p95: json::ms(s.p95),
        max: json::ms(s.max),
    })
}

const PHASES: [&str; 7] = ["dns", "connect", "tls", "send", "wait", "receive", "total"];

fn phase_values(all: &[Phases]) -> Vec<(&'static str, Vec<Duration>)> {
    let pick: [fn(&Phases) -> Option<Duration>; 7] = [
        |p| p.dns,
        |p| p.connect,
        |p| p.tls,
        |p| p.send,
        |p| p.wait,
        |p| p.receive,
        |p| p.total,
    ];
    PHASES
        .iter()
        .zip(pick)
        .map(|(name, f)| (*name, all.iter().filter_map(f).collect::<Vec<_>>()))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

#[derive(Serialize)]
struct RepeatLine<'a> {
    repeat: RepeatRecord<'a>,
}

#[derive(Serialize)]
struct RepeatRecord<'a> {
    url: &'a str,
    runs: u32,
    cold: std::collections::BTreeMap<&'static str, StatsMs>,
    reused: std::collections::BTreeMap<&'static str, StatsMs>,
    reused_runs: usize,
    errors: Vec<String>,
}

/// `--repeat N`: per plan, N cold runs (a new connection each) and N runs
/// on one kept-alive connection; statistics per phase.
fn repeat(cfg: &Config, plans: &[Arc<Plan>], n: u32) -> Result<Exit, (Exit, String)> {
    let mut stdout = io::stdout().lock();
    let mut exit = Exit::Ok;
    for plan in plans {
        let mut cold = Vec::new();
        let mut errors = Vec::new();
        for _ in 0..n {
            let run = run_one(Arc::clone(plan), cfg, None, false, false);
            if let Some(e) = run.error() {
                errors.push(format!("cold: {e}"));
                if exit == Exit::Ok {
                    exit = e.exit();
                }
                continue;
            }
            if let (Some(o), Some(ready)) = (&run.outcome, run.ready) {
                cold.push(phases(&run.timeline, o, ready));
            }
        }
        let reused = reused_runs(plan, cfg, n, &mut errors);
        // Runs that sent from a file changed under them measured nothing
        // that can be named (the cold runs' errors are reported as such).
        if let Some(path) = cfg.bench.send.as_ref().filter(|_| plan.input.changed()) {
            return Err(request_file::changed_error(path));
        }
        let cold_stats = phase_values(&cold);
        let reused_stats = phase_values(&reused);
        if cfg.json {
            let record = RepeatLine {
                repeat: RepeatRecord {
                    url: &plan.label,
                    runs: n,
                    cold: cold_stats
                        .iter()
                        .filter_map(|(k, v)| Some((*k, stats_ms(v)?)))
                        .collect(),
                    reused: reused_stats
                        .iter()
                        .filter_map(|(k, v)| Some((*k, stats_ms(v)?)))
                        .collect(),
                    reused_runs: reused.len(),
                    errors,
                },
            };
            write_json(&mut stdout, &record).map_err(output_error)?;
        } else {
            let mut text = format!("{}: {n} runs\n", escape_str_line(&plan.label));
            table(
                &mut text,
                &format!("cold, a new connection each ({} runs)", cold.len()),
                &cold_stats,
            );
            table(
                &mut text,
                &format!("reused, one kept-alive connection ({} runs)", reused.len()),
                &reused_stats,
            );
            for e in &errors {
                text.push_str(&format!("error: {}\n", escape_str_line(e)));
            }
            stdout.write_all(text.as_bytes()).map_err(output_error)?;
        }
    }
    stdout.flush().map_err(output_error)?;
    Ok(exit)
}

fn table(text: &mut String, title: &str, rows: &[(&'static str, Vec<Duration>)]) {
    text.push_str(&format!(
        "  {title}\n    {:<8} {:>10} {:>10} {:>10} {:>10}  (ms)\n",
        "phase", "min", "median", "p95", "max"
    ));
    for (name, values) in rows {
        if let Some(s) = stats_ms(values) {
            text.push_str(&format!(
                "    {name:<8} {:>10.3} {:>10.3} {:>10.3} {:>10.3}\n",
                s.min, s.median, s.p95, s.max
            ));
        }
    }
}

/// N runs of the plan's bytes one after another on one connection.
fn reused_runs(plan: &Arc<Plan>, cfg: &Config, n: u32, errors: &mut Vec<String>) -> Vec<Phases> {
    let mut timeline = Timeline::default();
    let opts = plan.opts.clone();
    let (transport, exchange, _) = client::open(&plan.target, &opts, &mut timeline);
    let Some(mut transport) = transport else {
        if let Some(e) = exchange.error {
            errors.push(format!("reused: {e}"));
        }
        return Vec::new();
    };
    let popts = pipeline::Options {
        sequential: cfg.bench.sequential,
        limits: opts.limits,
        deadline: cfg.max_time.and_then(|t| Instant::now().checked_add(t)),
        linger: Duration::ZERO,
        keep_heads: false,
        keep_records: true,
    };
    let mut out = Vec::new();
    for i in 0..n {
        let start = Instant::now();
        let mut keep = Keep {
            raw: None,
            terminal: false,
            hash: false,
            keep_bodies: false,
            max_body: 0,
            bodies: Vec::new(),
            hashers: Vec::new(),
        };
        let o = pipeline::run(
            &mut transport,
            &plan.input,
            &|| plan.requests(),
            &popts,
            start,
            &mut keep,
        );
        let expected = o.expected;
        let complete = o.responses.iter().filter(|r| r.complete).count();
        if let Some(e) = &o.error {
            errors.push(format!("reused run {}: {e}", i + 1));
            break;
        }
        if complete < expected {
            errors.push(format!(
                "reused run {}: {complete} of {expected} responses (the server closed the connection?)",
                i + 1
            ));
            break;
        }
        let p = phases(&Timeline::default(), &o, Duration::ZERO);
        out.push(Phases {
            dns: None,
            connect: None,
            tls: None,
            ..p
        });
        if o.peer_closed {
            if i + 1 < n {
                errors.push(format!(
                    "reused run {}: the server closed the connection (Connection: close?)",
                    i + 1
                ));
            }
            break;
        }
    }
    out
}
