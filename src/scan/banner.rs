//! Reading what a server says first, without blocking the worker.
//!
//! The socket stays non-blocking and registered in the worker's poller; each
//! readiness event drains what is available, up to the configured cap. The
//! bytes are kept raw, in the result too: nothing is converted, stripped or
//! escaped here, that is the printers' job.

use std::io::{self, Read};

use socket2::Socket;

/// Where a banner read stands after draining the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Nothing more to read right now; wait for the next readiness event.
    WouldBlock,
    /// The banner is complete: the cap is reached.
    Done,
    /// The server closed its end (end of stream).
    Ended,
    /// The connection was reset, or failed otherwise.
    Reset,
}

/// Reads what `socket` has available into `buf`, never beyond `max_len`
/// bytes in total.
pub(crate) fn read_available(socket: &Socket, buf: &mut Vec<u8>, max_len: usize) -> Progress {
    let mut chunk = [0u8; 1024];
    loop {
        let room = max_len.saturating_sub(buf.len()).min(chunk.len());
        if room == 0 {
            return Progress::Done;
        }
        match (&*socket).read(&mut chunk[..room]) {
            Ok(0) => return Progress::Ended,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Progress::WouldBlock,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Progress::Reset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support;
    use std::io::Write;
    use std::net::TcpStream;

    fn pair() -> (Socket, TcpStream) {
        let (client, server) = test_support::tcp_pair();
        client.set_nonblocking(true).unwrap();
        (Socket::from(client), server)
    }

    #[test]
    fn nothing_sent_would_block() {
        let (client, _server) = pair();
        let mut buf = Vec::new();
        assert_eq!(read_available(&client, &mut buf, 64), Progress::WouldBlock);
        assert!(buf.is_empty());
    }

    #[test]
    fn caps_at_max_len() {
        let (client, mut server) = pair();
        server.write_all(b"SSH-2.0-OpenSSH_9.6\r\n").unwrap();
        let mut buf = Vec::new();
        while read_available(&client, &mut buf, 8) == Progress::WouldBlock {}
        assert_eq!(buf, b"SSH-2.0-");
    }

    #[test]
    fn end_of_stream_is_done() {
        let (client, mut server) = pair();
        server.write_all(b"bye").unwrap();
        drop(server);
        let mut buf = Vec::new();
        let mut progress = Progress::WouldBlock;
        while progress == Progress::WouldBlock {
            progress = read_available(&client, &mut buf, 64);
        }
        assert_eq!((progress, &buf[..]), (Progress::Ended, &b"bye"[..]));
    }

    #[test]
    fn a_reset_is_told_from_an_end_of_stream() {
        let (client, server) = pair();
        socket2::SockRef::from(&server)
            .set_linger(Some(std::time::Duration::ZERO))
            .unwrap();
        drop(server);
        let mut buf = Vec::new();
        let mut progress = Progress::WouldBlock;
        for _ in 0..1000 {
            progress = read_available(&client, &mut buf, 64);
            if progress != Progress::WouldBlock {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(progress, Progress::Reset);
        assert!(buf.is_empty());
    }
}
