//! H.264 frames as str0m packetizes them: Annex-B NAL units, a keyframe led by
//! the track's SPS and PPS (browsers get no parameter sets out of band).

use std::sync::Arc;

use brume_media::codec::h264::{length_prefixed_to_annexb, AvcConfig};
use brume_media::Frame;

/// What turning one track's frames into Annex B needs.
#[derive(Debug, Clone)]
pub struct H264Payload {
    length_size: u8,
    /// SPS and PPS with start codes.
    parameter_sets: Vec<u8>,
}

impl H264Payload {
    /// From the track's avcC record; `None` when it does not parse.
    pub fn new(avcc: &[u8]) -> Option<H264Payload> {
        let config = AvcConfig::parse(avcc).ok()?;
        let mut parameter_sets = Vec::new();
        for set in config.sps.iter().chain(config.pps.iter()) {
            parameter_sets.extend_from_slice(&[0, 0, 0, 1]);
            parameter_sets.extend_from_slice(set);
        }
        Some(H264Payload {
            length_size: config.nal_length_size,
            parameter_sets,
        })
    }

    /// `frame` as Annex B (empty when its NAL lengths are broken).
    pub fn annexb(&self, frame: &Frame) -> Arc<[u8]> {
        let mut out = Vec::with_capacity(frame.data.len() + self.parameter_sets.len() + 16);
        if frame.keyframe {
            out.extend_from_slice(&self.parameter_sets);
        }
        if length_prefixed_to_annexb(&frame.data, self.length_size, &mut out).is_err() {
            return Arc::from(Vec::new());
        }
        Arc::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn keyframes_carry_parameter_sets() {
        // avcC: version 1, profile 66, level 30, 4-byte lengths, 1 SPS, 1 PPS.
        let avcc = [
            1, 66, 0, 30, 0xff, 0xe1, 0, 2, 0x67, 0x42, 1, 0, 2, 0x68, 0xce,
        ];
        let payload = H264Payload::new(&avcc).unwrap();
        let frame = Frame {
            track: 1,
            dts: 0,
            pts_offset: 0,
            keyframe: true,
            data: Bytes::from_static(&[0, 0, 0, 2, 0x65, 0x88]),
        };
        let out = payload.annexb(&frame);
        assert_eq!(
            &out[..],
            &[0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88]
        );
        let delta = Frame {
            keyframe: false,
            data: Bytes::from_static(&[0, 0, 0, 9, 0x41]),
            ..frame
        };
        assert!(payload.annexb(&delta).is_empty(), "broken lengths");
    }
}
