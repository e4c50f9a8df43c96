//! Fuzzes service detection's reply matching
//! (`service_probes::identify`, `service_probes::settled`) and the TLS
//! flight decoder (`service_probes::tls::read_flight`) with the bytes a
//! peer sends back: nothing may panic, and the answers must be consistent.
//!
//! Input layout: byte 0 picks the probe (index into the session order of
//! port 0, which holds every probe), the rest is the reply.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rawnet::service_probes::{identify, settled, tls, Session};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, reply)) = data.split_first() else {
        return;
    };
    let mut session = Session::new(0);
    let mut probes = Vec::new();
    while let Some(p) = session.next_probe() {
        probes.push(p);
    }
    let probe = probes[pick as usize % probes.len()];
    let found = identify(probe, reply);
    let _ = settled(probe, reply);
    if let Some(found) = &found {
        assert_eq!(found.probe, Some(probe.id));
        assert!(!found.name.is_empty());
    }
    // Matching reads at most max_reply bytes: what follows cannot matter.
    if reply.len() > probe.max_reply {
        assert_eq!(identify(probe, &reply[..probe.max_reply]), found);
    }
    if let Some(flight) = tls::read_flight(reply) {
        if let Some(cn) = &flight.subject_cn {
            assert!(cn.len() <= reply.len());
        }
    }
});
