//! brume-media: Brume's sans-IO media core.
//!
//! Owns the frame model every input demuxes into and every output muxes from
//! ([`Track`], [`Frame`]) and everything that turns bytes into frames and back.
//! Nothing here touches sockets, async runtimes or the clock: bytes (or a
//! positional reader) in, values and bytes out.
//!
//! * [`frame`]: tracks, frames, codecs and timescale arithmetic.
//! * [`codec`]: codec configuration records (AVC/HEVC, AAC) and codec strings.
//! * [`mp4`]: the box reader, the demuxer, the fragmented-MP4 (CMAF) muxer and
//!   the progressive MP4 writer.
//! * [`mpegts`]: MPEG-TS packets, PSI, PES, the demuxer and the segment muxer.
//! * [`flv`]: FLV tags, AMF0, the demuxer and the muxer.
//! * [`index`]: the indexed-file interface the demuxers share ([`index::MediaFile`]);
//!   [`read_at`]: positional reads ([`ReadAt`]); [`probe`]: container sniffing.
//! * [`playlist`]: typed HLS and DASH renderers.
//! * [`segment`]: the one segment-cutting rule ([`segment::Segmenter`]) shared by
//!   live streams and on-demand files.

pub mod codec;
pub mod flv;
pub mod frame;
pub mod index;
pub mod mp4;
pub mod mpegts;
pub mod playlist;
pub mod probe;
pub mod read_at;
pub mod segment;

pub use frame::{scale_ticks, AudioInfo, Codec, Frame, TimedFrame, Track, TrackKind, VideoInfo};
pub use read_at::ReadAt;
