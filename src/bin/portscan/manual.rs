//! portscan's manual beyond its flags: synopsis (with nmap's spellings),
//! exit statuses, environment, JSON fields and examples. With the clap
//! definition (`cli.rs`) it is the one source of `--help`, the man page
//! and `docs/portscan-flags.md` (`common/docgen.rs` writes them). The exit
//! statuses are those of `error.rs` and `main`; the fields are those of
//! `output/json.rs`.

use crate::cli::NMAP_FLAGS;
use crate::docgen::{field, row, Manual};

/// nmap's single-dash spelling of a long flag (`udp` -> `-sU`).
fn nmap_spelling(long: &str) -> Option<&'static str> {
    NMAP_FLAGS
        .iter()
        .find(|(_, ours)| ours.strip_prefix("--") == Some(long))
        .map(|(nmap, _)| *nmap)
}

pub const MANUAL: Manual = Manual {
    synopsis: &[
        "portscan [OPTIONS] TARGET [PORTS]",
        "portscan [OPTIONS] -iL FILE [PORTS]",
        "portscan -sU [-sT] [-sV] [OPTIONS] TARGET [PORTS]",
        "portscan [-oX FILE] [-oG FILE] [-oN FILE] [-oA BASE] [OPTIONS] TARGET [PORTS]",
        "portscan --merge FILE... [OUTPUT OPTIONS]",
    ],
    description: "portscan probes TCP ports with ordinary connect() calls (as nmap -sT \
does) and UDP ports with ordinary datagrams (-sU), so it needs no raw sockets and no \
root. Each port is reported open, closed, filtered or (UDP) open|filtered, with the \
reason in nmap's words. -sV identifies the service on open TCP ports by what it says.

TARGET is an address, a CIDR block, an nmap octet range (10.0.0.1-20, 10.0.0.1-3,7), a \
host name, or a comma-separated list of them. PORTS is nmap's -p syntax: N, A-B, \
service names, '-' or 'all'; T: and U: prefixes pick the protocol. The default is nmap's \
top 1000 TCP ports (with -sU, its top 1000 UDP ports).

Results are JSON Lines when stdout is not a terminal and an aligned table when it is; \
nmap's XML, grepable and normal formats are written with -oX, -oG, -oN and -oA. Only \
open ports are reported unless --all is given.",
    exit_status: &[
        row("0", "scan done", "the scan ran to the end, whatever it found; also --help, --version, and a reader of stdout that went away (portscan ... | head)"),
        row("1", "runtime error", "the -iL file cannot be read, no target resolved, the output cannot be written (a full disk, or a closed stdout: portscan ... >&-), or the scan could not start; one line on stderr, error: WHAT"),
        row("2", "usage error", "an unknown flag or bad value, a bad port spec, target or shard, a scan of 2^32 probes or more without --shard or --allow-large-scan; one line on stderr, error: WHAT (see --help), and nothing on stdout"),
        row("3", "incomplete merge", "--merge wrote a report, but shards are missing or inputs belong to another scan or could not be read; each is named on stderr"),
        row("130", "interrupted by SIGINT", "what was found is written, and the summary says interrupted"),
        row("143", "interrupted by SIGTERM", "likewise"),
    ],
    exit_note: "",
    environment: &[
        ("JOB_COMPLETION_INDEX", "--shard env/N: the shard index of a Kubernetes Indexed Job (0-based)"),
        ("SLURM_ARRAY_TASK_ID", "--shard env/N: the shard index of a Slurm array job, counted from SLURM_ARRAY_TASK_MIN (0 when unset)"),
        ("PARALLEL_SEQ", "--shard env/N: GNU parallel's job number (1-based)"),
        ("AWS_BATCH_JOB_ARRAY_INDEX", "--shard env/N: the index of an AWS Batch array job (0-based)"),
    ],
    environment_note: "Only --shard env/N reads the environment (docs/portscan-jobs.md says which variable wins when several are set). Host names \
are resolved by the system resolver (getaddrinfo), which reads /etc/hosts, \
/etc/resolv.conf and its own variables such as LOCALDOMAIN and RES_OPTIONS.",
    fields_note: "In JSON Lines, one object per reported port, with exactly these \
fields in this order. The fields are a contract: changes are recorded in CHANGELOG.md. \
More, and how they map to naabu's and masscan's: docs/portscan-output.md.",
    fields: &[
        field("target", "string", "the target as typed: name, address or block"),
        field("ip", "string", "the address probed"),
        field("port", "number", "the port probed"),
        field("proto", "string", "\"tcp\" or \"udp\""),
        field("state", "string", "\"open\", \"closed\", \"filtered\" or \"open|filtered\""),
        field("reason", "string", "why, in nmap's words: syn-ack, conn-refused, reset (-sS closed), udp-response, port-unreach, no-response, host-unreach, net-unreach, admin-prohibited, unknown"),
        field("rtt_ms", "number", "round-trip time in milliseconds"),
        field("service", "string or null", "with -sV the detected service, else the port's usual name"),
        field("service_source", "string or null", "\"probe\" (detected) or \"table\" (from the port number)"),
        field("product", "string or null", "-sV: the software found"),
        field("version", "string or null", "-sV: its version"),
        field("service_info", "string or null", "-sV: more the reply said (TLS version, certificate CN, ...)"),
        field("banner", "string or null", "with --banner, what the port sent first"),
        field("after_handshake", "string or null", "open TCP (connect scan): what the port did right after the handshake: greeted, silent, closed, reset"),
        field("host_accepts_all", "bool or null", "open TCP (connect scan): true when the host accepts every port, so the open says nothing about a service"),
        field("timestamp", "string", "when the state was decided, RFC 3339 UTC"),
        field("scan_id", "string", "the scan's fingerprint (16 hex digits): targets, ports, exclusions, technique, seed; equal in every shard of one scan"),
        field("shard", "string", "the shard this record comes from, \"I/N\" (\"0/1\" for an unsplit scan)"),
        field("technique", "string", "how the port was probed: \"connect\" (-sT), \"syn\" (-sS) or \"udp\" (-sU)"),
    ],
    examples_note: "These scan this machine's loopback only; PORT is the port of a \
server on it (for example python3 -m http.server 8000 --bind 127.0.0.1 and PORT=8000).",
    examples: &[
        ("nmap's top 1000 TCP ports of this machine", "portscan 127.0.0.1"),
        ("Some ports, by number and range, of every address of a name", "portscan localhost 22,80,443,8000-8100"),
        ("Every port's state as JSON, one line each", "portscan -a 127.0.0.1 \"$PORT\" --json | jq -c '{port, state, reason}'"),
        ("What the open port speaks", "portscan -sV 127.0.0.1 \"$PORT\""),
        ("UDP and TCP at once, with nmap's protocol prefixes", "portscan -sU -sT -p U:53,123,T:22,\"$PORT\" 127.0.0.1"),
        ("nmap's XML and grepable formats besides JSON Lines", "portscan -F 127.0.0.1 -oX scan.xml -oG scan.gnmap > scan.jsonl"),
        ("One of four shards of a scan, to a file", "portscan 127.0.0.0/29 1-1024 --shard 1/4 -o shard-1.jsonl"),
    ],
    notes: &[
        "JSON Lines when stdout is not a terminal, a table when it is.",
        "nmap's spellings work too: -sT, -sU, -sV, -Pn, -iL, -oX/-oG/-oN/-oA FILE, -T0..-T5, \
-F, --top-ports, --open, -n.",
        "Default ports: nmap's top 1000 TCP ports, as nmap -sT (with -sU: its top 1000 UDP \
ports, as nmap -sU).",
    ],
    spellings: nmap_spelling,
    see_also: &[
        ("nmap(1)", "the scanner whose spellings and formats portscan follows"),
        ("rawget(1)", "the HTTP client of the same project"),
        ("docs/portscan.md", "the guide: targets, ports, states, nmap habits"),
        ("docs/portscan-output.md", "output formats and every JSON field"),
        ("docs/portscan-udp.md, docs/portscan-service.md", "UDP scans and service detection"),
        ("docs/portscan-timing.md, docs/portscan-shards.md", "timing, host discovery, sharding"),
    ],
};
