//! The byte stream under an SMPP session: plain TCP, or TLS over TCP (`[smsc] tls`), as Kannel's
//! `use-ssl`, Jasmin's `ssl` and cloudhopper's `ssmpp://` offer.
//!
//! Plain TCP keeps the session's fast paths ([`super::reader`]: the receive low-water mark and
//! polling for an expected answer, both socket options that mean nothing under TLS records);
//! a TLS session reads through rustls as any async stream. Both write through the same framed
//! sink, several PDUs per write when the window is busy.
//!
//! The TLS settings are read and checked once, when the config is loaded ([`TlsClient::new`]):
//! a missing CA file or a key that does not parse stops the start (and `check-config`), not
//! the first connection. The SMSC's certificate must chain to the configured CAs (or the host's
//! trust store) and carry the name the gateway connects by (the address's own name in
//! `tls_server_names`, else `tls_server_name`, else the host of the address); there is no
//! switch to skip that check. Each bind logs the TLS version, cipher suite and the end of the
//! certificate's validity, and warns in its last 14 days (`session::report_tls`).

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// Why the TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A file could not be read or holds nothing usable.
    #[error("{what} {path}: {why}")]
    File {
        /// Which setting named the file.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// rustls refused the combination (a key that does not match its certificate...).
    #[error("TLS settings: {0}")]
    Config(String),
    /// A name given to check an SMSC's certificate by is not a DNS name or an IP address.
    #[error("{what} {name:?}: {why}")]
    Name {
        /// Which setting gave it: `tls_server_name` or `tls_server_names`.
        what: &'static str,
        /// The name.
        name: String,
        /// Why it is none.
        why: String,
    },
    /// `tls_client_cert_file` without `tls_client_key_file`, or the other way round.
    #[error(
        "tls_client_cert_file and tls_client_key_file go together (one is set, not the other)"
    )]
    HalfClientAuth,
}

/// TLS settings of the SMPP link, checked and ready to connect with.
#[derive(Clone)]
pub struct TlsClient {
    connector: TlsConnector,
    /// The name the SMSC's certificate must carry, at an address without one of its own in
    /// `by_address`; `None`: the host of the address.
    server_name: Option<ServerName<'static>>,
    /// The name the certificate of the SMSC at an address (`host:port` as configured) must
    /// carry, where the operator gave one (`tls_server_names`).
    by_address: HashMap<String, ServerName<'static>>,
    /// Where the trusted roots came from, for the log.
    roots: String,
    /// Whether a client certificate is shown (mutual TLS).
    client_auth: bool,
}

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClient")
            .field("server_name", &self.server_name)
            .field("by_address", &self.by_address)
            .field("roots", &self.roots)
            .finish_non_exhaustive()
    }
}

/// Certificates of a PEM file.
fn certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let err = |why: String| TlsSetupError::File {
        what,
        path: path.to_path_buf(),
        why,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// Why a PEM private key file could not be used, as an operator can act on it: "no items
/// found" said nothing of what was looked for (a certificate given for the key, an encrypted
/// key). Never any of the file's content.
fn key_error(e: tokio_rustls::rustls::pki_types::pem::Error) -> String {
    use tokio_rustls::rustls::pki_types::pem::Error;
    match e {
        Error::NoItemsFound => "no PEM private key in it (PKCS#8, PKCS#1 or SEC1, unencrypted: \
                                an encrypted key must be decrypted first)"
            .into(),
        other => other.to_string(),
    }
}

impl TlsClient {
    /// Read and check the settings: `ca_file` (PEM; `None`: the host's trust store),
    /// `server_name` (`None`: the host of each address), `by_address` (`(address, name)`: the
    /// name the certificate at that address must carry, over `server_name`), and a client
    /// certificate chain and key (PEM) for an SMSC that asks for one.
    pub fn new<'a>(
        ca_file: Option<&Path>,
        server_name: Option<&str>,
        by_address: impl IntoIterator<Item = (&'a str, &'a str)>,
        client: Option<(&Path, &Path)>,
    ) -> Result<Self, TlsSetupError> {
        let mut store = RootCertStore::empty();
        let roots = match ca_file {
            Some(path) => {
                let (added, _) = store.add_parsable_certificates(certs("tls_ca_file", path)?);
                if added == 0 {
                    return Err(TlsSetupError::File {
                        what: "tls_ca_file",
                        path: path.to_path_buf(),
                        why: "no certificate in it is a usable CA".into(),
                    });
                }
                format!("{} ({added} certificates)", path.display())
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = store.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(TlsSetupError::Config(
                        "the host's trust store has no certificates: set tls_ca_file".into(),
                    ));
                }
                format!("the host's trust store ({added} certificates)")
            }
        };
        let name = |what: &'static str, n: &str| {
            ServerName::try_from(n.to_string()).map_err(|e| TlsSetupError::Name {
                what,
                name: n.to_string(),
                why: e.to_string(),
            })
        };
        let server_name = server_name
            .map(|n| name("tls_server_name", n))
            .transpose()?;
        let by_address = by_address
            .into_iter()
            .map(|(address, n)| Ok((address.to_string(), name("tls_server_names", n)?)))
            .collect::<Result<HashMap<_, _>, TlsSetupError>>()?;
        let builder = ClientConfig::builder().with_root_certificates(store);
        let config = match client {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = certs("tls_client_cert_file", cert)?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsSetupError::File {
                    what: "tls_client_key_file",
                    path: key.to_path_buf(),
                    why: key_error(e),
                })?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| TlsSetupError::Config(e.to_string()))?
            }
        };
        Ok(Self {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
            by_address,
            roots,
            client_auth: client.is_some(),
        })
    }

    /// Where the trusted roots come from (for the log and `check-config`).
    pub fn roots(&self) -> &str {
        &self.roots
    }

    /// What to look at when `e`, read or written on a TLS session with the SMSC at `address`,
    /// is a TLS failure a setting can mend (see [`connect`]).
    pub(crate) fn hint(&self, e: &io::Error, address: &str) -> Option<String> {
        let name = self.name_for(address).ok()?;
        tls_hint(e, self, &name)
    }

    /// Whether the SMSC at `address` (`host:port`) has a name its certificate can be checked
    /// by (see [`TlsClient::new`]), or why not.
    pub fn check_address(&self, address: &str) -> Result<(), String> {
        self.name_for(address).map(|_| ())
    }

    /// The name checked in the certificate of the SMSC at `address` (`host:port`): its own
    /// (`tls_server_names`), else `tls_server_name`, else the host of the address.
    fn name_for(&self, address: &str) -> Result<ServerName<'static>, String> {
        if let Some(n) = self.by_address.get(address) {
            return Ok(n.clone());
        }
        if let Some(n) = &self.server_name {
            return Ok(n.clone());
        }
        let host = address
            .rsplit_once(':')
            .map_or(address, |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        ServerName::try_from(host.to_string()).map_err(|e| {
            format!(
                "{host:?} is no name to check a certificate by ({e}): set tls_server_name, or \
                 this address's name in tls_server_names"
            )
        })
    }
}

/// Connect to `address` (`host:port`) within `timeout` (the TCP connection and the TLS
/// handshake together), with TLS when `tls` is given. A failed or unfinished handshake says
/// so, and what to look at when it is a setting (a plain port, the CA, the name, a client
/// certificate): "timed out" alone read the same whether the host or its TLS never answered.
pub(crate) async fn connect(
    address: &str,
    tls: Option<&TlsClient>,
    timeout: Duration,
) -> io::Result<Stream> {
    let deadline = tokio::time::Instant::now() + timeout;
    let tcp = match tokio::time::timeout_at(deadline, TcpStream::connect(address)).await {
        Ok(tcp) => tcp?,
        Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out")),
    };
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::warn!(error = %e, "could not set TCP_NODELAY");
    }
    let Some(tls) = tls else {
        return Ok(Stream::Tcp(tcp));
    };
    let name = tls
        .name_for(address)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    match tokio::time::timeout_at(deadline, tls.connector.connect(name.clone(), tcp)).await {
        Ok(Ok(stream)) => Ok(Stream::Tls(Box::new(stream))),
        Ok(Err(e)) => Err(io::Error::new(
            e.kind(),
            format!(
                "TLS handshake: {e}{}",
                tls_hint(&e, tls, &name)
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default()
            ),
        )),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "TCP connected, but the TLS handshake was not finished within {} ms: is this the \
                 SMSC's TLS port? (a plain SMPP port waits for a PDU and never answers it)",
                timeout.as_millis()
            ),
        )),
    }
}

/// What to look at for a TLS failure that a setting can mend, if `e` is one: the handshake's
/// errors, and those that come with the first read (under TLS 1.3 an SMSC refuses a missing
/// client certificate after the gateway's side of the handshake is done).
fn tls_hint(e: &io::Error, tls: &TlsClient, name: &ServerName<'_>) -> Option<String> {
    use tokio_rustls::rustls::{AlertDescription, CertificateError, Error};
    let Some(rustls) = e.get_ref().and_then(|r| r.downcast_ref::<Error>()) else {
        return (e.kind() == io::ErrorKind::UnexpectedEof).then(|| {
            "the SMSC closed the connection in the handshake: is this its TLS port? does it \
             want a client certificate (tls_client_cert_file)?"
                .to_string()
        });
    };
    Some(match rustls {
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "no CA of {} signed the SMSC's certificate: set tls_ca_file to the CA that did",
            tls.roots
        ),
        Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "the SMSC's certificate does not carry the name {:?}: set tls_server_name to a name \
             it carries (or, for this address alone, tls_server_names)",
            name.to_str()
        ),
        Error::InvalidCertificate(CertificateError::ExpiredContext { not_after, .. }) => format!(
            "the SMSC's certificate expired at {}: the SMSC must be given a renewed one",
            utc_text(not_after.as_secs())
        ),
        Error::InvalidCertificate(CertificateError::Expired) => {
            "the SMSC's certificate expired: the SMSC must be given a renewed one".into()
        }
        Error::InvalidCertificate(CertificateError::NotValidYetContext { not_before, .. }) => {
            format!(
                "the SMSC's certificate is valid only from {}: is this host's clock right?",
                utc_text(not_before.as_secs())
            )
        }
        Error::InvalidMessage(_) | Error::InappropriateMessage { .. } => {
            "the SMSC did not answer in TLS: is this its TLS port, not its plain SMPP one?".into()
        }
        Error::AlertReceived(AlertDescription::CertificateRequired) => {
            "the SMSC wants a client certificate: set tls_client_cert_file and \
             tls_client_key_file"
                .into()
        }
        Error::AlertReceived(
            AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::AccessDenied,
        ) if tls.client_auth => {
            "the SMSC did not accept the client certificate (tls_client_cert_file)".into()
        }
        _ => return None,
    })
}

/// Whether `command_length`, the first four bytes read as an SMPP length, is the start of a
/// TLS record instead: a content type (change_cipher_spec, alert, handshake, application
/// data) and a 3.x version, as a TLS SMSC answers a plain-text bind.
pub(crate) fn looks_like_tls_record(command_length: usize) -> bool {
    let [content_type, major, ..] = u32::try_from(command_length).unwrap_or(0).to_be_bytes();
    (0x14..=0x17).contains(&content_type) && major == 0x03
}

/// `YYYY-MM-DD HH:MM:SS UTC` of Unix seconds `secs`.
pub(crate) fn utc_text(secs: u64) -> String {
    let ms = i64::try_from(secs).unwrap_or(i64::MAX / 1000) * 1000;
    format!("{} UTC", crate::service::clock::Zone::UTC.timestamp(ms))
}

/// What a TLS session with the SMSC agreed on, logged at each bind.
#[derive(Debug, Clone)]
pub(crate) struct TlsSessionInfo {
    /// The protocol version (`TLSv1_3`).
    pub(crate) version: String,
    /// The cipher suite (`TLS13_AES_256_GCM_SHA384`).
    pub(crate) cipher_suite: String,
    /// The end of validity (`notAfter`) of the SMSC's certificate, Unix seconds; `None` when
    /// it could not be read.
    pub(crate) cert_not_after: Option<i64>,
}

/// A connected SMPP byte stream.
pub(crate) enum Stream {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS over TCP.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    /// What the TLS session agreed on; `None` over plain TCP.
    pub(crate) fn tls_info(&self) -> Option<TlsSessionInfo> {
        let Stream::Tls(s) = self else {
            return None;
        };
        let (_, conn) = s.get_ref();
        Some(TlsSessionInfo {
            version: conn
                .protocol_version()
                .map_or_else(|| "unknown".into(), |v| format!("{v:?}")),
            cipher_suite: conn
                .negotiated_cipher_suite()
                .map_or_else(|| "unknown".into(), |c| format!("{:?}", c.suite())),
            cert_not_after: conn
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|cert| super::certificate::not_after(cert)),
        })
    }

    /// The read and write halves of a bound session.
    pub(crate) fn into_split(self) -> (ReadSide, WriteSide) {
        match self {
            Stream::Tcp(s) => {
                let (r, w) = s.into_split();
                (ReadSide::Tcp(r), WriteSide::Tcp(w))
            }
            tls @ Stream::Tls(_) => {
                let (r, w) = tokio::io::split(tls);
                (ReadSide::Tls(r), WriteSide::Tls(w))
            }
        }
    }
}

/// The read half of a bound session.
pub(crate) enum ReadSide {
    /// Plain TCP: the reader uses the socket's readiness and options directly.
    Tcp(OwnedReadHalf),
    /// TLS: read as a stream.
    Tls(ReadHalf<Stream>),
}

/// The write half of a bound session.
pub(crate) enum WriteSide {
    /// Plain TCP.
    Tcp(OwnedWriteHalf),
    /// TLS.
    Tls(WriteHalf<Stream>),
}

/// `AsyncRead` / `AsyncWrite` by delegation to whichever variant `$self` is.
macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Stream::Tcp($s) => $e,
            Stream::Tls($s) => $e,
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        delegate!(self, s => Pin::new(s).poll_write(cx, b))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Tcp(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}

impl AsyncWrite for WriteSide {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            WriteSide::Tcp(s) => Pin::new(s).poll_write(cx, b),
            WriteSide::Tls(s) => Pin::new(s).poll_write(cx, b),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            WriteSide::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            WriteSide::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            WriteSide::Tcp(s) => s.is_write_vectored(),
            WriteSide::Tls(s) => s.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteSide::Tcp(s) => Pin::new(s).poll_flush(cx),
            WriteSide::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteSide::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            WriteSide::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TLS record's first bytes read as a command_length are told apart from an SMPP length,
    /// however large.
    #[test]
    fn a_tls_record_header_is_told_from_a_command_length() {
        // An alert record (0x15, TLS 1.2 record version 3.3), as rustls answers a plain bind.
        assert!(looks_like_tls_record(0x1503_0300));
        assert!(looks_like_tls_record(0x1603_0100)); // a handshake record, TLS 1.0 version
        assert!(!looks_like_tls_record(0x0000_0010)); // an enquire_link
        assert!(!looks_like_tls_record(0x1504_0000)); // not a 3.x version
        assert!(!looks_like_tls_record(0x1803_0300)); // not a record type
        assert!(!looks_like_tls_record(usize::MAX));
    }
}
