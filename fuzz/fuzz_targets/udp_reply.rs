//! Fuzzes the UDP reply decoders (`udp_payloads::replies`): the structural
//! check of every payload (DNS, NTP, SNMP, NetBIOS, SSDP, RPC, DHCP, TFTP,
//! IKE, memcached), the DNS TXT reader and the SNMP BER reader, with a
//! datagram a peer sent. Nothing may panic and every reader stays within
//! the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rawnet::udp_payloads::{self, replies};

fuzz_target!(|reply: &[u8]| {
    for check in [
        replies::any,
        replies::dns,
        replies::ntp,
        replies::snmp,
        replies::netbios,
        replies::ssdp,
        replies::rpc,
        replies::dhcp,
        replies::tftp,
        replies::ike,
        replies::memcached,
    ] {
        let _ = check(reply);
    }
    if let Some(txt) = replies::dns_version_txt(reply) {
        assert!(txt.len() <= reply.len());
    }
    if let Some(r) = replies::snmp_response(reply) {
        assert!(r.community.len() <= reply.len());
        if let Some(s) = r.first_string {
            assert!(s.len() <= reply.len());
        }
        assert_eq!(
            replies::snmp(reply),
            r.request_id == udp_payloads::SNMP_REQUEST_ID
        );
    }
    // The table's own checks, as the scan uses them.
    for port in udp_payloads::ports() {
        for payload in udp_payloads::for_port(port) {
            let _ = (payload.answered_by)(reply);
        }
    }
});
