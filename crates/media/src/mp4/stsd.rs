//! Sample descriptions (`stsd`): turning a track's first sample entry into what
//! Brume needs to know about its codec — the [`Codec`], the decoder configuration
//! record (`avcC`, `hvcC`, or the AudioSpecificConfig inside `esds`), the codec
//! string, the picture or audio parameters, and the NAL length size of H.264/H.265
//! samples.
//!
//! Entries Brume cannot carry (MP3, AC-3, text, timecode, encrypted entries…) are
//! reported as [`Description::Unsupported`] with a reason, so the demuxer can skip
//! the track; a supported entry whose configuration is broken is an error.

use bytes::Bytes;

use super::boxes::{find_child, Boxes, FourCC, Reader};
use super::demux::Mp4Error;
use crate::codec::aac::AudioSpecificConfig;
use crate::codec::h264::AvcConfig;
use crate::{AudioInfo, Codec, VideoInfo};

/// Largest decoder configuration record accepted (`avcC`, `hvcC`,
/// AudioSpecificConfig), in bytes. Real ones are tens to a few hundred bytes.
pub const MAX_DECODER_CONFIG: usize = 64 << 10;
/// Most sample entries an `stsd` may declare (only the first is used).
pub const MAX_SAMPLE_DESCRIPTIONS: u32 = 256;
/// Most nested MPEG-4 descriptors walked inside one `esds` descriptor.
pub const MAX_ESDS_DESCRIPTORS: usize = 32;

/// Bytes of a VisualSampleEntry before its child boxes (ISO/IEC 14496-12 §12.1.3).
const VISUAL_ENTRY_LEN: usize = 78;
/// Extra bytes of a QuickTime sound description of version 1 and 2.
const QT_SOUND_V1_EXTRA: usize = 16;
const QT_SOUND_V2_EXTRA: usize = 36;

/// What the first sample entry of a track describes.
#[derive(Debug, Clone, PartialEq)]
pub enum Description {
    Supported(SampleEntry),
    /// A codec or entry Brume does not carry, with a short reason for logs.
    Unsupported(String),
}

/// A supported sample entry, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleEntry {
    /// The sample entry type (`avc1`, `hvc1`, `mp4a`…).
    pub kind: FourCC,
    pub codec: Codec,
    /// The decoder configuration record, as stored.
    pub init: Bytes,
    pub codec_string: String,
    pub video: Option<VideoInfo>,
    pub audio: Option<AudioInfo>,
    /// Bytes of each NAL unit length prefix in samples (1, 2 or 4); `None` for
    /// audio.
    pub nal_length_size: Option<u8>,
    /// How many entries the `stsd` lists (only the first is used).
    pub entry_count: u32,
}

/// Decodes the first entry of an `stsd` body.
pub fn parse_stsd(stsd: &[u8]) -> Result<Description, Mp4Error> {
    let mut r = Reader::new(stsd, "stsd");
    r.version_flags()?;
    let entry_count = r.u32()?;
    if entry_count > MAX_SAMPLE_DESCRIPTIONS {
        return Err(Mp4Error::TooLarge {
            what: "number of sample descriptions",
            value: u64::from(entry_count),
            limit: u64::from(MAX_SAMPLE_DESCRIPTIONS),
        });
    }
    let Some(first) = Boxes::new(r.rest(), "stsd").next() else {
        return Err(Mp4Error::Invalid {
            what: "the 'stsd' box holds no sample entry".to_string(),
        });
    };
    let (kind, body) = first?;
    let entry = match &kind.0 {
        b"avc1" | b"avc3" => avc_entry(kind, body)?,
        b"hvc1" | b"hev1" => hevc_entry(kind, body)?,
        b"mp4a" => match aac_entry(kind, body)? {
            Description::Supported(entry) => entry,
            unsupported => return Ok(unsupported),
        },
        _ => {
            return Ok(Description::Unsupported(format!("sample entry '{kind}'")));
        }
    };
    Ok(Description::Supported(SampleEntry {
        entry_count,
        ..entry
    }))
}

/// Width, height and child boxes of a VisualSampleEntry.
fn visual_entry(body: &[u8]) -> Result<(u32, u32, &[u8]), Mp4Error> {
    let mut r = Reader::new(body, "visual sample entry");
    r.skip(8 + 16)?;
    let width = u32::from(r.u16()?);
    let height = u32::from(r.u16()?);
    r.skip(VISUAL_ENTRY_LEN - 8 - 16 - 4)?;
    Ok((width, height, r.rest()))
}

fn config_box<'a>(
    children: &'a [u8],
    kind: FourCC,
    config: FourCC,
    path: &'static str,
) -> Result<&'a [u8], Mp4Error> {
    let body =
        find_child(children, "sample entry", config)?.ok_or(Mp4Error::MissingBox { path })?;
    if body.len() > MAX_DECODER_CONFIG {
        return Err(Mp4Error::TooLarge {
            what: "decoder configuration record",
            value: body.len() as u64,
            limit: MAX_DECODER_CONFIG as u64,
        });
    }
    tracing::trace!(entry = %kind, config = %config, len = body.len(), "decoder configuration");
    Ok(body)
}

fn avc_entry(kind: FourCC, body: &[u8]) -> Result<SampleEntry, Mp4Error> {
    let (entry_width, entry_height, children) = visual_entry(body)?;
    let avcc = config_box(
        children,
        kind,
        FourCC(*b"avcC"),
        "moov/trak/mdia/minf/stbl/stsd/avc1/avcC",
    )?;
    let config = AvcConfig::parse(avcc).map_err(|source| Mp4Error::Codec {
        what: "avcC record",
        source,
    })?;
    let nal_length_size = config.nal_length_size;
    let video = match config.sps_info() {
        Ok(sps) => VideoInfo {
            width: sps.width,
            height: sps.height,
        },
        Err(error) => {
            tracing::debug!(%error, "SPS unreadable; using the sample entry's width and height");
            VideoInfo {
                width: entry_width,
                height: entry_height,
            }
        }
    };
    Ok(SampleEntry {
        kind,
        codec: Codec::H264,
        init: Bytes::copy_from_slice(avcc),
        codec_string: config.codec_string(),
        video: Some(video),
        audio: None,
        nal_length_size: Some(nal_length_size),
        entry_count: 1,
    })
}

fn hevc_entry(kind: FourCC, body: &[u8]) -> Result<SampleEntry, Mp4Error> {
    let (width, height, children) = visual_entry(body)?;
    let hvcc = config_box(
        children,
        kind,
        FourCC(*b"hvcC"),
        "moov/trak/mdia/minf/stbl/stsd/hvc1/hvcC",
    )?;
    let (codec_string, nal_length_size) = hevc_codec_string(kind, hvcc)?;
    Ok(SampleEntry {
        kind,
        codec: Codec::H265,
        init: Bytes::copy_from_slice(hvcc),
        codec_string,
        video: Some(VideoInfo { width, height }),
        audio: None,
        nal_length_size: Some(nal_length_size),
        entry_count: 1,
    })
}

/// The RFC 6381 codec string of an HEVC track (ISO/IEC 14496-15 Annex E.3), e.g.
/// `hvc1.1.6.L93.B0`, and the NAL length size, from the HEVCDecoderConfiguration
/// record.
pub fn hevc_codec_string(kind: FourCC, hvcc: &[u8]) -> Result<(String, u8), Mp4Error> {
    let mut r = Reader::new(hvcc, "hvcC");
    let version = r.u8()?;
    if version != 1 {
        return Err(Mp4Error::Invalid {
            what: format!("'hvcC' has configuration version {version} (1 expected)"),
        });
    }
    let profile = r.u8()?;
    let compatibility = r.u32()?;
    let constraints: [u8; 6] = r.array()?;
    let level = r.u8()?;
    r.skip(8)?;
    let length_size = (r.u8()? & 3) + 1;
    if length_size == 3 {
        return Err(Mp4Error::Invalid {
            what: "'hvcC' declares 3-byte NAL unit lengths".to_string(),
        });
    }

    let space = match profile >> 6 {
        0 => "",
        1 => "A",
        2 => "B",
        _ => "C",
    };
    let tier = if profile & 0x20 != 0 { 'H' } else { 'L' };
    let mut out = format!(
        "{kind}.{space}{}.{:X}.{tier}{level}",
        profile & 0x1f,
        compatibility.reverse_bits()
    );
    let used = constraints
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i + 1);
    for byte in constraints.iter().take(used) {
        out.push_str(&format!(".{byte:X}"));
    }
    Ok((out, length_size))
}

/// An `mp4a` entry: AAC with its AudioSpecificConfig, or
/// [`Description::Unsupported`] with the reason for the other codecs that share
/// the entry type (MP3 and friends).
fn aac_entry(kind: FourCC, body: &[u8]) -> Result<Description, Mp4Error> {
    // AudioSampleEntry (ISO/IEC 14496-12 §12.2.3), 28 bytes before its children.
    let mut r = Reader::new(body, "audio sample entry");
    r.skip(8)?;
    let qt_version = r.u16()?;
    r.skip(6)?;
    let entry_channels = r.u16()?;
    let sample_size = r.u16()?;
    r.skip(4)?;
    let entry_rate = r.u32()? >> 16;
    match qt_version {
        0 => {}
        1 => r.skip(QT_SOUND_V1_EXTRA)?,
        2 => r.skip(QT_SOUND_V2_EXTRA)?,
        v => {
            return Ok(Description::Unsupported(format!(
                "QuickTime sound description version {v}"
            )));
        }
    }
    let children = r.rest();
    // QuickTime files may wrap the esds in a 'wave' box.
    let esds = match find_child(children, "mp4a", FourCC(*b"esds"))? {
        Some(esds) => Some(esds),
        None => match find_child(children, "mp4a", FourCC(*b"wave"))? {
            Some(wave) => find_child(wave, "wave", FourCC(*b"esds"))?,
            None => None,
        },
    };
    let esds = esds.ok_or(Mp4Error::MissingBox {
        path: "moov/trak/mdia/minf/stbl/stsd/mp4a/esds",
    })?;
    let (object_type, asc) = parse_esds(esds)?;
    // 0x40: MPEG-4 Audio; 0x66..=0x68: MPEG-2 AAC Main, LC, SSR.
    if !matches!(object_type, 0x40 | 0x66..=0x68) {
        return Ok(Description::Unsupported(format!(
            "'mp4a' with object type 0x{object_type:02X} (not AAC)"
        )));
    }
    let asc = asc.ok_or(Mp4Error::MissingBox {
        path: "moov/trak/mdia/minf/stbl/stsd/mp4a/esds/DecoderSpecificInfo",
    })?;
    if asc.len() > MAX_DECODER_CONFIG {
        return Err(Mp4Error::TooLarge {
            what: "decoder configuration record",
            value: asc.len() as u64,
            limit: MAX_DECODER_CONFIG as u64,
        });
    }
    let config = AudioSpecificConfig::parse(asc).map_err(|source| Mp4Error::Codec {
        what: "AudioSpecificConfig",
        source,
    })?;
    let channels = match config.channels() {
        0 => entry_channels,
        n => n,
    };
    let sample_rate = match config.sample_rate {
        0 => entry_rate,
        n => n,
    };
    Ok(Description::Supported(SampleEntry {
        kind,
        codec: Codec::Aac,
        init: Bytes::copy_from_slice(asc),
        codec_string: config.codec_string(),
        video: None,
        audio: Some(AudioInfo {
            sample_rate,
            channels,
            sample_size: if sample_size == 0 { 16 } else { sample_size },
        }),
        nal_length_size: None,
        entry_count: 1,
    }))
}

/// Reads one MPEG-4 descriptor (ISO/IEC 14496-1 §8.3.3): a tag byte and a length
/// of one to four bytes of seven bits each.
fn descriptor<'a>(r: &mut Reader<'a>) -> Result<(u8, &'a [u8]), Mp4Error> {
    let tag = r.u8()?;
    let mut len: usize = 0;
    for _ in 0..4 {
        let b = r.u8()?;
        len = (len << 7) | usize::from(b & 0x7f);
        if b & 0x80 == 0 {
            break;
        }
    }
    Ok((tag, r.take(len)?))
}

/// The object type indication and the DecoderSpecificInfo bytes of an `esds`.
fn parse_esds(esds: &[u8]) -> Result<(u8, Option<&[u8]>), Mp4Error> {
    let mut r = Reader::new(esds, "esds");
    r.version_flags()?;
    let (tag, es) = descriptor(&mut r)?;
    if tag != 0x03 {
        return Err(Mp4Error::Invalid {
            what: format!("'esds' starts with descriptor tag {tag} (3, ES_Descriptor, expected)"),
        });
    }
    let mut es = Reader::new(es, "esds");
    es.skip(2)?;
    let flags = es.u8()?;
    if flags & 0x80 != 0 {
        es.skip(2)?;
    }
    if flags & 0x40 != 0 {
        let url_len = es.u8()?;
        es.skip(usize::from(url_len))?;
    }
    if flags & 0x20 != 0 {
        es.skip(2)?;
    }
    let Some(config) = find_descriptor(&mut es, 0x04)? else {
        return Err(Mp4Error::MissingBox {
            path: "moov/trak/mdia/minf/stbl/stsd/mp4a/esds/DecoderConfigDescriptor",
        });
    };
    let mut config = Reader::new(config, "esds");
    let object_type = config.u8()?;
    config.skip(12)?;
    let specific = find_descriptor(&mut config, 0x05)?;
    Ok((object_type, specific))
}

fn find_descriptor<'a>(r: &mut Reader<'a>, wanted: u8) -> Result<Option<&'a [u8]>, Mp4Error> {
    for _ in 0..MAX_ESDS_DESCRIPTORS {
        if r.remaining() == 0 {
            return Ok(None);
        }
        let (tag, body) = descriptor(r)?;
        if tag == wanted {
            return Ok(Some(body));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hevc_codec_string_follows_annex_e() {
        let mut hvcc = vec![1, 0x01, 0x60, 0, 0, 0, 0xB0, 0, 0, 0, 0, 0, 93];
        hvcc.extend_from_slice(&[0xf0, 0, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0, 0x0f, 0]);
        let (s, len) = hevc_codec_string(FourCC(*b"hvc1"), &hvcc).unwrap();
        assert_eq!(s, "hvc1.1.6.L93.B0");
        assert_eq!(len, 4);
        // Main 10, high tier, profile space 1, two constraint bytes.
        hvcc[1] = 0x40 | 0x20 | 2;
        hvcc[2..6].copy_from_slice(&0x2000_0000u32.to_be_bytes());
        hvcc[7] = 0x01;
        hvcc[12] = 120;
        let (s, _) = hevc_codec_string(FourCC(*b"hev1"), &hvcc).unwrap();
        assert_eq!(s, "hev1.A2.4.H120.B0.1");
        assert!(hevc_codec_string(FourCC(*b"hvc1"), &hvcc[..10]).is_err());
    }

    #[test]
    fn esds_descriptors_are_walked() {
        // ES_Descriptor with a 4-byte length, DecoderConfigDescriptor, DSI 12 10.
        let esds = [
            0, 0, 0, 0, 0x03, 0x80, 0x80, 0x80, 0x1F, 0, 1, 0, 0x04, 0x80, 0x80, 0x80, 0x14, 0x40,
            0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x05, 0x80, 0x80, 0x80, 0x02, 0x12, 0x10, 0x06,
            0x01, 0x02,
        ];
        let (oti, dsi) = parse_esds(&esds).unwrap();
        assert_eq!(oti, 0x40);
        assert_eq!(dsi, Some(&[0x12, 0x10][..]));
        // Cut anywhere: an error, never a panic.
        for cut in 0..esds.len() - 3 {
            let _ = parse_esds(&esds[..cut]);
        }
    }
}
