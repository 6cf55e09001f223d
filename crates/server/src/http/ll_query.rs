//! The Low-Latency HLS directives of a media playlist request's query string
//! (`_HLS_msn`, `_HLS_part`, `_HLS_skip`), parsed without allocating. Other
//! parameters are ignored; a directive given twice, a malformed number or a
//! part without a sequence number is an error (answered 400, as the
//! specification asks).

/// What a playlist request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LlQuery {
    /// `_HLS_msn`: wait until this segment (or, with `part`, this part of it)
    /// exists.
    pub msn: Option<u64>,
    /// `_HLS_part`.
    pub part: Option<u32>,
    /// `_HLS_skip=YES` or `v2`: a delta update.
    pub skip: bool,
}

impl LlQuery {
    /// Whether the request blocks or asks for a delta update.
    pub fn is_plain(&self) -> bool {
        *self == LlQuery::default()
    }
}

/// Why the directives were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LlQueryError {
    #[error("{0} is given twice")]
    Repeated(&'static str),
    #[error("{0} is not a valid number")]
    BadNumber(&'static str),
    #[error("_HLS_skip must be YES or v2")]
    BadSkip,
    #[error("_HLS_part needs _HLS_msn")]
    PartWithoutMsn,
}

/// Longest query string looked at; longer ones are refused as malformed.
pub const MAX_QUERY_BYTES: usize = 2048;

/// Parses the directives of `query` (the part after `?`, if any).
pub fn parse(query: Option<&str>) -> Result<LlQuery, LlQueryError> {
    let mut out = LlQuery::default();
    let Some(query) = query else {
        return Ok(out);
    };
    if query.len() > MAX_QUERY_BYTES {
        return Err(LlQueryError::BadNumber("the query string"));
    }
    let mut skip_seen = false;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "_HLS_msn" => {
                if out.msn.is_some() {
                    return Err(LlQueryError::Repeated("_HLS_msn"));
                }
                out.msn = Some(decimal(value).ok_or(LlQueryError::BadNumber("_HLS_msn"))?);
            }
            "_HLS_part" => {
                if out.part.is_some() {
                    return Err(LlQueryError::Repeated("_HLS_part"));
                }
                let part = decimal(value)
                    .and_then(|p| u32::try_from(p).ok())
                    .ok_or(LlQueryError::BadNumber("_HLS_part"))?;
                out.part = Some(part);
            }
            "_HLS_skip" => {
                if skip_seen {
                    return Err(LlQueryError::Repeated("_HLS_skip"));
                }
                skip_seen = true;
                out.skip = match value {
                    "YES" | "v2" => true,
                    _ => return Err(LlQueryError::BadSkip),
                };
            }
            _ => {}
        }
    }
    if out.part.is_some() && out.msn.is_none() {
        return Err(LlQueryError::PartWithoutMsn);
    }
    Ok(out)
}

/// A decimal-integer as HLS writes them: 1 to 19 ASCII digits.
fn decimal(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_and_other_parameters() {
        assert_eq!(parse(None), Ok(LlQuery::default()));
        assert_eq!(parse(Some("")), Ok(LlQuery::default()));
        assert_eq!(
            parse(Some("_HLS_msn=42&_HLS_part=3&x=y&_HLS_skip=YES")),
            Ok(LlQuery {
                msn: Some(42),
                part: Some(3),
                skip: true
            })
        );
        assert_eq!(
            parse(Some("_HLS_skip=v2")),
            Ok(LlQuery {
                skip: true,
                ..LlQuery::default()
            })
        );
        assert!(parse(Some("token=abc")).unwrap().is_plain());
    }

    #[test]
    fn malformed_directives_are_errors() {
        assert_eq!(
            parse(Some("_HLS_part=1")),
            Err(LlQueryError::PartWithoutMsn)
        );
        assert_eq!(
            parse(Some("_HLS_msn=-1")),
            Err(LlQueryError::BadNumber("_HLS_msn"))
        );
        assert_eq!(
            parse(Some("_HLS_msn=1&_HLS_msn=2")),
            Err(LlQueryError::Repeated("_HLS_msn"))
        );
        assert_eq!(
            parse(Some("_HLS_msn=1&_HLS_part=4294967296")),
            Err(LlQueryError::BadNumber("_HLS_part"))
        );
        assert_eq!(parse(Some("_HLS_skip=NO")), Err(LlQueryError::BadSkip));
        assert_eq!(
            parse(Some("_HLS_msn=99999999999999999999")),
            Err(LlQueryError::BadNumber("_HLS_msn"))
        );
    }
}
