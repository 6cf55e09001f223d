//! The management API and web UI, on `api.listen` (default 127.0.0.1:4242).
//!
//! REST + JSON under `/api/v1` (described by [`openapi`]), Prometheus text at
//! `/metrics` and the web UI's static files. This module builds the router from one
//! route table ([`table`]; the OpenAPI test checks the document against it), puts
//! every route but the public ones (session, login, the OpenAPI document, the UI)
//! behind [`auth`], answers every error as JSON ([`error`]) and limits request
//! bodies to 64 KiB.
//!
//! Handlers reach the server only through [`control::ServerControl`] (the
//! supervisor implements it); the auth state lives in [`Api`], which the
//! supervisor owns, so it survives the API port being rebound.
//!
//! Submodules: [`listen`] (accept loop, connection caps), [`control`], [`guard`] (Host/Origin checks, security headers),
//! [`auth`] (setup mode and its token, Basic, sessions, rate limit), [`accounts`]
//! (login/logout/session and account routes), [`streams`], [`config_routes`],
//! [`recordings`], [`pushes`], [`server_info`], [`openapi`], [`password`] (argon2), [`error`]; [`observe`]
//! (clients, totals, logs, metrics) and [`ui`] (static files) are owned elsewhere
//! and merged in.

pub mod accounts;
pub mod auth;
pub mod config_routes;
pub mod control;
pub mod error;
pub mod guard;
pub mod listen;
pub mod observe;
pub mod openapi;
pub mod password;
pub mod pushes;
pub mod recordings;
pub mod server_info;
pub mod streams;
pub mod triggers;
pub mod ui;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::routing::{on, MethodFilter};
use axum::Router;
use tokio::net::TcpListener;

use control::ServerControl;
use error::ApiError;

/// What every API handler gets.
#[derive(Debug)]
pub struct Api {
    /// The server, as the API may use it.
    pub server: Arc<dyn ServerControl>,
    /// Sessions and failure counts (one per server).
    pub auth: Arc<auth::AuthState>,
}

/// The router's state.
pub type ApiState = Arc<Api>;

/// The HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verb {
    Get,
    Put,
    Post,
    Patch,
    Delete,
}

impl Verb {
    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Put => MethodFilter::PUT,
            Verb::Post => MethodFilter::POST,
            Verb::Patch => MethodFilter::PATCH,
            Verb::Delete => MethodFilter::DELETE,
        }
    }

    /// The method's name, upper case.
    pub fn name(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Put => "PUT",
            Verb::Post => "POST",
            Verb::Patch => "PATCH",
            Verb::Delete => "DELETE",
        }
    }
}

/// Routes as they are registered, with the list of `(method, path)` kept.
#[derive(Debug, Default)]
pub struct Table {
    public: Router<ApiState>,
    protected: Router<ApiState>,
    /// Every route registered through this table (observe's are not: see
    /// [`openapi::OBSERVE_ROUTES`]).
    pub routes: Vec<(Verb, &'static str)>,
}

impl Table {
    fn add<H, T>(mut self, public: bool, verb: Verb, path: &'static str, handler: H) -> Table
    where
        H: Handler<T, ApiState>,
        T: 'static,
    {
        let route = on(verb.filter(), handler);
        if public {
            self.public = self.public.route(path, route);
        } else {
            self.protected = self.protected.route(path, route);
        }
        self.routes.push((verb, path));
        self
    }
}

/// The API's own routes (everything but observe's and the UI's).
pub fn table() -> Table {
    use Verb::*;
    const PUBLIC: bool = true;
    const AUTH: bool = false;
    Table::default()
        .add(PUBLIC, Get, "/api/v1/openapi.json", openapi::get)
        .add(PUBLIC, Get, "/api/v1/session", accounts::session)
        .add(PUBLIC, Post, "/api/v1/login", accounts::login)
        .add(AUTH, Post, "/api/v1/logout", accounts::logout)
        .add(AUTH, Get, "/api/v1/accounts", accounts::list)
        .add(AUTH, Put, "/api/v1/accounts/{name}", accounts::put)
        .add(AUTH, Delete, "/api/v1/accounts/{name}", accounts::delete)
        .add(AUTH, Get, "/api/v1/streams", streams::list)
        .add(AUTH, Get, "/api/v1/streams/{name}", streams::get)
        .add(AUTH, Put, "/api/v1/streams/{name}", streams::put)
        .add(AUTH, Delete, "/api/v1/streams/{name}", streams::delete)
        .add(AUTH, Post, "/api/v1/streams/{name}/token", triggers::mint)
        .add(AUTH, Get, "/api/v1/triggers", triggers::get)
        .add(AUTH, Put, "/api/v1/triggers", triggers::put)
        .add(
            AUTH,
            Post,
            "/api/v1/streams/{name}/recording",
            recordings::start,
        )
        .add(
            AUTH,
            Delete,
            "/api/v1/streams/{name}/recording",
            recordings::stop,
        )
        .add(
            AUTH,
            Get,
            "/api/v1/streams/{name}/recordings",
            recordings::list,
        )
        .add(
            AUTH,
            Get,
            "/api/v1/streams/{name}/recordings/{id}/index.m3u8",
            recordings::playlist,
        )
        .add(
            AUTH,
            Get,
            "/api/v1/streams/{name}/recordings/{id}/recording.mp4",
            recordings::mp4,
        )
        .add(
            AUTH,
            Get,
            "/api/v1/streams/{name}/recordings/{id}/files/{file}",
            recordings::segment,
        )
        .add(AUTH, Get, "/api/v1/pushes", pushes::list)
        .add(AUTH, Post, "/api/v1/pushes", pushes::create)
        .add(AUTH, Delete, "/api/v1/pushes/{id}", pushes::delete)
        .add(AUTH, Get, "/api/v1/config", config_routes::get)
        .add(AUTH, Patch, "/api/v1/config", config_routes::patch)
        .add(AUTH, Get, "/api/v1/server", server_info::get)
}

/// The whole management port: API, metrics and UI.
pub fn router(api: ApiState) -> Router {
    let Table {
        public, protected, ..
    } = table();
    let protected =
        protected
            .merge(observe::routes())
            .route_layer(axum::middleware::from_fn_with_state(
                api.clone(),
                auth::require,
            ));
    public
        .merge(ui::routes())
        .merge(protected)
        .fallback(error::fallback)
        .with_state(api.clone())
        .layer(axum::middleware::from_fn(error::json_errors))
        .layer(axum::middleware::from_fn_with_state(api, guard::check))
        .layer(DefaultBodyLimit::max(error::BODY_LIMIT))
}

/// Runs `work` (a configuration change: validation, fsync, rename) on the
/// blocking pool.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(format!("the change did not complete: {e}")))
}

/// Serves the API on `listener` until the task is dropped, admitting
/// connections through `gate` ([`listen`]).
/// With TLS in `tls` the port speaks HTTPS only.
pub async fn serve(
    listener: TcpListener,
    api: ApiState,
    gate: Arc<crate::conn_limits::Gate>,
    tls: listen::ApiTls,
) {
    if api.server.config().api.accounts.is_empty() {
        if let Ok(address) = listener.local_addr() {
            let scheme = if tls.borrow().is_some() {
                "https"
            } else {
                "http"
            };
            auth::announce_setup(&api.auth, address, scheme);
        }
    }
    listen::accept_loop(listener, router(api), gate, tls).await;
}
