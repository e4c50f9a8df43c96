//! Fuzzes `sock::icmp_error_from_control`, the reader of the ancillary
//! data `recvmsg(MSG_ERRQUEUE)` returns (the control-message walk and the
//! `sock_extended_err` of an ICMP error): whatever the lengths say, it
//! never reads outside the input nor panics, and a result is stable
//! under trailing bytes after the message that gave it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rawnet::sock::icmp_error_from_control;

fuzz_target!(|control: &[u8]| {
    let found = icmp_error_from_control(control);
    if found.is_some() {
        let mut longer = control.to_vec();
        longer.extend_from_slice(&[0xff; 32]);
        assert_eq!(icmp_error_from_control(&longer), found);
    }
});
