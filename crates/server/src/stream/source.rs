//! Opening media files: the bundled clip or a path on disk, probed and indexed.
//!
//! The container is recognised from the file's first bytes (MP4, FLV or MPEG-TS)
//! and only its index is built; sample bytes are read on demand through
//! [`ReadAt`]. Errors name the file and say what was found.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use brume_media::flv::FlvFile;
use brume_media::index::MediaFile;
use brume_media::mp4::demux::Mp4File;
use brume_media::mpegts::TsFile;
use brume_media::ReadAt;
use bytes::Bytes;

/// The clip behind `builtin:demo`.
pub static DEMO_CLIP: &[u8] = include_bytes!("../../../../assets/demo.mp4");

/// Why a recognised container could not be indexed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Mp4(#[from] brume_media::mp4::demux::Mp4Error),
    #[error(transparent)]
    Flv(#[from] brume_media::flv::FlvError),
    #[error(transparent)]
    Ts(#[from] brume_media::mpegts::TsError),
}

/// Anything a file input can read samples from, shareable across tasks.
pub type SharedReader = Arc<dyn ReadAt + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {error}")]
    Index { path: PathBuf, error: IndexError },
    #[error("{path}: unknown container (not MP4, FLV or MPEG-TS); it starts with {found}")]
    UnknownContainer { path: PathBuf, found: String },
}

/// An opened, indexed media file.
#[derive(Clone)]
pub struct OpenedFile {
    pub path: PathBuf,
    pub reader: SharedReader,
    pub index: Arc<dyn MediaFile>,
    /// Size and modification time when opened, to notice a replaced file.
    pub fingerprint: Option<(u64, std::time::SystemTime)>,
}

impl std::fmt::Debug for OpenedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedFile")
            .field("path", &self.path)
            .field("container", &self.index.container())
            .field("tracks", &self.index.track_count())
            .finish()
    }
}

/// Containers recognised by their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Mp4,
    Flv,
    Ts,
}

fn sniff(head: &[u8]) -> Option<Container> {
    let mp4_boxes: [&[u8; 4]; 8] = [
        b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pdin", b"styp",
    ];
    if head.len() >= 8 && mp4_boxes.iter().any(|b| &head[4..8] == *b) {
        return Some(Container::Mp4);
    }
    if head.starts_with(b"FLV") {
        return Some(Container::Flv);
    }
    // MPEG-TS: a sync byte every 188 bytes (allow a short file to show only one).
    let ts_sync = |start: usize| {
        (start..head.len())
            .step_by(188)
            .take(3)
            .all(|i| head[i] == 0x47)
    };
    if head.first() == Some(&0x47) && ts_sync(0) {
        return Some(Container::Ts);
    }
    None
}

/// How the first bytes of an unknown file look, for error messages.
fn describe(head: &[u8]) -> String {
    if head.is_empty() {
        return "nothing (the file is empty)".to_owned();
    }
    let shown: String = head
        .iter()
        .take(12)
        .map(|&b| {
            if b.is_ascii_graphic() {
                (b as char).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect();
    format!("\"{shown}\"")
}

fn index(path: &Path, reader: &dyn ReadAt) -> Result<Arc<dyn MediaFile>, SourceError> {
    let size = reader.size().map_err(|source| SourceError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let mut head = vec![0u8; size.min(512) as usize];
    reader
        .read_exact_at(&mut head, 0)
        .map_err(|source| SourceError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    let index_err = |error: IndexError| SourceError::Index {
        path: path.to_path_buf(),
        error,
    };
    match sniff(&head) {
        Some(Container::Mp4) => Ok(Arc::new(
            Mp4File::open(reader).map_err(|e| index_err(e.into()))?,
        )),
        Some(Container::Flv) => Ok(Arc::new(
            FlvFile::open(reader).map_err(|e| index_err(e.into()))?,
        )),
        Some(Container::Ts) => Ok(Arc::new(
            TsFile::open(reader).map_err(|e| index_err(e.into()))?,
        )),
        None => Err(SourceError::UnknownContainer {
            path: path.to_path_buf(),
            found: describe(&head),
        }),
    }
}

/// Opens the bundled demo clip.
pub fn open_builtin_demo() -> Result<OpenedFile, SourceError> {
    let path = PathBuf::from("builtin:demo");
    let bytes = Bytes::from_static(DEMO_CLIP);
    let index = index(&path, &bytes)?;
    Ok(OpenedFile {
        path,
        reader: Arc::new(bytes),
        index,
        fingerprint: None,
    })
}

/// Opens and indexes a file on disk (blocking: call from a blocking thread).
pub fn open_file(path: &Path) -> Result<OpenedFile, SourceError> {
    let open_err = |source| SourceError::Open {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(open_err)?;
    let meta = file.metadata().map_err(open_err)?;
    if meta.is_dir() {
        return Err(open_err(std::io::Error::other("is a directory")));
    }
    let index = index(path, &file)?;
    Ok(OpenedFile {
        path: path.to_path_buf(),
        reader: Arc::new(file),
        index,
        fingerprint: fingerprint(path),
    })
}

/// Size and modification time of a file, if it can be read.
pub fn fingerprint(path: &Path) -> Option<(u64, std::time::SystemTime)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_containers_are_described() {
        assert_eq!(sniff(b"\0\0\0\x20ftypisom"), Some(Container::Mp4));
        assert_eq!(sniff(b"hello world!"), None);
        assert_eq!(sniff(b"FLV\x01\x05"), Some(Container::Flv));
        let mut ts = vec![0u8; 400];
        ts[0] = 0x47;
        ts[188] = 0x47;
        ts[376] = 0x47;
        assert_eq!(sniff(&ts), Some(Container::Ts));
        ts[188] = 0;
        assert_eq!(sniff(&ts), None);
        assert_eq!(describe(b"RIFF\x00\x01"), "\"RIFF\\x00\\x01\"");
        assert!(describe(b"").contains("empty"));
    }
}
