//! A streaming FLV reader: the bytes of an FLV stream arrive in pieces of any
//! size (an HTTP body, a pipe), and whole tags come out in order, ready for
//! [`super::TagDemuxer`]. Sans-IO: bytes in, tags out.
//!
//! The file header (and the padding a data offset over 9 implies) is read and
//! skipped, then every `PreviousTagSize` + tag. At most one tag is buffered: a tag
//! body larger than [`MAX_STREAM_TAG_BYTES`] is refused. The first error ends the
//! stream: once the framing is lost, nothing after it can be trusted.

use bytes::{Buf, Bytes, BytesMut};

use super::tag::{FileHeader, TagHeader, FILE_HEADER_SIZE, PREVIOUS_TAG_SIZE_LEN, TAG_HEADER_SIZE};
use super::FlvError;

/// Largest tag body a streaming reader accepts (a 4K keyframe fits many times).
pub const MAX_STREAM_TAG_BYTES: usize = 8 * 1024 * 1024;

/// One whole tag of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamTag {
    pub tag_type: u8,
    /// Decode time in milliseconds, all 32 bits.
    pub timestamp: u32,
    pub body: Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The 9-byte file header.
    FileHeader,
    /// Bytes to skip: header padding, and each `PreviousTagSize`.
    Skip(usize),
    /// An 11-byte tag header.
    TagHeader,
    /// The body of the tag whose header was read.
    Body(TagHeader),
}

/// The streaming FLV tag reader.
#[derive(Debug)]
pub struct TagReader {
    buffer: BytesMut,
    expect: Expect,
    failed: bool,
}

impl Default for TagReader {
    fn default() -> TagReader {
        TagReader::new()
    }
}

impl TagReader {
    pub fn new() -> TagReader {
        TagReader {
            buffer: BytesMut::new(),
            expect: Expect::FileHeader,
            failed: false,
        }
    }

    /// Adds received bytes; call [`TagReader::next_tag`] until it gives `None`.
    pub fn push(&mut self, data: &[u8]) {
        self.buffer.extend_from_slice(data);
    }

    /// Bytes received and not yet returned in a tag.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The next whole tag, `Ok(None)` when more bytes are needed. After an error
    /// every call fails.
    pub fn next_tag(&mut self) -> Result<Option<StreamTag>, FlvError> {
        if self.failed {
            return Err(FlvError::Invalid {
                what: "the stream's framing was lost earlier".to_owned(),
            });
        }
        let result = self.advance();
        if result.is_err() {
            self.failed = true;
            self.buffer.clear();
        }
        result
    }

    fn advance(&mut self) -> Result<Option<StreamTag>, FlvError> {
        loop {
            match self.expect {
                Expect::FileHeader => {
                    if self.buffer.len() < FILE_HEADER_SIZE {
                        // Refuse a wrong signature as soon as three bytes show it.
                        if self.buffer.len() >= 3 && self.buffer[..3] != super::tag::SIGNATURE {
                            let mut head = self.buffer.to_vec();
                            head.resize(FILE_HEADER_SIZE, 0);
                            FileHeader::parse(&head)?;
                        }
                        return Ok(None);
                    }
                    let header = FileHeader::parse(&self.buffer)?;
                    self.buffer.advance(FILE_HEADER_SIZE);
                    let padding = header.data_offset as usize - FILE_HEADER_SIZE;
                    self.expect = Expect::Skip(padding + PREVIOUS_TAG_SIZE_LEN);
                }
                Expect::Skip(count) => {
                    let now = count.min(self.buffer.len());
                    self.buffer.advance(now);
                    if now < count {
                        self.expect = Expect::Skip(count - now);
                        return Ok(None);
                    }
                    self.expect = Expect::TagHeader;
                }
                Expect::TagHeader => {
                    if self.buffer.len() < TAG_HEADER_SIZE {
                        return Ok(None);
                    }
                    let header = TagHeader::parse(&self.buffer)?;
                    if header.data_size as usize > MAX_STREAM_TAG_BYTES {
                        return Err(FlvError::TooLarge {
                            what: "tag body size",
                            value: u64::from(header.data_size),
                            limit: MAX_STREAM_TAG_BYTES as u64,
                        });
                    }
                    if header.filter {
                        return Err(FlvError::Unsupported {
                            what: "an encrypted (filtered) FLV tag".to_owned(),
                        });
                    }
                    self.buffer.advance(TAG_HEADER_SIZE);
                    self.expect = Expect::Body(header);
                }
                Expect::Body(header) => {
                    let size = header.data_size as usize;
                    if self.buffer.len() < size {
                        self.buffer.reserve(size - self.buffer.len());
                        return Ok(None);
                    }
                    let body = self.buffer.split_to(size).freeze();
                    self.expect = Expect::Skip(PREVIOUS_TAG_SIZE_LEN);
                    return Ok(Some(StreamTag {
                        tag_type: header.tag_type,
                        timestamp: header.timestamp,
                        body,
                    }));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flv::tag::{TAG_TYPE_AUDIO, TAG_TYPE_VIDEO};

    fn stream(tags: &[(u8, u32, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        FileHeader::new(true, true).write(&mut out);
        out.extend_from_slice(&[0; 4]);
        for (tag_type, timestamp, body) in tags {
            let header = TagHeader {
                tag_type: *tag_type,
                filter: false,
                data_size: body.len() as u32,
                timestamp: *timestamp,
                stream_id: 0,
            };
            header.write(&mut out).unwrap();
            out.extend_from_slice(body);
            out.extend_from_slice(&header.tag_size().to_be_bytes());
        }
        out
    }

    #[test]
    fn tags_come_out_whole_whatever_the_piece_sizes() {
        let data = stream(&[
            (TAG_TYPE_VIDEO, 0, b"first"),
            (TAG_TYPE_AUDIO, 0x0100_0002, b""),
            (TAG_TYPE_VIDEO, 40, &[7; 300]),
        ]);
        for piece in [1, 2, 7, 64, data.len()] {
            let mut reader = TagReader::new();
            let mut tags = Vec::new();
            for chunk in data.chunks(piece) {
                reader.push(chunk);
                while let Some(tag) = reader.next_tag().unwrap() {
                    tags.push(tag);
                }
            }
            assert_eq!(tags.len(), 3, "pieces of {piece}");
            assert_eq!(&tags[0].body[..], b"first");
            assert_eq!(tags[1].timestamp, 0x0100_0002);
            assert_eq!(tags[2].body.len(), 300);
            assert_eq!(reader.buffered(), 0);
        }
    }

    #[test]
    fn garbage_and_huge_tags_are_refused_and_stay_refused() {
        let mut reader = TagReader::new();
        reader.push(b"<html>");
        assert!(matches!(reader.next_tag(), Err(FlvError::NotFlv { .. })));
        reader.push(&stream(&[]));
        assert!(reader.next_tag().is_err());

        let mut data = stream(&[]);
        data.extend_from_slice(&[TAG_TYPE_VIDEO, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0]);
        let mut reader = TagReader::new();
        reader.push(&data);
        assert!(matches!(reader.next_tag(), Err(FlvError::TooLarge { .. })));
        assert_eq!(reader.buffered(), 0);
    }
}
