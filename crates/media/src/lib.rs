//! brume-media: Brume's sans-IO media core.
//!
//! Owns the frame model every input demuxes into and every output muxes from
//! ([`Track`], [`Frame`]), the codec configuration parsers ([`codec`]) and the
//! container readers and writers ([`mp4`]). Nothing here touches sockets, async
//! runtimes or the clock: bytes (or a positional reader) in, values and bytes out.

pub mod codec;
pub mod flv;
pub mod frame;
pub mod index;
pub mod mp4;
pub mod mpegts;
pub mod playlist;
pub mod probe;
pub mod read_at;

pub use frame::{scale_ticks, AudioInfo, Codec, Frame, TimedFrame, Track, TrackKind, VideoInfo};
pub use read_at::ReadAt;
