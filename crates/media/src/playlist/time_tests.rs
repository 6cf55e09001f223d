//! Unit tests of the xs:duration and xs:dateTime text ([`super::time`]).

use super::time::{
    civil_from_unix_days, date_time, duration, write_date_time, MAX_DATE_TIME_MS, MIN_DATE_TIME_MS,
};
use super::PlaylistError;

#[test]
fn dates_are_utc_with_milliseconds() {
    let cases = [
        (0, "1970-01-01T00:00:00.000Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (1_795_000_000_123, "2026-11-18T11:06:40.123Z"),
        (1_700_000_000_000, "2023-11-14T22:13:20.000Z"),
        (4_102_444_800_000, "2100-01-01T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (MIN_DATE_TIME_MS, "0001-01-01T00:00:00.000Z"),
        (MAX_DATE_TIME_MS, "9999-12-31T23:59:59.999Z"),
    ];
    for (unix_ms, text) in cases {
        assert_eq!(date_time(unix_ms).as_deref(), Ok(text), "{unix_ms}");
    }
}

#[test]
fn dates_outside_years_1_to_9999_are_refused_and_write_nothing() {
    for unix_ms in [
        MIN_DATE_TIME_MS - 1,
        MAX_DATE_TIME_MS + 1,
        i64::MIN,
        i64::MAX,
    ] {
        let mut out = String::from("x");
        assert_eq!(
            write_date_time(&mut out, unix_ms),
            Err(PlaylistError::DateOutOfRange { unix_ms })
        );
        assert_eq!(out, "x");
    }
}

/// Every day from 0001-01-01 to 9999-12-31 against a calendar that only counts
/// forward one day at a time.
#[test]
fn every_day_of_years_1_to_9999_matches_a_day_by_day_count() {
    let month_length = |year: i64, month: u32| match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    };
    let (mut year, mut month, mut day) = (1_i64, 1_u32, 1_u32);
    let first = MIN_DATE_TIME_MS / 86_400_000;
    let last = MAX_DATE_TIME_MS / 86_400_000;
    for unix_day in first..=last {
        assert_eq!(
            civil_from_unix_days(unix_day),
            (year, month, day),
            "day {unix_day}"
        );
        day += 1;
        if day > month_length(year, month) {
            day = 1;
            month += 1;
            if month > 12 {
                month = 1;
                year += 1;
            }
        }
    }
    assert_eq!((year, month, day), (10_000, 1, 1));
}

#[test]
fn durations_leave_out_zero_parts_and_trailing_zeros() {
    let cases = [
        (0, "PT0S"),
        (1, "PT0.001S"),
        (50, "PT0.05S"),
        (1_500, "PT1.5S"),
        (2_000, "PT2S"),
        (60_000, "PT1M"),
        (61_010, "PT1M1.01S"),
        (3_600_000, "PT1H"),
        (3_600_005, "PT1H0.005S"),
        (3_723_456, "PT1H2M3.456S"),
        (90_000_000, "PT25H"),
    ];
    for (ms, text) in cases {
        assert_eq!(duration(ms), text, "{ms}");
    }
    assert_eq!(duration(u64::MAX), "PT5124095576030H25M51.615S");
}
