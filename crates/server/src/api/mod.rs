//! The management API and web UI, on `api.listen` (default 127.0.0.1:4242).
//!
//! (Being filled in: see the management API issue.)

pub mod observe;
pub mod ui;

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::state::ServerState;

/// Serves the API on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, state: Arc<ServerState>) {
    let app = axum::Router::new()
        .merge(observe::routes())
        .merge(ui::routes())
        .with_state(state);
    if let Err(err) = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await
    {
        tracing::error!(%err, "management API stopped");
    }
}
