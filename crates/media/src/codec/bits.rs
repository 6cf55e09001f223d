//! Bit-level and byte-level readers for codec headers: a big-endian [`BitReader`]
//! with Exp-Golomb codes (H.264 `ue(v)` / `se(v)`), a bounds-checked
//! [`ByteReader`], and [`remove_emulation_prevention`], which turns a NAL unit's
//! payload into its raw byte sequence (RBSP).
//!
//! Every read past the end of the data is an error, never a panic.

use super::CodecError;

/// Reads bits most-significant first from a byte slice.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    data: &'a [u8],
    /// Position of the next bit, counted from the first bit of `data`.
    pos: usize,
}

/// The longest Exp-Golomb prefix accepted: 31 leading zeros give values up to
/// `2^32 - 2`, the largest that fits a `u32`.
const MAX_GOLOMB_ZEROS: u32 = 31;

impl<'a> BitReader<'a> {
    /// A reader positioned at the first bit of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        BitReader { data, pos: 0 }
    }

    /// How many bits remain to be read.
    pub fn bits_left(&self) -> usize {
        self.total_bits().saturating_sub(self.pos)
    }

    /// How many bits have been read (or skipped) so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Whether the next bit is the first bit of a byte.
    pub fn is_byte_aligned(&self) -> bool {
        self.pos & 7 == 0
    }

    fn total_bits(&self) -> usize {
        self.data.len().saturating_mul(8)
    }

    fn need(&self, bits: usize) -> Result<(), CodecError> {
        if bits > self.bits_left() {
            Err(CodecError::Truncated { what: "bit field" })
        } else {
            Ok(())
        }
    }

    /// Reads one bit.
    pub fn read_bit(&mut self) -> Result<bool, CodecError> {
        let byte = self
            .data
            .get(self.pos / 8)
            .copied()
            .ok_or(CodecError::Truncated { what: "bit field" })?;
        let bit = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }

    /// Reads `n` bits (at most 32) as a big-endian unsigned number. Reading 0 bits
    /// gives 0. On error nothing is consumed.
    pub fn read_bits(&mut self, n: u32) -> Result<u32, CodecError> {
        if n > 32 {
            return Err(CodecError::TooLarge {
                what: "bit field width",
                value: u64::from(n),
                max: 32,
            });
        }
        self.need(n as usize)?;
        let mut value: u64 = 0;
        for _ in 0..n {
            value = (value << 1) | u64::from(self.read_bit()?);
        }
        // At most 32 bits were shifted in, so this conversion cannot fail.
        u32::try_from(value).map_err(|_| CodecError::Invalid { what: "bit field" })
    }

    /// Reads `n` bits (at most 8) as a byte.
    pub fn read_u8(&mut self, n: u32) -> Result<u8, CodecError> {
        if n > 8 {
            return Err(CodecError::TooLarge {
                what: "bit field width",
                value: u64::from(n),
                max: 8,
            });
        }
        let v = self.read_bits(n)?;
        u8::try_from(v).map_err(|_| CodecError::Invalid { what: "bit field" })
    }

    /// Skips `n` bits. On error nothing is consumed.
    pub fn skip_bits(&mut self, n: usize) -> Result<(), CodecError> {
        self.need(n)?;
        self.pos += n;
        Ok(())
    }

    /// Reads an unsigned Exp-Golomb code, `ue(v)` in H.264. Codes longer than fit
    /// a `u32` are an error. On error nothing is consumed.
    pub fn read_ue(&mut self) -> Result<u32, CodecError> {
        let start = self.pos;
        let result = self.read_ue_inner();
        if result.is_err() {
            self.pos = start;
        }
        result
    }

    fn read_ue_inner(&mut self) -> Result<u32, CodecError> {
        let mut zeros: u32 = 0;
        while !self.read_bit().map_err(|_| CodecError::Truncated {
            what: "Exp-Golomb code",
        })? {
            zeros += 1;
            if zeros > MAX_GOLOMB_ZEROS {
                return Err(CodecError::Invalid {
                    what: "Exp-Golomb code (longer than 32 bits)",
                });
            }
        }
        let suffix = self.read_bits(zeros).map_err(|_| CodecError::Truncated {
            what: "Exp-Golomb code",
        })?;
        // zeros <= 31, so (1 << zeros) - 1 + suffix <= 2^32 - 2.
        let base = (1u64 << zeros) - 1;
        u32::try_from(base + u64::from(suffix)).map_err(|_| CodecError::Invalid {
            what: "Exp-Golomb code (longer than 32 bits)",
        })
    }

    /// Reads a signed Exp-Golomb code, `se(v)` in H.264: 1, -1, 2, -2, ... for
    /// codes 1, 2, 3, 4, ... On error nothing is consumed.
    pub fn read_se(&mut self) -> Result<i32, CodecError> {
        let k = i64::from(self.read_ue()?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        // |v| <= 2^31 - 1 because k <= 2^32 - 2.
        i32::try_from(v).map_err(|_| CodecError::Invalid {
            what: "signed Exp-Golomb code",
        })
    }
}

/// Writes bits most-significant first, the inverse of [`BitReader`].
#[derive(Debug, Clone, Default)]
pub struct BitWriter {
    out: Vec<u8>,
    /// Bits used in the last byte of `out`; 0 means the next bit starts a byte.
    used: u32,
}

impl BitWriter {
    /// An empty writer.
    pub fn new() -> Self {
        BitWriter::default()
    }

    /// Bits written so far.
    pub fn bit_len(&self) -> usize {
        let full = self.out.len().saturating_mul(8);
        if self.used == 0 {
            full
        } else {
            full - 8 + self.used as usize
        }
    }

    /// Appends one bit.
    pub fn write_bit(&mut self, bit: bool) {
        if self.used == 0 {
            self.out.push(0);
        }
        if let Some(last) = self.out.last_mut() {
            *last |= u8::from(bit) << (7 - self.used);
        }
        self.used = (self.used + 1) % 8;
    }

    /// Appends the low `n` bits of `value`, most significant first (`n` is capped
    /// at 64).
    pub fn write_bits(&mut self, value: u64, n: u32) {
        for i in (0..n.min(64)).rev() {
            self.write_bit((value >> i) & 1 == 1);
        }
    }

    /// Appends an unsigned Exp-Golomb code, `ue(v)`.
    pub fn write_ue(&mut self, value: u32) {
        let code = u64::from(value) + 1;
        let len = 64 - code.leading_zeros();
        self.write_bits(0, len - 1);
        self.write_bits(code, len);
    }

    /// Appends a signed Exp-Golomb code, `se(v)`.
    pub fn write_se(&mut self, value: i32) {
        let v = i64::from(value);
        let k = if v > 0 { 2 * v - 1 } else { -2 * v };
        // k is at most 2^32, so the code has at most 33 significant bits.
        let code = k.unsigned_abs() + 1;
        let len = 64 - code.leading_zeros();
        self.write_bits(0, len - 1);
        self.write_bits(code, len);
    }

    /// The bytes written, the last one padded with zero bits.
    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }
}

/// Reads big-endian integers and slices from a byte slice, never past its end.
#[derive(Debug, Clone)]
pub struct ByteReader<'a> {
    data: &'a [u8],
}

impl<'a> ByteReader<'a> {
    /// A reader positioned at the first byte of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        ByteReader { data }
    }

    /// The bytes not yet read.
    pub fn remaining(&self) -> &'a [u8] {
        self.data
    }

    /// Takes the next `n` bytes; `what` names the field in the error.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], CodecError> {
        if n > self.data.len() {
            return Err(CodecError::Truncated { what });
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Ok(head)
    }

    /// Reads one byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, CodecError> {
        let (&first, rest) = self
            .data
            .split_first()
            .ok_or(CodecError::Truncated { what })?;
        self.data = rest;
        Ok(first)
    }

    /// Reads a big-endian 16-bit number.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, CodecError> {
        let b = self.take(2, what)?;
        match *b {
            [hi, lo] => Ok(u16::from_be_bytes([hi, lo])),
            _ => Err(CodecError::Truncated { what }),
        }
    }
}

/// Returns the raw byte sequence payload (RBSP) of a NAL unit: every `0x03` that
/// follows two zero bytes (an emulation prevention byte) is removed, so
/// `00 00 03 01` becomes `00 00 01`.
pub fn remove_emulation_prevention(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0usize;
    for &b in nal {
        if zeros >= 2 && b == 0x03 {
            zeros = 0;
            continue;
        }
        if b == 0 {
            zeros += 1;
        } else {
            zeros = 0;
        }
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bits_msb_first() {
        let mut r = BitReader::new(&[0b1010_0000, 0xFF]);
        assert!(r.read_bit().unwrap());
        assert!(!r.read_bit().unwrap());
        assert_eq!(r.read_bits(2).unwrap(), 0b10);
        assert_eq!(r.bits_left(), 12);
        assert_eq!(r.read_bits(12).unwrap(), 0x0FF);
        assert_eq!(r.bits_left(), 0);
        assert_eq!(r.read_bits(0).unwrap(), 0);
    }

    #[test]
    fn reads_32_bits_and_rejects_wider() {
        let mut r = BitReader::new(&[0xDE, 0xAD, 0xBE, 0xEF, 0x01]);
        assert_eq!(r.read_bits(32).unwrap(), 0xDEAD_BEEF);
        assert!(matches!(r.read_bits(33), Err(CodecError::TooLarge { .. })));
        assert_eq!(r.read_u8(8).unwrap(), 1);
    }

    #[test]
    fn errors_at_end_of_data_without_consuming() {
        let mut r = BitReader::new(&[0xAB]);
        assert_eq!(r.read_bits(4).unwrap(), 0xA);
        assert!(matches!(r.read_bits(5), Err(CodecError::Truncated { .. })));
        assert_eq!(r.bits_left(), 4);
        assert!(r.skip_bits(5).is_err());
        assert!(r.skip_bits(4).is_ok());
        assert!(r.read_bit().is_err());
        let mut empty = BitReader::new(&[]);
        assert!(empty.read_bit().is_err());
        assert!(empty.read_ue().is_err());
        assert!(empty.read_se().is_err());
        assert_eq!(empty.read_bits(0).unwrap(), 0);
    }

    #[test]
    fn exp_golomb_unsigned_and_signed() {
        // ue: 1 -> 0, 010 -> 1, 011 -> 2, 00100 -> 3, 00111 -> 6
        // bits: 1 010 011 00100 00111 -> 1010 0110 0100 0011 1(000)
        let data = [0b1010_0110, 0b0100_0011, 0b1000_0000];
        let mut r = BitReader::new(&data);
        assert_eq!(r.read_ue().unwrap(), 0);
        assert_eq!(r.read_ue().unwrap(), 1);
        assert_eq!(r.read_ue().unwrap(), 2);
        assert_eq!(r.read_ue().unwrap(), 3);
        assert_eq!(r.read_ue().unwrap(), 6);
        let mut r = BitReader::new(&data);
        assert_eq!(r.read_se().unwrap(), 0);
        assert_eq!(r.read_se().unwrap(), 1);
        assert_eq!(r.read_se().unwrap(), -1);
        assert_eq!(r.read_se().unwrap(), 2);
        assert_eq!(r.read_se().unwrap(), -3);
    }

    #[test]
    fn exp_golomb_limits() {
        // 31 zeros, a one, then 31 ones: 2^32 - 2 (the largest accepted value).
        let mut bits = vec![0u8; 8];
        // bit 31 is the marker; bits 32..63 are the suffix (31 ones then a zero pad)
        bits[3] = 0x01;
        bits[4] = 0xFF;
        bits[5] = 0xFF;
        bits[6] = 0xFF;
        bits[7] = 0xFE;
        let mut r = BitReader::new(&bits);
        assert_eq!(r.read_ue().unwrap(), u32::MAX - 1);
        // 32 zeros is too long and consumes nothing.
        let mut r = BitReader::new(&[0, 0, 0, 0, 0x80, 0, 0, 0, 0]);
        assert!(matches!(r.read_ue(), Err(CodecError::Invalid { .. })));
        assert_eq!(r.position(), 0);
        // A prefix with a missing suffix is truncated.
        let mut r = BitReader::new(&[0b0000_0010]);
        assert!(matches!(r.read_ue(), Err(CodecError::Truncated { .. })));
        assert_eq!(r.bits_left(), 8);
        // The most negative se value.
        let mut r = BitReader::new(&bits);
        assert_eq!(r.read_se().unwrap(), -(i32::MAX));
    }

    #[test]
    fn bit_writer_round_trips_through_reader() {
        let mut w = BitWriter::new();
        w.write_bit(true);
        w.write_bits(0b101, 3);
        w.write_ue(0);
        w.write_ue(1000);
        w.write_ue(u32::MAX - 1);
        w.write_se(-5);
        w.write_se(7);
        w.write_se(i32::MIN + 1);
        w.write_bits(0xDEAD_BEEF, 32);
        let bits = w.bit_len();
        let bytes = w.into_bytes();
        assert_eq!(bytes.len(), bits.div_ceil(8));
        let mut r = BitReader::new(&bytes);
        assert!(r.read_bit().unwrap());
        assert_eq!(r.read_bits(3).unwrap(), 0b101);
        assert_eq!(r.read_ue().unwrap(), 0);
        assert_eq!(r.read_ue().unwrap(), 1000);
        assert_eq!(r.read_ue().unwrap(), u32::MAX - 1);
        assert_eq!(r.read_se().unwrap(), -5);
        assert_eq!(r.read_se().unwrap(), 7);
        assert_eq!(r.read_se().unwrap(), i32::MIN + 1);
        assert_eq!(r.read_bits(32).unwrap(), 0xDEAD_BEEF);
        assert_eq!(r.position(), bits);
        // ue(u32::MAX) needs 65 bits and is read back as too long, not wrapped.
        let mut w = BitWriter::new();
        w.write_ue(u32::MAX);
        let bytes = w.into_bytes();
        assert!(BitReader::new(&bytes).read_ue().is_err());
    }

    #[test]
    fn byte_reader_is_bounds_checked() {
        let mut r = ByteReader::new(&[1, 2, 3]);
        assert_eq!(r.u8("a").unwrap(), 1);
        assert_eq!(r.u16("b").unwrap(), 0x0203);
        assert_eq!(r.u8("c"), Err(CodecError::Truncated { what: "c" }));
        assert_eq!(r.u16("d"), Err(CodecError::Truncated { what: "d" }));
        assert!(r.take(1, "e").is_err());
        assert_eq!(r.take(0, "f").unwrap(), &[] as &[u8]);
    }

    #[test]
    fn strips_emulation_prevention_bytes() {
        assert_eq!(
            remove_emulation_prevention(&[0x67, 0, 0, 3, 1, 0, 0, 3, 0, 0, 3]),
            vec![0x67, 0, 0, 1, 0, 0, 0, 0]
        );
        // A 03 not preceded by two zeros stays; counting restarts after a removal.
        assert_eq!(
            remove_emulation_prevention(&[0, 3, 0, 0, 3, 3]),
            vec![0, 3, 0, 0, 3]
        );
        assert_eq!(remove_emulation_prevention(&[]), Vec::<u8>::new());
        assert_eq!(
            remove_emulation_prevention(&[0, 0, 0, 3, 0]),
            vec![0, 0, 0, 0]
        );
    }
}
