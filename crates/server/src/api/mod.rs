//! The management API and web UI, on `api.listen` (default 127.0.0.1:4242).
//!
//! (Being filled in: see the management API issue.)

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::state::ServerState;

/// Serves the API on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, state: Arc<ServerState>) {
    let app = axum::Router::new().with_state(state);
    if let Err(err) = axum::serve(listener, app).await {
        tracing::error!(%err, "management API stopped");
    }
}
