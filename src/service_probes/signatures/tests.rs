//! One reply per signature, written from the protocol's specification (or
//! the format the daemon documents), with what it must yield; a check
//! that every table entry is the first match of some example; and every
//! example cut at every offset.

use super::*;
use crate::service_probes::{identify, probe_by_id, Identified};
use crate::udp_payloads::{dns_query, CLASS_CH, QUERY_ID, TYPE_TXT};

/// A self-signed certificate made for these tests (`openssl req -x509`,
/// subject `CN=rawnet.test, O=rawnet tests`).
const TEST_CERT: &[u8] = include_bytes!("../testdata/rawnet-test-cert.der");

struct Example {
    probe: ProbeId,
    reply: Vec<u8>,
    name: &'static str,
    product: Option<&'static str>,
    version: Option<&'static str>,
    info: Option<&'static str>,
}

fn ex(
    probe: ProbeId,
    reply: &[u8],
    name: &'static str,
    product: Option<&'static str>,
    version: Option<&'static str>,
    info: Option<&'static str>,
) -> Example {
    Example {
        probe,
        reply: reply.to_vec(),
        name,
        product,
        version,
        info,
    }
}

fn tls_record(kind: u8, payload: &[u8]) -> Vec<u8> {
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

/// ServerHello (TLS 1.2, ECDHE-RSA-AES128-GCM), Certificate with the test
/// certificate, ServerHelloDone.
fn tls_first_flight() -> Vec<u8> {
    let mut hello = vec![3, 3];
    hello.extend_from_slice(&[0x42; 32]);
    hello.extend_from_slice(&[0, 0xc0, 0x2f, 0]);
    let mut entry = (TEST_CERT.len() as u32).to_be_bytes()[1..].to_vec();
    entry.extend_from_slice(TEST_CERT);
    let mut certs = (entry.len() as u32).to_be_bytes()[1..].to_vec();
    certs.extend_from_slice(&entry);
    let msgs = [
        handshake(2, &hello),
        handshake(11, &certs),
        handshake(14, &[]),
    ]
    .concat();
    tls_record(22, &msgs)
}

/// A MySQL packet with sequence id 0.
fn mysql_packet(payload: &[u8]) -> Vec<u8> {
    let mut p = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    p.push(0);
    p.extend_from_slice(payload);
    p
}

/// HandshakeV10 up to the first scramble part (what a signature reads).
fn mysql_handshake(version: &str) -> Vec<u8> {
    let mut p = vec![10];
    p.extend_from_slice(version.as_bytes());
    p.push(0);
    p.extend_from_slice(&7u32.to_le_bytes()); // connection id
    p.extend_from_slice(b"abcdefgh\0"); // auth-plugin-data part 1, filler
    mysql_packet(&p)
}

/// A BSON document of `(key, value)` fields; values are int32, bool or
/// double by their tag.
fn bson(fields: &[(&str, u8, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (key, kind, value) in fields {
        body.push(*kind);
        body.extend_from_slice(key.as_bytes());
        body.push(0);
        body.extend_from_slice(value);
    }
    body.push(0);
    let mut doc = ((body.len() + 4) as i32).to_le_bytes().to_vec();
    doc.extend_from_slice(&body);
    doc
}

/// An OP_REPLY to our isMaster query.
fn mongo_op_reply() -> Vec<u8> {
    let doc = bson(&[
        ("ismaster", 0x08, &[1]),
        ("maxWireVersion", 0x10, &17i32.to_le_bytes()),
        ("ok", 0x01, &1f64.to_le_bytes()),
    ]);
    let mut body = Vec::new();
    body.extend_from_slice(&8i32.to_le_bytes()); // responseFlags: AwaitCapable
    body.extend_from_slice(&0i64.to_le_bytes()); // cursorID
    body.extend_from_slice(&0i32.to_le_bytes()); // startingFrom
    body.extend_from_slice(&1i32.to_le_bytes()); // numberReturned
    body.extend_from_slice(&doc);
    let mut m = ((16 + body.len()) as i32).to_le_bytes().to_vec();
    m.extend_from_slice(&99i32.to_le_bytes()); // requestID
    m.extend_from_slice(&MONGO_REQUEST_ID.to_le_bytes()); // responseTo
    m.extend_from_slice(&1i32.to_le_bytes()); // OP_REPLY
    m.extend_from_slice(&body);
    m
}

/// A DNS-over-TCP answer to our query with one CH TXT record.
fn dns_tcp_answer(txt: &[u8]) -> Vec<u8> {
    let mut msg = dns_query(QUERY_ID, "version.bind", TYPE_TXT, CLASS_CH, false);
    msg[2] = 0x84;
    msg[7] = 1;
    msg.extend_from_slice(&[0xc0, 12, 0, 16, 0, 3, 0, 0, 0, 0]);
    msg.extend_from_slice(&((txt.len() + 1) as u16).to_be_bytes());
    msg.push(txt.len() as u8);
    msg.extend_from_slice(txt);
    let mut m = (msg.len() as u16).to_be_bytes().to_vec();
    m.extend_from_slice(&msg);
    m
}

fn examples() -> Vec<Example> {
    use ProbeId::*;
    let mariadb_denied = mysql_packet(
        b"\xff\x6a\x04Host '10.0.0.9' is not allowed to connect to this MariaDB server",
    );
    vec![
        ex(
            Banner,
            b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n",
            "ssh",
            Some("OpenSSH"),
            Some("9.2p1"),
            Some("Debian-2+deb12u3"),
        ),
        ex(Banner, b"SSH-2.0-Go\r\n", "ssh", Some("Go"), None, None),
        ex(
            Http,
            b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Length: 0\r\n\r\n",
            "http",
            Some("nginx"),
            Some("1.22.1"),
            None,
        ),
        ex(
            Http,
            b"HTTP/1.0 404 Not Found\r\nserver: Apache/2.4.62 (Debian)\r\n\r\n",
            "http",
            Some("Apache"),
            Some("2.4.62"),
            Some("Debian"),
        ),
        ex(
            Tls,
            b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\n\r\n",
            "http",
            Some("nginx"),
            None,
            None,
        ),
        ex(Tls, &tls_first_flight(), "ssl", None, None, None),
        ex(Tls, &tls_record(21, &[2, 70]), "ssl", None, None, Some("alert protocol_version")),
        ex(
            Banner,
            &mysql_handshake("5.5.5-10.11.6-MariaDB-0+deb12u1"),
            "mysql",
            Some("MariaDB"),
            Some("10.11.6"),
            Some("0+deb12u1"),
        ),
        ex(
            Banner,
            &mysql_handshake("8.0.36"),
            "mysql",
            Some("MySQL"),
            Some("8.0.36"),
            None,
        ),
        ex(
            Banner,
            &mariadb_denied,
            "mysql",
            None,
            None,
            Some("Host '10.0.0.9' is not allowed to connect to this MariaDB server"),
        ),
        ex(
            Banner,
            b"220 (vsFTPd 3.0.3)\r\n",
            "ftp",
            Some("vsftpd"),
            Some("3.0.3"),
            None,
        ),
        ex(
            Banner,
            b"220 ProFTPD Server (Debian) [::ffff:127.0.0.1]\r\n",
            "ftp",
            Some("ProFTPD"),
            None,
            Some("Debian"),
        ),
        ex(
            Http,
            b"220 rawnet test FTP service ready\r\n500 GET not understood\r\n",
            "ftp",
            None,
            None,
            None,
        ),
        ex(
            Banner,
            b"220 mail.example.test ESMTP Postfix (Debian/GNU)\r\n",
            "smtp",
            Some("Postfix"),
            None,
            Some("Debian/GNU"),
        ),
        ex(
            Banner,
            b"220 mx.example.test ESMTP Exim 4.96 Sat, 21 Nov 2026 09:00:00 +0000\r\n",
            "smtp",
            Some("Exim"),
            Some("4.96"),
            None,
        ),
        ex(
            EmptyLine,
            b"220-mx.example.test ESMTP ready\r\n",
            "smtp",
            None,
            None,
            None,
        ),
        ex(
            Banner,
            b"+OK Dovecot (Debian) ready.\r\n",
            "pop3",
            Some("Dovecot"),
            None,
            Some("Debian"),
        ),
        ex(Banner, b"+OK rawnet POP3 ready\r\n", "pop3", None, None, None),
        ex(
            Banner,
            b"* OK [CAPABILITY IMAP4rev1 SASL-IR ID IDLE STARTTLS AUTH=PLAIN] Dovecot (Debian) ready.\r\n",
            "imap",
            Some("Dovecot"),
            None,
            Some("Debian"),
        ),
        ex(Banner, b"* OK IMAP4rev2 server ready\r\n", "imap", None, None, None),
        ex(
            Redis,
            b"$60\r\n# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\n\r\n",
            "redis",
            Some("Redis"),
            Some("7.0.15"),
            None,
        ),
        ex(
            Redis,
            b"-NOAUTH Authentication required.\r\n",
            "redis",
            Some("Redis"),
            None,
            None,
        ),
        ex(Postgres, b"N", "postgresql", Some("PostgreSQL"), None, None),
        ex(
            Postgres,
            b"E\0\0\0\x5bSFATAL\0VFATAL\0C0A000\0Munsupported frontend protocol\0\0",
            "postgresql",
            Some("PostgreSQL"),
            None,
            None,
        ),
        ex(
            Memcached,
            b"VERSION 1.6.18\r\n",
            "memcached",
            Some("memcached"),
            Some("1.6.18"),
            None,
        ),
        ex(
            Mongo,
            &mongo_op_reply(),
            "mongodb",
            Some("MongoDB"),
            None,
            Some("maxWireVersion 17"),
        ),
        ex(
            DnsTcp,
            &dns_tcp_answer(b"dnsmasq-2.89"),
            "domain",
            Some("dnsmasq"),
            Some("2.89"),
            None,
        ),
        ex(
            Rdp,
            &[3, 0, 0, 19, 14, 0xd0, 0, 0, 0x12, 0x34, 0, 2, 0, 8, 0, 1, 0, 0, 0],
            "ms-wbt-server",
            Some("Microsoft Terminal Services"),
            None,
            Some("TLS"),
        ),
    ]
}

fn run(e: &Example) -> Option<Identified> {
    identify(probe_by_id(e.probe), &e.reply)
}

#[test]
fn every_pattern_compiles() {
    for (i, sig) in SIGNATURES.iter().enumerate() {
        if let Matcher::Pattern(p) = sig.matcher {
            assert!(COMPILED[i].is_some(), "{}: {p}", sig.name);
        }
    }
}

#[test]
fn every_example_yields_its_service() {
    for e in examples() {
        let found = run(&e).unwrap_or_else(|| panic!("no match: {:?}", e.reply));
        let d = &found.details;
        assert_eq!(found.name, e.name, "{:?}", e.reply);
        assert_eq!(d.product.as_deref(), e.product, "{:?}", e.reply);
        assert_eq!(d.version.as_deref(), e.version, "{:?}", e.reply);
        assert_eq!(d.info.as_deref(), e.info, "{:?}", e.reply);
    }
}

#[test]
fn every_signature_is_the_first_match_of_an_example() {
    let examples = examples();
    for (i, sig) in SIGNATURES.iter().enumerate() {
        let covered = examples.iter().any(|e| {
            first_match(e.probe, &e.reply).is_some_and(|(s, _)| std::ptr::eq(s, &SIGNATURES[i]))
        });
        assert!(covered, "signature {i} ({}) has no example", sig.name);
    }
}

#[test]
fn tls_gives_version_and_certificate_subject() {
    let found = identify(probe_by_id(ProbeId::Tls), &tls_first_flight()).unwrap();
    let tls = found.details.tls.unwrap();
    assert_eq!(tls.version, Some("TLSv1.2"));
    assert_eq!(tls.subject_cn.as_deref(), Some("rawnet.test"));
}

#[test]
fn binary_answers_count_only_for_their_probe() {
    for probe in [ProbeId::Banner, ProbeId::Http, ProbeId::Redis] {
        assert_eq!(identify(probe_by_id(probe), b"N"), None);
    }
    assert_eq!(
        identify(probe_by_id(ProbeId::Banner), b"VERSION 1.6.18\r\n"),
        None
    );
    let mut foreign = mongo_op_reply();
    foreign[8] ^= 1; // responseTo not ours
    assert_eq!(identify(probe_by_id(ProbeId::Mongo), &foreign), None);
}

#[test]
fn unknown_replies_match_nothing() {
    let probe = probe_by_id(ProbeId::Banner);
    for reply in [
        &b""[..],
        b"hello\r\n",
        b"\0\0\0\0",
        b"220",
        b"HTTP/2 200",
        b"\x0a\0\0\0\x0aabc",
    ] {
        assert_eq!(identify(probe, reply), None, "{reply:?}");
    }
}

#[test]
fn a_cut_reply_never_names_another_service() {
    for e in examples() {
        for cut in 0..e.reply.len() {
            if let Some(found) = identify(probe_by_id(e.probe), &e.reply[..cut]) {
                assert_eq!(found.name, e.name, "{:?} cut at {cut}", e.reply);
            }
        }
    }
}

#[test]
fn product_tokens_split() {
    let d = product_token("Microsoft-IIS/10.0");
    assert_eq!(d.product.as_deref(), Some("Microsoft-IIS"));
    assert_eq!(d.version.as_deref(), Some("10.0"));
    let d = product_token("cloudflare");
    assert_eq!(
        (d.product.as_deref(), d.version),
        (Some("cloudflare"), None)
    );
}

/// A small deterministic generator (xorshift), so the noise tests below
/// are the same on every run.
fn noise(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn damaged_and_random_replies_never_panic() {
    let probes: Vec<_> = {
        let mut s = crate::service_probes::Session::new(0);
        std::iter::from_fn(|| s.next_probe()).collect()
    };
    let mut seed = 0x7261_776e_6574u64;
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for e in examples() {
        // Every length field sits in the first bytes: damage those.
        for at in 0..e.reply.len().min(48) {
            for value in [0x00, 0x7f, 0x80, 0xff] {
                let mut damaged = e.reply.clone();
                damaged[at] = value;
                inputs.push(damaged);
            }
        }
    }
    for _ in 0..500 {
        let len = (noise(&mut seed) % 300) as usize;
        inputs.push((0..len).map(|_| noise(&mut seed) as u8).collect());
    }
    for input in &inputs {
        for probe in &probes {
            let _ = identify(probe, input);
            let _ = crate::service_probes::settled(probe, input);
        }
        let _ = crate::udp_payloads::replies::dns_version_txt(input);
        let _ = crate::udp_payloads::replies::snmp_response(input);
    }
}
