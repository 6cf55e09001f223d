//! Codec configuration: parsing and building decoder configuration records
//! (H.264 `avcC`, AAC AudioSpecificConfig), RFC 6381 codec strings, and converting
//! between payload framings (Annex-B, length-prefixed NAL units, ADTS).
//!
//! Everything here is pure and sans-IO: byte slices in, values or bytes out. Every
//! parser treats its input as hostile and returns a [`CodecError`] instead of
//! panicking.

pub mod aac;
pub mod bits;
pub mod h264;

/// Why a codec configuration or payload could not be read or written.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    /// The data ended before `what` was complete.
    #[error("the data ends in the middle of the {what}")]
    Truncated { what: &'static str },
    /// `what` has a value the specification does not allow.
    #[error("the {what} is not valid")]
    Invalid { what: &'static str },
    /// A required `what` is absent.
    #[error("the {what} is missing")]
    Missing { what: &'static str },
    /// `what` is valid but Brume does not handle this value of it.
    #[error("the {what} {value} is not supported")]
    Unsupported { what: &'static str, value: u32 },
    /// `what` is larger than the format (or a named limit) allows.
    #[error("the {what} is {value}, more than the limit of {max}")]
    TooLarge {
        what: &'static str,
        value: u64,
        max: u64,
    },
}
