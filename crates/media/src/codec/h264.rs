//! H.264 / AVC: sequence parameter set parsing ([`SpsInfo`]), the `avcC`
//! decoder configuration record ([`AvcConfig`]), RFC 6381 codec strings, and the
//! NAL unit framings: length-prefixed (MP4, FLV) and Annex-B (MPEG-TS, raw
//! `.h264`), with conversions between them.
//!
//! References: ITU-T H.264 section 7.3.2.1 (SPS syntax), annex E (VUI), annex B
//! (byte stream); ISO/IEC 14496-15 section 5.3.3 (AVCDecoderConfigurationRecord).

use bytes::Bytes;

use super::bits::{remove_emulation_prevention, BitReader, ByteReader};
use super::CodecError;

/// NAL unit type of a slice of a non-IDR picture.
pub const NAL_SLICE: u8 = 1;
/// NAL unit type of a slice of an IDR picture (a random access point).
pub const NAL_IDR: u8 = 5;
/// NAL unit type of supplemental enhancement information.
pub const NAL_SEI: u8 = 6;
/// NAL unit type of a sequence parameter set.
pub const NAL_SPS: u8 = 7;
/// NAL unit type of a picture parameter set.
pub const NAL_PPS: u8 = 8;
/// NAL unit type of an access unit delimiter.
pub const NAL_AUD: u8 = 9;

/// The largest picture width or height accepted from an SPS. MP4 sample entries
/// store both as 16-bit numbers, so nothing larger can be carried anyway.
pub const MAX_DIMENSION: u32 = 65_535;
/// The most SPS an `avcC` record can list (a 5-bit count).
pub const MAX_SPS_COUNT: usize = 31;
/// The most PPS an `avcC` record can list (an 8-bit count).
pub const MAX_PPS_COUNT: usize = 255;
/// The largest parameter set an `avcC` record can hold (a 16-bit length).
pub const MAX_PARAMETER_SET_LEN: usize = 65_535;

/// What a sequence parameter set says about the video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpsInfo {
    pub profile_idc: u8,
    /// The byte after `profile_idc`: constraint_set0..5 flags and 2 reserved bits.
    pub constraint_flags: u8,
    pub level_idc: u8,
    /// Displayed width in pixels, after frame cropping.
    pub width: u32,
    /// Displayed height in pixels, after frame cropping (frames, not fields).
    pub height: u32,
    /// Frame rate as a reduced fraction `(num, den)` from the VUI timing info,
    /// `time_scale / (2 * num_units_in_tick)`; `None` when absent or unreadable.
    pub frame_rate: Option<(u32, u32)>,
    /// 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4.
    pub chroma_format_idc: u8,
    /// Bits per luma sample (8 to 14).
    pub bit_depth_luma: u8,
    /// Bits per chroma sample (8 to 14).
    pub bit_depth_chroma: u8,
    /// False for streams that may code fields (interlaced).
    pub frame_mbs_only: bool,
    /// Sample (pixel) aspect ratio `(h, v)` from the VUI, when given.
    pub sample_aspect_ratio: Option<(u16, u16)>,
}

/// Profiles whose SPS carries chroma format, bit depths and scaling matrices.
fn has_chroma_info(profile_idc: u8) -> bool {
    matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    )
}

/// Sample aspect ratios of `aspect_ratio_idc` 1 to 16 (H.264 table E-1).
const SAR_TABLE: [(u16, u16); 16] = [
    (1, 1),
    (12, 11),
    (10, 11),
    (16, 11),
    (40, 33),
    (24, 11),
    (20, 11),
    (32, 11),
    (80, 33),
    (18, 11),
    (15, 11),
    (64, 33),
    (160, 99),
    (4, 3),
    (3, 2),
    (2, 1),
];

/// `aspect_ratio_idc` meaning "an explicit width and height follow".
const EXTENDED_SAR: u8 = 255;

impl SpsInfo {
    /// Parses a sequence parameter set NAL unit, including its 1-byte NAL header.
    pub fn parse(nal: &[u8]) -> Result<SpsInfo, CodecError> {
        let (&header, payload) = nal.split_first().ok_or(CodecError::Truncated {
            what: "SPS NAL unit header",
        })?;
        if header & 0x80 != 0 {
            return Err(CodecError::Invalid {
                what: "NAL unit header (forbidden bit set)",
            });
        }
        let nal_type = header & 0x1F;
        if nal_type != NAL_SPS {
            return Err(CodecError::Unsupported {
                what: "NAL unit type for an SPS (expected 7)",
                value: u32::from(nal_type),
            });
        }
        let rbsp = remove_emulation_prevention(payload);
        let mut r = BitReader::new(&rbsp);
        parse_sps_rbsp(&mut r).map_err(|e| match e {
            CodecError::Truncated { .. } => CodecError::Truncated { what: "SPS" },
            other => other,
        })
    }
}

fn check_max(what: &'static str, value: u32, max: u32) -> Result<u32, CodecError> {
    if value > max {
        Err(CodecError::TooLarge {
            what,
            value: u64::from(value),
            max: u64::from(max),
        })
    } else {
        Ok(value)
    }
}

fn parse_sps_rbsp(r: &mut BitReader<'_>) -> Result<SpsInfo, CodecError> {
    let profile_idc = r.read_u8(8)?;
    let constraint_flags = r.read_u8(8)?;
    let level_idc = r.read_u8(8)?;
    check_max("seq_parameter_set_id", r.read_ue()?, 31)?;

    let mut chroma_format_idc = 1u32;
    let mut separate_colour_plane = false;
    let mut bit_depth_luma_minus8 = 0u32;
    let mut bit_depth_chroma_minus8 = 0u32;
    if has_chroma_info(profile_idc) {
        chroma_format_idc = check_max("chroma_format_idc", r.read_ue()?, 3)?;
        if chroma_format_idc == 3 {
            separate_colour_plane = r.read_bit()?;
        }
        bit_depth_luma_minus8 = check_max("bit_depth_luma_minus8", r.read_ue()?, 6)?;
        bit_depth_chroma_minus8 = check_max("bit_depth_chroma_minus8", r.read_ue()?, 6)?;
        r.skip_bits(1)?; // qpprime_y_zero_transform_bypass_flag
        if r.read_bit()? {
            // seq_scaling_matrix_present_flag
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.read_bit()? {
                    skip_scaling_list(r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }

    check_max("log2_max_frame_num_minus4", r.read_ue()?, 12)?;
    match r.read_ue()? {
        0 => {
            check_max("log2_max_pic_order_cnt_lsb_minus4", r.read_ue()?, 12)?;
        }
        1 => {
            r.skip_bits(1)?; // delta_pic_order_always_zero_flag
            r.read_se()?; // offset_for_non_ref_pic
            r.read_se()?; // offset_for_top_to_bottom_field
            let cycle = check_max("num_ref_frames_in_pic_order_cnt_cycle", r.read_ue()?, 255)?;
            for _ in 0..cycle {
                r.read_se()?; // offset_for_ref_frame
            }
        }
        2 => {}
        _ => {
            return Err(CodecError::Invalid {
                what: "pic_order_cnt_type",
            })
        }
    }
    r.read_ue()?; // max_num_ref_frames
    r.skip_bits(1)?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = u64::from(r.read_ue()?) + 1;
    let height_map_units = u64::from(r.read_ue()?) + 1;
    let frame_mbs_only = r.read_bit()?;
    if !frame_mbs_only {
        r.skip_bits(1)?; // mb_adaptive_frame_field_flag
    }
    r.skip_bits(1)?; // direct_8x8_inference_flag
    let mut crop = [0u64; 4]; // left, right, top, bottom
    if r.read_bit()? {
        for c in crop.iter_mut() {
            *c = u64::from(r.read_ue()?);
        }
    }
    let mut vui = Vui::default();
    if r.read_bit()? {
        // The VUI is optional information; a damaged one must not hide the
        // picture size, so read what can be read and keep it.
        if let Err(e) = parse_vui(r, &mut vui) {
            tracing::trace!(error = %e, "ignoring unreadable SPS VUI");
        }
    }

    // H.264 7.4.2.1.1: crop units depend on ChromaArrayType and field coding.
    let chroma_array_type = if separate_colour_plane {
        0
    } else {
        chroma_format_idc
    };
    let (sub_width, sub_height) = match chroma_array_type {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let field_factor: u64 = if frame_mbs_only { 1 } else { 2 };
    let crop_unit_x = sub_width;
    let crop_unit_y = sub_height * field_factor;
    let [left, right, top, bottom] = crop;
    let width = cropped(
        "picture width",
        width_mbs * 16,
        crop_unit_x * (left + right),
    )?;
    let height = cropped(
        "picture height",
        height_map_units * 16 * field_factor,
        crop_unit_y * (top + bottom),
    )?;

    Ok(SpsInfo {
        profile_idc,
        constraint_flags,
        level_idc,
        width,
        height,
        frame_rate: vui.frame_rate,
        // All below were range-checked above.
        chroma_format_idc: chroma_format_idc as u8,
        bit_depth_luma: bit_depth_luma_minus8 as u8 + 8,
        bit_depth_chroma: bit_depth_chroma_minus8 as u8 + 8,
        frame_mbs_only,
        sample_aspect_ratio: vui.sample_aspect_ratio,
    })
}

/// `full - crop`, which must be positive and at most [`MAX_DIMENSION`].
fn cropped(what: &'static str, full: u64, crop: u64) -> Result<u32, CodecError> {
    if crop >= full {
        return Err(CodecError::Invalid {
            what: "frame cropping (it removes the whole picture)",
        });
    }
    let size = full - crop;
    if size > u64::from(MAX_DIMENSION) {
        return Err(CodecError::TooLarge {
            what,
            value: size,
            max: u64::from(MAX_DIMENSION),
        });
    }
    u32::try_from(size).map_err(|_| CodecError::Invalid { what })
}

/// Reads past one `scaling_list()` (H.264 7.3.2.1.1.1) of `size` entries.
fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), CodecError> {
    let mut last: i32 = 8;
    let mut next: i32 = 8;
    for _ in 0..size {
        if next != 0 {
            let delta = r.read_se()?;
            if !(-128..=127).contains(&delta) {
                return Err(CodecError::Invalid {
                    what: "scaling list delta_scale",
                });
            }
            next = (last + delta + 256).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

/// The parts of the VUI Brume uses.
#[derive(Debug, Default)]
struct Vui {
    frame_rate: Option<(u32, u32)>,
    sample_aspect_ratio: Option<(u16, u16)>,
}

/// Reads the VUI up to and including its timing info (H.264 E.1.1).
fn parse_vui(r: &mut BitReader<'_>, vui: &mut Vui) -> Result<(), CodecError> {
    if r.read_bit()? {
        // aspect_ratio_info_present_flag
        let idc = r.read_u8(8)?;
        vui.sample_aspect_ratio = if idc == EXTENDED_SAR {
            let w = r.read_bits(16)? as u16;
            let h = r.read_bits(16)? as u16;
            (w != 0 && h != 0).then_some((w, h))
        } else {
            usize::from(idc)
                .checked_sub(1)
                .and_then(|i| SAR_TABLE.get(i))
                .copied()
        };
    }
    if r.read_bit()? {
        r.skip_bits(1)?; // overscan_appropriate_flag
    }
    if r.read_bit()? {
        // video_signal_type_present_flag: video_format, video_full_range_flag
        r.skip_bits(4)?;
        if r.read_bit()? {
            // colour_primaries, transfer_characteristics, matrix_coefficients
            r.skip_bits(24)?;
        }
    }
    if r.read_bit()? {
        r.read_ue()?; // chroma_sample_loc_type_top_field
        r.read_ue()?; // chroma_sample_loc_type_bottom_field
    }
    if r.read_bit()? {
        let num_units_in_tick = r.read_bits(32)?;
        let time_scale = r.read_bits(32)?;
        vui.frame_rate = frame_rate(time_scale, num_units_in_tick);
    }
    Ok(())
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `time_scale / (2 * num_units_in_tick)` as a reduced fraction.
fn frame_rate(time_scale: u32, num_units_in_tick: u32) -> Option<(u32, u32)> {
    if time_scale == 0 || num_units_in_tick == 0 {
        return None;
    }
    let num = u64::from(time_scale);
    let den = 2 * u64::from(num_units_in_tick);
    let g = gcd(num, den).max(1);
    Some((u32::try_from(num / g).ok()?, u32::try_from(den / g).ok()?))
}

/// The RFC 6381 codec string of an H.264 stream, e.g. `avc1.64001e`.
pub fn codec_string(profile_idc: u8, constraint_flags: u8, level_idc: u8) -> String {
    format!("avc1.{profile_idc:02x}{constraint_flags:02x}{level_idc:02x}")
}

/// The NAL unit type (low 5 bits of the first byte), `None` for an empty NAL.
pub fn nal_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|b| b & 0x1F)
}

/// An `avcC` AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcConfig {
    pub profile_idc: u8,
    /// `profile_compatibility`: the constraint flags byte of the SPS.
    pub constraint_flags: u8,
    pub level_idc: u8,
    /// Bytes in each NAL unit length prefix of the samples: 1, 2 or 4 (3 is
    /// accepted on input). [`AvcConfig::to_bytes`] writes it modulo 4.
    pub nal_length_size: u8,
    /// Sequence parameter sets, each a NAL unit with its header.
    pub sps: Vec<Bytes>,
    /// Picture parameter sets, each a NAL unit with its header.
    pub pps: Vec<Bytes>,
    /// Everything after the PPS list, kept verbatim: for the High profiles the
    /// chroma format, bit depths and SPS extensions
    /// (see [`AvcConfig::high_profile_ext`]). Empty when absent.
    pub ext: Bytes,
}

/// The trailing fields of an `avcC` record for the High profiles (ISO/IEC 14496-15
/// names 100, 110, 122 and 144; FFmpeg and others also write them for every
/// other profile whose SPS has chroma information, such as 244).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcHighProfileExt {
    pub chroma_format_idc: u8,
    pub bit_depth_luma_minus8: u8,
    pub bit_depth_chroma_minus8: u8,
    /// SPS extension NAL units (type 13).
    pub sps_ext: Vec<Bytes>,
}

/// Profiles whose `avcC` record carries [`AvcHighProfileExt`].
fn has_avcc_ext(profile_idc: u8) -> bool {
    profile_idc == 144 || has_chroma_info(profile_idc)
}

/// Reads `count` parameter sets, each preceded by a 16-bit length.
fn read_parameter_sets(
    r: &mut ByteReader<'_>,
    count: usize,
    what: &'static str,
) -> Result<Vec<Bytes>, CodecError> {
    let mut sets = Vec::with_capacity(count);
    for _ in 0..count {
        let len = usize::from(r.u16(what)?);
        if len == 0 {
            return Err(CodecError::Invalid {
                what: "avcC parameter set (empty)",
            });
        }
        sets.push(Bytes::copy_from_slice(r.take(len, what)?));
    }
    Ok(sets)
}

/// Appends a 16-bit length and the parameter set; sets too long for the record
/// are skipped (the constructors never produce them).
fn write_parameter_sets(out: &mut Vec<u8>, sets: &[&Bytes]) {
    for set in sets {
        if let Ok(len) = u16::try_from(set.len()) {
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(set);
        }
    }
}

impl AvcConfig {
    /// Parses an `avcC` record (the payload of the `avcC` box, or an FLV/RTMP AVC
    /// sequence header).
    pub fn parse(record: &[u8]) -> Result<Self, CodecError> {
        let mut r = ByteReader::new(record);
        let version = r.u8("avcC configuration version")?;
        if version != 1 {
            return Err(CodecError::Unsupported {
                what: "avcC configuration version",
                value: u32::from(version),
            });
        }
        let profile_idc = r.u8("avcC profile")?;
        let constraint_flags = r.u8("avcC profile compatibility")?;
        let level_idc = r.u8("avcC level")?;
        let nal_length_size = (r.u8("avcC NAL length size")? & 0x03) + 1;
        let sps_count = usize::from(r.u8("avcC SPS count")? & 0x1F);
        let sps = read_parameter_sets(&mut r, sps_count, "avcC SPS")?;
        let pps_count = usize::from(r.u8("avcC PPS count")?);
        let pps = read_parameter_sets(&mut r, pps_count, "avcC PPS")?;
        Ok(AvcConfig {
            profile_idc,
            constraint_flags,
            level_idc,
            nal_length_size,
            sps,
            pps,
            ext: Bytes::copy_from_slice(r.remaining()),
        })
    }

    /// Builds a record from parameter set NAL units (with their headers), with
    /// 4-byte NAL lengths. Profile, constraint flags and level come from the first
    /// SPS, which must parse; High-profile records get their trailing fields.
    pub fn from_parameter_sets(sps: &[Bytes], pps: &[Bytes]) -> Result<Self, CodecError> {
        let first = sps.first().ok_or(CodecError::Missing { what: "SPS" })?;
        if pps.is_empty() {
            return Err(CodecError::Missing { what: "PPS" });
        }
        check_sets(sps, NAL_SPS, MAX_SPS_COUNT, "SPS count", "SPS length")?;
        check_sets(pps, NAL_PPS, MAX_PPS_COUNT, "PPS count", "PPS length")?;
        let info = SpsInfo::parse(first)?;
        let ext = if has_avcc_ext(info.profile_idc) {
            Bytes::from(vec![
                0xFC | (info.chroma_format_idc & 0x03),
                0xF8 | (info.bit_depth_luma.saturating_sub(8) & 0x07),
                0xF8 | (info.bit_depth_chroma.saturating_sub(8) & 0x07),
                0, // numOfSequenceParameterSetExt
            ])
        } else {
            Bytes::new()
        };
        Ok(AvcConfig {
            profile_idc: info.profile_idc,
            constraint_flags: info.constraint_flags,
            level_idc: info.level_idc,
            nal_length_size: 4,
            sps: sps.to_vec(),
            pps: pps.to_vec(),
            ext,
        })
    }

    /// Builds the record. Parameter sets beyond the record's limits
    /// ([`MAX_SPS_COUNT`], [`MAX_PPS_COUNT`], [`MAX_PARAMETER_SET_LEN`]) are left
    /// out; records from [`AvcConfig::parse`] and
    /// [`AvcConfig::from_parameter_sets`] never have any.
    pub fn to_bytes(&self) -> Bytes {
        let fits = |s: &&Bytes| s.len() <= MAX_PARAMETER_SET_LEN;
        let sps: Vec<&Bytes> = self.sps.iter().filter(fits).take(MAX_SPS_COUNT).collect();
        let pps: Vec<&Bytes> = self.pps.iter().filter(fits).take(MAX_PPS_COUNT).collect();
        let size = 7
            + sps.iter().map(|s| 2 + s.len()).sum::<usize>()
            + pps.iter().map(|s| 2 + s.len()).sum::<usize>()
            + self.ext.len();
        let mut out = Vec::with_capacity(size);
        out.push(1);
        out.push(self.profile_idc);
        out.push(self.constraint_flags);
        out.push(self.level_idc);
        out.push(0xFC | (self.nal_length_size.wrapping_sub(1) & 0x03));
        // Both counts are bounded by the `take` above.
        out.push(0xE0 | (sps.len() as u8 & 0x1F));
        write_parameter_sets(&mut out, &sps);
        out.push(pps.len() as u8);
        write_parameter_sets(&mut out, &pps);
        out.extend_from_slice(&self.ext);
        Bytes::from(out)
    }

    /// The RFC 6381 codec string, e.g. `avc1.64001e`.
    pub fn codec_string(&self) -> String {
        codec_string(self.profile_idc, self.constraint_flags, self.level_idc)
    }

    /// Parses the first SPS.
    pub fn sps_info(&self) -> Result<SpsInfo, CodecError> {
        let first = self.sps.first().ok_or(CodecError::Missing {
            what: "SPS in the avcC record",
        })?;
        SpsInfo::parse(first)
    }

    /// The High-profile trailing fields, when the profile has them and
    /// [`AvcConfig::ext`] holds a readable copy.
    pub fn high_profile_ext(&self) -> Option<AvcHighProfileExt> {
        if !has_avcc_ext(self.profile_idc) {
            return None;
        }
        let mut r = ByteReader::new(&self.ext);
        let chroma_format_idc = r.u8("avcC chroma format").ok()? & 0x03;
        let bit_depth_luma_minus8 = r.u8("avcC luma bit depth").ok()? & 0x07;
        let bit_depth_chroma_minus8 = r.u8("avcC chroma bit depth").ok()? & 0x07;
        let count = usize::from(r.u8("avcC SPS extension count").ok()?);
        let sps_ext = read_parameter_sets(&mut r, count, "avcC SPS extension").ok()?;
        Some(AvcHighProfileExt {
            chroma_format_idc,
            bit_depth_luma_minus8,
            bit_depth_chroma_minus8,
            sps_ext,
        })
    }
}

fn check_sets(
    sets: &[Bytes],
    nal: u8,
    max_count: usize,
    count_what: &'static str,
    len_what: &'static str,
) -> Result<(), CodecError> {
    if sets.len() > max_count {
        return Err(CodecError::TooLarge {
            what: count_what,
            value: sets.len() as u64,
            max: max_count as u64,
        });
    }
    for set in sets {
        let t = nal_type(set).ok_or(CodecError::Invalid {
            what: "parameter set (empty)",
        })?;
        if t != nal {
            return Err(CodecError::Unsupported {
                what: if nal == NAL_SPS {
                    "NAL unit type for an SPS (expected 7)"
                } else {
                    "NAL unit type for a PPS (expected 8)"
                },
                value: u32::from(t),
            });
        }
        if set.len() > MAX_PARAMETER_SET_LEN {
            return Err(CodecError::TooLarge {
                what: len_what,
                value: set.len() as u64,
                max: MAX_PARAMETER_SET_LEN as u64,
            });
        }
    }
    Ok(())
}

/// Iterator over the NAL units of length-prefixed data; see
/// [`length_prefixed_nals`].
#[derive(Debug, Clone)]
pub struct LengthPrefixedNals<'a> {
    rest: &'a [u8],
    length_size: u8,
    failed: bool,
}

/// Iterates over the NAL units of `data`, each preceded by a big-endian length of
/// `length_size` bytes (1 to 4). Zero-length entries are skipped. A length that
/// runs past the end, a partial length, or an unusable `length_size` yields one
/// error, after which the iterator ends.
pub fn length_prefixed_nals(data: &[u8], length_size: u8) -> LengthPrefixedNals<'_> {
    LengthPrefixedNals {
        rest: data,
        length_size,
        failed: false,
    }
}

impl<'a> LengthPrefixedNals<'a> {
    fn step(&mut self) -> Result<&'a [u8], CodecError> {
        let n = usize::from(self.length_size);
        let (prefix, tail) = self.rest.split_at_checked(n).ok_or(CodecError::Truncated {
            what: "NAL unit length",
        })?;
        let len = prefix
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= tail.len())
            .ok_or(CodecError::Truncated { what: "NAL unit" })?;
        let (nal, rest) = tail
            .split_at_checked(len)
            .ok_or(CodecError::Truncated { what: "NAL unit" })?;
        self.rest = rest;
        Ok(nal)
    }
}

impl<'a> Iterator for LengthPrefixedNals<'a> {
    type Item = Result<&'a [u8], CodecError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if !(1..=4).contains(&self.length_size) {
            self.failed = true;
            return Some(Err(CodecError::Unsupported {
                what: "NAL length size",
                value: u32::from(self.length_size),
            }));
        }
        while !self.rest.is_empty() {
            match self.step() {
                Ok([]) => continue,
                Ok(nal) => return Some(Ok(nal)),
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

/// Iterator over the NAL units of an Annex-B byte stream; see [`annexb_nals`].
#[derive(Debug, Clone)]
pub struct AnnexBNals<'a> {
    rest: &'a [u8],
}

/// Iterates over the NAL units of an Annex-B byte stream. The data is cut at every
/// start code (`00 00 01`, which also ends `00 00 00 01`); each piece, without its
/// trailing zero bytes, is a NAL unit unless it is empty. Bytes before the first
/// start code count as a NAL unit too, so data without any start code is one NAL.
pub fn annexb_nals(data: &[u8]) -> AnnexBNals<'_> {
    AnnexBNals { rest: data }
}

impl<'a> Iterator for AnnexBNals<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        while !self.rest.is_empty() {
            let (mut piece, rest) = match self.rest.windows(3).position(|w| w == [0, 0, 1]) {
                Some(pos) => {
                    let (piece, from_start_code) =
                        self.rest.split_at_checked(pos).unwrap_or((self.rest, &[]));
                    (piece, from_start_code.get(3..).unwrap_or(&[]))
                }
                None => (self.rest, &[][..]),
            };
            self.rest = rest;
            while let [head @ .., 0] = piece {
                piece = head;
            }
            if !piece.is_empty() {
                return Some(piece);
            }
        }
        None
    }
}

/// Appends the NAL units of Annex-B `data` to `out`, each preceded by its 4-byte
/// big-endian length.
pub fn annexb_to_length_prefixed(data: &[u8], out: &mut Vec<u8>) {
    for nal in annexb_nals(data) {
        match u32::try_from(nal.len()) {
            Ok(len) => {
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(nal);
            }
            Err(_) => tracing::debug!(len = nal.len(), "dropping a NAL unit over 4 GiB"),
        }
    }
}

/// Appends the NAL units of length-prefixed `data` to `out` as an Annex-B stream
/// with 4-byte start codes. On error `out` is left as it was.
pub fn length_prefixed_to_annexb(
    data: &[u8],
    length_size: u8,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let start = out.len();
    for nal in length_prefixed_nals(data, length_size) {
        match nal {
            Ok(nal) => {
                out.extend_from_slice(&[0, 0, 0, 1]);
                out.extend_from_slice(nal);
            }
            Err(e) => {
                out.truncate(start);
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Whether the length-prefixed access unit `data` has an IDR slice (NAL type 5)
/// before any framing error.
pub fn contains_idr(data: &[u8], length_size: u8) -> bool {
    length_prefixed_nals(data, length_size)
        .map_while(Result::ok)
        .any(|nal| nal_type(nal) == Some(NAL_IDR))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::bits::BitWriter;

    /// The SPS and PPS of `assets/demo.mp4` (x264, High 3.0, 640x360, 30 fps).
    const DEMO_SPS: &[u8] = &[
        0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03,
        0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16, 0x2d, 0x96,
    ];
    const DEMO_PPS: &[u8] = &[0x68, 0xeb, 0xec, 0xb2, 0x2c];
    /// The `avcC` payload of `assets/demo.mp4`.
    const DEMO_AVCC: &[u8] = &[
        0x01, 0x64, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x1a, 0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40,
        0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c,
        0x0f, 0x16, 0x2d, 0x96, 0x01, 0x00, 0x05, 0x68, 0xeb, 0xec, 0xb2, 0x2c, 0xfd, 0xf8, 0xf8,
        0x00,
    ];

    /// Inserts emulation prevention bytes, the inverse of
    /// [`remove_emulation_prevention`].
    fn escape(rbsp: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut zeros = 0;
        for &b in rbsp {
            if zeros >= 2 && b <= 3 {
                out.push(3);
                zeros = 0;
            }
            zeros = if b == 0 { zeros + 1 } else { 0 };
            out.push(b);
        }
        out
    }

    /// (aspect_ratio_idc, explicit SAR, timing (num_units_in_tick, time_scale)).
    type VuiSpec = (Option<u8>, (u16, u16), Option<(u32, u32)>);

    /// Knobs of a synthetic SPS.
    #[derive(Clone)]
    struct Spec {
        profile: u8,
        chroma: u32,
        separate_planes: bool,
        bit_depth_minus8: u32,
        /// Scaling lists to send: (list index, delta_scale values).
        scaling: Option<Vec<(usize, Vec<i32>)>>,
        poc_type: u32,
        width_mbs: u32,
        height_map_units: u32,
        frame_mbs_only: bool,
        crop: Option<[u32; 4]>,
        vui: Option<VuiSpec>,
    }

    impl Default for Spec {
        fn default() -> Self {
            Spec {
                profile: 66,
                chroma: 1,
                separate_planes: false,
                bit_depth_minus8: 0,
                scaling: None,
                poc_type: 0,
                width_mbs: 120,
                height_map_units: 68,
                frame_mbs_only: true,
                crop: None,
                vui: None,
            }
        }
    }

    /// Writes an SPS NAL unit (header, escaped RBSP, trailing bits).
    fn build_sps(s: &Spec) -> Vec<u8> {
        let mut w = BitWriter::new();
        w.write_bits(u64::from(s.profile), 8);
        w.write_bits(0, 8);
        w.write_bits(40, 8);
        w.write_ue(0);
        if has_chroma_info(s.profile) {
            w.write_ue(s.chroma);
            if s.chroma == 3 {
                w.write_bit(s.separate_planes);
            }
            w.write_ue(s.bit_depth_minus8);
            w.write_ue(s.bit_depth_minus8);
            w.write_bit(false);
            match &s.scaling {
                None => w.write_bit(false),
                Some(lists) => {
                    w.write_bit(true);
                    let n = if s.chroma == 3 { 12 } else { 8 };
                    for i in 0..n {
                        match lists.iter().find(|(idx, _)| *idx == i) {
                            Some((_, deltas)) => {
                                w.write_bit(true);
                                for d in deltas {
                                    w.write_se(*d);
                                }
                            }
                            None => w.write_bit(false),
                        }
                    }
                }
            }
        }
        w.write_ue(4); // log2_max_frame_num_minus4
        w.write_ue(s.poc_type);
        match s.poc_type {
            0 => w.write_ue(2),
            1 => {
                w.write_bit(false);
                w.write_se(-3);
                w.write_se(5);
                w.write_ue(3);
                for v in [1, -2, 100_000] {
                    w.write_se(v);
                }
            }
            _ => {}
        }
        w.write_ue(4); // max_num_ref_frames
        w.write_bit(false);
        w.write_ue(s.width_mbs - 1);
        w.write_ue(s.height_map_units - 1);
        w.write_bit(s.frame_mbs_only);
        if !s.frame_mbs_only {
            w.write_bit(true);
        }
        w.write_bit(true); // direct_8x8_inference_flag
        match s.crop {
            None => w.write_bit(false),
            Some(c) => {
                w.write_bit(true);
                for v in c {
                    w.write_ue(v);
                }
            }
        }
        match s.vui {
            None => w.write_bit(false),
            Some((aspect, sar, timing)) => {
                w.write_bit(true);
                match aspect {
                    None => w.write_bit(false),
                    Some(idc) => {
                        w.write_bit(true);
                        w.write_bits(u64::from(idc), 8);
                        if idc == 255 {
                            w.write_bits(u64::from(sar.0), 16);
                            w.write_bits(u64::from(sar.1), 16);
                        }
                    }
                }
                w.write_bit(true); // overscan_info_present_flag
                w.write_bit(false);
                w.write_bit(true); // video_signal_type_present_flag
                w.write_bits(5, 3);
                w.write_bit(false);
                w.write_bit(true); // colour_description_present_flag
                w.write_bits(0x01_01_01, 24);
                w.write_bit(true); // chroma_loc_info_present_flag
                w.write_ue(1);
                w.write_ue(1);
                match timing {
                    None => w.write_bit(false),
                    Some((units, scale)) => {
                        w.write_bit(true);
                        w.write_bits(u64::from(units), 32);
                        w.write_bits(u64::from(scale), 32);
                        w.write_bit(true);
                    }
                }
                // The rest of the VUI is absent.
                w.write_bits(0, 5);
            }
        }
        w.write_bit(true); // rbsp_stop_one_bit
        let mut nal = vec![0x67];
        nal.extend(escape(&w.into_bytes()));
        nal
    }

    #[test]
    fn parses_the_demo_sps() {
        let info = SpsInfo::parse(DEMO_SPS).unwrap();
        assert_eq!(
            info,
            SpsInfo {
                profile_idc: 100,
                constraint_flags: 0,
                level_idc: 30,
                width: 640,
                height: 360,
                frame_rate: Some((30, 1)),
                chroma_format_idc: 1,
                bit_depth_luma: 8,
                bit_depth_chroma: 8,
                frame_mbs_only: true,
                sample_aspect_ratio: Some((1, 1)),
            }
        );
    }

    #[test]
    fn baseline_1080p_with_cropping_and_poc_type_1() {
        let nal = build_sps(&Spec {
            poc_type: 1,
            crop: Some([0, 0, 0, 4]),
            ..Spec::default()
        });
        let info = SpsInfo::parse(&nal).unwrap();
        assert_eq!((info.width, info.height), (1920, 1080));
        assert_eq!(info.profile_idc, 66);
        assert_eq!(info.level_idc, 40);
        assert_eq!(info.frame_rate, None);
        assert_eq!((info.chroma_format_idc, info.bit_depth_luma), (1, 8));
    }

    #[test]
    fn poc_type_2_and_odd_crop_on_every_side() {
        let nal = build_sps(&Spec {
            poc_type: 2,
            width_mbs: 11,
            height_map_units: 9,
            crop: Some([1, 2, 3, 1]),
            ..Spec::default()
        });
        let info = SpsInfo::parse(&nal).unwrap();
        // 4:2:0 crops in units of 2 both ways.
        assert_eq!((info.width, info.height), (176 - 6, 144 - 8));
    }

    #[test]
    fn interlaced_crop_units_double_vertically() {
        let nal = build_sps(&Spec {
            profile: 100,
            frame_mbs_only: false,
            height_map_units: 34,
            crop: Some([0, 0, 0, 2]),
            ..Spec::default()
        });
        let info = SpsInfo::parse(&nal).unwrap();
        assert!(!info.frame_mbs_only);
        assert_eq!((info.width, info.height), (1920, 1080));
    }

    #[test]
    fn chroma_formats_change_crop_units() {
        let cases = [
            // (chroma, separate planes, interlaced, expected width, height)
            (0, false, false, 1920 - 3, 1088 - 8),
            (2, false, false, 1920 - 6, 1088 - 8),
            (2, false, true, 1920 - 6, 1088 - 16),
            (3, false, false, 1920 - 3, 1088 - 8),
            (3, true, false, 1920 - 3, 1088 - 8),
        ];
        for (chroma, separate, interlaced, width, height) in cases {
            let nal = build_sps(&Spec {
                profile: 244,
                chroma,
                separate_planes: separate,
                bit_depth_minus8: 2,
                frame_mbs_only: !interlaced,
                height_map_units: if interlaced { 34 } else { 68 },
                crop: Some([1, 2, 3, 5]),
                ..Spec::default()
            });
            let info = SpsInfo::parse(&nal).unwrap();
            assert_eq!(
                (info.width, info.height),
                (width, height),
                "chroma {chroma} separate {separate} interlaced {interlaced}"
            );
            assert_eq!(u32::from(info.chroma_format_idc), chroma);
            assert_eq!((info.bit_depth_luma, info.bit_depth_chroma), (10, 10));
        }
    }

    #[test]
    fn skips_scaling_lists() {
        // List 0: 16 explicit deltas. List 2: ends early (delta to 0). List 6
        // (8x8): 64 deltas. For 4:4:4 there are 12 lists; list 11 is 8x8 too.
        let mut long = vec![1; 64];
        long[10] = -120;
        long[11] = 119;
        let scaling = vec![
            (0, vec![2; 16]),
            (2, vec![-8]),
            (6, long.clone()),
            (11, long),
        ];
        for chroma in [1, 3] {
            let nal = build_sps(&Spec {
                profile: 100,
                chroma,
                scaling: Some(scaling.clone()),
                crop: Some([0, 0, 0, 4]),
                vui: Some((Some(1), (0, 0), Some((1001, 60_000)))),
                ..Spec::default()
            });
            let info = SpsInfo::parse(&nal).unwrap();
            let height = if chroma == 1 { 1080 } else { 1084 };
            assert_eq!((info.width, info.height), (1920, height));
            assert_eq!(info.frame_rate, Some((30_000, 1001)));
            assert_eq!(info.sample_aspect_ratio, Some((1, 1)));
        }
    }

    #[test]
    fn rejects_out_of_range_scaling_delta() {
        let nal = build_sps(&Spec {
            profile: 100,
            scaling: Some(vec![(0, vec![200])]),
            ..Spec::default()
        });
        assert!(matches!(
            SpsInfo::parse(&nal),
            Err(CodecError::Invalid { .. })
        ));
    }

    #[test]
    fn vui_aspect_ratio_and_timing() {
        let nal = build_sps(&Spec {
            vui: Some((Some(255), (4, 3), Some((1, 50)))),
            ..Spec::default()
        });
        let info = SpsInfo::parse(&nal).unwrap();
        assert_eq!(info.sample_aspect_ratio, Some((4, 3)));
        assert_eq!(info.frame_rate, Some((25, 1)));
        let nal = build_sps(&Spec {
            vui: Some((Some(14), (0, 0), None)),
            ..Spec::default()
        });
        let info = SpsInfo::parse(&nal).unwrap();
        assert_eq!(info.sample_aspect_ratio, Some((4, 3)));
        assert_eq!(info.frame_rate, None);
        // Reserved idc, zero timing: both unknown.
        let nal = build_sps(&Spec {
            vui: Some((Some(200), (0, 0), Some((0, 50)))),
            ..Spec::default()
        });
        let info = SpsInfo::parse(&nal).unwrap();
        assert_eq!((info.sample_aspect_ratio, info.frame_rate), (None, None));
        // A huge tick does not overflow.
        let nal = build_sps(&Spec {
            vui: Some((None, (0, 0), Some((u32::MAX, u32::MAX)))),
            ..Spec::default()
        });
        assert_eq!(SpsInfo::parse(&nal).unwrap().frame_rate, Some((1, 2)));
        let nal = build_sps(&Spec {
            vui: Some((None, (0, 0), Some((u32::MAX, 7)))),
            ..Spec::default()
        });
        assert_eq!(SpsInfo::parse(&nal).unwrap().frame_rate, None);
    }

    #[test]
    fn truncated_vui_keeps_the_picture_size() {
        let nal = build_sps(&Spec {
            vui: Some((Some(1), (0, 0), Some((1, 60)))),
            crop: Some([0, 0, 0, 4]),
            ..Spec::default()
        });
        // Cut inside the timing info.
        let cut = nal.get(..nal.len() - 5).unwrap();
        let info = SpsInfo::parse(cut).unwrap();
        assert_eq!((info.width, info.height), (1920, 1080));
        assert_eq!(info.frame_rate, None);
        assert_eq!(info.sample_aspect_ratio, Some((1, 1)));
    }

    #[test]
    fn truncated_sps_is_an_error_not_a_panic() {
        for spec in [
            Spec::default(),
            Spec {
                profile: 100,
                poc_type: 1,
                crop: Some([0, 0, 0, 4]),
                scaling: Some(vec![(1, vec![3; 16])]),
                ..Spec::default()
            },
        ] {
            let nal = build_sps(&spec);
            for len in 0..nal.len() - 1 {
                let result = SpsInfo::parse(nal.get(..len).unwrap());
                assert!(
                    matches!(result, Err(CodecError::Truncated { .. })),
                    "len {len}: {result:?}"
                );
            }
        }
        for len in 0..DEMO_SPS.len() {
            // Any prefix either fails or is a VUI-less read of the same picture.
            if let Ok(info) = SpsInfo::parse(DEMO_SPS.get(..len).unwrap()) {
                assert_eq!((info.width, info.height), (640, 360));
            }
        }
    }

    #[test]
    fn rejects_bad_headers_and_values() {
        assert!(matches!(
            SpsInfo::parse(&[]),
            Err(CodecError::Truncated { .. })
        ));
        assert!(matches!(
            SpsInfo::parse(DEMO_PPS),
            Err(CodecError::Unsupported { value: 8, .. })
        ));
        let mut forbidden = DEMO_SPS.to_vec();
        forbidden[0] |= 0x80;
        assert!(matches!(
            SpsInfo::parse(&forbidden),
            Err(CodecError::Invalid { .. })
        ));
        let bad = [
            Spec {
                poc_type: 3,
                ..Spec::default()
            },
            Spec {
                profile: 100,
                chroma: 4,
                ..Spec::default()
            },
            Spec {
                profile: 100,
                bit_depth_minus8: 7,
                ..Spec::default()
            },
            // Cropping away the whole picture.
            Spec {
                width_mbs: 1,
                crop: Some([4, 4, 0, 0]),
                ..Spec::default()
            },
            Spec {
                crop: Some([0, 0, u32::MAX - 1, u32::MAX - 1]),
                ..Spec::default()
            },
            // Wider than any MP4 can describe.
            Spec {
                width_mbs: 4097,
                ..Spec::default()
            },
            Spec {
                width_mbs: u32::MAX - 1,
                height_map_units: u32::MAX - 1,
                frame_mbs_only: false,
                ..Spec::default()
            },
        ];
        for spec in bad {
            let result = SpsInfo::parse(&build_sps(&spec));
            assert!(
                matches!(
                    result,
                    Err(CodecError::Invalid { .. } | CodecError::TooLarge { .. })
                ),
                "{result:?}"
            );
        }
        // 4096 macroblocks wide (65536 pixels) minus a crop of 2 fits.
        let info = SpsInfo::parse(&build_sps(&Spec {
            width_mbs: 4096,
            crop: Some([0, 1, 0, 0]),
            ..Spec::default()
        }))
        .unwrap();
        assert_eq!(info.width, 65_534);
    }

    #[test]
    fn avcc_round_trip_of_the_demo_record() {
        let config = AvcConfig::parse(DEMO_AVCC).unwrap();
        assert_eq!(config.profile_idc, 100);
        assert_eq!(config.constraint_flags, 0);
        assert_eq!(config.level_idc, 30);
        assert_eq!(config.nal_length_size, 4);
        assert_eq!(config.sps, vec![Bytes::from_static(DEMO_SPS)]);
        assert_eq!(config.pps, vec![Bytes::from_static(DEMO_PPS)]);
        assert_eq!(config.codec_string(), "avc1.64001e");
        assert_eq!(config.to_bytes(), DEMO_AVCC);
        assert_eq!(
            config.high_profile_ext(),
            Some(AvcHighProfileExt {
                chroma_format_idc: 1,
                bit_depth_luma_minus8: 0,
                bit_depth_chroma_minus8: 0,
                sps_ext: vec![],
            })
        );
        let info = config.sps_info().unwrap();
        assert_eq!((info.width, info.height), (640, 360));
        // Building from the parameter sets gives the record x264/FFmpeg wrote.
        let built = AvcConfig::from_parameter_sets(&config.sps, &config.pps).unwrap();
        assert_eq!(built, config);
        assert_eq!(built.to_bytes(), DEMO_AVCC);
    }

    #[test]
    fn avcc_without_extension_and_with_short_lengths() {
        let sps = Bytes::from(build_sps(&Spec::default()));
        let pps = Bytes::from_static(&[0x68, 0xce, 0x3c, 0x80]);
        let mut config =
            AvcConfig::from_parameter_sets(std::slice::from_ref(&sps), &[pps.clone(), pps])
                .unwrap();
        assert!(config.ext.is_empty());
        assert_eq!(config.high_profile_ext(), None);
        assert_eq!(config.codec_string(), "avc1.420028");
        config.nal_length_size = 2;
        let bytes = config.to_bytes();
        assert_eq!(bytes.get(4), Some(&0xFD));
        assert_eq!(bytes.get(5), Some(&0xE1));
        let back = AvcConfig::parse(&bytes).unwrap();
        assert_eq!(back, config);
        assert_eq!(back.to_bytes(), bytes);
        assert_eq!(back.sps, vec![sps]);
    }

    #[test]
    fn avcc_parse_errors() {
        // Every cut before the end of the PPS list is an error.
        let pps_end = DEMO_AVCC.len() - 4;
        for len in 0..pps_end {
            let result = AvcConfig::parse(DEMO_AVCC.get(..len).unwrap());
            assert!(
                matches!(result, Err(CodecError::Truncated { .. })),
                "len {len}: {result:?}"
            );
        }
        let short = AvcConfig::parse(DEMO_AVCC.get(..pps_end).unwrap()).unwrap();
        assert!(short.ext.is_empty());
        assert_eq!(short.high_profile_ext(), None);

        let mut v2 = DEMO_AVCC.to_vec();
        v2[0] = 2;
        assert_eq!(
            AvcConfig::parse(&v2),
            Err(CodecError::Unsupported {
                what: "avcC configuration version",
                value: 2
            })
        );
        // An empty parameter set.
        assert!(matches!(
            AvcConfig::parse(&[1, 0x42, 0, 0x1e, 0xff, 0xe1, 0, 0, 0]),
            Err(CodecError::Invalid { .. })
        ));
        // No parameter sets at all parses (avc3-style) but has no SPS to read.
        let empty = AvcConfig::parse(&[1, 0x42, 0, 0x1e, 0xff, 0xe0, 0]).unwrap();
        assert!(empty.sps.is_empty() && empty.pps.is_empty());
        assert!(matches!(empty.sps_info(), Err(CodecError::Missing { .. })));
        assert_eq!(empty.to_bytes(), &[1, 0x42, 0, 0x1e, 0xff, 0xe0, 0][..]);
    }

    #[test]
    fn from_parameter_sets_errors() {
        let sps = Bytes::from_static(DEMO_SPS);
        let pps = Bytes::from_static(DEMO_PPS);
        assert_eq!(
            AvcConfig::from_parameter_sets(&[], std::slice::from_ref(&pps)),
            Err(CodecError::Missing { what: "SPS" })
        );
        assert_eq!(
            AvcConfig::from_parameter_sets(std::slice::from_ref(&sps), &[]),
            Err(CodecError::Missing { what: "PPS" })
        );
        assert!(matches!(
            AvcConfig::from_parameter_sets(std::slice::from_ref(&pps), std::slice::from_ref(&pps)),
            Err(CodecError::Unsupported { value: 8, .. })
        ));
        assert!(matches!(
            AvcConfig::from_parameter_sets(std::slice::from_ref(&sps), std::slice::from_ref(&sps)),
            Err(CodecError::Unsupported { value: 7, .. })
        ));
        assert!(matches!(
            AvcConfig::from_parameter_sets(std::slice::from_ref(&sps), &[Bytes::new()]),
            Err(CodecError::Invalid { .. })
        ));
        assert!(matches!(
            AvcConfig::from_parameter_sets(&vec![sps.clone(); 32], std::slice::from_ref(&pps)),
            Err(CodecError::TooLarge { .. })
        ));
        let mut big = vec![0x68; MAX_PARAMETER_SET_LEN + 1];
        big[1] = 0x80;
        assert!(matches!(
            AvcConfig::from_parameter_sets(std::slice::from_ref(&sps), &[Bytes::from(big)]),
            Err(CodecError::TooLarge { .. })
        ));
        // The first SPS must parse.
        assert!(
            AvcConfig::from_parameter_sets(&[Bytes::from_static(&[0x67, 0x64])], &[pps]).is_err()
        );
    }

    #[test]
    fn to_bytes_leaves_out_what_cannot_be_written() {
        let mut config = AvcConfig::parse(DEMO_AVCC).unwrap();
        config
            .pps
            .push(Bytes::from(vec![0x68; MAX_PARAMETER_SET_LEN + 1]));
        config.sps = vec![Bytes::from_static(DEMO_SPS); 40];
        let bytes = config.to_bytes();
        let back = AvcConfig::parse(&bytes).unwrap();
        assert_eq!(back.sps.len(), MAX_SPS_COUNT);
        assert_eq!(back.pps, vec![Bytes::from_static(DEMO_PPS)]);
    }

    #[test]
    fn codec_strings_and_nal_types() {
        assert_eq!(codec_string(0x64, 0, 0x1e), "avc1.64001e");
        assert_eq!(codec_string(66, 0xc0, 13), "avc1.42c00d");
        assert_eq!(nal_type(&[0x65, 1]), Some(NAL_IDR));
        assert_eq!(nal_type(&[0x27]), Some(NAL_SPS));
        assert_eq!(nal_type(&[]), None);
    }

    #[test]
    fn annexb_splitting() {
        let data = [
            0, 0, 0, 1, 0x09, 0xf0, // AUD, 4-byte start code
            0, 0, 1, 0x67, 1, 2, 0, 0, // SPS with trailing zeros, 3-byte code
            0, 0, 0, 1, 0, 0, 1, // an empty NAL
            0x65, 0, 0, 3, 1, 0, // IDR containing an escaped start code
        ];
        let nals: Vec<&[u8]> = annexb_nals(&data).collect();
        assert_eq!(
            nals,
            vec![&[0x09, 0xf0][..], &[0x67, 1, 2], &[0x65, 0, 0, 3, 1]]
        );
        assert_eq!(annexb_nals(&[]).count(), 0);
        assert_eq!(annexb_nals(&[0, 0, 1]).count(), 0);
        assert_eq!(annexb_nals(&[0, 0, 0, 0, 0, 1]).count(), 0);
        assert_eq!(annexb_nals(&[0, 0]).count(), 0);
        // Without a start code the whole input is one NAL unit.
        assert_eq!(
            annexb_nals(&[0x41, 7]).collect::<Vec<_>>(),
            vec![&[0x41, 7]]
        );
        // A start code at the very end.
        assert_eq!(
            annexb_nals(&[0x41, 0, 0, 1]).collect::<Vec<_>>(),
            vec![&[0x41]]
        );
    }

    #[test]
    fn framing_conversions_round_trip() {
        let annexb = [
            0, 0, 0, 1, 0x67, 1, 2, 3, 0, 0, 1, 0x68, 4, 0, 0, 1, 0x65, 9, 9, 9, 9,
        ];
        let mut lp = Vec::new();
        annexb_to_length_prefixed(&annexb, &mut lp);
        assert_eq!(
            lp,
            [0, 0, 0, 4, 0x67, 1, 2, 3, 0, 0, 0, 2, 0x68, 4, 0, 0, 0, 5, 0x65, 9, 9, 9, 9]
        );
        assert!(contains_idr(&lp, 4));
        let mut back = vec![0xAA];
        length_prefixed_to_annexb(&lp, 4, &mut back).unwrap();
        assert_eq!(back.first(), Some(&0xAA));
        let expected: Vec<&[u8]> = annexb_nals(&annexb).collect();
        assert_eq!(
            annexb_nals(back.get(1..).unwrap()).collect::<Vec<_>>(),
            expected
        );
        let mut again = Vec::new();
        annexb_to_length_prefixed(back.get(1..).unwrap(), &mut again);
        assert_eq!(again, lp);
    }

    #[test]
    fn length_prefixed_nals_with_every_size() {
        for size in 1u8..=4 {
            let mut data = Vec::new();
            for nal in [&[0x41u8, 1][..], &[], &[0x65, 2, 3]] {
                let len = (nal.len() as u32).to_be_bytes();
                data.extend_from_slice(len.get(4 - usize::from(size)..).unwrap());
                data.extend_from_slice(nal);
            }
            let nals: Vec<_> = length_prefixed_nals(&data, size).collect();
            // The empty entry is skipped.
            assert_eq!(nals, vec![Ok(&[0x41, 1][..]), Ok(&[0x65, 2, 3][..])]);
            assert!(contains_idr(&data, size));
        }
    }

    #[test]
    fn length_prefixed_errors_stop_the_iteration() {
        // Length runs past the end.
        let data = [0, 0, 0, 2, 0x41, 1, 0, 0, 0, 9, 0x65];
        let items: Vec<_> = length_prefixed_nals(&data, 4).collect();
        assert_eq!(
            items,
            vec![
                Ok(&[0x41, 1][..]),
                Err(CodecError::Truncated { what: "NAL unit" })
            ]
        );
        // A partial length prefix.
        let items: Vec<_> = length_prefixed_nals(&[0, 0, 0, 1, 0x41, 0, 0], 4).collect();
        assert_eq!(
            items,
            vec![
                Ok(&[0x41][..]),
                Err(CodecError::Truncated {
                    what: "NAL unit length"
                })
            ]
        );
        // Bad length sizes fail at once, even on empty data.
        for size in [0, 5, 255] {
            let items: Vec<_> = length_prefixed_nals(&[], size).collect();
            assert_eq!(items.len(), 1);
            assert!(matches!(items[0], Err(CodecError::Unsupported { .. })));
            let mut out = Vec::new();
            assert!(length_prefixed_to_annexb(&[], size, &mut out).is_err());
        }
        // The IDR after a framing error is not seen.
        assert!(!contains_idr(&[0, 0, 0, 9, 0x65], 4));
        assert!(!contains_idr(&[0, 1, 0x41], 2));
        // On error the output is left as it was.
        let mut out = vec![1, 2, 3];
        assert!(length_prefixed_to_annexb(&data, 4, &mut out).is_err());
        assert_eq!(out, [1, 2, 3]);
        // Huge lengths with 4-byte prefixes do not overflow.
        let items: Vec<_> = length_prefixed_nals(&[0xff, 0xff, 0xff, 0xff, 1], 4).collect();
        assert_eq!(items.len(), 1);
        assert!(items[0].is_err());
    }
}
