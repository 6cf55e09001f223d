//! Requests of the media port by the kind of document they ask for
//! (`brume_media_requests_total{kind="hls_segment"}`) and renders of cached
//! documents (`brume_document_renders_total{kind="hls_media"}`): what an operator
//! reads to see whether cache edges in front of Brume shield it (one request per
//! segment per edge, not one per viewer) and whether concurrent first requests
//! for a document share one render.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::http::router::Route;
use crate::stream::cache::DocumentKind;

/// The kinds counted, in the order they are rendered.
pub const KINDS: [&str; 19] = [
    "hls_master",
    "hls_media",
    "hls_segment",
    "cmaf_master",
    "cmaf_media",
    "cmaf_init",
    "cmaf_segment",
    "cmaf_part",
    "cmaf_delta",
    "mpd",
    "json_info",
    "info_script",
    "page",
    "player_js",
    "embed",
    "progressive",
    "vendor",
    "root",
    "other",
];

fn index(kind: &str) -> usize {
    KINDS
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(KINDS.len() - 1)
}

/// The counted kind of a routed request.
pub fn route_kind(route: &Route) -> &'static str {
    match route {
        Route::HlsMaster(_) => "hls_master",
        Route::HlsMedia(_) => "hls_media",
        Route::HlsSegment(..) => "hls_segment",
        Route::CmafMaster(_) => "cmaf_master",
        Route::CmafMedia(..) => "cmaf_media",
        Route::CmafInit(..) => "cmaf_init",
        Route::CmafSegment(..) => "cmaf_segment",
        Route::CmafPart(..) => "cmaf_part",
        Route::Dash(_) => "mpd",
        Route::JsonInfo(_) => "json_info",
        Route::InfoJs(_) => "info_script",
        Route::Page(_) => "page",
        Route::PlayerJs => "player_js",
        Route::Embed(_) => "embed",
        Route::Mp4(_) | Route::Ts(_) | Route::Flv(_) => "progressive",
        Route::Vendor(_) => "vendor",
        Route::Root => "root",
        Route::Load => "load",
        #[allow(unreachable_patterns)]
        _ => "other",
    }
}

/// The counted kind of a rendered document.
pub fn document_kind(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::HlsMaster => "hls_master",
        DocumentKind::HlsMedia => "hls_media",
        DocumentKind::CmafMaster => "cmaf_master",
        DocumentKind::CmafMedia(_) => "cmaf_media",
        DocumentKind::CmafInit(_) => "cmaf_init",
        DocumentKind::CmafDelta(_) => "cmaf_delta",
        DocumentKind::Mpd => "mpd",
        DocumentKind::InfoJson => "json_info",
        DocumentKind::InfoScript => "info_script",
        DocumentKind::Page => "page",
        DocumentKind::PlayerJs => "player_js",
        DocumentKind::Embed => "embed",
        #[allow(unreachable_patterns)]
        _ => "other",
    }
}

/// Request and render counters, one per kind.
#[derive(Debug)]
pub struct RouteCounts {
    requests: [AtomicU64; KINDS.len()],
    renders: [AtomicU64; KINDS.len()],
}

impl Default for RouteCounts {
    fn default() -> RouteCounts {
        RouteCounts {
            requests: std::array::from_fn(|_| AtomicU64::new(0)),
            renders: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl RouteCounts {
    /// Counts one request of the media port for `route`.
    pub fn request(&self, route: &Route) {
        self.requests[index(route_kind(route))].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one render of a cached document of `kind`.
    pub fn render(&self, kind: DocumentKind) {
        self.renders[index(document_kind(kind))].fetch_add(1, Ordering::Relaxed);
    }

    /// `(kind, requests)` for every kind.
    pub fn requests(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        KINDS
            .iter()
            .zip(&self.requests)
            .map(|(k, c)| (*k, c.load(Ordering::Relaxed)))
    }

    /// `(kind, renders)` for every kind that is a cached document.
    pub fn renders(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        KINDS
            .iter()
            .zip(&self.renders)
            .filter(|(k, _)| {
                !matches!(
                    **k,
                    "hls_segment" | "cmaf_segment" | "progressive" | "vendor" | "root" | "other"
                )
            })
            .map(|(k, c)| (*k, c.load(Ordering::Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_renders_count_per_kind() {
        let counts = RouteCounts::default();
        counts.request(&Route::HlsSegment("s".into(), 4));
        counts.request(&Route::HlsSegment("s".into(), 5));
        counts.request(&Route::Dash("s".into()));
        counts.render(DocumentKind::CmafInit(1));
        let requests: Vec<_> = counts.requests().collect();
        assert!(requests.contains(&("hls_segment", 2)));
        assert!(requests.contains(&("mpd", 1)));
        assert!(requests.contains(&("hls_media", 0)));
        let renders: Vec<_> = counts.renders().collect();
        assert!(renders.contains(&("cmaf_init", 1)));
        assert!(!renders.iter().any(|(k, _)| *k == "hls_segment"));
    }
}
