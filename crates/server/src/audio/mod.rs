//! Audio conversion for outputs whose codec differs from the stream's.
//!
//! * [`resample`]: sample-rate conversion to 48 kHz (linear interpolation).
//! * [`aac_opus`]: AAC-LC in, Opus out (symphonia's AAC decoder, libopus through
//!   the `opus` crate), for WebRTC viewers of AAC streams.
//! * [`opus_aac`]: Opus in, AAC-LC out (libopus, the FDK AAC encoder), for
//!   WebRTC publishers (WHIP), so their streams play on every output.
//!
//! Conversions run once per stream (their users share the output), never per
//! viewer; see [`crate::webrtc::audio`].

pub mod aac_opus;
pub mod opus_aac;
pub mod resample;
