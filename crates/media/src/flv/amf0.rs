//! AMF0, the value encoding of FLV script data (`onMetaData`) and of RTMP
//! command and data messages: [`Amf0Value`], [`decode`] and [`encode`].
//!
//! Supported types: Number, Boolean, String, Object, Null, Undefined, ECMA array,
//! Strict array, Date and Long string; object and ECMA array bodies end with the
//! object-end marker, which is handled here and never appears as a value. The
//! legacy types (MovieClip, Reference, Unsupported, RecordSet, XML document, Typed
//! object) are refused with [`FlvError::Unsupported`], and the switch to AMF3
//! (marker `0x11`) with [`FlvError::Amf3`].
//!
//! Decoding treats its input as hostile: nesting is limited to
//! [`MAX_AMF0_DEPTH`] levels, one call builds at most [`MAX_AMF0_VALUES`] values,
//! strings are limited to [`MAX_AMF0_STRING_LEN`] bytes, and nothing is
//! allocated from a declared count before the bytes behind it are known to
//! exist. Strings that are not valid UTF-8 (some encoders write Latin-1) are
//! decoded lossily rather than refused.

use super::FlvError;

/// Deepest nesting of objects and arrays accepted by [`decode`]; `onMetaData`
/// and RTMP commands nest three levels at most.
pub const MAX_AMF0_DEPTH: usize = 32;
/// Most values (nested ones included) that one [`decode`] call builds; a
/// 1 MiB `onMetaData` keyframe index holds about 120 000 numbers.
pub const MAX_AMF0_VALUES: usize = 262_144;
/// Longest string (a Long string, or an object key) accepted, in bytes: the
/// largest FLV tag body.
pub const MAX_AMF0_STRING_LEN: usize = 0x00FF_FFFF;

const MARKER_NUMBER: u8 = 0x00;
const MARKER_BOOLEAN: u8 = 0x01;
const MARKER_STRING: u8 = 0x02;
const MARKER_OBJECT: u8 = 0x03;
const MARKER_MOVIE_CLIP: u8 = 0x04;
const MARKER_NULL: u8 = 0x05;
const MARKER_UNDEFINED: u8 = 0x06;
const MARKER_REFERENCE: u8 = 0x07;
const MARKER_ECMA_ARRAY: u8 = 0x08;
const MARKER_OBJECT_END: u8 = 0x09;
const MARKER_STRICT_ARRAY: u8 = 0x0A;
const MARKER_DATE: u8 = 0x0B;
const MARKER_LONG_STRING: u8 = 0x0C;
const MARKER_UNSUPPORTED: u8 = 0x0D;
const MARKER_RECORDSET: u8 = 0x0E;
const MARKER_XML_DOCUMENT: u8 = 0x0F;
const MARKER_TYPED_OBJECT: u8 = 0x10;
const MARKER_AVMPLUS: u8 = 0x11;

/// The longest string a String (16-bit length) can hold.
const SHORT_STRING_MAX: usize = 0xFFFF;

/// One AMF0 value.
#[derive(Debug, Clone, PartialEq)]
pub enum Amf0Value {
    Number(f64),
    Boolean(bool),
    /// A string of at most 65 535 bytes (a longer one is encoded as a Long string).
    String(String),
    /// An anonymous object: properties in their order on the wire.
    Object(Vec<(String, Amf0Value)>),
    Null,
    Undefined,
    /// An associative array (what `onMetaData` carries). The count on the wire
    /// is only a hint: entries are read up to the object-end marker.
    EcmaArray(Vec<(String, Amf0Value)>),
    /// A dense array.
    StrictArray(Vec<Amf0Value>),
    /// Milliseconds since the Unix epoch, and the (reserved, normally 0) time zone.
    Date {
        millis: f64,
        timezone: i16,
    },
    /// A string with a 32-bit length.
    LongString(String),
}

impl Amf0Value {
    /// The property `key` of an Object or ECMA array (the first one of that
    /// name); `None` for other values.
    pub fn get(&self, key: &str) -> Option<&Amf0Value> {
        match self {
            Amf0Value::Object(props) | Amf0Value::EcmaArray(props) => {
                props.iter().find(|(k, _)| k == key).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    /// The number, for a Number.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Amf0Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The text, for a String or Long string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Amf0Value::String(s) | Amf0Value::LongString(s) => Some(s),
            _ => None,
        }
    }

    /// The flag, for a Boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Amf0Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }
}

/// Decodes the value at the start of `data`; returns it and the number of bytes
/// it took.
pub fn decode(data: &[u8]) -> Result<(Amf0Value, usize), FlvError> {
    let mut d = Decoder {
        data,
        pos: 0,
        values: 0,
    };
    let value = d.value(0)?;
    Ok((value, d.pos))
}

/// Decodes every value of `data`, back to back (an RTMP command: name,
/// transaction id, arguments). At most [`MAX_AMF0_VALUES`] values in all.
pub fn decode_all(data: &[u8]) -> Result<Vec<Amf0Value>, FlvError> {
    let mut d = Decoder {
        data,
        pos: 0,
        values: 0,
    };
    let mut out = Vec::new();
    while d.pos < data.len() {
        out.push(d.value(0)?);
    }
    Ok(out)
}

/// Appends the encoding of `value` to `out`.
///
/// Encoding cannot fail, so values AMF0 cannot hold are adapted: a String over
/// 65 535 bytes is written as a Long string, an object key over 65 535 bytes is
/// cut (at a character boundary) to fit, and a Long string or array over
/// 2^32 - 1 items or bytes is cut to that.
pub fn encode(value: &Amf0Value, out: &mut Vec<u8>) {
    match value {
        Amf0Value::Number(n) => {
            out.push(MARKER_NUMBER);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Amf0Value::Boolean(b) => {
            out.push(MARKER_BOOLEAN);
            out.push(u8::from(*b));
        }
        Amf0Value::String(s) if s.len() <= SHORT_STRING_MAX => {
            out.push(MARKER_STRING);
            put_short_string(out, s);
        }
        Amf0Value::String(s) | Amf0Value::LongString(s) => {
            out.push(MARKER_LONG_STRING);
            let bytes = s.as_bytes();
            let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(bytes.get(..len as usize).unwrap_or(bytes));
        }
        Amf0Value::Object(props) => {
            out.push(MARKER_OBJECT);
            put_properties(out, props);
        }
        Amf0Value::Null => out.push(MARKER_NULL),
        Amf0Value::Undefined => out.push(MARKER_UNDEFINED),
        Amf0Value::EcmaArray(props) => {
            out.push(MARKER_ECMA_ARRAY);
            let count = u32::try_from(props.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&count.to_be_bytes());
            put_properties(out, props);
        }
        Amf0Value::StrictArray(items) => {
            out.push(MARKER_STRICT_ARRAY);
            let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&count.to_be_bytes());
            for item in items.iter().take(count as usize) {
                encode(item, out);
            }
        }
        Amf0Value::Date { millis, timezone } => {
            out.push(MARKER_DATE);
            out.extend_from_slice(&millis.to_be_bytes());
            out.extend_from_slice(&timezone.to_be_bytes());
        }
    }
}

/// Writes a 16-bit length and the string, cut at a character boundary to fit.
fn put_short_string(out: &mut Vec<u8>, s: &str) {
    let mut end = s.len().min(SHORT_STRING_MAX);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let bytes = s.as_bytes().get(..end).unwrap_or_default();
    // `end` is at most 0xFFFF.
    out.extend_from_slice(&(end as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Writes key/value pairs and the object-end marker.
fn put_properties(out: &mut Vec<u8>, props: &[(String, Amf0Value)]) {
    for (key, value) in props {
        put_short_string(out, key);
        encode(value, out);
    }
    out.extend_from_slice(&[0, 0, MARKER_OBJECT_END]);
}

/// A bounds-checked reader over one AMF0 buffer.
struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
    /// Values built so far, against [`MAX_AMF0_VALUES`].
    values: usize,
}

impl<'a> Decoder<'a> {
    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], FlvError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.data.len())
            .ok_or(FlvError::Truncated { what })?;
        let bytes = self
            .data
            .get(self.pos..end)
            .ok_or(FlvError::Truncated { what })?;
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], FlvError> {
        let bytes = self.take(N, what)?;
        bytes.try_into().map_err(|_| FlvError::Truncated { what })
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, FlvError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, FlvError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, FlvError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    fn f64(&mut self, what: &'static str) -> Result<f64, FlvError> {
        Ok(f64::from_be_bytes(self.array(what)?))
    }

    fn string(&mut self, len: usize, what: &'static str) -> Result<String, FlvError> {
        if len > MAX_AMF0_STRING_LEN {
            return Err(FlvError::TooLarge {
                what: "AMF0 string length",
                value: len as u64,
                limit: MAX_AMF0_STRING_LEN as u64,
            });
        }
        let bytes = self.take(len, what)?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    fn short_string(&mut self, what: &'static str) -> Result<String, FlvError> {
        let len = usize::from(self.u16(what)?);
        self.string(len, what)
    }

    fn count_value(&mut self) -> Result<(), FlvError> {
        self.values += 1;
        if self.values > MAX_AMF0_VALUES {
            return Err(FlvError::TooLarge {
                what: "number of AMF0 values",
                value: self.values as u64,
                limit: MAX_AMF0_VALUES as u64,
            });
        }
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<Amf0Value, FlvError> {
        self.count_value()?;
        let marker = self.u8("AMF0 type marker")?;
        Ok(match marker {
            MARKER_NUMBER => Amf0Value::Number(self.f64("AMF0 number")?),
            MARKER_BOOLEAN => Amf0Value::Boolean(self.u8("AMF0 boolean")? != 0),
            MARKER_STRING => Amf0Value::String(self.short_string("AMF0 string")?),
            MARKER_OBJECT => Amf0Value::Object(self.properties(depth)?),
            MARKER_NULL => Amf0Value::Null,
            MARKER_UNDEFINED => Amf0Value::Undefined,
            MARKER_ECMA_ARRAY => {
                // The count is a hint that encoders get wrong; the end marker rules.
                self.u32("AMF0 ECMA array count")?;
                Amf0Value::EcmaArray(self.properties(depth)?)
            }
            MARKER_STRICT_ARRAY => Amf0Value::StrictArray(self.strict_array(depth)?),
            MARKER_DATE => Amf0Value::Date {
                millis: self.f64("AMF0 date")?,
                timezone: i16::from_be_bytes(self.array("AMF0 date time zone")?),
            },
            MARKER_LONG_STRING => {
                let len = self.u32("AMF0 long string length")?;
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                Amf0Value::LongString(self.string(len, "AMF0 long string")?)
            }
            MARKER_OBJECT_END => {
                return Err(FlvError::Invalid {
                    what: "an AMF0 object-end marker where a value was expected".into(),
                })
            }
            MARKER_AVMPLUS => return Err(FlvError::Amf3),
            other => {
                let name = match other {
                    MARKER_MOVIE_CLIP => "the AMF0 MovieClip type",
                    MARKER_REFERENCE => "the AMF0 Reference type",
                    MARKER_UNSUPPORTED => "the AMF0 Unsupported type",
                    MARKER_RECORDSET => "the AMF0 RecordSet type",
                    MARKER_XML_DOCUMENT => "the AMF0 XML document type",
                    MARKER_TYPED_OBJECT => "the AMF0 Typed object type",
                    _ => "",
                };
                return Err(FlvError::Unsupported {
                    what: if name.is_empty() {
                        format!("AMF0 type marker 0x{other:02x}")
                    } else {
                        name.to_string()
                    },
                });
            }
        })
    }

    fn check_depth(depth: usize) -> Result<usize, FlvError> {
        let next = depth + 1;
        if next > MAX_AMF0_DEPTH {
            return Err(FlvError::TooDeep {
                limit: MAX_AMF0_DEPTH,
            });
        }
        Ok(next)
    }

    /// Key/value pairs up to and including the object-end marker.
    fn properties(&mut self, depth: usize) -> Result<Vec<(String, Amf0Value)>, FlvError> {
        let depth = Self::check_depth(depth)?;
        let mut props = Vec::new();
        loop {
            let key = self.short_string("AMF0 property name")?;
            if key.is_empty() && self.data.get(self.pos) == Some(&MARKER_OBJECT_END) {
                self.pos += 1;
                return Ok(props);
            }
            let value = self.value(depth)?;
            props.push((key, value));
        }
    }

    fn strict_array(&mut self, depth: usize) -> Result<Vec<Amf0Value>, FlvError> {
        let depth = Self::check_depth(depth)?;
        let count = usize::try_from(self.u32("AMF0 strict array count")?).unwrap_or(usize::MAX);
        // Every value takes at least one byte: a count beyond the bytes left
        // is a lie, refused before anything is allocated for it.
        if count > self.remaining() {
            return Err(FlvError::Truncated {
                what: "AMF0 strict array",
            });
        }
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(self.value(depth)?);
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: &Amf0Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode(value, &mut out);
        let (back, used) = decode(&out).expect("decodes");
        assert_eq!(&back, value);
        assert_eq!(used, out.len());
        out
    }

    #[test]
    fn every_type_round_trips() {
        let values = [
            Amf0Value::Number(29.97),
            Amf0Value::Number(-0.5),
            Amf0Value::Boolean(true),
            Amf0Value::Boolean(false),
            Amf0Value::String(String::new()),
            Amf0Value::String("onMetaData".into()),
            Amf0Value::String("é ü 字".into()),
            Amf0Value::Null,
            Amf0Value::Undefined,
            Amf0Value::Date {
                millis: 1.7e12,
                timezone: 0,
            },
            Amf0Value::LongString("short but long-coded".into()),
            Amf0Value::Object(vec![
                ("app".into(), Amf0Value::String("live".into())),
                ("audioCodecs".into(), Amf0Value::Number(3575.0)),
                ("".into(), Amf0Value::Null),
            ]),
            Amf0Value::EcmaArray(vec![
                ("duration".into(), Amf0Value::Number(10.0)),
                ("stereo".into(), Amf0Value::Boolean(true)),
            ]),
            Amf0Value::StrictArray(vec![
                Amf0Value::Number(1.0),
                Amf0Value::StrictArray(vec![]),
                Amf0Value::Object(vec![]),
            ]),
        ];
        for value in &values {
            round_trip(value);
        }
    }

    #[test]
    fn encodings_match_the_specification_bytes() {
        assert_eq!(
            round_trip(&Amf0Value::Number(1.0)),
            [0x00, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            round_trip(&Amf0Value::String("ab".into())),
            [0x02, 0, 2, b'a', b'b']
        );
        assert_eq!(
            round_trip(&Amf0Value::EcmaArray(vec![(
                "w".into(),
                Amf0Value::Boolean(true)
            )])),
            [0x08, 0, 0, 0, 1, 0, 1, b'w', 0x01, 1, 0, 0, 9]
        );
        assert_eq!(
            round_trip(&Amf0Value::StrictArray(vec![Amf0Value::Null])),
            [0x0A, 0, 0, 0, 1, 0x05]
        );
        assert_eq!(
            round_trip(&Amf0Value::Date {
                millis: 0.0,
                timezone: -60
            }),
            [0x0B, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xC4]
        );
    }

    #[test]
    fn strings_over_64k_become_long_strings_and_keys_are_cut() {
        let long = "x".repeat(70_000);
        let mut out = Vec::new();
        encode(&Amf0Value::String(long.clone()), &mut out);
        assert_eq!(out[0], MARKER_LONG_STRING);
        assert_eq!(decode(&out).unwrap().0, Amf0Value::LongString(long));

        // A key of 65 535 bytes ending in a 2-byte character is cut before it.
        let key = format!("{}é", "k".repeat(65_534));
        let mut out = Vec::new();
        encode(&Amf0Value::Object(vec![(key, Amf0Value::Null)]), &mut out);
        let (back, _) = decode(&out).unwrap();
        let Amf0Value::Object(props) = back else {
            panic!("not an object")
        };
        assert_eq!(props[0].0, "k".repeat(65_534));
    }

    #[test]
    fn ecma_array_counts_are_hints_and_decode_all_reads_a_command() {
        // Count says 5, one entry follows: the end marker wins.
        let data = [0x08, 0, 0, 0, 5, 0, 1, b'a', 0x05, 0, 0, 9];
        let (value, used) = decode(&data).unwrap();
        assert_eq!(used, data.len());
        assert_eq!(value.get("a"), Some(&Amf0Value::Null));

        let mut cmd = Vec::new();
        encode(&Amf0Value::String("connect".into()), &mut cmd);
        encode(&Amf0Value::Number(1.0), &mut cmd);
        encode(&Amf0Value::Object(vec![]), &mut cmd);
        let all = decode_all(&cmd).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].as_str(), Some("connect"));
        assert_eq!(all[1].as_number(), Some(1.0));
    }

    #[test]
    fn invalid_utf8_is_decoded_lossily() {
        let data = [0x02, 0, 2, 0xE9, b'a'];
        assert_eq!(
            decode(&data).unwrap().0,
            Amf0Value::String("\u{FFFD}a".into())
        );
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        for marker in [MARKER_STRICT_ARRAY, MARKER_OBJECT, MARKER_ECMA_ARRAY] {
            let mut data = Vec::new();
            for _ in 0..100_000 {
                match marker {
                    MARKER_STRICT_ARRAY => data.extend_from_slice(&[0x0A, 0, 0, 0, 1]),
                    MARKER_OBJECT => data.extend_from_slice(&[0x03, 0, 1, b'k']),
                    _ => data.extend_from_slice(&[0x08, 0, 0, 0, 1, 0, 1, b'k']),
                }
            }
            data.push(0x05);
            assert!(matches!(
                decode(&data),
                Err(FlvError::TooDeep {
                    limit: MAX_AMF0_DEPTH
                })
            ));
        }
        // Exactly at the limit is fine.
        let mut data = Vec::new();
        for _ in 0..MAX_AMF0_DEPTH {
            data.extend_from_slice(&[0x0A, 0, 0, 0, 1]);
        }
        data.push(0x05);
        assert!(decode(&data).is_ok());
    }

    #[test]
    fn huge_declared_lengths_are_errors_not_allocations() {
        let cases: [&[u8]; 5] = [
            &[0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x05],
            &[0x0C, 0xFF, 0xFF, 0xFF, 0xFF, b'a'],
            &[0x0C, 0x00, 0xFF, 0xFF, 0xFF, b'a'],
            &[0x02, 0xFF, 0xFF, b'a'],
            &[0x03, 0xFF, 0xFF],
        ];
        for data in cases {
            let err = decode(data).unwrap_err();
            assert!(
                matches!(err, FlvError::Truncated { .. } | FlvError::TooLarge { .. }),
                "{data:?}: {err}"
            );
        }
    }

    #[test]
    fn too_many_values_are_refused() {
        let count = MAX_AMF0_VALUES + 1;
        let mut data = vec![0x0A];
        data.extend_from_slice(&(count as u32).to_be_bytes());
        data.resize(data.len() + count, MARKER_NULL);
        assert!(matches!(
            decode(&data),
            Err(FlvError::TooLarge {
                what: "number of AMF0 values",
                ..
            })
        ));
    }

    #[test]
    fn amf3_legacy_types_and_stray_markers_are_errors() {
        assert!(matches!(decode(&[0x11, 0x01]), Err(FlvError::Amf3)));
        for marker in [0x04, 0x07, 0x0D, 0x0E, 0x0F, 0x10, 0x12, 0xFF] {
            assert!(
                matches!(decode(&[marker, 0, 0]), Err(FlvError::Unsupported { .. })),
                "marker {marker:#x}"
            );
        }
        assert!(matches!(decode(&[0x09]), Err(FlvError::Invalid { .. })));
        assert!(matches!(decode(&[]), Err(FlvError::Truncated { .. })));
        // An object whose end marker is missing.
        assert!(matches!(
            decode(&[0x03, 0, 1, b'a', 0x05]),
            Err(FlvError::Truncated { .. })
        ));
    }

    #[test]
    fn every_prefix_of_a_valid_encoding_is_an_error_never_a_panic() {
        let value = Amf0Value::EcmaArray(vec![
            ("duration".into(), Amf0Value::Number(10.0)),
            (
                "keyframes".into(),
                Amf0Value::Object(vec![(
                    "times".into(),
                    Amf0Value::StrictArray(vec![Amf0Value::Number(0.0), Amf0Value::Number(2.0)]),
                )]),
            ),
            (
                "created".into(),
                Amf0Value::Date {
                    millis: 5.0,
                    timezone: 0,
                },
            ),
            ("title".into(), Amf0Value::LongString("t".into())),
        ]);
        let mut out = Vec::new();
        encode(&value, &mut out);
        for cut in 0..out.len() {
            assert!(decode(&out[..cut]).is_err(), "cut at {cut}");
        }
    }
}
