//! Fuzzes `http::tls::describe`, which turns a server's DER certificate
//! into the subject, issuer, SANs, validity and fingerprint rawget shows
//! (x509-parser underneath): nothing may panic, the fingerprint is always
//! there, and the dates are RFC 3339 when present.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rawnet::http::tls::describe;

fuzz_target!(|der: &[u8]| {
    let info = describe(der);
    assert_eq!(info.sha256.len(), 64);
    for date in [&info.not_before, &info.not_after] {
        assert!(date.is_empty() || date.ends_with('Z'), "{date}");
    }
});
