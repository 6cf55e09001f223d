//! Fuzz target: AMF0 as RTMP uses it. Decoding never panics; what decodes
//! re-encodes to bytes that decode to the same bytes; command parsing (AMF0
//! and the AMF3 flavour with its format byte) and data message decoding never
//! panic, and a parsed command re-encodes to one that parses the same.
//!
//! Seeds (`corpus/amf0/`): `seed-connect` is ffmpeg's `connect` command
//! payload (app, flashVer, tcUrl, ...), `seed-publish` a `publish` command,
//! `seed-set-data-frame` an `@setDataFrame onMetaData` ECMA array,
//! `seed-amf3-switch` a command containing the AMF3 switch marker.
#![no_main]

use brume_media::flv::amf0;
use brume_rtmp::command::{decode_values, encode_values, Command};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((value, used)) = amf0::decode(data) {
        assert!(used <= data.len());
        let mut once = Vec::new();
        amf0::encode(&value, &mut once);
        let (again, again_used) = amf0::decode(&once).expect("own encoding decodes");
        assert_eq!(again_used, once.len());
        let mut twice = Vec::new();
        amf0::encode(&again, &mut twice);
        assert_eq!(once, twice);
    }

    for amf3 in [false, true] {
        if let Ok(command) = Command::parse(data, amf3) {
            let mut values = vec![
                amf0::Amf0Value::String(command.name.clone()),
                amf0::Amf0Value::Number(command.transaction),
                command.object.clone(),
            ];
            values.extend(command.args.iter().cloned());
            let again = Command::parse(&encode_values(&values), false).expect("own command parses");
            assert_eq!(again.name, command.name);
            assert_eq!(again.args.len(), command.args.len());
        }
        let _ = decode_values(data, amf3, "data message");
    }
});
