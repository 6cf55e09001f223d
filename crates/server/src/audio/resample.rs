//! Sample-rate conversion of interleaved stereo `f32` audio to 48 kHz by linear
//! interpolation between neighbouring input samples.
//!
//! Linear interpolation is cheap and has no delay; its images above the source's
//! band are faint at 44.1 kHz → 48 kHz, where it is used (AAC streams for Opus).

/// The one output rate (Opus's native rate).
pub const OUTPUT_RATE: u32 = 48_000;

/// A running stereo resampler from `input_rate` to [`OUTPUT_RATE`].
#[derive(Debug, Clone)]
pub struct Resampler {
    /// Input samples per output sample.
    step: f64,
    /// Where the next output sample lies, in input samples after `previous`.
    position: f64,
    /// The last input frame of the previous call (left, right).
    previous: [f32; 2],
}

impl Resampler {
    /// A resampler from `input_rate` (non-zero) to 48 kHz.
    pub fn new(input_rate: u32) -> Resampler {
        Resampler {
            step: f64::from(input_rate.max(1)) / f64::from(OUTPUT_RATE),
            position: 1.0,
            previous: [0.0; 2],
        }
    }

    /// Whether it passes samples through unchanged (48 kHz input).
    pub fn is_identity(&self) -> bool {
        self.step == 1.0
    }

    /// Forgets the signal so far (after a gap in the input).
    pub fn reset(&mut self) {
        self.position = 1.0;
        self.previous = [0.0; 2];
    }

    /// Appends `input` (interleaved stereo at the input rate) converted to 48 kHz
    /// to `output`.
    pub fn process(&mut self, input: &[f32], output: &mut Vec<f32>) {
        let frames = input.len() / 2;
        if frames == 0 {
            return;
        }
        if self.is_identity() {
            output.extend_from_slice(&input[..frames * 2]);
            return;
        }
        // Frame 0 is `previous`, frame i + 1 is input frame i.
        let frame = |i: usize| -> [f32; 2] {
            if i == 0 {
                self.previous
            } else {
                [input[(i - 1) * 2], input[(i - 1) * 2 + 1]]
            }
        };
        let last = frames as f64;
        output.reserve(((last / self.step) as usize + 2) * 2);
        let mut t = self.position;
        while t < last {
            let i = t as usize;
            let frac = (t - i as f64) as f32;
            let (a, b) = (frame(i), frame(i + 1));
            output.push(a[0] + (b[0] - a[0]) * frac);
            output.push(a[1] + (b[1] - a[1]) * frac);
            t += self.step;
        }
        self.position = t - last;
        self.previous = [input[(frames - 1) * 2], input[(frames - 1) * 2 + 1]];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_second_of_44k1_becomes_one_second_of_48k() {
        let mut resampler = Resampler::new(44_100);
        let mut out = Vec::new();
        // 1 s in chunks of 1024 frames (AAC frame size), a 1 kHz tone.
        let input: Vec<f32> = (0..44_100)
            .flat_map(|n| {
                let v = (n as f32 * 2.0 * std::f32::consts::PI * 1000.0 / 44_100.0).sin();
                [v, -v]
            })
            .collect();
        for chunk in input.chunks(2048) {
            resampler.process(chunk, &mut out);
        }
        let frames = out.len() / 2;
        assert!((47_990..=48_010).contains(&frames), "{frames} frames");
        // The tone is still a 1 kHz tone: compare with the ideal at 48 kHz.
        let mut error = 0.0f32;
        for n in 100..frames - 100 {
            let ideal = (n as f32 * 2.0 * std::f32::consts::PI * 1000.0 / 48_000.0).sin();
            error = error.max((out[n * 2] - ideal).abs());
            assert_eq!(out[n * 2], -out[n * 2 + 1]);
        }
        assert!(error < 0.02, "largest error {error}");
    }

    #[test]
    fn forty_eight_khz_passes_through() {
        let mut resampler = Resampler::new(48_000);
        let mut out = Vec::new();
        resampler.process(&[0.5, -0.5, 0.25, 0.0], &mut out);
        assert_eq!(out, vec![0.5, -0.5, 0.25, 0.0]);
    }
}
