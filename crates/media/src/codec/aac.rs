//! AAC: the MPEG-4 AudioSpecificConfig ([`AudioSpecificConfig`], the decoder
//! configuration of MP4 `esds` and FLV/RTMP sequence headers), RFC 6381 codec
//! strings, and ADTS frame headers ([`AdtsHeader`], the framing of MPEG-TS and raw
//! `.aac` files).
//!
//! References: ISO/IEC 14496-3 section 1.6.2.1 (AudioSpecificConfig) and
//! 1.A.2.2 (ADTS).

use bytes::Bytes;

use super::bits::{BitReader, BitWriter};
use super::CodecError;

/// Sampling frequencies of `samplingFrequencyIndex` 0 to 12.
const SAMPLE_RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

/// `samplingFrequencyIndex` meaning "an explicit 24-bit frequency follows".
pub const EXPLICIT_SAMPLING_INDEX: u8 = 15;
/// `audioObjectType` meaning "an extended 6-bit object type follows".
const ESCAPE_OBJECT_TYPE: u8 = 31;
/// Object types with explicit SBR (5, HE-AAC) or PS (29, HE-AAC v2) signalling.
const OBJECT_TYPE_SBR: u8 = 5;
const OBJECT_TYPE_PS: u8 = 29;
/// The AAC-LC object type.
pub const OBJECT_TYPE_AAC_LC: u8 = 2;

/// Bytes in an ADTS header without CRC.
pub const ADTS_HEADER_LEN: usize = 7;
/// Bytes in an ADTS header with CRC.
pub const ADTS_HEADER_LEN_CRC: usize = 9;
/// The largest ADTS frame, header included (a 13-bit length).
pub const MAX_ADTS_FRAME_LEN: usize = 8191;

/// The sampling frequency of a `samplingFrequencyIndex`, `None` for reserved
/// indices and for 15 (explicit frequency).
pub fn sample_rate_for_index(index: u8) -> Option<u32> {
    SAMPLE_RATES.get(usize::from(index)).copied()
}

/// The `samplingFrequencyIndex` of a standard sampling frequency.
pub fn sampling_index_for_rate(rate: u32) -> Option<u8> {
    SAMPLE_RATES
        .iter()
        .position(|&r| r == rate)
        .and_then(|i| u8::try_from(i).ok())
}

/// The decoder configuration of an MPEG-4 audio stream.
///
/// For HE-AAC with explicit signalling (object type 5 or 29) the sampling fields
/// describe the core AAC layer, as ADTS headers do, so one frame is 1024 samples
/// at `sample_rate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    /// `audioObjectType`: 2 for AAC-LC, 5 for HE-AAC, 29 for HE-AAC v2 (1 to 95).
    pub object_type: u8,
    /// `samplingFrequencyIndex`; 15 when `sample_rate` was given explicitly.
    pub sampling_index: u8,
    /// Samples per second.
    pub sample_rate: u32,
    /// `channelConfiguration`: 0 means a program config element describes the
    /// channels; 1 to 6 that many channels; 7 is 7.1.
    pub channel_config: u8,
}

impl AudioSpecificConfig {
    /// Parses an AudioSpecificConfig (the `esds` DecoderSpecificInfo or an
    /// FLV/RTMP AAC sequence header). Fields after the channel configuration are
    /// not needed and not read.
    pub fn parse(data: &[u8]) -> Result<Self, CodecError> {
        let mut r = BitReader::new(data);
        Self::parse_bits(&mut r).map_err(|e| match e {
            CodecError::Truncated { .. } => CodecError::Truncated {
                what: "AudioSpecificConfig",
            },
            other => other,
        })
    }

    fn parse_bits(r: &mut BitReader<'_>) -> Result<Self, CodecError> {
        let object_type = read_object_type(r)?;
        if object_type == 0 {
            return Err(CodecError::Invalid {
                what: "audio object type (0 is null)",
            });
        }
        let (sampling_index, sample_rate) = read_sampling(r)?;
        let channel_config = r.read_u8(4)?;
        if matches!(channel_config, 8..=10 | 15) {
            return Err(CodecError::Unsupported {
                what: "AAC channel configuration",
                value: u32::from(channel_config),
            });
        }
        Ok(AudioSpecificConfig {
            object_type,
            sampling_index,
            sample_rate,
            channel_config,
        })
    }

    /// Builds the AudioSpecificConfig: object type, sampling, channels and an
    /// all-zero GASpecificConfig (two bytes for AAC-LC at a standard rate). For
    /// object types 5 and 29 the explicit SBR fields follow, with an extension
    /// rate of twice the core rate (when standard) over an AAC-LC core.
    /// Object types above 95 are written modulo 64 above 32.
    pub fn to_bytes(&self) -> Bytes {
        let mut w = BitWriter::new();
        write_object_type(&mut w, self.object_type);
        write_sampling(&mut w, self.sampling_index, self.sample_rate);
        w.write_bits(u64::from(self.channel_config), 4);
        if matches!(self.object_type, OBJECT_TYPE_SBR | OBJECT_TYPE_PS) {
            let doubled = self
                .sample_rate
                .checked_mul(2)
                .and_then(sampling_index_for_rate);
            match doubled {
                Some(index) => write_sampling(&mut w, index, 0),
                None => write_sampling(&mut w, self.sampling_index, self.sample_rate),
            }
            write_object_type(&mut w, OBJECT_TYPE_AAC_LC);
        }
        // GASpecificConfig: frameLengthFlag, dependsOnCoreCoder, extensionFlag.
        w.write_bits(0, 3);
        Bytes::from(w.into_bytes())
    }

    /// The RFC 6381 codec string, e.g. `mp4a.40.2`.
    pub fn codec_string(&self) -> String {
        format!("mp4a.40.{}", self.object_type)
    }

    /// Number of output channels; 0 when a program config element defines them.
    pub fn channels(&self) -> u16 {
        match self.channel_config {
            c @ 1..=6 => u16::from(c),
            7 | 12 | 14 => 8,
            11 => 7,
            13 => 24,
            _ => 0,
        }
    }

    /// The configuration an ADTS header describes.
    pub fn from_adts(h: &AdtsHeader) -> Self {
        AudioSpecificConfig {
            object_type: h.object_type,
            sampling_index: h.sampling_index,
            sample_rate: h.sample_rate,
            channel_config: h.channel_config,
        }
    }
}

fn read_object_type(r: &mut BitReader<'_>) -> Result<u8, CodecError> {
    let ot = r.read_u8(5)?;
    if ot == ESCAPE_OBJECT_TYPE {
        Ok(32 + r.read_u8(6)?)
    } else {
        Ok(ot)
    }
}

fn read_sampling(r: &mut BitReader<'_>) -> Result<(u8, u32), CodecError> {
    let index = r.read_u8(4)?;
    if index == EXPLICIT_SAMPLING_INDEX {
        let rate = r.read_bits(24)?;
        if rate == 0 {
            return Err(CodecError::Invalid {
                what: "AAC sampling frequency (0)",
            });
        }
        return Ok((index, rate));
    }
    let rate = sample_rate_for_index(index).ok_or(CodecError::Unsupported {
        what: "AAC sampling frequency index",
        value: u32::from(index),
    })?;
    Ok((index, rate))
}

fn write_object_type(w: &mut BitWriter, object_type: u8) {
    if object_type >= ESCAPE_OBJECT_TYPE {
        w.write_bits(u64::from(ESCAPE_OBJECT_TYPE), 5);
        w.write_bits(u64::from(object_type.wrapping_sub(32)), 6);
    } else {
        w.write_bits(u64::from(object_type), 5);
    }
}

fn write_sampling(w: &mut BitWriter, index: u8, rate: u32) {
    w.write_bits(u64::from(index), 4);
    if index == EXPLICIT_SAMPLING_INDEX {
        w.write_bits(u64::from(rate), 24);
    }
}

/// An ADTS frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdtsHeader {
    /// `profile + 1`: 1 AAC Main, 2 AAC-LC, 3 AAC SSR, 4 AAC LTP.
    pub object_type: u8,
    pub sampling_index: u8,
    pub sample_rate: u32,
    pub channel_config: u8,
    /// Bytes in the frame, header included.
    pub frame_length: usize,
    /// Bytes in the header: 7, or 9 with a CRC.
    pub header_len: usize,
    /// Raw data blocks (AAC frames of 1024 samples) in the frame, 1 to 4.
    pub raw_data_blocks: u8,
}

impl AdtsHeader {
    /// Parses the ADTS header at the start of `data`. `Ok(None)` means more bytes
    /// are needed for the header (the frame itself may still be incomplete: see
    /// [`AdtsHeader::frame_length`] and [`adts_frame`]). A bad sync word, layer,
    /// sampling index or length is an error.
    pub fn parse(data: &[u8]) -> Result<Option<AdtsHeader>, CodecError> {
        let sync_error = CodecError::Invalid {
            what: "ADTS sync word",
        };
        match data {
            [a, ..] if *a != 0xFF => return Err(sync_error),
            [_, b, ..] if b & 0xF0 != 0xF0 => return Err(sync_error),
            _ => {}
        }
        let Some(bytes) = data.first_chunk::<ADTS_HEADER_LEN>() else {
            return Ok(None);
        };
        let mut r = BitReader::new(bytes);
        r.skip_bits(12)?; // syncword, checked above
        r.skip_bits(1)?; // ID: MPEG-4 or MPEG-2, read the same way
        if r.read_bits(2)? != 0 {
            return Err(CodecError::Invalid {
                what: "ADTS layer (must be 0)",
            });
        }
        let protection_absent = r.read_bit()?;
        let object_type = r.read_u8(2)? + 1;
        let sampling_index = r.read_u8(4)?;
        let sample_rate = sample_rate_for_index(sampling_index).ok_or(CodecError::Unsupported {
            what: "ADTS sampling frequency index",
            value: u32::from(sampling_index),
        })?;
        r.skip_bits(1)?; // private_bit
        let channel_config = r.read_u8(3)?;
        r.skip_bits(4)?; // original_copy, home, copyright id bit and start
        let frame_length = r.read_bits(13)? as usize;
        r.skip_bits(11)?; // adts_buffer_fullness
        let raw_data_blocks = r.read_u8(2)? + 1;
        let header_len = if protection_absent {
            ADTS_HEADER_LEN
        } else {
            ADTS_HEADER_LEN_CRC
        };
        if frame_length < header_len {
            return Err(CodecError::Invalid {
                what: "ADTS frame length (shorter than its header)",
            });
        }
        if data.len() < header_len {
            return Ok(None);
        }
        Ok(Some(AdtsHeader {
            object_type,
            sampling_index,
            sample_rate,
            channel_config,
            frame_length,
            header_len,
            raw_data_blocks,
        }))
    }

    /// Appends a 7-byte ADTS header (no CRC, one raw data block) for a frame of
    /// `payload_len` bytes. Errors when the frame would not fit the 13-bit length,
    /// or `asc` cannot be described by ADTS (object type outside 1 to 4, sampling
    /// index 13 to 15, channel configuration above 7).
    pub fn write(
        asc: &AudioSpecificConfig,
        payload_len: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        if !(1..=4).contains(&asc.object_type) {
            return Err(CodecError::Unsupported {
                what: "audio object type for ADTS",
                value: u32::from(asc.object_type),
            });
        }
        if sample_rate_for_index(asc.sampling_index).is_none() {
            return Err(CodecError::Unsupported {
                what: "sampling frequency index for ADTS",
                value: u32::from(asc.sampling_index),
            });
        }
        if asc.channel_config > 7 {
            return Err(CodecError::Unsupported {
                what: "channel configuration for ADTS",
                value: u32::from(asc.channel_config),
            });
        }
        let frame_length = payload_len
            .checked_add(ADTS_HEADER_LEN)
            .filter(|&l| l <= MAX_ADTS_FRAME_LEN)
            .ok_or(CodecError::TooLarge {
                what: "ADTS frame length",
                value: (payload_len as u64).saturating_add(ADTS_HEADER_LEN as u64),
                max: MAX_ADTS_FRAME_LEN as u64,
            })?;
        let profile = asc.object_type - 1;
        let channels = asc.channel_config;
        let fullness: usize = 0x7FF; // variable bit rate
        out.extend_from_slice(&[
            0xFF,
            0xF1, // MPEG-4, layer 0, protection absent
            (profile << 6) | (asc.sampling_index << 2) | (channels >> 2),
            ((channels & 0x03) << 6) | ((frame_length >> 11) & 0x03) as u8,
            ((frame_length >> 3) & 0xFF) as u8,
            (((frame_length & 0x07) << 5) | ((fullness >> 6) & 0x1F)) as u8,
            ((fullness & 0x3F) << 2) as u8, // one raw data block
        ]);
        Ok(())
    }
}

/// Splits the ADTS frame at the start of `data` into its header and payload (the
/// raw AAC data after the header and any CRC). `Ok(None)` until the whole frame
/// is present.
pub fn adts_frame(data: &[u8]) -> Result<Option<(AdtsHeader, &[u8])>, CodecError> {
    let Some(header) = AdtsHeader::parse(data)? else {
        return Ok(None);
    };
    Ok(data
        .get(header.header_len..header.frame_length)
        .map(|payload| (header, payload)))
}
