//! `rawget`: one HTTP/1.1 request per URL over a socket of our own, and
//! the response exactly as it came back (or as JSON with `--json`).
//!
//! This file is the edge: it parses arguments, runs the URLs (several in
//! parallel, printed in the order given), and turns every failure into
//! one `rawget: ...` line on stderr and one exit status from [`exit`].

mod cli;
mod cookies;
mod curl_args;
mod data;
#[path = "../common/docgen.rs"]
mod docgen;
mod exit;
mod form;
#[path = "../common/generate.rs"]
mod generate;
mod har;
mod json;
mod lazy_file;
mod manual;
mod ordered;
mod pace;
mod raw;
mod request_file;
mod retry;
mod save;
mod spool;
mod stdout;
mod trace;
#[path = "../common/usage.rs"]
mod usage;
mod waterfall;
mod workbench;
mod writeout;

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rawnet::conn::{Key, Origin, Plan};
use rawnet::http::body::Body;
use rawnet::http::client::{self, Exchange, FetchOptions, Handler, Timing};
use rawnet::http::redirect;
use rawnet::http::request::{RequestSpec, Version};
use rawnet::http::target::{Scheme, Target, UrlError};
use rawnet::http::timeline::Timeline;
use rawnet::sanitize::escape_str;

use crate::cli::{Config, Fail};
use crate::exit::{Classify, Exit};
use crate::json::{ErrorRecord, JsonHandler, Record, RedirectRecord};
use crate::lazy_file::LazyFile;
use crate::ordered::{output_failed, Ordered, Outcome};
use crate::raw::{RawHandler, RawMode};
use crate::save::{DumpHeads, SaveFailure, SaveHandler, SaveOptions};
use crate::trace::Tracer;
use crate::writeout::{Context, Observed, Values};

/// Most URLs fetched at once; the rest wait for a free worker.
const MAX_PARALLEL: usize = 16;

/// `-s` without `-S`: error messages are not printed.
static QUIET: AtomicBool = AtomicBool::new(false);

fn main() -> ExitCode {
    stdout::guard();
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(e) => return clap_error(&e),
    };
    if let Some(kind) = cli.generate {
        return generate::exit_with(kind, cli::command(), &manual::MANUAL);
    }
    let config = match Config::try_from(cli) {
        Ok(config) => {
            QUIET.store(config.quiet, Ordering::Relaxed);
            config
        }
        Err(message) => {
            return usage_error(message);
        }
    };
    let outcome = if config.bench.active() && !hop_waterfall(&config) {
        workbench::run(&config)
            .map_err(|(exit, message)| Fatal { exit, message })
            .and_then(|exit| save_cookies(&config, exit))
    } else {
        run(&config)
    };
    let exit = match outcome {
        Ok(exit) => exit,
        // A bad method or header is found once the request is built: a
        // usage error, in the one form usage errors take.
        Err(fatal) if fatal.exit == Exit::Usage => return usage_error(fatal.message),
        Err(fatal) => {
            report(&fatal.message);
            fatal.exit
        }
    };
    ExitCode::from(exit as u8)
}

/// A usage error found after clap, in clap's form: one `error: ... (see
/// --help)` line and exit 2.
fn usage_error(message: String) -> ExitCode {
    let e = cli::command().error(clap::error::ErrorKind::ValueValidation, message);
    usage::exit_for(&e)
}

/// A command line clap refused. A curl flag rawget does not have gets
/// one line saying so and what to use instead; anything else clap's
/// message on one line (Exit::Usage is 2, the status usage::exit_for
/// gives).
fn clap_error(e: &clap::Error) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() == ErrorKind::UnknownArgument {
        if let Some(ContextValue::String(flag)) = e.get(ContextKind::InvalidArg) {
            if let Some(advice) = curl_args::unsupported(flag) {
                let _ = writeln!(io::stderr(), "rawget: {}", escape_str(&advice));
                return ExitCode::from(Exit::Usage as u8);
            }
        }
    }
    usage::exit_for(e)
}

/// The one place errors reach the user (unless `-s`). Messages can quote
/// what was typed or what a server sent, so they are escaped for the
/// terminal.
pub(crate) fn report(message: &str) {
    if QUIET.load(Ordering::Relaxed) {
        return;
    }
    let _ = writeln!(io::stderr().lock(), "rawget: {}", escape_str(message));
}

/// A failure that stops the whole run before any URL is fetched.
struct Fatal {
    exit: Exit,
    message: String,
}

/// One URL, checked and ready to send (or why it cannot be).
struct Job {
    url: String,
    ready: Result<(Target, Arc<RequestSpec>), UrlError>,
    /// Where its body goes, when the run saves bodies.
    dest: Dest,
    /// `-C`: the offset its range starts at (0: no range asked).
    resume_from: u64,
}

/// Where one URL's body goes in curl's output model: the `-o` or `-O`
/// paired with it, in order, as curl pairs them.
#[derive(Clone, Debug)]
enum Dest {
    /// Stdout: `-o -`, or no `-o`/`-O` left for this URL.
    Stdout,
    File(PathBuf),
    /// `-O` on a URL whose path has no file name.
    NoName,
}

/// What every URL of a run shares besides the ordered output.
struct Shared {
    mode: RawMode,
    /// `-D`: where the heads go.
    dump: Option<Mutex<Box<dyn Write + Send>>>,
}

fn run(cfg: &Config) -> Result<Exit, Fatal> {
    let read_error = |message| Fatal {
        exit: Exit::ReadError,
        message,
    };
    let (body, query) = if let Some(file) = &cfg.curl.upload_file {
        (Some(data::upload(file).map_err(read_error)?), None)
    } else if let Some(form) = &cfg.form {
        (Some(form.form().map_err(read_error)?.body()), None)
    } else if cfg.curl.get {
        let query = data::bytes(&cfg.curl.data).map_err(read_error)?;
        (None, Some(String::from_utf8_lossy(&query).into_owned()))
    } else {
        (data::body(&cfg.curl.data, true).map_err(read_error)?, None)
    };
    let jobs = prepare(cfg, body, query.as_deref())?;
    // --json writes one stream: to stdout, or to the file of -o, created
    // on the first byte written (as curl does). Saved bodies go to their
    // own files (see `Dest`), or to stdout.
    let json_file = cfg
        .output
        .as_ref()
        .filter(|p| cfg.json && p.as_os_str() != "-");
    let terminal = !cfg.json && io::stdout().is_terminal();
    let out: Box<dyn Write + Send> = match json_file {
        Some(path) => Box::new(LazyFile::new(path.clone())),
        // A body on a terminal (`-o -`, or a URL without its own -o) is
        // escaped (the raw view escapes through its own handler).
        None if terminal && cfg.saves_body() => {
            Box::new(raw::EscapingWriter::new(stdout::stdout()))
        }
        None => stdout::stdout(),
    };
    // `-o -` is stdout chosen on purpose: a binary body is shown there.
    let mode = RawMode {
        terminal,
        refuse_binary: terminal && !cfg.saves_body(),
        hide_errors: cfg.fail == Fail::HideBody,
    };
    let dump = cfg.curl.dump_header.as_ref().map(|path| {
        let w: Box<dyn Write + Send> = if path.as_os_str() == "-" {
            stdout::stdout()
        } else {
            Box::new(LazyFile::new(path.clone()))
        };
        Mutex::new(w)
    });
    let shared = Shared { mode, dump };
    let ordered = Ordered::new(out, true).with_separate_stdout(json_file.is_some());
    if let [job] = &jobs[..] {
        let outcome = run_job(job, cfg, &mut ordered.lane(0), &shared, None);
        ordered.finish(0, outcome);
    } else {
        run_parallel(&jobs, cfg, &ordered, &shared)?;
    }
    let exit = ordered.exit();
    save_cookies(cfg, exit)
}

/// `-c FILE`: the jar is written when the run ends, whatever its outcome,
/// as curl writes it. A jar that cannot be written fails a run that went
/// well with curl's write error (curl only says so with -v).
fn save_cookies(cfg: &Config, exit: Exit) -> Result<Exit, Fatal> {
    let (Some(path), Some(jar)) = (&cfg.cookie_jar, &cfg.fetch.cookies) else {
        return Ok(exit);
    };
    match cookies::save(jar, path) {
        Ok(()) => Ok(exit),
        Err(e) if exit == Exit::Ok => Err(Fatal {
            exit: Exit::WriteError,
            message: format!("cannot write the cookie jar '{}': {e}", path.display()),
        }),
        Err(e) => {
            report(&format!(
                "cannot write the cookie jar '{}': {e}",
                path.display()
            ));
            Ok(exit)
        }
    }
}

/// Where URL number `i` saves its body: the `-o`/`-O` paired with it.
fn dest(cfg: &Config, i: usize, target: Option<&Target>) -> Dest {
    if !cfg.saves_body() {
        return Dest::Stdout;
    }
    match cfg.curl.outputs.get(i) {
        Some(curl_args::Output::File(path)) => Dest::File(path.clone()),
        Some(curl_args::Output::RemoteName) => target
            .and_then(|t| curl_args::remote_name(&t.path_and_query))
            .map_or(Dest::NoName, |name| Dest::File(name.into())),
        Some(curl_args::Output::Stdout) | None => Dest::Stdout,
    }
}

/// `-C`: where URL `dest` resumes from (`-C -`: the size of its file;
/// 0 for stdout or a file not there yet).
fn resume_from(cfg: &Config, dest: &Dest) -> u64 {
    match (cfg.resume, dest) {
        (None, _) => 0,
        (Some(curl_args::Resume::At(n)), _) => n,
        (Some(curl_args::Resume::FromFile), Dest::File(path)) => {
            std::fs::metadata(path).map_or(0, |m| m.len())
        }
        (Some(curl_args::Resume::FromFile), _) => 0,
    }
}

/// Runs several URLs at once on a thread pool (I/O bound, so more threads
/// than cores); [`Ordered`] keeps their output in the order given. URLs to
/// one origin run one after another on one worker, so they share one
/// kept-alive connection as curl's do; origins run in parallel.
fn run_parallel(
    jobs: &[Job],
    cfg: &Config,
    ordered: &Ordered,
    shared: &Shared,
) -> Result<(), Fatal> {
    let groups = by_origin(jobs, cfg);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(groups.len().min(MAX_PARALLEL))
        .build()
        .map_err(|e| Fatal {
            exit: Exit::RecvError,
            message: format!("cannot start worker threads: {e}"),
        })?;
    pool.scope(|s| {
        for (key, group) in &groups {
            s.spawn(move |_| {
                for &i in group {
                    let outcome = if ordered.cancelled() {
                        output_failed(&io::ErrorKind::BrokenPipe.into())
                    } else {
                        run_job(&jobs[i], cfg, &mut ordered.lane(i), shared, Some(i))
                    };
                    ordered.finish(i, outcome);
                }
                // No later URL of the run shares this connection: close it
                // now, as curl closes its connections when it is done.
                if let Some(key) = key {
                    cfg.fetch.pool.close(key);
                }
            });
        }
    });
    Ok(())
}

/// The jobs' indexes grouped by the connection they can share (the
/// origin, or the forwarding proxy that serves every `http://` origin:
/// the pool's key), each group in the order given, groups in the order of
/// their first URL; a URL that did not parse is a group of its own.
fn by_origin(jobs: &[Job], cfg: &Config) -> Vec<(Option<Key>, Vec<usize>)> {
    let mut groups: Vec<(Option<Key>, Vec<usize>)> = Vec::new();
    let mut index: std::collections::HashMap<Key, usize> = std::collections::HashMap::new();
    for (i, job) in jobs.iter().enumerate() {
        match &job.ready {
            Ok((t, _)) => {
                let proxy = cfg.fetch.proxy.choose(t.scheme.as_str(), &t.host);
                let origin = Origin {
                    tls: t.scheme == Scheme::Https,
                    host: t.host.clone(),
                    port: t.port,
                };
                let plan = Plan::new(origin, proxy.ok().flatten(), cfg.fetch.proxy.tunnel);
                let key = plan.key();
                match index.get(&key) {
                    Some(&g) => groups[g].1.push(i),
                    None => {
                        index.insert(key.clone(), groups.len());
                        groups.push((Some(key), vec![i]));
                    }
                }
            }
            Err(_) => groups.push((None, vec![i])),
        }
    }
    groups
}

/// Parses every URL and builds its request; a bad method or header is a
/// usage error for the whole run, found before anything is sent.
/// With `-G`, `query` is added to every URL's query; with `-C`, each URL
/// asks for the range from where it resumes.
fn prepare(cfg: &Config, body: Option<Body>, query: Option<&str>) -> Result<Vec<Job>, Fatal> {
    let request = |resume_from: u64| {
        let mut headers = cfg.headers.clone();
        if resume_from > 0 {
            headers.insert(0, format!("Range: bytes={resume_from}-"));
        }
        let mut spec =
            RequestSpec::new(&cfg.method, &headers, body.clone()).map_err(|e| Fatal {
                exit: Exit::Usage,
                message: e.to_string(),
            })?;
        if cfg.curl.http1_0 {
            spec.version = Version::Http10;
        }
        Ok(Arc::new(spec))
    };
    let whole = request(0)?;
    let mut jobs = Vec::with_capacity(cfg.urls.len());
    for (i, url) in cfg.urls.iter().enumerate() {
        let url = match query.filter(|q| !q.is_empty()) {
            None => url.clone(),
            Some(q) => with_query(url, q),
        };
        let url = match &cfg.curl.upload_file {
            Some(file) => curl_args::upload_url(&url, file),
            None => url,
        };
        let target = url.parse::<Target>();
        let dest = dest(cfg, i, target.as_ref().ok());
        let resume_from = resume_from(cfg, &dest);
        let request = match resume_from {
            0 => Arc::clone(&whole),
            n => request(n)?,
        };
        jobs.push(Job {
            ready: target.map(|t| (t, request)),
            url,
            dest,
            resume_from,
        });
    }
    Ok(jobs)
}

/// `-G`: the data goes after the URL's query (or starts one), before any
/// fragment, as curl adds it.
fn with_query(url: &str, query: &str) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let sep = if base.contains('?') { '&' } else { '?' };
    let mut out = format!("{base}{sep}{query}");
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// The fetch options of one URL: `-m` counts from when it starts.
fn options(cfg: &Config) -> FetchOptions {
    FetchOptions {
        deadline: cfg.max_time.and_then(|t| Instant::now().checked_add(t)),
        ..cfg.fetch.clone()
    }
}

/// `-L --waterfall` and no other workbench flag: the ordinary exchange,
/// one waterfall per redirect hop (the workbench follows no redirects).
fn hop_waterfall(cfg: &Config) -> bool {
    let b = &cfg.bench;
    b.waterfall
        && cfg.redirects.follow
        && b.send.is_none()
        && !b.pipeline
        && b.repeat.is_none()
        && b.har.is_none()
        && b.pins.is_empty()
}

/// Passes everything on and records each hop's steps (a new timeline at
/// each redirect), for `-L --waterfall`.
struct HopSteps<'a> {
    inner: &'a mut dyn Handler,
    hops: Vec<Timeline>,
}

impl Handler for HopSteps<'_> {
    fn trace(&mut self, at: Duration, step: &client::Step<'_>) {
        if let Some(t) = self.hops.last_mut() {
            t.trace(at, step);
        }
        self.inner.trace(at, step);
    }
    fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.inner.raw(bytes)
    }
    fn body(&mut self, data: &[u8]) {
        self.inner.body(data);
    }
    fn head(&mut self, head: &rawnet::http::response::Head) {
        self.inner.head(head);
    }
    fn next_hop(&mut self) {
        self.hops.push(Timeline::default());
        self.inner.next_hop();
    }
}

/// Follows `target` with `handler`, paced by `--limit-rate` and copying
/// every head to `-D` when asked; a failure to write the heads comes back
/// beside the chain. With `-L --waterfall`, each hop is drawn on stderr
/// afterwards.
fn follow(
    target: &Target,
    request: &RequestSpec,
    cfg: &Config,
    shared: &Shared,
    handler: &mut dyn Handler,
) -> (redirect::Chain, Option<io::Error>) {
    let mut paced;
    let handler: &mut dyn Handler = match cfg.curl.limit_rate {
        Some(rate) => {
            paced = pace::Paced::new(handler, rate);
            &mut paced
        }
        None => handler,
    };
    if !hop_waterfall(cfg) {
        return follow_hops(target, request, cfg, shared, handler);
    }
    let mut steps = HopSteps {
        inner: handler,
        hops: vec![Timeline::default()],
    };
    let (chain, failure) = follow_hops(target, request, cfg, shared, &mut steps);
    let exchanges = chain.redirects.iter().chain(std::iter::once(&chain.last));
    let mut text = Vec::new();
    for (t, hop) in steps.hops.iter_mut().zip(exchanges) {
        let ex = &hop.exchange;
        t.close(ex.timing.total);
        let status = ex.head.as_ref().map(|h| h.status);
        // Into memory: writing to a Vec cannot fail.
        let _ = waterfall::draw_hop(
            &mut text,
            hop.target.url.as_str(),
            t,
            status,
            ex.timing.total,
        );
    }
    let _ = io::stderr().lock().write_all(&text);
    (chain, failure)
}

/// [`follow`] without the waterfall.
fn follow_hops(
    target: &Target,
    request: &RequestSpec,
    cfg: &Config,
    shared: &Shared,
    handler: &mut dyn Handler,
) -> (redirect::Chain, Option<io::Error>) {
    let opts = options(cfg);
    let Some(dump) = &shared.dump else {
        return (
            redirect::follow(target, request, &opts, &cfg.redirects, handler),
            None,
        );
    };
    let mut w = Locked(dump);
    let to_stdout = cfg
        .curl
        .dump_header
        .as_ref()
        .is_some_and(|p| p.as_os_str() == "-");
    let mut dumping = DumpHeads::new(handler, &mut w, to_stdout);
    let chain = redirect::follow(target, request, &opts, &cfg.redirects, &mut dumping);
    let failure = dumping.failure.take();
    (chain, failure)
}

/// A writer shared by the URLs of a run (`-D`), locked per write.
struct Locked<'a>(&'a Mutex<Box<dyn Write + Send>>);

impl Write for Locked<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut w = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        w.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut w = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        w.flush()
    }
}

/// What `-w` says about the request side of URL `job`.
fn context<'a>(cfg: &'a Config, job: &Job, index: Option<usize>) -> Context<'a> {
    Context {
        method: &cfg.method,
        referer: referer(cfg),
        filename: cfg.saves_body().then(|| match &job.dest {
            Dest::File(path) => path.display().to_string(),
            Dest::Stdout | Dest::NoName => "-".into(),
        }),
        urlnum: index.unwrap_or(0),
        time_redirect: Duration::ZERO,
        redirect_url: None,
    }
}

/// Fetches one URL and writes its output to `out`, trying again while
/// `--retry` says the failure is transient.
fn run_job(
    job: &Job,
    cfg: &Config,
    out: &mut dyn Write,
    shared: &Shared,
    index: Option<usize>,
) -> Outcome {
    let mut retries = cfg.retry.map(retry::Retries::new);
    loop {
        if let Some(outcome) = attempt(job, cfg, out, shared, index, &mut retries) {
            return outcome;
        }
    }
}

/// Asks `--retry` about an attempt that ended with `exit`; when it says
/// to try again, says so on stderr (curl's warning), waits, and returns
/// true.
fn retrying(
    job: &Job,
    retries: &mut Option<retry::Retries>,
    exit: Exit,
    ex: Option<&Exchange>,
) -> bool {
    let Some(decision) = retries.as_mut().and_then(|r| r.after(exit, ex)) else {
        return false;
    };
    report(&format!("warning: {}: {decision}", job.url));
    std::thread::sleep(decision.wait);
    true
}

/// One attempt at one URL; `None` when it is to be tried again.
fn attempt(
    job: &Job,
    cfg: &Config,
    out: &mut dyn Write,
    shared: &Shared,
    index: Option<usize>,
    retries: &mut Option<retry::Retries>,
) -> Option<Outcome> {
    let tracer = || cfg.verbose.then(|| Tracer::new(index));
    let (target, request) = match &job.ready {
        Ok(ready) => ready,
        Err(e) => {
            let written = if cfg.json {
                write_record(
                    out,
                    &Record::failed(&job.url, error_record(e, e.to_string())),
                )
            } else {
                Ok(())
            };
            let outcome = failed(job, e, written);
            let ctx = context(cfg, job, index);
            return Some(with_write_out(
                cfg,
                job,
                None,
                Observed::default(),
                ctx,
                outcome,
            ));
        }
    };
    let mut save_failure = None;
    // A file this attempt wrote to, and its size before: cut back to it
    // before a retry, as curl does.
    let mut rewind = None;
    let (chain, observed, written, dump_failure) = if cfg.json {
        let mut handler = JsonHandler::new(tracer());
        let (chain, dump_failure) = follow(target, request, cfg, shared, &mut handler);
        let ex = &chain.last.exchange;
        warn_close_notify(job, ex);
        let error = match &ex.error {
            Some(e) => Some(error_record(e, e.to_string())),
            None => status_failure(cfg, ex).map(|message| ErrorRecord {
                kind: json::HTTP_ERROR,
                message,
            }),
        };
        let exit = match (&ex.error, &error) {
            (Some(e), _) => e.exit(),
            (None, Some(_)) => Exit::HttpError,
            (None, None) => Exit::Ok,
        };
        // A record per URL: an attempt that is retried writes none.
        if retrying(job, retries, exit, Some(ex)) {
            return None;
        }
        let hide_body = error.as_ref().is_some_and(|e| e.kind == json::HTTP_ERROR)
            && cfg.fail == Fail::HideBody;
        let written = {
            let mut record = Record::new(&job.url, ex, &handler.body, error);
            if hide_body {
                // As curl -f shows no body (none was read).
                record.body = None;
                record.body_encoding = None;
            }
            record.redirects = chain.redirects.iter().map(RedirectRecord::new).collect();
            json::add_attempts(&mut handler.hops, &chain, &mut record);
            write_record(out, &record)
        };
        (chain, handler.observed, written, dump_failure)
    } else if cfg.saves_body() {
        let opts = SaveOptions {
            include: cfg.include,
            compressed: cfg.curl.compressed,
            follow: cfg.redirects.follow,
            fail: cfg.fail == Fail::HideBody,
            resuming: job.resume_from > 0,
        };
        let mut file = match &job.dest {
            Dest::Stdout => None,
            // Created on the first byte written (as curl does): `-f` on a
            // 404 leaves no empty file.
            Dest::File(path) if cfg.resume.is_some() => Some(LazyFile::appending(path.clone())),
            Dest::File(path) => Some(LazyFile::new(path.clone())),
            Dest::NoName => {
                let outcome = Outcome {
                    exit: Exit::WriteError,
                    message: Some(format!(
                        "{}: -O: the URL has no file name to save to (use -o FILE)",
                        job.url
                    )),
                    stop: false,
                    write_out: None,
                };
                let ctx = context(cfg, job, index);
                return Some(with_write_out(
                    cfg,
                    job,
                    None,
                    Observed::default(),
                    ctx,
                    outcome,
                ));
            }
        };
        if let Dest::File(path) = &job.dest {
            // Only a regular file can be cut back (not /dev/null).
            let meta = std::fs::metadata(path);
            if meta.as_ref().map_or(true, |m| m.is_file()) {
                rewind = Some((path.clone(), meta.map_or(0, |m| m.len())));
            }
        }
        let sink: &mut dyn Write = match &mut file {
            Some(f) => f,
            None => out,
        };
        let mut handler = SaveHandler::new(sink, opts, tracer());
        let (chain, dump_failure) = follow(target, request, cfg, shared, &mut handler);
        handler.finish();
        warn_close_notify(job, &chain.last.exchange);
        save_failure = handler.failure.take();
        let observed = handler.observed;
        drop(handler);
        if !file.as_ref().is_some_and(LazyFile::opened) {
            rewind = None;
        }
        (chain, observed, Ok(()), dump_failure)
    } else {
        let mut handler = RawHandler::new(out, shared.mode, tracer());
        let (chain, dump_failure) = follow(target, request, cfg, shared, &mut handler);
        let flushed = handler.finish();
        warn_close_notify(job, &chain.last.exchange);
        (chain, handler.observed, flushed, dump_failure)
    };
    let ex = &chain.last.exchange;
    let outcome = match (&save_failure, &dump_failure, &ex.error) {
        (Some(f), _, _) => saving_failed(job, f),
        (None, Some(e), _) => write_failed(job, e),
        (None, None, Some(e)) => failed(job, e, written),
        (None, None, None) => succeeded(job, written),
    };
    if let Some(t) = tracer() {
        ex.warnings.iter().for_each(|w| t.warning(*w));
    }
    let outcome = fail_on_status(cfg, job, ex, outcome);
    let outcome = strict(cfg, job, ex, outcome);
    let outcome = range_ignored(cfg, job, ex, outcome);
    if !cfg.json && !outcome.stop && retrying(job, retries, outcome.exit, Some(ex)) {
        if let Some((path, len)) = rewind {
            // What this attempt saved is thrown away.
            let cut = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(len));
            if let Err(e) = cut {
                return Some(write_failed(job, &e));
            }
        }
        return None;
    }
    let hops = chain.redirects.len();
    let mut ctx = context(cfg, job, index);
    ctx.time_redirect = chain
        .redirects
        .iter()
        .map(|h| h.exchange.timing.total)
        .sum();
    ctx.redirect_url = redirect_url(cfg, &chain.last);
    let mut last = chain.last;
    add_earlier_hops(&mut last.exchange, &chain.redirects);
    Some(with_write_out(
        cfg,
        job,
        Some((&last.target, hops, &last.exchange)),
        observed,
        ctx,
        outcome,
    ))
}

/// `-C` in the raw view and with `--json`: a whole body (a 2xx other
/// than 206) where a range was asked for is curl's exit 33. (Saving the
/// body finds it itself, and saves nothing.)
fn range_ignored(cfg: &Config, job: &Job, ex: &Exchange, outcome: Outcome) -> Outcome {
    let status = ex.head.as_ref().map_or(0, |h| h.status);
    if job.resume_from == 0
        || cfg.saves_body()
        || outcome.exit != Exit::Ok
        || outcome.stop
        || !(200..300).contains(&status)
        || status == 206
    {
        return outcome;
    }
    Outcome {
        exit: Exit::RangeError,
        message: Some(format!("{}: {}", job.url, SaveFailure::RangeIgnored)),
        ..outcome
    }
}

/// The outcome when saving the body failed: curl's 61 for a body that
/// does not decode, 33 for a range not served, 23 for the output.
fn saving_failed(job: &Job, failure: &SaveFailure) -> Outcome {
    let exit = match failure {
        SaveFailure::Decode(_) => Exit::BadContentEncoding,
        SaveFailure::RangeIgnored => Exit::RangeError,
        SaveFailure::Output(e) => return write_failed(job, e),
    };
    Outcome {
        exit,
        message: Some(format!("{}: {failure}", job.url)),
        stop: false,
        write_out: None,
    }
}

/// The `Referer` the request carries (`-e`, or `-H`), for `-w`.
fn referer(cfg: &Config) -> Option<&str> {
    cfg.headers.iter().rev().find_map(|h| {
        let (name, value) = h.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("referer")
            .then(|| value.trim())
            .filter(|v| !v.is_empty())
    })
}

/// Where a redirect that was not followed points (curl's
/// `redirect_url`): the final response's `Location`, made absolute.
fn redirect_url(cfg: &Config, last: &redirect::Hop) -> Option<String> {
    if cfg.redirects.follow {
        return None;
    }
    let head = last.exchange.head.as_ref()?;
    if !(300..400).contains(&head.status) {
        return None;
    }
    let (_, location) = head
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("location"))?;
    let next = last.target.join(location.trim()).ok()?;
    Some(next.url.to_string())
}

/// curl's `-w` view of a redirect chain: every time counts from the start
/// of the first hop (each of the final hop's times plus the time the
/// redirects took, curl's `time_redirect`), and `size_header` counts
/// every hop's head.
fn add_earlier_hops(last: &mut Exchange, earlier: &[redirect::Hop]) {
    let before: Duration = earlier.iter().map(|h| h.exchange.timing.total).sum();
    let shift = |t: Option<Duration>| t.map(|t| t + before);
    let timing = Timing {
        dns: shift(last.timing.dns),
        connect: shift(last.timing.connect),
        tls: shift(last.timing.tls),
        first_byte: shift(last.timing.first_byte),
        total: last.timing.total + before,
    };
    let header_bytes =
        earlier.iter().map(|h| h.exchange.header_bytes).sum::<u64>() + last.header_bytes;
    last.connection.new_connects += earlier
        .iter()
        .map(|h| h.exchange.connection.new_connects)
        .sum::<u32>();
    last.timing = timing;
    last.header_bytes = header_bytes;
}

/// `-f` / `--fail-with-body`: a complete response with status 400 or
/// above is exit 22, as in curl.
fn fail_on_status(cfg: &Config, job: &Job, ex: &Exchange, outcome: Outcome) -> Outcome {
    if outcome.exit != Exit::Ok || outcome.stop {
        return outcome;
    }
    match status_failure(cfg, ex) {
        None => outcome,
        Some(message) => Outcome {
            exit: Exit::HttpError,
            message: Some(format!("{}: {message}", job.url)),
            ..outcome
        },
    }
}

/// Why `-f` / `--fail-with-body` fail an exchange that went well: its
/// final status is 400 or above.
fn status_failure(cfg: &Config, ex: &Exchange) -> Option<String> {
    let status = ex.head.as_ref().map_or(0, |h| h.status);
    if cfg.fail == Fail::Never || ex.error.is_some() || status < 400 {
        return None;
    }
    let flag = match cfg.fail {
        Fail::ShowBody => "--fail-with-body",
        _ => "--fail",
    };
    Some(format!("the server returned HTTP status {status} ({flag})"))
}

/// `--strict`: a response that drew any linter warning is exit 8.
fn strict(cfg: &Config, job: &Job, ex: &Exchange, outcome: Outcome) -> Outcome {
    if !cfg.strict || ex.warnings.is_empty() || outcome.exit != Exit::Ok || outcome.stop {
        return outcome;
    }
    let codes: Vec<&str> = ex.warnings.iter().map(|w| w.code()).collect();
    Outcome {
        exit: Exit::MalformedResponse,
        message: Some(format!(
            "{}: --strict: the response bent HTTP/1.1: {}",
            job.url,
            codes.join(", ")
        )),
        ..outcome
    }
}

/// Adds the `-w` text, rendered from the URL's final state.
/// `last`: the URL last fetched, how many redirects led there, and its
/// exchange (`None` when the URL did not parse, or nothing was fetched).
fn with_write_out(
    cfg: &Config,
    job: &Job,
    last: Option<(&Target, usize, &Exchange)>,
    observed: Observed,
    context: Context<'_>,
    outcome: Outcome,
) -> Outcome {
    let Some(format) = &cfg.write_out else {
        return outcome;
    };
    let error = outcome.message.as_ref().map(|m| {
        m.strip_prefix(&format!("{}: ", job.url))
            .unwrap_or(m)
            .to_owned()
    });
    let values = Values {
        url: &job.url,
        target: last.map(|(t, _, _)| t),
        redirects: last.map_or(0, |(_, n, _)| n),
        exchange: last.map(|(_, _, e)| e),
        observed,
        exit: outcome.exit as u8,
        error,
        context,
    };
    Outcome {
        write_out: Some(format.render(&values)),
        ..outcome
    }
}

/// A close-delimited body over TLS without close_notify may be cut short:
/// say so, though the exchange counts as complete (curl accepts it too).
fn warn_close_notify(job: &Job, ex: &client::Exchange) {
    if ex.close_notify_missing() {
        report(&format!("warning: {}: {}", job.url, json::NO_CLOSE_NOTIFY));
    }
}

fn error_record(e: &dyn Classify, message: String) -> ErrorRecord {
    ErrorRecord {
        kind: e.kind(),
        message,
    }
}

fn write_record(out: &mut dyn Write, record: &Record<'_>) -> io::Result<()> {
    let mut buffered = BufWriter::with_capacity(64 * 1024, out);
    json::write_line(&mut buffered, record)?;
    buffered.flush()
}

fn succeeded(job: &Job, written: io::Result<()>) -> Outcome {
    match written {
        Ok(()) => Outcome {
            exit: Exit::Ok,
            message: None,
            stop: false,
            write_out: None,
        },
        Err(e) => write_failed(job, &e),
    }
}

/// [`output_failed`], with the URL named in the message.
fn write_failed(job: &Job, e: &io::Error) -> Outcome {
    let mut outcome = output_failed(e);
    outcome.message = outcome.message.map(|m| format!("{}: {m}", job.url));
    outcome
}

fn failed<E: Classify + std::fmt::Display>(job: &Job, e: &E, written: io::Result<()>) -> Outcome {
    if let Err(w) = written {
        return write_failed(job, &w);
    }
    let exit = e.exit();
    if exit == Exit::Ok {
        // A broken pipe: the reader went away, which is not an error.
        return Outcome {
            exit,
            message: None,
            stop: true,
            write_out: None,
        };
    }
    Outcome {
        exit,
        message: Some(format!("{}: {e}", job.url)),
        stop: false,
        write_out: None,
    }
}
