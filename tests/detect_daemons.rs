//! The UDP payloads and the service signatures against real peers: Debian's
//! daemons and scripted Python servers, each in a network namespace of its
//! own (tests/daemons), on the non-standard ports (ssh 2222, http
//! 9999, redis 7000, TLS 8443, ...) or, for UDP, on the well-known ports
//! whose payload is under test.
//!
//! UDP: each payload goes out from a plain connected `std::net::UdpSocket`
//! and the reply must be an answer to *that* request
//! (`udp_payloads::replies`). TCP: the library runs the probe
//! sequence of `detect::Session` (a fresh connection per probe) as the
//! scan engine's detection sessions, through `scan::detection::detect`.
//!
//! Without root or a daemon's package a test fails with the reason, unless
//! `RAWNET_TEST_SKIP` names what is missing (tests/require, docs/testing.md);
//! with them, the daemon must start and answer.

mod daemons;
mod require;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use daemons::{tcp_peer, Netns, Peer};
use rawnet::scan::detection::{self, Service, ServiceConfig, ServiceSource};
use rawnet::udp_payloads::{self, replies};
use require::{or_skip, Skipped};

// ------------------------------------------------------------------ UDP

/// Starts `peer` on UDP `port` in a namespace and returns the namespace
/// with the reply to the port's first payload.
fn udp_peer(peer: Peer, port: u16) -> Result<(Netns, Vec<u8>), Skipped> {
    let mut ns = Netns::new()?;
    peer.start(&mut ns, port)?;
    let payload = &udp_payloads::for_port(port)[0];
    let reply = ns.udp_exchange(peer.name(), port, &payload.bytes);
    Ok((ns, reply))
}

#[test]
fn dns_payload_is_answered_by_dnsmasq_with_its_version() {
    let (_ns, reply) = or_skip!(udp_peer(Peer::Dnsmasq, 53));
    assert!(replies::dns(&reply), "{reply:?}");
    let txt = replies::dns_version_txt(&reply).expect("version.bind TXT");
    assert!(txt.starts_with(b"dnsmasq-"), "{txt:?}");
}

#[test]
fn mdns_payload_is_answered_as_a_dns_query() {
    // No mDNS responder is packaged for the tests; dnsmasq on 5353 parses
    // the legacy-unicast query as the DNS message it is and answers it.
    let (_ns, reply) = or_skip!(udp_peer(Peer::Dnsmasq, 5353));
    assert!(replies::dns(&reply), "{reply:?}");
}

#[test]
fn ntp_payload_is_answered_by_chrony() {
    let (_ns, reply) = or_skip!(udp_peer(Peer::Chrony, 123));
    assert!(replies::ntp(&reply), "{reply:?}");
}

#[test]
fn both_snmp_payloads_are_answered_by_snmpd_with_sysdescr() {
    let (mut ns, v2c) = or_skip!(udp_peer(Peer::Snmpd, 161));
    let v1 = ns.udp_exchange("snmpd", 161, &udp_payloads::for_port(161)[1].bytes);
    for (reply, version) in [(v2c, 1), (v1, 0)] {
        assert!(replies::snmp(&reply), "{reply:?}");
        let r = replies::snmp_response(&reply).unwrap();
        assert_eq!((r.version, r.community), (version, &b"public"[..]));
        let descr = r.first_string.expect("sysDescr.0 is an OCTET STRING");
        assert!(
            descr.starts_with(b"Linux"),
            "{:?}",
            String::from_utf8_lossy(descr)
        );
    }
}

#[test]
fn memcached_payload_is_answered_over_udp() {
    let (_ns, reply) = or_skip!(udp_peer(Peer::Memcached, 11211));
    assert!(replies::memcached(&reply), "{reply:?}");
}

#[test]
fn tftp_payload_is_answered_by_dnsmasq() {
    // With --tftp-single-port the answer comes from port 69, so the
    // connected socket sees it (see the udp_payloads module docs).
    let (_ns, reply) = or_skip!(udp_peer(Peer::DnsmasqTftp, 69));
    assert!(replies::tftp(&reply), "{reply:?}");
    assert_eq!(&reply[..2], &[0, 5], "ERROR: the file does not exist");
}

#[test]
fn both_portmapper_calls_are_answered_by_rpcbind() {
    let (mut ns, null) = or_skip!(udp_peer(Peer::Rpcbind, 111));
    let dump = ns.udp_exchange("rpcbind", 111, &udp_payloads::for_port(111)[1].bytes);
    assert!(replies::rpc(&null), "{null:?}");
    assert!(replies::rpc(&dump), "{dump:?}");
    assert!(dump.len() > null.len(), "DUMP lists the registrations");
}

#[test]
fn ike_payload_is_answered_by_charon() {
    let (_ns, reply) = or_skip!(udp_peer(Peer::Charon, 500));
    assert!(replies::ike(&reply), "{reply:?}");
}

/// Starts `peer` on the namespace's LAN address and returns the reply to
/// `port`'s first payload sent there.
fn udp_lan_peer(peer: Peer, port: u16) -> Result<(Netns, Vec<u8>), Skipped> {
    let mut ns = Netns::new()?;
    peer.start(&mut ns, port)?;
    let addr = SocketAddr::new(daemons::LAN_ADDR.parse().unwrap(), port);
    let payload = &udp_payloads::for_port(port)[0];
    let reply = ns.udp_exchange_to(peer.name(), addr, &payload.bytes);
    Ok((ns, reply))
}

#[test]
fn netbios_payload_is_answered_by_nmbd_with_its_names() {
    let (_ns, reply) = or_skip!(udp_lan_peer(Peer::Nmbd, 137));
    assert!(replies::netbios(&reply), "{reply:?}");
    let names = String::from_utf8_lossy(&reply);
    assert!(names.contains("RAWNETTEST"), "{names:?}");
}

#[test]
fn ssdp_payload_is_answered_by_minissdpd() {
    let (_ns, reply) = or_skip!(udp_lan_peer(Peer::Minissdpd, 1900));
    assert!(replies::ssdp(&reply), "{reply:?}");
    let text = String::from_utf8_lossy(&reply);
    assert!(text.contains("urn:rawnet-test:device:Probe:1"), "{text}");
}

#[test]
fn dhcp_payload_is_answered_by_dnsmasq_with_an_offer() {
    // The offer goes to the client port 68 (by broadcast, as the payload
    // asks), not to the sender's port: so this client sends from port 68
    // in a namespace of its own, linked to the server's by a veth pair.
    let mut server = or_skip!(Netns::new());
    let client = or_skip!(Netns::new());
    server.link(&client, daemons::DHCP_SERVER, daemons::DHCP_CLIENT);
    or_skip!(Peer::DnsmasqDhcp.start(&mut server, 67));
    let payload = udp_payloads::for_port(67)[0].bytes.clone();
    let reply = client.run(move || {
        let sock = std::net::UdpSocket::bind("0.0.0.0:68").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(250)))
            .unwrap();
        let start = Instant::now();
        let mut buf = vec![0u8; 1500];
        while start.elapsed() < daemons::READY_LIMIT {
            let _ = sock.send_to(&payload, (daemons::DHCP_SERVER, 67));
            if let Ok((n, _)) = sock.recv_from(&mut buf) {
                return Some(buf[..n].to_vec());
            }
        }
        None
    });
    let reply = reply.unwrap_or_else(|| panic!("no DHCP offer: {}", server.log("dnsmasq")));
    assert!(replies::dhcp(&reply), "{reply:?}");
    let offered = &reply[16..20];
    assert_eq!(offered[..3], [10, 231, 7], "yiaddr from the pool");
}

#[test]
fn every_payload_draws_port_unreachable_from_a_closed_port() {
    let ns = or_skip!(Netns::new());
    let refused = ns.run(|| {
        let mut refused = Vec::new();
        for port in udp_payloads::ports() {
            for payload in udp_payloads::for_port(port) {
                let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                sock.connect(("127.0.0.1", port)).unwrap();
                sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                sock.send(&payload.bytes).unwrap();
                let err = sock.recv(&mut [0u8; 1500]).unwrap_err();
                refused.push((payload.name, err.kind()));
            }
        }
        refused
    });
    for (name, kind) in refused {
        assert_eq!(kind, std::io::ErrorKind::ConnectionRefused, "{name}");
    }
}

// ------------------------------------------------------------------ TCP

/// Detection as `portscan -sV` runs it: the scan engine's detection
/// sessions (`scan::detection::detect`: the scan's connect, then the
/// session's probes in turn, each on a fresh connection), on one port.
/// A name from the port table (no signature matched) reads `unknown`.
fn detect(port: u16) -> Service {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let timeout = Duration::from_secs(2);
    let r = detection::detect(addr, timeout, &ServiceConfig::default()).expect("scan runs");
    let Some(mut found) = r.service.clone() else {
        panic!("{port} not open: {r:?}");
    };
    if found.source == ServiceSource::Table {
        found.name = "unknown";
    }
    found
}

/// Starts `peer` on `port` and runs detection against it in its
/// namespace.
fn detect_peer(peer: Peer, port: u16) -> Result<Service, Skipped> {
    let ns = tcp_peer(peer, port)?;
    if std::env::var_os("RAWNET_FUZZ_SEEDS").is_some() {
        let name = match peer {
            Peer::Scripted(proto) => format!("scripted-{proto}"),
            _ => format!("{peer:?}").to_lowercase(),
        };
        ns.run(move || save_replies(port, &name));
    }
    Ok(ns.run(move || detect(port)))
}

/// Seeds for fuzz/fuzz_targets/service_reply.rs: every probe's reply
/// from the peer on `port`, each prefixed with the probe's index in the
/// session order of port 0 (as the fuzz target reads it). Only with
/// `RAWNET_FUZZ_SEEDS` set; each read is bounded by the probe's wait.
fn save_replies(port: u16, peer: &str) {
    use std::io::{Read, Write};
    let mut session = rawnet::service_probes::Session::new(0);
    let mut index = 0u8;
    while let Some(probe) = session.next_probe() {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut reply = Vec::new();
        if let Ok(mut conn) = std::net::TcpStream::connect_timeout(&addr, probe.wait) {
            let deadline = Instant::now() + probe.wait;
            let _ = conn.write_all(&probe.payload);
            let mut buf = [0u8; 4096];
            while !rawnet::service_probes::settled(probe, &reply) {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() || conn.set_read_timeout(Some(left)).is_err() {
                    break;
                }
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => reply.extend_from_slice(&buf[..n]),
                }
            }
        }
        if !reply.is_empty() {
            let seed = [&[index][..], &reply].concat();
            daemons::save_seed("service_reply", &format!("{peer}-{}", probe.name), &seed);
        }
        index += 1;
    }
}

#[test]
fn sshd_on_2222_is_ssh_openssh() {
    let found = or_skip!(detect_peer(Peer::Sshd, 2222));
    assert_eq!(found.name, "ssh");
    assert_eq!(found.product.as_deref(), Some("OpenSSH"));
    assert!(found.version.is_some(), "{found:?}");
}

#[test]
fn nginx_on_9999_is_http_nginx() {
    let found = or_skip!(detect_peer(Peer::NginxHttp, 9999));
    assert_eq!(found.name, "http");
    assert_eq!(found.product.as_deref(), Some("nginx"));
    assert!(found.version.is_some(), "{found:?}");
}

#[test]
fn nginx_tls_on_8443_gives_version_and_certificate_cn() {
    let found = or_skip!(detect_peer(Peer::NginxHttps, 8443));
    assert_eq!(found.name, "ssl");
    let info = format!("TLSv1.2, CN={}", daemons::TLS_CN);
    assert_eq!(found.info, Some(info), "version and certificate CN");
}

#[test]
fn nginx_tls13_only_refuses_the_hello_and_is_still_ssl() {
    let found = or_skip!(detect_peer(Peer::NginxTls13Only, 8443));
    assert_eq!(found.name, "ssl");
    assert_eq!(
        found.info.as_deref(),
        Some("alert protocol_version"),
        "protocol_version, and no TLS version"
    );
}

#[test]
fn redis_on_7000_is_redis_with_version() {
    let found = or_skip!(detect_peer(Peer::Redis, 7000));
    assert_eq!(found.name, "redis");
    assert!(found.version.is_some(), "{found:?}");
}

#[test]
fn redis_with_a_password_is_still_redis() {
    let found = or_skip!(detect_peer(Peer::RedisWithPassword, 7001));
    assert_eq!(found.name, "redis");
    assert_eq!(found.version, None, "INFO needs the password");
}

#[test]
fn memcached_on_21211_is_memcached() {
    let found = or_skip!(detect_peer(Peer::Memcached, 21211));
    assert_eq!(found.name, "memcached");
    assert!(found.version.is_some(), "{found:?}");
}

#[test]
fn postgres_on_15432_is_postgresql() {
    let found = or_skip!(detect_peer(Peer::Postgres, 15432));
    assert_eq!(found.name, "postgresql");
}

#[test]
fn dnsmasq_over_tcp_on_5300_is_domain_dnsmasq() {
    let found = or_skip!(detect_peer(Peer::Dnsmasq, 5300));
    assert_eq!(found.name, "domain");
    assert_eq!(found.product.as_deref(), Some("dnsmasq"));
}

/// The scripted peers: (protocol, port, expected service, product).
const SCRIPTED: &[(&str, u16, &str, Option<&str>)] = &[
    ("ftp", 2121, "ftp", Some("vsftpd")),
    ("smtp", 2525, "smtp", Some("Postfix")),
    ("pop3", 1110, "pop3", Some("Dovecot")),
    ("imap", 1143, "imap", Some("Dovecot")),
    ("mysql", 13306, "mysql", Some("MariaDB")),
    ("mongodb", 37017, "mongodb", Some("MongoDB")),
    (
        "rdp",
        13389,
        "ms-wbt-server",
        Some("Microsoft Terminal Services"),
    ),
    ("unknown", 4444, "unknown", None),
];

fn scripted(protocol: &str) {
    let &(proto, port, name, product) = SCRIPTED.iter().find(|s| s.0 == protocol).unwrap();
    let found = or_skip!(detect_peer(Peer::Scripted(proto), port));
    assert_eq!(found.name, name, "{found:?}");
    assert_eq!(found.product.as_deref(), product, "{found:?}");
}

#[test]
fn scripted_ftp_is_ftp() {
    scripted("ftp");
}

#[test]
fn scripted_smtp_is_smtp() {
    scripted("smtp");
}

#[test]
fn scripted_pop3_is_pop3() {
    scripted("pop3");
}

#[test]
fn scripted_imap_is_imap() {
    scripted("imap");
}

#[test]
fn scripted_mariadb_is_mysql() {
    scripted("mysql");
}

#[test]
fn scripted_mongodb_is_mongodb() {
    scripted("mongodb");
}

#[test]
fn scripted_rdp_is_ms_wbt_server() {
    scripted("rdp");
}

#[test]
fn a_service_no_signature_knows_is_unknown() {
    scripted("unknown");
}
