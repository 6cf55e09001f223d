//! What we check in a client's SDP offer before str0m sees it, and the words
//! used when it cannot be answered.
//!
//! str0m parses the offer; here are only the size limit and a lenient scan of
//! the `a=rtpmap` lines, used to tell the client which codecs it offered when
//! none of them is one Brume sends.

/// Largest offer accepted (browsers send 3 to 10 KB).
pub const MAX_OFFER_BYTES: usize = 64 * 1024;
/// Codec names listed at most in an error message.
const MAX_LISTED: usize = 16;

/// Why an offer gets no answer (said to the client).
#[derive(Debug, thiserror::Error)]
pub enum OfferError {
    #[error("the offer is larger than {MAX_OFFER_BYTES} bytes")]
    TooLarge,
    #[error("the offer is not UTF-8 text")]
    NotText,
    #[error("malformed SDP offer: {0}")]
    Malformed(String),
    #[error("the offer has no video to receive: this stream sends {needed} video")]
    NoVideo { needed: &'static str },
    #[error("no usable codec: the offer has {offered}; this stream needs {needed}")]
    NoCodec {
        offered: String,
        needed: &'static str,
    },
}

/// The offer as text, within [`MAX_OFFER_BYTES`].
pub fn offer_text(body: &[u8]) -> Result<&str, OfferError> {
    if body.len() > MAX_OFFER_BYTES {
        return Err(OfferError::TooLarge);
    }
    let text = std::str::from_utf8(body).map_err(|_| OfferError::NotText)?;
    if !text.trim_start().starts_with("v=") {
        return Err(OfferError::Malformed(
            "it does not start with a v= line".to_owned(),
        ));
    }
    Ok(text)
}

/// The codec names of the offer's `a=rtpmap` lines (`H264`, `VP8`, `opus`…), each
/// once, in order of first appearance; `"none"` when there are none.
pub fn offered_codecs(offer: &str) -> String {
    let mut names: Vec<&str> = Vec::new();
    for line in offer.lines() {
        let Some(map) = line.trim().strip_prefix("a=rtpmap:") else {
            continue;
        };
        let Some(name) = map
            .split_once(' ')
            .and_then(|(_, codec)| codec.split('/').next())
        else {
            continue;
        };
        if name.is_empty() || names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            continue;
        }
        if names.len() == MAX_LISTED {
            break;
        }
        names.push(name);
    }
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// The `a=mid` values of the offer's video sections, in order.
pub fn video_mids(offer: &str) -> Vec<&str> {
    section_mids(offer, "video")
}

/// The `a=mid` values of the offer's audio sections, in order.
pub fn audio_mids(offer: &str) -> Vec<&str> {
    section_mids(offer, "audio")
}

/// The `a=mid` values of the offer's `m=<kind>` sections, in order.
fn section_mids<'a>(offer: &'a str, kind: &str) -> Vec<&'a str> {
    let mut mids = Vec::new();
    let mut in_kind = false;
    for line in offer.lines().map(str::trim) {
        if let Some(media) = line.strip_prefix("m=") {
            in_kind = media
                .strip_prefix(kind)
                .is_some_and(|rest| rest.starts_with(' '));
        } else if let Some(mid) = line.strip_prefix("a=mid:") {
            if in_kind && !mid.is_empty() && mids.len() < MAX_LISTED {
                mids.push(mid);
            }
        }
    }
    mids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_sections_are_found_by_mid() {
        let offer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n\
                     m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n";
        assert_eq!(video_mids(offer), vec!["1"]);
        assert_eq!(audio_mids(offer), vec!["0"]);
    }

    #[test]
    fn offered_codecs_are_listed_once_each() {
        let offer = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97 98\r\na=rtpmap:96 VP8/90000\r\n\
                     a=rtpmap:97 rtx/90000\r\na=rtpmap:98 VP8/90000\r\na=rtpmap:bad\r\n";
        assert_eq!(offered_codecs(offer), "VP8, rtx");
        assert_eq!(offered_codecs("v=0\r\n"), "none");
    }

    #[test]
    fn offers_must_be_sdp_text() {
        assert!(matches!(
            offer_text(b"hello"),
            Err(OfferError::Malformed(_))
        ));
        assert!(matches!(
            offer_text(&[0xff, 0xfe]),
            Err(OfferError::NotText)
        ));
        assert!(matches!(
            offer_text(&vec![b'v'; MAX_OFFER_BYTES + 1]),
            Err(OfferError::TooLarge)
        ));
        assert!(offer_text(b"v=0\r\n").is_ok());
    }
}
