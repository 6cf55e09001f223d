//! Writes the header of a progressive MP4 from its [`TrackPlan`]s: `ftyp`, the
//! `moov` (one `trak` per track with complete sample tables) and the `mdat` box
//! header (a 64-bit `largesize` one when the payload needs it).
//!
//! Chunk offsets depend on the header's own length, which depends on whether
//! they are written as `stco` (32-bit) or `co64` (64-bit). The `moov` is written
//! with zero placeholders first; once its length is known the offsets are filled
//! in. `co64` is chosen only when some chunk offset does not fit in 32 bits, which
//! in rare cases means writing the `moov` a second time.

use bytes::Bytes;

use super::plan::{chunk_runs, Edit, TrackPlan, MOVIE_TIMESCALE};
use super::ProgressiveError;
use crate::mp4::fmp4::{write_mp4a_entry, write_visual_entry};
use crate::mp4::track_boxes::{language_code, write_handler, write_media_header_and_dinf};
use crate::mp4::write::BoxWriter;
use crate::{Codec, TrackKind};

/// `tkhd` flags: track_enabled | track_in_movie | track_in_preview.
const TKHD_FLAGS: u32 = 0x00_0007;
/// Unity transformation matrix of `mvhd` / `tkhd`.
const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];
/// Fixed bytes of one `trak` besides its tables and decoder configuration
/// (a generous estimate, only used to size the buffer).
const TRAK_OVERHEAD_ESTIMATE: usize = 1024;

/// Where one track's chunk offset entries start in the header buffer.
struct OffsetTable {
    at: usize,
    plan: usize,
}

/// The header bytes: `ftyp` + `moov` + `mdat` box header, for a payload of
/// `payload` bytes laid out as the plans' chunks say.
pub(super) fn write_header(
    plans: &[TrackPlan<'_>],
    payload: u64,
) -> Result<Bytes, ProgressiveError> {
    let mdat_header: u64 = if payload > u64::from(u32::MAX) - 8 {
        16
    } else {
        8
    };
    let last_chunk = plans
        .iter()
        .filter_map(|p| p.chunks.last())
        .map(|c| c.rel)
        .max()
        .unwrap_or(0);
    let fits_32 = |base: u64| base.saturating_add(last_chunk) <= u64::from(u32::MAX);
    let mut co64 = !fits_32(0);
    let (mut w, mut tables) = write_ftyp_moov(plans, co64)?;
    if !co64 && !fits_32(w.len() as u64 + mdat_header) {
        co64 = true;
        (w, tables) = write_ftyp_moov(plans, co64)?;
    }
    let base = w.len() as u64 + mdat_header;
    for table in &tables {
        let Some(plan) = plans.get(table.plan) else {
            return Err(ProgressiveError::Internal(
                "chunk table of an unknown track",
            ));
        };
        let mut at = table.at;
        for chunk in &plan.chunks {
            let offset = base.saturating_add(chunk.rel);
            if co64 {
                w.patch_u32(at, (offset >> 32) as u32)?;
                w.patch_u32(at + 4, offset as u32)?;
                at += 8;
            } else {
                // fits_32 held for the last chunk, hence for every one.
                w.patch_u32(at, u32::try_from(offset).unwrap_or(u32::MAX))?;
                at += 4;
            }
        }
    }
    let mdat_size = payload.saturating_add(mdat_header);
    if mdat_header == 16 {
        w.put_u32(1);
        w.put_fourcc(b"mdat");
        w.put_u64(mdat_size);
    } else {
        w.put_u32(u32::try_from(mdat_size).unwrap_or(u32::MAX));
        w.put_fourcc(b"mdat");
    }
    Ok(w.into_bytes())
}

/// A buffer size that holds the whole header without reallocating.
fn capacity_estimate(plans: &[TrackPlan<'_>]) -> usize {
    let mut total = 1024usize;
    for p in plans {
        let sync = p.sync.as_ref().map_or(0, Vec::len);
        let tables = 8 * p.stts.len()
            + 8 * p.ctts.len()
            + 4 * sync
            + 12 * p.chunks.len()
            + 4 * p.samples.len()
            + 8 * p.chunks.len();
        total = total
            .saturating_add(TRAK_OVERHEAD_ESTIMATE)
            .saturating_add(p.track.init.len())
            .saturating_add(tables);
    }
    total
}

fn write_ftyp_moov(
    plans: &[TrackPlan<'_>],
    co64: bool,
) -> Result<(BoxWriter, Vec<OffsetTable>), ProgressiveError> {
    let mut w = BoxWriter::with_capacity(capacity_estimate(plans));
    let ftyp = w.start(b"ftyp");
    w.put_fourcc(b"isom");
    w.put_u32(0x200);
    w.put_fourcc(b"isom");
    w.put_fourcc(b"iso2");
    if plans.iter().any(|p| p.track.codec == Codec::H264) {
        w.put_fourcc(b"avc1");
    }
    w.put_fourcc(b"mp41");
    w.end(ftyp)?;

    let moov = w.start(b"moov");
    write_mvhd(&mut w, plans)?;
    let mut tables = Vec::with_capacity(plans.len());
    for (i, plan) in plans.iter().enumerate() {
        let at = write_trak(&mut w, plan, co64)?;
        tables.push(OffsetTable { at, plan: i });
    }
    w.end(moov)?;
    Ok((w, tables))
}

fn write_matrix(w: &mut BoxWriter) {
    for value in UNITY_MATRIX {
        w.put_u32(value);
    }
}

/// Whether `duration` needs a version 1 box (64-bit times).
fn needs_v1(duration: u64) -> bool {
    duration > u64::from(u32::MAX)
}

/// Writes `value` as 64 bits when `wide`, else as 32 bits: callers pick `wide`
/// when the value does not fit, except for -1 (`u64::MAX`), which saturates to
/// the 32-bit -1.
fn put_sized(w: &mut BoxWriter, value: u64, wide: bool) {
    if wide {
        w.put_u64(value);
    } else {
        w.put_u32(u32::try_from(value).unwrap_or(u32::MAX));
    }
}

fn write_mvhd(w: &mut BoxWriter, plans: &[TrackPlan<'_>]) -> Result<(), ProgressiveError> {
    let duration = plans.iter().map(|p| p.duration).max().unwrap_or(0);
    let next_track_id = plans
        .iter()
        .map(|p| p.track.id)
        .max()
        .and_then(|id| id.checked_add(1))
        .unwrap_or(u32::MAX);
    let v1 = needs_v1(duration);
    let mvhd = w.start_full(b"mvhd", u8::from(v1), 0);
    put_sized(w, 0, v1); // creation_time
    put_sized(w, 0, v1); // modification_time
    w.put_u32(MOVIE_TIMESCALE);
    put_sized(w, duration, v1);
    w.put_u32(0x0001_0000); // rate 1.0
    w.put_u16(0x0100); // volume 1.0
    w.put_zeros(2 + 8); // reserved
    write_matrix(w);
    w.put_zeros(24); // pre_defined
    w.put_u32(next_track_id);
    w.end(mvhd)?;
    Ok(())
}

/// Writes one `trak`; returns where its chunk offset entries start.
fn write_trak(
    w: &mut BoxWriter,
    plan: &TrackPlan<'_>,
    co64: bool,
) -> Result<usize, ProgressiveError> {
    let track = plan.track;
    let trak = w.start(b"trak");
    write_tkhd(w, plan)?;
    if let Some(edit) = &plan.edit {
        write_edts(w, edit)?;
    }

    let mdia = w.start(b"mdia");
    let v1 = needs_v1(plan.media_duration);
    let mdhd = w.start_full(b"mdhd", u8::from(v1), 0);
    put_sized(w, 0, v1); // creation_time
    put_sized(w, 0, v1); // modification_time
    w.put_u32(track.timescale);
    put_sized(w, plan.media_duration, v1);
    w.put_u16(language_code(b"und"));
    w.put_u16(0); // pre_defined
    w.end(mdhd)?;

    write_handler(w, track.kind())?;
    let minf = w.start(b"minf");
    write_media_header_and_dinf(w, track.kind())?;

    let stbl = w.start(b"stbl");
    let at = write_sample_tables(w, plan, co64)?;
    w.end(stbl)?;
    w.end(minf)?;
    w.end(mdia)?;
    w.end(trak)?;
    Ok(at)
}

fn write_tkhd(w: &mut BoxWriter, plan: &TrackPlan<'_>) -> Result<(), ProgressiveError> {
    let track = plan.track;
    let (width, height) = match (track.kind(), track.video) {
        // Checked to fit in 16 bits when the tracks were accepted.
        (TrackKind::Video, Some(v)) => (v.width.min(0xffff), v.height.min(0xffff)),
        _ => (0, 0),
    };
    let v1 = needs_v1(plan.duration);
    let tkhd = w.start_full(b"tkhd", u8::from(v1), TKHD_FLAGS);
    put_sized(w, 0, v1); // creation_time
    put_sized(w, 0, v1); // modification_time
    w.put_u32(track.id);
    w.put_u32(0); // reserved
    put_sized(w, plan.duration, v1);
    w.put_zeros(8); // reserved
    w.put_i16(0); // layer
    w.put_i16(0); // alternate_group
    w.put_u16(match track.kind() {
        TrackKind::Audio => 0x0100,
        TrackKind::Video => 0,
    });
    w.put_u16(0); // reserved
    write_matrix(w);
    w.put_u32(width << 16);
    w.put_u32(height << 16);
    w.end(tkhd)?;
    Ok(())
}

fn write_edts(w: &mut BoxWriter, edit: &Edit) -> Result<(), ProgressiveError> {
    let v1 = needs_v1(edit.empty) || needs_v1(edit.segment) || edit.media_time > i32::MAX as u64;
    let edts = w.start(b"edts");
    let elst = w.start_full(b"elst", u8::from(v1), 0);
    w.put_u32(if edit.empty > 0 { 2 } else { 1 });
    if edit.empty > 0 {
        put_sized(w, edit.empty, v1);
        put_sized(w, u64::MAX, v1); // media_time -1: an empty edit
        w.put_i16(1); // media_rate_integer
        w.put_i16(0); // media_rate_fraction
    }
    put_sized(w, edit.segment, v1);
    put_sized(w, edit.media_time, v1);
    w.put_i16(1);
    w.put_i16(0);
    w.end(elst)?;
    w.end(edts)?;
    Ok(())
}

/// Writes `stsd` … `stco`/`co64`; returns where the chunk offset entries start.
fn write_sample_tables(
    w: &mut BoxWriter,
    plan: &TrackPlan<'_>,
    co64: bool,
) -> Result<usize, ProgressiveError> {
    let track = plan.track;
    let stsd = w.start_full(b"stsd", 0, 0);
    w.put_u32(1); // entry_count
    match track.codec {
        Codec::H264 => write_visual_entry(w, track, b"avc1", b"avcC")?,
        Codec::H265 => write_visual_entry(w, track, b"hvc1", b"hvcC")?,
        Codec::Aac => write_mp4a_entry(w, track)?,
    }
    w.end(stsd)?;

    let stts = w.start_full(b"stts", 0, 0);
    w.put_u32(count(plan.stts.len()));
    for &(n, delta) in &plan.stts {
        w.put_u32(n);
        w.put_u32(delta);
    }
    w.end(stts)?;

    if !plan.ctts.is_empty() {
        let ctts = w.start_full(b"ctts", u8::from(plan.ctts_signed), 0);
        w.put_u32(count(plan.ctts.len()));
        for &(n, offset) in &plan.ctts {
            w.put_u32(n);
            // Version 0 holds only non-negative offsets: the same bits.
            w.put_i32(offset);
        }
        w.end(ctts)?;
    }

    if let Some(sync) = &plan.sync {
        let stss = w.start_full(b"stss", 0, 0);
        w.put_u32(count(sync.len()));
        for &n in sync {
            w.put_u32(n);
        }
        w.end(stss)?;
    }

    let runs = chunk_runs(&plan.chunks);
    let stsc = w.start_full(b"stsc", 0, 0);
    w.put_u32(count(runs.len()));
    for (first_chunk, samples) in runs {
        w.put_u32(first_chunk);
        w.put_u32(samples);
        w.put_u32(1); // sample_description_index
    }
    w.end(stsc)?;

    let stsz = w.start_full(b"stsz", 0, 0);
    w.put_u32(0); // sample_size: every sample has its own
    w.put_u32(count(plan.samples.len()));
    for sample in plan.samples {
        w.put_u32(sample.size);
    }
    w.end(stsz)?;

    let offsets = w.start_full(if co64 { b"co64" } else { b"stco" }, 0, 0);
    w.put_u32(count(plan.chunks.len()));
    let at = w.len();
    w.put_zeros(plan.chunks.len().saturating_mul(if co64 { 8 } else { 4 }));
    w.end(offsets)?;
    Ok(at)
}

/// A table length as a 32-bit entry count (every table is bounded by
/// [`super::MAX_SAMPLES`], far below `u32::MAX`).
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
