//! A small ISO BMFF box writer.
//!
//! [`BoxWriter`] appends big-endian fields to one growable buffer. A box is opened
//! with [`BoxWriter::start`] (or [`BoxWriter::start_full`] for a FullBox), which
//! writes a placeholder 32-bit size and the four-character code and returns a
//! [`BoxStart`] remembering where the box begins; [`BoxWriter::end`] patches the
//! size once the payload is written. Boxes nest naturally: end the inner box before
//! the outer one.
//!
//! The writer never reallocates when created with enough capacity
//! ([`BoxWriter::with_capacity`]), which is how the fragment muxer keeps to one
//! allocation per fragment. Misuse (ending a box that was never started, or a box
//! over the 32-bit size limit) returns a [`WriteError`]; it never panics.

use bytes::Bytes;

/// Size of a plain box header: 32-bit size and four-character code.
pub const BOX_HEADER_SIZE: usize = 8;
/// Size of a FullBox header: box header plus version (8 bits) and flags (24 bits).
pub const FULL_BOX_HEADER_SIZE: usize = 12;

/// Errors of [`BoxWriter`]: programming mistakes or boxes too big to describe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The box grew past what a 32-bit size field can express.
    #[error("box '{}' is {size} bytes, over the 32-bit box size limit", fourcc_text(.fourcc))]
    BoxTooLarge { fourcc: [u8; 4], size: u64 },
    /// [`BoxWriter::end`] got a [`BoxStart`] that does not lie inside the buffer.
    #[error("box end for offset {offset} does not match a box in a {len}-byte buffer")]
    Unbalanced { offset: usize, len: usize },
    /// [`BoxWriter::patch_u32`] pointed outside the written bytes.
    #[error("patch at offset {offset} is outside the {len} bytes written")]
    PatchOutOfRange { offset: usize, len: usize },
}

/// Renders a four-character code for messages (non-ASCII bytes become `?`).
fn fourcc_text(fourcc: &[u8; 4]) -> String {
    fourcc
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect()
}

/// Where an open box begins; hand it back to [`BoxWriter::end`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "an open box must be closed with BoxWriter::end"]
pub struct BoxStart {
    offset: usize,
}

impl BoxStart {
    /// Byte offset of the box's size field in the writer's buffer.
    pub fn offset(self) -> usize {
        self.offset
    }
}

/// Appends ISO BMFF boxes and big-endian fields to one buffer.
#[derive(Debug, Default, Clone)]
pub struct BoxWriter {
    buf: Vec<u8>,
}

impl BoxWriter {
    /// An empty writer; prefer [`BoxWriter::with_capacity`] on hot paths.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty writer that can hold `capacity` bytes without reallocating.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Bytes the buffer can hold before it must reallocate.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// Opens a plain box: writes a placeholder size and `fourcc`.
    pub fn start(&mut self, fourcc: &[u8; 4]) -> BoxStart {
        let offset = self.buf.len();
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
        self.buf.extend_from_slice(fourcc);
        BoxStart { offset }
    }

    /// Opens a FullBox: a plain box header, then `version` and the low 24 bits of
    /// `flags`.
    pub fn start_full(&mut self, fourcc: &[u8; 4], version: u8, flags: u32) -> BoxStart {
        let start = self.start(fourcc);
        self.put_u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
        start
    }

    /// Closes the box opened at `start`, writing its size (header included).
    pub fn end(&mut self, start: BoxStart) -> Result<(), WriteError> {
        let len = self.buf.len();
        let unbalanced = WriteError::Unbalanced {
            offset: start.offset,
            len,
        };
        let Some(header_end) = start.offset.checked_add(BOX_HEADER_SIZE) else {
            return Err(unbalanced);
        };
        let Some(header) = self.buf.get_mut(start.offset..header_end) else {
            return Err(unbalanced);
        };
        let size = len - start.offset;
        let Ok(size32) = u32::try_from(size) else {
            let mut fourcc = [0u8; 4];
            fourcc.copy_from_slice(&header[4..]);
            return Err(WriteError::BoxTooLarge {
                fourcc,
                size: size as u64,
            });
        };
        header[..4].copy_from_slice(&size32.to_be_bytes());
        Ok(())
    }

    /// Overwrites four already-written bytes at `offset` with `value` (big-endian).
    pub fn patch_u32(&mut self, offset: usize, value: u32) -> Result<(), WriteError> {
        let len = self.buf.len();
        match offset
            .checked_add(4)
            .and_then(|end| self.buf.get_mut(offset..end))
        {
            Some(field) => {
                field.copy_from_slice(&value.to_be_bytes());
                Ok(())
            }
            None => Err(WriteError::PatchOutOfRange { offset, len }),
        }
    }

    pub fn put_u8(&mut self, value: u8) {
        self.buf.push(value);
    }

    pub fn put_u16(&mut self, value: u16) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    pub fn put_i16(&mut self, value: i16) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    /// Writes the low 24 bits of `value`.
    pub fn put_u24(&mut self, value: u32) {
        self.buf.extend_from_slice(&value.to_be_bytes()[1..]);
    }

    pub fn put_u32(&mut self, value: u32) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    pub fn put_i32(&mut self, value: i32) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    pub fn put_u64(&mut self, value: u64) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    /// Writes a four-character code (or any 4 raw bytes).
    pub fn put_fourcc(&mut self, fourcc: &[u8; 4]) {
        self.buf.extend_from_slice(fourcc);
    }

    pub fn put_bytes(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Writes `count` zero bytes.
    pub fn put_zeros(&mut self, count: usize) {
        self.buf.resize(self.buf.len().saturating_add(count), 0);
    }

    /// Hands the buffer over as [`Bytes`] without copying.
    pub fn into_bytes(self) -> Bytes {
        Bytes::from(self.buf)
    }

    /// Hands the buffer over as a `Vec<u8>`.
    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_boxes_get_their_sizes_patched() {
        let mut w = BoxWriter::new();
        let outer = w.start(b"moov");
        let inner = w.start_full(b"mvhd", 1, 0x0102_0304);
        w.put_u16(0xabcd);
        w.end(inner).unwrap();
        w.put_u8(7);
        w.end(outer).unwrap();
        let bytes = w.into_bytes();
        assert_eq!(
            &bytes[..],
            &[
                0, 0, 0, 23, b'm', b'o', b'o', b'v', //
                0, 0, 0, 14, b'm', b'v', b'h', b'd', 1, 2, 3, 4, 0xab, 0xcd, //
                7,
            ]
        );
    }

    #[test]
    fn fields_are_big_endian() {
        let mut w = BoxWriter::new();
        w.put_u24(0x0a0b_0c0d);
        w.put_u32(0x0102_0304);
        w.put_i32(-2);
        w.put_i16(-1);
        w.put_u64(0x1122_3344_5566_7788);
        w.put_fourcc(b"abcd");
        w.put_zeros(2);
        w.put_bytes(&[9]);
        assert_eq!(
            w.as_slice(),
            &[
                0x0b, 0x0c, 0x0d, 1, 2, 3, 4, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0x11, 0x22, 0x33,
                0x44, 0x55, 0x66, 0x77, 0x88, b'a', b'b', b'c', b'd', 0, 0, 9
            ]
        );
    }

    #[test]
    fn misuse_returns_errors_instead_of_panicking() {
        let mut w = BoxWriter::new();
        let open = w.start(b"free");
        let mut other = BoxWriter::new();
        assert_eq!(
            other.end(open),
            Err(WriteError::Unbalanced { offset: 0, len: 0 })
        );
        other.put_u16(1);
        assert!(matches!(
            other.end(open),
            Err(WriteError::Unbalanced { .. })
        ));
        assert_eq!(
            w.patch_u32(6, 1),
            Err(WriteError::PatchOutOfRange { offset: 6, len: 8 })
        );
        assert!(w.patch_u32(usize::MAX, 1).is_err());
        w.patch_u32(4, u32::from_be_bytes(*b"skip")).unwrap();
        w.end(open).unwrap();
        assert_eq!(w.as_slice(), b"\0\0\0\x08skip");
    }

    #[test]
    fn error_names_the_box() {
        let err = WriteError::BoxTooLarge {
            fourcc: *b"md\x01t",
            size: 1 << 33,
        };
        assert!(err.to_string().contains("'md?t'"), "{err}");
    }

    #[test]
    fn presized_writer_does_not_reallocate() {
        let mut w = BoxWriter::with_capacity(16);
        let ptr = w.as_slice().as_ptr();
        let b = w.start(b"mdat");
        w.put_u64(1);
        w.end(b).unwrap();
        assert_eq!(w.len(), 16);
        assert_eq!(w.as_slice().as_ptr(), ptr);
        let bytes = w.into_bytes();
        assert_eq!(bytes.as_ptr(), ptr);
    }
}
