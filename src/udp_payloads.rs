//! What to send to a UDP port so that the service behind it answers.
//!
//! An unprivileged UDP scan learns that a port is open only from a reply
//! datagram, and most UDP services stay silent unless they receive a
//! request they understand: an empty datagram gets nothing from a DNS,
//! NTP or SNMP server. So for well-known ports this module builds a valid,
//! harmless request, each written from its specification (no bytes are
//! copied from other scanners). Every other port gets an empty datagram,
//! which still draws the ICMP port-unreachable of a closed port.
//!
//! The module only builds bytes: it opens no socket and keeps no state, so
//! the scan engine (which owns sockets, timing and retries) and the tests
//! use the same table. The bytes are built once, on first use.
//!
//! # The table
//!
//! | port | payload | source | answered in the tests by |
//! |---|---|---|---|
//! | 53 | DNS query `version.bind` CH TXT | RFC 1035 §4.1; CHAOS class §3.2.4 | dnsmasq |
//! | 5353 | mDNS legacy unicast query `_services._dns-sd._udp.local` PTR | RFC 6762 §6.7, RFC 6763 §9 | dnsmasq (as DNS) |
//! | 67 | DHCPDISCOVER (BOOTREQUEST, broadcast flag) | RFC 2131 §4.4.1, RFC 2132 (options) | dnsmasq (offer to port 68) |
//! | 69 | TFTP read request `rawnet-probe`, octet mode | RFC 1350 §5 | dnsmasq `--tftp-single-port` |
//! | 111 | ONC RPC call to portmapper v2: NULL, then DUMP | RFC 5531 §9, RFC 1833 §3 | rpcbind |
//! | 123 | NTPv4 client request (mode 3) | RFC 5905 §7.3 | chronyd |
//! | 137 | NetBIOS node status request for `*` | RFC 1002 §4.2.17 | Samba nmbd |
//! | 161 | SNMPv2c, then SNMPv1, GetRequest `public` sysDescr.0 | RFC 3416 §3, RFC 1157 §4.1.2, RFC 3418 | snmpd |
//! | 500 | IKEv1 main mode, one ISAKMP SA proposal | RFC 2408 §3, RFC 2409 §5 | strongSwan charon |
//! | 514 | empty (syslog never answers) | RFC 5426 §3 | (nothing answers) |
//! | 1900 | SSDP M-SEARCH `ssdp:all` | UPnP Device Architecture 2.0 §1.3.2 | minissdpd |
//! | 11211 | memcached UDP frame header + `version\r\n` | memcached `protocol.txt` (UDP, `version`) | memcached `-U` |
//! | 51820 and every other port | empty | WireGuard answers no unauthenticated packet | (kernel: port-unreachable when closed) |
//!
//! A port may have several payloads: the engine sends the first, and the
//! next ones on retries (cycling), so a server that ignores one dialect
//! (SNMPv2c) can still answer the other (SNMPv1).
//!
//! # Things that are not what they look like
//!
//! - **TFTP answers from another port.** A TFTP server replies from a fresh
//!   port (its transfer identifier, RFC 1350 §4), so a *connected* UDP
//!   socket never sees the reply, only a server that replies from port 69
//!   (dnsmasq `--tftp-single-port`) is seen; an unconnected socket sees
//!   both. The request still makes a closed port answer port-unreachable.
//! - **DHCP answers to port 68.** A server sends its DHCPOFFER to the
//!   client port (or broadcasts it), not to the scanner's source port; the
//!   payload matters for servers that answer a request they can parse and
//!   for the ICMP of a closed port.
//! - **mDNS answers a unicast query only as "legacy unicast".** RFC 6762
//!   §6.7: a query from a source port other than 5353 gets a unicast reply
//!   echoing its ID; that is what a scanner relies on.
//! - **Some daemons answer only their LAN.** minissdpd ignores an M-SEARCH
//!   from a loopback address, and nmbd serves only broadcast-capable
//!   interfaces: probed over loopback they look `open|filtered`.
//! - **Syslog and WireGuard never answer**: an open port stays
//!   `open|filtered`, by design of those protocols.
//!
//! The query IDs and transaction numbers are fixed (ASCII `ra`, `wn`) so
//! that a reply can be recognised in a packet capture; nothing here needs
//! unpredictability, because no state is created on the other side.

use std::sync::LazyLock;

pub mod replies;

/// One request datagram for a UDP service.
#[derive(Debug, Clone)]
pub struct Payload {
    /// Short name of the request, e.g. `dns-version-bind`.
    pub name: &'static str,
    /// Where its format comes from (RFC and section).
    pub source: &'static str,
    /// The datagram. Empty for ports without a payload.
    pub bytes: Vec<u8>,
    /// True when a datagram is a well-formed answer to *this* request
    /// (right message type, our ID echoed). The port is open on any reply;
    /// this says whether the reply came from the service we spoke to.
    pub answered_by: fn(&[u8]) -> bool,
}

/// The DNS / NetBIOS / RPC transaction ID used by every request here.
pub const QUERY_ID: u16 = 0x7261; // "ra"

/// DNS class CHAOS (RFC 1035 §3.2.4).
pub const CLASS_CH: u16 = 3;
/// DNS class IN.
pub const CLASS_IN: u16 = 1;
/// DNS type TXT.
pub const TYPE_TXT: u16 = 16;
/// DNS type PTR.
pub const TYPE_PTR: u16 = 12;

/// The NTP transmit timestamp our client request carries; a server copies
/// it into the origin timestamp of its reply (RFC 5905 §8).
pub const NTP_TRANSMIT: [u8; 8] = *b"rawnetNT";

/// The SNMP request-id of our GetRequests.
pub const SNMP_REQUEST_ID: i32 = 0x7261;

/// The memcached UDP request id.
pub const MEMCACHED_REQUEST_ID: u16 = QUERY_ID;

/// The ONC RPC transaction id (xid) of the portmapper calls.
pub const RPC_XID: u32 = 0x7261_776e; // "rawn"

/// The ports with a payload of their own and what they get; built on
/// first use.
static TABLE: LazyLock<Vec<(u16, Vec<Payload>)>> = LazyLock::new(|| {
    vec![
        (53, vec![dns_payload()]),
        (67, vec![dhcp_payload()]),
        (69, vec![tftp_payload()]),
        (
            111,
            vec![
                rpc_payload(0, "rpc-portmap-null"),
                rpc_payload(4, "rpc-portmap-dump"),
            ],
        ),
        (123, vec![ntp_payload()]),
        (137, vec![netbios_payload()]),
        (
            161,
            vec![
                snmp_payload(1, "snmpv2c-get-sysdescr"),
                snmp_payload(0, "snmpv1-get-sysdescr"),
            ],
        ),
        (500, vec![ike_payload()]),
        (
            514,
            vec![empty(
                "syslog-empty",
                "RFC 5426 §3: syslog over UDP is one-way",
            )],
        ),
        (1900, vec![ssdp_payload()]),
        (5353, vec![mdns_payload()]),
        (11211, vec![memcached_payload()]),
    ]
});

/// The empty datagram every port without an entry gets.
static EMPTY: LazyLock<[Payload; 1]> = LazyLock::new(|| {
    [empty(
        "empty",
        "no payload: draws the ICMP port-unreachable of a closed port; \
         WireGuard and similar protocols answer nothing unauthenticated",
    )]
});

/// The payloads for UDP `port`, in the order to try them; never empty
/// (ports without an entry get one empty datagram).
///
/// ```
/// let dns = rawnet::udp_payloads::for_port(53);
/// assert_eq!(dns[0].name, "dns-version-bind");
/// assert!(rawnet::udp_payloads::for_port(40000)[0].bytes.is_empty());
/// ```
pub fn for_port(port: u16) -> &'static [Payload] {
    TABLE
        .iter()
        .find(|(p, _)| *p == port)
        .map(|(_, payloads)| payloads.as_slice())
        .unwrap_or(EMPTY.as_slice())
}

/// The payload for attempt `attempt` (0 = first) of `port`: the entries
/// of [`for_port`] in turn, cycling.
pub fn for_attempt(port: u16, attempt: u32) -> &'static Payload {
    let all = for_port(port);
    &all[attempt as usize % all.len()]
}

/// Every port with a payload of its own, ascending.
pub fn ports() -> Vec<u16> {
    let mut ports: Vec<u16> = TABLE.iter().map(|(p, _)| *p).collect();
    ports.sort_unstable();
    ports
}

fn empty(name: &'static str, source: &'static str) -> Payload {
    Payload {
        answered_by: replies::any,
        name,
        source,
        bytes: Vec::new(),
    }
}

// ---------------------------------------------------------------- DNS

/// A DNS query message (RFC 1035 §4.1): header with `id`, the RD bit as
/// given, one question for `name` (dotted, no trailing dot needed; `""`
/// is the root) of `qtype`/`qclass`.
///
/// Labels longer than 63 bytes are cut to 63: the callers pass constants.
pub fn dns_query(id: u16, name: &str, qtype: u16, qclass: u16, recursion: bool) -> Vec<u8> {
    let mut m = Vec::with_capacity(12 + name.len() + 6);
    m.extend_from_slice(&id.to_be_bytes());
    // QR=0 (query), OPCODE=0 (standard), RD as asked.
    let flags: u16 = if recursion { 0x0100 } else { 0 };
    m.extend_from_slice(&flags.to_be_bytes());
    for count in [1u16, 0, 0, 0] {
        // QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT
        m.extend_from_slice(&count.to_be_bytes());
    }
    push_dns_name(&mut m, name);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&qclass.to_be_bytes());
    m
}

/// Appends `name` as a sequence of length-prefixed labels ending in the
/// root label (RFC 1035 §3.1).
fn push_dns_name(m: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let label = &label.as_bytes()[..label.len().min(63)];
        m.push(label.len() as u8);
        m.extend_from_slice(label);
    }
    m.push(0);
}

/// `version.bind` CH TXT: answered by BIND, dnsmasq, Unbound, Knot and
/// PowerDNS from their own configuration (or refused), so it makes a
/// resolver answer without sending anything upstream.
fn dns_payload() -> Payload {
    Payload {
        answered_by: replies::dns,
        name: "dns-version-bind",
        source: "RFC 1035 §4.1 (query), §3.2.4 (class CH)",
        bytes: dns_query(QUERY_ID, "version.bind", TYPE_TXT, CLASS_CH, false),
    }
}

/// DNS-SD service enumeration (RFC 6763 §9), sent as a legacy unicast
/// query (RFC 6762 §6.7) so the responder answers to our port, echoing
/// the ID.
fn mdns_payload() -> Payload {
    Payload {
        answered_by: replies::dns,
        name: "mdns-services",
        source: "RFC 6762 §6.7 (legacy unicast), RFC 6763 §9 (service enumeration)",
        bytes: dns_query(
            QUERY_ID,
            "_services._dns-sd._udp.local",
            TYPE_PTR,
            CLASS_IN,
            false,
        ),
    }
}

// ---------------------------------------------------------------- NTP

/// A 48-byte NTPv4 client packet (RFC 5905 §7.3): LI 0, VN 4, mode 3;
/// every field zero but the transmit timestamp, which the server echoes
/// as the origin timestamp.
pub fn ntp_client_request() -> Vec<u8> {
    let mut m = vec![0u8; 48];
    m[0] = 4 << 3 | 3; // LI = 0, VN = 4, Mode = 3 (client)
    m[40..48].copy_from_slice(&NTP_TRANSMIT);
    m
}

fn ntp_payload() -> Payload {
    Payload {
        answered_by: replies::ntp,
        name: "ntp-client",
        source: "RFC 5905 §7.3 (packet header), mode 3",
        bytes: ntp_client_request(),
    }
}

// ---------------------------------------------------------------- SNMP

/// One BER TLV with a definite length (X.690 §8.1.3: short form below
/// 128, long form above).
fn ber(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    let len = content.len();
    if len < 0x80 {
        m.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        m.push(0x80 | (4 - skip) as u8);
        m.extend_from_slice(&bytes[skip..]);
    }
    m.extend_from_slice(content);
    m
}

/// A BER INTEGER in the fewest two's-complement bytes (X.690 §8.3).
fn ber_int(v: i32) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 3 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        let redundant = (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    ber(0x02, &bytes[start..])
}

/// The OID 1.3.6.1.2.1.1.1.0 (sysDescr.0, RFC 3418), BER-encoded content
/// (X.690 §8.19: first two arcs as 40 * 1 + 3).
const SYS_DESCR_OID: [u8; 8] = [0x2b, 6, 1, 2, 1, 1, 1, 0];

/// An SNMP GetRequest for sysDescr.0 with community `public`:
/// `version` 0 is SNMPv1 (RFC 1157 §4.1.2), 1 is SNMPv2c (RFC 1901, PDU of
/// RFC 3416 §3); both share this layout.
pub fn snmp_get_sysdescr(version: i32, request_id: i32) -> Vec<u8> {
    let varbind = ber(0x30, &[ber(0x06, &SYS_DESCR_OID), ber(0x05, &[])].concat());
    let varbinds = ber(0x30, &varbind);
    let pdu = ber(
        0xa0, // GetRequest-PDU, [0] IMPLICIT SEQUENCE
        &[ber_int(request_id), ber_int(0), ber_int(0), varbinds].concat(),
    );
    ber(
        0x30,
        &[ber_int(version), ber(0x04, b"public"), pdu].concat(),
    )
}

fn snmp_payload(version: i32, name: &'static str) -> Payload {
    Payload {
        answered_by: replies::snmp,
        name,
        source: "RFC 3416 §3 / RFC 1157 §4.1.2 (GetRequest), RFC 3418 (sysDescr)",
        bytes: snmp_get_sysdescr(version, SNMP_REQUEST_ID),
    }
}

// ---------------------------------------------------------------- NetBIOS

/// A NetBIOS node status request for the wildcard name `*` (RFC 1002
/// §4.2.17; name encoding §4.1 / RFC 1001 §14.1: each nibble plus `A`).
pub fn netbios_node_status(id: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(50);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&0u16.to_be_bytes()); // opcode query, no flags
    for count in [1u16, 0, 0, 0] {
        m.extend_from_slice(&count.to_be_bytes());
    }
    let mut name = [0u8; 16];
    name[0] = b'*';
    m.push(32);
    for b in name {
        m.push(b'A' + (b >> 4));
        m.push(b'A' + (b & 0x0f));
    }
    m.push(0);
    m.extend_from_slice(&0x0021u16.to_be_bytes()); // NBSTAT
    m.extend_from_slice(&CLASS_IN.to_be_bytes());
    m
}

fn netbios_payload() -> Payload {
    Payload {
        answered_by: replies::netbios,
        name: "netbios-node-status",
        source: "RFC 1002 §4.2.17 (NODE STATUS REQUEST), §4.1 (name encoding)",
        bytes: netbios_node_status(QUERY_ID),
    }
}

// ---------------------------------------------------------------- SSDP

/// A unicast-safe SSDP search for every device and service.
fn ssdp_payload() -> Payload {
    Payload {
        answered_by: replies::ssdp,
        name: "ssdp-msearch",
        source: "UPnP Device Architecture 2.0 §1.3.2 (M-SEARCH)",
        bytes: b"M-SEARCH * HTTP/1.1\r\n\
                 HOST: 239.255.255.250:1900\r\n\
                 MAN: \"ssdp:discover\"\r\n\
                 MX: 1\r\n\
                 ST: ssdp:all\r\n\
                 \r\n"
            .to_vec(),
    }
}

// ---------------------------------------------------------------- ONC RPC

/// An ONC RPC v2 call (RFC 5531 §9) to the portmapper (program 100000,
/// version 2, RFC 1833 §3) for `procedure` (0 NULL, 4 DUMP), with
/// AUTH_NONE credentials and verifier. Over UDP there is no record mark.
pub fn rpc_portmap_call(xid: u32, procedure: u32) -> Vec<u8> {
    let words: [u32; 10] = [
        xid, 0,      // msg_type CALL
        2,      // rpcvers
        100000, // prog: portmapper
        2,      // vers
        procedure, 0, 0, // cred: AUTH_NONE, length 0
        0, 0, // verf: AUTH_NONE, length 0
    ];
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

fn rpc_payload(procedure: u32, name: &'static str) -> Payload {
    Payload {
        answered_by: replies::rpc,
        name,
        source: "RFC 5531 §9 (call), RFC 1833 §3 (portmapper v2 NULL/DUMP)",
        bytes: rpc_portmap_call(RPC_XID, procedure),
    }
}

// ---------------------------------------------------------------- DHCP

/// The client hardware address of our DHCPDISCOVER: a locally
/// administered MAC (bit 1 of the first octet set) spelling `rawnet`.
pub const DHCP_CHADDR: [u8; 6] = [0x02, b'a', b'w', b'n', b'e', b't'];

/// A BOOTP/DHCPDISCOVER message (RFC 2131 §2, §4.4.1; options RFC 2132):
/// 236 fixed bytes, the magic cookie, message type 1, a parameter request
/// list (subnet mask, router, DNS), end.
pub fn dhcp_discover(xid: u32) -> Vec<u8> {
    let mut m = vec![0u8; 236];
    m[0] = 1; // op: BOOTREQUEST
    m[1] = 1; // htype: Ethernet
    m[2] = 6; // hlen
    m[4..8].copy_from_slice(&xid.to_be_bytes());
    m[10] = 0x80; // flags: broadcast
    m[28..34].copy_from_slice(&DHCP_CHADDR);
    m.extend_from_slice(&[99, 130, 83, 99]); // magic cookie
    m.extend_from_slice(&[53, 1, 1]); // DHCP message type: DISCOVER
    m.extend_from_slice(&[55, 3, 1, 3, 6]); // parameter request list
    m.push(255); // end
    m
}

fn dhcp_payload() -> Payload {
    Payload {
        answered_by: replies::dhcp,
        name: "dhcp-discover",
        source: "RFC 2131 §2 and §4.4.1 (DHCPDISCOVER), RFC 2132 (options)",
        bytes: dhcp_discover(RPC_XID),
    }
}

// ---------------------------------------------------------------- TFTP

/// A TFTP read request (RFC 1350 §5, opcode 1) for `file` in `octet`
/// mode. A server without the file answers ERROR (opcode 5).
pub fn tftp_read_request(file: &str) -> Vec<u8> {
    let mut m = vec![0, 1];
    m.extend_from_slice(file.as_bytes());
    m.push(0);
    m.extend_from_slice(b"octet\0");
    m
}

fn tftp_payload() -> Payload {
    Payload {
        answered_by: replies::tftp,
        name: "tftp-rrq",
        source: "RFC 1350 §5 (RRQ)",
        bytes: tftp_read_request("rawnet-probe"),
    }
}

// ---------------------------------------------------------------- IKE

/// The initiator cookie of our ISAKMP message.
pub const IKE_COOKIE: [u8; 8] = *b"rawnetIK";

/// An IKEv1 main-mode first message (RFC 2408 §3.1 header, §3.4 SA,
/// §3.5 proposal, §3.6 transform; attributes RFC 2409 appendix A): one
/// ISAKMP proposal with one transform (AES-128-CBC, SHA-1, pre-shared
/// key, MODP group 14, 8 hours). A responder answers with its SA choice or
/// a NO-PROPOSAL-CHOSEN notification; either way, it answers.
pub fn ike_main_mode() -> Vec<u8> {
    // Data attributes, all in the short TV form (AF bit set).
    let attrs: &[(u16, u16)] = &[
        (1, 7),      // encryption: AES-CBC
        (14, 128),   // key length
        (2, 2),      // hash: SHA
        (3, 1),      // authentication: pre-shared key
        (4, 14),     // group: MODP 2048
        (11, 1),     // life type: seconds
        (12, 28800), // life duration
    ];
    let mut transform = vec![0, 0, 0, 0, 1, 1, 0, 0]; // next none, len, #1, KEY_IKE
    for (t, v) in attrs {
        transform.extend_from_slice(&(0x8000 | t).to_be_bytes());
        transform.extend_from_slice(&v.to_be_bytes());
    }
    set_len16(&mut transform, 2);
    // Proposal #1, protocol ISAKMP, SPI size 0, one transform.
    let mut proposal = vec![0, 0, 0, 0, 1, 1, 0, 1];
    proposal.extend_from_slice(&transform);
    set_len16(&mut proposal, 2);
    // SA payload: DOI IPsec (1), situation SIT_IDENTITY_ONLY (1).
    let mut sa = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1];
    sa.extend_from_slice(&proposal);
    set_len16(&mut sa, 2);
    let mut m = Vec::with_capacity(28 + sa.len());
    m.extend_from_slice(&IKE_COOKIE); // initiator cookie
    m.extend_from_slice(&[0; 8]); // responder cookie
    m.push(1); // next payload: SA
    m.push(0x10); // version 1.0
    m.push(2); // exchange: identity protection (main mode)
    m.push(0); // flags
    m.extend_from_slice(&[0; 4]); // message id
    m.extend_from_slice(&[0; 4]); // length, set below
    m.extend_from_slice(&sa);
    let len = m.len() as u32;
    m[24..28].copy_from_slice(&len.to_be_bytes());
    m
}

/// Writes `v.len()` as a big-endian u16 at `at`.
fn set_len16(v: &mut [u8], at: usize) {
    let len = v.len() as u16;
    v[at..at + 2].copy_from_slice(&len.to_be_bytes());
}

fn ike_payload() -> Payload {
    Payload {
        answered_by: replies::ike,
        name: "ike-main-mode",
        source: "RFC 2408 §3 (ISAKMP), RFC 2409 §5 and appendix A (IKEv1 main mode)",
        bytes: ike_main_mode(),
    }
}

// ---------------------------------------------------------------- memcached

/// A memcached UDP request: the 8-byte frame header (request id,
/// sequence 0, 1 datagram, reserved) and one text command.
pub fn memcached_udp(request_id: u16, command: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(8 + command.len());
    m.extend_from_slice(&request_id.to_be_bytes());
    m.extend_from_slice(&0u16.to_be_bytes()); // sequence number
    m.extend_from_slice(&1u16.to_be_bytes()); // total datagrams
    m.extend_from_slice(&0u16.to_be_bytes()); // reserved
    m.extend_from_slice(command);
    m
}

fn memcached_payload() -> Payload {
    Payload {
        answered_by: replies::memcached,
        name: "memcached-version",
        source: "memcached protocol.txt: UDP frame header, `version` command",
        bytes: memcached_udp(MEMCACHED_REQUEST_ID, b"version\r\n"),
    }
}

#[cfg(test)]
mod tests;
