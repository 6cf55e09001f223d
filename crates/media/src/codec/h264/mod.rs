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
mod tests;
