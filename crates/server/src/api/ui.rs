//! The web UI's static files, embedded in the binary.
//!
//! (Being filled in: see the management API issue.)

use std::sync::Arc;

use crate::state::ServerState;

/// The routes of this module.
pub fn routes() -> axum::Router<Arc<ServerState>> {
    axum::Router::new()
}
