//! Render-once caches for segments and playlists.
//!
//! A segment is muxed the first time anyone asks for it and the same [`Bytes`] are
//! handed to every later request: a thousand viewers of one segment cost one mux.
//! Concurrent first requests wait for the one render in progress instead of
//! repeating it. The cache is bounded in bytes; it drops the oldest sequence numbers
//! first, and [`RenderCache::forget_before`] drops what left the DVR window.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

use crate::metrics::Metrics;

/// What a cached item is, besides its sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rendition {
    /// An MPEG-TS segment with every track.
    Ts,
    /// A single-track fMP4 (CMAF) segment of the track with this id.
    Cmaf(u32),
    /// The HLS (TS) master playlist, as of a segment list version.
    HlsMaster,
    /// The HLS (TS) media playlist.
    HlsMedia,
    /// The HLS (fMP4) master playlist.
    CmafMaster,
    /// The HLS (fMP4) media playlist of the track with this id.
    CmafMedia(u32),
}

type Slot = Arc<Mutex<Option<Bytes>>>;

#[derive(Debug)]
pub struct RenderCache {
    inner: Mutex<Inner>,
    max_bytes: usize,
    /// Where segment hits and misses are counted (set by the registry).
    metrics: OnceLock<Arc<Metrics>>,
}

#[derive(Debug, Default)]
struct Inner {
    slots: BTreeMap<(u64, Rendition), Slot>,
    /// Bytes of every rendered item currently held.
    bytes: usize,
    hits: u64,
    misses: u64,
}

impl RenderCache {
    pub fn new(max_bytes: usize) -> RenderCache {
        RenderCache {
            inner: Mutex::new(Inner::default()),
            max_bytes,
            metrics: OnceLock::new(),
        }
    }

    /// Counts segment hits and misses into `metrics` from now on (the stream
    /// registry calls this when the stream's media comes online).
    pub fn count_into(&self, metrics: &Arc<Metrics>) {
        let _ = self.metrics.set(metrics.clone());
    }

    /// The cached bytes for `(sequence, rendition)`, rendering them with `render`
    /// if nobody has yet. A failed render is not cached.
    pub fn get_or_render(
        &self,
        sequence: u64,
        rendition: Rendition,
        render: impl FnOnce() -> Result<Bytes, String>,
    ) -> Result<Bytes, String> {
        let slot = {
            let mut inner = self.lock();
            inner
                .slots
                .entry((sequence, rendition))
                .or_insert_with(|| Arc::new(Mutex::new(None)))
                .clone()
        };
        let mut value = slot.lock().unwrap_or_else(|p| p.into_inner());
        let is_segment = matches!(rendition, Rendition::Ts | Rendition::Cmaf(_));
        if let Some(bytes) = value.as_ref() {
            self.lock().hits += 1;
            if let (true, Some(metrics)) = (is_segment, self.metrics.get()) {
                metrics.segment_cache_hit();
            }
            return Ok(bytes.clone());
        }
        let bytes = render()?;
        *value = Some(bytes.clone());
        drop(value);
        if let (true, Some(metrics)) = (is_segment, self.metrics.get()) {
            metrics.segment_cache_miss();
        }
        let mut inner = self.lock();
        inner.misses += 1;
        // The slot may have been evicted meanwhile; count it only if still held.
        if inner.slots.contains_key(&(sequence, rendition)) {
            inner.bytes += bytes.len();
        }
        self.evict(&mut inner);
        Ok(bytes)
    }

    /// Drops every item older than `sequence` (it left the window).
    pub fn forget_before(&self, sequence: u64) {
        let mut inner = self.lock();
        let keep = inner.slots.split_off(&(sequence, Rendition::Ts));
        let gone = std::mem::replace(&mut inner.slots, keep);
        inner.bytes -= gone
            .values()
            .map(slot_bytes)
            .sum::<usize>()
            .min(inner.bytes);
    }

    fn evict(&self, inner: &mut Inner) {
        while inner.bytes > self.max_bytes {
            let Some((_, slot)) = inner.slots.pop_first() else {
                inner.bytes = 0;
                return;
            };
            inner.bytes -= slot_bytes(&slot).min(inner.bytes);
        }
    }

    /// (hits, misses) so far.
    pub fn stats(&self) -> (u64, u64) {
        let inner = self.lock();
        (inner.hits, inner.misses)
    }

    pub fn held_bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn slot_bytes(slot: &Slot) -> usize {
    // A slot being rendered right now is locked and not yet counted.
    slot.try_lock()
        .ok()
        .and_then(|v| v.as_ref().map(Bytes::len))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_once_and_shares_the_bytes() {
        let cache = RenderCache::new(1 << 20);
        let mut renders = 0;
        for _ in 0..3 {
            let bytes = cache
                .get_or_render(5, Rendition::Ts, || {
                    renders += 1;
                    Ok(Bytes::from_static(b"segment"))
                })
                .unwrap();
            assert_eq!(&bytes[..], b"segment");
        }
        assert_eq!(renders, 1);
        assert_eq!(cache.stats(), (2, 1));
    }

    #[test]
    fn failures_are_not_cached_and_old_items_are_dropped() {
        let cache = RenderCache::new(10);
        assert!(cache
            .get_or_render(1, Rendition::Ts, || Err("broken".into()))
            .is_err());
        cache
            .get_or_render(1, Rendition::Ts, || Ok(Bytes::from_static(b"123456")))
            .unwrap();
        cache
            .get_or_render(2, Rendition::Cmaf(1), || Ok(Bytes::from_static(b"abcdef")))
            .unwrap();
        // 12 bytes > 10: the oldest item went.
        assert_eq!(cache.held_bytes(), 6);
        cache.forget_before(3);
        assert_eq!(cache.held_bytes(), 0);
    }
}
