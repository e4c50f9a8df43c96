//! Each payload is read back field by field (by code independent of the
//! builder where it matters: expected bytes written out by hand), and each
//! reply check is tried on a hand-made answer and on near misses.

use super::*;

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Labels of an uncompressed name at `at`, and the offset after it.
fn read_name(b: &[u8], mut at: usize) -> (Vec<String>, usize) {
    let mut labels = Vec::new();
    while b[at] != 0 {
        let len = b[at] as usize;
        labels.push(String::from_utf8(b[at + 1..at + 1 + len].to_vec()).unwrap());
        at += 1 + len;
    }
    (labels, at + 1)
}

#[test]
fn table_has_one_entry_per_port_and_distinct_names() {
    let ports = ports();
    let mut dedup = ports.clone();
    dedup.dedup();
    assert_eq!(ports, dedup);
    let mut names: Vec<_> = TABLE
        .iter()
        .flat_map(|(_, p)| p.iter().map(|p| p.name))
        .collect();
    let n = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), n, "payload names are unique");
    for (port, payloads) in TABLE.iter() {
        assert!(!payloads.is_empty(), "port {port}");
        for p in payloads {
            assert!(!p.source.is_empty(), "{} has a source", p.name);
        }
    }
}

#[test]
fn unknown_ports_get_one_empty_datagram() {
    for port in [0, 7, 51820, 65535] {
        let p = for_port(port);
        assert_eq!(p.len(), 1);
        assert!(p[0].bytes.is_empty());
        assert!((p[0].answered_by)(b"anything"));
    }
    assert!(for_port(514)[0].bytes.is_empty(), "syslog: empty");
}

#[test]
fn attempts_cycle_through_a_ports_payloads() {
    assert_eq!(for_attempt(161, 0).name, "snmpv2c-get-sysdescr");
    assert_eq!(for_attempt(161, 1).name, "snmpv1-get-sysdescr");
    assert_eq!(for_attempt(161, 2).name, "snmpv2c-get-sysdescr");
    assert_eq!(for_attempt(53, 5).name, "dns-version-bind");
    assert_eq!(for_attempt(40000, 3).name, "empty");
}

#[test]
fn dns_query_reads_back() {
    let q = &for_port(53)[0].bytes;
    assert_eq!(be16(q, 0), QUERY_ID);
    assert_eq!(be16(q, 2), 0, "standard query, no recursion");
    assert_eq!(
        [be16(q, 4), be16(q, 6), be16(q, 8), be16(q, 10)],
        [1, 0, 0, 0]
    );
    let (labels, at) = read_name(q, 12);
    assert_eq!(labels, ["version", "bind"]);
    assert_eq!((be16(q, at), be16(q, at + 2)), (TYPE_TXT, CLASS_CH));
    assert_eq!(q.len(), at + 4);
}

#[test]
fn dns_query_root_and_recursion() {
    let q = dns_query(1, "", 2, CLASS_IN, true);
    assert_eq!(be16(&q, 2), 0x0100);
    assert_eq!(&q[12..], &[0, 0, 2, 0, 1]);
}

#[test]
fn mdns_query_reads_back() {
    let q = &for_port(5353)[0].bytes;
    let (labels, at) = read_name(q, 12);
    assert_eq!(labels, ["_services", "_dns-sd", "_udp", "local"]);
    assert_eq!((be16(q, at), be16(q, at + 2)), (TYPE_PTR, CLASS_IN));
    assert_ne!(be16(q, 0), 0, "legacy unicast needs an ID to echo");
}

#[test]
fn ntp_request_is_a_v4_client_packet() {
    let q = &for_port(123)[0].bytes;
    assert_eq!(q.len(), 48);
    assert_eq!(q[0] >> 6, 0, "LI");
    assert_eq!((q[0] >> 3) & 7, 4, "VN");
    assert_eq!(q[0] & 7, 3, "mode client");
    assert!(q[1..40].iter().all(|b| *b == 0));
    assert_eq!(q[40..48], NTP_TRANSMIT);
}

#[test]
fn snmp_requests_are_the_hand_encoded_bytes() {
    let tail: &[u8] = &[
        0x04, 6, b'p', b'u', b'b', b'l', b'i', b'c', // community
        0xa0, 0x1a, // GetRequest
        0x02, 2, 0x72, 0x61, // request-id
        0x02, 1, 0, 0x02, 1, 0, // error-status, error-index
        0x30, 0x0e, 0x30, 0x0c, // varbind list, varbind
        0x06, 8, 0x2b, 6, 1, 2, 1, 1, 1, 0, // sysDescr.0
        0x05, 0, // NULL
    ];
    let v2c = [&[0x30, 0x27, 0x02, 1, 1][..], tail].concat();
    let v1 = [&[0x30, 0x27, 0x02, 1, 0][..], tail].concat();
    assert_eq!(for_port(161)[0].bytes, v2c);
    assert_eq!(for_port(161)[1].bytes, v1);
}

#[test]
fn ber_integers_use_the_fewest_bytes() {
    assert_eq!(ber_int(0), [2, 1, 0]);
    assert_eq!(ber_int(127), [2, 1, 0x7f]);
    assert_eq!(ber_int(128), [2, 2, 0, 0x80]);
    assert_eq!(ber_int(-1), [2, 1, 0xff]);
    assert_eq!(ber_int(-129), [2, 2, 0xff, 0x7f]);
    assert_eq!(ber_int(i32::MAX), [2, 4, 0x7f, 0xff, 0xff, 0xff]);
}

#[test]
fn ber_long_lengths() {
    let long = ber(0x04, &[0; 200]);
    assert_eq!(&long[..3], &[0x04, 0x81, 200]);
    let longer = ber(0x04, &[0; 300]);
    assert_eq!(&longer[..4], &[0x04, 0x82, 1, 44]);
}

#[test]
fn netbios_query_encodes_the_wildcard() {
    let q = &for_port(137)[0].bytes;
    assert_eq!(q.len(), 12 + 34 + 4);
    assert_eq!(q[12], 32);
    assert_eq!(&q[13..15], b"CK", "'*' is 0x2A");
    assert!(q[15..45].iter().all(|b| *b == b'A'), "NUL padding");
    assert_eq!(q[45], 0);
    assert_eq!((be16(q, 46), be16(q, 48)), (0x21, 1));
}

#[test]
fn rpc_calls_read_back() {
    for (i, proc_) in [(0, 0u32), (1, 4)] {
        let q = &for_port(111)[i].bytes;
        let words: Vec<u32> = q
            .chunks(4)
            .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(words, [RPC_XID, 0, 2, 100000, 2, proc_, 0, 0, 0, 0]);
    }
}

#[test]
fn dhcp_discover_reads_back() {
    let q = &for_port(67)[0].bytes;
    assert_eq!(q.len(), 249);
    assert_eq!(&q[..4], &[1, 1, 6, 0]);
    assert_eq!(q[4..8], RPC_XID.to_be_bytes());
    assert_eq!(q[28..34], DHCP_CHADDR);
    assert_eq!(q[236..240], [99, 130, 83, 99]);
    assert_eq!(q[240..243], [53, 1, 1]);
    assert_eq!(*q.last().unwrap(), 255);
}

#[test]
fn tftp_rrq_reads_back() {
    assert_eq!(for_port(69)[0].bytes, b"\0\x01rawnet-probe\0octet\0");
}

#[test]
fn ike_lengths_are_consistent() {
    let q = &for_port(500)[0].bytes;
    let total = u32::from_be_bytes(q[24..28].try_into().unwrap()) as usize;
    assert_eq!(total, q.len());
    assert_eq!((q[16], q[17], q[18]), (1, 0x10, 2), "SA, v1.0, main mode");
    let sa = &q[28..];
    assert_eq!(sa[0], 0, "SA is the last payload");
    assert_eq!(be16(sa, 2) as usize, sa.len());
    let proposal = &sa[12..];
    assert_eq!(be16(proposal, 2) as usize, proposal.len());
    assert_eq!(&proposal[4..8], &[1, 1, 0, 1]);
    let transform = &proposal[8..];
    assert_eq!(be16(transform, 2) as usize, transform.len());
    assert_eq!(transform.len(), 8 + 7 * 4);
}

#[test]
fn memcached_frame_reads_back() {
    let q = &for_port(11211)[0].bytes;
    assert_eq!(&q[..8], &[0x72, 0x61, 0, 0, 0, 1, 0, 0]);
    assert_eq!(&q[8..], b"version\r\n");
}

#[test]
fn ssdp_search_is_a_complete_request() {
    let q = String::from_utf8(for_port(1900)[0].bytes.clone()).unwrap();
    assert!(q.starts_with("M-SEARCH * HTTP/1.1\r\n"));
    assert!(q.contains("\r\nMAN: \"ssdp:discover\"\r\n"));
    assert!(q.ends_with("\r\n\r\n"));
}

/// A DNS answer to our query, made by hand, with a compressed owner name.
fn dns_answer(txt: &[u8]) -> Vec<u8> {
    let mut r = for_port(53)[0].bytes.clone();
    r[2] = 0x84; // QR, AA
    r[7] = 1; // ANCOUNT
    r.extend_from_slice(&[0xc0, 12, 0, 16, 0, 3, 0, 0, 0, 0]);
    r.extend_from_slice(&((txt.len() + 1) as u16).to_be_bytes());
    r.push(txt.len() as u8);
    r.extend_from_slice(txt);
    r
}

#[test]
fn dns_replies_are_recognised_and_read() {
    let r = dns_answer(b"dnsmasq-2.89");
    assert!(replies::dns(&r));
    assert_eq!(replies::dns_version_txt(&r), Some(&b"dnsmasq-2.89"[..]));
    assert!(
        !replies::dns(&for_port(53)[0].bytes),
        "a query is no answer"
    );
    for cut in 0..r.len() {
        assert_eq!(replies::dns_version_txt(&r[..cut]), None, "cut at {cut}");
    }
}

#[test]
fn snmp_replies_are_recognised_and_read() {
    let mut body = vec![0x02, 1, 1, 0x04, 6];
    body.extend_from_slice(b"public");
    let descr = b"Linux box 6.1";
    let value = ber(0x04, descr);
    let oid = ber(0x06, &SYS_DESCR_OID);
    let varbinds = ber(0x30, &ber(0x30, &[oid, value].concat()));
    let pdu = ber(
        0xa2,
        &[ber_int(SNMP_REQUEST_ID), ber_int(0), ber_int(0), varbinds].concat(),
    );
    body.extend_from_slice(&pdu);
    let reply = ber(0x30, &body);
    assert!(replies::snmp(&reply));
    let parsed = replies::snmp_response(&reply).unwrap();
    assert_eq!(parsed.version, 1);
    assert_eq!(parsed.community, b"public");
    assert_eq!(parsed.first_string, Some(&descr[..]));
    assert!(
        !replies::snmp(&for_port(161)[0].bytes),
        "a request is no answer"
    );
    for cut in 0..reply.len() {
        assert!(!replies::snmp(&reply[..cut]), "cut at {cut}");
    }
}

#[test]
fn other_replies_are_recognised() {
    let mut ntp = vec![0u8; 48];
    ntp[0] = 0x24;
    ntp[24..32].copy_from_slice(&NTP_TRANSMIT);
    assert!(replies::ntp(&ntp));
    assert!(!replies::ntp(&for_port(123)[0].bytes));

    let mut mc = memcached_udp(MEMCACHED_REQUEST_ID, b"VERSION 1.6.18\r\n");
    assert!(replies::memcached(&mc));
    mc[0] ^= 1;
    assert!(!replies::memcached(&mc));

    let mut rpc = RPC_XID.to_be_bytes().to_vec();
    rpc.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]);
    assert!(replies::rpc(&rpc));
    assert!(!replies::rpc(&for_port(111)[0].bytes));

    assert!(replies::tftp(b"\0\x05\0\x01File not found\0"));
    assert!(!replies::tftp(&for_port(69)[0].bytes));
    assert!(replies::ssdp(b"HTTP/1.1 200 OK\r\n\r\n"));

    let mut ike = for_port(500)[0].bytes.clone();
    ike[8..16].copy_from_slice(b"respndr!");
    assert!(replies::ike(&ike));

    let mut dhcp = for_port(67)[0].bytes.clone();
    dhcp[0] = 2;
    assert!(replies::dhcp(&dhcp));
    assert!(!replies::dhcp(&for_port(67)[0].bytes));

    let mut nb = for_port(137)[0].bytes.clone();
    assert!(!replies::netbios(&nb));
    nb[2] = 0x84;
    assert!(replies::netbios(&nb));
}
