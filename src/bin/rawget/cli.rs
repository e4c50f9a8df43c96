//! What the user typed: the clap definition, and its translation into a
//! validated [`Config`]. Flag names follow curl wherever curl has one.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use clap::Parser;
use rawnet::conn::proxy::ProxyEnv;
use rawnet::conn::socket::{parse_interface, parse_port_range};
use rawnet::conn::{Pool, ProxyConfig, SocketOptions};
use rawnet::http::client::FetchOptions;
use rawnet::http::redirect::RedirectPolicy;
use rawnet::http::response::Limits;
use rawnet::http::route::{ConnectTo, Resolve, Routes};
use rawnet::http::tls::TlsSetup;
use rawnet::resolve::Family;
use rawnet::sock::Bind;

use crate::cookies::CookieArgs;
use crate::curl_args::{CurlArgs, Resume};
use crate::generate::Generate;
use crate::writeout::WriteOut;

/// What goes where, said first in --help (and in the man page).
const OUTPUT_MODEL: &str = "\
Output: stdout shows the exchange exactly as received (head and body, \
chunk framing and compression as sent). -o FILE, -O and -o - save the BODY \
alone, as curl does (chunk framing removed; with --compressed, decoded); \
-i puts the heads in front of it; -D FILE writes the heads (-D -: stdout). \
--json prints one JSON object per URL.";

/// Send an HTTP/1.1 request over a socket of its own and show
/// exactly what came back.
#[derive(Debug, Parser)]
// The text after the flags (exit statuses, environment, examples) comes
// from manual.rs, added by `command()`.
#[command(name = "rawget", version, args_override_self = true)]
#[command(before_help = OUTPUT_MODEL)]
pub struct Cli {
    // The help text is an attribute, not a doc comment: rustdoc would read
    // its brackets as links.
    #[arg(
        required_unless_present = "generate",
        value_name = "URL",
        help = "URL(s): host, host:port, http://host[:port]/path?query, http://[::1]:8080/"
    )]
    pub urls: Vec<String>,

    /// Print one JSON object per URL (status, headers, decoded body, timing)
    #[arg(long)]
    pub json: bool,

    /// Send HEAD instead of GET (the response has no body)
    #[arg(short = 'I', long)]
    pub head: bool,

    // Aliases are named in the help text, not by clap, so that the man
    // page (clap_mangen 0.2 leaves aliases out) lists them too.
    /// Request method (default GET, or POST with -d); also --method
    #[arg(short = 'X', long = "request", alias = "method", value_name = "METHOD")]
    pub method: Option<String>,

    /// Extra header "Name: value"; "Name:" removes a default, "Name;" sends it empty
    ///
    /// Repeatable. A header of the same name as a default (Host, User-Agent,
    /// Accept) replaces it in place; -H also wins over -A, -e and
    /// -u. CR or LF in a header is a usage error.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,

    /// Request body (all data flags are joined with '&'); @FILE reads a file without its CR/LF, @- stdin
    ///
    /// As curl's -d: carriage returns and newlines of a file are stripped
    /// (--data-binary keeps them). Adds Content-Type:
    /// application/x-www-form-urlencoded (unless -H sets one) and
    /// Content-Length.
    #[arg(short = 'd', long = "data", value_name = "DATA")]
    pub data: Vec<String>,

    /// Use IPv4 addresses only
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    pub ipv4: bool,

    /// Use IPv6 addresses only
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,

    /// Give up connecting after SECS seconds (decimals allowed; 0: no limit)
    ///
    /// Bounds the connection phase, as curl's does: every address together
    /// (the happy-eyeballs race), then the TLS handshake of https://. Exit 28.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, allow_negative_numbers = true)]
    pub connect_timeout: Option<Duration>,

    /// Give up on the whole exchange after SECS seconds (decimals allowed; 0: no limit)
    ///
    /// One deadline for resolution, connect, send and every read (not a limit
    /// per read); with -L, for the whole redirect chain. Exit 28.
    #[arg(
        short = 'm',
        long,
        value_name = "SECS",
        value_parser = parse_secs,
        allow_negative_numbers = true
    )]
    pub max_time: Option<Duration>,

    /// Fail (exit 63) when the body exceeds BYTES (suffixes k, M, G); also --max-filesize
    ///
    /// Suffixes are powers of 1024. An announced Content-Length above BYTES
    /// fails at once. With --json the default is 64M, since the body is held in
    /// memory there. In the raw output the read that crossed the limit (up to
    /// 256 KiB) is still shown.
    #[arg(long = "max-size", alias = "max-filesize", value_name = "BYTES", value_parser = parse_size)]
    pub max_size: Option<u64>,

    /// Show the request and every socket step, with times, on stderr
    #[arg(short = 'v', long)]
    pub verbose: bool,

    /// Save the BODY to FILE, created on the first byte; one -o per URL, in order, as curl ('-': stdout); with --json, the JSON
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Vec<PathBuf>,

    /// Print no error messages (the exit status still tells); -sS prints them
    #[arg(short = 's', long)]
    pub silent: bool,

    /// With -s, print error messages all the same
    #[arg(short = 'S', long)]
    pub show_error: bool,

    /// With -o/-O/-o -: the heads go before the body (the raw view always has them)
    #[arg(short = 'i', long)]
    pub include: bool,

    /// Request body sent verbatim, '@' included (never read from a file); after any -d
    #[arg(long = "data-raw", value_name = "DATA")]
    pub data_raw: Vec<String>,

    /// User-Agent header value (empty: send none)
    #[arg(short = 'A', long = "user-agent", value_name = "NAME")]
    pub user_agent: Option<String>,

    /// Referer header value
    #[arg(short = 'e', long = "referer", value_name = "URL")]
    pub referer: Option<String>,

    /// Basic authentication (overrides user:password@ in the URL)
    ///
    /// Without :PASSWORD it is a usage error: rawget does not prompt.
    #[arg(short = 'u', long = "user", value_name = "USER:PASSWORD")]
    pub user: Option<String>,

    /// Exit 22 on HTTP status 400 or above, without reading or showing its body
    ///
    /// As curl, rawget stops at the head: the body is not read (-w
    /// '%{size_download}' is 0) and the connection is closed. With --json the
    /// record is still written, with error.kind "http_error" and body null.
    #[arg(short = 'f', long, conflicts_with = "fail_with_body")]
    pub fail: bool,

    /// Exit 22 on HTTP status 400 or above, still showing the response
    #[arg(long)]
    pub fail_with_body: bool,

    /// After each URL, print FORMAT with %{variables} filled in (curl's -w syntax; @FILE, @- stdin)
    ///
    /// To stdout, also when -o sends the body to a file. The variables and
    /// escapes are listed in docs/rawget-output.md; an unknown variable is a usage
    /// error.
    #[arg(short = 'w', long = "write-out", value_name = "FORMAT")]
    pub write_out: Option<String>,

    /// Exit 8 when the response bent a rule of HTTP/1.1 (any linter warning; see -v)
    #[arg(long)]
    pub strict: bool,

    /// Print a shell completion script, the man page or the flag reference (Markdown), and exit
    #[arg(long, value_enum, value_name = "KIND")]
    pub generate: Option<Generate>,

    /// https: trust the CA certificates in FILE (PEM) instead of the system store
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// https: do not verify the server's certificate (the verdict is still shown)
    #[arg(short = 'k', long)]
    pub insecure: bool,

    /// Follow redirects (301, 302, 303, 307, 308)
    #[arg(short = 'L', long)]
    pub location: bool,

    /// Follow at most N redirects (default 50; -1: no limit); exit 47 beyond
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = clap::value_parser!(i64).range(-1..=i64::from(u32::MAX)))]
    pub max_redirs: Option<i64>,

    /// Like -L, and send credentials (-H Authorization/Cookie, URL user) to other hosts too
    #[arg(long)]
    pub location_trusted: bool,

    /// Use ADDR(s) for HOST:PORT instead of resolving ([+]HOST:PORT:ADDR[,ADDR...]; HOST may be *)
    // A removal (`-HOST:PORT`) starts with a hyphen, as in curl.
    #[arg(long, value_name = "HOST:PORT:ADDR", allow_hyphen_values = true)]
    pub resolve: Vec<Resolve>,

    /// Connect to HOST2:PORT2 for requests to HOST1:PORT1 (empty fields: any / unchanged)
    #[arg(long, value_name = "HOST1:PORT1:HOST2:PORT2")]
    pub connect_to: Vec<ConnectTo>,

    /// Use this proxy: [http|https|socks5|socks5h://][user:password@]host[:port] ('': none)
    // The help text is curl's notation; its brackets are not doc links.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(short = 'x', long, value_name = "PROXY")]
    pub proxy: Option<String>,

    /// Tunnel plain http:// through an HTTP proxy with CONNECT too (https:// always is)
    #[arg(short = 'p', long)]
    pub proxytunnel: bool,

    /// Credentials for the proxy only, never sent to the origin
    #[arg(short = 'U', long, value_name = "USER:PASSWORD")]
    pub proxy_user: Option<String>,

    /// Hosts that bypass the proxy: comma-separated names, addresses, CIDRs ('*': all); replaces NO_PROXY
    #[arg(long, value_name = "LIST")]
    pub noproxy: Option<String>,

    /// https:// proxy: trust the CA certificates in FILE (PEM) instead of the system store
    #[arg(long, value_name = "FILE")]
    pub proxy_cacert: Option<PathBuf>,

    /// https:// proxy: do not verify the proxy's certificate
    #[arg(long)]
    pub proxy_insecure: bool,

    /// Connect to this Unix socket instead of the host's address (the URL still names the host)
    #[arg(long, value_name = "PATH")]
    pub unix_socket: Option<PathBuf>,

    /// Send from this interface (name, if!NAME) or local address (ADDR, host!ADDR)
    #[arg(long, value_name = "NAME")]
    pub interface: Option<String>,

    /// Bind the local end to port N, or the first free one of N-M
    #[arg(long, value_name = "N[-M]", value_parser = parse_port_range)]
    pub local_port: Option<(u16, u16)>,

    /// Send the requests in FILE ('-': stdin) byte for byte; the URL only says where to connect
    #[arg(long, value_name = "FILE", conflicts_with_all = ["data", "data_raw", "head", "method", "headers", "location", "location_trusted"])]
    pub send: Option<PathBuf>,

    /// With --send or --pipeline: write each request only after the previous response
    #[arg(long)]
    pub sequential: bool,

    /// With --send: after the last expected response, wait SECS for more bytes or a close (default 0.2)
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub linger: Option<Duration>,

    /// With --send: one more target, the first URL connected to ADDR[:PORT]; responses are compared
    // The help text's brackets mark an optional part, not a doc link.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(long, value_name = "ADDR[:PORT]")]
    pub pin: Vec<String>,

    /// Keep-alive pipelining: several URLs of one origin on one connection
    #[arg(long, conflicts_with_all = ["send", "data", "data_raw", "location", "location_trusted"])]
    pub pipeline: bool,

    /// Run the exchange N times cold and N times on one reused connection; min/median/p95 per phase
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub repeat: Option<u32>,

    /// Draw each exchange's phases as a waterfall on stderr
    #[arg(long)]
    pub waterfall: bool,

    /// Write the exchanges as a HAR 1.2 file
    #[arg(long, value_name = "FILE")]
    pub har: Option<PathBuf>,

    #[command(flatten)]
    pub curl: CurlArgs,

    #[command(flatten)]
    pub cookies: CookieArgs,
}

/// `--send`, `--pipeline`, `--repeat`, `--waterfall`, `--har`: the
/// workbench's settings (see `workbench.rs`).
#[derive(Clone, Debug, Default)]
pub struct Bench {
    pub send: Option<PathBuf>,
    pub sequential: bool,
    pub linger: Duration,
    pub pins: Vec<String>,
    pub pipeline: bool,
    pub repeat: Option<u32>,
    pub waterfall: bool,
    pub har: Option<PathBuf>,
}

impl Bench {
    /// True when the run goes through the workbench rather than the
    /// one-exchange-per-URL path.
    pub fn active(&self) -> bool {
        self.send.is_some()
            || self.pipeline
            || self.repeat.is_some()
            || self.waterfall
            || self.har.is_some()
            || !self.pins.is_empty()
    }
}

/// The command line definition with the text of manual.rs after the
/// flags: what `--help`, the man page and the reference show.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let manual = &crate::manual::MANUAL;
    Cli::command()
        .override_usage(manual.synopsis.join("\n       "))
        .after_help(crate::docgen::after_help(manual, false))
        .after_long_help(crate::docgen::after_help(manual, true))
}

/// Parses the command line of this process; the data flags are also
/// kept in the order typed, which clap's fields lose.
pub fn parse() -> Result<Cli, clap::Error> {
    parse_from(std::env::args_os())
}

/// Parses `args` (the program name first), as [`parse`] does.
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::FromArgMatches;
    let matches = command().try_get_matches_from(args)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    cli.curl.data = crate::curl_args::ordered_data(&matches);
    cli.curl.forms = crate::form::ordered(&matches);
    cli.curl.outputs = crate::curl_args::ordered_outputs(&matches);
    Ok(cli)
}

/// What `-f` / `--fail-with-body` ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fail {
    /// Any status is a success (the default).
    Never,
    /// Status 400 and above: exit 22, the response is not shown.
    HideBody,
    /// Status 400 and above: exit 22, the response is shown.
    ShowBody,
}

/// How much decoded body `--json` holds in memory when no `--max-size`
/// is given: the body is part of one JSON value, so it cannot stream.
pub const JSON_DEFAULT_MAX_BODY: u64 = 64 * 1024 * 1024;

/// The validated settings the run works from.
#[derive(Debug)]
pub struct Config {
    pub urls: Vec<String>,
    pub json: bool,
    pub method: String,
    pub headers: Vec<String>,
    /// `-m`: each URL's deadline is this long after it starts.
    pub max_time: Option<Duration>,
    pub fetch: FetchOptions,
    pub verbose: bool,
    pub output: Option<PathBuf>,
    pub fail: Fail,
    pub write_out: Option<WriteOut>,
    pub strict: bool,
    pub redirects: RedirectPolicy,
    pub bench: Bench,
    /// curl's output model and request shaping flags (data arguments in
    /// the order typed, read when the run starts).
    pub curl: CurlArgs,
    /// `-i`: heads before the saved body.
    pub include: bool,
    /// `-C`.
    pub resume: Option<Resume>,
    /// `-s` without `-S`: no error messages.
    pub quiet: bool,
    /// `-c`: where the cookies go when the run ends.
    pub cookie_jar: Option<PathBuf>,
    /// `-F`/`--form-string`: the multipart form, checked, files not read.
    pub form: Option<crate::form::FormPlan>,
    /// `--retry` and its companions.
    pub retry: Option<crate::retry::RetryPolicy>,
}

impl Config {
    /// True when the body is saved (curl's model) rather than the
    /// exchange shown: `-o`, `-O` or `-o -`, without `--json`.
    pub fn saves_body(&self) -> bool {
        !self.json && !self.curl.outputs.is_empty()
    }
}

impl TryFrom<Cli> for Config {
    /// A usage error, one line.
    type Error = String;

    fn try_from(mut cli: Cli) -> Result<Config, String> {
        if cli.json && cli.urls.first().is_some_and(|u| looks_like_json(u)) {
            return Err(format!(
                "'{}' looks like a JSON document, not a URL: rawget's --json formats the output \
                 and takes no value; to send a JSON body use -d '{{...}}' -H \
                 'Content-Type: application/json'",
                cli.urls[0]
            ));
        }
        let write_out = match cli.write_out.as_deref() {
            Some(format) => Some(write_out_format(format)?.parse()?),
            None => None,
        };
        let bench = Bench {
            send: cli.send.take(),
            sequential: cli.sequential,
            linger: cli.linger.unwrap_or(Duration::from_millis(200)),
            pins: std::mem::take(&mut cli.pin),
            pipeline: cli.pipeline,
            repeat: cli.repeat,
            waterfall: cli.waterfall,
            har: cli.har.take(),
        };
        if !bench.pins.is_empty() && bench.send.is_none() {
            return Err("--pin needs --send (it adds a target to compare)".into());
        }
        if bench.active() && (write_out.is_some() || !cli.output.is_empty()) {
            return Err(
                "-w and -o do not apply to --send, --pipeline, --repeat, --waterfall or --har"
                    .into(),
            );
        }
        let mut curl_headers = curl_headers(&cli)?;
        curl_headers.extend(cli.curl.headers()?);
        let form = crate::form::FormPlan::new(&cli.curl.forms)?;
        if let Some(form) = &form {
            if !cli.curl.data.is_empty() || cli.curl.upload_file.is_some() || cli.head {
                return Err(
                    "-F sends a multipart form as the body: it goes with no -d, -T or -I \
                     (curl: one request method only)"
                        .into(),
                );
            }
            curl_headers.push(form.header());
        }
        cli.headers.splice(0..0, curl_headers);
        let resume = cli.curl.resume()?;
        if cli.json && cli.output.len() > 1 {
            return Err("--json writes one stream: give one -o FILE".into());
        }
        let fail = match (cli.fail, cli.fail_with_body) {
            (true, _) => Fail::HideBody,
            (_, true) => Fail::ShowBody,
            _ => Fail::Never,
        };
        let no_data = (cli.curl.data.is_empty() || cli.curl.get) && cli.curl.forms.is_empty();
        if cli.head && !no_data {
            return Err(
                "-I sends HEAD, which has no body: drop -d, or add -G to send the data in \
                 the URL's query"
                    .into(),
            );
        }
        if cli.curl.upload_file.is_some() && (!cli.curl.data.is_empty() || cli.head) {
            return Err("-T uploads a file as the body: it goes with no -d and no -I".into());
        }
        let method = match (&cli.method, cli.head, no_data) {
            (Some(m), _, _) => m.clone(),
            (None, true, _) => "HEAD".to_owned(),
            _ if cli.curl.upload_file.is_some() => "PUT".to_owned(),
            (None, false, false) => "POST".to_owned(),
            (None, false, true) => "GET".to_owned(),
        };
        let proxy_user = cli
            .proxy_user
            .as_deref()
            .map(|u| match u.split_once(':') {
                Some((user, pass)) => Ok((user.to_owned(), pass.to_owned())),
                None => Err(format!(
                    "--proxy-user '{u}' has no password: give USER:PASSWORD (rawget does not prompt)"
                )),
            })
            .transpose()?;
        let (device, local_addr) = match &cli.interface {
            Some(i) => parse_interface(i).map_err(|e| format!("--interface: {e}"))?,
            None => (None, None),
        };
        let family = match (cli.ipv4, cli.ipv6) {
            (true, _) => Family::V4,
            (_, true) => Family::V6,
            _ => Family::Any,
        };
        let max_body = match (cli.max_size, cli.json) {
            (Some(n), _) => Some(n),
            (None, true) => Some(JSON_DEFAULT_MAX_BODY),
            (None, false) => None,
        };
        Ok(Config {
            urls: cli.urls,
            json: cli.json,
            method,
            headers: cli.headers,
            // 0 means no limit, as in curl.
            max_time: cli.max_time.filter(|d| !d.is_zero()),
            fetch: FetchOptions {
                family,
                connect_timeout: cli.connect_timeout.filter(|d| !d.is_zero()),
                deadline: None,
                tls: Arc::new(TlsSetup::new(cli.cacert, cli.insecure)),
                routes: Arc::new(Routes {
                    connect_to: cli.connect_to,
                    resolve: cli.resolve,
                }),
                limits: Limits {
                    max_body,
                    ..Limits::default()
                },
                // curl -f reads no error body; --fail-with-body does.
                fail_at_head: fail == Fail::HideBody,
                proxy: Arc::new(ProxyConfig {
                    explicit: cli.proxy,
                    env: ProxyEnv::from_process(),
                    noproxy: cli.noproxy,
                    tunnel: cli.proxytunnel,
                    credentials: proxy_user,
                }),
                proxy_tls: Arc::new(TlsSetup::new(cli.proxy_cacert, cli.proxy_insecure)),
                socket: Arc::new(SocketOptions {
                    bind: Bind {
                        device,
                        addr: local_addr,
                        ports: cli.local_port,
                    },
                    unix_socket: cli.unix_socket,
                }),
                pool: Arc::new(Pool::new()),
                cookies: cli.cookies.jar()?,
            },
            verbose: cli.verbose,
            output: cli.output.into_iter().next(),
            fail,
            write_out,
            strict: cli.strict,
            redirects: RedirectPolicy {
                follow: cli.location || cli.location_trusted,
                // -1: no limit, as in curl.
                max_redirs: match cli.max_redirs {
                    None => RedirectPolicy::default().max_redirs,
                    Some(n) => u32::try_from(n).ok(),
                },
                trusted: cli.location_trusted,
            },
            bench,
            include: cli.include || cli.head,
            resume,
            quiet: cli.silent && !cli.show_error,
            cookie_jar: cli.cookies.cookie_jar,
            form,
            retry: cli.curl.retry_policy(),
            curl: cli.curl,
        })
    }
}

/// The `-w` format: as typed, or read from a file (`@FILE`, `@-`: stdin)
/// as curl does.
fn write_out_format(arg: &str) -> Result<String, String> {
    use std::io::Read;
    let Some(path) = arg.strip_prefix('@') else {
        return Ok(arg.to_owned());
    };
    let mut text = String::new();
    let read = if path == "-" {
        std::io::stdin().read_to_string(&mut text)
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text))
    };
    read.map_err(|e| format!("cannot read the -w format from '{path}': {e}"))?;
    Ok(text)
}

/// True for a "URL" that is surely a JSON document (curl's `--json` takes
/// one, rawget's does not).
fn looks_like_json(url: &str) -> bool {
    let t = url.trim_start();
    t.starts_with('{') || t.starts_with('[') || t.starts_with('"')
}

/// `-A`, `-e` and `-u` as header arguments; they go before the `-H` ones,
/// so an explicit `-H` of the same name wins, as in curl.
fn curl_headers(cli: &Cli) -> Result<Vec<String>, String> {
    let mut headers = Vec::new();
    if let Some(ua) = &cli.user_agent {
        headers.push(format!("User-Agent: {ua}"));
    }
    if let Some(referer) = &cli.referer {
        headers.push(format!("Referer: {referer}"));
    }
    if let Some(user) = &cli.user {
        if !user.contains(':') {
            return Err(format!(
                "-u '{user}' has no password: give USER:PASSWORD (rawget does not prompt)"
            ));
        }
        let token = base64::engine::general_purpose::STANDARD.encode(user);
        headers.push(format!("Authorization: Basic {token}"));
    }
    Ok(headers)
}

/// Seconds as curl takes them: a non-negative decimal number.
pub(crate) fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if secs < 0.0 {
        return Err(format!(
            "'{s}' is negative: give a number of seconds, 0 or more (0: no limit)"
        ));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("'{s}' is not a valid number of seconds"))
}

/// A byte count with an optional k/M/G suffix (powers of 1024, as curl).
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || format!("'{s}' is not a size in bytes (e.g. 1000, 64k, 10M, 1G)");
    let (digits, shift) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 10),
        Some((i, 'm' | 'M')) => (&s[..i], 20),
        Some((i, 'g' | 'G')) => (&s[..i], 30),
        _ => (s, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    n.checked_mul(1u64 << shift).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Config {
        parse_from(std::iter::once("rawget").chain(args.iter().copied()))
            .unwrap()
            .try_into()
            .unwrap()
    }

    #[test]
    fn method_defaults_follow_curl() {
        assert_eq!(config(&["h"]).method, "GET");
        assert_eq!(config(&["-I", "h"]).method, "HEAD");
        assert_eq!(config(&["-d", "x", "h"]).method, "POST");
        assert_eq!(config(&["-X", "PUT", "-d", "x", "h"]).method, "PUT");
    }

    #[test]
    fn timeouts_and_sizes() {
        let c = config(&[
            "--connect-timeout",
            "1.5",
            "-m",
            "3",
            "--max-size",
            "2k",
            "h",
        ]);
        assert_eq!(c.fetch.connect_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(c.max_time, Some(Duration::from_secs(3)));
        assert_eq!(c.fetch.limits.max_body, Some(2048));
        assert_eq!(
            config(&["--json", "h"]).fetch.limits.max_body,
            Some(JSON_DEFAULT_MAX_BODY)
        );
        assert_eq!(config(&["h"]).fetch.limits.max_body, None);
        let c = config(&["-m", "0", "--connect-timeout", "0", "h"]);
        assert_eq!((c.max_time, c.fetch.connect_timeout), (None, None));
    }

    #[test]
    fn redirect_flags() {
        let c = config(&["h"]);
        assert!(!c.redirects.follow);
        let c = config(&["-L", "--max-redirs", "3", "h"]);
        assert_eq!(
            (c.redirects.follow, c.redirects.max_redirs),
            (true, Some(3))
        );
        assert_eq!(config(&["-L", "h"]).redirects.max_redirs, Some(50));
        assert_eq!(
            config(&["--max-redirs", "-1", "h"]).redirects.max_redirs,
            None
        );
        let c = config(&["--location-trusted", "h"]);
        assert!(c.redirects.follow && c.redirects.trusted);
        assert!(Cli::try_parse_from(["rawget", "--max-redirs", "-2", "h"]).is_err());
    }

    #[test]
    fn resolve_and_connect_to() {
        let c = config(&[
            "--resolve",
            "a.test:443:127.0.0.1",
            "--connect-to",
            "::b.test:",
            "h",
        ]);
        assert_eq!(c.fetch.routes.resolve.len(), 1);
        assert_eq!(c.fetch.routes.route("x", 1).host, "b.test");
        // curl's removal form starts with a hyphen and is still a value.
        let c = config(&[
            "--resolve",
            "a.test:443:127.0.0.1",
            "--resolve",
            "-a.test:443",
            "h",
        ]);
        assert_eq!(c.fetch.routes.resolve.len(), 2);
        assert_eq!(c.fetch.routes.route("a.test", 443).addrs, None);
        for bad in [["--resolve", "a.test:443"], ["--connect-to", "a:1:b"]] {
            let args = ["rawget", bad[0], bad[1], "h"];
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn families() {
        assert_eq!(config(&["-4", "h"]).fetch.family, Family::V4);
        assert_eq!(config(&["-6", "h"]).fetch.family, Family::V6);
        assert!(Cli::try_parse_from(["rawget", "-4", "-6", "h"]).is_err());
    }

    #[test]
    fn usage_errors() {
        for args in [
            &["rawget"][..],
            &["rawget", "-m", "soon", "h"],
            &["rawget", "-m", "-1", "h"],
            &["rawget", "--max-size", "12q", "h"],
            &["rawget", "--bogus", "h"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn curl_habits() {
        let c = config(&[
            "-s",
            "-S",
            "-i",
            "-A",
            "ua/1",
            "-e",
            "http://r/",
            "-u",
            "a:b",
            "h",
        ]);
        assert_eq!(
            c.headers,
            vec![
                "User-Agent: ua/1",
                "Referer: http://r/",
                "Authorization: Basic YTpi"
            ]
        );
        assert_eq!(config(&["--data-raw", "@x", "h"]).method, "POST");
        let c = config(&[
            "--data-binary",
            "@f",
            "-d",
            "x",
            "--data-urlencode",
            "a b",
            "h",
        ]);
        let kinds: Vec<_> = c.curl.data.iter().map(|d| d.kind).collect();
        use crate::curl_args::DataKind;
        assert_eq!(
            kinds,
            [DataKind::Binary, DataKind::Data, DataKind::UrlEncode]
        );
        assert_eq!(config(&["-G", "-d", "x", "h"]).method, "GET");
        assert_eq!(config(&["-T", "f", "h"]).method, "PUT");
        assert_eq!(config(&["-T", "f", "-X", "POST", "h"]).method, "POST");
        assert_eq!(config(&["-G", "-I", "-d", "x", "h"]).method, "HEAD");
        assert_eq!(config(&["-f", "h"]).fail, Fail::HideBody);
        assert_eq!(config(&["--fail-with-body", "h"]).fail, Fail::ShowBody);
        let cli = |args: &[&str]| {
            parse_from(std::iter::once("rawget").chain(args.iter().copied())).unwrap()
        };
        for args in [
            &["--json", "{\"a\":1}", "h"][..],
            &["-u", "nopass", "h"],
            &["-w", "%{nope}", "h"],
            &["-I", "-d", "x", "h"],
            &["-T", "f", "-d", "x", "h"],
            &["-r", "a-b", "h"],
        ] {
            assert!(Config::try_from(cli(args)).is_err(), "{args:?}");
        }
    }

    #[test]
    fn repeated_headers_and_urls() {
        let c = config(&["-H", "A: 1", "-H", "B: 2", "a", "b"]);
        assert_eq!(c.headers, vec!["A: 1", "B: 2"]);
        assert_eq!(c.urls, vec!["a", "b"]);
    }
}
