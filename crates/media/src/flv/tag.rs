//! FLV container framing: the file header ([`FileHeader`], 9 bytes, followed by
//! the 4-byte `PreviousTagSize0`) and the tag header ([`TagHeader`], 11 bytes
//! before every tag body, each body followed by its 4-byte `PreviousTagSize`).
//!
//! Layouts (Adobe FLV specification v10.1, annex E.2 and E.4.1):
//!
//! ```text
//! file header: 'F' 'L' 'V' | version (1) | flags: 0b00000A0V | data offset (u32, 9)
//! tag header:  reserved(2) filter(1) type(5) | data size (u24) | timestamp (u24)
//!              | timestamp extended (u8, bits 31..24) | stream id (u24, 0)
//! ```

use super::FlvError;

/// The three bytes every FLV file starts with.
pub const SIGNATURE: [u8; 3] = *b"FLV";
/// Bytes in the file header.
pub const FILE_HEADER_SIZE: usize = 9;
/// Bytes in a tag header.
pub const TAG_HEADER_SIZE: usize = 11;
/// Bytes in a `PreviousTagSize` field.
pub const PREVIOUS_TAG_SIZE_LEN: usize = 4;
/// Tag type of audio tags (and of RTMP audio messages).
pub const TAG_TYPE_AUDIO: u8 = 8;
/// Tag type of video tags (and of RTMP video messages).
pub const TAG_TYPE_VIDEO: u8 = 9;
/// Tag type of script data tags (and of RTMP AMF0 data messages).
pub const TAG_TYPE_SCRIPT: u8 = 18;
/// The largest tag body: the data size field has 24 bits.
pub const MAX_TAG_DATA_SIZE: u32 = 0x00FF_FFFF;
/// The largest header `data offset` accepted. Writers use 9; a larger value
/// skips bytes after the header, and anything far beyond that is corruption.
pub const MAX_DATA_OFFSET: u32 = 1 << 20;

const FLAG_AUDIO: u8 = 0x04;
const FLAG_VIDEO: u8 = 0x01;
const FILTER_BIT: u8 = 0x20;
const TAG_TYPE_MASK: u8 = 0x1F;

/// The FLV file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    /// Format version: 1 for every file written since 2003.
    pub version: u8,
    pub has_audio: bool,
    pub has_video: bool,
    /// Offset of the first `PreviousTagSize` field: the header's own size (9).
    pub data_offset: u32,
}

impl FileHeader {
    /// A version 1 header of the standard size.
    pub fn new(has_audio: bool, has_video: bool) -> FileHeader {
        FileHeader {
            version: 1,
            has_audio,
            has_video,
            data_offset: FILE_HEADER_SIZE as u32,
        }
    }

    /// Parses the first [`FILE_HEADER_SIZE`] bytes of `data`. The flags are
    /// informative only (many writers get them wrong); the data offset must lie
    /// between 9 and [`MAX_DATA_OFFSET`].
    pub fn parse(data: &[u8]) -> Result<FileHeader, FlvError> {
        let head: &[u8; FILE_HEADER_SIZE] = data
            .get(..FILE_HEADER_SIZE)
            .and_then(|h| h.try_into().ok())
            .ok_or(FlvError::Truncated {
                what: "FLV file header",
            })?;
        let [f, l, v, version, flags, o0, o1, o2, o3] = *head;
        if [f, l, v] != SIGNATURE {
            return Err(FlvError::NotFlv {
                found: format!(
                    "a file starting with '{}'",
                    crate::mp4::boxes::escaped(head)
                ),
            });
        }
        let data_offset = u32::from_be_bytes([o0, o1, o2, o3]);
        if !(FILE_HEADER_SIZE as u32..=MAX_DATA_OFFSET).contains(&data_offset) {
            return Err(FlvError::Invalid {
                what: format!(
                    "the header's data offset is {data_offset}, outside 9 to {MAX_DATA_OFFSET}"
                ),
            });
        }
        Ok(FileHeader {
            version,
            has_audio: flags & FLAG_AUDIO != 0,
            has_video: flags & FLAG_VIDEO != 0,
            data_offset,
        })
    }

    /// Appends the 9 header bytes (not `PreviousTagSize0`, and not the padding
    /// a data offset over 9 implies).
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&SIGNATURE);
        out.push(self.version);
        let mut flags = 0;
        if self.has_audio {
            flags |= FLAG_AUDIO;
        }
        if self.has_video {
            flags |= FLAG_VIDEO;
        }
        out.push(flags);
        out.extend_from_slice(&self.data_offset.to_be_bytes());
    }
}

/// The header in front of every FLV tag body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagHeader {
    /// [`TAG_TYPE_AUDIO`], [`TAG_TYPE_VIDEO`] or [`TAG_TYPE_SCRIPT`] (5 bits).
    pub tag_type: u8,
    /// The filter bit: the body is encrypted (not supported by Brume's readers).
    pub filter: bool,
    /// Bytes in the body (24 bits).
    pub data_size: u32,
    /// Decode time in milliseconds, all 32 bits (the extended byte on top).
    pub timestamp: u32,
    /// Always 0 in files (24 bits).
    pub stream_id: u32,
}

impl TagHeader {
    /// Parses the first [`TAG_HEADER_SIZE`] bytes of `data`.
    pub fn parse(data: &[u8]) -> Result<TagHeader, FlvError> {
        let head: &[u8; TAG_HEADER_SIZE] = data
            .get(..TAG_HEADER_SIZE)
            .and_then(|h| h.try_into().ok())
            .ok_or(FlvError::Truncated {
                what: "FLV tag header",
            })?;
        let [kind, s0, s1, s2, t0, t1, t2, t3, i0, i1, i2] = *head;
        Ok(TagHeader {
            tag_type: kind & TAG_TYPE_MASK,
            filter: kind & FILTER_BIT != 0,
            data_size: u32::from_be_bytes([0, s0, s1, s2]),
            timestamp: u32::from_be_bytes([t3, t0, t1, t2]),
            stream_id: u32::from_be_bytes([0, i0, i1, i2]),
        })
    }

    /// Appends the 11 header bytes. Fails, writing nothing, for a type over 31,
    /// or a data size or stream id over 24 bits.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), FlvError> {
        if self.tag_type > TAG_TYPE_MASK {
            return Err(FlvError::Invalid {
                what: format!("tag type {} does not fit in 5 bits", self.tag_type),
            });
        }
        if self.data_size > MAX_TAG_DATA_SIZE {
            return Err(FlvError::TooLarge {
                what: "tag body size",
                value: u64::from(self.data_size),
                limit: u64::from(MAX_TAG_DATA_SIZE),
            });
        }
        if self.stream_id > 0x00FF_FFFF {
            return Err(FlvError::TooLarge {
                what: "tag stream id",
                value: u64::from(self.stream_id),
                limit: 0x00FF_FFFF,
            });
        }
        let kind = self.tag_type | if self.filter { FILTER_BIT } else { 0 };
        let [_, s0, s1, s2] = self.data_size.to_be_bytes();
        let [t3, t0, t1, t2] = self.timestamp.to_be_bytes();
        let [_, i0, i1, i2] = self.stream_id.to_be_bytes();
        out.extend_from_slice(&[kind, s0, s1, s2, t0, t1, t2, t3, i0, i1, i2]);
        Ok(())
    }

    /// Header plus body: the value of the `PreviousTagSize` that follows the tag.
    pub fn tag_size(&self) -> u32 {
        self.data_size.saturating_add(TAG_HEADER_SIZE as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_header_round_trips_and_matches_the_usual_bytes() {
        let header = FileHeader::new(true, true);
        let mut out = Vec::new();
        header.write(&mut out);
        assert_eq!(out, [b'F', b'L', b'V', 1, 5, 0, 0, 0, 9]);
        assert_eq!(FileHeader::parse(&out).unwrap(), header);

        for (audio, video, flags) in [(false, true, 1), (true, false, 4), (false, false, 0)] {
            let mut out = Vec::new();
            FileHeader::new(audio, video).write(&mut out);
            assert_eq!(out[4], flags);
            assert_eq!(
                FileHeader::parse(&out).unwrap(),
                FileHeader::new(audio, video)
            );
        }
    }

    #[test]
    fn bad_file_headers_are_errors() {
        assert!(matches!(
            FileHeader::parse(b"FLV\x01\x05\0\0\0"),
            Err(FlvError::Truncated { .. })
        ));
        assert!(matches!(
            FileHeader::parse(b"\0\0\0\x20ftypisom"),
            Err(FlvError::NotFlv { .. })
        ));
        for offset in [0u32, 8, MAX_DATA_OFFSET + 1, u32::MAX] {
            let mut data = b"FLV\x01\x05".to_vec();
            data.extend_from_slice(&offset.to_be_bytes());
            assert!(matches!(
                FileHeader::parse(&data),
                Err(FlvError::Invalid { .. })
            ));
        }
    }

    #[test]
    fn tag_header_round_trips_with_the_extended_timestamp_byte() {
        let header = TagHeader {
            tag_type: TAG_TYPE_VIDEO,
            filter: false,
            data_size: 0x01_0203,
            timestamp: 0xAB12_3456,
            stream_id: 0,
        };
        let mut out = Vec::new();
        header.write(&mut out).unwrap();
        assert_eq!(out, [9, 1, 2, 3, 0x12, 0x34, 0x56, 0xAB, 0, 0, 0]);
        assert_eq!(TagHeader::parse(&out).unwrap(), header);
        assert_eq!(header.tag_size(), 0x01_0203 + 11);

        let filtered = TagHeader {
            tag_type: TAG_TYPE_AUDIO,
            filter: true,
            data_size: MAX_TAG_DATA_SIZE,
            timestamp: u32::MAX,
            stream_id: 0x00FF_FFFF,
        };
        let mut out = Vec::new();
        filtered.write(&mut out).unwrap();
        assert_eq!(out[0], 0x28);
        assert_eq!(TagHeader::parse(&out).unwrap(), filtered);
    }

    #[test]
    fn unrepresentable_tag_headers_are_refused_without_writing() {
        let base = TagHeader {
            tag_type: TAG_TYPE_SCRIPT,
            filter: false,
            data_size: 0,
            timestamp: 0,
            stream_id: 0,
        };
        let bad = [
            TagHeader {
                tag_type: 32,
                ..base
            },
            TagHeader {
                data_size: MAX_TAG_DATA_SIZE + 1,
                ..base
            },
            TagHeader {
                stream_id: 1 << 24,
                ..base
            },
        ];
        for header in bad {
            let mut out = Vec::new();
            assert!(header.write(&mut out).is_err());
            assert!(out.is_empty());
        }
        assert!(TagHeader::parse(&[9; 10]).is_err());
    }
}
