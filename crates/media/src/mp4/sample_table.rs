//! The sample table (`stbl`) of one MP4 track: parsing the time-to-sample
//! (`stts`), composition offset (`ctts`), sync sample (`stss`), sample-to-chunk
//! (`stsc`), sample size (`stsz`/`stz2`) and chunk offset (`stco`/`co64`) boxes and
//! expanding them into one [`Sample`] per access unit (file offset, size, decode
//! time, composition offset, duration, keyframe flag).
//!
//! The boxes are read in place from the `moov` bytes; the only allocation is the
//! output index, sized after the sample count has been checked against
//! [`MAX_SAMPLES_PER_TRACK`]. Decode times start at zero here; edit lists are
//! applied by the demuxer.

use super::boxes::{FourCC, Reader};
use super::demux::Mp4Error;

/// Most samples one track may have: 6 million is over 27 hours of 60 fps video or
/// 35 hours of 48 kHz AAC. Each indexed sample costs 32 bytes of memory.
pub const MAX_SAMPLES_PER_TRACK: usize = 6_000_000;
/// Most chunks one track may have (a chunk holds at least one sample).
pub const MAX_CHUNKS_PER_TRACK: usize = MAX_SAMPLES_PER_TRACK;
/// Largest single sample accepted, in bytes (a very large 4K intra picture is a
/// few MiB); [`super::demux::Mp4File::read_frame`] allocates this much at most.
pub const MAX_SAMPLE_SIZE: u32 = 64 << 20;

/// Where one access unit lies in the file and when it is decoded and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Byte offset of the sample in the file.
    pub offset: u64,
    /// Length of the sample in bytes.
    pub size: u32,
    /// Decode timestamp in the track's timescale (after the edit list shift; may
    /// be negative for the first samples of a B-frame or primed AAC track).
    pub dts: i64,
    /// Presentation time minus decode time, in the track's timescale.
    pub pts_offset: i32,
    /// Time until the next sample's decode time, in the track's timescale.
    pub duration: u32,
    /// A sync sample: decoding can start here.
    pub keyframe: bool,
}

impl Sample {
    /// Presentation timestamp in the track's timescale.
    pub fn pts(&self) -> i64 {
        self.dts.saturating_add(i64::from(self.pts_offset))
    }
}

/// The boxes of one `stbl` that describe its samples, as found in the `moov`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SampleTableBoxes<'a> {
    pub stts: Option<&'a [u8]>,
    pub ctts: Option<&'a [u8]>,
    pub stss: Option<&'a [u8]>,
    pub stsc: Option<&'a [u8]>,
    /// `stsz` or `stz2` body, with which of the two it is.
    pub sizes: Option<(FourCC, &'a [u8])>,
    /// `stco` or `co64` body, with which of the two it is.
    pub chunks: Option<(FourCC, &'a [u8])>,
}

impl<'a> SampleTableBoxes<'a> {
    /// Picks the sample table boxes out of the children of an `stbl`.
    pub fn from_stbl(stbl: &'a [u8]) -> Result<Self, Mp4Error> {
        let mut out = SampleTableBoxes::default();
        for child in super::boxes::Boxes::new(stbl, "stbl") {
            let (kind, body) = child?;
            match &kind.0 {
                b"stts" => out.stts = out.stts.or(Some(body)),
                b"ctts" => out.ctts = out.ctts.or(Some(body)),
                b"stss" => out.stss = out.stss.or(Some(body)),
                b"stsc" => out.stsc = out.stsc.or(Some(body)),
                b"stsz" | b"stz2" => out.sizes = out.sizes.or(Some((kind, body))),
                b"stco" | b"co64" => out.chunks = out.chunks.or(Some((kind, body))),
                _ => {}
            }
        }
        Ok(out)
    }

    /// True when every chunk uses the first sample description (`stsd` entry 1),
    /// the only case the demuxer supports.
    pub fn uses_only_first_description(&self) -> Result<bool, Mp4Error> {
        let stsc = self.stsc.ok_or(Mp4Error::MissingBox {
            path: "moov/trak/mdia/minf/stbl/stsc",
        })?;
        let (mut r, count) = table(stsc, "stsc", 12, MAX_CHUNKS_PER_TRACK, "stsc entry count")?;
        for _ in 0..count {
            r.skip(8)?;
            if r.u32()? != 1 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The number of samples the size table lists (checked against
    /// [`MAX_SAMPLES_PER_TRACK`]), read without building anything.
    pub fn sample_count(&self) -> Result<usize, Mp4Error> {
        let (kind, body) = self.sizes.ok_or(Mp4Error::MissingBox {
            path: "moov/trak/mdia/minf/stbl/stsz",
        })?;
        Ok(SampleSizes::parse(kind, body)?.count)
    }

    /// Expands the tables into one [`Sample`] per access unit, in decode order.
    /// Every sample must lie inside the first `data_end` bytes of the file (its
    /// length), so that reading any indexed sample later cannot fail on a
    /// well-formed source.
    pub fn build(&self, data_end: u64) -> Result<Vec<Sample>, Mp4Error> {
        let stts = self.stts.ok_or(Mp4Error::MissingBox {
            path: "moov/trak/mdia/minf/stbl/stts",
        })?;
        let stsc = self.stsc.ok_or(Mp4Error::MissingBox {
            path: "moov/trak/mdia/minf/stbl/stsc",
        })?;
        let (size_kind, size_body) = self.sizes.ok_or(Mp4Error::MissingBox {
            path: "moov/trak/mdia/minf/stbl/stsz",
        })?;
        let (chunk_kind, chunk_body) = self.chunks.ok_or(Mp4Error::MissingBox {
            path: "moov/trak/mdia/minf/stbl/stco",
        })?;

        let mut sizes = SampleSizes::parse(size_kind, size_body)?;
        let count = sizes.count;
        let mut samples: Vec<Sample> = Vec::with_capacity(count);
        place_samples(
            &mut samples,
            &mut sizes,
            stsc,
            chunk_kind,
            chunk_body,
            data_end,
        )?;
        apply_stts(&mut samples, stts)?;
        if let Some(ctts) = self.ctts {
            apply_ctts(&mut samples, ctts)?;
            make_offsets_non_negative(&mut samples)?;
        }
        match self.stss {
            Some(stss) => apply_stss(&mut samples, stss)?,
            None => samples.iter_mut().for_each(|s| s.keyframe = true),
        }
        Ok(samples)
    }
}

/// Reads a FullBox header and a 32-bit entry count, checks the count against
/// `limit` and that the entries fit in the box, and returns a reader positioned at
/// the first entry.
fn table<'a>(
    body: &'a [u8],
    what: &'static str,
    entry_len: u64,
    limit: usize,
    limit_name: &'static str,
) -> Result<(Reader<'a>, usize), Mp4Error> {
    let mut r = Reader::new(body, what);
    r.version_flags()?;
    let count = r.u32()?;
    check_limit(limit_name, u64::from(count), limit)?;
    let count = r.check_entries(u64::from(count), entry_len)?;
    Ok((r, count))
}

fn check_limit(what: &'static str, value: u64, limit: usize) -> Result<(), Mp4Error> {
    if value > limit as u64 {
        return Err(Mp4Error::TooLarge {
            what,
            value,
            limit: limit as u64,
        });
    }
    Ok(())
}

/// The sample sizes of `stsz` (32-bit or one constant size) or `stz2` (4, 8 or
/// 16-bit fields), read one by one in sample order.
#[derive(Debug)]
struct SampleSizes<'a> {
    count: usize,
    /// Non-zero when every sample has this size (`stsz` only).
    constant: u32,
    /// Bits per entry: 4, 8, 16 or 32.
    field_bits: u8,
    entries: &'a [u8],
    next: usize,
}

impl<'a> SampleSizes<'a> {
    fn parse(kind: FourCC, body: &'a [u8]) -> Result<Self, Mp4Error> {
        let mut r = Reader::new(body, if kind.0 == *b"stz2" { "stz2" } else { "stsz" });
        r.version_flags()?;
        let (constant, field_bits) = if kind.0 == *b"stz2" {
            r.skip(3)?;
            let bits = r.u8()?;
            if !matches!(bits, 4 | 8 | 16) {
                return Err(Mp4Error::Invalid {
                    what: format!("'stz2' has a field size of {bits} bits (4, 8 or 16 allowed)"),
                });
            }
            (0, bits)
        } else {
            (r.u32()?, 32)
        };
        let count = r.u32()?;
        check_limit("sample count", u64::from(count), MAX_SAMPLES_PER_TRACK)?;
        let count = count as usize;
        if constant == 0 {
            // Table bytes: count * bits / 8, rounded up for 4-bit fields.
            let bits = (count as u64).saturating_mul(u64::from(field_bits));
            r.check_entries(bits.div_ceil(8), 1)?;
        }
        Ok(SampleSizes {
            count,
            constant,
            field_bits,
            entries: r.rest(),
            next: 0,
        })
    }

    /// The size of the next sample, or `None` once all `count` were read.
    fn next_size(&mut self) -> Option<u32> {
        if self.next >= self.count {
            return None;
        }
        let i = self.next;
        self.next += 1;
        if self.constant != 0 {
            return Some(self.constant);
        }
        let at = |n: usize| self.entries.get(n).copied().map(u32::from);
        match self.field_bits {
            4 => {
                let byte = at(i / 2)?;
                // High nibble first.
                Some(if i & 1 == 0 { byte >> 4 } else { byte & 0x0f })
            }
            8 => at(i),
            16 => Some(at(i * 2)? << 8 | at(i * 2 + 1)?),
            _ => {
                Some(at(i * 4)? << 24 | at(i * 4 + 1)? << 16 | at(i * 4 + 2)? << 8 | at(i * 4 + 3)?)
            }
        }
    }
}

/// Walks `stsc` over the chunk offsets and assigns each sample its offset and size.
fn place_samples(
    samples: &mut Vec<Sample>,
    sizes: &mut SampleSizes<'_>,
    stsc: &[u8],
    chunk_kind: FourCC,
    chunk_body: &[u8],
    data_end: u64,
) -> Result<(), Mp4Error> {
    let wide = chunk_kind.0 == *b"co64";
    let chunk_what = if wide { "co64" } else { "stco" };
    let (mut chunks, chunk_count) = table(
        chunk_body,
        chunk_what,
        if wide { 8 } else { 4 },
        MAX_CHUNKS_PER_TRACK,
        "chunk count",
    )?;
    let (mut runs, run_count) = table(stsc, "stsc", 12, MAX_CHUNKS_PER_TRACK, "stsc entry count")?;
    let total = sizes.count;

    // Each stsc entry covers chunks [first_chunk, next entry's first_chunk).
    let mut entry = if run_count > 0 {
        Some(read_run(&mut runs)?)
    } else {
        None
    };
    let mut read_runs = 1usize;
    let mut chunk_number: u64 = 1;
    while let Some((first_chunk, per_chunk)) = entry {
        if u64::from(first_chunk) != chunk_number {
            return Err(Mp4Error::Invalid {
                what: format!(
                    "'stsc' starts a run at chunk {first_chunk} where chunk {chunk_number} was expected"
                ),
            });
        }
        let next = if read_runs < run_count {
            read_runs += 1;
            Some(read_run(&mut runs)?)
        } else {
            None
        };
        let run_end = match next {
            Some((next_first, _)) if next_first <= first_chunk => {
                return Err(Mp4Error::Invalid {
                    what: format!(
                        "'stsc' runs are out of order (chunk {next_first} after chunk {first_chunk})"
                    ),
                });
            }
            Some((next_first, _)) => u64::from(next_first),
            None => chunk_count as u64 + 1,
        };
        while chunk_number < run_end && samples.len() < total {
            if chunk_number > chunk_count as u64 {
                tracing::debug!(
                    chunk_number,
                    chunk_count,
                    "stsc names chunks past the chunk table"
                );
                break;
            }
            let mut offset = if wide {
                chunks.u64()?
            } else {
                u64::from(chunks.u32()?)
            };
            for _ in 0..per_chunk {
                let Some(size) = sizes.next_size() else { break };
                place_one(samples, offset, size, data_end)?;
                offset = offset.saturating_add(u64::from(size));
            }
            chunk_number += 1;
        }
        if samples.len() >= total || chunk_number > chunk_count as u64 {
            break;
        }
        entry = next;
    }
    if samples.len() < total {
        return Err(Mp4Error::Invalid {
            what: format!(
                "the chunk tables place {} samples but the size table lists {total}",
                samples.len()
            ),
        });
    }
    Ok(())
}

/// One `stsc` entry: first chunk number and samples per chunk (the sample
/// description index is checked separately).
fn read_run(r: &mut Reader<'_>) -> Result<(u32, u32), Mp4Error> {
    let first_chunk = r.u32()?;
    let per_chunk = r.u32()?;
    r.skip(4)?;
    Ok((first_chunk, per_chunk))
}

fn place_one(
    samples: &mut Vec<Sample>,
    offset: u64,
    size: u32,
    data_end: u64,
) -> Result<(), Mp4Error> {
    if size > MAX_SAMPLE_SIZE {
        return Err(Mp4Error::TooLarge {
            what: "sample size",
            value: u64::from(size),
            limit: u64::from(MAX_SAMPLE_SIZE),
        });
    }
    let end = offset.checked_add(u64::from(size));
    if !matches!(end, Some(end) if end <= data_end) {
        return Err(Mp4Error::Invalid {
            what: format!(
                "sample {} ({size} bytes at offset {offset}) lies past the end of the \
                 {data_end}-byte file (the file looks truncated)",
                samples.len()
            ),
        });
    }
    samples.push(Sample {
        offset,
        size,
        dts: 0,
        pts_offset: 0,
        duration: 0,
        keyframe: false,
    });
    Ok(())
}

/// Decode times and durations from `stts` (runs of equal durations).
fn apply_stts(samples: &mut [Sample], stts: &[u8]) -> Result<(), Mp4Error> {
    let (mut r, entries) = table(stts, "stts", 8, MAX_SAMPLES_PER_TRACK, "stts entry count")?;
    let mut slots = samples.iter_mut();
    let mut dts: i64 = 0;
    let mut covered = 0usize;
    'runs: for _ in 0..entries {
        let run = r.u32()?;
        let delta = r.u32()?;
        for _ in 0..run {
            let Some(sample) = slots.next() else {
                break 'runs;
            };
            sample.dts = dts;
            sample.duration = delta;
            dts = dts.checked_add(i64::from(delta)).ok_or(Mp4Error::Invalid {
                what: "'stts' decode times overflow".to_string(),
            })?;
            covered += 1;
        }
    }
    if covered < samples.len() {
        return Err(Mp4Error::Invalid {
            what: format!(
                "'stts' gives times to {covered} samples but the track has {}",
                samples.len()
            ),
        });
    }
    Ok(())
}

/// Composition offsets from `ctts`. Offsets are read as signed in both versions
/// (version 0 writers that mean negative offsets exist; no real offset reaches
/// 2^31). Samples past the end of a short table keep offset zero.
fn apply_ctts(samples: &mut [Sample], ctts: &[u8]) -> Result<(), Mp4Error> {
    let (mut r, entries) = table(ctts, "ctts", 8, MAX_SAMPLES_PER_TRACK, "ctts entry count")?;
    let mut slots = samples.iter_mut();
    let mut covered = 0usize;
    'runs: for _ in 0..entries {
        let run = r.u32()?;
        let offset = r.i32()?;
        for _ in 0..run {
            let Some(sample) = slots.next() else {
                break 'runs;
            };
            sample.pts_offset = offset;
            covered += 1;
        }
    }
    if covered < samples.len() {
        tracing::debug!(
            covered,
            samples = samples.len(),
            "ctts shorter than the track"
        );
    }
    Ok(())
}

/// When the file stores negative composition offsets (`ctts` version 1), moves
/// every decode time earlier by the most negative offset and raises every offset
/// by as much: presentation times stay the same and no sample is presented before
/// it is decoded (ffmpeg reads such files the same way).
fn make_offsets_non_negative(samples: &mut [Sample]) -> Result<(), Mp4Error> {
    let min = samples.iter().map(|s| s.pts_offset).min().unwrap_or(0);
    if min >= 0 {
        return Ok(());
    }
    let shift = i64::from(min).unsigned_abs();
    let overflow = || Mp4Error::Invalid {
        what: "'ctts' composition offsets span more than 2^31 ticks".to_string(),
    };
    for sample in samples {
        let offset = i64::from(sample.pts_offset) - i64::from(min);
        sample.pts_offset = i32::try_from(offset).map_err(|_| overflow())?;
        sample.dts = sample
            .dts
            .checked_sub_unsigned(shift)
            .ok_or_else(overflow)?;
    }
    Ok(())
}

/// Keyframe flags from `stss` (1-based sample numbers). Numbers outside the track
/// are ignored.
fn apply_stss(samples: &mut [Sample], stss: &[u8]) -> Result<(), Mp4Error> {
    let (mut r, entries) = table(stss, "stss", 4, MAX_SAMPLES_PER_TRACK, "stss entry count")?;
    let mut ignored = 0usize;
    for _ in 0..entries {
        let number = r.u32()? as usize;
        match number.checked_sub(1).and_then(|i| samples.get_mut(i)) {
            Some(sample) => sample.keyframe = true,
            None => ignored += 1,
        }
    }
    if ignored > 0 {
        tracing::debug!(ignored, "stss names samples outside the track");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(entries: &[&[u8]], count: u32, prefix: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, 0, 0];
        out.extend_from_slice(prefix);
        out.extend_from_slice(&count.to_be_bytes());
        for e in entries {
            out.extend_from_slice(e);
        }
        out
    }

    fn pair(a: u32, b: u32) -> Vec<u8> {
        [a.to_be_bytes(), b.to_be_bytes()].concat()
    }

    fn triple(a: u32, b: u32, c: u32) -> Vec<u8> {
        [a.to_be_bytes(), b.to_be_bytes(), c.to_be_bytes()].concat()
    }

    struct Tables {
        stts: Vec<u8>,
        ctts: Vec<u8>,
        stss: Vec<u8>,
        stsc: Vec<u8>,
        stsz: Vec<u8>,
        stco: Vec<u8>,
    }

    /// Five samples in two chunks (3 + 2), B-frame style offsets, keyframes 1 and 4.
    fn tables() -> Tables {
        Tables {
            stts: full(&[&pair(5, 512)], 1, &[]),
            ctts: full(&[&pair(1, 1024), &pair(2, 0), &pair(2, 512)], 3, &[]),
            stss: full(&[&1u32.to_be_bytes(), &4u32.to_be_bytes()], 2, &[]),
            stsc: full(&[&triple(1, 3, 1), &triple(2, 2, 1)], 2, &[]),
            stsz: full(
                &[
                    &10u32.to_be_bytes(),
                    &20u32.to_be_bytes(),
                    &30u32.to_be_bytes(),
                    &40u32.to_be_bytes(),
                    &50u32.to_be_bytes(),
                ],
                5,
                &0u32.to_be_bytes(),
            ),
            stco: full(&[&100u32.to_be_bytes(), &1000u32.to_be_bytes()], 2, &[]),
        }
    }

    fn boxes(t: &Tables) -> SampleTableBoxes<'_> {
        SampleTableBoxes {
            stts: Some(&t.stts),
            ctts: Some(&t.ctts),
            stss: Some(&t.stss),
            stsc: Some(&t.stsc),
            sizes: Some((FourCC(*b"stsz"), &t.stsz)),
            chunks: Some((FourCC(*b"stco"), &t.stco)),
        }
    }

    #[test]
    fn tables_expand_into_samples() {
        let t = tables();
        let samples = boxes(&t).build(10_000).unwrap();
        let got: Vec<_> = samples
            .iter()
            .map(|s| {
                (
                    s.offset,
                    s.size,
                    s.dts,
                    s.pts_offset,
                    s.duration,
                    s.keyframe,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (100, 10, 0, 1024, 512, true),
                (110, 20, 512, 0, 512, false),
                (130, 30, 1024, 0, 512, false),
                (1000, 40, 1536, 512, 512, true),
                (1040, 50, 2048, 512, 512, false),
            ]
        );
        assert!(boxes(&t).uses_only_first_description().unwrap());
    }

    #[test]
    fn compact_sizes_and_64_bit_offsets_are_read() {
        let mut t = tables();
        // stz2 with 4-bit fields: 1, 2, 3, 4, 5 (padded to whole bytes).
        let mut stz2 = vec![0, 0, 0, 0, 0, 0, 0, 4];
        stz2.extend_from_slice(&5u32.to_be_bytes());
        stz2.extend_from_slice(&[0x12, 0x34, 0x50]);
        let mut co64 = vec![0, 0, 0, 0];
        co64.extend_from_slice(&2u32.to_be_bytes());
        co64.extend_from_slice(&(5u64 << 32).to_be_bytes());
        co64.extend_from_slice(&((5u64 << 32) + 100).to_be_bytes());
        t.ctts.clear();
        let mut b = boxes(&t);
        b.ctts = None;
        b.stss = None;
        b.sizes = Some((FourCC(*b"stz2"), &stz2));
        b.chunks = Some((FourCC(*b"co64"), &co64));
        let samples = b.build(6u64 << 32).unwrap();
        let sizes: Vec<u32> = samples.iter().map(|s| s.size).collect();
        assert_eq!(sizes, [1, 2, 3, 4, 5]);
        assert_eq!(samples[1].offset, (5u64 << 32) + 1);
        assert_eq!(samples[3].offset, (5u64 << 32) + 100);
        assert!(samples.iter().all(|s| s.keyframe));
    }

    #[test]
    fn a_huge_sample_count_is_refused_before_allocating() {
        let mut t = tables();
        // Constant size 1, 2^32 - 1 samples: nothing else in the box.
        t.stsz = full(&[], u32::MAX, &1u32.to_be_bytes());
        let err = boxes(&t).build(u64::MAX).unwrap_err();
        assert!(
            matches!(
                err,
                Mp4Error::TooLarge {
                    what: "sample count",
                    ..
                }
            ),
            "{err}"
        );
        // A count under the limit whose table is missing its bytes.
        t.stsz = full(&[], 1000, &0u32.to_be_bytes());
        assert!(boxes(&t).build(u64::MAX).is_err());
    }

    #[test]
    fn inconsistent_tables_are_errors() {
        let t = tables();
        // Samples past the end of the file.
        assert!(boxes(&t).build(1050).is_err());
        // stts too short.
        let short = full(&[&pair(4, 512)], 1, &[]);
        let mut b = boxes(&t);
        b.stts = Some(&short);
        assert!(b.build(10_000).is_err());
        // stsc covering fewer samples than stsz.
        let stsc = full(&[&triple(1, 1, 1)], 1, &[]);
        let mut b = boxes(&t);
        b.stsc = Some(&stsc);
        assert!(b.build(10_000).is_err());
        // stsc not starting at chunk 1, and out of order.
        let stsc = full(&[&triple(2, 3, 1)], 1, &[]);
        b.stsc = Some(&stsc);
        assert!(b.build(10_000).is_err());
        let stsc = full(&[&triple(1, 3, 1), &triple(1, 2, 1)], 2, &[]);
        b.stsc = Some(&stsc);
        assert!(b.build(10_000).is_err());
        // Missing boxes.
        let mut b = boxes(&t);
        b.chunks = None;
        assert!(matches!(b.build(10_000), Err(Mp4Error::MissingBox { .. })));
        // A second sample description is noticed.
        let stsc = full(&[&triple(1, 3, 1), &triple(2, 2, 2)], 2, &[]);
        let mut b = boxes(&t);
        b.stsc = Some(&stsc);
        assert!(!b.uses_only_first_description().unwrap());
    }

    #[test]
    fn negative_composition_offsets_move_decode_times_instead() {
        let mut t = tables();
        t.ctts = full(
            &[&pair(1, 512), &pair(1, (-512i32) as u32), &pair(3, 0)],
            3,
            &[],
        );
        t.ctts[0] = 1;
        let samples = boxes(&t).build(10_000).unwrap();
        let got: Vec<(i64, i64)> = samples.iter().map(|s| (s.dts, s.pts())).collect();
        assert_eq!(
            got,
            [(-512, 512), (0, 0), (512, 1024), (1024, 1536), (1536, 2048)]
        );
        assert!(samples.iter().all(|s| s.pts_offset >= 0));
    }

    #[test]
    fn out_of_range_sync_samples_and_short_ctts_are_tolerated() {
        let t = tables();
        let stss = full(
            &[
                &0u32.to_be_bytes(),
                &99u32.to_be_bytes(),
                &2u32.to_be_bytes(),
            ],
            3,
            &[],
        );
        let ctts = full(&[&pair(2, 7)], 1, &[]);
        let mut b = boxes(&t);
        b.stss = Some(&stss);
        b.ctts = Some(&ctts);
        let samples = b.build(10_000).unwrap();
        let keys: Vec<bool> = samples.iter().map(|s| s.keyframe).collect();
        assert_eq!(keys, [false, true, false, false, false]);
        let offsets: Vec<i32> = samples.iter().map(|s| s.pts_offset).collect();
        assert_eq!(offsets, [7, 7, 0, 0, 0]);
    }
}
