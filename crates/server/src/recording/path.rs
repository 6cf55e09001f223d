//! Recording folder templates: `$stream`, `$datetime` (`20261206-032358`),
//! `$date` (`2026-12-06`), `$time` (`032358`) and `$unix` (seconds), all in UTC.
//!
//! A template names the folder of one recording. Its *root* — the part before
//! the first time variable, with `$stream` filled in — is where every recording
//! of that stream lives: listing and retention look there.

use std::path::{Path, PathBuf};

use super::settings::SettingsError;

const VARIABLES: [&str; 5] = ["datetime", "stream", "date", "time", "unix"];

/// Refuses a template with a `$name` Brume does not know.
pub fn check_variables(template: &str) -> Result<(), SettingsError> {
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        rest = &rest[i + 1..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !VARIABLES.contains(&name.as_str()) {
            return Err(SettingsError::UnknownVariable(name));
        }
    }
    Ok(())
}

/// A stream name as one safe path component (anything but letters, digits,
/// `-`, `_` and `.` becomes `_`; never `.` or `..`).
pub fn component(stream: &str) -> String {
    let safe: String = stream
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.chars().all(|c| c == '.') {
        safe.replace('.', "_")
    } else {
        safe
    }
}

/// The template with every variable filled in for `stream` at `unix_ms`.
pub fn expand(template: &str, stream: &str, unix_ms: i64, base: &Path) -> PathBuf {
    let stamp = brume_media::playlist::time::date_time(unix_ms).unwrap_or_default();
    // `YYYY-MM-DDTHH:MM:SS.mmmZ`
    let date = stamp.get(..10).unwrap_or("0000-00-00").to_owned();
    let time: String = stamp
        .get(11..19)
        .unwrap_or("00:00:00")
        .chars()
        .filter(|c| *c != ':')
        .collect();
    let values = [
        ("datetime", format!("{}-{time}", date.replace('-', ""))),
        ("stream", component(stream)),
        ("date", date),
        ("time", time),
        ("unix", (unix_ms.div_euclid(1000)).to_string()),
    ];
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    'scan: while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        for (name, value) in &values {
            if let Some(after) = rest.strip_prefix(name) {
                out.push_str(value);
                rest = after;
                continue 'scan;
            }
        }
        out.push('$');
    }
    out.push_str(rest);
    base.join(out)
}

/// Where every recording of `stream` made with `template` lives: the folders
/// before the first component that varies with time.
pub fn root(template: &str, stream: &str, base: &Path) -> PathBuf {
    let mut root = PathBuf::new();
    for part in Path::new(template).components() {
        let text = part.as_os_str().to_string_lossy();
        if text.contains('$') && text.replace("$stream", "").contains('$') {
            break;
        }
        root.push(text.replace("$stream", &component(stream)));
    }
    base.join(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_filled_in_utc() {
        // 2026-12-06T03:23:58Z
        let at = 1_796_527_438_000;
        let path = expand("rec/$stream/$datetime", "cam 1", at, Path::new("/srv"));
        assert_eq!(path, Path::new("/srv/rec/cam_1/20261206-032358"));
        let path = expand("/r/$date/$time-$unix", "x", at, Path::new("/srv"));
        assert_eq!(path, Path::new("/r/2026-12-06/032358-1796527438"));
    }

    #[test]
    fn the_root_stops_before_time() {
        let base = Path::new("/srv");
        assert_eq!(
            root("rec/$stream/$datetime", "a", base),
            Path::new("/srv/rec/a")
        );
        assert_eq!(root("/r/$date/$stream", "a", base), Path::new("/r"));
    }

    #[test]
    fn hostile_stream_names_stay_one_component() {
        assert_eq!(component(".."), "__");
        assert_eq!(component("a/../b"), "a_.._b");
        assert!(check_variables("$streams").is_err());
        assert!(check_variables("/x/$stream/$datetime").is_ok());
    }
}
