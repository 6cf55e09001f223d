//! Recognising a file's container from its first bytes, so a reader that was
//! handed the wrong kind of file can say what it was given.

/// A phrase naming the container `head` looks like (ending in `", "`, ready to
/// prefix a description), or `""` when unknown. `head` should hold at least the
/// first 8 bytes.
pub fn guess_container(head: &[u8]) -> &'static str {
    const MP4_BOXES: [&[u8]; 8] = [
        b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"styp", b"moof",
    ];
    if head.get(4..8).is_some_and(|kind| MP4_BOXES.contains(&kind)) {
        "an MP4 file, "
    } else if head.starts_with(b"FLV") {
        "an FLV file, "
    } else if head.first() == Some(&0x47) {
        "what looks like MPEG-TS, "
    } else if head.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]) {
        "a Matroska/WebM file, "
    } else if head.starts_with(b"RIFF") {
        "a RIFF (AVI/WAV) file, "
    } else if head.starts_with(b"ID3")
        || (head.first() == Some(&0xff) && head.get(1).is_some_and(|b| b & 0xe0 == 0xe0))
    {
        "what looks like MP3 or ADTS audio, "
    } else if head.starts_with(b"OggS") {
        "an Ogg file, "
    } else if head.starts_with(b"#EXTM3U") {
        "an HLS playlist, "
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_common_containers() {
        assert_eq!(guess_container(b"\0\0\0\x20ftypisom"), "an MP4 file, ");
        assert_eq!(guess_container(b"FLV\x01\x05"), "an FLV file, ");
        assert_eq!(guess_container(b"OggS\0\x02"), "an Ogg file, ");
        assert_eq!(guess_container(b"\xff"), "");
        assert_eq!(guess_container(b""), "");
    }
}
