//! rawget's manual beyond its flags: synopsis, exit statuses, environment,
//! JSON fields and examples. With the clap definition (`cli.rs`) it is the
//! one source of `--help`, the man page and `docs/rawget-flags.md`
//! (`common/docgen.rs` writes them). The exit codes here are the table of
//! `exit.rs`; the fields are those of `json.rs`'s `Record`.

use crate::docgen::{field, row, Manual};

pub const MANUAL: Manual = Manual {
    synopsis: &["rawget [OPTIONS] URL..."],
    description: "rawget sends an HTTP/1.1 request of its own making over a socket of \
its own for each URL, and shows the response exactly as it came back: status line, \
headers and body byte for byte, chunk framing included. With --json it writes one JSON \
object per URL instead (status, headers in order, decoded body, timing). https:// URLs \
speak TLS 1.2 or 1.3.

URL is host, host:port, http://host[:port]/path?query, https://... or an IPv6 literal \
such as http://[::1]:8080/; a missing scheme means http://. Several URLs are fetched in \
parallel (up to 16 at once) and printed in the order given; URLs to one origin run one \
after another on one kept-alive connection, as curl's do. Proxies (-x, http_proxy and \
friends) may be HTTP, HTTPS or SOCKS5. Flags and exit codes follow curl where curl has \
them.",
    exit_status: &[
        row("0", "success", "a complete response was received, whatever its status (404 and 500 included)"),
        row("1", "unsupported protocol", "a scheme other than http:// or https://"),
        row("2", "usage error", "an unknown flag, a bad value, an invalid header or method; one line on stderr, error: WHAT (see --help), and nothing is sent"),
        row("3", "malformed URL", ""),
        row("5", "cannot resolve the proxy", "the proxy's host name does not resolve, or the proxy string is malformed"),
        row("6", "cannot resolve", "the host name does not resolve, or has no address of the -4/-6 family"),
        row("7", "cannot connect", "refused or unreachable, on every address; the same for the proxy; an unsupported proxy scheme; --unix-socket cannot connect"),
        row("8", "malformed response", "not HTTP, a bad status line or header, bad or conflicting Content-Length, a head over 100 KiB or 256 fields, the connection closed inside the head; or, with --strict, any linter warning"),
        row("18", "partial body", "the body ended before the length announced (Content-Length or chunked)"),
        row("22", "HTTP error", "-f or --fail-with-body, and a status of 400 or above"),
        row("23", "write error", "the -o file or the -c cookie jar cannot be created or written, stdout is closed (>&-), the disk is full, the spool cannot spill to TMPDIR, a binary body was refused on a terminal, or --generate cannot write to stdout"),
        row("26", "read error", "-d @FILE or the --send file cannot be read, or the --send file changed while it was being sent"),
        row("28", "timeout", "--connect-timeout or -m, the TLS handshake included"),
        row("33", "range not served", "-C: the server sent the whole body instead of the range asked for"),
        row("35", "TLS handshake failed", "an alert, no common version or cipher, a peer that does not speak TLS, the connection closed during the handshake"),
        row("45", "interface failed", "--interface or --local-port cannot be applied"),
        row("47", "too many redirects", "more than --max-redirs"),
        row("52", "empty reply", "the server closed without sending a byte"),
        row("55", "send failure", ""),
        row("56", "receive failure", "the connection was reset, a bad chunk encoding, or the proxy answered CONNECT with a status other than 2xx"),
        row("60", "certificate not verified", "unknown CA, expired or not yet valid, wrong name"),
        row("61", "bad content encoding", "--compressed: the body does not decode as its Content-Encoding says"),
        row("63", "body too large", "larger than --max-size"),
        row("77", "unusable --cacert file", "it cannot be read or holds no certificate (or --proxy-cacert)"),
        row("90", "targets differ", "--send to several targets (several URLs, or --pin): their answers differ in an aspect compared (see docs/rawget-workbench.md)"),
        row("97", "SOCKS5 proxy failure", "no acceptable method, credentials refused or missing, or the proxy could not connect"),
    ],
    exit_note: "Errors are one line on stderr: error: ... (see --help) for a usage error, \
rawget: URL: what failed for everything else. With several URLs the exit status is that \
of the first URL, in the order given, that failed. A closed stdout (rawget URL | head) \
ends rawget quietly with 0. rawget does not catch SIGINT or SIGTERM: the shell reports \
130 or 143.",
    environment: &[
        ("SSL_CERT_FILE", "a PEM file of CA certificates to trust for https:// instead of the system store (as OpenSSL reads it); --cacert overrides it"),
        ("SSL_CERT_DIR", "a directory of CA certificates to trust for https://, as OpenSSL reads it"),
        ("http_proxy", "the proxy for http:// URLs (lower case only: HTTP_PROXY is ignored, as curl ignores it); -x overrides it"),
        ("https_proxy, HTTPS_PROXY", "the proxy for https:// URLs"),
        ("all_proxy, ALL_PROXY", "the proxy for URLs the two above do not cover"),
        ("no_proxy, NO_PROXY", "hosts reached without a proxy: names (and names below them), addresses, CIDR networks, or * for all; --noproxy replaces it"),
        ("TMPDIR", "where the output of parallel URLs that are not yet their turn spills, past 16 MiB held in memory (one unlinked file)"),
    ],
    environment_note: "Host names are resolved by the system resolver (getaddrinfo), \
which reads /etc/hosts, /etc/resolv.conf and its own variables such as LOCALDOMAIN and \
RES_OPTIONS.",
    fields_note: "With --json, one object per URL on one line, with every field below \
(null when not known, for example after a connect failure). The fields are a contract: \
changes are recorded in CHANGELOG.md. Sub-objects (tls, timing_ms, error, warnings, \
redirects) are described in docs/rawget-output.md. --send, --pipeline and --repeat write \
records of their own (per connection, a comparison, statistics), described in \
docs/rawget-workbench.md.",
    fields: &[
        field("url", "string", "the URL as given"),
        field("ip", "string or null", "the address connected to (or last tried)"),
        field("port", "number or null", "the TCP port connected to"),
        field("version", "string or null", "\"HTTP/1.1\" or \"HTTP/1.0\""),
        field("status", "number or null", "status code of the final response"),
        field("reason", "string or null", "reason phrase (invalid UTF-8 replaced by U+FFFD)"),
        field("reason_base64", "string or null", "the reason phrase's bytes in base64 when they are not UTF-8"),
        field("headers", "array", "[name, value] pairs in received order; [name, value, base64] when the value is not UTF-8"),
        field("body", "string or null", "the decoded body; null when no head arrived"),
        field("body_encoding", "string or null", "\"utf-8\" or \"base64\""),
        field("body_bytes", "number", "decoded body length in bytes"),
        field("trailers", "array", "trailer fields after a chunked body, as headers"),
        field("timing_ms", "object", "dns, connect, tls, first_byte, total: milliseconds since the start, cumulative; attempts: every connect attempt with its address and result"),
        field("error", "object or null", "{kind, message} on failure; null on success"),
        field("warnings", "array", "the linter's warnings, {code, message}"),
        field("tls", "object or null", "version, cipher, certificates, verdict; null for http://"),
        field("redirects", "array", "with -L, the hops before the final response"),
        field("server_timing", "array", "the final response's Server-Timing metrics, {name, dur, desc} (dur in ms, null when absent)"),
        field("conn_id", "number or null", "the connection that served it (curl's conn_id, from 0 in the process); null when none was made"),
        field("num_connects", "number", "new connections made for it: 1, or 0 when a kept-alive one was reused"),
        field("reused", "boolean", "a kept-alive connection was reused"),
        field("proxy", "string or null", "the proxy it went through, scheme://host:port (never its credentials)"),
    ],
    examples_note: "The examples fetch from a web server on this machine, port $PORT, \
for example one started with python3 -m http.server 8000 --bind 127.0.0.1 and PORT=8000.",
    examples: &[
        ("The response as received, every byte", "rawget \"127.0.0.1:$PORT/\""),
        ("Every socket step and the request on stderr, the response discarded", "rawget -v \"127.0.0.1:$PORT/\" > /dev/null"),
        ("Status, timing and the body as JSON", "rawget --json \"127.0.0.1:$PORT/\" | jq '{status, body, ms: .timing_ms.total}'"),
        ("Status code and total time only", "rawget -s -o /dev/null -w '%{http_code} %{time_total}\\n' \"127.0.0.1:$PORT/\""),
        ("POST a JSON body", "rawget -d '{\"a\":1}' -H 'Content-Type: application/json' \"127.0.0.1:$PORT/\""),
        ("Follow redirects, and fail on a status of 400 or above", "rawget -L -f -o /dev/null \"127.0.0.1:$PORT/\""),
        ("Several URLs at once, printed in order", "rawget \"127.0.0.1:$PORT/\" \"127.0.0.1:$PORT/\""),
        ("Keep the cookies of a session in a jar from one run to the next", "rawget -b jar.txt -c jar.txt -L -o /dev/null \"127.0.0.1:$PORT/\""),
        ("Each URL's body to its own file, as curl pairs -o with URLs", "rawget -o a.html -o b.html \"127.0.0.1:$PORT/a\" \"127.0.0.1:$PORT/b\""),
        ("Upload a file as a form field, retrying while the server is busy", "rawget --retry 3 -F 'file=@/etc/hostname' -F 'who=me' -o - \"127.0.0.1:$PORT/upload\""),
    ],
    notes: &[],
    spellings: |_| None,
    see_also: &[
        ("curl(1)", "the client whose flags and exit codes rawget follows"),
        ("portscan(1)", "the port scanner of the same project"),
        ("docs/rawget.md", "the guide: requests, HTTPS, redirects, addressing, output"),
        ("docs/rawget-output.md", "every --json field and -w variable"),
        ("docs/rawget-http.md", "HTTP framing rules and the linter's warning codes"),
        ("docs/rawget-curl.md", "curl's flags in rawget: what -o saves, cookies, the flag table"),
        ("docs/rawget-proxies.md", "proxies, NO_PROXY, connection reuse, socket options"),
        ("docs/rawget-workbench.md", "--send, --pin, --pipeline, --repeat, --waterfall, --har: exact requests, comparing servers, timing"),
    ],
};
