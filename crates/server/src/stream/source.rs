//! Opening media files: the bundled clip or a path on disk, probed and indexed.
//!
//! Only the container index is read (an MP4's `moov`); sample bytes are read on
//! demand through [`ReadAt`]. Errors name the file and say what was found.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use brume_media::mp4::demux::{Mp4Error, Mp4File};
use brume_media::ReadAt;
use bytes::Bytes;

/// The clip behind `builtin:demo`.
pub static DEMO_CLIP: &[u8] = include_bytes!("../../../../assets/demo.mp4");

/// Anything a file input can read samples from, shareable across tasks.
pub type SharedReader = Arc<dyn ReadAt + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Demux { path: PathBuf, source: Mp4Error },
}

/// An opened, indexed media file.
#[derive(Clone)]
pub struct OpenedFile {
    pub path: PathBuf,
    pub reader: SharedReader,
    pub index: Arc<Mp4File>,
    /// Size and modification time when opened, to notice a replaced file.
    pub fingerprint: Option<(u64, std::time::SystemTime)>,
}

impl std::fmt::Debug for OpenedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedFile")
            .field("path", &self.path)
            .field("tracks", &self.index.tracks().len())
            .finish()
    }
}

/// Opens the bundled demo clip.
pub fn open_builtin_demo() -> Result<OpenedFile, SourceError> {
    let path = PathBuf::from("builtin:demo");
    let bytes = Bytes::from_static(DEMO_CLIP);
    let index = Mp4File::open(&bytes).map_err(|source| SourceError::Demux {
        path: path.clone(),
        source,
    })?;
    Ok(OpenedFile {
        path,
        reader: Arc::new(bytes),
        index: Arc::new(index),
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
    let index = Mp4File::open(&file).map_err(|source| SourceError::Demux {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(OpenedFile {
        path: path.to_path_buf(),
        reader: Arc::new(file),
        index: Arc::new(index),
        fingerprint: fingerprint(path),
    })
}

/// Size and modification time of a file, if it can be read.
pub fn fingerprint(path: &Path) -> Option<(u64, std::time::SystemTime)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}
