//! Why a stream failed, in two wordings: the full reason (file path, what the
//! file starts with, the I/O error) for the log and the authenticated API, and a
//! fixed public sentence for everything the media port answers (info documents,
//! the player page, HTTP error bodies, MEWS errors), which never carries file
//! bytes or paths.

use std::fmt;

use super::source::SourceError;
use super::StreamError;

/// What kind of failure, which decides the public wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The source file could not be opened (missing, no permission…).
    CannotOpen,
    /// The source is not a media file (no container recognised).
    NotMedia,
    /// A media file that cannot be played (damaged or unsupported contents).
    Unplayable,
    /// The source failed while playing.
    Interrupted,
    /// A pulled source cannot be reached or sends nothing usable.
    Unreachable,
}

impl FailureKind {
    /// The sentence viewers see.
    pub fn public(self) -> &'static str {
        match self {
            FailureKind::CannotOpen => "the source file cannot be opened",
            FailureKind::NotMedia => "the source is not a media file",
            FailureKind::Unplayable => "the source file cannot be played",
            FailureKind::Interrupted => "the stream's source failed",
            FailureKind::Unreachable => "the stream's source cannot be reached",
        }
    }
}

/// A failed stream's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFailure {
    kind: FailureKind,
    detail: String,
}

impl StreamFailure {
    pub fn new(kind: FailureKind, detail: impl Into<String>) -> StreamFailure {
        StreamFailure {
            kind,
            detail: detail.into(),
        }
    }

    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// What the media port may say (no paths, no file contents).
    pub fn public(&self) -> &'static str {
        self.kind.public()
    }

    /// The full reason, for the log and the authenticated API.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for StreamFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl StreamFailure {
    fn from_source(err: &SourceError) -> StreamFailure {
        let kind = match err {
            SourceError::Open { .. } => FailureKind::CannotOpen,
            SourceError::UnknownContainer { .. } => FailureKind::NotMedia,
            SourceError::Index { .. } => FailureKind::Unplayable,
        };
        StreamFailure::new(kind, err.to_string())
    }
}

impl From<StreamError> for StreamFailure {
    fn from(err: StreamError) -> StreamFailure {
        let kind = match &err {
            StreamError::Source(source) => return StreamFailure::from_source(source),
            StreamError::Spec(_) | StreamError::Task(_) => FailureKind::CannotOpen,
            StreamError::Media { .. } => FailureKind::Unplayable,
            StreamError::Loop(_) => FailureKind::Interrupted,
        };
        StreamFailure::new(kind, err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn public_wording_has_no_path_or_bytes() {
        let err = SourceError::UnknownContainer {
            path: PathBuf::from("/etc/passwd"),
            found: "\"root:x:0:0:r\"".to_owned(),
        };
        let failure = StreamFailure::from(StreamError::from(err));
        assert!(failure.detail().contains("/etc/passwd"));
        assert_eq!(failure.public(), "the source is not a media file");
        let open = StreamFailure::from(StreamError::from(SourceError::Open {
            path: PathBuf::from("/srv/x.mp4"),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        }));
        assert_eq!(open.public(), "the source file cannot be opened");
    }
}
