//! The optional Unix-socket listener for the HTTP media port (`http.unix_socket`), so
//! a reverse proxy on the same machine skips TCP.
//!
//! It serves exactly what the TCP port serves (scheme `http`, the TCP port's number
//! for URLs built from a Host header without a port). A Unix-socket peer has no IP
//! address: requests carry `peer = None`, which the public-URL logic treats as a
//! trusted local proxy, so its forwarding headers are believed.
//!
//! The socket file is created with mode 0660 ([`SOCKET_MODE`]): the owner and group
//! of the Brume process may connect, nobody else. Put the proxy's user (say
//! `www-data`) in Brume's group, or run the proxy as Brume's user. A relative path
//! resolves against the configuration file's folder. At startup a leftover socket
//! file from an earlier run is removed, but only when it is a socket and nothing
//! answers on it; any other file at the path is an error. The file is removed again
//! when the listener is dropped (at shutdown), if it is still the one we created.
//! The HTTP context comes through a watch channel, so a new HTTP port number is
//! followed without rebinding the socket.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::UnixListener;
use tokio::sync::watch;

use crate::config_limits::LimitsConfig;
use crate::conn_limits::{answer_busy, Gate};
use crate::http::{self, HttpContext};

/// Permissions of the socket file: read/write for owner and group.
pub const SOCKET_MODE: u32 = 0o660;

/// Why the Unix socket cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum UnixSocketError {
    #[error("cannot use {path} as the HTTP unix socket: a file that is not a socket is there")]
    NotASocket { path: PathBuf },
    #[error("cannot use {path} as the HTTP unix socket: another server is listening on it")]
    InUse { path: PathBuf },
    #[error("cannot remove the stale HTTP unix socket {path}")]
    RemoveStale {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on the HTTP unix socket {path}")]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A bound Unix socket; dropping it removes the socket file.
#[derive(Debug)]
pub struct BoundSocket {
    listener: Option<UnixListener>,
    path: PathBuf,
    /// Device and inode of the file we created, so we never remove someone else's.
    identity: (u64, u64),
}

impl BoundSocket {
    /// The socket file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts serving HTTP on the socket in a task, each connection with the context
    /// current when it is accepted; the returned handle stops it when aborted. The
    /// socket file stays until `self` is dropped.
    pub fn serve(
        &mut self,
        context: watch::Receiver<Arc<HttpContext>>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let listener = self.listener.take()?;
        Some(tokio::spawn(serve(listener, context)))
    }
}

impl Drop for BoundSocket {
    fn drop(&mut self) {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path) {
            if (meta.dev(), meta.ino()) == self.identity {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// Binds the socket at `path`, replacing a stale socket file left by an earlier run.
pub fn bind(path: &Path) -> Result<BoundSocket, UnixSocketError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(UnixSocketError::InUse {
                    path: path.to_path_buf(),
                });
            }
            std::fs::remove_file(path).map_err(|source| UnixSocketError::RemoveStale {
                path: path.to_path_buf(),
                source,
            })?;
        }
        Ok(_) => {
            return Err(UnixSocketError::NotASocket {
                path: path.to_path_buf(),
            })
        }
        Err(_) => {}
    }
    let bind_err = |source| UnixSocketError::Bind {
        path: path.to_path_buf(),
        source,
    };
    let listener = UnixListener::bind(path).map_err(bind_err)?;
    let meta = std::fs::symlink_metadata(path).map_err(bind_err)?;
    let bound = BoundSocket {
        listener: Some(listener),
        path: path.to_path_buf(),
        identity: (meta.dev(), meta.ino()),
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))
        .map_err(bind_err)?;
    Ok(bound)
}

/// Accepts connections on the socket and serves HTTP/1.1 with `peer = None`.
/// Connections are admitted through the socket's [`Gate`] (`limits.unix_socket`,
/// a cap on the listener only); a refused one gets a 503.
async fn serve(listener: UnixListener, context: watch::Receiver<Arc<HttpContext>>) {
    let gate = {
        let state = &context.borrow().state;
        Gate::configured(
            "unix_socket",
            state.config.clone(),
            state.metrics.clone(),
            true,
            LimitsConfig::unix_socket,
            false,
        )
    };
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let Some(slot) = gate.admit(None) else {
                    answer_busy(stream);
                    continue;
                };
                let context = context.borrow().clone();
                http::serve_connection(stream, context, None, slot);
            }
            Err(err) => tokio::time::sleep(gate.accept_failed(&err)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn binds_replaces_stale_sockets_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("brume.sock");
        let first = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, SOCKET_MODE);
        // A live socket is not taken over.
        assert!(matches!(bind(&path), Err(UnixSocketError::InUse { .. })));
        // A socket left behind (listener gone, file kept) is replaced.
        let std_listener = std::os::unix::net::UnixListener::bind(dir.path().join("old.sock"));
        drop(std_listener);
        let stale = dir.path().join("old.sock");
        assert!(stale.exists());
        let second = bind(&stale).unwrap();
        drop(second);
        assert!(!stale.exists(), "the socket file is removed on drop");
        drop(first);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn refuses_to_replace_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.txt");
        std::fs::write(&path, "keep me").unwrap();
        assert!(matches!(
            bind(&path),
            Err(UnixSocketError::NotASocket { .. })
        ));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
    }
}
