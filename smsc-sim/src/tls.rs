//! SMPP over TLS for the simulator's listener (`serve --tls-cert FILE --tls-key FILE`): an
//! SMSC's TLS port, for ESMEs that must bind over TLS (the gateway's `[smsc] tls`). The
//! handshake runs in each connection's own task, so a client that never finishes it holds up
//! no other; one that fails it is logged and closed before any PDU.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// Longest a client may take to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection's byte stream, plain or TLS: what a session reads and writes PDUs on.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// The listener's TLS settings: a certificate chain and its key, and the CAs a client
/// certificate must chain to when one is required (mutual TLS).
#[derive(Clone)]
pub struct SimTls {
    acceptor: TlsAcceptor,
}

impl fmt::Debug for SimTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SimTls")
    }
}

impl SimTls {
    /// Read a PEM certificate chain and its PEM private key; with `client_ca` (PEM), every
    /// client must show a certificate that chains to it.
    pub fn from_pem_files(
        cert: &Path,
        key: &Path,
        client_ca: Option<&Path>,
    ) -> Result<Self, String> {
        let chain = pem_certs("--tls-cert", cert)?;
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
            let why = match e {
                // "no items found" said nothing of what was looked for.
                tokio_rustls::rustls::pki_types::pem::Error::NoItemsFound => {
                    "no PEM private key in it (PKCS#8, PKCS#1 or SEC1, unencrypted)".to_string()
                }
                other => other.to_string(),
            };
            format!("--tls-key {}: {why}", key.display())
        })?;
        let builder = ServerConfig::builder();
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for c in pem_certs("--tls-client-ca", ca)? {
                    roots
                        .add(c)
                        .map_err(|e| format!("--tls-client-ca {}: {e}", ca.display()))?;
                }
                let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
                    .build()
                    .map_err(|e| format!("--tls-client-ca {}: {e}", ca.display()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder
            .with_single_cert(chain, key)
            .map_err(|e| format!("--tls-cert / --tls-key: {e}"))?;
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// The TLS side of an accepted connection, or why the client did not get that far.
    pub async fn accept(&self, socket: TcpStream) -> Result<Box<dyn Io>, String> {
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(socket)).await {
            Ok(Ok(s)) => Ok(Box::new(s)),
            Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
            Err(_) => Err(format!(
                "TLS handshake not finished within {} s",
                HANDSHAKE_TIMEOUT.as_secs()
            )),
        }
    }
}

/// The certificates of a PEM file (`flag` names it in errors).
fn pem_certs(flag: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{flag} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{flag} {}: no PEM certificate in it",
            path.display()
        ));
    }
    Ok(certs)
}
