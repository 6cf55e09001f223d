//! Elementary stream payloads as carried in PES packets, turned into the frame
//! model's formats: an H.264 Annex-B access unit into length-prefixed NAL units
//! ([`h264_access_unit`]), and an ADTS stream into its AAC frames
//! ([`AdtsFrames`]). Shared by the streaming demuxer and the file index so a frame
//! re-read from a file is byte for byte what indexing saw.

use bytes::Bytes;

use crate::codec::aac::{adts_frame, AdtsHeader};
use crate::codec::h264::{annexb_nals, nal_type, NAL_AUD, NAL_IDR, NAL_PPS, NAL_SPS};

/// Samples in one AAC raw data block.
pub(crate) const AAC_FRAME_SAMPLES: u32 = 1024;

/// Converts the Annex-B access unit `es` to 4-byte length-prefixed NAL units.
/// Access unit delimiters are dropped, and so are parameter sets identical to one
/// of `known_sets` (those already in the track's avcC); other in-band parameter
/// sets stay. Returns the payload and whether it holds an IDR slice.
pub(crate) fn h264_access_unit(es: &[u8], known_sets: &[Bytes]) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(es.len().saturating_add(16));
    let mut keyframe = false;
    for nal in annexb_nals(es) {
        match nal_type(nal) {
            Some(NAL_AUD) => continue,
            Some(NAL_SPS | NAL_PPS) if known_sets.iter().any(|s| s.as_ref() == nal) => continue,
            Some(NAL_IDR) => keyframe = true,
            _ => {}
        }
        // PES packets are far below 4 GiB (MAX_PES_SIZE), so this always fits.
        let Ok(len) = u32::try_from(nal.len()) else {
            continue;
        };
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(nal);
    }
    (out, keyframe)
}

/// The first SPS and first PPS of the Annex-B access unit `es`, when present.
pub(crate) fn h264_parameter_sets(es: &[u8]) -> (Option<&[u8]>, Option<&[u8]>) {
    let mut sps = None;
    let mut pps = None;
    for nal in annexb_nals(es) {
        match nal_type(nal) {
            Some(NAL_SPS) if sps.is_none() => sps = Some(nal),
            Some(NAL_PPS) if pps.is_none() => pps = Some(nal),
            _ => {}
        }
    }
    (sps, pps)
}

/// Iterator over the ADTS frames of one PES payload: (header, raw AAC payload).
/// Bytes that are not an ADTS header are skipped up to the next 0xFF; a frame cut
/// short by the end of the payload ends the iteration.
#[derive(Debug, Clone)]
pub(crate) struct AdtsFrames<'a> {
    rest: &'a [u8],
}

impl<'a> AdtsFrames<'a> {
    pub fn new(payload: &'a [u8]) -> Self {
        AdtsFrames { rest: payload }
    }
}

impl<'a> Iterator for AdtsFrames<'a> {
    type Item = (AdtsHeader, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        while !self.rest.is_empty() {
            match adts_frame(self.rest) {
                Ok(Some((header, payload))) => {
                    self.rest = self.rest.get(header.frame_length..).unwrap_or(&[]);
                    return Some((header, payload));
                }
                Ok(None) => {
                    tracing::debug!(
                        bytes = self.rest.len(),
                        "ADTS frame cut short at the end of a PES"
                    );
                    self.rest = &[];
                }
                Err(e) => {
                    tracing::trace!(error = %e, "skipping bytes that are not an ADTS frame");
                    let next_sync = self
                        .rest
                        .get(1..)
                        .and_then(|r| r.iter().position(|&b| b == 0xFF))
                        .map_or(self.rest.len(), |p| p + 1);
                    self.rest = self.rest.get(next_sync..).unwrap_or(&[]);
                }
            }
        }
        None
    }
}
