//! `rawget`: one HTTP/1.1 request per URL over a socket of our own, and
//! the response exactly as it came back (or as JSON with `--json`).
//!
//! This file is the edge: it parses arguments, runs the URLs (several in
//! parallel, printed in the order given), and turns every failure into
//! one `rawget: ...` line on stderr and one exit status from [`exit`].

mod cli;
mod exit;
mod json;
mod ordered;
mod raw;
mod trace;
#[path = "../common/usage.rs"]
mod usage;

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use rawnet::http::body::{Body, BodyPart};
use rawnet::http::client::{self, FetchOptions};
use rawnet::http::redirect;
use rawnet::http::request::RequestSpec;
use rawnet::http::target::{Target, TargetError};
use rawnet::sanitize::escape_str;

use crate::cli::{Cli, Config};
use crate::exit::{Classify, Exit};
use crate::json::{ErrorRecord, JsonHandler, Record, RedirectRecord};
use crate::ordered::{output_failed, Ordered, Outcome};
use crate::raw::RawHandler;
use crate::trace::Tracer;

/// Most URLs fetched at once; the rest wait for a free worker.
const MAX_PARALLEL: usize = 16;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Exit::Usage is 2, the status usage::exit_for gives.
        Err(e) => return usage::exit_for(&e),
    };
    let config = Config::from(cli);
    let exit = match run(&config) {
        Ok(exit) => exit,
        Err(fatal) => {
            report(&fatal.message);
            fatal.exit
        }
    };
    ExitCode::from(exit as u8)
}

/// The one place errors reach the user. Messages can quote what was
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
    ready: Result<(Target, Arc<RequestSpec>), TargetError>,
}

fn run(cfg: &Config) -> Result<Exit, Fatal> {
    let body = read_data(&cfg.data)?;
    let jobs = prepare(cfg, body)?;
    let out: Box<dyn Write + Send> = match &cfg.output {
        Some(path) => Box::new(File::create(path).map_err(|e| Fatal {
            exit: Exit::WriteError,
            message: format!("cannot create output file '{}': {e}", path.display()),
        })?),
        None => Box::new(io::stdout()),
    };
    let terminal = cfg.output.is_none() && !cfg.json && io::stdout().is_terminal();
    let ordered = Ordered::new(out, true);
    if let [job] = &jobs[..] {
        let outcome = run_job(job, cfg, &mut ordered.lane(0), terminal, None);
        ordered.finish(0, outcome);
    } else {
        run_parallel(&jobs, cfg, &ordered, terminal)?;
    }
    Ok(ordered.exit())
}

/// Runs several URLs at once on a thread pool (I/O bound, so more threads
/// than cores); [`Ordered`] keeps their output in the order given.
fn run_parallel(
    jobs: &[Job],
    cfg: &Config,
    ordered: &Ordered,
    terminal: bool,
) -> Result<(), Fatal> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.len().min(MAX_PARALLEL))
        .build()
        .map_err(|e| Fatal {
            exit: Exit::RecvError,
            message: format!("cannot start worker threads: {e}"),
        })?;
    pool.scope(|s| {
        for (i, job) in jobs.iter().enumerate() {
            s.spawn(move |_| {
                let outcome = if ordered.cancelled() {
                    output_failed(&io::ErrorKind::BrokenPipe.into())
                } else {
                    run_job(job, cfg, &mut ordered.lane(i), terminal, Some(i))
                };
                ordered.finish(i, outcome);
            });
        }
    });
    Ok(())
}

/// `-d` arguments joined with `&` as curl does; `@FILE` and `@-` (stdin)
/// are taken verbatim, with no newline stripping (curl's `--data-binary`).
/// A file is streamed while it is sent (opened here once, so a missing
/// file stops the run before anything is sent); stdin is read once and
/// shared by every URL.
fn read_data(data: &[String]) -> Result<Option<Body>, Fatal> {
    if data.is_empty() {
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
            Some(path) => {
                if !text.is_empty() {
                    body.push(BodyPart::Bytes(Arc::from(std::mem::take(&mut text))));
                }
                body.push(BodyPart::File(path.into()));
            }
            None => text.extend_from_slice(arg.as_bytes()),
        }
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
    terminal: bool,
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
            return failed(job, e, written);
        }
    };
    if cfg.json {
        let mut handler = JsonHandler::new(tracer());
        let chain = redirect::follow(target, request, &options(cfg), &cfg.redirects, &mut handler);
        let ex = &chain.last.exchange;
        warn_close_notify(job, ex);
        let error = ex.error.as_ref().map(|e| error_record(e, e.to_string()));
        let mut record = Record::new(&job.url, ex, &handler.body, error);
        record.redirects = chain.redirects.iter().map(RedirectRecord::new).collect();
        let written = write_record(out, &record);
        match &ex.error {
            Some(e) => failed(job, e, written),
            None => succeeded(job, written),
        }
    } else {
        let mut handler = RawHandler::new(out, terminal, tracer());
        let chain = redirect::follow(target, request, &options(cfg), &cfg.redirects, &mut handler);
        let ex = &chain.last.exchange;
        let flushed = handler.finish();
        warn_close_notify(job, ex);
        match &ex.error {
            Some(e) => failed(job, e, flushed),
            None => succeeded(job, flushed),
        }
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
        };
    }
    Outcome {
        exit,
        message: Some(format!("{}: {e}", job.url)),
        stop: false,
    }
}
