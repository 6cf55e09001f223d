//! The commands a MEWS client sends, parsed from its JSON text messages.
//!
//! Pure and bounded: the message is already capped by the socket limits, lists are
//! capped by [`MAX_SUPPORTED_CODECS`], and numbers are clamped to sane ranges. An
//! unknown `type` or a malformed field is a [`CommandError`], which the session
//! reports to the client without closing the connection.

use serde_json::Value;

/// Most entries of `supported_codecs` looked at.
pub const MAX_SUPPORTED_CODECS: usize = 64;
/// Longest codec name looked at (longer names are ignored).
const MAX_CODEC_NAME: usize = 32;
/// Largest playback rate honoured (a larger request is clamped to it).
pub const MAX_PLAY_RATE: f64 = 16.0;
/// Smallest playback rate honoured.
pub const MIN_PLAY_RATE: f64 = 1.0 / 16.0;
/// Longest `tracks` selector looked at (longer ones are refused).
const MAX_SELECTOR_LEN: usize = 256;
/// Largest media time a client may name: about 31 years, far past any file.
const MAX_SEEK_MS: f64 = 1e12;

/// Where to play from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SeekTarget {
    /// The live edge (latest keyframe).
    Live,
    /// A media time in milliseconds (never negative).
    Ms(i64),
}

/// How fast to deliver media.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PlayRate {
    /// The server decides (real time).
    Auto,
    /// A multiple of real time, within [`MIN_PLAY_RATE`]..=[`MAX_PLAY_RATE`].
    Times(f64),
}

impl PlayRate {
    /// The rate as a factor of real time.
    pub fn factor(self) -> f64 {
        match self {
            PlayRate::Auto => 1.0,
            PlayRate::Times(rate) => rate,
        }
    }

    /// The rate as MEWS spells it: `"auto"` or a number.
    pub fn to_json(self) -> Value {
        match self {
            PlayRate::Auto => Value::from("auto"),
            PlayRate::Times(rate) => Value::from(rate),
        }
    }
}

/// One client command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `request_codec_data`: which codec families the player can decode (`None`:
    /// the client did not say, so everything).
    RequestCodecData { supported: Option<Vec<String>> },
    /// `play`, optionally from a position.
    Play { seek: Option<SeekTarget> },
    /// `pause`.
    Pause,
    /// `hold` (the player's buffer is full, or it paused).
    Hold,
    /// `seek`.
    Seek { target: SeekTarget },
    /// `set_speed`.
    SetSpeed { rate: PlayRate },
    /// `tracks`: MistServer's `video` / `audio` selectors (`None`: not given).
    Tracks {
        video: Option<String>,
        audio: Option<String>,
    },
    /// `stop`.
    Stop,
}

/// Why a text message is not a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("not a JSON object")]
    NotJson,
    #[error("the message has no \"type\"")]
    NoType,
    #[error("unknown command type \"{0}\"")]
    UnknownType(String),
    #[error("\"{field}\" {problem}")]
    BadField {
        field: &'static str,
        problem: &'static str,
    },
}

/// Parses one text message.
pub fn parse_command(text: &str) -> Result<Command, CommandError> {
    let value: Value = serde_json::from_str(text).map_err(|_| CommandError::NotJson)?;
    let object = value.as_object().ok_or(CommandError::NotJson)?;
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .ok_or(CommandError::NoType)?;
    match kind {
        "request_codec_data" => Ok(Command::RequestCodecData {
            supported: supported_codecs(object.get("supported_codecs"))?,
        }),
        "play" => Ok(Command::Play {
            seek: match object.get("seek_time") {
                None | Some(Value::Null) => None,
                Some(value) => Some(seek_target(value)?),
            },
        }),
        "pause" => Ok(Command::Pause),
        "hold" => Ok(Command::Hold),
        "seek" => match object.get("seek_time") {
            Some(value) => Ok(Command::Seek {
                target: seek_target(value)?,
            }),
            None => Err(CommandError::BadField {
                field: "seek_time",
                problem: "is missing",
            }),
        },
        "set_speed" => Ok(Command::SetSpeed {
            rate: play_rate(object.get("play_rate"))?,
        }),
        "tracks" => Ok(Command::Tracks {
            video: selector(object.get("video"), "video")?,
            audio: selector(object.get("audio"), "audio")?,
        }),
        "stop" => Ok(Command::Stop),
        other => Err(CommandError::UnknownType(
            other.chars().take(MAX_CODEC_NAME).collect(),
        )),
    }
}

fn supported_codecs(value: Option<&Value>) -> Result<Option<Vec<String>>, CommandError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(list)) => Ok(Some(
            list.iter()
                .take(MAX_SUPPORTED_CODECS)
                .filter_map(Value::as_str)
                .filter(|name| name.len() <= MAX_CODEC_NAME)
                .map(str::to_owned)
                .collect(),
        )),
        Some(_) => Err(CommandError::BadField {
            field: "supported_codecs",
            problem: "must be a list of codec names",
        }),
    }
}

/// A `tracks` selector: a string, or a number (a track id).
fn selector(value: Option<&Value>, field: &'static str) -> Result<Option<String>, CommandError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.len() <= MAX_SELECTOR_LEN => Ok(Some(text.clone())),
        Some(Value::Number(number)) => Ok(Some(number.to_string())),
        Some(_) => Err(CommandError::BadField {
            field,
            problem: "must be none, all, maxbps, minbps or track ids",
        }),
    }
}

fn seek_target(value: &Value) -> Result<SeekTarget, CommandError> {
    let bad = CommandError::BadField {
        field: "seek_time",
        problem: "must be a time in milliseconds or \"live\"",
    };
    let ms = match value {
        Value::String(text) if text.eq_ignore_ascii_case("live") => return Ok(SeekTarget::Live),
        Value::String(text) => text.trim().parse::<f64>().map_err(|_| bad.clone())?,
        Value::Number(number) => number.as_f64().ok_or_else(|| bad.clone())?,
        _ => return Err(bad),
    };
    if !ms.is_finite() {
        return Err(bad);
    }
    Ok(SeekTarget::Ms(ms.clamp(0.0, MAX_SEEK_MS) as i64))
}

fn play_rate(value: Option<&Value>) -> Result<PlayRate, CommandError> {
    let bad = CommandError::BadField {
        field: "play_rate",
        problem: "must be a positive number or \"auto\"",
    };
    match value {
        Some(Value::String(text)) if text.eq_ignore_ascii_case("auto") => Ok(PlayRate::Auto),
        Some(Value::Number(number)) => match number.as_f64() {
            Some(rate) if rate.is_finite() && rate > 0.0 => {
                Ok(PlayRate::Times(rate.clamp(MIN_PLAY_RATE, MAX_PLAY_RATE)))
            }
            _ => Err(bad),
        },
        _ => Err(bad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_command_the_player_sends() {
        assert_eq!(
            parse_command(r#"{"type":"request_codec_data","supported_codecs":["H264","AAC"]}"#),
            Ok(Command::RequestCodecData {
                supported: Some(vec!["H264".into(), "AAC".into()])
            })
        );
        assert_eq!(
            parse_command(r#"{"type":"request_codec_data"}"#),
            Ok(Command::RequestCodecData { supported: None })
        );
        assert_eq!(
            parse_command(r#"{"type":"play"}"#),
            Ok(Command::Play { seek: None })
        );
        assert_eq!(
            parse_command(r#"{"type":"play","seek_time":"live"}"#),
            Ok(Command::Play {
                seek: Some(SeekTarget::Live)
            })
        );
        assert_eq!(
            parse_command(r#"{"type":"seek","seek_time":3000}"#),
            Ok(Command::Seek {
                target: SeekTarget::Ms(3000)
            })
        );
        assert_eq!(parse_command(r#"{"type":"hold"}"#), Ok(Command::Hold));
        assert_eq!(parse_command(r#"{"type":"pause"}"#), Ok(Command::Pause));
        assert_eq!(parse_command(r#"{"type":"stop"}"#), Ok(Command::Stop));
        assert_eq!(
            parse_command(r#"{"type":"tracks","video":"none","audio":2}"#),
            Ok(Command::Tracks {
                video: Some("none".into()),
                audio: Some("2".into())
            })
        );
        assert_eq!(
            parse_command(r#"{"type":"set_speed","play_rate":"auto"}"#),
            Ok(Command::SetSpeed {
                rate: PlayRate::Auto
            })
        );
        assert_eq!(
            parse_command(r#"{"type":"set_speed","play_rate":2}"#),
            Ok(Command::SetSpeed {
                rate: PlayRate::Times(2.0)
            })
        );
    }

    #[test]
    fn out_of_range_numbers_are_clamped_and_nonsense_refused() {
        assert_eq!(
            parse_command(r#"{"type":"seek","seek_time":-50}"#),
            Ok(Command::Seek {
                target: SeekTarget::Ms(0)
            })
        );
        assert_eq!(
            parse_command(r#"{"type":"seek","seek_time":1e300}"#),
            Ok(Command::Seek {
                target: SeekTarget::Ms(1_000_000_000_000)
            })
        );
        assert_eq!(
            parse_command(r#"{"type":"set_speed","play_rate":1000}"#),
            Ok(Command::SetSpeed {
                rate: PlayRate::Times(MAX_PLAY_RATE)
            })
        );
        assert!(matches!(
            parse_command(r#"{"type":"set_speed","play_rate":-1}"#),
            Err(CommandError::BadField { .. })
        ));
        assert!(matches!(
            parse_command(r#"{"type":"seek"}"#),
            Err(CommandError::BadField { .. })
        ));
        assert!(matches!(
            parse_command(r#"{"type":"seek","seek_time":{}}"#),
            Err(CommandError::BadField { .. })
        ));
        assert!(matches!(
            parse_command(r#"{"type":"request_codec_data","supported_codecs":"H264"}"#),
            Err(CommandError::BadField { .. })
        ));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(parse_command("hello"), Err(CommandError::NotJson));
        assert_eq!(parse_command("[1,2]"), Err(CommandError::NotJson));
        assert_eq!(
            parse_command(r#"{"kind":"play"}"#),
            Err(CommandError::NoType)
        );
        assert_eq!(parse_command(r#"{"type":7}"#), Err(CommandError::NoType));
        assert_eq!(
            parse_command(r#"{"type":"dance"}"#),
            Err(CommandError::UnknownType("dance".into()))
        );
        let long = format!(r#"{{"type":"{}"}}"#, "x".repeat(1000));
        match parse_command(&long) {
            Err(CommandError::UnknownType(name)) => assert!(name.len() <= MAX_CODEC_NAME),
            other => panic!("{other:?}"),
        }
        let many = format!(
            r#"{{"type":"request_codec_data","supported_codecs":[{}]}}"#,
            vec!["\"AAC\""; 1000].join(",")
        );
        match parse_command(&many) {
            Ok(Command::RequestCodecData {
                supported: Some(list),
            }) => assert_eq!(list.len(), MAX_SUPPORTED_CODECS),
            other => panic!("{other:?}"),
        }
    }
}
