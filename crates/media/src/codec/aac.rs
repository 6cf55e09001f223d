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

#[cfg(test)]
mod tests {
    use super::*;

    /// The AudioSpecificConfig of `assets/demo.mp4`: AAC-LC, 48 kHz, stereo, with
    /// FFmpeg's trailing implicit-SBR sync extension.
    const DEMO_ASC: &[u8] = &[0x11, 0x90, 0x56, 0xe5, 0x00];

    fn lc(sampling_index: u8, channel_config: u8) -> AudioSpecificConfig {
        AudioSpecificConfig {
            object_type: OBJECT_TYPE_AAC_LC,
            sampling_index,
            sample_rate: sample_rate_for_index(sampling_index).unwrap_or(0),
            channel_config,
        }
    }

    #[test]
    fn parses_the_demo_config() {
        let asc = AudioSpecificConfig::parse(DEMO_ASC).unwrap();
        assert_eq!(asc, lc(3, 2));
        assert_eq!(asc.sample_rate, 48_000);
        assert_eq!(asc.channels(), 2);
        assert_eq!(asc.codec_string(), "mp4a.40.2");
        assert_eq!(asc.to_bytes(), &[0x11, 0x90][..]);
        assert_eq!(AudioSpecificConfig::parse(&asc.to_bytes()).unwrap(), asc);
    }

    #[test]
    fn round_trips_every_standard_rate_channel_and_adts_profile() {
        for object_type in 1..=4 {
            for sampling_index in 0..=12 {
                for channel_config in 0..=7 {
                    let asc = AudioSpecificConfig {
                        object_type,
                        ..lc(sampling_index, channel_config)
                    };
                    let bytes = asc.to_bytes();
                    assert_eq!(bytes.len(), 2);
                    assert_eq!(AudioSpecificConfig::parse(&bytes).unwrap(), asc);
                    assert_eq!(
                        AudioSpecificConfig::parse(&bytes).unwrap().to_bytes(),
                        bytes
                    );
                }
            }
        }
    }

    #[test]
    fn escaped_object_type_and_explicit_frequency() {
        // 31 + 6-bit (42 - 32 = 10): USAC; index 15 + 24-bit 37800 Hz; 1 channel.
        let asc = AudioSpecificConfig {
            object_type: 42,
            sampling_index: EXPLICIT_SAMPLING_INDEX,
            sample_rate: 37_800,
            channel_config: 1,
        };
        let bytes = asc.to_bytes();
        // 5 + 6 + 4 + 24 + 4 + 3 bits = 46 bits.
        assert_eq!(bytes.len(), 6);
        assert_eq!(AudioSpecificConfig::parse(&bytes).unwrap(), asc);
        assert_eq!(asc.codec_string(), "mp4a.40.42");
        // Object type 31 itself escapes to 32 + 0.
        let asc = AudioSpecificConfig {
            object_type: 32,
            ..lc(4, 2)
        };
        assert_eq!(AudioSpecificConfig::parse(&asc.to_bytes()).unwrap(), asc);
        // Hand-assembled: 11111 000001 (33) 0011 (48 kHz) 0010 (stereo) 000.
        let asc = AudioSpecificConfig::parse(&[0xF8, 0x26, 0x40]).unwrap();
        assert_eq!(
            (asc.object_type, asc.sample_rate, asc.channel_config),
            (33, 48_000, 2)
        );
    }

    #[test]
    fn explicit_he_aac_signalling() {
        // 00101 (SBR) 0111 (22050) 0010 (stereo) 0100 (44100) 00010 (LC) 000: the
        // configuration of HE-AAC from FDK and Apple encoders.
        let bytes = [0x2B, 0x92, 0x08, 0x00];
        let asc = AudioSpecificConfig::parse(&bytes).unwrap();
        assert_eq!(asc.object_type, 5);
        assert_eq!((asc.sampling_index, asc.sample_rate), (7, 22_050));
        assert_eq!(asc.channels(), 2);
        assert_eq!(asc.codec_string(), "mp4a.40.5");
        assert_eq!(asc.to_bytes(), &bytes[..]);
        // HE-AAC v2 at a rate whose double is not standard keeps the same index.
        let asc = AudioSpecificConfig {
            object_type: 29,
            ..lc(0, 1)
        };
        assert_eq!(AudioSpecificConfig::parse(&asc.to_bytes()).unwrap(), asc);
    }

    #[test]
    fn channel_counts() {
        let counts = [
            (0, 0),
            (1, 1),
            (2, 2),
            (3, 3),
            (6, 6),
            (7, 8),
            (11, 7),
            (12, 8),
            (13, 24),
            (14, 8),
        ];
        for (config, channels) in counts {
            assert_eq!(lc(3, config).channels(), channels, "config {config}");
        }
    }

    #[test]
    fn parse_errors() {
        assert_eq!(
            AudioSpecificConfig::parse(&[]),
            Err(CodecError::Truncated {
                what: "AudioSpecificConfig"
            })
        );
        assert!(matches!(
            AudioSpecificConfig::parse(&[0x11]),
            Err(CodecError::Truncated { .. })
        ));
        // An escape with its 6 bits cut off.
        assert!(matches!(
            AudioSpecificConfig::parse(&[0xF8]),
            Err(CodecError::Truncated { .. })
        ));
        // An explicit frequency cut off.
        assert!(matches!(
            AudioSpecificConfig::parse(&[0x17, 0x80, 0x00]),
            Err(CodecError::Truncated { .. })
        ));
        // Object type 0.
        assert!(matches!(
            AudioSpecificConfig::parse(&[0x01, 0x90]),
            Err(CodecError::Invalid { .. })
        ));
        // Reserved sampling index 13.
        assert_eq!(
            AudioSpecificConfig::parse(&[0x16, 0x90]),
            Err(CodecError::Unsupported {
                what: "AAC sampling frequency index",
                value: 13
            })
        );
        // Explicit frequency of 0 Hz.
        assert!(matches!(
            AudioSpecificConfig::parse(&[0x17, 0x80, 0x00, 0x00, 0x10]),
            Err(CodecError::Invalid { .. })
        ));
        // Reserved channel configuration 8.
        assert!(matches!(
            AudioSpecificConfig::parse(&[0x11, 0xC0]),
            Err(CodecError::Unsupported { value: 8, .. })
        ));
    }

    #[test]
    fn rate_tables() {
        assert_eq!(sample_rate_for_index(3), Some(48_000));
        assert_eq!(sample_rate_for_index(12), Some(7_350));
        assert_eq!(sample_rate_for_index(13), None);
        assert_eq!(sample_rate_for_index(15), None);
        assert_eq!(sampling_index_for_rate(44_100), Some(4));
        assert_eq!(sampling_index_for_rate(44_000), None);
    }

    #[test]
    fn adts_write_then_parse() {
        for (asc, payload_len) in [
            (lc(3, 2), 0),
            (lc(4, 1), 371),
            (lc(11, 7), 2048),
            (
                AudioSpecificConfig {
                    object_type: 1,
                    ..lc(0, 6)
                },
                MAX_ADTS_FRAME_LEN - ADTS_HEADER_LEN,
            ),
        ] {
            let mut out = vec![0xEE];
            AdtsHeader::write(&asc, payload_len, &mut out).unwrap();
            assert_eq!(out.len(), 1 + ADTS_HEADER_LEN);
            let header = out.get(1..).unwrap();
            let parsed = AdtsHeader::parse(header).unwrap().unwrap();
            assert_eq!(
                parsed,
                AdtsHeader {
                    object_type: asc.object_type,
                    sampling_index: asc.sampling_index,
                    sample_rate: asc.sample_rate,
                    channel_config: asc.channel_config,
                    frame_length: payload_len + ADTS_HEADER_LEN,
                    header_len: ADTS_HEADER_LEN,
                    raw_data_blocks: 1,
                }
            );
            assert_eq!(AudioSpecificConfig::from_adts(&parsed), asc);
            // Fewer bytes than the header: need more.
            for len in 2..ADTS_HEADER_LEN {
                assert_eq!(AdtsHeader::parse(header.get(..len).unwrap()), Ok(None));
            }
        }
        // The buffer fullness is 0x7FF (VBR) and the ID is MPEG-4.
        let mut out = Vec::new();
        AdtsHeader::write(&lc(3, 2), 10, &mut out).unwrap();
        assert_eq!(out, [0xFF, 0xF1, 0x4C, 0x80, 0x02, 0x3F, 0xFC]);
    }

    #[test]
    fn adts_write_errors() {
        let mut out = vec![7];
        assert_eq!(
            AdtsHeader::write(&lc(3, 2), MAX_ADTS_FRAME_LEN - 6, &mut out),
            Err(CodecError::TooLarge {
                what: "ADTS frame length",
                value: MAX_ADTS_FRAME_LEN as u64 + 1,
                max: MAX_ADTS_FRAME_LEN as u64
            })
        );
        assert!(AdtsHeader::write(&lc(3, 2), usize::MAX, &mut out).is_err());
        let explicit = AudioSpecificConfig {
            sampling_index: EXPLICIT_SAMPLING_INDEX,
            sample_rate: 37_800,
            ..lc(3, 2)
        };
        assert!(matches!(
            AdtsHeader::write(&explicit, 10, &mut out),
            Err(CodecError::Unsupported { value: 15, .. })
        ));
        let he = AudioSpecificConfig {
            object_type: 5,
            ..lc(3, 2)
        };
        assert!(matches!(
            AdtsHeader::write(&he, 10, &mut out),
            Err(CodecError::Unsupported { value: 5, .. })
        ));
        assert!(AdtsHeader::write(&lc(3, 11), 10, &mut out).is_err());
        assert_eq!(out, [7]);
    }

    #[test]
    fn adts_parse_errors() {
        assert_eq!(AdtsHeader::parse(&[]), Ok(None));
        assert_eq!(AdtsHeader::parse(&[0xFF]), Ok(None));
        assert!(AdtsHeader::parse(&[0x00]).is_err());
        assert!(AdtsHeader::parse(&[0xFF, 0xE1]).is_err());
        let good = [0xFF, 0xF1, 0x4C, 0x80, 0x02, 0x3F, 0xFC];
        // Layer 1.
        let mut bad = good;
        bad[1] = 0xF3;
        assert!(matches!(
            AdtsHeader::parse(&bad),
            Err(CodecError::Invalid { .. })
        ));
        // Sampling index 15.
        let mut bad = good;
        bad[2] = 0x7C;
        assert!(matches!(
            AdtsHeader::parse(&bad),
            Err(CodecError::Unsupported { value: 15, .. })
        ));
        // Frame length 6, shorter than the header.
        let mut bad = good;
        bad[3] = 0x80;
        bad[4] = 0x00;
        bad[5] = 0xDF;
        assert!(matches!(
            AdtsHeader::parse(&bad),
            Err(CodecError::Invalid { .. })
        ));
    }

    #[test]
    fn adts_with_crc_and_frame_splitting() {
        // protection_absent = 0: a 9-byte header; frame_length 12 (3 payload bytes);
        // two raw data blocks.
        let frame = [
            0xFF, 0xF0, 0x4C, 0x80, 0x01, 0x9F, 0xFD, 0xAB, 0xCD, 1, 2, 3,
        ];
        assert_eq!(AdtsHeader::parse(frame.get(..7).unwrap()), Ok(None));
        let h = AdtsHeader::parse(&frame).unwrap().unwrap();
        assert_eq!((h.header_len, h.frame_length), (9, 12));
        assert_eq!(h.raw_data_blocks, 2);
        assert_eq!(adts_frame(frame.get(..11).unwrap()), Ok(None));
        let (h2, payload) = adts_frame(&frame).unwrap().unwrap();
        assert_eq!(h2, h);
        assert_eq!(payload, [1, 2, 3]);
        // A frame length shorter than a CRC header is an error.
        let mut bad = frame;
        bad[4] = 0x01;
        bad[5] = 0x1F;
        assert!(AdtsHeader::parse(&bad).is_err());
    }
}
