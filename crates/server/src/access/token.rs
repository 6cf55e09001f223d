//! Signed viewer URLs: `?tkn=EXPIRY.SIGNATURE`, where EXPIRY is a Unix time in
//! seconds and SIGNATURE the lowercase hex HMAC-SHA256, keyed with the
//! configuration's `tokens.key`, of `STREAM\nEXPIRY`. A site's backend makes one
//! in a line of code; Brume checks it where a viewer session starts. Nothing is
//! stored: a token is valid for its stream until it expires.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The query parameter that carries a token (MistServer's name for it).
pub const TOKEN_PARAM: &str = "tkn";
/// Longest token looked at.
pub const MAX_TOKEN_BYTES: usize = 128;
/// Shortest accepted `tokens.key`.
pub const MIN_KEY_BYTES: usize = 16;

/// Why a token does not open a stream (said to the viewer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("this stream needs a signed URL (tkn=)")]
    Missing,
    #[error("the URL's token is malformed")]
    Malformed,
    #[error("the URL's token has expired")]
    Expired,
    #[error("the URL's token is not valid for this stream")]
    BadSignature,
}

fn mac(key: &[u8], stream: &str, expires: u64) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(stream.as_bytes());
    mac.update(b"\n");
    mac.update(expires.to_string().as_bytes());
    mac
}

/// The token that opens `stream` until `expires` (Unix seconds).
pub fn sign(key: &[u8], stream: &str, expires: u64) -> String {
    let tag = mac(key, stream, expires).finalize().into_bytes();
    let mut out = format!("{expires}.");
    for byte in tag {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Checks `token` for `stream` at `now` (Unix seconds).
pub fn verify(key: &[u8], stream: &str, token: &str, now: u64) -> Result<(), TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed);
    }
    let (expires, signature) = token.split_once('.').ok_or(TokenError::Malformed)?;
    if expires.is_empty() || expires.len() > 19 || !expires.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TokenError::Malformed);
    }
    let expires: u64 = expires.parse().map_err(|_| TokenError::Malformed)?;
    let tag = decode_hex(signature).ok_or(TokenError::Malformed)?;
    // Checked before the expiry, so a forged token learns nothing of the time.
    mac(key, stream, expires)
        .verify_slice(&tag)
        .map_err(|_| TokenError::BadSignature)?;
    if now >= expires {
        return Err(TokenError::Expired);
    }
    Ok(())
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// The `tkn` value of a query string, if any (the first one).
pub fn from_query(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .take(64)
        .find_map(|pair| pair.strip_prefix(TOKEN_PARAM)?.strip_prefix('='))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef-secret";

    #[test]
    fn a_signed_token_opens_its_stream_until_it_expires() {
        let token = sign(KEY, "cam", 2000);
        assert_eq!(verify(KEY, "cam", &token, 1999), Ok(()));
        assert_eq!(verify(KEY, "cam", &token, 2000), Err(TokenError::Expired));
        assert_eq!(
            verify(KEY, "other", &token, 1000),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            verify(b"another key of 16+", "cam", &token, 1000),
            Err(TokenError::BadSignature)
        );
        // An altered expiry breaks the signature.
        let moved = token.replacen("2000", "9000", 1);
        assert_eq!(
            verify(KEY, "cam", &moved, 1000),
            Err(TokenError::BadSignature)
        );
        for bad in [
            "",
            ".",
            "2000",
            "2000.",
            "x.00",
            "-1.00",
            &format!("{token}0"),
        ] {
            assert_eq!(
                verify(KEY, "cam", bad, 1000),
                Err(TokenError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(verify(KEY, "cam", &token.to_uppercase(), 1999), Ok(()));
    }

    #[test]
    fn the_token_is_found_in_a_query() {
        assert_eq!(from_query(Some("a=1&tkn=5.ab&b")), Some("5.ab"));
        assert_eq!(from_query(Some("tkna=1")), None);
        assert_eq!(from_query(None), None);
    }
}
