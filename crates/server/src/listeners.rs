//! The listeners: the one place that owns the running accept loops (owned in turn
//! by the [`crate::supervisor`]).
//!
//! What they serve is handed in once, at [`Listeners::start`], as [`Services`]:
//! the media ports' [`ServerState`] and the management API's [`ApiState`].
//! Startup and runtime changes share one path. [`Prepared::bind`] binds what a
//! configuration asks for that differs from the one in force (everything at
//! startup): new TCP ports, the HTTPS certificate and key, the Unix socket. It only
//! binds and loads, so a failure leaves the server as it was and is reported as a
//! [`Refusal`] naming the key (`http.listen`, `https.cert`, …). [`Listeners::apply`]
//! then swaps: accept loops start on the new listeners, the old loops are aborted
//! (their listening sockets close; connections already accepted run their own
//! tasks and finish normally), the bound ports are recorded and logged.
//!
//! Log lines, in this order (scripts and tests read them; the HTTP line comes last
//! and means "ready"): "HTTPS media port listening", "HTTP unix socket listening",
//! "RTMP port listening", "management API listening", "HTTP media port listening".

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::rustls::ServerConfig;

use crate::api::ApiState;
use crate::config::Config;
use crate::config_limits::LimitsConfig;
use crate::config_store::Refusal;
use crate::conn_limits::Gate;
use crate::http::{self, HttpContext, Scheme};
use crate::state::ServerState;
use crate::tls::{self, TlsError};
use crate::unix_socket::{self, BoundSocket};

/// Pending connections the kernel queues per TCP listener.
const BACKLOG: u32 = 1024;

/// One running accept loop; dropping it stops accepting.
#[derive(Debug)]
struct Serving {
    address: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug)]
struct HttpsServing {
    serving: Serving,
    /// The certificate new connections get.
    tls: watch::Sender<Arc<ServerConfig>>,
}

#[derive(Debug)]
struct UnixServing {
    task: JoinHandle<()>,
    /// Dropped after the task: removes the socket file.
    socket: BoundSocket,
}

impl Drop for UnixServing {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the listeners serve, handed in by the supervisor.
#[derive(Debug, Clone)]
pub struct Services {
    /// What the media ports (HTTP, HTTPS, Unix socket) and RTMP read.
    pub media: Arc<ServerState>,
    /// The management API's state.
    pub api: ApiState,
}

#[derive(Debug, Default)]
struct Running {
    /// Set by [`Listeners::start`]; dropped by [`Listeners::stop_all`].
    services: Option<Services>,
    http: Option<Serving>,
    https: Option<HttpsServing>,
    rtmp: Option<Serving>,
    api: Option<Serving>,
    unix: Option<UnixServing>,
    /// The HTTP port's context, followed by the Unix socket.
    http_context: Option<watch::Sender<Arc<HttpContext>>>,
    /// The management port's TLS configuration (`None`: plain HTTP), followed by
    /// its accept loop for each new connection.
    api_tls: Option<watch::Sender<Option<Arc<ServerConfig>>>>,
}

/// Owns every running accept loop of the server.
#[derive(Debug, Default)]
pub struct Listeners {
    running: Mutex<Running>,
}

/// HTTPS after a change: its certificate, and a new listener unless the port is kept.
#[derive(Debug)]
struct HttpsPrepared {
    listener: Option<TcpListener>,
    tls: Arc<ServerConfig>,
}

/// What a configuration change binds before it is saved; dropped unused (the
/// change refused or the save failed), it closes what it bound.
#[derive(Debug, Default)]
pub struct Prepared {
    http: Option<TcpListener>,
    /// `Some(None)`: HTTPS turned off.
    https: Option<Option<HttpsPrepared>>,
    rtmp: Option<TcpListener>,
    api: Option<TcpListener>,
    /// The management port's TLS after a change of `api.tls` (`Some(None)`: off).
    api_tls: Option<Option<Arc<ServerConfig>>>,
    /// `Some(None)`: the Unix socket turned off.
    unix: Option<Option<BoundSocket>>,
    /// `Some(None)`: WebRTC turned off.
    webrtc: Option<Option<WebRtcPrepared>>,
}

/// WebRTC after a change: its settings, and a new socket unless the address is kept.
#[derive(Debug)]
struct WebRtcPrepared {
    socket: Option<std::net::UdpSocket>,
    config: crate::webrtc::config::WebRtcConfig,
}

impl Prepared {
    /// Binds and loads what `new` needs beyond `old` (everything when `old` is
    /// `None`). Relative paths (certificate, key, socket) resolve against `base`.
    pub fn bind(old: Option<&Config>, new: &Config, base: &Path) -> Result<Prepared, Refusal> {
        let mut prepared = Prepared::default();
        // The certificate first: at startup a bad file is named before any port.
        let old_https = old.and_then(|o| o.https.as_ref());
        let https_changed = match (old_https, &new.https) {
            (None, None) => false,
            (Some(a), Some(b)) => (a.listen, &a.cert, &a.key) != (b.listen, &b.cert, &b.key),
            _ => true,
        };
        let https_tls = match (&new.https, https_changed) {
            (Some(https), true) => Some(
                tls::load_server_config(&base.join(&https.cert), &base.join(&https.key))
                    .map_err(|err| tls_refusal("https", err))?,
            ),
            _ => None,
        };
        if old.is_none_or(|o| o.api.tls != new.api.tls) {
            prepared.api_tls = Some(match &new.api.tls {
                Some(files) => Some(
                    tls::load_server_config(&base.join(&files.cert), &base.join(&files.key))
                        .map_err(|err| tls_refusal("api.tls", err))?,
                ),
                None => None,
            });
        }
        let changed = |get: fn(&Config) -> SocketAddr| old.is_none_or(|o| get(o) != get(new));
        if changed(|c| c.api.listen) {
            prepared.api = Some(bind_tcp(
                "the management API",
                "api.listen",
                new.api.listen,
            )?);
        }
        if changed(|c| c.http.listen) {
            prepared.http = Some(bind_tcp("HTTP", "http.listen", new.http.listen)?);
        }
        if https_changed {
            prepared.https = Some(match (&new.https, https_tls) {
                (Some(https), Some(tls)) => {
                    let keep = old_https.is_some_and(|o| o.listen == https.listen);
                    let listener = if keep {
                        None
                    } else {
                        Some(bind_tcp("HTTPS", "https.listen", https.listen)?)
                    };
                    Some(HttpsPrepared { listener, tls })
                }
                _ => None,
            });
        }
        if changed(|c| c.rtmp.listen) {
            prepared.rtmp = Some(bind_tcp("RTMP", "rtmp.listen", new.rtmp.listen)?);
        }
        let old_webrtc = old.and_then(|o| o.webrtc.as_ref());
        if old_webrtc != new.webrtc.as_ref() {
            prepared.webrtc = Some(match &new.webrtc {
                Some(config) => {
                    let keep = old_webrtc.is_some_and(|o| o.listen == config.listen);
                    let socket = if keep {
                        None
                    } else {
                        Some(crate::webrtc::bind(config).map_err(|err| Refusal {
                            key: "webrtc.listen".to_owned(),
                            message: format!(
                                "cannot listen for WebRTC on UDP {}: {err}",
                                config.listen
                            ),
                        })?)
                    };
                    Some(WebRtcPrepared {
                        socket,
                        config: config.clone(),
                    })
                }
                None => None,
            });
        }
        let unix_changed = match old {
            None => new.http.unix_socket.is_some(),
            Some(old) => old.http.unix_socket != new.http.unix_socket,
        };
        if unix_changed {
            prepared.unix = Some(match &new.http.unix_socket {
                Some(path) => Some(unix_socket::bind(&base.join(path)).map_err(|err| Refusal {
                    key: "http.unix_socket".to_owned(),
                    message: error_chain(&err),
                })?),
                None => None,
            });
        }
        Ok(prepared)
    }

    /// Whether nothing needs swapping.
    pub fn is_empty(&self) -> bool {
        self.http.is_none()
            && self.https.is_none()
            && self.rtmp.is_none()
            && self.api.is_none()
            && self.api_tls.is_none()
            && self.unix.is_none()
            && self.webrtc.is_none()
    }
}

impl Listeners {
    /// Whether the listeners serve (only then do configuration changes bind).
    pub fn is_started(&self) -> bool {
        self.lock().services.is_some()
    }

    /// Starts serving `services` on what `prepared` bound (all listeners, at
    /// startup).
    pub fn start(&self, services: Services, prepared: Prepared) {
        self.lock().services = Some(services);
        self.apply(prepared);
    }

    /// Swaps in what `prepared` bound: new accept loops start, replaced ones stop,
    /// the bound ports are recorded and logged (in the documented order). Does
    /// nothing before [`Listeners::start`] or after [`Listeners::stop_all`].
    pub fn apply(&self, prepared: Prepared) {
        let mut running = self.lock();
        let Some(Services {
            media: server,
            api: api_state,
        }) = running.services.clone()
        else {
            return;
        };
        let Prepared {
            http,
            https,
            rtmp,
            api,
            api_tls,
            unix,
            webrtc,
        } = prepared;

        if let Some(tls) = api_tls {
            let on = tls.is_some();
            match &running.api_tls {
                Some(sender) => {
                    sender.send_replace(tls);
                    tracing::info!(tls = on, "management API TLS setting applied");
                }
                None => running.api_tls = Some(watch::channel(tls).0),
            }
        }

        // The HTTP context (its port number builds URLs) is made first: the Unix
        // socket serves with it. Its accept loop starts last.
        let http = http.and_then(|listener| match listener.local_addr() {
            Ok(address) => Some((listener, address)),
            Err(err) => {
                tracing::error!(%err, "the new HTTP listener has no address");
                None
            }
        });
        if let Some((_, address)) = &http {
            let context = Arc::new(HttpContext {
                state: server.clone(),
                scheme: Scheme::Http,
                local_port: address.port(),
            });
            match &running.http_context {
                Some(sender) => {
                    sender.send_replace(context);
                }
                None => running.http_context = Some(watch::channel(context).0),
            }
        }

        match https {
            None => {}
            Some(None) => {
                if running.https.take().is_some() {
                    tracing::info!("HTTPS media port closed");
                }
                server.set_ports(|ports| ports.https = None);
            }
            Some(Some(HttpsPrepared { listener, tls })) => match (listener, &mut running.https) {
                (None, Some(current)) => {
                    current.tls.send_replace(tls);
                    tracing::info!(address = %current.serving.address, "HTTPS certificate reloaded");
                }
                (listener, _) => {
                    if let Some(listener) = listener {
                        start_https(&server, &mut running, listener, tls);
                    }
                }
            },
        }

        if let Some(unix) = unix {
            if let Some(old) = running.unix.take() {
                tracing::info!(path = %old.socket.path().display(), "HTTP unix socket closed");
            }
            if let Some(mut socket) = unix {
                let context = running.http_context.as_ref().map(watch::Sender::subscribe);
                if let Some(context) = context {
                    tracing::info!(path = %socket.path().display(), "HTTP unix socket listening");
                    if let Some(task) = socket.serve(context) {
                        running.unix = Some(UnixServing { task, socket });
                    }
                }
            }
        }

        if let Some(listener) = rtmp {
            if let Ok(address) = listener.local_addr() {
                server.set_ports(|ports| ports.rtmp = Some(address));
                tracing::info!(%address, "RTMP port listening");
                let task = tokio::spawn(crate::rtmp::serve(listener, server.clone()));
                running.rtmp = Some(Serving { address, task });
            }
        }

        match webrtc {
            None => {}
            Some(None) => {
                if server.webrtc().is_some() {
                    tracing::info!("WebRTC port closed");
                }
                server.set_webrtc(None);
                server.set_ports(|ports| ports.webrtc = None);
            }
            Some(Some(WebRtcPrepared { socket, config })) => match (socket, server.webrtc()) {
                (None, Some(current)) => current.set_config(config),
                (Some(socket), _) => match crate::webrtc::WebRtc::start(socket, config) {
                    Ok(service) => {
                        let address = service.local_addr();
                        server.set_ports(|ports| ports.webrtc = Some(address));
                        tracing::info!(%address, "WebRTC UDP port listening");
                        server.set_webrtc(Some(Arc::new(service)));
                    }
                    Err(err) => tracing::error!(%err, "cannot start WebRTC"),
                },
                (None, None) => {}
            },
        }

        if let Some(listener) = api {
            if let Ok(address) = listener.local_addr() {
                server.set_ports(|ports| ports.api = Some(address));
                let tls = running
                    .api_tls
                    .get_or_insert_with(|| watch::channel(None).0)
                    .subscribe();
                let scheme = if tls.borrow().is_some() {
                    "https"
                } else {
                    "http"
                };
                tracing::info!(%address, scheme, "management API listening");
                let gate = Gate::configured(
                    "api",
                    server.config.clone(),
                    server.metrics.clone(),
                    false,
                    LimitsConfig::api,
                    true,
                );
                let task = tokio::spawn(crate::api::serve(listener, api_state, gate, tls));
                running.api = Some(Serving { address, task });
            }
        }

        if let (Some((listener, address)), Some(context)) = (http, &running.http_context) {
            let context = context.borrow().clone();
            // Ports first: a script that saw the line may ask the API for them.
            server.set_ports(|ports| ports.http = Some(address));
            tracing::info!(%address, "HTTP media port listening");
            let asked = server.config.current().http.listen.port();
            if asked == 0 {
                // Port 0 asked for any free port: say which one, for scripts and tests.
                tracing::info!(port = address.port(), "HTTP port chosen");
            }
            let task = tokio::spawn(http::serve(listener, context));
            running.http = Some(Serving { address, task });
        }
    }

    /// Stops every accept loop, removes the Unix socket file and drops the
    /// services (shutdown).
    pub fn stop_all(&self) {
        let mut running = self.lock();
        if let Some(services) = &running.services {
            services.media.set_webrtc(None);
        }
        *running = Running::default();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Running> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn start_https(
    server: &Arc<ServerState>,
    running: &mut Running,
    listener: TcpListener,
    tls: Arc<ServerConfig>,
) {
    let address = match listener.local_addr() {
        Ok(address) => address,
        Err(err) => {
            tracing::error!(%err, "the new HTTPS listener has no address");
            return;
        }
    };
    server.set_ports(|ports| ports.https = Some(address));
    tracing::info!(%address, "HTTPS media port listening");
    let context = Arc::new(HttpContext {
        state: server.clone(),
        scheme: Scheme::Https,
        local_port: address.port(),
    });
    let (sender, receiver) = watch::channel(tls);
    let task = tokio::spawn(tls::serve(listener, receiver, context));
    running.https = Some(HttpsServing {
        serving: Serving { address, task },
        tls: sender,
    });
}

/// Binds a TCP listener now (synchronous, so it works inside a request handler).
/// Must run inside the tokio runtime.
pub fn bind_tcp(what: &str, key: &str, address: SocketAddr) -> Result<TcpListener, Refusal> {
    let bind = || -> std::io::Result<TcpListener> {
        let socket = if address.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        #[cfg(unix)]
        socket.set_reuseaddr(true)?;
        socket.bind(address)?;
        socket.listen(BACKLOG)
    };
    bind().map_err(|err| Refusal {
        key: key.to_owned(),
        message: format!("cannot listen for {what} on {address}: {err}"),
    })
}

/// The certificate or key problem, keyed by the file at fault under `section`
/// (`https` or `api.tls`).
fn tls_refusal(section: &str, err: TlsError) -> Refusal {
    let key = match &err {
        TlsError::Read { what, .. }
        | TlsError::TooLarge { what, .. }
        | TlsError::BadPem { what, .. }
            if *what == "key" =>
        {
            "key"
        }
        TlsError::NoKey { .. } | TlsError::KeyMismatch { .. } => "key",
        _ => "cert",
    };
    Refusal {
        key: format!("{section}.{key}"),
        message: error_chain(&err),
    }
}

/// An error and its sources, joined with ": ".
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    fn config() -> Config {
        let mut config = Config::default();
        config.http.listen = loopback();
        config.rtmp.listen = loopback();
        config.api.listen = loopback();
        config
    }

    #[tokio::test]
    async fn only_changed_addresses_are_bound() {
        let dir = tempfile::tempdir().unwrap();
        let old = config();
        let mut new = old.clone();
        let all = Prepared::bind(None, &new, dir.path()).unwrap();
        assert!(all.http.is_some() && all.rtmp.is_some() && all.api.is_some());
        assert!(all.https.is_none() && all.unix.is_none());
        assert!(Prepared::bind(Some(&old), &new, dir.path())
            .unwrap()
            .is_empty());
        new.rtmp.listen = SocketAddr::from(([127, 0, 0, 2], 0));
        new.http.unix_socket = Some("b.sock".into());
        let some = Prepared::bind(Some(&old), &new, dir.path()).unwrap();
        assert!(some.http.is_none() && some.api.is_none());
        assert!(some.rtmp.is_some());
        assert!(matches!(some.unix, Some(Some(_))));
        assert!(dir.path().join("b.sock").exists());
        drop(some);
        assert!(
            !dir.path().join("b.sock").exists(),
            "an unused socket is removed"
        );
    }

    #[tokio::test]
    async fn a_taken_port_is_refused_with_its_key() {
        let taken = std::net::TcpListener::bind(loopback()).unwrap();
        let address = taken.local_addr().unwrap();
        let old = config();
        let mut new = old.clone();
        new.rtmp.listen = address;
        let refusal = Prepared::bind(Some(&old), &new, Path::new(".")).unwrap_err();
        assert_eq!(refusal.key, "rtmp.listen");
        assert!(
            refusal
                .message
                .starts_with(&format!("cannot listen for RTMP on {address}: ")),
            "{}",
            refusal.message
        );
    }

    #[tokio::test]
    async fn a_missing_certificate_is_refused_with_its_key() {
        let old = config();
        let mut new = old.clone();
        new.https = Some(crate::config::HttpsConfig {
            listen: loopback(),
            cert: "absent-cert.pem".into(),
            key: "absent-key.pem".into(),
            public_address: Vec::new(),
        });
        let refusal = Prepared::bind(Some(&old), &new, Path::new("/nonexistent")).unwrap_err();
        assert_eq!(refusal.key, "https.cert");
        assert!(
            refusal.message.contains("absent-cert.pem"),
            "{}",
            refusal.message
        );
        assert!(
            refusal.message.contains("No such file"),
            "{}",
            refusal.message
        );
    }

    #[tokio::test]
    async fn a_missing_api_key_is_refused_with_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let old = config();
        let mut new = old.clone();
        let cert = dir.path().join("cert.pem");
        std::fs::write(&cert, "not a certificate\n").unwrap();
        new.api.tls = Some(crate::config::TlsFiles {
            cert: "cert.pem".into(),
            key: "absent-key.pem".into(),
        });
        let refusal = Prepared::bind(Some(&old), &new, dir.path()).unwrap_err();
        assert_eq!(refusal.key, "api.tls.cert", "{}", refusal.message);
        std::fs::write(&cert, "").unwrap();
        let refusal = Prepared::bind(None, &new, dir.path()).unwrap_err();
        assert!(refusal.key.starts_with("api.tls."), "{}", refusal.key);
    }
}
