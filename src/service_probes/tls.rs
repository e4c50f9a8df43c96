//! The TLS probe: a ClientHello that offers at most TLS 1.2, and a reader
//! for the server's first flight.
//!
//! Why at most 1.2: in TLS 1.3 everything after the ServerHello is
//! encrypted, certificate included (RFC 8446 §2). A hello without the
//! `supported_versions` extension makes a 1.3-capable server answer as
//! 1.2 (RFC 8446 §4.2.1, §D.2), and then its Certificate message comes in
//! clear, so the subject CN can be read without a TLS stack. A server that
//! refuses 1.2 answers with a `protocol_version` alert, which still tells
//! us it speaks TLS.
//!
//! Nothing here negotiates: no key is ever derived, so the hello's random
//! is a fixed string (a scanner gains nothing from unpredictability; the
//! server is not harmed by it) and the reader never answers.

use std::sync::LazyLock;

/// The client random of our hello: fixed, 32 bytes (see the module docs).
const CLIENT_RANDOM: &[u8; 32] = b"rawnet service detection hello!!";

/// Cipher suites offered: the ECDHE AEAD suites every current server
/// accepts, then CBC and plain-RSA ones for older servers (RFC 5289, RFC
/// 7905, RFC 5288, RFC 5246 appendix A.5).
const CIPHER_SUITES: &[u16] = &[
    0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc009, 0xc013, 0xc00a, 0xc014, 0x009c, 0x009d,
    0x002f, 0x0035,
];

/// The ClientHello record (built on first use).
pub(super) static CLIENT_HELLO: LazyLock<Vec<u8>> = LazyLock::new(client_hello);

/// A TLS 1.2 ClientHello in one handshake record (RFC 5246 §7.4.1.2),
/// with the extensions an ECDHE server needs: supported groups and point
/// formats (RFC 8422 §5.1), signature algorithms (RFC 5246 §7.4.1.4.1,
/// RFC 8446 §4.2.3 code points), secure renegotiation (RFC 5746) and
/// extended master secret (RFC 7627). No server name: we do not know one.
fn client_hello() -> Vec<u8> {
    let mut ext = Vec::new();
    push_ext(&mut ext, 0x000a, &u16_list(&[0x001d, 0x0017, 0x0018]));
    push_ext(&mut ext, 0x000b, &[1, 0]);
    let sig_algs = [
        0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601, 0x0201,
    ];
    push_ext(&mut ext, 0x000d, &u16_list(&sig_algs));
    push_ext(&mut ext, 0xff01, &[0]);
    push_ext(&mut ext, 0x0017, &[]);

    let mut body = vec![3, 3]; // client_version TLS 1.2
    body.extend_from_slice(CLIENT_RANDOM);
    body.push(0); // no session id
    body.extend_from_slice(&u16_list(CIPHER_SUITES));
    body.extend_from_slice(&[1, 0]); // compression: null only
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);

    let mut handshake = vec![1]; // client_hello
    handshake.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);

    let mut record = vec![22, 3, 1]; // handshake, record version TLS 1.0
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

/// A list of u16 with its u16 byte-length prefix.
fn u16_list(items: &[u16]) -> Vec<u8> {
    let mut v = ((items.len() * 2) as u16).to_be_bytes().to_vec();
    v.extend(items.iter().flat_map(|i| i.to_be_bytes()));
    v
}

fn push_ext(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
}

/// What a TLS server's first flight told us.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flight {
    /// The negotiated version from the ServerHello, e.g. `TLSv1.2`.
    pub version: Option<&'static str>,
    /// The subject common name of the first (leaf) certificate.
    pub subject_cn: Option<String>,
    /// An alert instead of (or after) a handshake: its description code
    /// (RFC 8446 §6), e.g. 70 `protocol_version`.
    pub alert: Option<u8>,
    /// ServerHelloDone or an alert arrived: no more bytes will come
    /// before we speak again.
    pub done: bool,
}

/// Reads TLS records from the start of `reply`. `None` when `reply` does
/// not begin with a well-formed handshake or alert record header (it is not
/// TLS); otherwise what the complete records say (a cut-off record is
/// ignored).
pub fn read_flight(reply: &[u8]) -> Option<Flight> {
    let mut handshake = Vec::new();
    let mut flight = Flight::default();
    let mut rest = reply;
    let mut records = 0;
    while rest.len() >= 5 {
        let (kind, major, len) = (rest[0], rest[1], u16::from_be_bytes([rest[3], rest[4]]));
        if !matches!(kind, 21 | 22) || major != 3 || rest[2] > 4 || len > 16384 + 2048 {
            break;
        }
        let Some(payload) = rest.get(5..5 + len as usize) else {
            break;
        };
        records += 1;
        if kind == 21 && payload.len() == 2 {
            flight.alert = Some(payload[1]);
            flight.done = true;
        } else if kind == 22 {
            handshake.extend_from_slice(payload);
        }
        rest = &rest[5 + len as usize..];
    }
    if records == 0 && !looks_like_record_start(reply) {
        return None;
    }
    read_handshakes(&handshake, &mut flight);
    Some(flight)
}

/// The first bytes of a handshake or alert record, before it is complete.
fn looks_like_record_start(reply: &[u8]) -> bool {
    reply.len() >= 3 && matches!(reply[0], 21 | 22) && reply[1] == 3 && reply[2] <= 4
}

/// Walks the handshake messages (RFC 5246 §7.4) and fills in `flight`.
fn read_handshakes(mut msgs: &[u8], flight: &mut Flight) {
    while msgs.len() >= 4 {
        let len = u32::from_be_bytes([0, msgs[1], msgs[2], msgs[3]]) as usize;
        let Some(body) = msgs.get(4..4 + len) else {
            return;
        };
        match msgs[0] {
            2 => flight.version = server_hello_version(body),
            11 => flight.subject_cn = leaf_subject_cn(body),
            14 => flight.done = true,
            _ => {}
        }
        msgs = &msgs[4 + len..];
    }
}

/// The version a ServerHello selects: its `supported_versions` extension
/// if present (RFC 8446 §4.2.1), else its legacy version field.
fn server_hello_version(body: &[u8]) -> Option<&'static str> {
    let legacy = u16::from_be_bytes([*body.first()?, *body.get(1)?]);
    let sid_len = *body.get(34)? as usize;
    let ext_at = 35 + sid_len + 2 + 1; // session id, cipher suite, compression
    let mut selected = legacy;
    if let Some(exts) = body.get(ext_at + 2..) {
        let mut exts = exts;
        while exts.len() >= 4 {
            let kind = u16::from_be_bytes([exts[0], exts[1]]);
            let len = u16::from_be_bytes([exts[2], exts[3]]) as usize;
            let Some(data) = exts.get(4..4 + len) else {
                break;
            };
            if kind == 43 && data.len() == 2 {
                selected = u16::from_be_bytes([data[0], data[1]]);
            }
            exts = &exts[4 + len..];
        }
    }
    version_name(selected)
}

/// `TLSv1.2` for 0x0303, and so on.
pub fn version_name(v: u16) -> Option<&'static str> {
    Some(match v {
        0x0300 => "SSLv3",
        0x0301 => "TLSv1.0",
        0x0302 => "TLSv1.1",
        0x0303 => "TLSv1.2",
        0x0304 => "TLSv1.3",
        _ => return None,
    })
}

/// The name of the alerts a server answers a hello with (RFC 8446 §6).
pub fn alert_name(code: u8) -> Option<&'static str> {
    Some(match code {
        10 => "unexpected_message",
        40 => "handshake_failure",
        47 => "illegal_parameter",
        50 => "decode_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        112 => "unrecognized_name",
        _ => return None,
    })
}

/// The subject CN of the first certificate of a Certificate message
/// (RFC 5246 §7.4.2), parsed with x509-parser.
fn leaf_subject_cn(body: &[u8]) -> Option<String> {
    let list = body.get(3..)?;
    let len = u32::from_be_bytes([0, *list.first()?, *list.get(1)?, *list.get(2)?]) as usize;
    let der = list.get(3..3 + len)?;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_lengths_are_consistent() {
        let h = &*CLIENT_HELLO;
        assert_eq!(&h[..3], &[22, 3, 1]);
        assert_eq!(u16::from_be_bytes([h[3], h[4]]) as usize, h.len() - 5);
        assert_eq!(h[5], 1, "client_hello");
        let body_len = u32::from_be_bytes([0, h[6], h[7], h[8]]) as usize;
        assert_eq!(body_len, h.len() - 9);
        assert_eq!(&h[9..11], &[3, 3], "offers at most TLS 1.2");
        assert_eq!(&h[11..43], CLIENT_RANDOM);
        let suites = u16::from_be_bytes([h[44], h[45]]) as usize;
        let ext_at = 46 + suites + 2;
        let ext_len = u16::from_be_bytes([h[ext_at], h[ext_at + 1]]) as usize;
        assert_eq!(ext_at + 2 + ext_len, h.len());
        let mut exts = &h[ext_at + 2..];
        let mut kinds = Vec::new();
        while !exts.is_empty() {
            kinds.push(u16::from_be_bytes([exts[0], exts[1]]));
            let len = u16::from_be_bytes([exts[2], exts[3]]) as usize;
            exts = &exts[4 + len..];
        }
        assert_eq!(kinds, [0x000a, 0x000b, 0x000d, 0xff01, 0x0017]);
        assert!(!kinds.contains(&43), "no supported_versions: no TLS 1.3");
    }

    fn record(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut r = vec![kind, 3, 3];
        r.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        r.extend_from_slice(payload);
        r
    }

    fn handshake(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut h = vec![kind];
        h.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        h.extend_from_slice(body);
        h
    }

    fn server_hello(extensions: &[u8]) -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend_from_slice(&[7; 32]);
        b.push(0);
        b.extend_from_slice(&[0xc0, 0x2f, 0]);
        if !extensions.is_empty() {
            b.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
            b.extend_from_slice(extensions);
        }
        handshake(2, &b)
    }

    #[test]
    fn reads_version_and_done_across_records() {
        let mut msgs = server_hello(&[0xff, 1, 0, 1, 0]);
        msgs.extend_from_slice(&handshake(14, &[]));
        // Split the handshake bytes over two records.
        let (a, b) = msgs.split_at(20);
        let reply = [record(22, a), record(22, b)].concat();
        let f = read_flight(&reply).unwrap();
        assert_eq!(f.version, Some("TLSv1.2"));
        assert!(f.done);
        assert_eq!(f.subject_cn, None);
        let partial = read_flight(&reply[..reply.len() - 1]).unwrap();
        assert!(!partial.done, "ServerHelloDone cut off");
    }

    #[test]
    fn supported_versions_wins_over_the_legacy_field() {
        let reply = record(22, &server_hello(&[0, 43, 0, 2, 3, 4]));
        assert_eq!(read_flight(&reply).unwrap().version, Some("TLSv1.3"));
    }

    #[test]
    fn an_alert_is_tls() {
        let f = read_flight(&record(21, &[2, 70])).unwrap();
        assert_eq!(f.alert, Some(70));
        assert!(f.done);
    }

    #[test]
    fn other_bytes_are_not_tls() {
        for reply in [
            &b"HTTP/1.1 400 Bad Request\r\n"[..],
            b"",
            b"\x16",
            b"SSH-2.0-x\r\n",
        ] {
            assert_eq!(read_flight(reply), None, "{reply:?}");
        }
        assert!(read_flight(&[22, 3, 3, 0x40]).is_some(), "a record begins");
    }

    #[test]
    fn garbage_certificate_gives_no_cn() {
        let cert = handshake(11, &[0, 0, 5, 0, 0, 2, 0x30, 0]);
        let f = read_flight(&record(22, &cert)).unwrap();
        assert_eq!(f.subject_cn, None);
    }
}
