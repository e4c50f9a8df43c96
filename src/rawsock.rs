//! Thin wrappers over the raw-socket syscalls of a SYN scan, on top of
//! `socket2`, in the style of [`crate::sock`]: each names the syscall it
//! wraps and returns a plain [`io::Result`], so the errno reaches the
//! caller intact (`EPERM` without `CAP_NET_RAW`, `ENOBUFS` when the send
//! path is full).
//!
//! Sending uses raw `IPPROTO_TCP` sockets. An IPv4 one has `IP_HDRINCL`
//! ([`RawSocket::set_header_included`]): we hand it the whole packet
//! built by [`crate::packet`]. An IPv6 one writes the header itself
//! (addresses, length, hop limit) and we hand it the TCP segment. The
//! socket is bound to the source address, so the checksum's
//! pseudo-header and the header agree.
//! Replies come back on the same raw `IPPROTO_TCP` socket (Linux hands a
//! copy of every TCP packet for the bound address to it; IPv4 with its
//! IP header, IPv6 without) and on raw `IPPROTO_ICMP`/`IPPROTO_ICMPV6`
//! sockets for the unreachables.
//!
//! What this module must not do: build or read packets (that is
//! [`crate::packet`]), decide what an errno means for a probe, retry, or
//! pace. Everything here is non-blocking: waiting is the caller's poller.

use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// Most packets handed to one `sendmmsg()` call.
pub const SEND_BATCH: usize = 64;

/// A raw socket of one family and protocol.
#[derive(Debug)]
pub struct RawSocket {
    sock: Socket,
    v6: bool,
}

/// What to send: a destination and the bytes.
#[derive(Clone, Copy, Debug)]
pub struct Outgoing<'a> {
    /// The destination address.
    pub dst: IpAddr,
    /// The transport segment (for a TCP raw socket, the TCP header and
    /// payload), or on a socket with `IP_HDRINCL` the whole IPv4 packet.
    pub bytes: &'a [u8],
}

impl RawSocket {
    /// `socket(AF_INET|AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
    /// IPPROTO_TCP)`: sends TCP segments whose IP header the kernel
    /// writes, and receives a copy of every incoming TCP packet.
    ///
    /// # Notes
    /// Needs `CAP_NET_RAW` in the socket's network namespace: without it
    /// the error is `EPERM` (see [`check_raw_permission`]).
    pub fn tcp(v6: bool) -> io::Result<RawSocket> {
        Self::open(v6, Protocol::TCP)
    }

    /// `socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)` (`AF_INET6,
    /// IPPROTO_ICMPV6` when `v6`): receives every incoming ICMP message,
    /// the unreachables that quote our SYNs among them.
    ///
    /// # Notes
    /// Needs `CAP_NET_RAW`, as [`RawSocket::tcp`].
    pub fn icmp(v6: bool) -> io::Result<RawSocket> {
        Self::open(
            v6,
            if v6 {
                Protocol::ICMPV6
            } else {
                Protocol::ICMPV4
            },
        )
    }

    fn open(v6: bool, proto: Protocol) -> io::Result<RawSocket> {
        let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
        let sock = Socket::new(domain, Type::RAW.nonblocking(), Some(proto))?;
        Ok(RawSocket { sock, v6 })
    }

    /// `fcntl(F_DUPFD_CLOEXEC)`: a second descriptor of the same socket,
    /// for a thread that sends on it while the owner reads (the kernel
    /// takes concurrent `sendmmsg()` calls on one raw socket).
    pub fn try_clone(&self) -> io::Result<RawSocket> {
        Ok(RawSocket {
            sock: self.sock.try_clone()?,
            v6: self.v6,
        })
    }

    /// True for an IPv6 socket.
    pub fn is_v6(&self) -> bool {
        self.v6
    }

    /// `bind()` to a local address (port 0): the source address of what
    /// is sent, and (IPv4) only packets to that address are received.
    pub fn bind(&self, ip: IpAddr) -> io::Result<()> {
        self.sock.bind(&SockAddr::from(SocketAddr::new(ip, 0)))
    }

    /// `setsockopt(SO_RCVBUFFORCE)`, falling back to `SO_RCVBUF`: room
    /// for replies that arrive while the caller is busy sending.
    ///
    /// # Notes
    /// `SO_RCVBUFFORCE` passes `net.core.rmem_max` and needs
    /// `CAP_NET_ADMIN`; `SO_RCVBUF` is capped by it. The kernel doubles
    /// the value for its bookkeeping.
    pub fn set_recv_buffer(&self, bytes: usize) -> io::Result<()> {
        let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        // SAFETY: a valid descriptor and a c_int option of the right size.
        let rc = unsafe {
            libc::setsockopt(
                self.sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        self.sock.set_recv_buffer_size(bytes)
    }

    /// `setsockopt(IP_HDRINCL)` on an IPv4 socket: what is sent is the
    /// whole IP packet, header included (the kernel still writes the
    /// header checksum and the total length). Nothing on an IPv6 socket.
    ///
    /// # Notes
    /// The kernel then skips building a header and the corking of
    /// `ip_append_data()` for each packet: measured, a tenth of the CPU
    /// time of a SYN sent on a veth.
    pub fn set_header_included(&self) -> io::Result<()> {
        if self.v6 {
            return Ok(());
        }
        self.sock.set_header_included_v4(true)
    }

    /// `setsockopt(SO_ATTACH_FILTER)`: the kernel runs `program` (classic
    /// BPF, see [`crate::packet::filter`]) on each packet before it is
    /// queued here, and drops those it returns 0 for.
    ///
    /// # Notes
    /// Packets already queued are not filtered; attach before reading.
    pub fn attach_filter(&self, program: &[crate::packet::filter::Insn]) -> io::Result<()> {
        let program: Vec<socket2::SockFilter> = program
            .iter()
            .map(|i| socket2::SockFilter::new(i.code, i.jt, i.jf, i.k))
            .collect();
        self.sock.attach_filter(&program)
    }

    /// `getsockopt(SO_MEMINFO)`: how many packets the kernel dropped for
    /// this socket since it was opened, its receive queue being full
    /// (`SK_MEMINFO_DROPS`).
    ///
    /// # Notes
    /// Packets a socket filter rejects are not counted; nor are those a
    /// device queue dropped before they reached the socket.
    pub fn drops(&self) -> io::Result<u64> {
        // The kernel's SK_MEMINFO_VARS (libc does not name it).
        let mut info = [0u32; 9];
        let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
        // SAFETY: a valid descriptor, and a buffer of `len` bytes the
        // kernel fills (it writes at most `len`).
        let rc = unsafe {
            libc::getsockopt(
                self.sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_MEMINFO,
                info.as_mut_ptr().cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(u64::from(info[libc::SK_MEMINFO_DROPS as usize]))
    }

    /// `setsockopt(IP_MTU_DISCOVER, IP_PMTUDISC_DO)` on an IPv4 socket: the
    /// packets it sends carry "don't fragment" (as a Linux TCP SYN does),
    /// which also spares the kernel picking an IP identifier for each.
    /// Nothing on an IPv6 socket (IPv6 has no such bit).
    ///
    /// # Notes
    /// A packet longer than the path MTU then fails with `EMSGSIZE`; a
    /// SYN is 44 bytes.
    pub fn set_dont_fragment(&self) -> io::Result<()> {
        if self.v6 {
            return Ok(());
        }
        let v: libc::c_int = libc::IP_PMTUDISC_DO;
        // SAFETY: a valid descriptor and a c_int option of the right size.
        let rc = unsafe {
            libc::setsockopt(
                self.sock.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_MTU_DISCOVER,
                (&v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// `setsockopt(SO_SNDBUF)`: how many packets the send path may hold
    /// before `sendmmsg()` fails with `ENOBUFS`/`EAGAIN`.
    pub fn set_send_buffer(&self, bytes: usize) -> io::Result<()> {
        self.sock.set_send_buffer_size(bytes)
    }

    /// `sendmmsg()`: sends up to [`SEND_BATCH`] packets of `batch` in one
    /// call; returns how many the kernel took (the first `n`).
    ///
    /// # Notes
    /// When the first packet fails the call fails with its errno
    /// (`ENOBUFS`/`EAGAIN`: the send path is full; `EPERM`: a local
    /// firewall refused it; `ENETUNREACH`: no route); when a later one
    /// fails, the count stops before it and the next call starting there
    /// reports its errno. `EINTR` is retried.
    pub fn send_batch(&self, batch: &[Outgoing<'_>]) -> io::Result<usize> {
        let n = batch.len().min(SEND_BATCH);
        if n == 0 {
            return Ok(0);
        }
        let addrs: Vec<SockAddr> = batch[..n]
            .iter()
            .map(|o| SockAddr::from(SocketAddr::new(o.dst, 0)))
            .collect();
        let mut iovs: [MaybeUninit<libc::iovec>; SEND_BATCH] =
            [const { MaybeUninit::uninit() }; SEND_BATCH];
        // SAFETY: an all-zero mmsghdr is valid (null pointers, zero lengths).
        let mut msgs: [libc::mmsghdr; SEND_BATCH] = unsafe { std::mem::zeroed() };
        for i in 0..n {
            let iov = iovs[i].write(libc::iovec {
                iov_base: batch[i].bytes.as_ptr() as *mut libc::c_void,
                iov_len: batch[i].bytes.len(),
            });
            let h = &mut msgs[i].msg_hdr;
            h.msg_name = addrs[i].as_ptr() as *mut libc::c_void;
            h.msg_namelen = addrs[i].len();
            h.msg_iov = iov;
            h.msg_iovlen = 1;
        }
        loop {
            // SAFETY: `msgs[..n]` point at `iovs`, `addrs` and the caller's
            // bytes, all alive for the call; the kernel only reads them
            // (and writes `msg_len`).
            let rc =
                unsafe { libc::sendmmsg(self.sock.as_raw_fd(), msgs.as_mut_ptr(), n as u32, 0) };
            if rc >= 0 {
                return Ok(rc as usize);
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }

    /// `recvfrom(MSG_DONTWAIT)`: the next packet and its sender (IPv4: the
    /// whole IP packet; IPv6: the payload after the IPv6 header).
    /// `WouldBlock` when nothing is waiting.
    ///
    /// # Notes
    /// A packet longer than `buf` is cut to it (the rest is lost), which
    /// is harmless for replies to a SYN; `EINTR` is retried.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, IpAddr)> {
        // SAFETY: socket2 only writes initialised bytes into the buffer.
        let uninit = unsafe {
            std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<MaybeUninit<u8>>(), buf.len())
        };
        loop {
            match self.sock.recv_from_with_flags(uninit, libc::MSG_DONTWAIT) {
                Ok((n, from)) => {
                    let ip = from.as_socket().map(|s| s.ip()).ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidData, "sender is not IPv4 or IPv6")
                    })?;
                    return Ok((n, ip));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl RawSocket {
    /// `recvmmsg(MSG_DONTWAIT)`: up to `bufs.len()` waiting packets in one
    /// call, each into its buffer; returns, per packet, its length and
    /// sender (as [`RawSocket::recv_from`]). An empty vector when nothing
    /// is waiting.
    ///
    /// # Notes
    /// One syscall for a burst of replies instead of one per packet (on
    /// loopback a raw TCP socket also sees every SYN we send). `EINTR`
    /// is retried.
    pub fn recv_batch(&self, bufs: &mut [Vec<u8>]) -> io::Result<Vec<(usize, IpAddr)>> {
        let n = bufs.len().min(RECV_BATCH);
        // SAFETY: all-zero sockaddr_storage, iovec and mmsghdr are valid.
        let mut addrs: [libc::sockaddr_storage; RECV_BATCH] = unsafe { std::mem::zeroed() };
        let mut iovs: [libc::iovec; RECV_BATCH] = unsafe { std::mem::zeroed() };
        let mut msgs: [libc::mmsghdr; RECV_BATCH] = unsafe { std::mem::zeroed() };
        for i in 0..n {
            iovs[i] = libc::iovec {
                iov_base: bufs[i].as_mut_ptr().cast(),
                iov_len: bufs[i].len(),
            };
            let h = &mut msgs[i].msg_hdr;
            h.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut iovs[i];
            h.msg_iovlen = 1;
        }
        let got = loop {
            // SAFETY: `msgs[..n]` point into `addrs`, `iovs` and the
            // caller's buffers, all alive and large enough for the call.
            let rc = unsafe {
                libc::recvmmsg(
                    self.sock.as_raw_fd(),
                    msgs.as_mut_ptr(),
                    n as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if rc >= 0 {
                break rc as usize;
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::Interrupted => {}
                io::ErrorKind::WouldBlock => return Ok(Vec::new()),
                _ => return Err(err),
            }
        };
        let mut out = Vec::with_capacity(got);
        for i in 0..got {
            let len = msgs[i].msg_len as usize;
            let ip = sender(&addrs[i]).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "sender is not IPv4 or IPv6")
            })?;
            out.push((len.min(bufs[i].len()), ip));
        }
        Ok(out)
    }
}

/// The address in a `sockaddr_storage` the kernel filled in.
fn sender(addr: &libc::sockaddr_storage) -> Option<IpAddr> {
    match i32::from(addr.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says it holds a sockaddr_in, which fits.
            let a =
                unsafe { &*(addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(IpAddr::from(u32::from_be(a.sin_addr.s_addr).to_be_bytes()))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says it holds a sockaddr_in6, which fits.
            let a =
                unsafe { &*(addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(IpAddr::from(a.sin6_addr.s6_addr))
        }
        _ => None,
    }
}

/// Most packets taken by one `recvmmsg()` call.
pub const RECV_BATCH: usize = 64;

impl AsFd for RawSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl AsRawFd for RawSocket {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.sock.as_raw_fd()
    }
}

/// Tries `socket(AF_INET, SOCK_RAW, IPPROTO_TCP)` and closes it: `Ok`
/// when this process may send raw packets, the error (`EPERM`) when it
/// may not. Nothing is sent.
///
/// # Notes
/// Trying is the only exact test: `CAP_NET_RAW` may come from root, a
/// file capability (`setcap cap_net_raw+ep`) or an ambient set, and is
/// checked against the user namespace that owns the network namespace.
pub fn check_raw_permission() -> io::Result<()> {
    RawSocket::tcp(false).map(drop)
}

/// The source address the kernel would use to reach `dst`:
/// `socket(AF_INET*, SOCK_DGRAM)`, `connect()` and `getsockname()` on a
/// UDP socket, which looks the route up and sends nothing.
///
/// # Notes
/// `ENETUNREACH` when there is no route to `dst`.
pub fn route_source(dst: IpAddr) -> io::Result<IpAddr> {
    let any: SocketAddr = match dst {
        IpAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let udp = UdpSocket::bind(any)?;
    udp.connect(SocketAddr::new(dst, 9))?;
    Ok(udp.local_addr()?.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_routes_from_loopback() {
        let v4: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(route_source(v4).unwrap(), v4);
    }
}
