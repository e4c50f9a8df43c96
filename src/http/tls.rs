//! HTTPS: a TLS session (rustls, ring provider) on top of any
//! [`Transport`] (our own TCP connection, a proxy tunnel, or another TLS
//! session: an `https://` origin through an `https://` proxy), and itself a
//! [`Transport`], so the exchange and the response reader never know the
//! bytes were encrypted.
//!
//! What this module owns: the trust decision (the system CA store, like
//! curl; or a `--cacert` bundle; or no verification with `-k`), the
//! handshake within the caller's deadline, what the handshake revealed
//! ([`TlsInfo`]: version, cipher, ALPN, each certificate of the chain), and
//! whether the server ended the stream with `close_notify` (without it, a
//! close-delimited body may have been cut by an attacker).
//!
//! Ciphertext is read from the socket in large blocks and fed to rustls
//! from memory: rustls alone reads 4 KiB per `read()`, which would cost a
//! system call per 4 KiB of a large body.
//!
//! TLS 1.2 and 1.3, SNI for host names (not for address literals, as RFC
//! 6066 says), ALPN `http/1.1` only: rawget speaks HTTP/1.1 and nothing
//! else.

use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use sha2::{Digest, Sha256};

use super::transport::Transport;

/// Ciphertext read from the socket at once.
const CIPHER_BUF: usize = 256 * 1024;

/// The one application protocol we offer.
pub const ALPN: &str = "http/1.1";

/// How to trust servers; the CA store is loaded on first use and shared by
/// every connection of the run.
#[derive(Default)]
pub struct TlsSetup {
    /// A PEM bundle that replaces the system store (`--cacert`).
    pub cacert: Option<PathBuf>,
    /// Do not verify the server's certificate (`-k`); the verdict is still
    /// computed and reported.
    pub insecure: bool,
    verifier: OnceLock<Result<Option<Arc<WebPkiServerVerifier>>, TlsError>>,
}

impl fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSetup")
            .field("cacert", &self.cacert)
            .field("insecure", &self.insecure)
            .finish()
    }
}

impl TlsSetup {
    /// Loads the trusted CAs now (they are loaded on first use anyway), so
    /// an unusable `--cacert` file is found before connecting.
    ///
    /// With `-k` an unusable file is no error (as in curl): nothing is
    /// verified, and the verdict names the file's problem.
    pub fn prepare(&self) -> Result<(), TlsError> {
        match self.verifier() {
            Err(_) if self.insecure => Ok(()),
            r => r.map(drop),
        }
    }

    /// Trust settings; nothing is loaded yet.
    pub fn new(cacert: Option<PathBuf>, insecure: bool) -> TlsSetup {
        TlsSetup {
            cacert,
            insecure,
            verifier: OnceLock::new(),
        }
    }

    /// The verifier for the trusted CAs (`None`: no CA at all, so nothing
    /// verifies), loading them on first use.
    fn verifier(&self) -> Result<Option<Arc<WebPkiServerVerifier>>, TlsError> {
        self.verifier
            .get_or_init(|| {
                let roots = match &self.cacert {
                    Some(path) => load_cacert(path)?,
                    None => system_roots(),
                };
                if roots.is_empty() {
                    return Ok(None);
                }
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                    .build()
                    .map(Some)
                    .map_err(|e| TlsError::CaFile {
                        path: self.cacert.clone().unwrap_or_default(),
                        reason: e.to_string(),
                    })
            })
            .clone()
    }
}

fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())))
}

/// The system's CA store (`/etc/ssl/certs` and friends, found the way
/// OpenSSL finds them); unreadable entries are skipped.
fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    roots
}

fn load_cacert(path: &PathBuf) -> Result<RootCertStore, TlsError> {
    let fail = |reason: String| TlsError::CaFile {
        path: path.clone(),
        reason,
    };
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| fail(e.to_string()))?;
    for cert in certs {
        let cert = cert.map_err(|e| fail(e.to_string()))?;
        roots
            .add(cert)
            .map_err(|e| fail(format!("not a usable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(fail("no PEM certificate in the file".into()));
    }
    Ok(roots)
}

/// Why TLS failed.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub enum TlsError {
    /// The `--cacert` file cannot be read or holds no usable certificate
    /// (curl exit 77).
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The server's certificate cannot be verified: unknown CA, expired,
    /// wrong name (curl exit 60).
    Certificate(rustls::Error),
    /// The handshake failed: an alert, no common version or cipher, a peer
    /// that does not speak TLS (curl exit 35).
    Handshake(rustls::Error),
    /// The connection ended or failed during the handshake (curl exit 35).
    HandshakeIo(Arc<io::Error>),
    /// A TLS error after the handshake (a bad record, an alert).
    Protocol(rustls::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::CaFile { path, reason } => {
                write!(f, "problem with the CA file '{}': {reason}", path.display())
            }
            TlsError::Certificate(e) => f.write_str(&super::tls_curl::certificate_problem(e)),
            TlsError::Handshake(e) => write!(
                f,
                "TLS handshake failed: {}",
                super::tls_curl::handshake_problem(e)
            ),
            TlsError::HandshakeIo(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                write!(f, "TLS handshake failed: the server closed the connection")
            }
            TlsError::HandshakeIo(e) => write!(f, "TLS handshake failed: {e}"),
            TlsError::Protocol(e) => {
                write!(f, "TLS error: {}", super::tls_curl::handshake_problem(e))
            }
        }
    }
}

impl std::error::Error for TlsError {}

impl TlsError {
    fn from_rustls(e: rustls::Error) -> TlsError {
        match e {
            rustls::Error::InvalidCertificate(_) => TlsError::Certificate(e),
            e => TlsError::Handshake(e),
        }
    }

    /// The TLS error carried inside an `io::Error` returned by
    /// [`TlsTransport`], if it is one.
    pub fn from_io(e: &io::Error) -> Option<TlsError> {
        e.get_ref()?.downcast_ref::<TlsError>().cloned()
    }

    fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }
}

/// One certificate of the server's chain, as shown by `-v` and `--json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject distinguished name (`CN=..., O=...`).
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Subject alternative names (`DNS:name`, `IP:addr`).
    pub sans: Vec<String>,
    /// Start of validity, RFC 3339 (UTC).
    pub not_before: String,
    /// End of validity, RFC 3339 (UTC).
    pub not_after: String,
    /// SHA-256 of the DER certificate, lower-case hex.
    pub sha256: String,
}

/// What the handshake established.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLSv1.2` or `TLSv1.3`.
    pub version: String,
    /// The cipher suite, IANA name (`TLS13_AES_128_GCM_SHA256`).
    pub cipher: String,
    /// The negotiated application protocol, if the server chose one.
    pub alpn: Option<String>,
    /// The name sent as SNI (none for an address literal).
    pub sni: Option<String>,
    /// True when the chain was verified against the trusted CAs (false
    /// with `-k` when it would not have been).
    pub verified: bool,
    /// Why verification failed, when it did.
    pub verify_error: Option<String>,
    /// The server's chain, leaf first.
    pub certificates: Vec<CertInfo>,
    /// Whether the server ended the stream with a `close_notify` alert
    /// (`Some(false)`: it just closed the TCP connection). `None` when the
    /// exchange ended before the stream did (the message was complete by
    /// its framing).
    pub close_notify: Option<bool>,
}

/// A step of the handshake, for `-v`.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum TlsStep<'a> {
    /// The ClientHello went out.
    Hello {
        /// The SNI name, if sent.
        sni: Option<&'a str>,
        /// The ALPN protocols offered.
        alpn: &'a str,
    },
    /// The server's chain and the verification verdict.
    Certificates {
        /// The chain, leaf first.
        certs: &'a [CertInfo],
        /// `None` when verified, else why not.
        error: Option<&'a str>,
        /// `-k`: the verdict is ignored.
        insecure: bool,
    },
    /// The handshake is complete.
    Done {
        /// What was agreed.
        info: &'a TlsInfo,
    },
}

/// A verifier that delegates to webpki and records the chain it saw and
/// its verdict, so a failure can still show the certificates. One per
/// connection.
#[derive(Debug)]
struct Recording {
    inner: Option<Arc<WebPkiServerVerifier>>,
    /// Why there is no verifier, when the `--cacert` file is unusable
    /// (only with `-k`; otherwise the handshake is not even started).
    unusable_ca: Option<String>,
    insecure: bool,
    /// The `--cacert` file: a certificate in it is trusted as itself
    /// (see [`super::tls_curl`]).
    cacert: Option<PathBuf>,
    seen: Mutex<Option<(Vec<CertificateDer<'static>>, Option<rustls::Error>)>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = match (&self.inner, &self.unusable_ca) {
            (Some(v), _) => v
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .err(),
            (None, Some(why)) => Some(rustls::Error::General(why.clone())),
            (None, None) => Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        };
        // A certificate that is itself in --cacert is judged on its own
        // (a CA:TRUE self-signed one included), as OpenSSL judges it.
        let verdict = match (verdict, self.cacert.as_deref()) {
            (Some(e), Some(path)) => {
                match super::tls_curl::trusted_as_itself(end_entity, server_name, now, path) {
                    None => Some(e),
                    Some(own) => own.err(),
                }
            }
            (verdict, _) => verdict,
        };
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = Some((chain, verdict.clone()));
        match verdict {
            Some(e) if !self.insecure => Err(e),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// TLS over the transport below it.
pub struct TlsTransport {
    inner: Box<dyn Transport>,
    tls: ClientConnection,
    /// Ciphertext read from the socket, `[at..end]` not yet given to rustls.
    cipher: Vec<u8>,
    at: usize,
    end: usize,
    /// The socket reached its end (rustls was told).
    eof: bool,
    /// Decrypted bytes (or the end of the stream) are ready to read.
    answer: bool,
    /// How the stream ended, once it has: `Some(true)` with close_notify.
    ended: Option<bool>,
}

/// A failed handshake: why, and what was seen of the server's chain.
pub type Failure = (TlsError, Option<TlsInfo>);

/// Runs the handshake over `inner` for `host` (a name or an address
/// literal) within `deadline`, reporting its steps to `step`. On a
/// certificate failure the chain that was seen comes back with the error.
pub fn handshake(
    inner: Box<dyn Transport>,
    host: &str,
    setup: &TlsSetup,
    deadline: Option<Instant>,
    step: &mut dyn FnMut(TlsStep<'_>),
) -> Result<(TlsTransport, TlsInfo), Box<Failure>> {
    let (verifier, unusable_ca) = match setup.verifier() {
        Ok(v) => (v, None),
        Err(e) if setup.insecure => (None, Some(e.to_string())),
        Err(e) => return Err(Box::new((e, None))),
    };
    let recording = Arc::new(Recording {
        inner: verifier,
        unusable_ca,
        insecure: setup.insecure,
        cacert: setup.cacert.clone(),
        seen: Mutex::new(None),
    });
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| Box::new((TlsError::Handshake(e), None)))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::clone(&recording) as Arc<dyn ServerCertVerifier>)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN.as_bytes().to_vec()];
    config.resumption = Resumption::disabled();
    let name = ServerName::try_from(host.to_owned()).map_err(|e| {
        (
            TlsError::Handshake(rustls::Error::General(e.to_string())),
            None,
        )
    })?;
    let sni = matches!(name, ServerName::DnsName(_)).then(|| host.to_owned());
    let tls = ClientConnection::new(Arc::new(config), name)
        .map_err(|e| Box::new((TlsError::Handshake(e), None)))?;
    let mut t = TlsTransport {
        inner,
        tls,
        cipher: vec![0; CIPHER_BUF],
        at: 0,
        end: 0,
        eof: false,
        answer: false,
        ended: None,
    };
    let result = t.drive_handshake(deadline, sni.as_deref(), step);
    let seen = recording
        .seen
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    let mut info = TlsInfo {
        sni,
        ..TlsInfo::default()
    };
    if let Some((chain, verdict)) = &seen {
        info.certificates = chain.iter().map(|c| describe(c)).collect();
        info.verified = verdict.is_none();
        info.verify_error = verdict.as_ref().map(ToString::to_string);
        step(TlsStep::Certificates {
            certs: &info.certificates,
            error: info.verify_error.as_deref(),
            insecure: setup.insecure,
        });
    }
    if let Err(e) = result {
        let shown = seen.is_some().then_some(info);
        return Err(Box::new((e, shown)));
    }
    info.version = match t.tls.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".into(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".into(),
        Some(v) => format!("{v:?}"),
        None => String::new(),
    };
    info.cipher = t
        .tls
        .negotiated_cipher_suite()
        .map(|s| {
            let suite = s.suite();
            suite
                .as_str()
                .map_or_else(|| format!("{suite:?}"), str::to_owned)
        })
        .unwrap_or_default();
    info.alpn = t
        .tls
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    step(TlsStep::Done { info: &info });
    Ok((t, info))
}

impl TlsTransport {
    fn drive_handshake(
        &mut self,
        deadline: Option<Instant>,
        sni: Option<&str>,
        step: &mut dyn FnMut(TlsStep<'_>),
    ) -> Result<(), TlsError> {
        let io_err = |e: io::Error| TlsError::HandshakeIo(Arc::new(e));
        let mut hello_sent = false;
        while self.tls.is_handshaking() {
            if self.tls.wants_write() {
                self.flush_blocking(deadline).map_err(io_err)?;
                if !hello_sent {
                    hello_sent = true;
                    step(TlsStep::Hello { sni, alpn: ALPN });
                }
                continue;
            }
            if self.at == self.end {
                if self.eof {
                    return Err(io_err(io::ErrorKind::UnexpectedEof.into()));
                }
                self.fill(deadline).map_err(io_err)?;
                continue;
            }
            if let Err(e) = self.feed() {
                // Tell the server why (the alert rustls queued), best effort.
                let _ = self.flush_blocking(deadline);
                return Err(TlsError::from_rustls(e));
            }
        }
        // TLS 1.3: the client's Finished may still be queued.
        self.flush_blocking(deadline).map_err(io_err)
    }

    /// Reads ciphertext from the socket into the buffer (all of it given
    /// to rustls before); 0 bytes marks the end of the stream.
    fn fill(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        let n = self.inner.recv(&mut self.cipher, left(deadline)?)?;
        self.at = 0;
        self.end = n;
        if n == 0 {
            self.eof = true;
            self.tls.read_tls(&mut &[][..])?;
            self.process()
                .map_err(|e| TlsError::Protocol(e).into_io())?;
        }
        Ok(())
    }

    /// Gives buffered ciphertext to rustls, one read's worth, and
    /// processes it.
    fn feed(&mut self) -> Result<(), rustls::Error> {
        let mut rest = &self.cipher[self.at..self.end];
        match self.tls.read_tls(&mut rest) {
            Ok(n) => {
                self.at += n;
                self.process()
            }
            Err(e) => {
                self.process()?;
                // The plaintext buffer is full: it is read first. Any
                // other refusal would repeat forever: an error.
                if self.answer {
                    Ok(())
                } else {
                    Err(rustls::Error::General(e.to_string()))
                }
            }
        }
    }

    /// After plaintext was read: whether more is ready (or the end), so
    /// [`Transport::wait`] does not report an answer that was consumed
    /// (a layer above would then block in `recv`, and a kept-alive
    /// connection would look closed). An error is left for `recv` to
    /// report, so it counts as an answer.
    fn refresh_answer(&mut self) {
        self.answer = match self.tls.process_new_packets() {
            Ok(state) => state.plaintext_bytes_to_read() > 0 || state.peer_has_closed() || self.eof,
            Err(_) => true,
        };
    }

    fn process(&mut self) -> Result<(), rustls::Error> {
        let state = self.tls.process_new_packets()?;
        self.answer = state.plaintext_bytes_to_read() > 0 || state.peer_has_closed() || self.eof;
        Ok(())
    }

    /// Writes queued TLS records, waiting for the transport below
    /// (bounded), until they have left this layer and the ones below.
    fn flush_blocking(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        while self.tls.wants_write() || self.inner.has_pending() {
            if self.tls.wants_write() {
                match self.tls.write_tls(&mut NoWait(&mut *self.inner)) {
                    Ok(_) => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            } else {
                // Lets a layer below push out what it holds.
                match self.inner.send_nowait(&[]) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                if !self.inner.has_pending() {
                    break;
                }
            }
            if !self.inner.wait_writable(left(deadline)?)? {
                return Err(io::ErrorKind::TimedOut.into());
            }
        }
        Ok(())
    }

    /// Writes what the transport below takes now of the queued TLS records.
    fn flush_nowait(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut NoWait(&mut *self.inner)) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        if self.inner.has_pending() {
            match self.inner.send_nowait(&[]) {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

impl Transport for TlsTransport {
    fn wait(&mut self, want_write: bool, timeout: Option<Duration>) -> io::Result<(bool, bool)> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            if self.answer {
                return Ok((true, false));
            }
            if self.at < self.end {
                self.feed().map_err(|e| TlsError::Protocol(e).into_io())?;
                continue;
            }
            // An expired time still polls once (with a zero timeout): a
            // caller asking "anything now?" gets a real answer.
            let wait = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let flushing = self.tls.wants_write() || self.inner.has_pending();
            let (readable, writable) = self.inner.wait(want_write || flushing, wait)?;
            if readable {
                // poll() said it will not block.
                self.fill(None)?;
                continue;
            }
            if writable {
                self.flush_nowait()?;
                if want_write {
                    return Ok((false, true));
                }
                continue;
            }
            return Ok((false, false));
        }
    }

    fn send_nowait(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.flush_nowait()?;
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.tls.writer().write(buf)?;
        self.flush_nowait()?;
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    fn has_pending(&self) -> bool {
        self.tls.wants_write() || self.inner.has_pending()
    }

    fn wait_writable(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        // Plaintext is taken while records wait; what limits sending is the
        // transport below, once this layer's records are out.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        self.flush_nowait()?;
        while self.tls.wants_write() || self.inner.has_pending() {
            let wait = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(t) => Some(t),
                    None => return Ok(false),
                },
                None => None,
            };
            if !self.inner.wait_writable(wait)? {
                return Ok(false);
            }
            self.flush_nowait()?;
        }
        Ok(true)
    }

    fn clean_end(&self) -> Option<bool> {
        self.ended
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> io::Result<usize> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            match io::Read::read(&mut self.tls.reader(), buf) {
                Ok(0) if !buf.is_empty() => {
                    self.ended = Some(true);
                    return Ok(0);
                }
                Ok(n) => {
                    let n = self.read_buffered(buf, n)?;
                    self.refresh_answer();
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The TCP stream ended without close_notify.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.ended = Some(false);
                    return Ok(0);
                }
                Err(e) => return Err(e),
            }
            if self.at < self.end {
                self.feed().map_err(|e| TlsError::Protocol(e).into_io())?;
            } else if self.eof {
                self.ended = Some(false);
                return Ok(0);
            } else {
                if self.tls.wants_write() {
                    self.flush_blocking(deadline)?;
                }
                self.fill(deadline)?;
            }
        }
    }
}

impl TlsTransport {
    /// After `n` bytes of `buf` were filled: decrypts more of the
    /// ciphertext already read, without another system call, until `buf`
    /// is full or nothing more is ready, so one `recv()` yields up to the
    /// whole block read from the socket (fewer, larger writes downstream).
    fn read_buffered(&mut self, buf: &mut [u8], mut n: usize) -> io::Result<usize> {
        while n < buf.len() {
            match io::Read::read(&mut self.tls.reader(), &mut buf[n..]) {
                Ok(0) => break,
                Ok(m) => n += m,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.at < self.end => {
                    // An error is reported by the next call, after these
                    // bytes are delivered.
                    if self.feed().is_err() {
                        break;
                    }
                }
                // Nothing more ready, or the end: reported by the next call.
                Err(_) => break,
            }
        }
        Ok(n)
    }
}

/// Time left until `deadline`; an expired one is a timeout error.
fn left(deadline: Option<Instant>) -> io::Result<Option<Duration>> {
    match deadline {
        None => Ok(None),
        Some(d) => match d.checked_duration_since(Instant::now()) {
            Some(t) if !t.is_zero() => Ok(Some(t)),
            _ => Err(io::ErrorKind::TimedOut.into()),
        },
    }
}

/// The transport's non-blocking send as a `Write`, for rustls' `write_tls`.
struct NoWait<'a>(&'a mut dyn Transport);

impl Write for NoWait<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.send_nowait(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Subject, issuer, SANs, validity and fingerprint of a DER certificate;
/// a certificate x509-parser cannot read still gets its fingerprint.
pub fn describe(der: &[u8]) -> CertInfo {
    let sha256 = Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return CertInfo {
            subject: "(unparsable certificate)".into(),
            issuer: String::new(),
            sans: Vec::new(),
            not_before: String::new(),
            not_after: String::new(),
            sha256,
        };
    };
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            use x509_parser::extensions::GeneralName;
            match name {
                GeneralName::DNSName(d) => sans.push(format!("DNS:{d}")),
                GeneralName::IPAddress(b) => sans.push(format!("IP:{}", ip_text(b))),
                GeneralName::RFC822Name(m) => sans.push(format!("email:{m}")),
                GeneralName::URI(u) => sans.push(format!("URI:{u}")),
                _ => {}
            }
        }
    }
    let validity = cert.validity();
    CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sans,
        not_before: rfc3339(validity.not_before.timestamp()),
        not_after: rfc3339(validity.not_after.timestamp()),
        sha256,
    }
}

fn ip_text(b: &[u8]) -> String {
    match b.len() {
        4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(b).unwrap_or_default()).to_string(),
        16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap_or_default()).to_string(),
        _ => b.iter().map(|x| format!("{x:02x}")).collect(),
    }
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (a date a
/// certificate cannot hold, beyond the years -9999..=9999, as the seconds).
fn rfc3339(secs: i64) -> String {
    crate::utc::Utc::from_unix(secs).map_or_else(|| secs.to_string(), |u| u.rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
        assert_eq!(rfc3339(-86_400), "1969-12-31T00:00:00Z");
    }

    #[test]
    fn garbage_is_described_not_panicked_on() {
        let info = describe(b"not a certificate");
        assert_eq!(info.sha256.len(), 64);
        assert!(info.subject.contains("unparsable"));
    }

    #[test]
    fn a_missing_cacert_file_is_a_ca_file_error() {
        let setup = TlsSetup::new(Some("/nonexistent/rawget-ca.pem".into()), false);
        assert!(matches!(setup.verifier(), Err(TlsError::CaFile { .. })));
    }
}
