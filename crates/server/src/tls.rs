//! The HTTPS media port: loading the certificate and key, and serving every HTTP
//! output over TLS (rustls with the `ring` provider).
//!
//! The certificate file holds a PEM chain (end-entity certificate first, then any
//! intermediates); the key file one PEM private key: PKCS#8 (`PRIVATE KEY`), PKCS#1
//! RSA (`RSA PRIVATE KEY`) or SEC1 EC (`EC PRIVATE KEY`). Relative paths resolve
//! against the configuration file's folder, like stream sources. Anything wrong with
//! either file stops Brume at startup with an error naming the file and the problem;
//! key material never appears in a log or an error.
//!
//! Each accepted connection gets [`HANDSHAKE_TIMEOUT`] to finish its handshake; at
//! most [`MAX_CONCURRENT_HANDSHAKES`] handshakes run at once (further connections
//! wait in the kernel's backlog), so a flood of half-open handshakes cannot grow
//! memory without bound. A failed handshake closes that connection only. ALPN offers
//! `http/1.1` alone. The certificate can be replaced while the port runs: [`serve`]
//! reads the current [`ServerConfig`] from a watch channel for each new connection.
//! Connections are admitted through the port's [`Gate`] (`limits.https`) before
//! any handshake: a refused one is closed at once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::rustls::pki_types::pem::{self, PemObject};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;
use tracing::Instrument;

use crate::config_limits::LimitsConfig;
use crate::conn_limits::Gate;
use crate::http::{self, HttpContext};

/// How long a client has to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; more connections wait to be accepted.
pub const MAX_CONCURRENT_HANDSHAKES: usize = 512;
/// Certificate and key files larger than this are refused (a chain is a few KiB).
pub const MAX_PEM_FILE_BYTES: u64 = 1024 * 1024;
/// Certificates in one chain, at most.
pub const MAX_CHAIN_CERTIFICATES: usize = 16;

/// Why the HTTPS port cannot start: each names the file and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read TLS {what} file {path}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("TLS {what} file {path} is larger than {MAX_PEM_FILE_BYTES} bytes")]
    TooLarge { what: &'static str, path: PathBuf },
    #[error("TLS {what} file {path} is not valid PEM: {problem}")]
    BadPem {
        what: &'static str,
        path: PathBuf,
        problem: String,
    },
    #[error("TLS certificate file {path} holds no PEM `CERTIFICATE` block")]
    NoCertificate { path: PathBuf },
    #[error("TLS certificate file {path} holds more than {MAX_CHAIN_CERTIFICATES} certificates")]
    TooManyCertificates { path: PathBuf },
    #[error(
        "TLS key file {path} holds no private key (expected a PEM `PRIVATE KEY`, \
         `RSA PRIVATE KEY` or `EC PRIVATE KEY` block)"
    )]
    NoKey { path: PathBuf },
    #[error("the private key in {key} does not belong to the certificate in {cert}")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("cannot use TLS certificate {cert} with key {key}: {problem}")]
    Unusable {
        cert: PathBuf,
        key: PathBuf,
        problem: String,
    },
}

/// Loads the certificate chain and key and builds the server configuration.
pub fn load_server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = load_chain(cert)?;
    let private_key = load_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let unusable = |err: rustls::Error| match err {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            TlsError::KeyMismatch {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            }
        }
        other => TlsError::Unusable {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            problem: other.to_string(),
        },
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(unusable)?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(unusable)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read_pem_file(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let read_err = |source| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_err)?.len();
    if size > MAX_PEM_FILE_BYTES {
        return Err(TlsError::TooLarge {
            what,
            path: path.to_path_buf(),
        });
    }
    std::fs::read(path).map_err(read_err)
}

/// Describes a PEM syntax problem without quoting the file (it may be a key).
fn pem_problem(err: &pem::Error) -> String {
    match err {
        pem::Error::MissingSectionEnd { .. } => "a section has no END line".to_owned(),
        pem::Error::IllegalSectionStart { .. } => "a BEGIN line is malformed".to_owned(),
        pem::Error::Base64Decode(_) => "a section's base64 does not decode".to_owned(),
        pem::Error::SectionTooLarge => "a section is too large".to_owned(),
        pem::Error::NoItemsFound => "no PEM section found".to_owned(),
        _ => "unreadable PEM".to_owned(),
    }
}

fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let text = read_pem_file("certificate", path)?;
    let mut chain = Vec::new();
    for item in CertificateDer::pem_slice_iter(&text) {
        let cert = item.map_err(|err| TlsError::BadPem {
            what: "certificate",
            path: path.to_path_buf(),
            problem: pem_problem(&err),
        })?;
        if chain.len() == MAX_CHAIN_CERTIFICATES {
            return Err(TlsError::TooManyCertificates {
                path: path.to_path_buf(),
            });
        }
        chain.push(cert);
    }
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let text = read_pem_file("key", path)?;
    match PrivateKeyDer::from_pem_slice(&text) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) => Err(TlsError::NoKey {
            path: path.to_path_buf(),
        }),
        Err(err) => Err(TlsError::BadPem {
            what: "key",
            path: path.to_path_buf(),
            problem: pem_problem(&err),
        }),
    }
}

/// Accepts TCP connections, completes TLS handshakes and serves HTTP/1.1 over them
/// with `context` (whose scheme is [`http::Scheme::Https`]), until the task is dropped.
/// Each connection uses the certificate in `config` at the moment it is accepted.
pub async fn serve(
    listener: TcpListener,
    config: tokio::sync::watch::Receiver<Arc<ServerConfig>>,
    context: Arc<HttpContext>,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_CONCURRENT_HANDSHAKES));
    let gate = Gate::configured(
        "https",
        context.state.config.clone(),
        context.state.metrics.clone(),
        true,
        LimitsConfig::https,
        true,
    );
    loop {
        // Never closed, so acquiring only waits.
        let Ok(permit) = handshakes.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tokio::time::sleep(gate.accept_failed(&err)).await;
                continue;
            }
        };
        // Refused before the handshake: closed, no TLS work spent on it.
        let Some(slot) = gate.admit(Some(peer.ip())) else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let acceptor = TlsAcceptor::from(config.borrow().clone());
        let context = context.clone();
        tokio::spawn(
            async move {
                let handshake = handshake(&acceptor, stream).await;
                drop(permit);
                if let Some(tls) = handshake {
                    http::serve_connection(tls, context, Some(peer), slot);
                }
            }
            .instrument(tracing::debug_span!("tls", %peer)),
        );
    }
}

pub(crate) async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(err)) => {
            tracing::debug!(%err, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!("TLS handshake timed out");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_are_named() {
        let err = load_server_config(Path::new("/nonexistent/c.pem"), Path::new("/x/k.pem"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/c.pem"), "{err}");
        assert!(err.contains("certificate"), "{err}");
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        std::fs::write(&cert, "hello\n").unwrap();
        let err = load_chain(&cert).unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
        std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\n!!!!\n").unwrap();
        let err = load_chain(&cert).unwrap_err();
        assert!(matches!(err, TlsError::BadPem { .. }), "{err}");
    }

    #[test]
    fn a_key_file_without_a_key_is_refused_without_quoting_it() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        std::fs::write(&key, "secret-looking garbage\n").unwrap();
        let err = load_key(&key).unwrap_err().to_string();
        assert!(err.contains("key.pem"), "{err}");
        assert!(!err.contains("secret-looking"), "{err}");
    }
}
