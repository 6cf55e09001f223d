//! Opus → AAC-LC for one WebRTC publisher (WHIP): each Opus packet is decoded
//! (libopus, 48 kHz stereo) and the samples are encoded by the Fraunhofer FDK
//! AAC encoder (`fdk-aac` crate, built from its bundled source) as AAC-LC
//! 48 kHz stereo, so the stream plays on every output that carries AAC
//! (TS, FLV, RTMP, HLS, fMP4) without a second audio track.
//!
//! Timestamps (48 kHz ticks) count samples from the first packet's; a gap of
//! up to [`MAX_FILLED_GAP`] (lost packets) is filled with silence, a longer one
//! restarts the count at the new packet's time.

use bytes::Bytes;
use fdk_aac::enc::{AudioObjectType, BitRate, ChannelMode, Encoder, EncoderParams, Transport};

/// The one rate in and out.
pub const RATE: u32 = 48_000;
/// AAC bitrate, bits per second.
pub const AAC_BITRATE: u32 = 128_000;
/// Samples per channel of one AAC-LC frame.
const AAC_FRAME: usize = 1024;
/// Largest Opus frame, samples per channel (120 ms).
const MAX_OPUS_FRAME: usize = 5760;
/// A gap (48 kHz ticks, 500 ms) up to which missing audio becomes silence.
pub const MAX_FILLED_GAP: i64 = 24_000;
/// Input samples per channel held for the encoder at most.
const MAX_PENDING: usize = AAC_FRAME * 16;
/// Bytes of one encoded AAC frame at most (6144 bits per channel).
const MAX_AAC_FRAME: usize = 1536;

/// Why Opus audio cannot become AAC.
#[derive(Debug, thiserror::Error)]
pub enum OpusToAacError {
    #[error("Opus decoder: {0}")]
    Decoder(#[from] opus::Error),
    #[error("AAC encoder: {0}")]
    Encoder(String),
}

impl From<fdk_aac::enc::EncoderError> for OpusToAacError {
    fn from(err: fdk_aac::enc::EncoderError) -> Self {
        OpusToAacError::Encoder(err.to_string())
    }
}

/// One AAC frame out: raw (no ADTS header), starting at `ts` (48 kHz ticks).
#[derive(Debug)]
pub struct AacFrame {
    pub ts: i64,
    pub data: Bytes,
}

/// The converter of one publisher's Opus track.
pub struct OpusToAac {
    decoder: opus::Decoder,
    encoder: Encoder,
    /// The AudioSpecificConfig of the AAC made.
    config: Bytes,
    /// Encoder delay, samples per channel.
    delay: i64,
    /// Decoded samples (interleaved stereo) not yet taken by the encoder.
    pending: Vec<i16>,
    /// Time of the first sample the encoder will take next.
    pending_ts: Option<i64>,
    /// Time of the first sample of the next AAC frame out.
    out_ts: i64,
    decoded: Vec<i16>,
}

impl std::fmt::Debug for OpusToAac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusToAac")
            .field("pending_ts", &self.pending_ts)
            .finish_non_exhaustive()
    }
}

impl OpusToAac {
    pub fn new() -> Result<OpusToAac, OpusToAacError> {
        let decoder = opus::Decoder::new(RATE, opus::Channels::Stereo)?;
        let encoder = Encoder::new(EncoderParams {
            bit_rate: BitRate::Cbr(AAC_BITRATE),
            sample_rate: RATE,
            transport: Transport::Raw,
            channels: ChannelMode::Stereo,
            audio_object_type: AudioObjectType::Mpeg4LowComplexity,
        })?;
        let info = encoder.info()?;
        let size = (info.confSize as usize).min(info.confBuf.len());
        Ok(OpusToAac {
            decoder,
            encoder,
            config: Bytes::copy_from_slice(&info.confBuf[..size]),
            delay: i64::from(info.nDelay),
            pending: Vec::with_capacity(MAX_PENDING * 2),
            pending_ts: None,
            out_ts: 0,
            decoded: vec![0; MAX_OPUS_FRAME * 2],
        })
    }

    /// The AudioSpecificConfig of the AAC track made.
    pub fn config(&self) -> &Bytes {
        &self.config
    }

    /// Converts one Opus packet starting at `ts` (48 kHz ticks); the AAC frames
    /// completed go to `out`. A packet that does not decode is an error for that
    /// packet only.
    pub fn push(
        &mut self,
        ts: i64,
        packet: &[u8],
        out: &mut Vec<AacFrame>,
    ) -> Result<(), OpusToAacError> {
        let samples = self.decoder.decode(packet, &mut self.decoded, false)?;
        let expected = self
            .pending_ts
            .map(|start| start + (self.pending.len() / 2) as i64);
        match expected {
            Some(end) if ts > end && ts - end <= MAX_FILLED_GAP => {
                let silence = usize::try_from(ts - end).unwrap_or(0) * 2;
                self.pending.resize(self.pending.len() + silence, 0);
            }
            Some(end) if (ts - end).abs() <= MAX_FILLED_GAP => {}
            _ => {
                // First packet, or a jump: count from here (what the encoder
                // still holds comes out on the new count).
                self.pending.clear();
                self.pending_ts = Some(ts);
                self.out_ts = ts - self.delay;
            }
        }
        self.pending
            .extend_from_slice(&self.decoded[..samples.min(MAX_OPUS_FRAME) * 2]);
        let mut frame = [0u8; MAX_AAC_FRAME];
        let mut used = 0;
        while self.pending.len() - used >= AAC_FRAME * 2 {
            let input = &self.pending[used..used + AAC_FRAME * 2];
            let result = self.encoder.encode(input, &mut frame)?;
            if result.input_consumed == 0 && result.output_size == 0 {
                break;
            }
            used += result.input_consumed.min(input.len());
            if result.output_size > 0 {
                out.push(AacFrame {
                    ts: self.out_ts,
                    data: Bytes::copy_from_slice(&frame[..result.output_size.min(frame.len())]),
                });
                self.out_ts += AAC_FRAME as i64;
            }
        }
        self.pending.drain(..used);
        if self.pending.len() > MAX_PENDING * 2 {
            let extra = self.pending.len() - MAX_PENDING * 2;
            self.pending.drain(..extra);
            used += extra;
        }
        if let Some(start) = &mut self.pending_ts {
            *start += (used / 2) as i64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opus made here from a tone comes back as AAC that symphonia decodes
    /// (the other direction's converter), frames 1024 samples apart.
    #[test]
    fn opus_becomes_decodable_aac() {
        let mut encoder =
            opus::Encoder::new(RATE, opus::Channels::Stereo, opus::Application::Audio).unwrap();
        let mut converter = OpusToAac::new().unwrap();
        let config =
            brume_media::codec::aac::AudioSpecificConfig::parse(converter.config()).unwrap();
        assert_eq!(config.channels(), 2);
        let mut frames = Vec::new();
        let mut packet = [0u8; 4000];
        for n in 0..100 {
            let pcm: Vec<f32> = (0..960)
                .flat_map(|i| {
                    let t = (n * 960 + i) as f32 / RATE as f32;
                    let v = (t * 2.0 * std::f32::consts::PI * 440.0).sin() * 0.5;
                    [v, v]
                })
                .collect();
            let len = encoder.encode_float(&pcm, &mut packet).unwrap();
            converter
                .push(1000 + n as i64 * 960, &packet[..len], &mut frames)
                .unwrap();
        }
        // 2 s of audio: about 93 frames of 1024, minus what the encoder holds.
        assert!(frames.len() >= 85, "{} frames", frames.len());
        for pair in frames.windows(2) {
            assert_eq!(pair[1].ts - pair[0].ts, 1024);
        }
        let mut back = crate::audio::aac_opus::AacToOpus::new(converter.config()).unwrap();
        let mut opus_out = Vec::new();
        for frame in &frames {
            back.push(frame.ts, &frame.data, &mut opus_out).unwrap();
        }
        assert!(opus_out.len() >= 85, "{} Opus packets", opus_out.len());
    }
}
