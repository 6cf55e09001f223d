//! Boxes every track of an MP4 writes the same way, whether the file is
//! fragmented (`fmp4`) or progressive (`progressive`): the handler (`hdlr`), the
//! media header of `minf` (`vmhd`/`smhd`) with its self-contained data reference
//! (`dinf`), and the packed language code of `mdhd`.

use super::write::{BoxWriter, WriteError};
use crate::frame::TrackKind;

/// The ISO 639-2/T code packed as three 5-bit letters (each minus 0x60).
pub(crate) fn language_code(code: &[u8; 3]) -> u16 {
    code.iter().fold(0u16, |acc, &c| {
        (acc << 5) | (u16::from(c.wrapping_sub(0x60)) & 0x1f)
    })
}

/// The `hdlr` box naming the track's handler (`vide` or `soun`).
pub(crate) fn write_handler(w: &mut BoxWriter, kind: TrackKind) -> Result<(), WriteError> {
    let (handler, name): (&[u8; 4], &[u8]) = match kind {
        TrackKind::Video => (b"vide", b"Brume Video\0"),
        TrackKind::Audio => (b"soun", b"Brume Audio\0"),
    };
    let hdlr = w.start_full(b"hdlr", 0, 0);
    w.put_u32(0); // pre_defined
    w.put_fourcc(handler);
    w.put_zeros(12); // reserved
    w.put_bytes(name);
    w.end(hdlr)
}

/// The start of `minf`'s payload: the media header (`vmhd` for video, `smhd` for
/// audio) and a `dinf` whose single `url ` entry says the media is in this file.
pub(crate) fn write_media_header_and_dinf(
    w: &mut BoxWriter,
    kind: TrackKind,
) -> Result<(), WriteError> {
    match kind {
        TrackKind::Video => {
            let vmhd = w.start_full(b"vmhd", 0, 1);
            w.put_u16(0); // graphicsmode: copy
            w.put_zeros(6); // opcolor
            w.end(vmhd)?;
        }
        TrackKind::Audio => {
            let smhd = w.start_full(b"smhd", 0, 0);
            w.put_i16(0); // balance
            w.put_u16(0); // reserved
            w.end(smhd)?;
        }
    }
    let dinf = w.start(b"dinf");
    let dref = w.start_full(b"dref", 0, 0);
    w.put_u32(1); // entry_count
    let url = w.start_full(b"url ", 0, 1); // flag 1: media in this file
    w.end(url)?;
    w.end(dref)?;
    w.end(dinf)
}
