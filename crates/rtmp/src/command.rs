//! RTMP command and data messages: AMF0 values back to back (RTMP 1.0
//! specification, section 7). [`Command`] reads a NetConnection/NetStream
//! command; the builders write the replies this server sends (`_result`,
//! `_error`, `onStatus`, `onFCPublish`, ...).
//!
//! ```text
//! command: name (string) | transaction id (number) | command object (object or null)
//!          | arguments...
//! data:    handler name (string, e.g. "@setDataFrame") | values...
//! ```
//!
//! The AMF3 flavours of both messages (types 17 and 15) start with one format
//! byte 0 and continue in AMF0; a switch to AMF3 inside (marker 0x11) is an
//! error, as is any value the AMF0 decoder refuses.

use brume_media::flv::amf0::{self, Amf0Value};

use crate::error::RtmpError;

/// A command message from the client.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub name: String,
    /// 0 for commands that expect no reply.
    pub transaction: f64,
    /// The command object (`connect`'s properties), usually Null otherwise.
    pub object: Amf0Value,
    /// The arguments after the command object.
    pub args: Vec<Amf0Value>,
}

impl Command {
    /// Reads a command message payload; `amf3` for message type 17.
    pub fn parse(payload: &[u8], amf3: bool) -> Result<Command, RtmpError> {
        let mut values = decode_values(payload, amf3, "command message")?.into_iter();
        let name = match values.next() {
            Some(Amf0Value::String(s) | Amf0Value::LongString(s)) => s,
            Some(_) => return Err(RtmpError::invalid("a command name that is not a string")),
            None => return Err(RtmpError::invalid("an empty command message")),
        };
        let transaction = values
            .next()
            .and_then(|v| v.as_number())
            .filter(|n| n.is_finite())
            .unwrap_or(0.0);
        let object = values.next().unwrap_or(Amf0Value::Null);
        Ok(Command {
            name,
            transaction,
            object,
            args: values.collect(),
        })
    }

    /// The `index`th argument after the command object, as a string.
    pub fn string_arg(&self, index: usize) -> Option<&str> {
        self.args.get(index).and_then(|v| v.as_str())
    }

    /// The `index`th argument after the command object, as a number.
    pub fn number_arg(&self, index: usize) -> Option<f64> {
        self.args.get(index).and_then(|v| v.as_number())
    }
}

/// Decodes the AMF0 values of a command or data message; `amf3` strips the
/// leading format byte of message types 15 and 17.
pub fn decode_values(
    payload: &[u8],
    amf3: bool,
    what: &'static str,
) -> Result<Vec<Amf0Value>, RtmpError> {
    let body = if amf3 {
        match payload.split_first() {
            Some((0, rest)) => rest,
            Some((byte, _)) => {
                return Err(RtmpError::invalid(format!(
                    "an AMF3 {what} starting with format byte {byte}, not 0"
                )))
            }
            None => &[],
        }
    } else {
        payload
    };
    amf0::decode_all(body).map_err(|source| RtmpError::Amf { what, source })
}

/// Encodes values back to back.
pub fn encode_values(values: &[Amf0Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for value in values {
        amf0::encode(value, &mut out);
    }
    out
}

fn string(s: &str) -> Amf0Value {
    Amf0Value::String(s.to_string())
}

/// An object of string-valued and other properties.
pub fn object(props: &[(&str, Amf0Value)]) -> Amf0Value {
    Amf0Value::Object(
        props
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect(),
    )
}

/// A status information object: level, code, description.
pub fn status_info(level: &str, code: &str, description: &str) -> Amf0Value {
    object(&[
        ("level", string(level)),
        ("code", string(code)),
        ("description", string(description)),
    ])
}

/// `_result` for `transaction` with a command object and one value.
pub fn result(transaction: f64, object: Amf0Value, value: Amf0Value) -> Vec<u8> {
    encode_values(&[
        string("_result"),
        Amf0Value::Number(transaction),
        object,
        value,
    ])
}

/// `_error` for `transaction`: NetConnection.Call.Failed with `description`.
pub fn call_failed(transaction: f64, description: &str) -> Vec<u8> {
    encode_values(&[
        string("_error"),
        Amf0Value::Number(transaction),
        Amf0Value::Null,
        status_info("error", "NetConnection.Call.Failed", description),
    ])
}

/// The `_result` of `connect`.
pub fn connect_result(transaction: f64) -> Vec<u8> {
    result(
        transaction,
        object(&[
            ("fmsVer", string("FMS/3,0,1,123")),
            ("capabilities", Amf0Value::Number(31.0)),
        ]),
        object(&[
            ("level", string("status")),
            ("code", string("NetConnection.Connect.Success")),
            ("description", string("Connection succeeded.")),
            ("objectEncoding", Amf0Value::Number(0.0)),
        ]),
    )
}

/// An `onStatus` command (transaction 0, null command object).
pub fn on_status(level: &str, code: &str, description: &str) -> Vec<u8> {
    encode_values(&[
        string("onStatus"),
        Amf0Value::Number(0.0),
        Amf0Value::Null,
        status_info(level, code, description),
    ])
}

/// A status reply named `name` (`onFCPublish`, `onFCUnpublish`).
pub fn named_status(name: &str, code: &str, description: &str) -> Vec<u8> {
    encode_values(&[
        string(name),
        Amf0Value::Number(0.0),
        Amf0Value::Null,
        status_info("status", code, description),
    ])
}

/// The `|RtmpSampleAccess` data message that lets Flash players read the
/// audio and video samples.
pub fn sample_access() -> Vec<u8> {
    encode_values(&[
        string("|RtmpSampleAccess"),
        Amf0Value::Boolean(true),
        Amf0Value::Boolean(true),
    ])
}

/// An `onMetaData` data message carrying `value`.
pub fn on_metadata(value: &Amf0Value) -> Vec<u8> {
    let mut out = encode_values(&[string("onMetaData")]);
    amf0::encode(value, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_command_parses() {
        let payload = encode_values(&[
            string("connect"),
            Amf0Value::Number(1.0),
            object(&[("app", string("live")), ("tcUrl", string("rtmp://h/live"))]),
        ]);
        let cmd = Command::parse(&payload, false).unwrap();
        assert_eq!(cmd.name, "connect");
        assert_eq!(cmd.transaction, 1.0);
        assert_eq!(cmd.object.get("app").and_then(|v| v.as_str()), Some("live"));
        assert!(cmd.args.is_empty());

        // The AMF3 flavour: a format byte 0 first.
        let mut amf3 = vec![0];
        amf3.extend_from_slice(&payload);
        assert_eq!(Command::parse(&amf3, true).unwrap(), cmd);
    }

    #[test]
    fn publish_arguments_follow_the_null_object() {
        let payload = encode_values(&[
            string("publish"),
            Amf0Value::Number(5.0),
            Amf0Value::Null,
            string("key?x=1"),
            string("live"),
        ]);
        let cmd = Command::parse(&payload, false).unwrap();
        assert_eq!(cmd.string_arg(0), Some("key?x=1"));
        assert_eq!(cmd.string_arg(1), Some("live"));
        assert_eq!(cmd.number_arg(0), None);
    }

    #[test]
    fn amf3_markers_and_bad_names_are_errors() {
        // The AMF3 switch marker inside an AMF3 command message.
        let err = Command::parse(&[0, 0x11, 0x06, 0x03, b'a'], true).unwrap_err();
        assert!(matches!(err, RtmpError::Amf { .. }), "{err}");
        // ... and inside an AMF0 one.
        let mut payload = encode_values(&[string("connect"), Amf0Value::Number(1.0)]);
        payload.extend_from_slice(&[0x11, 0x0A]);
        assert!(Command::parse(&payload, false).is_err());
        // A non-zero format byte, a number as name, nothing at all.
        assert!(Command::parse(&[3, 0x05], true).is_err());
        assert!(Command::parse(&encode_values(&[Amf0Value::Number(1.0)]), false).is_err());
        assert!(Command::parse(&[], false).is_err());
        assert!(Command::parse(&[], true).is_err());
    }

    #[test]
    fn replies_decode_as_commands() {
        let cmd = Command::parse(&connect_result(1.0), false).unwrap();
        assert_eq!(cmd.name, "_result");
        assert_eq!(
            cmd.args[0].get("code").and_then(|v| v.as_str()),
            Some("NetConnection.Connect.Success")
        );
        let cmd = Command::parse(
            &on_status("error", "NetStream.Publish.BadName", "no"),
            false,
        )
        .unwrap();
        assert_eq!(cmd.name, "onStatus");
        assert_eq!(cmd.transaction, 0.0);
        assert_eq!(
            cmd.args[0].get("level").and_then(|v| v.as_str()),
            Some("error")
        );
    }
}
