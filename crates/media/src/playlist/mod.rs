//! Playlist and manifest text: HLS master and media playlists ([`hls`], with
//! Low-Latency HLS in [`hls_ll`]), DASH MPDs
//! with run-length compressed segment timelines ([`dash`]), and the xs:duration and
//! xs:dateTime forms both use ([`time`]).
//!
//! Pure rendering from plain values: the server decides what the segments are,
//! passes every instant (there is no clock here), renders once per stream update and
//! caches the text. Each renderer writes one `String` sized up front.
//!
//! Inputs are checked before anything is written: a value the format cannot carry
//! (a quote or a line break inside an HLS quoted string, a control character in an
//! XML attribute, an overlapping DASH timeline, a date outside years 1–9999, a list
//! longer than its limit) is a [`PlaylistError`], never a broken document.

pub mod dash;
pub mod hls;
pub mod hls_ll;
pub mod time;

#[cfg(test)]
mod dash_tests;
#[cfg(test)]
mod hls_ll_tests;
#[cfg(test)]
mod hls_tests;
#[cfg(test)]
mod time_tests;

/// Most segments one HLS media playlist or one DASH segment timeline lists (a
/// 24-hour DVR window of 1-second segments fits).
pub const MAX_SEGMENTS: usize = 100_000;
/// Most variant streams in one HLS master playlist.
pub const MAX_VARIANTS: usize = 64;
/// Most alternative renditions (EXT-X-MEDIA) in one HLS master playlist.
pub const MAX_RENDITIONS: usize = 64;
/// Most adaptation sets in one DASH period.
pub const MAX_ADAPTATION_SETS: usize = 32;
/// Most representations in one DASH adaptation set.
pub const MAX_REPRESENTATIONS: usize = 32;
/// Longest text value (URI, codecs, name, template) written into a document.
pub const MAX_TEXT_LEN: usize = 2048;

/// Why a playlist or manifest was not rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaylistError {
    #[error("{count} {what} are more than the {limit} one document may list")]
    TooMany {
        what: &'static str,
        count: usize,
        limit: usize,
    },
    #[error("the {field} is {len} bytes long, over the limit of {limit}")]
    TooLong {
        field: &'static str,
        len: usize,
        limit: usize,
    },
    #[error("the {field} is empty")]
    Empty { field: &'static str },
    #[error("the {field} contains a character the document cannot carry ({found:?})")]
    BadChar { field: &'static str, found: char },
    #[error("the URI {field} starts with '#', which HLS would read as a tag or comment")]
    UriLooksLikeTag { field: &'static str },
    #[error("the date {unix_ms} ms from 1970 is outside the years 1 to 9999")]
    DateOutOfRange { unix_ms: i64 },
    #[error("a frame rate of {num}/{den} has no meaning")]
    BadFrameRate { num: u32, den: u32 },
    #[error("the part target duration is 0")]
    ZeroPartTarget,
    #[error("partial segment {sequence}.{part} is listed out of order")]
    PartOutOfOrder { sequence: u64, part: u32 },
    #[error("the master playlist lists no variant stream")]
    NoVariants,
    #[error("a variant names the audio group {group:?}, but no audio rendition is in it")]
    UnknownAudioGroup { group: String },
    #[error("the audio group {group:?} has two renditions named {name:?}")]
    DuplicateRenditionName { group: String, name: String },
    #[error("the audio group {group:?} has more than one default rendition")]
    SeveralDefaults { group: String },
    #[error("the manifest has no adaptation set")]
    NoAdaptationSets,
    #[error("adaptation set {set} has no representation")]
    NoRepresentations { set: u32 },
    #[error("two adaptation sets have the id {set}")]
    DuplicateAdaptationSet { set: u32 },
    #[error("two representations have the id {id:?}")]
    DuplicateRepresentation { id: String },
    #[error("adaptation set {set} has a timescale of 0")]
    ZeroTimescale { set: u32 },
    #[error("adaptation set {set}: segment {index} of the timeline lasts 0 ticks")]
    ZeroSegmentDuration { set: u32, index: usize },
    #[error("adaptation set {set}: segment {index} of the timeline starts before the one before it ends")]
    TimelineOverlap { set: u32, index: usize },
    #[error("adaptation set {set}: segment {index} of the timeline ends past the largest time DASH can state")]
    TimelineOverflow { set: u32, index: usize },
    #[error("the {field} template {template:?} is malformed: {reason}")]
    BadTemplate {
        field: &'static str,
        template: String,
        reason: &'static str,
    },
}

/// A frame rate as a ratio (`30000/1001`), so DASH can state it exactly and HLS
/// can round it to three decimals without floating point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRate {
    pub num: u32,
    pub den: u32,
}

impl FrameRate {
    /// A whole number of frames per second.
    pub const fn whole(fps: u32) -> FrameRate {
        FrameRate { num: fps, den: 1 }
    }

    fn check(self) -> Result<(), PlaylistError> {
        if self.num == 0 || self.den == 0 {
            return Err(PlaylistError::BadFrameRate {
                num: self.num,
                den: self.den,
            });
        }
        Ok(())
    }

    /// Thousandths of a frame per second, rounded half up (`29970` for 30000/1001).
    fn millis(self) -> u64 {
        let den = u64::from(self.den.max(1));
        (u64::from(self.num) * 1000 + den / 2) / den
    }
}

/// Checks a text value's length and that it holds no control character (neither
/// HLS nor XML attributes can carry them; HLS forbids U+0000–U+001F and
/// U+007F–U+009F anywhere, XML forbids most C0 controls and U+FFFE/U+FFFF).
fn check_text(field: &'static str, value: &str) -> Result<(), PlaylistError> {
    if value.len() > MAX_TEXT_LEN {
        return Err(PlaylistError::TooLong {
            field,
            len: value.len(),
            limit: MAX_TEXT_LEN,
        });
    }
    match value
        .chars()
        .find(|&c| c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}')
    {
        Some(found) => Err(PlaylistError::BadChar { field, found }),
        None => Ok(()),
    }
}

/// Checks a value that must not be empty.
fn check_nonempty(field: &'static str, value: &str) -> Result<(), PlaylistError> {
    if value.is_empty() {
        return Err(PlaylistError::Empty { field });
    }
    check_text(field, value)
}

/// Checks a relative or absolute URI: not empty, no control character, no
/// whitespace and no double quote (none of which a URI holds unencoded).
fn check_uri(field: &'static str, value: &str) -> Result<(), PlaylistError> {
    check_nonempty(field, value)?;
    match value.chars().find(|&c| c.is_whitespace() || c == '"') {
        Some(found) => Err(PlaylistError::BadChar { field, found }),
        None => Ok(()),
    }
}

/// Checks a count against its limit.
fn check_count(what: &'static str, count: usize, limit: usize) -> Result<(), PlaylistError> {
    if count > limit {
        return Err(PlaylistError::TooMany { what, count, limit });
    }
    Ok(())
}

/// Appends `text` escaped for a double-quoted XML attribute value. Callers check
/// the text with [`check_text`] first; a control character that slips through is
/// written as U+FFFD rather than making the document malformed.
fn push_xml_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}
