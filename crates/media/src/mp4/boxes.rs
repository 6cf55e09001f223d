//! ISO BMFF box reading: box headers read at an offset of a [`ReadAt`] source
//! (the top level of a file, where `mdat` may be gigabytes and is skipped, never
//! read), child boxes walked inside an in-memory byte slice (everything inside
//! `moov`), and a bounds-checked big-endian field reader for box bodies.
//!
//! Box header layout (ISO/IEC 14496-12 §4.2): a 32-bit size and a four-character
//! type; size 1 means a 64-bit size follows the type, size 0 means the box runs to
//! the end of its container (the file, at the top level). A `uuid` box carries a
//! 16-byte extended type after that. Sizes count the header itself.
//!
//! Nothing here trusts a size: every length is checked against what remains of the
//! container before it is used, and every error says which box was wrong.

use std::fmt;

use super::demux::Mp4Error;
use crate::ReadAt;

/// Length of a compact box header (32-bit size and type).
pub const HEADER_LEN: u64 = 8;
/// Length of a box header with a 64-bit size.
pub const LARGE_HEADER_LEN: u64 = 16;
/// Length of the extended type that follows the header of a `uuid` box.
pub const UUID_LEN: u64 = 16;

/// A four-character code: a box type, a handler type, a sample entry type.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FourCC(pub [u8; 4]);

impl FourCC {
    pub const FTYP: FourCC = FourCC(*b"ftyp");
    pub const MOOV: FourCC = FourCC(*b"moov");
    pub const MDAT: FourCC = FourCC(*b"mdat");
    pub const UUID: FourCC = FourCC(*b"uuid");

    /// The code as raw bytes.
    pub fn bytes(self) -> [u8; 4] {
        self.0
    }
}

impl fmt::Display for FourCC {
    /// Printable ASCII as is, anything else as `\xNN`, so a garbage type in an
    /// error message stays readable and unambiguous.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaped(f, &self.0)
    }
}

impl fmt::Debug for FourCC {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("'")?;
        write_escaped(f, &self.0)?;
        f.write_str("'")
    }
}

/// Writes bytes as text: printable ASCII kept, everything else as `\xNN`.
pub(crate) fn write_escaped(f: &mut impl fmt::Write, bytes: &[u8]) -> fmt::Result {
    for &b in bytes {
        if b.is_ascii_graphic() || b == b' ' {
            f.write_char(char::from(b))?;
        } else {
            write!(f, "\\x{b:02X}")?;
        }
    }
    Ok(())
}

/// [`write_escaped`] into a new string.
pub(crate) fn escaped(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    // Writing into a String cannot fail.
    let _ = write_escaped(&mut out, bytes);
    out
}

/// A box header found at a known position of a [`ReadAt`] source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxHeader {
    pub kind: FourCC,
    /// Offset of the first byte of the box (its size field).
    pub offset: u64,
    /// Bytes of header before the body: 8, 16, or 16 more for `uuid`.
    pub header_len: u64,
    /// Total size of the box including its header.
    pub size: u64,
}

impl BoxHeader {
    /// Offset of the first body byte.
    pub fn body_offset(&self) -> u64 {
        // header_len <= size and offset + size <= file size were checked on read.
        self.offset.saturating_add(self.header_len)
    }

    /// Length of the body in bytes.
    pub fn body_len(&self) -> u64 {
        self.size.saturating_sub(self.header_len)
    }

    /// Offset just past the box.
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.size)
    }
}

/// Reads the header of the box starting at `offset` of `src`, whose total length
/// is `file_size`. The box must fit inside the file: a box that claims more bytes
/// than remain is reported (the usual sign of a truncated file), as is a size too
/// small to hold its own header.
pub fn read_header_at<R: ReadAt + ?Sized>(
    src: &R,
    offset: u64,
    file_size: u64,
) -> Result<BoxHeader, Mp4Error> {
    let remaining = file_size.saturating_sub(offset);
    if remaining < HEADER_LEN {
        return Err(Mp4Error::Invalid {
            what: format!(
                "{remaining} stray bytes at offset {offset} are too few for a box header \
                 (the file looks truncated)"
            ),
        });
    }
    let mut head = [0u8; HEADER_LEN as usize];
    src.read_exact_at(&mut head, offset)?;
    let kind = FourCC([head[4], head[5], head[6], head[7]]);
    let size32 = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let (mut header_len, size) = match size32 {
        0 => (HEADER_LEN, remaining),
        1 => {
            if remaining < LARGE_HEADER_LEN {
                return Err(truncated_box(kind, offset, LARGE_HEADER_LEN, remaining));
            }
            let mut large = [0u8; 8];
            src.read_exact_at(&mut large, offset.saturating_add(HEADER_LEN))?;
            (LARGE_HEADER_LEN, u64::from_be_bytes(large))
        }
        n => (HEADER_LEN, u64::from(n)),
    };
    if kind == FourCC::UUID {
        header_len = header_len.saturating_add(UUID_LEN);
    }
    if size < header_len {
        return Err(Mp4Error::Invalid {
            what: format!(
                "box '{kind}' at offset {offset} claims {size} bytes, \
                 fewer than its own {header_len}-byte header"
            ),
        });
    }
    if size > remaining {
        return Err(truncated_box(kind, offset, size, remaining));
    }
    Ok(BoxHeader {
        kind,
        offset,
        header_len,
        size,
    })
}

fn truncated_box(kind: FourCC, offset: u64, size: u64, remaining: u64) -> Mp4Error {
    Mp4Error::Invalid {
        what: format!(
            "box '{kind}' at offset {offset} claims {size} bytes but only {remaining} remain \
             in the file (the file looks truncated)"
        ),
    }
}

/// Iterates over the boxes packed in a byte slice (the body of a container box),
/// yielding each child's type and body. Stops with an error at the first child
/// whose size does not fit; after an error it yields nothing more.
#[derive(Debug, Clone)]
pub struct Boxes<'a> {
    data: &'a [u8],
    /// The container, for messages.
    parent: &'static str,
    failed: bool,
}

impl<'a> Boxes<'a> {
    /// Children of `data`, the body of the box named `parent`.
    pub fn new(data: &'a [u8], parent: &'static str) -> Self {
        Boxes {
            data,
            parent,
            failed: false,
        }
    }

    fn next_box(&mut self) -> Result<(FourCC, &'a [u8]), Mp4Error> {
        let data = self.data;
        let mut r = Reader::new(data, self.parent);
        let size32 = r.u32()?;
        let kind = FourCC(r.array()?);
        let size = match size32 {
            0 => data.len() as u64,
            1 => r.u64()?,
            n => u64::from(n),
        };
        if kind == FourCC::UUID {
            r.skip(UUID_LEN as usize)?;
        }
        let header_len = r.position();
        let len = usize::try_from(size).ok().filter(|&n| n <= data.len());
        let Some(len) = len.filter(|&n| n >= header_len) else {
            return Err(Mp4Error::Invalid {
                what: format!(
                    "box '{kind}' inside '{}' claims {size} bytes but {} remain there",
                    self.parent,
                    data.len()
                ),
            });
        };
        // Both bounds checked just above.
        let body = data.get(header_len..len).unwrap_or_default();
        self.data = data.get(len..).unwrap_or_default();
        Ok((kind, body))
    }
}

impl<'a> Iterator for Boxes<'a> {
    type Item = Result<(FourCC, &'a [u8]), Mp4Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.data.is_empty() {
            return None;
        }
        let item = self.next_box();
        if item.is_err() {
            self.failed = true;
        }
        Some(item)
    }
}

/// The body of the first child of type `kind` in `data`, if any.
pub fn find_child<'a>(
    data: &'a [u8],
    parent: &'static str,
    kind: FourCC,
) -> Result<Option<&'a [u8]>, Mp4Error> {
    for child in Boxes::new(data, parent) {
        let (found, body) = child?;
        if found == kind {
            return Ok(Some(body));
        }
    }
    Ok(None)
}

/// Like [`find_child`], but a missing box is an error naming `path`.
pub fn require_child<'a>(
    data: &'a [u8],
    parent: &'static str,
    kind: FourCC,
    path: &'static str,
) -> Result<&'a [u8], Mp4Error> {
    find_child(data, parent, kind)?.ok_or(Mp4Error::MissingBox { path })
}

/// A cursor over a box body that reads big-endian fields and never reads past the
/// end: running out of bytes is [`Mp4Error::Truncated`] naming the box.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// Reads `data`, the body of the box named `what`.
    pub fn new(data: &'a [u8], what: &'static str) -> Self {
        Reader { data, pos: 0, what }
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or_default()
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Mp4Error> {
        let end = self.pos.checked_add(n);
        let bytes = end.and_then(|end| self.data.get(self.pos..end));
        match (bytes, end) {
            (Some(bytes), Some(end)) => {
                self.pos = end;
                Ok(bytes)
            }
            _ => Err(Mp4Error::Truncated { what: self.what }),
        }
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Result<(), Mp4Error> {
        self.take(n).map(|_| ())
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], Mp4Error> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8, Mp4Error> {
        Ok(self.array::<1>()?[0])
    }

    pub fn u16(&mut self) -> Result<u16, Mp4Error> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub fn u24(&mut self) -> Result<u32, Mp4Error> {
        let [a, b, c] = self.array()?;
        Ok(u32::from_be_bytes([0, a, b, c]))
    }

    pub fn u32(&mut self) -> Result<u32, Mp4Error> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub fn i32(&mut self) -> Result<i32, Mp4Error> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64, Mp4Error> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    pub fn i64(&mut self) -> Result<i64, Mp4Error> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// A FullBox's version (8 bits) and flags (24 bits).
    pub fn version_flags(&mut self) -> Result<(u8, u32), Mp4Error> {
        let v = self.u32()?;
        Ok(((v >> 24) as u8, v & 0x00ff_ffff))
    }

    /// Checks that `count` entries of `entry_len` bytes each fit in what remains,
    /// before anything is allocated for them.
    pub fn check_entries(&self, count: u64, entry_len: u64) -> Result<usize, Mp4Error> {
        let needed = count.checked_mul(entry_len);
        match needed {
            Some(n) if n <= self.remaining() as u64 => {
                usize::try_from(count).map_err(|_| Mp4Error::Truncated { what: self.what })
            }
            _ => Err(Mp4Error::Invalid {
                what: format!(
                    "'{}' lists {count} entries of {entry_len} bytes but holds only {} bytes",
                    self.what,
                    self.remaining()
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn header_at_offset_handles_compact_large_and_to_end_sizes() {
        let mut file = boxed(b"ftyp", b"isom");
        // 64-bit size: 16-byte header, 4-byte body.
        file.extend_from_slice(&1u32.to_be_bytes());
        file.extend_from_slice(b"free");
        file.extend_from_slice(&20u64.to_be_bytes());
        file.extend_from_slice(b"abcd");
        // Size 0: to the end of the file.
        file.extend_from_slice(&0u32.to_be_bytes());
        file.extend_from_slice(b"mdat");
        file.extend_from_slice(&[9; 10]);
        let size = file.len() as u64;

        let a = read_header_at(&file[..], 0, size).unwrap();
        assert_eq!((a.kind, a.size, a.header_len), (FourCC::FTYP, 12, 8));
        let b = read_header_at(&file[..], a.end(), size).unwrap();
        assert_eq!((b.kind, b.size, b.header_len), (FourCC(*b"free"), 20, 16));
        assert_eq!(b.body_len(), 4);
        let c = read_header_at(&file[..], b.end(), size).unwrap();
        assert_eq!((c.kind, c.size, c.body_len()), (FourCC::MDAT, 18, 10));
        assert_eq!(c.end(), size);
    }

    #[test]
    fn header_at_offset_refuses_impossible_sizes() {
        let file = boxed(b"moov", &[0; 8]);
        let size = file.len() as u64;
        // Claims more than the file holds.
        assert!(read_header_at(&file[..], 0, size - 1).is_err());
        // Size smaller than the header.
        let mut tiny = file.clone();
        tiny[..4].copy_from_slice(&4u32.to_be_bytes());
        assert!(read_header_at(&tiny[..], 0, size).is_err());
        // 64-bit size of u64::MAX.
        let mut huge = 1u32.to_be_bytes().to_vec();
        huge.extend_from_slice(b"mdat");
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert!(read_header_at(&huge[..], 0, huge.len() as u64).is_err());
        // Too few bytes left for a header.
        assert!(read_header_at(&file[..], size - 3, size).is_err());
        assert!(read_header_at(&file[..], u64::MAX, size).is_err());
    }

    #[test]
    fn children_of_a_slice_are_walked_and_bad_sizes_stop_the_walk() {
        let mut body = boxed(b"mvhd", &[1, 2]);
        body.extend(boxed(b"trak", &[3]));
        let kids: Vec<_> = Boxes::new(&body, "moov").collect::<Result<_, _>>().unwrap();
        assert_eq!(kids.len(), 2);
        assert_eq!(kids[0], (FourCC(*b"mvhd"), &[1u8, 2][..]));
        assert_eq!(kids[1], (FourCC(*b"trak"), &[3u8][..]));

        body.extend_from_slice(&1000u32.to_be_bytes());
        body.extend_from_slice(b"junk");
        let mut walk = Boxes::new(&body, "moov");
        assert!(walk.next().unwrap().is_ok());
        assert!(walk.next().unwrap().is_ok());
        assert!(walk.next().unwrap().is_err());
        assert!(walk.next().is_none());

        // A lone partial header is an error, not a silent stop.
        let mut walk = Boxes::new(&[0, 0, 0], "moov");
        assert!(walk.next().unwrap().is_err());
    }

    #[test]
    fn reader_reads_fields_and_reports_truncation() {
        let data = [0x01, 0x00, 0x00, 0x02, 0xff, 0xff, 0xff, 0xfe, 7];
        let mut r = Reader::new(&data, "test");
        assert_eq!(r.version_flags().unwrap(), (1, 2));
        assert_eq!(r.i32().unwrap(), -2);
        assert_eq!(r.remaining(), 1);
        assert!(r.u16().is_err());
        assert_eq!(r.u8().unwrap(), 7);
        assert!(r.take(usize::MAX).is_err());
        assert!(r.check_entries(u64::MAX, 8).is_err());
        assert_eq!(r.check_entries(0, 8).unwrap(), 0);
    }

    #[test]
    fn fourcc_escapes_unprintable_bytes() {
        assert_eq!(FourCC(*b"FLV\x01").to_string(), "FLV\\x01");
        assert_eq!(format!("{:?}", FourCC(*b"moov")), "'moov'");
    }
}
