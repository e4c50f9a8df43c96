//! The probes: what to send to a TCP service that has not identified
//! itself, how long to wait and how much to read, and when a reply is
//! whole.
//!
//! Each probe is a request its protocol answers and most others reject
//! quickly: a wrong first message makes a binary server (PostgreSQL,
//! MongoDB) close the connection at once, and a text server answer with an
//! error line. So a silent service costs one wait per probe only when it
//! ignores the request and keeps the connection open.

use std::sync::LazyLock;
use std::time::Duration;

use crate::udp_payloads::{dns_query, CLASS_CH, QUERY_ID, TYPE_TXT};

/// How long the banner probe waits for the server to speak first. Servers
/// that greet do so at once; a slow greeter's banner still arrives in the
/// reply to a later probe, and the greeting signatures match any probe.
pub const BANNER_WAIT: Duration = Duration::from_millis(2000);

/// How long every other probe waits for its reply.
pub const PROBE_WAIT: Duration = Duration::from_millis(3000);

/// Most bytes kept from a reply: enough for HTTP headers and a server
/// greeting.
pub const MAX_REPLY: usize = 8192;

/// Most bytes kept from a TLS reply: a ServerHello and a certificate chain
/// of usual size (the leaf certificate comes first).
pub const MAX_TLS_REPLY: usize = 32768;

/// The probes, by what they speak.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProbeId {
    /// Send nothing; wait for a greeting (SSH, FTP, SMTP, POP3, IMAP,
    /// MySQL).
    Banner,
    /// A TLS 1.2 ClientHello.
    Tls,
    /// `GET / HTTP/1.0`.
    Http,
    /// Redis `INFO server`.
    Redis,
    /// PostgreSQL SSLRequest.
    Postgres,
    /// memcached `version`.
    Memcached,
    /// MongoDB `isMaster` as an OP_QUERY (answered by every version).
    Mongo,
    /// DNS `version.bind` CH TXT over TCP.
    DnsTcp,
    /// RDP X.224 Connection Request.
    Rdp,
    /// An empty line, for text protocols that wait for a command.
    EmptyLine,
}

/// One probe: what to send and how to read the answer.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Which probe.
    pub id: ProbeId,
    /// Short name, e.g. `tls-hello`.
    pub name: &'static str,
    /// The bytes to send after connecting (empty: send nothing).
    pub payload: Vec<u8>,
    /// Most time to wait for the reply, from the connect.
    pub wait: Duration,
    /// Most reply bytes to read.
    pub max_reply: usize,
    /// Ports where this probe goes first: services there are usually
    /// silent ones that this probe identifies.
    pub ports: &'static [u16],
}

/// The probes in their default order (see [`super::Session`]).
pub(super) static PROBES: LazyLock<Vec<Probe>> = LazyLock::new(|| {
    vec![
        probe(ProbeId::Banner, "banner", Vec::new(), BANNER_WAIT, &[]),
        Probe {
            max_reply: MAX_TLS_REPLY,
            ..probe(
                ProbeId::Tls,
                "tls-hello",
                super::tls::CLIENT_HELLO.clone(),
                PROBE_WAIT,
                &[443, 465, 636, 853, 990, 993, 995, 5986, 8443, 9443],
            )
        },
        probe(
            ProbeId::Http,
            "http-get",
            b"GET / HTTP/1.0\r\n\r\n".to_vec(),
            PROBE_WAIT,
            &[80, 81, 591, 3000, 5000, 8000, 8008, 8080, 8081, 8888],
        ),
        probe(
            ProbeId::Redis,
            "redis-info",
            b"INFO server\r\n".to_vec(),
            PROBE_WAIT,
            &[6379, 6380],
        ),
        probe(
            ProbeId::Postgres,
            "postgres-sslrequest",
            postgres_ssl_request(),
            PROBE_WAIT,
            &[5432, 5433],
        ),
        probe(
            ProbeId::Memcached,
            "memcached-version",
            b"version\r\n".to_vec(),
            PROBE_WAIT,
            &[11211],
        ),
        probe(
            ProbeId::Mongo,
            "mongodb-ismaster",
            mongo_is_master(),
            PROBE_WAIT,
            &[27017, 27018, 27019],
        ),
        probe(
            ProbeId::DnsTcp,
            "dns-version-bind",
            dns_over_tcp(),
            PROBE_WAIT,
            &[53],
        ),
        probe(
            ProbeId::Rdp,
            "rdp-x224",
            rdp_connection_request(),
            PROBE_WAIT,
            &[3389],
        ),
        probe(
            ProbeId::EmptyLine,
            "empty-line",
            b"\r\n".to_vec(),
            PROBE_WAIT,
            &[],
        ),
    ]
});

fn probe(
    id: ProbeId,
    name: &'static str,
    payload: Vec<u8>,
    wait: Duration,
    ports: &'static [u16],
) -> Probe {
    Probe {
        id,
        name,
        payload,
        wait,
        max_reply: MAX_REPLY,
        ports,
    }
}

/// The probe with this id.
pub fn probe_by_id(id: ProbeId) -> &'static Probe {
    PROBES
        .iter()
        .find(|p| p.id == id)
        .expect("every ProbeId has a table entry (unit test)")
}

/// SSLRequest (PostgreSQL protocol, "Message Formats"): length 8, code
/// 80877103. The server answers one byte, `S` or `N`.
fn postgres_ssl_request() -> Vec<u8> {
    [8u32.to_be_bytes(), 80_877_103u32.to_be_bytes()].concat()
}

/// The request ID of our MongoDB message; the reply's `responseTo`.
pub const MONGO_REQUEST_ID: i32 = 0x7261;

/// MongoDB wire protocol OP_QUERY (opcode 2004) of `{isMaster: 1}` on
/// `admin.$cmd`, all integers little-endian. OP_QUERY rather than OP_MSG
/// because servers of every version answer it for the handshake commands.
fn mongo_is_master() -> Vec<u8> {
    let mut doc = Vec::new();
    doc.push(0x10); // int32
    doc.extend_from_slice(b"isMaster\0");
    doc.extend_from_slice(&1i32.to_le_bytes());
    doc.push(0); // end of document
    let doc_len = (doc.len() + 4) as i32;
    let mut body = Vec::new();
    body.extend_from_slice(&0i32.to_le_bytes()); // flags
    body.extend_from_slice(b"admin.$cmd\0");
    body.extend_from_slice(&0i32.to_le_bytes()); // numberToSkip
    body.extend_from_slice(&1i32.to_le_bytes()); // numberToReturn
    body.extend_from_slice(&doc_len.to_le_bytes());
    body.extend_from_slice(&doc);
    let mut m = Vec::new();
    m.extend_from_slice(&((16 + body.len()) as i32).to_le_bytes());
    m.extend_from_slice(&MONGO_REQUEST_ID.to_le_bytes());
    m.extend_from_slice(&0i32.to_le_bytes()); // responseTo
    m.extend_from_slice(&2004i32.to_le_bytes()); // OP_QUERY
    m.extend_from_slice(&body);
    m
}

/// The UDP DNS query with the two-byte length prefix of DNS over TCP
/// (RFC 1035 §4.2.2).
fn dns_over_tcp() -> Vec<u8> {
    let q = dns_query(QUERY_ID, "version.bind", TYPE_TXT, CLASS_CH, false);
    [(q.len() as u16).to_be_bytes().as_slice(), &q].concat()
}

/// TPKT (RFC 1006 §6) + X.224 Connection Request (ITU-T X.224 §13.3) +
/// RDP_NEG_REQ asking for TLS or CredSSP (MS-RDPBCGR 2.2.1.1).
fn rdp_connection_request() -> Vec<u8> {
    let neg_req = [1, 0, 8, 0, 3, 0, 0, 0]; // type, flags, length 8, protocols
    let x224 = [0x0e, 0xe0, 0, 0, 0, 0, 0]; // LI 14, CR, dst-ref, src-ref, class 0
    let len = (4 + x224.len() + neg_req.len()) as u16;
    let mut m = vec![3, 0];
    m.extend_from_slice(&len.to_be_bytes());
    m.extend_from_slice(&x224);
    m.extend_from_slice(&neg_req);
    m
}

/// True when `reply` holds a whole message, so reading on is waiting for
/// nothing: a line for greetings and text protocols, the header block for
/// HTTP, the first flight for TLS, the length a binary header announces.
/// A whole message that matches no signature ends the probe as well: the
/// service has answered, and not as anything known.
pub(super) fn reply_complete(probe: ProbeId, reply: &[u8]) -> bool {
    if reply.starts_with(b"HTTP/") {
        return find(reply, b"\r\n\r\n") || find(reply, b"\n\n");
    }
    if let Some(flight) = super::tls::read_flight(reply) {
        return flight.done;
    }
    match probe {
        ProbeId::Postgres => postgres_complete(reply),
        ProbeId::Redis => redis_complete(reply),
        ProbeId::Mongo => le32(reply, 0).is_some_and(|n| n as usize <= reply.len()),
        ProbeId::DnsTcp => be16(reply, 0).is_some_and(|n| n as usize + 2 <= reply.len()),
        ProbeId::Rdp => be16(reply, 2).is_some_and(|n| n as usize <= reply.len()),
        ProbeId::Banner
        | ProbeId::Tls
        | ProbeId::Http
        | ProbeId::Memcached
        | ProbeId::EmptyLine => reply.contains(&b'\n') || mysql_packet_complete(reply),
    }
}

/// The one-byte answer to SSLRequest, or a whole ErrorResponse (`E`, a
/// big-endian length that counts itself), or a text line from something
/// else.
fn postgres_complete(reply: &[u8]) -> bool {
    match reply.first() {
        None => false,
        Some(b'S' | b'N') if reply.len() == 1 => true,
        Some(b'E') => {
            let len = reply
                .get(1..5)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            len.is_some_and(|n| reply.len() > n as usize) || reply.contains(&b'\n')
        }
        Some(_) => reply.contains(&b'\n'),
    }
}

/// A RESP error or status line, or a bulk string with its announced
/// length read (`$-1`, the null bulk string, is whole). The length is the
/// server's: `eol + 1 + n + 2` is checked, so `$18446744073709551615`
/// is merely never whole.
fn redis_complete(reply: &[u8]) -> bool {
    let Some(eol) = reply.iter().position(|b| *b == b'\n') else {
        return false;
    };
    if reply[0] != b'$' {
        return true;
    }
    let len: Option<i64> = std::str::from_utf8(&reply[1..eol])
        .ok()
        .and_then(|s| s.trim_end().parse().ok());
    match len {
        Some(n) if n < 0 => true,
        Some(n) => usize::try_from(n)
            .ok()
            .and_then(|n| (eol + 3).checked_add(n))
            .is_some_and(|whole| reply.len() >= whole),
        None => false,
    }
}

/// A MySQL packet (three-byte little-endian length, sequence id) whose
/// payload is all there.
fn mysql_packet_complete(reply: &[u8]) -> bool {
    reply.len() >= 4 && {
        let len = u32::from_le_bytes([reply[0], reply[1], reply[2], 0]) as usize;
        len > 0 && reply.len() >= 4 + len
    }
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_has_one_probe_within_bounds() {
        let ids = [
            ProbeId::Banner,
            ProbeId::Tls,
            ProbeId::Http,
            ProbeId::Redis,
            ProbeId::Postgres,
            ProbeId::Memcached,
            ProbeId::Mongo,
            ProbeId::DnsTcp,
            ProbeId::Rdp,
            ProbeId::EmptyLine,
        ];
        assert_eq!(PROBES.len(), ids.len());
        for id in ids {
            let p = probe_by_id(id);
            assert_eq!(PROBES.iter().filter(|q| q.id == id).count(), 1);
            assert!(p.wait <= PROBE_WAIT && p.max_reply <= MAX_TLS_REPLY);
            assert_eq!(p.payload.is_empty(), id == ProbeId::Banner);
        }
    }

    #[test]
    fn binary_payloads_read_back() {
        assert_eq!(
            probe_by_id(ProbeId::Postgres).payload,
            [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]
        );
        let m = &probe_by_id(ProbeId::Mongo).payload;
        assert_eq!(le32(m, 0), Some(m.len() as u32));
        assert_eq!(le32(m, 12), Some(2004));
        let doc = &m[16 + 4 + 11 + 8..];
        assert_eq!(le32(doc, 0), Some(doc.len() as u32));
        let d = &probe_by_id(ProbeId::DnsTcp).payload;
        assert_eq!(be16(d, 0), Some(d.len() as u16 - 2));
        let r = &probe_by_id(ProbeId::Rdp).payload;
        assert_eq!(be16(r, 2), Some(r.len() as u16));
        assert_eq!(r[4] as usize, r.len() - 5, "X.224 length indicator");
    }

    #[test]
    fn completeness_by_framing() {
        use ProbeId::*;
        assert!(!reply_complete(Http, b"HTTP/1.1 200 OK\r\nServer: x\r\n"));
        assert!(reply_complete(
            Http,
            b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n"
        ));
        assert!(!reply_complete(Banner, b"SSH-2.0-Open"));
        assert!(reply_complete(Banner, b"SSH-2.0-OpenSSH_9.2\r\n"));
        assert!(reply_complete(Banner, b"\x05\0\0\0\x0a5.7\0"));
        assert!(!reply_complete(Redis, b"$20\r\n# Server\r\n"));
        assert!(reply_complete(Redis, b"$10\r\n# Server\r\n\r\n"));
        assert!(reply_complete(
            Redis,
            b"-NOAUTH Authentication required.\r\n"
        ));
        assert!(reply_complete(Postgres, b"N"));
        assert!(!reply_complete(Postgres, b"E\0\0\0\x20SFATAL"));
        assert!(reply_complete(Tls, b"-ERR unknown command\r\n"));
        assert!(!reply_complete(Tls, b"SSH-2.0-Open"));
        assert!(!reply_complete(DnsTcp, &[0, 30, 1, 2]));
        assert!(!reply_complete(Mongo, &[100, 0, 0, 0, 1]));
        assert!(!reply_complete(Tls, &[22, 3, 3, 0, 10, 2]));
    }
}
