//! DASH manifests (ISO/IEC 23009-1, live profile): one MPD with one period, an
//! adaptation set per media type, and a `SegmentTemplate` with a
//! `SegmentTimeline` per adaptation set, shared by its representations.
//!
//! * [`Presentation::Static`] is on-demand (`mediaPresentationDuration`);
//!   [`Presentation::Dynamic`] is live (`availabilityStartTime`, `publishTime`,
//!   `minimumUpdatePeriod`, and optionally `timeShiftBufferDepth` and
//!   `suggestedPresentationDelay`).
//! * The timeline is given segment by segment and written run-length compressed:
//!   contiguous segments of equal duration fold into one `<S d r>`, and `t` is
//!   written only where the timeline starts or after a gap.
//! * Templates are checked: only the identifiers the standard defines, `$Number$`
//!   or `$Time$` (not both) in `media`, neither in `initialization`.
//! * Every attribute value is XML-escaped; control characters are errors.

use std::fmt::Write as _;

use super::{
    check_count, check_nonempty, check_uri, push_xml_escaped, time, FrameRate, PlaylistError,
    MAX_ADAPTATION_SETS, MAX_REPRESENTATIONS, MAX_SEGMENTS,
};

/// Scheme of `AudioChannelConfiguration` whose value is the channel count.
const CHANNEL_CONFIGURATION_SCHEME: &str = "urn:mpeg:dash:23003:3:audio_channel_configuration:2011";

/// Static (on-demand) or dynamic (live) presentation, with the timing attributes
/// each needs. Times are Unix milliseconds, durations milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presentation {
    /// `type="static"`.
    Static {
        /// `mediaPresentationDuration`.
        duration_ms: u64,
    },
    /// `type="dynamic"`.
    Dynamic {
        /// `availabilityStartTime`: the wall-clock time of media time 0 (minus
        /// any `presentationTimeOffset`).
        availability_start_ms: i64,
        /// `publishTime`: when this version of the MPD was made.
        publish_ms: i64,
        /// `minimumUpdatePeriod`: how soon a client may fetch the MPD again.
        min_update_period_ms: u64,
        /// `timeShiftBufferDepth`: the DVR window; `None` for unlimited.
        time_shift_buffer_ms: Option<u64>,
        /// `suggestedPresentationDelay`: how far behind live to play.
        suggested_delay_ms: Option<u64>,
    },
}

/// How clients synchronise their clock with the server's (`UTCTiming`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UtcTiming<'a> {
    /// `urn:mpeg:dash:utc:http-iso:2014`: a URL answering an ISO 8601 time.
    HttpIso(&'a str),
    /// `urn:mpeg:dash:utc:http-xsdate:2014`: a URL answering an xs:dateTime.
    HttpXsDate(&'a str),
    /// `urn:mpeg:dash:utc:direct:2014`: the time, written into the MPD itself.
    Direct { now_ms: i64 },
}

/// What an adaptation set carries (`contentType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    Video,
    Audio,
}

impl ContentType {
    fn as_str(self) -> &'static str {
        match self {
            ContentType::Video => "video",
            ContentType::Audio => "audio",
        }
    }
}

/// One segment of a timeline, in the template's timescale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineEntry {
    /// Earliest presentation time.
    pub start: u64,
    /// More than 0.
    pub duration: u64,
}

/// A run of contiguous segments of equal duration: one `<S t d r>`, `repeat` being
/// the number of segments after the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineRun {
    pub start: u64,
    pub duration: u64,
    pub repeat: u64,
}

/// A `SegmentTemplate` with its `SegmentTimeline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentTemplate<'a> {
    /// Ticks per second of the timeline, more than 0.
    pub timescale: u32,
    /// Initialization segment URL template (`$RepresentationID$/init.mp4`).
    pub initialization: &'a str,
    /// Media segment URL template with `$Number$` or `$Time$`
    /// (`$RepresentationID$/$Number$.m4s`).
    pub media: &'a str,
    /// `$Number$` of the first timeline segment.
    pub start_number: u64,
    /// `presentationTimeOffset`, in timescale ticks (written when not 0).
    pub presentation_time_offset: u64,
    /// The segments, in order; at most [`MAX_SEGMENTS`].
    pub timeline: &'a [TimelineEntry],
}

/// Video attributes of a representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoAttributes {
    pub width: u32,
    pub height: u32,
    pub frame_rate: Option<FrameRate>,
}

/// Audio attributes of a representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioAttributes {
    /// `audioSamplingRate`, Hz.
    pub sample_rate: u32,
    /// `AudioChannelConfiguration` value.
    pub channels: u16,
}

/// One encoding of an adaptation set's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Representation<'a> {
    /// Unique in the MPD, no whitespace; what `$RepresentationID$` becomes.
    pub id: &'a str,
    /// RFC 6381 codec string (`avc1.64001f`, `mp4a.40.2`).
    pub codecs: &'a str,
    /// Bits per second.
    pub bandwidth: u64,
    pub video: Option<VideoAttributes>,
    pub audio: Option<AudioAttributes>,
}

/// An adaptation set: interchangeable representations of one content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaptationSet<'a> {
    /// Unique in the MPD.
    pub id: u32,
    pub content_type: ContentType,
    /// `video/mp4`, `audio/mp4`.
    pub mime_type: &'a str,
    /// RFC 5646 language (`lang`).
    pub lang: Option<&'a str>,
    pub segments: SegmentTemplate<'a>,
    /// At least one, at most [`MAX_REPRESENTATIONS`].
    pub representations: &'a [Representation<'a>],
}

/// A whole MPD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mpd<'a> {
    pub presentation: Presentation,
    /// `minBufferTime`, ms.
    pub min_buffer_ms: u64,
    /// At least one, at most [`MAX_ADAPTATION_SETS`].
    pub adaptation_sets: &'a [AdaptationSet<'a>],
    pub utc_timing: Option<UtcTiming<'a>>,
}

/// Renders an MPD.
pub fn render_mpd(m: &Mpd<'_>) -> Result<String, PlaylistError> {
    check_mpd(m)?;
    let capacity = 640
        + m.adaptation_sets
            .iter()
            .map(|set| {
                let t = &set.segments;
                480 + t.initialization.len()
                    + t.media.len()
                    + t.timeline.len() * 48
                    + set
                        .representations
                        .iter()
                        .map(|r| 256 + r.id.len() + r.codecs.len())
                        .sum::<usize>()
            })
            .sum::<usize>();
    let mut out = String::with_capacity(capacity);
    out.push_str(concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\"",
        " profiles=\"urn:mpeg:dash:profile:isoff-live:2011\""
    ));
    match m.presentation {
        Presentation::Static { duration_ms } => {
            out.push_str(" type=\"static\" mediaPresentationDuration=\"");
            time::write_duration(&mut out, duration_ms);
            out.push('"');
        }
        Presentation::Dynamic {
            availability_start_ms,
            publish_ms,
            min_update_period_ms,
            time_shift_buffer_ms,
            suggested_delay_ms,
        } => {
            out.push_str(" type=\"dynamic\" availabilityStartTime=\"");
            time::write_date_time(&mut out, availability_start_ms)?;
            out.push_str("\" publishTime=\"");
            time::write_date_time(&mut out, publish_ms)?;
            out.push_str("\" minimumUpdatePeriod=\"");
            time::write_duration(&mut out, min_update_period_ms);
            out.push('"');
            if let Some(ms) = time_shift_buffer_ms {
                out.push_str(" timeShiftBufferDepth=\"");
                time::write_duration(&mut out, ms);
                out.push('"');
            }
            if let Some(ms) = suggested_delay_ms {
                out.push_str(" suggestedPresentationDelay=\"");
                time::write_duration(&mut out, ms);
                out.push('"');
            }
        }
    }
    out.push_str(" minBufferTime=\"");
    time::write_duration(&mut out, m.min_buffer_ms);
    out.push_str("\">\n  <Period id=\"0\" start=\"PT0S\">\n");
    for set in m.adaptation_sets {
        write_adaptation_set(&mut out, set);
    }
    out.push_str("  </Period>\n");
    if let Some(timing) = m.utc_timing {
        out.push_str("  <UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:");
        match timing {
            UtcTiming::HttpIso(url) => {
                out.push_str("http-iso:2014\" value=\"");
                push_xml_escaped(&mut out, url);
            }
            UtcTiming::HttpXsDate(url) => {
                out.push_str("http-xsdate:2014\" value=\"");
                push_xml_escaped(&mut out, url);
            }
            UtcTiming::Direct { now_ms } => {
                out.push_str("direct:2014\" value=\"");
                time::write_date_time(&mut out, now_ms)?;
            }
        }
        out.push_str("\"/>\n");
    }
    out.push_str("</MPD>\n");
    Ok(out)
}

fn write_adaptation_set(out: &mut String, set: &AdaptationSet<'_>) {
    let _ = write!(
        out,
        "    <AdaptationSet id=\"{}\" contentType=\"{}\" mimeType=\"",
        set.id,
        set.content_type.as_str()
    );
    push_xml_escaped(out, set.mime_type);
    out.push('"');
    if let Some(lang) = set.lang {
        out.push_str(" lang=\"");
        push_xml_escaped(out, lang);
        out.push('"');
    }
    out.push_str(" segmentAlignment=\"true\" startWithSAP=\"1\">\n");

    let t = &set.segments;
    let _ = write!(out, "      <SegmentTemplate timescale=\"{}\"", t.timescale);
    if t.presentation_time_offset > 0 {
        let _ = write!(
            out,
            " presentationTimeOffset=\"{}\"",
            t.presentation_time_offset
        );
    }
    out.push_str(" initialization=\"");
    push_xml_escaped(out, t.initialization);
    out.push_str("\" media=\"");
    push_xml_escaped(out, t.media);
    let _ = writeln!(out, "\" startNumber=\"{}\">", t.start_number);
    out.push_str("        <SegmentTimeline>\n");
    write_timeline_runs(out, t.timeline, "          ");
    out.push_str("        </SegmentTimeline>\n      </SegmentTemplate>\n");

    for r in set.representations {
        out.push_str("      <Representation id=\"");
        push_xml_escaped(out, r.id);
        out.push_str("\" codecs=\"");
        push_xml_escaped(out, r.codecs);
        let _ = write!(out, "\" bandwidth=\"{}\"", r.bandwidth);
        if let Some(v) = r.video {
            let _ = write!(out, " width=\"{}\" height=\"{}\"", v.width, v.height);
            if let Some(rate) = v.frame_rate {
                if rate.den == 1 {
                    let _ = write!(out, " frameRate=\"{}\"", rate.num);
                } else {
                    let _ = write!(out, " frameRate=\"{}/{}\"", rate.num, rate.den);
                }
            }
        }
        match r.audio {
            Some(a) => {
                let _ = write!(
                    out,
                    " audioSamplingRate=\"{}\">\n        <AudioChannelConfiguration schemeIdUri=\"{CHANNEL_CONFIGURATION_SCHEME}\" value=\"{}\"/>\n      </Representation>\n",
                    a.sample_rate, a.channels
                );
            }
            None => out.push_str("/>\n"),
        }
    }
    out.push_str("    </AdaptationSet>\n");
}

/// Appends one `<S>` line per run of `entries`, each line starting with `indent`.
/// `t` is written for the first run and after a gap; `r` when it is not 0.
fn write_timeline_runs(out: &mut String, entries: &[TimelineEntry], indent: &str) {
    let mut expected_start = None;
    for run in timeline_runs(entries) {
        out.push_str(indent);
        if expected_start == Some(run.start) {
            let _ = write!(out, "<S d=\"{}\"", run.duration);
        } else {
            let _ = write!(out, "<S t=\"{}\" d=\"{}\"", run.start, run.duration);
        }
        if run.repeat > 0 {
            let _ = write!(out, " r=\"{}\"", run.repeat);
        }
        out.push_str("/>\n");
        expected_start = run
            .repeat
            .checked_add(1)
            .and_then(|n| n.checked_mul(run.duration))
            .and_then(|span| run.start.checked_add(span));
    }
}

/// The runs of a timeline: contiguous segments of equal duration folded together.
pub fn timeline_runs(entries: &[TimelineEntry]) -> TimelineRuns<'_> {
    TimelineRuns { rest: entries }
}

/// Iterator over a timeline's runs (see [`timeline_runs`]).
#[derive(Debug, Clone)]
pub struct TimelineRuns<'a> {
    rest: &'a [TimelineEntry],
}

impl Iterator for TimelineRuns<'_> {
    type Item = TimelineRun;

    fn next(&mut self) -> Option<TimelineRun> {
        let (first, after) = self.rest.split_first()?;
        let mut end = first.start.checked_add(first.duration);
        let mut taken = 1;
        for next in after {
            if Some(next.start) != end || next.duration != first.duration {
                break;
            }
            end = next.start.checked_add(next.duration);
            taken += 1;
        }
        self.rest = self.rest.get(taken..).unwrap_or_default();
        Some(TimelineRun {
            start: first.start,
            duration: first.duration,
            repeat: (taken - 1) as u64,
        })
    }
}

/// Which numbering identifiers a template uses.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct TemplateIdentifiers {
    number: bool,
    time: bool,
    sub_number: bool,
}

/// Checks a URL template's `$…$` identifiers (ISO/IEC 23009-1 5.3.9.4.4): `$$`,
/// `$RepresentationID$`, and `$Number$`, `$Bandwidth$`, `$Time$`, `$SubNumber$`
/// with an optional `%0<width>d` format tag.
fn parse_template(
    field: &'static str,
    template: &str,
) -> Result<TemplateIdentifiers, PlaylistError> {
    check_uri(field, template)?;
    let bad = |reason| PlaylistError::BadTemplate {
        field,
        template: template.to_owned(),
        reason,
    };
    let mut used = TemplateIdentifiers::default();
    let mut parts = template.split('$');
    // Literal text and identifiers alternate; the first part is literal.
    let _ = parts.next();
    while let Some(identifier) = parts.next() {
        if parts.next().is_none() {
            return Err(bad("a '$' is not closed"));
        }
        if identifier.is_empty() {
            continue; // `$$`, a literal dollar sign.
        }
        let (name, format) = match identifier.split_once('%') {
            Some((name, format)) => (name, Some(format)),
            None => (identifier, None),
        };
        if let Some(format) = format {
            let width = format
                .strip_prefix('0')
                .and_then(|f| f.strip_suffix('d'))
                .unwrap_or_default();
            if width.is_empty() || !width.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("a format tag is not of the form %0<width>d"));
            }
        }
        match name {
            "RepresentationID" if format.is_some() => {
                return Err(bad("$RepresentationID$ takes no format tag"));
            }
            "RepresentationID" | "Bandwidth" => {}
            "Number" => used.number = true,
            "Time" => used.time = true,
            "SubNumber" => used.sub_number = true,
            _ => return Err(bad("it names an identifier DASH does not define")),
        }
    }
    Ok(used)
}

fn check_mpd(m: &Mpd<'_>) -> Result<(), PlaylistError> {
    check_count(
        "adaptation sets",
        m.adaptation_sets.len(),
        MAX_ADAPTATION_SETS,
    )?;
    if m.adaptation_sets.is_empty() {
        return Err(PlaylistError::NoAdaptationSets);
    }
    if let Presentation::Dynamic {
        availability_start_ms,
        publish_ms,
        ..
    } = m.presentation
    {
        time::check_date_time(availability_start_ms)?;
        time::check_date_time(publish_ms)?;
    }
    match m.utc_timing {
        Some(UtcTiming::HttpIso(url) | UtcTiming::HttpXsDate(url)) => {
            check_uri("UTCTiming URL", url)?;
        }
        Some(UtcTiming::Direct { now_ms }) => time::check_date_time(now_ms)?,
        None => {}
    }
    for (i, set) in m.adaptation_sets.iter().enumerate() {
        if m.adaptation_sets.iter().take(i).any(|s| s.id == set.id) {
            return Err(PlaylistError::DuplicateAdaptationSet { set: set.id });
        }
        check_adaptation_set(set)?;
        // Representation ids are unique across the whole MPD.
        for (j, r) in set.representations.iter().enumerate() {
            let earlier_sets = m.adaptation_sets.iter().take(i);
            let seen = set.representations.iter().take(j).any(|o| o.id == r.id)
                || earlier_sets
                    .flat_map(|s| s.representations)
                    .any(|o| o.id == r.id);
            if seen {
                return Err(PlaylistError::DuplicateRepresentation {
                    id: r.id.to_owned(),
                });
            }
        }
    }
    Ok(())
}

fn check_adaptation_set(set: &AdaptationSet<'_>) -> Result<(), PlaylistError> {
    check_nonempty("mimeType", set.mime_type)?;
    if let Some(lang) = set.lang {
        check_nonempty("lang", lang)?;
    }
    check_count(
        "representations",
        set.representations.len(),
        MAX_REPRESENTATIONS,
    )?;
    if set.representations.is_empty() {
        return Err(PlaylistError::NoRepresentations { set: set.id });
    }
    for r in set.representations {
        check_uri("representation id", r.id)?;
        check_nonempty("codecs", r.codecs)?;
        if let Some(rate) = r.video.and_then(|v| v.frame_rate) {
            rate.check()?;
        }
    }

    let t = &set.segments;
    if t.timescale == 0 {
        return Err(PlaylistError::ZeroTimescale { set: set.id });
    }
    let init = parse_template("initialization", t.initialization)?;
    if init.number || init.time || init.sub_number {
        return Err(PlaylistError::BadTemplate {
            field: "initialization",
            template: t.initialization.to_owned(),
            reason: "an initialization segment has no $Number$, $Time$ or $SubNumber$",
        });
    }
    let media = parse_template("media", t.media)?;
    let reason = match (media.number, media.time) {
        (true, true) => Some("it uses both $Number$ and $Time$"),
        (false, false) => Some("it needs $Number$ or $Time$ to tell segments apart"),
        _ => None,
    };
    if let Some(reason) = reason {
        return Err(PlaylistError::BadTemplate {
            field: "media",
            template: t.media.to_owned(),
            reason,
        });
    }

    check_count("timeline segments", t.timeline.len(), MAX_SEGMENTS)?;
    let mut previous_end = 0;
    for (index, entry) in t.timeline.iter().enumerate() {
        if entry.duration == 0 {
            return Err(PlaylistError::ZeroSegmentDuration { set: set.id, index });
        }
        if index > 0 && entry.start < previous_end {
            return Err(PlaylistError::TimelineOverlap { set: set.id, index });
        }
        previous_end = entry
            .start
            .checked_add(entry.duration)
            .ok_or(PlaylistError::TimelineOverflow { set: set.id, index })?;
    }
    Ok(())
}
