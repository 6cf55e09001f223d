//! HTTP byte ranges (RFC 9110 §14): parsing a `Range` header against a known
//! length. One range is honoured; several ranges in one request are answered with
//! the whole representation (allowed, and what most media servers do).

/// What to send for a request against a resource of `len` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeAnswer {
    /// The whole resource (no Range header, several ranges, or another unit).
    Whole,
    /// 206 with bytes `[start, end)`.
    Partial { start: u64, end: u64 },
    /// 416: no byte of the range exists.
    Unsatisfiable,
}

/// Interprets a `Range` header value for a resource of `len` bytes.
pub fn parse_range(header: Option<&str>, len: u64) -> RangeAnswer {
    let Some(value) = header else {
        return RangeAnswer::Whole;
    };
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeAnswer::Whole;
    };
    if spec.contains(',') {
        return RangeAnswer::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Whole;
    };
    let parse = |s: &str| -> Option<u64> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match (first.trim().is_empty(), parse(first), parse(last)) {
        // bytes=-N: the last N bytes.
        (true, _, Some(suffix)) => {
            if suffix == 0 || len == 0 {
                RangeAnswer::Unsatisfiable
            } else {
                RangeAnswer::Partial {
                    start: len.saturating_sub(suffix),
                    end: len,
                }
            }
        }
        (false, Some(start), None) if last.trim().is_empty() => {
            if start >= len {
                RangeAnswer::Unsatisfiable
            } else {
                RangeAnswer::Partial { start, end: len }
            }
        }
        (false, Some(start), Some(last)) if last >= start => {
            if start >= len {
                RangeAnswer::Unsatisfiable
            } else {
                RangeAnswer::Partial {
                    start,
                    end: last.saturating_add(1).min(len),
                }
            }
        }
        // Syntactically invalid ranges are ignored (the whole resource is sent).
        _ => RangeAnswer::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeAnswer::*;
        assert_eq!(parse_range(None, 100), Whole);
        assert_eq!(
            parse_range(Some("bytes=0-9"), 100),
            Partial { start: 0, end: 10 }
        );
        assert_eq!(
            parse_range(Some("bytes=90-"), 100),
            Partial {
                start: 90,
                end: 100
            }
        );
        assert_eq!(
            parse_range(Some("bytes=-10"), 100),
            Partial {
                start: 90,
                end: 100
            }
        );
        assert_eq!(
            parse_range(Some("bytes=-1000"), 100),
            Partial { start: 0, end: 100 }
        );
        assert_eq!(
            parse_range(Some("bytes=50-1000"), 100),
            Partial {
                start: 50,
                end: 100
            }
        );
        assert_eq!(parse_range(Some("bytes=100-"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=100-200"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=5-1"), 100), Whole);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Whole);
        assert_eq!(parse_range(Some("items=0-1"), 100), Whole);
        assert_eq!(parse_range(Some("bytes=x-1"), 100), Whole);
        assert_eq!(
            parse_range(Some("bytes=99999999999999999999999-"), 100),
            Whole
        );
    }
}
