//! The signature table: which reply means which service, and where the
//! product and version are in it.
//!
//! Text protocols are matched by a byte regex with the named groups
//! `product`, `version` and `info`; binary protocols whose fields are
//! length-prefixed (TLS, MySQL, MongoDB, DNS, RDP, HTTP's header block) by
//! a small parser. Entries are tried in table order and the first match
//! wins, so specific entries (a named product) come before the generic
//! entry of the same service. Each entry is tested against a reply written
//! from its protocol's specification (the `tests` submodule has one per
//! entry and checks that none is missing).

use std::sync::LazyLock;

use regex::bytes::Regex;

use super::probes::{ProbeId, MONGO_REQUEST_ID};
use super::{Details, TlsDetails};
use crate::udp_payloads::replies;

/// Which probes' replies a signature applies to.
#[derive(Debug, Clone, Copy)]
pub enum Probes {
    /// Any probe's reply: the service says it whatever it was sent
    /// (greetings, HTTP responses).
    Any,
    /// Only replies to these probes.
    Only(&'static [ProbeId]),
}

/// How a reply is recognised.
#[derive(Debug, Clone, Copy)]
pub enum Matcher {
    /// A `regex::bytes` pattern, anchored by the pattern itself; named
    /// groups `product`, `version`, `info` fill the details.
    Pattern(&'static str),
    /// A parser for binary replies.
    Parser(fn(&[u8]) -> Option<Details>),
}

/// One entry of the table.
#[derive(Debug, Clone, Copy)]
pub struct Signature {
    /// The service name reported (nmap-services names).
    pub name: &'static str,
    /// Replies to which probes it is tried on.
    pub probes: Probes,
    /// How it matches.
    pub matcher: Matcher,
    /// The product when the match itself names none.
    pub product: Option<&'static str>,
}

const fn pattern(name: &'static str, probes: Probes, re: &'static str) -> Signature {
    Signature {
        name,
        probes,
        matcher: Matcher::Pattern(re),
        product: None,
    }
}

const fn named(
    name: &'static str,
    product: &'static str,
    probes: Probes,
    re: &'static str,
) -> Signature {
    Signature {
        name,
        probes,
        matcher: Matcher::Pattern(re),
        product: Some(product),
    }
}

const fn parser(
    name: &'static str,
    probes: Probes,
    parse: fn(&[u8]) -> Option<Details>,
) -> Signature {
    Signature {
        name,
        probes,
        matcher: Matcher::Parser(parse),
        product: None,
    }
}

use Probes::{Any, Only};

/// The table. `(?-u)` makes `.` and classes match bytes, not UTF-8.
pub static SIGNATURES: &[Signature] = &[
    // SSH: "SSH-protoversion-softwareversion SP comments" (RFC 4253 §4.2).
    pattern(
        "ssh",
        Any,
        r"(?-u)^SSH-[0-9.]+-(?P<product>[A-Za-z][A-Za-z0-9]*)[_-](?P<version>[0-9][!-~]*)(?: (?P<info>[^\r\n]*))?\r?\n",
    ),
    pattern("ssh", Any, r"(?-u)^SSH-[0-9.]+-(?P<product>[!-~]+)"),
    parser("http", Any, http_response),
    parser("ssl", Only(&[ProbeId::Tls]), tls_flight),
    // MySQL / MariaDB initial handshake or an error packet.
    parser("mysql", Any, mysql_greeting),
    // FTP (RFC 959 §4.2: "220 Service ready").
    named(
        "ftp",
        "vsftpd",
        Any,
        r"(?-u)^220 \(vsFTPd (?P<version>[0-9][0-9.]*)\)\r?\n",
    ),
    named(
        "ftp",
        "ProFTPD",
        Any,
        r"(?-u)^220[ -]ProFTPD(?: (?P<version>[0-9][0-9.a-z]*))? Server(?: \((?P<info>[^)\r\n]*)\))?",
    ),
    pattern("ftp", Any, r"(?-u)^220[ -][^\r\n]*(?i:ftp)[^\r\n]*\r?\n"),
    // SMTP (RFC 5321 §4.2: "220 domain ESMTP text").
    named(
        "smtp",
        "Postfix",
        Any,
        r"(?-u)^220[ -][^ \r\n]+ ESMTP Postfix(?: \((?P<info>[^)\r\n]*)\))?",
    ),
    named(
        "smtp",
        "Exim",
        Any,
        r"(?-u)^220[ -][^ \r\n]+ ESMTP Exim (?P<version>[0-9][0-9.]*)",
    ),
    pattern(
        "smtp",
        Any,
        r"(?-u)^220[ -][^\r\n]*(?i:smtp|mail)[^\r\n]*\r?\n",
    ),
    // POP3 (RFC 1939 §4: "+OK" greeting) and IMAP (RFC 9051 §7.1: "* OK").
    named(
        "pop3",
        "Dovecot",
        Any,
        r"(?-u)^\+OK (?:\[[^\]\r\n]*\] )?Dovecot(?: \((?P<info>[^)\r\n]*)\))? ready",
    ),
    pattern("pop3", Any, r"(?-u)^\+OK[^\r\n]*\r?\n"),
    named(
        "imap",
        "Dovecot",
        Any,
        r"(?-u)^\* OK (?:\[[^\]\r\n]*\] )?Dovecot(?: \((?P<info>[^)\r\n]*)\))? ready",
    ),
    pattern("imap", Any, r"(?-u)^\* (?:OK|PREAUTH)[^\r\n]*\r?\n"),
    // Redis: the INFO bulk string, or an error that only Redis words so.
    named(
        "redis",
        "Redis",
        Only(&[ProbeId::Redis]),
        r"(?-u)^\$[0-9]+\r\n(?s:.*?)\bredis_version:(?P<version>[0-9][0-9.]*)",
    ),
    named(
        "redis",
        "Redis",
        Only(&[ProbeId::Redis]),
        r"(?-u)^-(?:NOAUTH|DENIED Redis|WRONGPASS|ERR unknown command)[^\r\n]*\r?\n",
    ),
    named(
        "postgresql",
        "PostgreSQL",
        Only(&[ProbeId::Postgres]),
        r"(?-u)^(?:[SN]\z|E\x00\x00[\x00-\x03].S(?:FATAL|ERROR)\x00)",
    ),
    named(
        "memcached",
        "memcached",
        Only(&[ProbeId::Memcached]),
        r"(?-u)^VERSION (?P<version>[0-9][!-~]*)\r\n",
    ),
    parser("mongodb", Only(&[ProbeId::Mongo]), mongo_reply),
    parser("domain", Only(&[ProbeId::DnsTcp]), dns_tcp_reply),
    parser("ms-wbt-server", Only(&[ProbeId::Rdp]), rdp_confirm),
];

/// The compiled patterns, index for index with [`SIGNATURES`] (`None`
/// for parsers; a pattern that does not compile never matches, and a unit
/// test makes sure every one compiles).
static COMPILED: LazyLock<Vec<Option<Regex>>> = LazyLock::new(|| {
    SIGNATURES
        .iter()
        .map(|s| match s.matcher {
            Matcher::Pattern(p) => Regex::new(p).ok(),
            Matcher::Parser(_) => None,
        })
        .collect()
});

/// The first signature that matches `reply` to `probe`, and the details
/// it extracted.
pub(super) fn first_match(probe: ProbeId, reply: &[u8]) -> Option<(&'static Signature, Details)> {
    SIGNATURES.iter().enumerate().find_map(|(i, sig)| {
        let applies = match sig.probes {
            Any => true,
            Only(ids) => ids.contains(&probe),
        };
        if !applies {
            return None;
        }
        let mut details = match sig.matcher {
            Matcher::Pattern(_) => captures(COMPILED[i].as_ref()?, reply)?,
            Matcher::Parser(parse) => parse(reply)?,
        };
        if details.product.is_none() {
            details.product = sig.product.map(str::to_owned);
        }
        Some((sig, details))
    })
}

fn captures(re: &Regex, reply: &[u8]) -> Option<Details> {
    let caps = re.captures(reply)?;
    let group = |name| caps.name(name).map(|m| lossy(m.as_bytes()));
    Some(Details {
        product: group("product"),
        version: group("version"),
        info: group("info"),
        tls: None,
    })
}

/// Lossy UTF-8, trimmed: what a signature extracts is shown to people.
fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_owned()
}

/// Splits `name/1.2.3 (comment)` (an HTTP `Server` product token, RFC
/// 9110 §10.2.4) into product, version and comment.
fn product_token(value: &str) -> Details {
    let (token, comment) = match value.split_once(' ') {
        Some((t, c)) => (t, Some(c.trim().trim_matches(['(', ')']).to_owned())),
        None => (value, None),
    };
    let (product, version) = match token.split_once('/') {
        Some((p, v)) => (p, Some(v.to_owned())),
        None => (token, None),
    };
    Details {
        product: Some(product.to_owned()).filter(|p| !p.is_empty()),
        version,
        info: comment.filter(|c| !c.is_empty()),
        tls: None,
    }
}

/// An HTTP/1.x status line; the `Server` header, if the header block is
/// all there, gives product and version.
fn http_response(reply: &[u8]) -> Option<Details> {
    let status_line = reply.get(..12)?;
    let is_status = status_line.starts_with(b"HTTP/1.")
        && status_line[8] == b' '
        && status_line[9..12].iter().all(u8::is_ascii_digit);
    if !is_status {
        return None;
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let server = match response.parse(reply) {
        Ok(httparse::Status::Complete(_)) => response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("server"))
            .map(|h| lossy(h.value)),
        _ => None,
    };
    Some(server.map(|s| product_token(&s)).unwrap_or_default())
}

/// A TLS first flight: version and certificate subject, or an alert.
fn tls_flight(reply: &[u8]) -> Option<Details> {
    let flight = super::tls::read_flight(reply)?;
    let info = flight.alert.map(|code| match super::tls::alert_name(code) {
        Some(name) => format!("alert {name}"),
        None => format!("alert {code}"),
    });
    Some(Details {
        info,
        tls: Some(TlsDetails {
            version: flight.version,
            subject_cn: flight.subject_cn,
        }),
        ..Details::default()
    })
}

/// MySQL protocol: a packet with sequence id 0 holding either the
/// HandshakeV10 (protocol version 10, then the NUL-terminated server
/// version) or an ERR packet (0xff, error code, message), which a server
/// sends to a host it does not accept.
fn mysql_greeting(reply: &[u8]) -> Option<Details> {
    if reply.len() < 5 || reply[3] != 0 {
        return None;
    }
    let len = u32::from_le_bytes([reply[0], reply[1], reply[2], 0]) as usize;
    if !(2..=0x4000).contains(&len) {
        return None;
    }
    let payload = &reply[4..reply.len().min(4 + len)];
    match payload[0] {
        10 => {
            let end = payload[1..].iter().position(|b| *b == 0)?;
            let version = std::str::from_utf8(&payload[1..1 + end]).ok()?;
            let printable = !version.is_empty() && version.bytes().all(|b| b.is_ascii_graphic());
            printable.then(|| mysql_version(version))
        }
        0xff if payload.len() > 3 => Some(Details {
            info: Some(lossy(&payload[3..])),
            ..Details::default()
        }),
        _ => None,
    }
}

/// `8.0.36-0ubuntu0.22.04.1` is MySQL 8.0.36; `5.5.5-10.11.6-MariaDB-0+deb12u1`
/// is MariaDB 10.11.6 (MariaDB prefixes `5.5.5-` for old clients).
fn mysql_version(v: &str) -> Details {
    let is_maria = v.contains("MariaDB");
    let v = v.strip_prefix("5.5.5-").unwrap_or(v);
    let (number, rest) = v.split_once('-').unwrap_or((v, ""));
    let info = rest.trim_start_matches("MariaDB").trim_start_matches('-');
    Details {
        product: Some(if is_maria { "MariaDB" } else { "MySQL" }.to_owned()),
        version: Some(number.to_owned()),
        info: Some(info.to_owned()).filter(|i| !i.is_empty()),
        tls: None,
    }
}

/// A MongoDB OP_REPLY (opcode 1) or OP_MSG (2013) answering our request
/// ID, whose document has the `isMaster` reply fields.
fn mongo_reply(reply: &[u8]) -> Option<Details> {
    let le32 = |at: usize| Some(i32::from_le_bytes(reply.get(at..at + 4)?.try_into().ok()?));
    if le32(8)? != MONGO_REQUEST_ID {
        return None;
    }
    let doc = match le32(12)? {
        1 => reply.get(36..)?,
        2013 if *reply.get(20)? == 0 => reply.get(21..)?,
        _ => return None,
    };
    let fields = bson_top_level(doc)?;
    let known = ["ismaster", "isWritablePrimary", "maxWireVersion", "ok"];
    if !fields.iter().any(|(k, _)| known.contains(&k.as_str())) {
        return None;
    }
    let wire = fields
        .iter()
        .find(|(k, _)| k == "maxWireVersion")
        .and_then(|(_, v)| *v);
    Some(Details {
        product: Some("MongoDB".to_owned()),
        info: wire.map(|w| format!("maxWireVersion {w}")),
        ..Details::default()
    })
}

/// The top-level keys of a BSON document, with the value of int32 fields.
/// Stops (returning what it has) at a type it does not know the size of.
fn bson_top_level(doc: &[u8]) -> Option<Vec<(String, Option<i32>)>> {
    let total = i32::from_le_bytes(doc.get(..4)?.try_into().ok()?);
    let doc = doc.get(..usize::try_from(total).ok()?)?;
    let mut at = 4;
    let mut out = Vec::new();
    while at < doc.len() && doc[at] != 0 && out.len() < 256 {
        let kind = doc[at];
        let name_end = at + 1 + doc[at + 1..].iter().position(|b| *b == 0)?;
        let name = lossy(&doc[at + 1..name_end]);
        let value = name_end + 1;
        let le = |at: usize| -> Option<usize> {
            usize::try_from(i32::from_le_bytes(doc.get(at..at + 4)?.try_into().ok()?)).ok()
        };
        let size = match kind {
            0x01 | 0x09 | 0x11 | 0x12 => 8,
            0x02 => 4 + le(value)?,
            0x03 | 0x04 => le(value)?,
            0x05 => 5 + le(value)?,
            0x07 => 12,
            0x08 => 1,
            0x0a => 0,
            0x10 => 4,
            0x13 => 16,
            _ => {
                out.push((name, None));
                break;
            }
        };
        let int = (kind == 0x10)
            .then(|| {
                Some(i32::from_le_bytes(
                    doc.get(value..value + 4)?.try_into().ok()?,
                ))
            })
            .flatten();
        out.push((name, int));
        at = value.checked_add(size)?;
    }
    Some(out)
}

/// `dnsmasq-2.89`, `unbound 1.17.1`: a product name, then a version.
static DNS_PRODUCT_VERSION: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
    regex::Regex::new(r"^(?P<p>[A-Za-z][A-Za-z ]*?)[- /]v?(?P<v>[0-9][0-9A-Za-z.~+-]*)$").ok()
});

/// DNS over TCP: a length-prefixed response to our query; the
/// `version.bind` TXT, when given, names the product (`dnsmasq-2.89`,
/// `9.18.28-1~deb12u2-Debian` for BIND, which gives only a version).
fn dns_tcp_reply(reply: &[u8]) -> Option<Details> {
    let msg = reply.get(2..)?;
    if !replies::dns(msg) {
        return None;
    }
    let Some(txt) = replies::dns_version_txt(msg).map(lossy) else {
        return Some(Details::default());
    };
    let named = DNS_PRODUCT_VERSION.as_ref().and_then(|re| {
        let c = re.captures(&txt)?;
        Some((c["p"].to_owned(), c["v"].to_owned()))
    });
    Some(match named {
        Some((product, version)) => Details {
            product: Some(product),
            version: Some(version),
            ..Details::default()
        },
        None if txt.starts_with(|c: char| c.is_ascii_digit()) => Details {
            version: Some(txt),
            ..Details::default()
        },
        None => Details {
            info: Some(txt),
            ..Details::default()
        },
    })
}

/// RDP: TPKT version 3 carrying an X.224 Connection Confirm (0xD0); the
/// RDP_NEG_RSP (type 2) says which security protocol the server chose,
/// RDP_NEG_FAILURE (type 3) that it refused ours (MS-RDPBCGR 2.2.1.2).
fn rdp_confirm(reply: &[u8]) -> Option<Details> {
    if reply.len() < 11 || reply[..2] != [3, 0] || reply[5] != 0xd0 {
        return None;
    }
    let code = reply
        .get(15..19)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4])));
    let info = match (reply.get(11), code) {
        (Some(2), Some(0)) => Some("standard RDP security"),
        (Some(2), Some(1)) => Some("TLS"),
        (Some(2), Some(2 | 8)) => Some("CredSSP"),
        (Some(3), _) => Some("negotiation failure"),
        _ => None,
    };
    Some(Details {
        product: Some("Microsoft Terminal Services".to_owned()),
        info: info.map(str::to_owned),
        ..Details::default()
    })
}

#[cfg(test)]
mod tests;
