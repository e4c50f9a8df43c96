//! `rawget`: one HTTP/1.1 request per URL over a socket of our own, and
//! the response exactly as it came back (or as JSON with `--json`).
//!
//! This file is the edge: it parses arguments, runs the URLs (several in
//! parallel, printed in the order given), and turns every failure into
//! one `rawget: ...` line on stderr and one exit status from [`exit`].

mod cli;
#[path = "../common/docgen.rs"]
mod docgen;
mod exit;
#[path = "../common/generate.rs"]
mod generate;
mod json;
mod lazy_file;
mod manual;
mod ordered;
mod raw;
mod spool;
mod trace;
#[path = "../common/usage.rs"]
mod usage;
mod writeout;

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rawnet::conn::{Origin, Plan};
use rawnet::http::body::{Body, BodyPart};
use rawnet::http::client::{self, Exchange, FetchOptions, Timing};
use rawnet::http::redirect;
use rawnet::http::request::RequestSpec;
use rawnet::http::target::{Scheme, Target, UrlError};
use rawnet::sanitize::escape_str;

use crate::cli::{Config, Fail};
use crate::exit::{Classify, Exit};
use crate::json::{ErrorRecord, JsonHandler, Record, RedirectRecord};
use crate::lazy_file::LazyFile;
use crate::ordered::{output_failed, Ordered, Outcome};
use crate::raw::{RawHandler, RawMode};
use crate::trace::Tracer;
use crate::writeout::{Observed, Values};

/// Most URLs fetched at once; the rest wait for a free worker.
const MAX_PARALLEL: usize = 16;

fn main() -> ExitCode {
    let cli = match cli::parse() {
        Ok(cli) => cli,
        // Exit::Usage is 2, the status usage::exit_for gives.
        Err(e) => return usage::exit_for(&e),
    };
    if let Some(kind) = cli.generate {
        return generate::exit_with(kind, cli::command(), &manual::MANUAL);
    }
    let config = match Config::try_from(cli) {
        Ok(config) => config,
        Err(message) => {
            return usage_error(message);
        }
    };
    let exit = match run(&config) {
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

/// The one place runtime errors reach the user. Messages can quote what was
/// typed or what a server sent, so they are escaped for the terminal.
pub(crate) fn report(message: &str) {
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
}

fn run(cfg: &Config) -> Result<Exit, Fatal> {
    let body = read_data(&cfg.data, &cfg.data_raw)?;
    let jobs = prepare(cfg, body)?;
    // `-o -` is stdout, chosen on purpose: a binary body is shown there.
    let to_file = cfg.output.as_ref().filter(|p| p.as_os_str() != "-");
    // Created on the first byte written (as curl does): `-f` on a 404
    // leaves no empty file. With several URLs, the first one that writes
    // anything creates it.
    let out: Box<dyn Write + Send> = match to_file {
        Some(path) => Box::new(LazyFile::new(path.clone())),
        None => Box::new(io::stdout()),
    };
    let terminal = to_file.is_none() && !cfg.json && io::stdout().is_terminal();
    let mode = RawMode {
        terminal,
        refuse_binary: terminal && cfg.output.is_none(),
        hide_errors: cfg.fail == Fail::HideBody,
    };
    let ordered = Ordered::new(out, true).with_separate_stdout(to_file.is_some());
    if let [job] = &jobs[..] {
        let outcome = run_job(job, cfg, &mut ordered.lane(0), mode, None);
        ordered.finish(0, outcome);
    } else {
        run_parallel(&jobs, cfg, &ordered, mode)?;
    }
    Ok(ordered.exit())
}

/// Runs several URLs at once on a thread pool (I/O bound, so more threads
/// than cores); [`Ordered`] keeps their output in the order given. URLs to
/// one origin run one after another on one worker, so they share one
/// kept-alive connection as curl's do; origins run in parallel.
fn run_parallel(jobs: &[Job], cfg: &Config, ordered: &Ordered, mode: RawMode) -> Result<(), Fatal> {
    let groups = by_origin(jobs, cfg);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(groups.len().min(MAX_PARALLEL))
        .build()
        .map_err(|e| Fatal {
            exit: Exit::RecvError,
            message: format!("cannot start worker threads: {e}"),
        })?;
    pool.scope(|s| {
        for group in &groups {
            s.spawn(move |_| {
                for &i in group {
                    let outcome = if ordered.cancelled() {
                        output_failed(&io::ErrorKind::BrokenPipe.into())
                    } else {
                        run_job(&jobs[i], cfg, &mut ordered.lane(i), mode, Some(i))
                    };
                    ordered.finish(i, outcome);
                }
            });
        }
    });
    Ok(())
}

/// The jobs' indexes grouped by the connection they can share (the
/// origin, or the forwarding proxy that serves every `http://` origin),
/// each group in the order given, groups in the order of their first URL;
/// a URL that did not parse is a group of its own.
fn by_origin(jobs: &[Job], cfg: &Config) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
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
                let key = format!("{:?}", plan.key());
                match index.get(&key) {
                    Some(&g) => groups[g].push(i),
                    None => {
                        index.insert(key, groups.len());
                        groups.push(vec![i]);
                    }
                }
            }
            Err(_) => groups.push(vec![i]),
        }
    }
    groups
}

/// `-d` arguments joined with `&` as curl does; `@FILE` and `@-` (stdin)
/// are taken verbatim, with no newline stripping (curl's `--data-binary`).
/// `--data-raw` arguments follow, taken as they are. A file is streamed
/// while it is sent (opened here once, so a missing file stops the run
/// before anything is sent); stdin is read once and shared by every URL.
fn read_data(data: &[String], data_raw: &[String]) -> Result<Option<Body>, Fatal> {
    if data.is_empty() && data_raw.is_empty() {
        return Ok(None);
    }
    let mut body = Body::new();
    let mut text = Vec::new();
    for (i, arg) in data.iter().enumerate() {
        if i > 0 {
            text.push(b'&');
        }
        let read_error = |e: io::Error| Fatal {
            exit: Exit::ReadError,
            message: format!("cannot read data from '{arg}': {e}"),
        };
        match arg.strip_prefix('@') {
            Some("-") => io::stdin()
                .read_to_end(&mut text)
                .map(drop)
                .map_err(read_error)?,
            // A pipe or a /proc file has no length to announce and can
            // be read only once: read it now, like stdin.
            Some(path) if !is_regular_file(path).map_err(read_error)? => {
                File::open(path)
                    .and_then(|mut f| f.read_to_end(&mut text))
                    .map_err(read_error)?;
            }
            Some(path) => {
                if !text.is_empty() {
                    body.push(BodyPart::Bytes(Arc::from(std::mem::take(&mut text))));
                }
                body.push(BodyPart::File(path.into()));
            }
            None => text.extend_from_slice(arg.as_bytes()),
        }
    }
    for (i, arg) in data_raw.iter().enumerate() {
        if i > 0 || !data.is_empty() {
            text.push(b'&');
        }
        text.extend_from_slice(arg.as_bytes());
    }
    if !text.is_empty() {
        body.push(BodyPart::Bytes(Arc::from(text)));
    }
    body.open().map_err(|e| Fatal {
        exit: Exit::ReadError,
        message: e.to_string(),
    })?;
    Ok(Some(body))
}

/// True for a regular file with a size (streamed, the size announced up
/// front); false for a FIFO, a device or a `/proc` file (which says it
/// is empty), read once instead.
fn is_regular_file(path: &str) -> io::Result<bool> {
    std::fs::metadata(path).map(|m| m.is_file() && m.len() > 0)
}

/// Parses every URL and builds its request; a bad method or header is a
/// usage error for the whole run, found before anything is sent.
fn prepare(cfg: &Config, body: Option<Body>) -> Result<Vec<Job>, Fatal> {
    let request = Arc::new(
        RequestSpec::new(&cfg.method, &cfg.headers, body).map_err(|e| Fatal {
            exit: Exit::Usage,
            message: e.to_string(),
        })?,
    );
    Ok(cfg
        .urls
        .iter()
        .map(|url| Job {
            url: url.clone(),
            ready: url
                .parse::<Target>()
                .map(|target| (target, Arc::clone(&request))),
        })
        .collect())
}

/// The fetch options of one URL: `-m` counts from when it starts.
fn options(cfg: &Config) -> FetchOptions {
    FetchOptions {
        deadline: cfg.max_time.and_then(|t| Instant::now().checked_add(t)),
        ..cfg.fetch.clone()
    }
}

/// Fetches one URL and writes its output to `out`.
fn run_job(
    job: &Job,
    cfg: &Config,
    out: &mut dyn Write,
    mode: RawMode,
    index: Option<usize>,
) -> Outcome {
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
            return with_write_out(cfg, job, None, 0, None, Observed::default(), outcome);
        }
    };
    let (chain, observed, written) = if cfg.json {
        let mut handler = JsonHandler::new(tracer());
        let chain = redirect::follow(target, request, &options(cfg), &cfg.redirects, &mut handler);
        let ex = &chain.last.exchange;
        warn_close_notify(job, ex);
        let error = match &ex.error {
            Some(e) => Some(error_record(e, e.to_string())),
            None => status_failure(cfg, ex).map(|message| ErrorRecord {
                kind: json::HTTP_ERROR,
                message,
            }),
        };
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
            write_record(out, &record)
        };
        (chain, handler.observed, written)
    } else {
        let mut handler = RawHandler::new(out, mode, tracer());
        let chain = redirect::follow(target, request, &options(cfg), &cfg.redirects, &mut handler);
        let flushed = handler.finish();
        warn_close_notify(job, &chain.last.exchange);
        (chain, handler.observed, flushed)
    };
    let ex = &chain.last.exchange;
    let outcome = match &ex.error {
        Some(e) => failed(job, e, written),
        None => succeeded(job, written),
    };
    if let Some(t) = tracer() {
        ex.warnings.iter().for_each(|w| t.warning(*w));
    }
    let outcome = fail_on_status(cfg, job, ex, outcome);
    let outcome = strict(cfg, job, ex, outcome);
    let hops = chain.redirects.len();
    let mut last = chain.last;
    add_earlier_hops(&mut last.exchange, &chain.redirects);
    with_write_out(
        cfg,
        job,
        Some(&last.target),
        hops,
        Some(&last.exchange),
        observed,
        outcome,
    )
}

/// curl's `-w` view of a redirect chain: each time is the sum of that
/// phase's time over the hops (so `time_total` and `time_starttransfer`
/// include the redirects), and `size_header` counts every hop's head.
fn add_earlier_hops(last: &mut Exchange, earlier: &[redirect::Hop]) {
    let hops = || earlier.iter().map(|h| &h.exchange).chain([&*last]);
    let sum = |phase: fn(&Timing) -> Option<Duration>| {
        hops().filter_map(|e| phase(&e.timing)).reduce(|a, b| a + b)
    };
    let timing = Timing {
        dns: sum(|t| t.dns),
        connect: sum(|t| t.connect),
        tls: sum(|t| t.tls),
        first_byte: sum(|t| t.first_byte),
        total: hops().map(|e| e.timing.total).sum(),
    };
    let header_bytes = hops().map(|e| e.header_bytes).sum();
    last.connection.new_connects = hops().map(|e| e.connection.new_connects).sum();
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
fn with_write_out(
    cfg: &Config,
    job: &Job,
    target: Option<&Target>,
    redirects: usize,
    exchange: Option<&Exchange>,
    observed: Observed,
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
        target,
        redirects,
        exchange,
        observed,
        exit: outcome.exit as u8,
        error,
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
