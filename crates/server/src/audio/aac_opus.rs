//! AAC-LC → Opus for one stream: each AAC frame is decoded (symphonia), made
//! stereo, resampled to 48 kHz ([`super::resample`]) and cut into 20 ms frames
//! that libopus encodes. Opus timestamps (48 kHz) follow the AAC frames' times;
//! a jump in those (a lost frame, a publisher restart) restarts the count there.

use std::sync::Arc;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CodecParameters, Decoder, DecoderOptions, CODEC_TYPE_AAC};
use symphonia::core::formats::Packet;
use symphonia::default::codecs::AacDecoder;

use super::resample::{Resampler, OUTPUT_RATE};

/// Samples per channel of one Opus frame (20 ms at 48 kHz).
pub const OPUS_FRAME: usize = 960;
/// Opus bitrate, bits per second (stereo music quality).
pub const OPUS_BITRATE: i32 = 96_000;
/// Largest Opus packet we let libopus write (its own recommendation).
const MAX_PACKET: usize = 4000;
/// A timestamp this far (48 kHz ticks, 100 ms) from where the audio so far
/// ends restarts the count.
const MAX_DRIFT: i64 = 4800;
/// 48 kHz samples per channel held waiting for a full Opus frame, at most.
const MAX_PENDING: usize = OPUS_FRAME * 8;

/// Why a stream's AAC cannot become Opus.
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    #[error("AAC decoder: {0}")]
    Decoder(#[from] symphonia::core::errors::Error),
    #[error("Opus encoder: {0}")]
    Encoder(#[from] opus::Error),
    #[error("the AAC decoder failed on this input")]
    DecoderPanicked,
}

/// One Opus packet: 20 ms of audio from `ts` (48 kHz ticks).
#[derive(Debug)]
pub struct OpusPacket {
    pub ts: i64,
    pub data: Arc<[u8]>,
}

/// The converter of one stream's AAC track.
pub struct AacToOpus {
    params: CodecParameters,
    decoder: AacDecoder,
    resampler: Resampler,
    encoder: opus::Encoder,
    /// Stereo input at the AAC rate, interleaved (reused).
    stereo: Vec<f32>,
    /// Stereo 48 kHz samples not yet encoded, interleaved.
    pending: Vec<f32>,
    /// 48 kHz time of `pending[0]`; `None` before the first frame.
    pending_ts: Option<i64>,
}

impl std::fmt::Debug for AacToOpus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AacToOpus")
            .field("pending_ts", &self.pending_ts)
            .finish_non_exhaustive()
    }
}

impl AacToOpus {
    /// A converter for the AAC track whose AudioSpecificConfig is `asc` (AAC-LC,
    /// mono or stereo: symphonia decodes no other kind).
    pub fn new(asc: &[u8]) -> Result<AacToOpus, TranscodeError> {
        let mut params = CodecParameters::new();
        params
            .for_codec(CODEC_TYPE_AAC)
            .with_extra_data(asc.to_vec().into_boxed_slice());
        let decoder = new_decoder(&params)?;
        let rate = decoder.codec_params().sample_rate.unwrap_or(OUTPUT_RATE);
        let mut encoder = opus::Encoder::new(
            OUTPUT_RATE,
            opus::Channels::Stereo,
            opus::Application::Audio,
        )?;
        encoder.set_bitrate(opus::Bitrate::Bits(OPUS_BITRATE))?;
        Ok(AacToOpus {
            params,
            decoder,
            resampler: Resampler::new(rate),
            encoder,
            stereo: Vec::new(),
            pending: Vec::with_capacity(MAX_PENDING * 2),
            pending_ts: None,
        })
    }

    /// Converts one AAC frame (raw, no ADTS header) starting at `ts` (48 kHz
    /// ticks); the Opus packets completed go to `out`. A frame that does not
    /// decode is an error for that frame only.
    pub fn push(
        &mut self,
        ts: i64,
        aac: &[u8],
        out: &mut Vec<OpusPacket>,
    ) -> Result<(), TranscodeError> {
        self.decode(aac)?;
        let expected = self
            .pending_ts
            .map(|start| start + (self.pending.len() / 2) as i64);
        if expected.is_none_or(|e| (ts - e).abs() > MAX_DRIFT) {
            self.pending.clear();
            self.pending_ts = Some(ts);
            self.resampler.reset();
        }
        self.resampler.process(&self.stereo, &mut self.pending);
        let mut start = self.pending_ts.unwrap_or(ts);
        let mut used = 0;
        let mut packet = [0u8; MAX_PACKET];
        while self.pending.len() - used >= OPUS_FRAME * 2 {
            let frame = &self.pending[used..used + OPUS_FRAME * 2];
            let len = self.encoder.encode_float(frame, &mut packet)?;
            out.push(OpusPacket {
                ts: start,
                data: Arc::from(&packet[..len]),
            });
            used += OPUS_FRAME * 2;
            start += OPUS_FRAME as i64;
        }
        self.pending.drain(..used);
        if self.pending.len() > MAX_PENDING * 2 {
            let extra = self.pending.len() - MAX_PENDING * 2;
            self.pending.drain(..extra);
            start += (extra / 2) as i64;
        }
        self.pending_ts = Some(start);
        Ok(())
    }

    /// Decodes `aac` into `self.stereo` (mono doubled, further channels dropped).
    fn decode(&mut self, aac: &[u8]) -> Result<(), TranscodeError> {
        let packet = Packet::new_from_slice(0, 0, 1024, aac);
        // The decoder is third-party code fed stream data: a panic in it is
        // one bad frame, after which it starts afresh.
        let decoder = &mut self.decoder;
        let stereo = &mut self.stereo;
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let buffer = decoder.decode(&packet)?;
            let spec = *buffer.spec();
            let frames = buffer.frames();
            let channels = spec.channels.count();
            let mut samples = SampleBuffer::<f32>::new(buffer.capacity() as u64, spec);
            samples.copy_interleaved_ref(buffer);
            stereo.clear();
            for frame in samples.samples().chunks(channels.max(1)).take(frames) {
                let left = frame.first().copied().unwrap_or(0.0);
                let right = frame.get(1).copied().unwrap_or(left);
                stereo.push(left);
                stereo.push(right);
            }
            Ok::<(), symphonia::core::errors::Error>(())
        }));
        match decoded {
            Ok(result) => Ok(result?),
            Err(_) => {
                self.decoder = new_decoder(&self.params)?;
                Err(TranscodeError::DecoderPanicked)
            }
        }
    }
}

/// An AAC decoder for `params`; a panic in symphonia on a hostile
/// AudioSpecificConfig is an error like the others.
fn new_decoder(params: &CodecParameters) -> Result<AacDecoder, TranscodeError> {
    std::panic::catch_unwind(|| AacDecoder::try_new(params, &DecoderOptions::default()))
        .map_err(|_| TranscodeError::DecoderPanicked)?
        .map_err(TranscodeError::from)
}
