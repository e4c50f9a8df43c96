//! Fuzzes the port specifications of `-p` (`ports::PortSpec`,
//! `ports::ProtoPorts` with `T:`/`U:` prefixes): nothing may panic, and a
//! spec that parses prints (Display) as a spec that parses to the same
//! ports.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rawnet::ports::{PortSpec, ProtoPorts};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(spec) = text.parse::<PortSpec>() {
        let again: PortSpec = spec
            .to_string()
            .parse()
            .unwrap_or_else(|e| panic!("{spec} does not parse back: {e}"));
        assert_eq!(again.ranges(), spec.ranges());
        assert_eq!(again.len(), spec.len());
        if let Some(last) = spec.len().checked_sub(1) {
            let port = spec.nth(last).unwrap();
            assert!(spec.contains(port));
        }
    }
    let _ = text.parse::<ProtoPorts>();
});
