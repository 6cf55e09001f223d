//! Incremental scanner for a fragmented MP4 byte stream, as a live viewer receives
//! it: top-level boxes arrive in arbitrary pieces. `moov` and `moof` bodies are
//! gathered into one reused buffer and parsed; everything else (`mdat` above all)
//! is skipped without being stored.
//!
//! From `moov` it learns the video track (track id, timescale, `trex` default
//! sample duration); from each `moof` it reports that track's `tfdt` base media
//! decode time and, when the durations are known, the fragment's duration.

use std::fmt;

/// Largest `moov` accepted.
pub const MAX_MOOV: u64 = 4 << 20;
/// Largest `moof` accepted.
pub const MAX_MOOF: u64 = 1 << 20;

/// Something in the stream that is not well-formed fragmented MP4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mp4Error {
    /// A box whose size is smaller than its own header.
    BadBoxSize { typ: [u8; 4], size: u64 },
    /// A `moov` or `moof` larger than its limit.
    TooLarge { typ: [u8; 4], size: u64 },
    /// A child box or field runs past the end of its parent.
    Truncated(&'static str),
    /// `moov` has no video track.
    NoVideoTrack,
    /// The video track's `mdhd` timescale is zero.
    ZeroTimescale,
    /// A `moof` came before any `moov`.
    MoofBeforeMoov,
    /// The video track's `traf` has no `tfdt`.
    NoTfdt,
}

impl fmt::Display for Mp4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadBoxSize { typ, size } => {
                write!(f, "box '{}' has bad size {size}", fourcc(typ))
            }
            Self::TooLarge { typ, size } => {
                write!(f, "box '{}' of {size} bytes is over the limit", fourcc(typ))
            }
            Self::Truncated(what) => write!(f, "truncated {what}"),
            Self::NoVideoTrack => f.write_str("moov has no video track"),
            Self::ZeroTimescale => f.write_str("video track timescale is 0"),
            Self::MoofBeforeMoov => f.write_str("moof before moov"),
            Self::NoTfdt => f.write_str("video traf has no tfdt"),
        }
    }
}

impl std::error::Error for Mp4Error {}

fn fourcc(typ: &[u8; 4]) -> String {
    typ.iter()
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
        .collect()
}

/// The video track, as described by the init segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoTrack {
    /// `tkhd` track id.
    pub track_id: u32,
    /// `mdhd` timescale (ticks per second).
    pub timescale: u32,
    /// `trex` default sample duration, if the movie has one for this track.
    pub default_duration: Option<u32>,
}

/// One fragment of the video track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// `tfdt` base media decode time, in timescale ticks.
    pub decode_time: u64,
    /// Sum of the sample durations, when `trun`, `tfhd` or `trex` gives them.
    pub duration: Option<u64>,
    /// Number of samples in the fragment's `trun`s.
    pub samples: u32,
}

/// What the scanner found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The init segment's `moov` was parsed.
    Init(VideoTrack),
    /// A `moof` with a fragment of the video track was parsed.
    Fragment(Fragment),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a box header into `head`.
    Header,
    /// Gathering a `moov`/`moof` body into `body`.
    Keep { typ: [u8; 4], remaining: u64 },
    /// Skipping a body.
    Skip { remaining: u64 },
    /// A box of size 0 runs to the end of the stream.
    Rest,
}

/// The incremental top-level box scanner. One per connection; it allocates only
/// when its `moov`/`moof` buffer first grows.
#[derive(Debug)]
pub struct BoxReader {
    head: [u8; 16],
    head_len: usize,
    head_need: usize,
    state: State,
    body: Vec<u8>,
    video: Option<VideoTrack>,
}

impl Default for BoxReader {
    fn default() -> Self {
        Self::new()
    }
}

impl BoxReader {
    /// A scanner at the start of a stream.
    pub fn new() -> Self {
        Self {
            head: [0; 16],
            head_len: 0,
            head_need: 8,
            state: State::Header,
            body: Vec::new(),
            video: None,
        }
    }

    /// The video track, once the `moov` has been seen.
    pub fn video(&self) -> Option<VideoTrack> {
        self.video
    }

    /// Consumes the next piece of the stream, calling `on_event` for each `moov`
    /// and video `moof` completed within it.
    pub fn feed<E>(
        &mut self,
        mut data: &[u8],
        on_event: &mut impl FnMut(Event) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: From<Mp4Error>,
    {
        while !data.is_empty() {
            match self.state {
                State::Header => {
                    let take = (self.head_need - self.head_len).min(data.len());
                    self.head[self.head_len..self.head_len + take].copy_from_slice(&data[..take]);
                    self.head_len += take;
                    data = &data[take..];
                    if self.head_len == 8 && self.head_need == 8 && be32(&self.head[..4]) == 1 {
                        self.head_need = 16; // 64-bit largesize follows
                        continue;
                    }
                    if self.head_len == self.head_need {
                        if let Some(event) = self.start_box()? {
                            on_event(event)?;
                        }
                    }
                }
                State::Keep { typ, remaining } => {
                    let take = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(data.len());
                    self.body.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    let remaining = remaining - take as u64;
                    self.state = State::Keep { typ, remaining };
                    if remaining == 0 {
                        if let Some(event) = self.finish_box(typ)? {
                            on_event(event)?;
                        }
                    }
                }
                State::Skip { remaining } => {
                    let take = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(data.len());
                    data = &data[take..];
                    let remaining = remaining - take as u64;
                    self.state = if remaining == 0 {
                        State::Header
                    } else {
                        State::Skip { remaining }
                    };
                }
                State::Rest => return Ok(()),
            }
        }
        Ok(())
    }

    /// A whole header is in `head`: decide what to do with the body.
    fn start_box(&mut self) -> Result<Option<Event>, Mp4Error> {
        let typ: [u8; 4] = [self.head[4], self.head[5], self.head[6], self.head[7]];
        let size = match be32(&self.head[..4]) {
            0 => None,
            1 => Some(be64(&self.head[8..16])),
            n => Some(u64::from(n)),
        };
        let header_len = self.head_need as u64;
        self.head_len = 0;
        self.head_need = 8;
        let Some(size) = size else {
            self.state = State::Rest;
            return Ok(None);
        };
        let body_len = size
            .checked_sub(header_len)
            .ok_or(Mp4Error::BadBoxSize { typ, size })?;
        let limit = match &typ {
            b"moov" => MAX_MOOV,
            b"moof" => MAX_MOOF,
            _ => {
                self.state = if body_len == 0 {
                    State::Header
                } else {
                    State::Skip {
                        remaining: body_len,
                    }
                };
                return Ok(None);
            }
        };
        if body_len > limit {
            return Err(Mp4Error::TooLarge { typ, size });
        }
        self.body.clear();
        self.state = State::Keep {
            typ,
            remaining: body_len,
        };
        if body_len == 0 {
            return self.finish_box(typ);
        }
        Ok(None)
    }

    /// A kept body is complete in `body`: parse it.
    fn finish_box(&mut self, typ: [u8; 4]) -> Result<Option<Event>, Mp4Error> {
        self.state = State::Header;
        if &typ == b"moov" {
            let video = parse_moov(&self.body)?;
            self.video = Some(video);
            Ok(Some(Event::Init(video)))
        } else {
            let video = self.video.ok_or(Mp4Error::MoofBeforeMoov)?;
            Ok(parse_moof(&self.body, &video)?.map(Event::Fragment))
        }
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// Iterates over the child boxes packed in a parent's body.
#[derive(Debug)]
struct Children<'a> {
    rest: &'a [u8],
}

fn children(body: &[u8]) -> Children<'_> {
    Children { rest: body }
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<([u8; 4], &'a [u8]), Mp4Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let buf = std::mem::take(&mut self.rest);
        if buf.len() < 8 {
            return Some(Err(Mp4Error::Truncated("child box header")));
        }
        let typ = [buf[4], buf[5], buf[6], buf[7]];
        let (header, size) = match be32(buf) {
            0 => (8, buf.len() as u64),
            1 if buf.len() >= 16 => (16, be64(&buf[8..])),
            1 => return Some(Err(Mp4Error::Truncated("child box header"))),
            n => (8, u64::from(n)),
        };
        if size < header {
            return Some(Err(Mp4Error::BadBoxSize { typ, size }));
        }
        if size > buf.len() as u64 {
            return Some(Err(Mp4Error::Truncated("child box")));
        }
        let size = size as usize;
        self.rest = &buf[size..];
        Some(Ok((typ, &buf[header as usize..size])))
    }
}

/// A bounds-checked reader over a box body.
#[derive(Debug)]
struct Cursor<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8], what: &'static str) -> Self {
        Self { buf, what }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Mp4Error> {
        if self.buf.len() < n {
            return Err(Mp4Error::Truncated(self.what));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, Mp4Error> {
        self.take(4).map(be32)
    }

    fn u64(&mut self) -> Result<u64, Mp4Error> {
        self.take(8).map(be64)
    }

    /// A full box's version and flags.
    fn version_flags(&mut self) -> Result<(u8, u32), Mp4Error> {
        let v = self.u32()?;
        Ok(((v >> 24) as u8, v & 0x00ff_ffff))
    }
}

/// Finds the first video track in a `moov` body.
pub fn parse_moov(moov: &[u8]) -> Result<VideoTrack, Mp4Error> {
    let mut video = None;
    for child in children(moov) {
        let (typ, body) = child?;
        if &typ == b"trak" && video.is_none() {
            video = parse_trak(body)?;
        }
    }
    let (track_id, timescale) = video.ok_or(Mp4Error::NoVideoTrack)?;
    if timescale == 0 {
        return Err(Mp4Error::ZeroTimescale);
    }
    let mut default_duration = None;
    for child in children(moov) {
        let (typ, body) = child?;
        if &typ != b"mvex" {
            continue;
        }
        for child in children(body) {
            let (typ, body) = child?;
            if &typ == b"trex" {
                let mut c = Cursor::new(body, "trex");
                c.version_flags()?;
                let id = c.u32()?;
                c.u32()?; // default_sample_description_index
                let duration = c.u32()?;
                if id == track_id {
                    default_duration = Some(duration);
                }
            }
        }
    }
    Ok(VideoTrack {
        track_id,
        timescale,
        default_duration,
    })
}

/// Returns `(track id, timescale)` if this `trak` is a video track.
fn parse_trak(trak: &[u8]) -> Result<Option<(u32, u32)>, Mp4Error> {
    let mut track_id = None;
    let mut timescale = None;
    let mut is_video = false;
    for child in children(trak) {
        let (typ, body) = child?;
        match &typ {
            b"tkhd" => {
                let mut c = Cursor::new(body, "tkhd");
                let (version, _) = c.version_flags()?;
                c.take(if version == 1 { 16 } else { 8 })?; // creation, modification
                track_id = Some(c.u32()?);
            }
            b"mdia" => {
                for child in children(body) {
                    let (typ, body) = child?;
                    match &typ {
                        b"mdhd" => {
                            let mut c = Cursor::new(body, "mdhd");
                            let (version, _) = c.version_flags()?;
                            c.take(if version == 1 { 16 } else { 8 })?;
                            timescale = Some(c.u32()?);
                        }
                        b"hdlr" => {
                            let mut c = Cursor::new(body, "hdlr");
                            c.version_flags()?;
                            c.u32()?; // pre_defined
                            is_video |= c.take(4)? == b"vide";
                        }
                        b"minf" => {
                            for child in children(body) {
                                is_video |= &child?.0 == b"vmhd";
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(match (is_video, track_id, timescale) {
        (true, Some(id), Some(ts)) => Some((id, ts)),
        _ => None,
    })
}

/// Parses a `moof` body, returning the video track's fragment if it has one.
pub fn parse_moof(moof: &[u8], video: &VideoTrack) -> Result<Option<Fragment>, Mp4Error> {
    for child in children(moof) {
        let (typ, body) = child?;
        if &typ == b"traf" {
            if let Some(fragment) = parse_traf(body, video)? {
                return Ok(Some(fragment));
            }
        }
    }
    Ok(None)
}

/// Parses a `traf`; `None` if it belongs to another track.
fn parse_traf(traf: &[u8], video: &VideoTrack) -> Result<Option<Fragment>, Mp4Error> {
    let mut track_id = None;
    let mut tfhd_duration = None;
    let mut decode_time = None;
    let mut samples: u32 = 0;
    let mut explicit_sum: u64 = 0;
    let mut implicit_samples: u64 = 0;
    for child in children(traf) {
        let (typ, body) = child?;
        match &typ {
            b"tfhd" => {
                let mut c = Cursor::new(body, "tfhd");
                let (_, flags) = c.version_flags()?;
                track_id = Some(c.u32()?);
                if flags & 0x01 != 0 {
                    c.u64()?; // base_data_offset
                }
                if flags & 0x02 != 0 {
                    c.u32()?; // sample_description_index
                }
                if flags & 0x08 != 0 {
                    tfhd_duration = Some(c.u32()?);
                }
            }
            b"tfdt" => {
                let mut c = Cursor::new(body, "tfdt");
                let (version, _) = c.version_flags()?;
                decode_time = Some(if version == 1 {
                    c.u64()?
                } else {
                    u64::from(c.u32()?)
                });
            }
            b"trun" => {
                let mut c = Cursor::new(body, "trun");
                let (_, flags) = c.version_flags()?;
                let count = c.u32()?;
                if flags & 0x01 != 0 {
                    c.u32()?; // data_offset
                }
                if flags & 0x04 != 0 {
                    c.u32()?; // first_sample_flags
                }
                samples = samples.saturating_add(count);
                let per_sample = 4 * (flags & 0xf00).count_ones() as usize;
                let table = per_sample
                    .checked_mul(count as usize)
                    .ok_or(Mp4Error::Truncated("trun"))?;
                let table = c.take(table)?;
                if flags & 0x100 != 0 {
                    for entry in table.chunks_exact(per_sample) {
                        explicit_sum = explicit_sum.saturating_add(u64::from(be32(entry)));
                    }
                } else {
                    implicit_samples += u64::from(count);
                }
            }
            _ => {}
        }
    }
    if track_id != Some(video.track_id) {
        return Ok(None);
    }
    let decode_time = decode_time.ok_or(Mp4Error::NoTfdt)?;
    let duration = if implicit_samples == 0 {
        Some(explicit_sum)
    } else {
        tfhd_duration
            .or(video.default_duration)
            .map(|d| explicit_sum.saturating_add(implicit_samples.saturating_mul(u64::from(d))))
    };
    Ok(Some(Fragment {
        decode_time,
        duration,
        samples,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(typ: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(typ);
        out.extend_from_slice(body);
        out
    }

    fn full(typ: &[u8; 4], version: u8, flags: u32, body: &[u8]) -> Vec<u8> {
        let mut b = ((u32::from(version) << 24) | flags).to_be_bytes().to_vec();
        b.extend_from_slice(body);
        bx(typ, &b)
    }

    fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
        parts.concat()
    }

    fn trak(id: u32, timescale: u32, handler: &[u8; 4], v1: bool) -> Vec<u8> {
        let times = if v1 { vec![0u8; 16] } else { vec![0u8; 8] };
        let tkhd = full(
            b"tkhd",
            u8::from(v1),
            3,
            &cat(&[times.clone(), id.to_be_bytes().to_vec(), vec![0; 60]]),
        );
        let mdhd = full(
            b"mdhd",
            u8::from(v1),
            0,
            &cat(&[times, timescale.to_be_bytes().to_vec(), vec![0; 8]]),
        );
        let hdlr = full(
            b"hdlr",
            0,
            0,
            &cat(&[vec![0; 4], handler.to_vec(), vec![0; 13]]),
        );
        let media_header = if handler == b"vide" {
            full(b"vmhd", 0, 1, &[0; 8])
        } else {
            full(b"smhd", 0, 0, &[0; 4])
        };
        let minf = bx(b"minf", &cat(&[media_header, bx(b"stbl", &[])]));
        bx(
            b"trak",
            &cat(&[tkhd, bx(b"mdia", &cat(&[mdhd, hdlr, minf]))]),
        )
    }

    fn init_segment() -> Vec<u8> {
        let trex = |id: u32, dur: u32| {
            full(
                b"trex",
                0,
                0,
                &cat(&[
                    id.to_be_bytes().to_vec(),
                    vec![0, 0, 0, 1],
                    dur.to_be_bytes().to_vec(),
                    vec![0; 8],
                ]),
            )
        };
        let moov = bx(
            b"moov",
            &cat(&[
                full(b"mvhd", 0, 0, &[0; 96]),
                trak(2, 48000, b"soun", false),
                trak(1, 15360, b"vide", true),
                bx(b"mvex", &cat(&[trex(2, 1024), trex(1, 512)])),
            ]),
        );
        cat(&[bx(b"ftyp", b"isom\0\0\0\x01isomiso6"), moov])
    }

    /// A moof with an audio traf and a video traf, then an mdat.
    fn fragment(
        tfdt: u64,
        tfdt_v1: bool,
        durations: Option<&[u32]>,
        samples: u32,
        mdat_len: usize,
    ) -> Vec<u8> {
        let audio = bx(
            b"traf",
            &cat(&[
                full(b"tfhd", 0, 0x020000, &2u32.to_be_bytes()),
                full(b"tfdt", 1, 0, &999_999u64.to_be_bytes()),
                full(b"trun", 0, 0x001, &cat(&[vec![0, 0, 0, 3], vec![0; 4]])),
            ]),
        );
        let tfdt = if tfdt_v1 {
            full(b"tfdt", 1, 0, &tfdt.to_be_bytes())
        } else {
            full(b"tfdt", 0, 0, &(tfdt as u32).to_be_bytes())
        };
        let trun = match durations {
            Some(d) => {
                let mut body = cat(&[(d.len() as u32).to_be_bytes().to_vec(), vec![0; 4]]);
                for &dur in d {
                    body.extend_from_slice(&dur.to_be_bytes());
                    body.extend_from_slice(&[0, 0, 1, 0]); // sample size
                }
                full(b"trun", 0, 0x301, &body)
            }
            None => full(
                b"trun",
                0,
                0x205,
                &cat(&[
                    samples.to_be_bytes().to_vec(),
                    vec![0; 8],
                    vec![0; 4 * samples as usize],
                ]),
            ),
        };
        let video = bx(
            b"traf",
            &cat(&[full(b"tfhd", 0, 0x020000, &1u32.to_be_bytes()), tfdt, trun]),
        );
        let moof = bx(
            b"moof",
            &cat(&[full(b"mfhd", 0, 0, &[0, 0, 0, 1]), audio, video]),
        );
        cat(&[moof, bx(b"mdat", &vec![0x5a; mdat_len])])
    }

    fn stream() -> Vec<u8> {
        cat(&[
            init_segment(),
            fragment(0, true, Some(&[512, 512, 256]), 0, 3000),
            bx(b"free", &[]),
            fragment(1280, false, None, 4, 70_000),
            // A largesize mdat between fragments.
            cat(&[
                1u32.to_be_bytes().to_vec(),
                b"mdat".to_vec(),
                21u64.to_be_bytes().to_vec(),
                vec![1; 5],
            ]),
            fragment(3328, true, Some(&[]), 0, 0),
        ])
    }

    fn expected() -> Vec<Event> {
        vec![
            Event::Init(VideoTrack {
                track_id: 1,
                timescale: 15360,
                default_duration: Some(512),
            }),
            Event::Fragment(Fragment {
                decode_time: 0,
                duration: Some(1280),
                samples: 3,
            }),
            Event::Fragment(Fragment {
                decode_time: 1280,
                duration: Some(2048),
                samples: 4,
            }),
            Event::Fragment(Fragment {
                decode_time: 3328,
                duration: Some(0),
                samples: 0,
            }),
        ]
    }

    fn scan(data: &[u8], sizes: &[usize]) -> Result<Vec<Event>, Mp4Error> {
        let mut reader = BoxReader::new();
        let mut events = Vec::new();
        let mut pos = 0;
        let mut k = 0;
        while pos < data.len() {
            let end = (pos + sizes[k % sizes.len()].max(1)).min(data.len());
            k += 1;
            reader.feed(&data[pos..end], &mut |e| {
                events.push(e);
                Ok::<(), Mp4Error>(())
            })?;
            pos = end;
        }
        Ok(events)
    }

    #[test]
    fn whole_and_odd_splits() {
        let data = stream();
        for sizes in [
            &[usize::MAX][..],
            &[1],
            &[2],
            &[3],
            &[7],
            &[13, 1, 64],
            &[4096],
            &[9, 8, 16, 1],
        ] {
            assert_eq!(scan(&data, sizes).unwrap(), expected(), "split {sizes:?}");
        }
    }

    #[test]
    fn every_two_way_split() {
        let data = stream();
        for cut in 0..data.len() {
            let mut reader = BoxReader::new();
            let mut events = Vec::new();
            for piece in [&data[..cut], &data[cut..]] {
                reader
                    .feed(piece, &mut |e| {
                        events.push(e);
                        Ok::<(), Mp4Error>(())
                    })
                    .unwrap();
            }
            assert_eq!(events, expected(), "cut at {cut}");
        }
    }

    #[test]
    fn size_zero_box_runs_to_end() {
        let data = cat(&[
            init_segment(),
            vec![0, 0, 0, 0],
            b"mdat".to_vec(),
            fragment(5, true, Some(&[1]), 0, 10),
        ]);
        assert_eq!(scan(&data, &[5]).unwrap().len(), 1);
    }

    #[test]
    fn errors() {
        assert_eq!(
            scan(&fragment(0, true, None, 1, 1), &[100]),
            Err(Mp4Error::MoofBeforeMoov)
        );
        assert_eq!(
            scan(&cat(&[vec![0, 0, 0, 4], b"free".to_vec()]), &[100]),
            Err(Mp4Error::BadBoxSize {
                typ: *b"free",
                size: 4
            })
        );
        let huge = cat(&[
            (MAX_MOOF as u32 + 100).to_be_bytes().to_vec(),
            b"moof".to_vec(),
        ]);
        assert!(matches!(scan(&huge, &[3]), Err(Mp4Error::TooLarge { .. })));
        let audio_only = bx(b"moov", &trak(2, 48000, b"soun", false));
        assert_eq!(scan(&audio_only, &[100]), Err(Mp4Error::NoVideoTrack));
        let overrun = bx(
            b"moov",
            &cat(&[vec![0, 0, 0, 100], b"trak".to_vec(), vec![0; 8]]),
        );
        assert_eq!(
            scan(&overrun, &[100]),
            Err(Mp4Error::Truncated("child box"))
        );
        let short_tkhd = bx(b"moov", &bx(b"trak", &full(b"tkhd", 0, 0, &[0; 4])));
        assert_eq!(scan(&short_tkhd, &[100]), Err(Mp4Error::Truncated("tkhd")));
    }

    #[test]
    fn traf_without_tfdt_and_unknown_duration() {
        let video = VideoTrack {
            track_id: 7,
            timescale: 90000,
            default_duration: None,
        };
        let traf = |with_tfdt: bool| {
            let mut parts = vec![full(b"tfhd", 0, 0, &7u32.to_be_bytes())];
            if with_tfdt {
                parts.push(full(b"tfdt", 0, 0, &42u32.to_be_bytes()));
            }
            parts.push(full(b"trun", 0, 0, &[0, 0, 0, 2]));
            bx(b"traf", &cat(&parts))
        };
        assert_eq!(parse_moof(&traf(false), &video), Err(Mp4Error::NoTfdt));
        assert_eq!(
            parse_moof(&traf(true), &video),
            Ok(Some(Fragment {
                decode_time: 42,
                duration: None,
                samples: 2
            }))
        );
        let other = VideoTrack {
            track_id: 8,
            ..video
        };
        assert_eq!(parse_moof(&traf(true), &other), Ok(None));
    }

    /// The real thing: ffmpeg's fragmented MP4 of the bundled clip (skipped when
    /// ffmpeg is not installed).
    #[test]
    fn ffmpeg_fragmented_demo_clip() {
        let clip = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/demo.mp4");
        let out = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i", clip, "-c", "copy", "-f", "mp4"])
            .args([
                "-movflags",
                "frag_keyframe+empty_moov+default_base_moof",
                "pipe:1",
            ])
            .output();
        let Ok(out) = out else {
            eprintln!("ffmpeg not found; skipping");
            return;
        };
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let events = scan(&out.stdout, &[1000, 3, 65536, 77]).unwrap();
        let Event::Init(video) = events[0] else {
            panic!("no init: {:?}", events[0])
        };
        assert!(video.timescale > 0);
        let fragments: Vec<Fragment> = events[1..]
            .iter()
            .map(|e| match e {
                Event::Fragment(f) => *f,
                Event::Init(_) => panic!("second init"),
            })
            .collect();
        assert_eq!(fragments.len(), 5, "one fragment per 2 s keyframe interval");
        let last = fragments[fragments.len() - 1];
        let end = last.decode_time + last.duration.unwrap();
        let seconds = (end - fragments[0].decode_time) as f64 / f64::from(video.timescale);
        assert!((seconds - 10.0).abs() < 0.1, "{seconds} s of video");
        let samples: u32 = fragments.iter().map(|f| f.samples).sum();
        assert_eq!(samples, 300);
    }
}
