//! A stream's `record` settings: where and how it is recorded, and how long
//! recordings are kept. Parsed from the configuration (`streams.S.record`) or
//! the body of `POST /api/v1/streams/S/recording`.

use serde::{Deserialize, Serialize};

/// Shortest and longest accepted `segment_s`.
pub const SEGMENT_S_RANGE: std::ops::RangeInclusive<u32> = 1..=600;

/// The container of recorded segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordFormat {
    /// Each segment a self-contained fragmented MP4 (`ftyp`+`moov`, then
    /// `moof`/`mdat` pairs): every segment plays alone.
    Fmp4,
    /// Each segment an MPEG-TS file starting with PAT/PMT and a keyframe (the
    /// default: these also export as one seekable MP4).
    #[default]
    Ts,
}

impl RecordFormat {
    /// The segment files' extension.
    pub fn extension(self) -> &'static str {
        match self {
            RecordFormat::Fmp4 => "mp4",
            RecordFormat::Ts => "ts",
        }
    }

    /// The name RECORDING_END gives the output.
    pub fn name(self) -> &'static str {
        match self {
            RecordFormat::Fmp4 => "fmp4",
            RecordFormat::Ts => "ts",
        }
    }
}

/// How long recordings are kept (both limits apply; absent: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Segments that ended longer ago than this are deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_h: Option<u64>,
    /// The stream's recordings together keep at most this many bytes; the
    /// oldest segments go first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

impl Retention {
    pub fn is_unlimited(&self) -> bool {
        self.max_age_h.is_none() && self.max_bytes.is_none()
    }
}

/// `streams.S.record`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordConfig {
    /// The folder of one recording; may use `$stream`, `$datetime`, `$date`,
    /// `$time`, `$unix` (see [`super::path`]). Relative paths are relative to
    /// the configuration file's folder.
    pub path: String,
    #[serde(default)]
    pub format: RecordFormat,
    /// Target segment length in seconds; segments are cut at the first
    /// keyframe at or past it.
    #[serde(default = "default_segment_s")]
    pub segment_s: u32,
    #[serde(default, skip_serializing_if = "Retention::is_unlimited")]
    pub retention: Retention,
}

fn default_segment_s() -> u32 {
    6
}

/// Why `record` settings are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("path is empty")]
    EmptyPath,
    #[error("segment_s must be between {} and {}", SEGMENT_S_RANGE.start(), SEGMENT_S_RANGE.end())]
    SegmentLength,
    #[error("retention.max_bytes must be at least 1")]
    ZeroBytes,
    #[error("unknown variable `${0}` in path (use $stream, $datetime, $date, $time, $unix)")]
    UnknownVariable(String),
}

impl RecordConfig {
    /// Checks the settings as the configuration loader and the API do.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.path.trim().is_empty() {
            return Err(SettingsError::EmptyPath);
        }
        if !SEGMENT_S_RANGE.contains(&self.segment_s) {
            return Err(SettingsError::SegmentLength);
        }
        if self.retention.max_bytes == Some(0) {
            return Err(SettingsError::ZeroBytes);
        }
        super::path::check_variables(&self.path)
    }
}
