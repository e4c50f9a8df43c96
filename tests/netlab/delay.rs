//! `netlab-delay QUEUE MS`: holds every packet of NFQUEUE queue `QUEUE`
//! for `MS` milliseconds, then accepts it. A test and benchmark helper that
//! emulates latency where the kernel has no netem (see
//! `tests/netlab/netlab.sh`, which runs one per namespace, on the INPUT
//! hook of the receiving side, so each direction is delayed once).
//!
//! Why a program and not a qdisc: this kernel has no `netem`, and nft's own
//! `queue` statement is not built, but the iptables `NFQUEUE` target is.
//!
//! The delay is the same for every packet, so packets leave in the order
//! they came: a FIFO of pending verdicts is all the state there is. The
//! kernel queue and the netlink receive buffer are raised so that a burst
//! of thousands of SYNs is held, never dropped (a drop here would look like
//! loss the test did not ask for); should the program still fall behind
//! (a starved CPU), the queue fails open: packets then pass undelayed
//! rather than lost. It runs until killed.

use std::collections::VecDeque;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nfq::{Queue, Verdict};

/// Packets the kernel may hold for us before it drops (or, fail-open,
/// accepts) the next one.
const QUEUE_LEN: u32 = 1 << 16;
/// Netlink receive buffer: room for a burst of queued packet headers.
const RCVBUF: libc::c_int = 64 << 20;
/// Bytes of each packet copied to us: none are needed, but the header
/// attributes come with a minimal copy.
const COPY_RANGE: u16 = 64;
/// Longest sleep when nothing is due: the bound on the added jitter.
const TICK: Duration = Duration::from_micros(200);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let parsed = match args.as_slice() {
        [_, queue, ms] => queue.parse::<u16>().ok().zip(ms.parse::<u64>().ok()),
        _ => None,
    };
    let Some((queue_num, ms)) = parsed else {
        eprintln!("usage: netlab-delay QUEUE MS");
        return ExitCode::from(2);
    };
    match run(queue_num, Duration::from_millis(ms)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netlab-delay: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(queue_num: u16, delay: Duration) -> std::io::Result<()> {
    // The lowest free descriptor is the one Queue::open is about to get;
    // the crate does not expose it, and the receive buffer must be raised.
    let next_fd = lowest_free_fd()?;
    let mut queue = Queue::open()?;
    raise_rcvbuf(next_fd);
    queue.bind(queue_num)?;
    queue.set_copy_range(queue_num, COPY_RANGE)?;
    queue.set_queue_max_len(queue_num, QUEUE_LEN)?;
    queue.set_fail_open(queue_num, true)?;
    queue.set_nonblocking(true);
    eprintln!("ready");
    let mut held: VecDeque<(Instant, nfq::Message)> = VecDeque::new();
    loop {
        let mut got_any = false;
        loop {
            match queue.recv() {
                Ok(mut msg) => {
                    msg.set_verdict(Verdict::Accept);
                    held.push_back((Instant::now() + delay, msg));
                    got_any = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => break,
                Err(e) => return Err(e),
            }
        }
        let now = Instant::now();
        while held.front().is_some_and(|(due, _)| *due <= now) {
            let (_, msg) = held.pop_front().expect("front exists");
            queue.verdict(msg)?;
        }
        if !got_any {
            let next = held
                .front()
                .map_or(TICK, |(due, _)| due.saturating_duration_since(now));
            std::thread::sleep(next.min(TICK));
        }
    }
}

/// The descriptor number the next `socket()` will get.
fn lowest_free_fd() -> std::io::Result<libc::c_int> {
    // SAFETY: dup of stdin (or of anything open) and an immediate close.
    let fd = unsafe { libc::fcntl(0, libc::F_DUPFD, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    unsafe { libc::close(fd) };
    Ok(fd)
}

/// Raises the receive buffer of netlink socket `fd` (SO_RCVBUFFORCE, as
/// root, past `rmem_max`); a failure only makes drops under load likelier.
fn raise_rcvbuf(fd: libc::c_int) {
    let mut domain: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a plain getsockopt into a c_int.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_DOMAIN,
            (&mut domain as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 || domain != libc::AF_NETLINK {
        eprintln!("netlab-delay: descriptor {fd} is not the queue's socket; buffer not raised");
        return;
    }
    let size = RCVBUF;
    // SAFETY: a plain setsockopt with a c_int value.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        eprintln!(
            "netlab-delay: SO_RCVBUFFORCE: {}",
            std::io::Error::last_os_error()
        );
    }
}
