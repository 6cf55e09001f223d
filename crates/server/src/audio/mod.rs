//! Audio conversion for outputs whose codec differs from the stream's.
//!
//! * [`resample`]: sample-rate conversion to 48 kHz (linear interpolation).
//! * [`aac_opus`]: AAC-LC in, Opus out (symphonia's AAC decoder, libopus through
//!   the `opus` crate), for WebRTC viewers of AAC streams.
//!
//! Conversions run once per stream (their users share the output), never per
//! viewer; see [`crate::webrtc::audio`].

pub mod aac_opus;
pub mod resample;
