//! What the library's unit tests share, written once: loopback servers
//! that run a test's script on a thread of their own, and ports where
//! nobody listens.
//!
//! Test code only (`#[cfg(test)]` in `lib.rs`). It lives outside
//! `src/scan/` so that the only threads the scanner's code spawns are its
//! workers, and a search for `thread::spawn` there finds nothing else.
//! A server's script is the test's: these helpers only bind on port 0
//! (the kernel picks a free port), hand the socket to the script on a new
//! thread and return where it listens and the thread to join.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::thread::{self, JoinHandle};

use socket2::{Domain, Socket, Type};

/// Runs `script` with `socket` on a new thread: a server the test has
/// bound itself (through the wrapper it is testing, for instance).
pub(crate) fn serve<S, T>(socket: S, script: impl FnOnce(S) -> T + Send + 'static) -> JoinHandle<T>
where
    S: Send + 'static,
    T: Send + 'static,
{
    thread::spawn(move || script(socket))
}

/// A TCP listener on `ip`, port 0, served by `script` on a new thread:
/// its address and the thread.
pub(crate) fn tcp_server<T: Send + 'static>(
    ip: IpAddr,
    script: impl FnOnce(TcpListener) -> T + Send + 'static,
) -> (SocketAddr, JoinHandle<T>) {
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, serve(listener, script))
}

/// A UDP socket on `ip`, port 0, served by `script` on a new thread: its
/// address and the thread.
pub(crate) fn udp_server<T: Send + 'static>(
    ip: IpAddr,
    script: impl FnOnce(UdpSocket) -> T + Send + 'static,
) -> (SocketAddr, JoinHandle<T>) {
    let socket = UdpSocket::bind((ip, 0)).unwrap();
    let addr = socket.local_addr().unwrap();
    (addr, serve(socket, script))
}

/// A connected loopback TCP pair: the client end and the accepted end.
pub(crate) fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

/// A TCP port on 127.0.0.1 that refuses connects: bound but not
/// listening, for as long as the returned socket is kept.
pub(crate) fn closed_tcp_port() -> (Socket, SocketAddr) {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .unwrap();
    let addr = s.local_addr().unwrap().as_socket().unwrap();
    (s, addr)
}

/// A UDP port on `ip` that nobody listens on: bound, its number taken,
/// dropped.
pub(crate) fn closed_udp_port(ip: IpAddr) -> SocketAddr {
    let s = UdpSocket::bind((ip, 0)).unwrap();
    s.local_addr().unwrap()
}
