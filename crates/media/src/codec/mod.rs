//! Codec configuration: parsing and building decoder configuration records and
//! codec strings, and converting between payload framings.

pub mod aac;
pub mod bits;
pub mod h264;
