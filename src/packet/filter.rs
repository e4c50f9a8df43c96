//! The socket filter of the raw TCP sockets of a SYN scan, as a classic
//! BPF program (bytes-only: [`crate::rawsock::RawSocket::attach_filter`]
//! attaches it).
//!
//! # Why
//!
//! A raw `IPPROTO_TCP` socket gets a copy of every TCP packet for its
//! address: on loopback that includes each SYN we send (it comes back in
//! on `lo`), and on a busy machine every other program's traffic. Each
//! copy is queued, woken for, read with `recvmmsg()` and rejected by the
//! [`crate::packet::Validator`]: on a loopback scan of 65,535 ports, half
//! the packets read were our own SYNs. The filter lets through only what
//! may answer a probe: a segment with ACK or RST set, to a port of our
//! source range ([`PORT_BASE`] and above). The kernel runs it before it
//! queues the packet; what it rejects costs no copy and no wake-up. It
//! proves nothing (the validator still checks the cookie of every packet
//! it passes): it only sheds what cannot be an answer.

use super::cookie::PORT_BASE;

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    /// Operation.
    pub code: u16,
    /// Instructions skipped when a jump's condition holds.
    pub jt: u8,
    /// Instructions skipped when it does not.
    pub jf: u8,
    /// Operand.
    pub k: u32,
}

// The classic BPF opcodes the program uses (linux/filter.h).
const LDX_B_MSH: u16 = 0x01 | 0x10 | 0xa0;
const LD_H_ABS: u16 = 0x28;
const LD_B_ABS: u16 = 0x30;
const LD_H_IND: u16 = 0x48;
const LD_B_IND: u16 = 0x50;
const JGE_K: u16 = 0x05 | 0x30;
const JSET_K: u16 = 0x05 | 0x40;
const RET_K: u16 = 0x06;

const FLAG_RST: u32 = 0x04;
const FLAG_ACK: u32 = 0x10;
/// What an accepted packet keeps: all of it.
const WHOLE: u32 = 0xffff;

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
    Insn { code, jt, jf, k }
}

/// The filter of a raw TCP socket (see the module docs). An IPv4 socket
/// sees the IP header first (its length in the low nibble of the first
/// byte); an IPv6 one the TCP header.
pub fn tcp_replies(v6: bool) -> Vec<Insn> {
    let (port, flags) = if v6 {
        (insn(LD_H_ABS, 0, 0, 2), insn(LD_B_ABS, 0, 0, 13))
    } else {
        (insn(LD_H_IND, 0, 0, 2), insn(LD_B_IND, 0, 0, 13))
    };
    let mut program = Vec::with_capacity(7);
    if !v6 {
        // X = the IPv4 header's length.
        program.push(insn(LDX_B_MSH, 0, 0, 0));
    }
    program.extend([
        // Destination port below our range: drop.
        port,
        insn(JGE_K, 0, 3, u32::from(PORT_BASE)),
        // Neither ACK nor RST (a SYN, ours on loopback): drop.
        flags,
        insn(JSET_K, 0, 1, FLAG_ACK | FLAG_RST),
        insn(RET_K, 0, 0, WHOLE),
        insn(RET_K, 0, 0, 0),
    ]);
    program
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `program` over `packet` as the kernel would, for the opcodes
    /// it uses: the bytes kept (0: dropped). A load past the end drops.
    fn run(program: &[Insn], packet: &[u8]) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let byte = |i: usize| packet.get(i).copied().map(u32::from);
        let half = |i: usize| Some((byte(i)? << 8) | byte(i + 1)?);
        loop {
            let i = program[pc];
            pc += 1;
            let k = i.k as usize;
            let ix = x as usize + k;
            let loaded = match i.code {
                LDX_B_MSH => {
                    let Some(b) = byte(k) else { return 0 };
                    x = 4 * (b & 0xf);
                    continue;
                }
                LD_H_ABS => half(k),
                LD_B_ABS => byte(k),
                LD_H_IND => half(ix),
                LD_B_IND => byte(ix),
                JGE_K | JSET_K => {
                    let hold = if i.code == JGE_K {
                        a >= i.k
                    } else {
                        a & i.k != 0
                    };
                    pc += usize::from(if hold { i.jt } else { i.jf });
                    continue;
                }
                RET_K => return i.k,
                other => panic!("opcode {other:#x} not modelled"),
            };
            match loaded {
                Some(v) => a = v,
                None => return 0,
            }
        }
    }

    fn tcp(dport: u16, flags: u8) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&80u16.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = flags;
        t
    }

    fn ipv4(options: usize, segment: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 20 + options];
        p[0] = 0x40 | ((20 + options) / 4) as u8;
        p[9] = 6;
        p.extend_from_slice(segment);
        p
    }

    #[test]
    fn only_acks_and_resets_to_our_ports_pass() {
        let v4 = tcp_replies(false);
        let v6 = tcp_replies(true);
        for (flags, pass) in [
            (0x12, true),
            (0x14, true),
            (0x04, true),
            (0x02, false),
            (0x01, false),
        ] {
            for dport in [PORT_BASE, 65535] {
                let keep = |n: u32| (n != 0) == pass;
                assert!(
                    keep(run(&v4, &ipv4(0, &tcp(dport, flags)))),
                    "{flags:#x} {dport}"
                );
                assert!(
                    keep(run(&v4, &ipv4(8, &tcp(dport, flags)))),
                    "options {flags:#x}"
                );
                assert!(keep(run(&v6, &tcp(dport, flags))), "v6 {flags:#x} {dport}");
            }
            // Below our range: never ours.
            assert_eq!(run(&v4, &ipv4(0, &tcp(PORT_BASE - 1, flags))), 0);
            assert_eq!(run(&v6, &tcp(443, flags)), 0);
        }
    }

    #[test]
    fn our_own_syn_is_dropped_and_truncated_packets_too() {
        let syn = crate::packet::syn_segment(
            "127.0.0.1".parse().unwrap(),
            "127.0.0.1".parse().unwrap(),
            PORT_BASE + 7,
            22,
            1,
        );
        assert_eq!(run(&tcp_replies(false), &ipv4(0, &syn)), 0);
        let full = ipv4(0, &tcp(PORT_BASE, 0x12));
        for cut in 0..34 {
            assert_eq!(run(&tcp_replies(false), &full[..cut]), 0, "cut at {cut}");
        }
        assert_eq!(run(&tcp_replies(false), &full), WHOLE);
    }
}
