//! Where rustls and curl (on OpenSSL) part ways, and how rawget follows
//! curl: what a `--cacert` file trusts, and the words of a TLS failure.
//!
//! - A self-signed certificate made by a plain `openssl req -x509` is a CA
//!   (`CA:TRUE`) used as the server's own certificate. webpki refuses a CA
//!   as an end entity; OpenSSL accepts a certificate that is itself one of
//!   the trusted ones. [`trusted_as_itself`] does the same: the exact
//!   certificate (byte for byte) is in the `--cacert` file, it is valid
//!   now, and it names the host (its subjectAltName entries, or without
//!   any, its CN, as OpenSSL falls back to).
//! - Failures are one line in curl's words ([`certificate_problem`],
//!   [`handshake_problem`]), never a Rust debug string.
//!
//! Pure: it reads the `--cacert` file and parses certificates, and owns
//! no socket.

use std::net::IpAddr;
use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, Error};
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};

/// The verdict on `end_entity` when it is, byte for byte, a certificate
/// of the `cacert` file (`None` when it is not): trusted as its own
/// anchor, as OpenSSL (and so curl) trusts it, when it is valid at `now`
/// and for `server_name`.
pub(super) fn trusted_as_itself(
    end_entity: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
    cacert: &Path,
) -> Option<Result<(), Error>> {
    let listed = CertificateDer::pem_file_iter(cacert)
        .ok()?
        .flatten()
        .any(|c| c.as_ref() == end_entity.as_ref());
    if !listed {
        return None;
    }
    let refuse = |e| Some(Err(Error::InvalidCertificate(e)));
    let Ok((_, cert)) = X509Certificate::from_der(end_entity.as_ref()) else {
        return refuse(CertificateError::BadEncoding);
    };
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let validity = cert.validity();
    if now < validity.not_before.timestamp() {
        return refuse(CertificateError::NotValidYet);
    }
    if now > validity.not_after.timestamp() {
        return refuse(CertificateError::Expired);
    }
    if !names_host(&cert, server_name) {
        return refuse(CertificateError::NotValidForName);
    }
    Some(Ok(()))
}

/// OpenSSL's host check: the subjectAltName DNS and IP entries when there
/// are any, the subject's CN otherwise (DNS names only).
fn names_host(cert: &X509Certificate<'_>, server_name: &ServerName<'_>) -> bool {
    let (host, ip): (String, Option<IpAddr>) = match server_name {
        ServerName::DnsName(d) => (d.as_ref().to_ascii_lowercase(), None),
        ServerName::IpAddress(ip) => {
            let ip = IpAddr::from(*ip);
            (ip.to_string(), Some(ip))
        }
        _ => return false,
    };
    let sans: Vec<&GeneralName<'_>> = cert
        .extensions()
        .iter()
        .filter_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => Some(san.general_names.iter()),
            _ => None,
        })
        .flatten()
        .collect();
    let named = |n: &GeneralName<'_>| match (n, ip) {
        (GeneralName::DNSName(d), None) => dns_matches(d, &host),
        (GeneralName::IPAddress(bytes), Some(ip)) => match (ip, bytes.len()) {
            (IpAddr::V4(v4), 4) => v4.octets()[..] == bytes[..],
            (IpAddr::V6(v6), 16) => v6.octets()[..] == bytes[..],
            _ => false,
        },
        _ => false,
    };
    if !sans.is_empty() {
        return sans.into_iter().any(named);
    }
    ip.is_none()
        && cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok())
            .any(|cn| dns_matches(cn, &host))
}

/// A name of the certificate against the host: exact (any case), or a
/// `*.` wildcard standing for one leftmost label.
fn dns_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let pattern = pattern.trim_end_matches('.');
    let host = host.trim_end_matches('.');
    match pattern.strip_prefix("*.") {
        Some(rest) => host
            .split_once('.')
            .is_some_and(|(label, domain)| !label.is_empty() && domain == rest),
        None => pattern == host,
    }
}

/// A certificate that did not verify, in curl's words.
pub(super) fn certificate_problem(e: &Error) -> String {
    let Error::InvalidCertificate(c) = e else {
        return handshake_problem(e);
    };
    let what = match c {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "certificate has expired"
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "certificate is not yet valid"
        }
        CertificateError::UnknownIssuer => "unable to get local issuer certificate",
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            return "SSL: no alternative certificate subject name matches the target host name"
                .into()
        }
        CertificateError::BadSignature => "certificate signature failure",
        CertificateError::Revoked => "certificate revoked",
        CertificateError::BadEncoding => "the certificate is malformed",
        CertificateError::UnhandledCriticalExtension => "unhandled critical extension",
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "unsupported certificate purpose"
        }
        CertificateError::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
            // A CA used as the server's certificate that is not itself
            // trusted: OpenSSL's verdict for a self-signed certificate.
            Some(webpki::Error::CaUsedAsEndEntity) => "self-signed certificate",
            Some(_) | None => "the certificate chain was refused",
        },
        _ => "the certificate chain was refused",
    };
    format!("SSL certificate problem: {what}")
}

/// A handshake that failed for another reason than the certificate.
pub(super) fn handshake_problem(e: &Error) -> String {
    match e {
        Error::InvalidCertificate(_) => certificate_problem(e),
        Error::AlertReceived(alert) => {
            format!("the server sent the TLS alert '{}'", alert_words(*alert))
        }
        Error::PeerIncompatible(_) => {
            "the server offers no TLS version or cipher suite in common with rawget \
             (TLS 1.2 and 1.3)"
                .into()
        }
        Error::InvalidMessage(_) | Error::InappropriateHandshakeMessage { .. } => {
            "the server does not speak TLS as expected (an invalid handshake message)".into()
        }
        Error::PeerMisbehaved(_) => "the server broke the TLS protocol".into(),
        Error::DecryptError => "a TLS record failed to decrypt".into(),
        Error::General(s) => s.clone(),
        _ => "the TLS handshake failed".into(),
    }
}

/// An alert's name in words (`HandshakeFailure` becomes "handshake
/// failure").
fn alert_words(alert: rustls::AlertDescription) -> String {
    let name = format!("{alert:?}");
    let mut out = String::with_capacity(name.len() + 4);
    for (i, ch) in name.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(ch.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_stand_for_one_label() {
        assert!(dns_matches("*.example.test", "a.example.test"));
        assert!(!dns_matches("*.example.test", "a.b.example.test"));
        assert!(!dns_matches("*.example.test", "example.test"));
        assert!(dns_matches("LocalHost", "localhost"));
    }

    #[test]
    fn failures_read_as_curl_words_not_debug_strings() {
        let e = Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert_eq!(
            certificate_problem(&e),
            "SSL certificate problem: unable to get local issuer certificate"
        );
        let e = Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        assert_eq!(
            handshake_problem(&e),
            "the server sent the TLS alert 'handshake failure'"
        );
    }
}
