//! Render-once caches for segments and documents.
//!
//! A segment is muxed the first time anyone asks for it and the same [`Bytes`] are
//! handed to every later request: a thousand viewers of one segment cost one mux.
//! Concurrent first requests wait for the one render in progress instead of
//! repeating it. The cache is bounded in bytes; it drops the oldest sequence numbers
//! first, and [`RenderCache::forget_before`] drops what left the DVR window.
//!
//! Documents (playlists, the MPD, stream info) live in a [`DocumentCache`]: each is
//! rendered once per version of the stream's state (and public base, for those that
//! carry absolute URLs) and kept with its ETag beside it, so a request is a lookup.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use http::HeaderValue;

use crate::metrics::Metrics;

/// What a cached item is, besides its sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rendition {
    /// An MPEG-TS segment with every track.
    Ts,
    /// A single-track fMP4 (CMAF) segment of the track with this id.
    Cmaf(u32),
    /// Part `.1` (Low-Latency HLS) of the CMAF segment of track `.0`.
    CmafPart(u32, u32),
}

type Slot = Arc<Mutex<Option<Bytes>>>;

#[derive(Debug)]
pub struct RenderCache {
    inner: Mutex<Inner>,
    max_bytes: usize,
    /// Where segment hits and misses are counted (set by the registry).
    metrics: OnceLock<Arc<Metrics>>,
    documents: DocumentCache,
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
            documents: DocumentCache::default(),
        }
    }

    /// Counts segment hits and misses into `metrics` from now on (the stream
    /// registry calls this when the stream's media comes online).
    pub fn count_into(&self, metrics: &Arc<Metrics>) {
        let _ = self.metrics.set(metrics.clone());
        let _ = self.documents.metrics.set(metrics.clone());
    }

    /// The stream's rendered documents.
    pub fn documents(&self) -> &DocumentCache {
        &self.documents
    }

    /// The cached bytes for `(sequence, rendition)`, rendering them with `render`
    /// if nobody has yet. A failed render is not cached.
    pub fn get_or_render<E>(
        &self,
        sequence: u64,
        rendition: Rendition,
        render: impl FnOnce() -> Result<Bytes, E>,
    ) -> Result<Bytes, E> {
        let slot = {
            let mut inner = self.lock();
            inner
                .slots
                .entry((sequence, rendition))
                .or_insert_with(|| Arc::new(Mutex::new(None)))
                .clone()
        };
        let mut value = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bytes) = value.as_ref() {
            self.lock().hits += 1;
            if let Some(metrics) = self.metrics.get() {
                metrics.segment_cache_hit();
            }
            return Ok(bytes.clone());
        }
        let bytes = render()?;
        *value = Some(bytes.clone());
        drop(value);
        if let Some(metrics) = self.metrics.get() {
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

/// Most documents one stream keeps rendered (every playlist kind, the MPD, and
/// stream info and the player page under a few public bases).
pub const MAX_DOCUMENTS: usize = 48;

/// Which document of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// `/hls/S/index.m3u8`.
    HlsMaster,
    /// `/hls/S/media.m3u8`.
    HlsMedia,
    /// `/cmaf/S/index.m3u8`.
    CmafMaster,
    /// `/cmaf/S/T.m3u8` of the track with this id.
    CmafMedia(u32),
    /// `/cmaf/S/T/init.mp4` of the track with this id (a stream's tracks never
    /// change, so it is rendered once).
    CmafInit(u32),
    /// `/cmaf/S/T.m3u8?_HLS_skip=YES`: its delta update.
    CmafDelta(u32),
    /// `/cmaf/S/index.mpd`.
    Mpd,
    /// `/json_S.js`.
    InfoJson,
    /// `/info_S.js`.
    InfoScript,
    /// `/S.html`.
    Page,
    /// `/player.js`.
    PlayerJs,
    /// `/embed_S.js`.
    Embed,
}

/// When a document was rendered: the stream state's version, and a second
/// number for documents that also age with the clock (the live MPD's times).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stamp {
    pub version: u64,
    pub tick: u64,
}

/// A rendered document and its strong ETag (a hash of the bytes), made once and
/// shared by every request that gets it.
#[derive(Debug, Clone)]
pub struct Document {
    pub bytes: Bytes,
    pub etag: HeaderValue,
}

impl Document {
    pub fn new(bytes: Bytes) -> Document {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut hasher);
        let tag = format!("\"d{:016x}-{:x}\"", hasher.finish(), bytes.len());
        Document {
            etag: HeaderValue::try_from(tag).unwrap_or(HeaderValue::from_static("\"d\"")),
            bytes,
        }
    }
}

/// The rendered documents of one stream, at most [`MAX_DOCUMENTS`], least
/// recently used dropped first. Keys are the kind and the public base (`""` for
/// documents with relative URLs only).
#[derive(Debug, Default)]
pub struct DocumentCache {
    inner: Mutex<Documents>,
    /// Where renders are counted, per kind (set by the registry).
    metrics: OnceLock<Arc<Metrics>>,
}

#[derive(Debug, Default)]
struct Documents {
    entries: Vec<DocumentEntry>,
    clock: u64,
    renders: u64,
}

#[derive(Debug)]
struct DocumentEntry {
    kind: DocumentKind,
    base: Box<str>,
    stamp: Stamp,
    used: u64,
    document: Document,
}

impl DocumentCache {
    /// The document `kind` under `base` as of `stamp`, rendered by `render` when
    /// the held one is older (or missing). Renders happen under the cache's lock:
    /// concurrent first requests wait for one render. A failed render is not kept.
    pub fn get_or_render<E>(
        &self,
        kind: DocumentKind,
        base: &str,
        stamp: Stamp,
        render: impl FnOnce() -> Result<Bytes, E>,
    ) -> Result<Document, E> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.clock += 1;
        let now = inner.clock;
        let found = inner
            .entries
            .iter()
            .position(|e| e.kind == kind && &*e.base == base);
        if let Some(i) = found {
            let entry = &mut inner.entries[i];
            if entry.stamp == stamp {
                entry.used = now;
                return Ok(entry.document.clone());
            }
        }
        let document = Document::new(render()?);
        inner.renders += 1;
        if let Some(metrics) = self.metrics.get() {
            metrics.routes.render(kind);
        }
        let entry = DocumentEntry {
            kind,
            base: base.into(),
            stamp,
            used: now,
            document: document.clone(),
        };
        match found {
            Some(i) => inner.entries[i] = entry,
            None => {
                if inner.entries.len() >= MAX_DOCUMENTS {
                    if let Some(oldest) = inner
                        .entries
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, e)| e.used)
                        .map(|(i, _)| i)
                    {
                        inner.entries.swap_remove(oldest);
                    }
                }
                inner.entries.push(entry);
            }
        }
        Ok(document)
    }

    /// (documents held, renders so far).
    pub fn stats(&self) -> (usize, u64) {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        (inner.entries.len(), inner.renders)
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
                    Ok::<_, std::convert::Infallible>(Bytes::from_static(b"segment"))
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
            .get_or_render(1, Rendition::Ts, || Err("broken"))
            .is_err());
        cache
            .get_or_render(1, Rendition::Ts, || {
                Ok::<_, ()>(Bytes::from_static(b"123456"))
            })
            .unwrap();
        cache
            .get_or_render(2, Rendition::Cmaf(1), || {
                Ok::<_, ()>(Bytes::from_static(b"abcdef"))
            })
            .unwrap();
        // 12 bytes > 10: the oldest item went.
        assert_eq!(cache.held_bytes(), 6);
        cache.forget_before(3);
        assert_eq!(cache.held_bytes(), 0);
    }

    fn render(text: &'static str) -> impl FnOnce() -> Result<Bytes, ()> {
        move || Ok(Bytes::from_static(text.as_bytes()))
    }

    #[test]
    fn documents_render_once_per_stamp_and_base() {
        let docs = DocumentCache::default();
        let v1 = Stamp {
            version: 1,
            tick: 0,
        };
        let a = docs
            .get_or_render(DocumentKind::Mpd, "", v1, render("one"))
            .unwrap();
        let b = docs
            .get_or_render(DocumentKind::Mpd, "", v1, || Err(()))
            .unwrap();
        assert_eq!(a.bytes, b.bytes);
        assert_eq!(a.etag, b.etag);
        // Same version, another base: its own render.
        let c = docs
            .get_or_render(DocumentKind::Mpd, "http://x/", v1, render("two"))
            .unwrap();
        assert_eq!(&c.bytes[..], b"two");
        assert_ne!(c.etag, a.etag);
        // A new version replaces the old rendering; a failure keeps nothing new.
        let v2 = Stamp {
            version: 2,
            tick: 0,
        };
        assert!(docs
            .get_or_render(DocumentKind::Mpd, "", v2, || Err(()))
            .is_err());
        let d = docs
            .get_or_render(DocumentKind::Mpd, "", v2, render("three"))
            .unwrap();
        assert_eq!(&d.bytes[..], b"three");
        assert_eq!(docs.stats(), (2, 3));
    }

    #[test]
    fn documents_are_bounded_least_recently_used_first() {
        let docs = DocumentCache::default();
        let stamp = Stamp::default();
        docs.get_or_render(DocumentKind::HlsMaster, "", stamp, render("kept"))
            .unwrap();
        for n in 0..MAX_DOCUMENTS * 2 {
            let base = format!("http://h{n}/");
            docs.get_or_render(DocumentKind::InfoJson, &base, stamp, render("x"))
                .unwrap();
            // The master playlist stays in use.
            docs.get_or_render(DocumentKind::HlsMaster, "", stamp, || Err(()))
                .unwrap();
        }
        assert_eq!(docs.stats().0, MAX_DOCUMENTS);
    }
}
