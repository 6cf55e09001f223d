//! The syntax of what public bases are made of: header values (`Forwarded`
//! elements, `X-Forwarded-*` lists), hosts, ports, path prefixes and client
//! addresses. Every function refuses what is not plainly valid.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use http::header::{HeaderMap, HeaderName};

use super::{
    BaseError, FORWARDED, MAX_BASE_LEN, MAX_FORWARDED_LEN, MAX_FORWARDED_PAIRS, MAX_HOST_LEN,
};
use crate::http::Scheme;

/// The first value of a header, as text; `None` when absent, not text or too long.
pub(super) fn first_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
    let value = headers.get(name)?.to_str().ok()?;
    (value.len() <= MAX_FORWARDED_LEN && !value.trim().is_empty()).then_some(value)
}

/// The first comma-separated item of a header (`X-Forwarded-Proto: https, http`).
pub(super) fn first_item<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let item = first_value(headers, name)?.split(',').next()?.trim();
    (!item.is_empty()).then_some(item)
}

/// The parameters of the first element of the first `Forwarded` header.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct ForwardedElement {
    pub proto: Option<String>,
    pub host: Option<String>,
    pub for_: Option<String>,
}

pub(super) fn forwarded_element(headers: &HeaderMap) -> Option<ForwardedElement> {
    parse_forwarded(first_value(headers, FORWARDED)?)
}

/// Parses the first element of a `Forwarded` value (RFC 7239): `;`-separated
/// `key=value` pairs up to the first `,` outside a quoted string.
pub(super) fn parse_forwarded(value: &str) -> Option<ForwardedElement> {
    let mut element = ForwardedElement::default();
    let mut pairs = 0usize;
    let mut chars = value.chars().peekable();
    loop {
        // key
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ';' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        chars.next_if_eq(&'=')?;
        // value: a token or a quoted string
        let mut val = String::new();
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => val.push(chars.next()?),
                    c => val.push(c),
                }
            }
        }
        while let Some(&c) = chars.peek() {
            if c == ';' || c == ',' {
                break;
            }
            val.push(c);
            chars.next();
        }
        let val = val.trim().to_owned();
        match key.trim().to_ascii_lowercase().as_str() {
            "proto" => element.proto = Some(val),
            "host" => element.host = Some(val),
            "for" => element.for_ = Some(val),
            _ => {}
        }
        pairs += 1;
        match chars.next() {
            Some(';') if pairs < MAX_FORWARDED_PAIRS => {}
            _ => return Some(element),
        }
    }
}

pub(super) fn parse_scheme(text: &str) -> Option<Scheme> {
    if text.eq_ignore_ascii_case("http") {
        Some(Scheme::Http)
    } else if text.eq_ignore_ascii_case("https") {
        Some(Scheme::Https)
    } else {
        None
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
pub(super) fn parse_host_port(text: &str) -> Result<(String, Option<u16>), BaseError> {
    if let Some(rest) = text.strip_prefix('[') {
        let (inner, after) = rest.split_once(']').ok_or(BaseError::BadHost)?;
        let v6: Ipv6Addr = inner.parse().map_err(|_| BaseError::BadHost)?;
        let port = match after {
            "" => None,
            after => Some(parse_port(
                after.strip_prefix(':').ok_or(BaseError::BadPort)?,
            )?),
        };
        return Ok((format!("[{v6}]"), port));
    }
    let (host, port) = match text.split_once(':') {
        Some((host, port)) => (host, Some(parse_port(port)?)),
        None => (text, None),
    };
    Ok((parse_host(host)?, port))
}

/// A host name, IPv4 address or bracketed IPv6 address, as it goes in a URL.
pub(super) fn parse_host(host: &str) -> Result<String, BaseError> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let v6: Ipv6Addr = inner.parse().map_err(|_| BaseError::BadHost)?;
        return Ok(format!("[{v6}]"));
    }
    let valid = !host.is_empty()
        && host.len() <= MAX_HOST_LEN
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        && !host.starts_with(['.', '-'])
        && !host.contains("..");
    if valid {
        Ok(host.to_owned())
    } else {
        Err(BaseError::BadHost)
    }
}

pub(super) fn parse_port(text: &str) -> Result<u16, BaseError> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BaseError::BadPort);
    }
    match text.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(BaseError::BadPort),
    }
}

/// A path prefix made to start and end with `/`; only URL path characters (with
/// valid `%XX` escapes) are allowed, never quotes, angle brackets, backslashes,
/// spaces or control characters, and no `.`/`..` segments.
pub(super) fn normalize_path(path: &str) -> Result<String, BaseError> {
    if path.len() > MAX_BASE_LEN {
        return Err(BaseError::TooLong);
    }
    let bytes = path.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let ok = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'/'
            )
            || (b == b'%'
                && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit));
        if !ok {
            return Err(BaseError::BadPath);
        }
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(BaseError::BadPath);
    }
    let mut out = String::with_capacity(path.len() + 2);
    if !path.starts_with('/') {
        out.push('/');
    }
    out.push_str(path);
    if !out.ends_with('/') {
        out.push('/');
    }
    Ok(out)
}

/// An address from a forwarding header: `1.2.3.4`, `1.2.3.4:5678`, `::1`,
/// `[::1]:80`; `unknown` and obfuscated identifiers give `None`.
pub(super) fn parse_ip(text: &str) -> Option<IpAddr> {
    let text = text.split(',').next()?.trim().trim_matches('"');
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr.ip().to_canonical());
    }
    let inner = text.strip_prefix('[')?.split(']').next()?;
    inner
        .parse::<Ipv6Addr>()
        .ok()
        .map(|v6| IpAddr::V6(v6).to_canonical())
}
