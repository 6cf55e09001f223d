//! Time as manifest text: xs:duration from milliseconds (`PT1H2M3.456S`) and
//! xs:dateTime in UTC with milliseconds (`2000-02-29T00:00:00.000Z`) from Unix
//! milliseconds, the forms DASH attributes and HLS `EXT-X-PROGRAM-DATE-TIME` take.
//!
//! No clock and no calendar crate: the caller passes every instant, and the civil
//! date is computed here from the day count (proleptic Gregorian calendar, UTC, no
//! leap seconds, as Unix time counts).

use std::fmt::Write as _;

use super::PlaylistError;

/// Earliest instant written: 0001-01-01T00:00:00.000Z (XML Schema 1.0 has no
/// year 0, and ISO 8601 profiles want four-digit years).
pub const MIN_DATE_TIME_MS: i64 = -62_135_596_800_000;
/// Latest instant written: 9999-12-31T23:59:59.999Z.
pub const MAX_DATE_TIME_MS: i64 = 253_402_300_799_999;

const MS_PER_DAY: i64 = 86_400_000;
/// Days from 0001-01-01 to 1970-01-01.
const DAYS_FROM_YEAR_1_TO_1970: i64 = 719_162;
const DAYS_PER_400_YEARS: i64 = 146_097;
/// A century that does not end on a multiple of 400 years.
const DAYS_PER_100_YEARS: i64 = 36_524;
/// Four years, one of them leap.
const DAYS_PER_4_YEARS: i64 = 1_461;

/// Appends the xs:duration of `ms` milliseconds: hours, minutes and seconds with
/// zero parts left out and at most three (trailing-zero-free) decimals:
/// `PT0S`, `PT1.5S`, `PT2M`, `PT1H2M3.456S`.
pub fn write_duration(out: &mut String, ms: u64) {
    let hours = ms / 3_600_000;
    let minutes = ms / 60_000 % 60;
    let seconds = ms / 1000 % 60;
    let millis = ms % 1000;
    out.push_str("PT");
    if hours > 0 {
        let _ = write!(out, "{hours}H");
    }
    if minutes > 0 {
        let _ = write!(out, "{minutes}M");
    }
    if seconds > 0 || millis > 0 || ms == 0 {
        let _ = write!(out, "{seconds}");
        if millis > 0 {
            // Three digits, then the trailing zeros off (a non-zero digit stays).
            let _ = write!(out, ".{millis:03}");
            while out.ends_with('0') {
                out.pop();
            }
        }
        out.push('S');
    }
}

/// The xs:duration of `ms` milliseconds (see [`write_duration`]).
pub fn duration(ms: u64) -> String {
    let mut out = String::with_capacity(24);
    write_duration(&mut out, ms);
    out
}

/// Appends the xs:dateTime of a Unix time in milliseconds, in UTC with
/// milliseconds: `2000-02-29T00:00:00.000Z`. Instants outside years 1–9999 are an
/// error (see [`MIN_DATE_TIME_MS`], [`MAX_DATE_TIME_MS`]); nothing is written then.
pub fn write_date_time(out: &mut String, unix_ms: i64) -> Result<(), PlaylistError> {
    check_date_time(unix_ms)?;
    let days = unix_ms.div_euclid(MS_PER_DAY);
    let ms_of_day = unix_ms.rem_euclid(MS_PER_DAY);
    let (year, month, day) = civil_from_unix_days(days);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000
    );
    Ok(())
}

/// The xs:dateTime of a Unix time in milliseconds (see [`write_date_time`]).
pub fn date_time(unix_ms: i64) -> Result<String, PlaylistError> {
    let mut out = String::with_capacity(24);
    write_date_time(&mut out, unix_ms)?;
    Ok(out)
}

/// Checks that an instant is within years 1–9999 (see [`MIN_DATE_TIME_MS`],
/// [`MAX_DATE_TIME_MS`]).
pub(super) fn check_date_time(unix_ms: i64) -> Result<(), PlaylistError> {
    if (MIN_DATE_TIME_MS..=MAX_DATE_TIME_MS).contains(&unix_ms) {
        Ok(())
    } else {
        Err(PlaylistError::DateOutOfRange { unix_ms })
    }
}

/// Whether `year` has a February 29th.
fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// (year, month 1–12, day 1–31) of a day counted from 1970-01-01, for days in
/// years 1–9999 (the callers check the range; outside it the result is clamped to
/// year 1 rather than wrong arithmetic).
pub(super) fn civil_from_unix_days(unix_days: i64) -> (i64, u32, u32) {
    // Count from 0001-01-01, where the 400-, 100- and 4-year cycles all begin.
    let mut rest = unix_days.saturating_add(DAYS_FROM_YEAR_1_TO_1970).max(0);
    let cycles_400 = rest / DAYS_PER_400_YEARS;
    rest %= DAYS_PER_400_YEARS;
    // The fourth century of a cycle is one day longer (its last year is leap), so
    // its final day would otherwise count as a fifth century.
    let centuries = (rest / DAYS_PER_100_YEARS).min(3);
    rest -= centuries * DAYS_PER_100_YEARS;
    let cycles_4 = rest / DAYS_PER_4_YEARS;
    rest %= DAYS_PER_4_YEARS;
    // Likewise the fourth year of four is the leap one.
    let years = (rest / 365).min(3);
    rest -= years * 365;
    let year = 1 + 400 * cycles_400 + 100 * centuries + 4 * cycles_4 + years;

    let february = if is_leap(year) { 29 } else { 28 };
    let lengths = [31, february, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut month = 1;
    for length in lengths {
        if rest < length {
            break;
        }
        rest -= length;
        month += 1;
    }
    // `rest` is now below the month's length (at most 30), so it fits.
    let day = u32::try_from(rest).unwrap_or(0) + 1;
    (year, month, day)
}
