//! The send path of the SYN scan: the SYNs the engine queued in one
//! round of starts, built and handed to the kernel in `sendmmsg()`
//! batches, on two threads when the machine has two CPUs.
//!
//! Why a second thread: sending a packet costs far more in the kernel
//! than in our code, and that cost lands on the sending thread. On
//! loopback or a veth the kernel hands the packet to the receiving side
//! at once, on the same CPU, inside the `sendmmsg()` call: the target's
//! TCP lookup, the RST or SYN-ACK it answers with, and that answer's
//! delivery to our raw socket. Measured on loopback (1-65535), three
//! quarters of the scan's CPU time was inside `sendmmsg()`, on the CPU
//! of the engine's one worker, while the other CPU idled.
//!
//! So a round big enough to be worth it ([`SPLIT_AT`]) is split: a
//! helper thread is handed a share to send, and the worker sends the
//! rest and goes on with its loop (reading replies, timing out, starting
//! the next round) while the helper sends. The worker learns how the
//! helper's run went (what the send path refused for good, whether it
//! was full, what is left to send) at its next call, before it sends
//! anything more; and while a run is out, the engine does not sleep
//! ([`super::technique::Prober::sending`]), so a refusal is routed as
//! soon as it is known, as if one thread had met it. The order of SYNs
//! on the wire is of no consequence: each is matched by its own cookie.
//!
//! The helper is started only when the process may run on at least two
//! CPUs; it owns duplicates of the raw sockets' descriptors, and it
//! stops when the send path is dropped (its job channel closes).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::{self, JoinHandle};

use crate::packet::{ipv4_syn_packet, syn_segment, CookieKey, IPV4_SYN_LEN, SYN_LEN};
use crate::rawsock::{Outgoing, RawSocket, SEND_BATCH};

use super::classify::{classify, Reason, Verdict};

/// A SYN to send: `(address, port, attempt)`.
pub(crate) type Queued = (IpAddr, u16, u32);

/// The smallest round split between two threads: below it, handing half
/// over to the helper costs about what the half itself would.
const SPLIT_AT: usize = SEND_BATCH;

/// What sending a run of SYNs came to.
#[derive(Debug, Default)]
struct Sent {
    /// How many of the run, from its start, are done with: sent, or
    /// refused for good.
    consumed: usize,
    /// Those refused for good, with what the refusal says of the target.
    refused: Vec<(IpAddr, u16, Reason)>,
    /// The send path was full: the rest of the run was not tried.
    full: bool,
}

/// Builds SYNs and sends them on raw sockets of its own (duplicated
/// descriptors of the prober's).
#[derive(Debug)]
struct Sender {
    key: CookieKey,
    v4: Option<(Ipv4Addr, RawSocket)>,
    v6: Option<(Ipv6Addr, RawSocket)>,
}

impl Sender {
    /// On `v4`'s and `v6`'s sockets, duplicated.
    fn new(
        key: CookieKey,
        v4: Option<(Ipv4Addr, &RawSocket)>,
        v6: Option<(Ipv6Addr, &RawSocket)>,
    ) -> io::Result<Sender> {
        Ok(Sender {
            key,
            v4: v4.map(|(a, s)| s.try_clone().map(|s| (a, s))).transpose()?,
            v6: v6.map(|(a, s)| s.try_clone().map(|s| (a, s))).transpose()?,
        })
    }

    fn try_clone(&self) -> io::Result<Sender> {
        Sender::new(
            self.key,
            self.v4.as_ref().map(|(a, s)| (*a, s)),
            self.v6.as_ref().map(|(a, s)| (*a, s)),
        )
    }

    /// Sends as much of `probes` as the send path takes, in order.
    fn send_run(&self, probes: &[Queued]) -> Sent {
        let mut refused = Vec::new();
        let (consumed, full) = send_all(
            probes,
            |rest| self.send_batch(rest),
            |&(ip, port, _), reason| refused.push((ip, port, reason)),
        );
        Sent {
            consumed,
            refused,
            full,
        }
    }

    /// Sends the SYNs of `probes` in one `sendmmsg()` (at most
    /// [`SEND_BATCH`]; all of one family, that of the first); returns how
    /// many the kernel took, the first `n`.
    ///
    /// # Errors
    ///
    /// The errno of the first packet, when it was not taken:
    /// `ENOBUFS`/`EAGAIN` (the send path is full: back off), `EPERM` (a
    /// local firewall refused it), `ENETUNREACH`, or `EAFNOSUPPORT` when
    /// no socket of its family is open.
    fn send_batch(&self, probes: &[Queued]) -> io::Result<usize> {
        let Some(&(first, _, _)) = probes.first() else {
            return Ok(0);
        };
        let (src, sock): (IpAddr, &RawSocket) = match first {
            IpAddr::V4(_) => self.v4.as_ref().map(|(a, s)| ((*a).into(), s)),
            IpAddr::V6(_) => self.v6.as_ref().map(|(a, s)| ((*a).into(), s)),
        }
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EAFNOSUPPORT))?;
        // IPv4: whole packets (`IP_HDRINCL`); IPv6: segments.
        let mut packets = [[0u8; IPV4_SYN_LEN]; SEND_BATCH];
        let n = probes
            .iter()
            .take(SEND_BATCH)
            .take_while(|p| p.0.is_ipv6() == first.is_ipv6())
            .count();
        let mut len = SYN_LEN;
        for (packet, &(ip, port, attempt)) in packets.iter_mut().zip(&probes[..n]) {
            let cookie = self.key.cookie(src, ip, port, attempt);
            match (src, ip) {
                (IpAddr::V4(ours), IpAddr::V4(theirs)) => {
                    *packet = ipv4_syn_packet(ours, theirs, cookie.sport, port, cookie.seq);
                    len = IPV4_SYN_LEN;
                }
                _ => {
                    packet[..SYN_LEN].copy_from_slice(&syn_segment(
                        src,
                        ip,
                        cookie.sport,
                        port,
                        cookie.seq,
                    ));
                }
            }
        }
        let out: Vec<Outgoing<'_>> = probes[..n]
            .iter()
            .zip(&packets)
            .map(|(p, packet)| Outgoing {
                dst: p.0,
                bytes: &packet[..len],
            })
            .collect();
        sock.send_batch(&out)
    }
}

/// The helper thread and its two channels.
#[derive(Debug)]
struct Helper {
    /// Runs to send; dropped (closing the channel) to stop the thread.
    jobs: Option<SyncSender<Vec<Queued>>>,
    /// Each run back, with what sending it came to.
    done: Receiver<(Vec<Queued>, Sent)>,
    thread: Option<JoinHandle<()>>,
}

impl Helper {
    fn start(sender: Sender) -> io::Result<Helper> {
        let (jobs, job_rx) = mpsc::sync_channel::<Vec<Queued>>(1);
        let (done_tx, done) = mpsc::sync_channel(1);
        let thread = thread::Builder::new()
            .name("syn-send".into())
            .spawn(move || {
                for run in job_rx {
                    let sent = sender.send_run(&run);
                    if done_tx.send((run, sent)).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Helper {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
        })
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            // The thread ends once its job channel is closed.
            let _ = t.join();
        }
    }
}

/// The SYN scan's send path (see the module docs).
#[derive(Debug)]
pub(crate) struct SendPath {
    local: Sender,
    helper: Option<Helper>,
    /// A run is with the helper, its outcome not collected yet.
    pending: bool,
}

impl SendPath {
    /// A send path on duplicates of `v4`'s and `v6`'s raw TCP sockets,
    /// with a helper thread when the process may use two CPUs.
    ///
    /// # Errors
    ///
    /// A failure to duplicate a descriptor. (A helper thread that cannot
    /// be started is done without.)
    pub(crate) fn new(
        key: CookieKey,
        v4: Option<(Ipv4Addr, &RawSocket)>,
        v6: Option<(Ipv6Addr, &RawSocket)>,
    ) -> io::Result<SendPath> {
        let local = Sender::new(key, v4, v6)?;
        let cpus = thread::available_parallelism().map_or(1, usize::from);
        let helper = if cpus >= 2 {
            Helper::start(local.try_clone()?).ok()
        } else {
            None
        };
        Ok(SendPath {
            local,
            helper,
            pending: false,
        })
    }

    /// True while a run handed to the helper may still be on its way: the
    /// caller is to call [`SendPath::send`] again soon (with an empty
    /// queue if need be) to learn how it went.
    pub(crate) fn busy(&self) -> bool {
        self.pending
    }

    /// Learns how the helper's last run went (waiting for it to end):
    /// what it refused goes to `refused`, what it did not send back to
    /// `queue`. True when the send path was full.
    fn collect(
        &mut self,
        queue: &mut Vec<Queued>,
        refused: &mut Vec<(IpAddr, u16, Reason)>,
    ) -> bool {
        if !std::mem::take(&mut self.pending) {
            return false;
        }
        match self.helper.as_ref().map(|h| h.done.recv()) {
            Some(Ok((mut run, sent))) => {
                refused.extend(sent.refused);
                run.drain(..sent.consumed);
                queue.extend(run);
                sent.full
            }
            // The helper died with its run: it does not panic, so this
            // is not expected; those SYNs are then lost (the engine's
            // timeouts retry them) and the helper is not used again.
            _ => {
                self.helper = None;
                false
            }
        }
    }

    /// Sends the SYNs of `queue`: the outcome of the run the helper was
    /// given last time first (see [`SendPath::busy`]), then, for a round
    /// big enough, hands the helper a share to send while this thread
    /// sends the rest. What is left in `queue` is what the send path did
    /// not take (when full); those refused for good are added to
    /// `refused`. False when the send path was full.
    pub(crate) fn send(
        &mut self,
        queue: &mut Vec<Queued>,
        refused: &mut Vec<(IpAddr, u16, Reason)>,
    ) -> bool {
        let mut full = self.collect(queue, refused);
        if let Some(jobs) = self.helper.as_ref().and_then(|h| h.jobs.as_ref()) {
            if !full && queue.len() >= SPLIT_AT {
                // Halves: the helper's half overlaps this thread's half
                // and the replies it reads after (measured: a bigger
                // share for the helper gained nothing).
                let run = queue.split_off(queue.len() / 2);
                match jobs.send(run) {
                    Ok(()) => self.pending = true,
                    // The helper is gone: its share is ours again.
                    Err(mpsc::SendError(run)) => queue.extend(run),
                }
            }
        }
        if !full {
            let mine = self.local.send_run(queue);
            full = mine.full;
            refused.extend(mine.refused);
            queue.drain(..mine.consumed);
        }
        !full
    }
}

/// Hands `items` to `send` (one `sendmmsg()` batch a call, answering how
/// many it took) until all are taken or the send path is full; an item
/// the send path refuses for good is skipped and given to `refuse` with
/// what the refusal says of its target. Returns how many items, from the
/// first, are done with, and whether the path was full.
pub(crate) fn send_all<T>(
    items: &[T],
    mut send: impl FnMut(&[T]) -> io::Result<usize>,
    mut refuse: impl FnMut(&T, Reason),
) -> (usize, bool) {
    let mut done = 0;
    while done < items.len() {
        match send(&items[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if is_full(&e) => return (done, true),
            Err(e) => {
                refuse(&items[done], reason_of(&e));
                done += 1;
            }
        }
    }
    (done, false)
}

/// What a refusal of the send path says about the target.
fn reason_of(e: &io::Error) -> Reason {
    match classify(e) {
        Verdict::Filtered(r) => r,
        _ => Reason::Unknown,
    }
}

/// The send path is full for now (our buffers, not the target's doing).
fn is_full(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOBUFS | libc::EAGAIN | libc::ENOMEM | libc::EINTR)
    )
}
