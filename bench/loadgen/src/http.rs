//! HTTP/1.1 response framing for the load generator: the target URL, the request,
//! the response head, and the body's transfer framing (chunked, `Content-Length`,
//! read-to-close).
//!
//! The chunked decoder works in place on the caller's read buffer: it never copies
//! or allocates, it only says which byte ranges of the input are payload.

use std::fmt;
use std::ops::Range;

/// Largest response head accepted (status line plus headers).
pub const MAX_HEAD: usize = 16 * 1024;
/// Most hex digits accepted in a chunk-size line (15 digits is already 1 EiB).
const MAX_SIZE_DIGITS: u8 = 15;
/// Longest chunk extension or trailer line accepted.
const MAX_LINE: usize = 4096;

/// A framing error in the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The response head is longer than [`MAX_HEAD`].
    HeadTooLarge,
    /// The status line is not `HTTP/1.x NNN ...`.
    BadStatusLine,
    /// A header line has no colon.
    BadHeader,
    /// `Content-Length` is not a decimal number.
    BadContentLength,
    /// A byte that cannot appear where it did in the chunked framing.
    BadChunk(&'static str),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HeadTooLarge => write!(f, "response head longer than {MAX_HEAD} bytes"),
            Self::BadStatusLine => f.write_str("malformed status line"),
            Self::BadHeader => f.write_str("malformed header line"),
            Self::BadContentLength => f.write_str("malformed Content-Length"),
            Self::BadChunk(what) => write!(f, "bad chunked encoding: {what}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// Where to connect and what to ask for, from an `http://host[:port]/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port`, for connecting.
    pub authority: String,
    /// The value of the `Host` header (the URL's authority as written).
    pub host_header: String,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Target {
    /// Parses a plain `http://` URL (no TLS, no user info).
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(format!("{url}: bad host"));
        }
        // A port is present when the text after the last ':' is all digits and the
        // colon is not inside an IPv6 literal's brackets.
        let has_port = authority.rsplit_once(':').is_some_and(|(h, p)| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (!h.contains('[') || h.ends_with(']'))
        });
        let connect = if has_port {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Self {
            authority: connect,
            host_header: authority.to_owned(),
            path: path.to_owned(),
        })
    }

    /// The GET request sent on every connection.
    pub fn request(&self) -> String {
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: brume-loadgen\r\nAccept: */*\r\n\r\n",
            self.path, self.host_header
        )
    }
}

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// `Content-Length: N`.
    Length(u64),
    /// Neither: the body runs until the server closes the connection.
    Close,
}

/// The parts of a response head the load generator looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// Status code.
    pub status: u16,
    /// Body framing.
    pub framing: Framing,
    /// `Content-Type`, if sent.
    pub content_type: Option<String>,
    /// The server will close the connection after this response (`Connection:
    /// close`, or HTTP/1.0 without `Connection: keep-alive`).
    pub close: bool,
}

/// Parses a response head from the start of `buf`. Returns `Ok(None)` while the
/// blank line that ends the head has not arrived yet, else the head and its length
/// in bytes (the body starts right after).
pub fn parse_head(buf: &[u8]) -> Result<Option<(ResponseHead, usize)>, HttpError> {
    let Some(end) = find_head_end(buf) else {
        return if buf.len() >= MAX_HEAD {
            Err(HttpError::HeadTooLarge)
        } else {
            Ok(None)
        };
    };
    if end > MAX_HEAD {
        return Err(HttpError::HeadTooLarge);
    }
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| HttpError::BadHeader)?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let status_line = lines.next().ok_or(HttpError::BadStatusLine)?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return Err(HttpError::BadStatusLine);
    }
    let status: u16 = code.parse().map_err(|_| HttpError::BadStatusLine)?;
    let mut head = ResponseHead {
        status,
        framing: Framing::Close,
        content_type: None,
        close: version == "HTTP/1.0",
    };
    let mut chunked = false;
    let mut length = None;
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(HttpError::BadHeader)?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked must be the last coding applied.
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<u64>()
                    .map_err(|_| HttpError::BadContentLength)?,
            );
        } else if name.eq_ignore_ascii_case("content-type") {
            head.content_type = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("connection") {
            for option in value.split(',').map(str::trim) {
                if option.eq_ignore_ascii_case("close") {
                    head.close = true;
                } else if option.eq_ignore_ascii_case("keep-alive") {
                    head.close = false;
                }
            }
        }
    }
    // RFC 9112 §6.3: chunked wins over Content-Length.
    head.framing = match (chunked, length) {
        (true, _) => Framing::Chunked,
        (false, Some(n)) => Framing::Length(n),
        (false, None) => Framing::Close,
    };
    Ok(Some((head, end)))
}

/// The length of the head including its final blank line, accepting bare LF too.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let limit = buf.len().min(MAX_HEAD + 4);
    let mut i = 0;
    while i < limit {
        if buf[i] == b'\n' {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some(i + 2);
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading the hex chunk size.
    Size,
    /// Skipping a chunk extension up to the line end.
    Ext,
    /// Saw CR after the size line, expecting LF.
    SizeLf,
    /// Inside chunk data.
    Data,
    /// After chunk data, expecting CR.
    DataCr,
    /// After chunk data and CR, expecting LF.
    DataLf,
    /// At the start of a trailer line (or the final blank line).
    TrailerStart,
    /// Inside a trailer field line.
    TrailerLine,
    /// Saw CR of the final blank line, expecting LF.
    FinalLf,
    /// The last chunk and trailers are done.
    Done,
}

/// Incremental decoder for `Transfer-Encoding: chunked`.
///
/// Feed it any split of the body; each call to [`ChunkedDecoder::next`] consumes
/// framing bytes and returns at most one range of payload bytes of its input.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: ChunkState,
    /// Chunk size being parsed, then bytes of chunk data left.
    remaining: u64,
    digits: u8,
    line_len: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub fn new() -> Self {
        Self {
            state: ChunkState::Size,
            remaining: 0,
            digits: 0,
            line_len: 0,
        }
    }

    /// Whether the terminating chunk and its trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Consumes bytes from the start of `input`. Returns how many were consumed and,
    /// if payload was reached, the range of `input` holding it (always at the end of
    /// the consumed part). Returns `(0, None)` only for empty input or when done.
    pub fn next(&mut self, input: &[u8]) -> Result<(usize, Option<Range<usize>>), HttpError> {
        let mut i = 0;
        while i < input.len() {
            if self.state == ChunkState::Data {
                let take = usize::try_from(self.remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len() - i);
                self.remaining -= take as u64;
                if self.remaining == 0 {
                    self.state = ChunkState::DataCr;
                }
                return Ok((i + take, Some(i..i + take)));
            }
            let b = input[i];
            i += 1;
            match self.state {
                ChunkState::Size => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        if self.digits == MAX_SIZE_DIGITS {
                            return Err(HttpError::BadChunk("chunk size too long"));
                        }
                        let d = (b as char).to_digit(16).unwrap_or_default();
                        self.remaining = self.remaining * 16 + u64::from(d);
                        self.digits += 1;
                    }
                    _ if self.digits == 0 => {
                        return Err(HttpError::BadChunk("expected a hex chunk size"))
                    }
                    b';' | b' ' | b'\t' => {
                        self.state = ChunkState::Ext;
                        self.line_len = 0;
                    }
                    b'\r' => self.state = ChunkState::SizeLf,
                    b'\n' => self.size_line_done(),
                    _ => return Err(HttpError::BadChunk("bad byte in chunk size")),
                },
                ChunkState::Ext => match b {
                    b'\r' => self.state = ChunkState::SizeLf,
                    b'\n' => self.size_line_done(),
                    _ => {
                        self.line_len += 1;
                        if self.line_len > MAX_LINE {
                            return Err(HttpError::BadChunk("chunk extension too long"));
                        }
                    }
                },
                ChunkState::SizeLf => {
                    if b != b'\n' {
                        return Err(HttpError::BadChunk("expected LF after chunk size"));
                    }
                    self.size_line_done();
                }
                ChunkState::DataCr => match b {
                    b'\r' => self.state = ChunkState::DataLf,
                    b'\n' => self.start_chunk(),
                    _ => return Err(HttpError::BadChunk("chunk data longer than its size")),
                },
                ChunkState::DataLf => {
                    if b != b'\n' {
                        return Err(HttpError::BadChunk("expected LF after chunk data"));
                    }
                    self.start_chunk();
                }
                ChunkState::TrailerStart => match b {
                    b'\r' => self.state = ChunkState::FinalLf,
                    b'\n' => self.state = ChunkState::Done,
                    _ => {
                        self.state = ChunkState::TrailerLine;
                        self.line_len = 1;
                    }
                },
                ChunkState::TrailerLine => {
                    if b == b'\n' {
                        self.state = ChunkState::TrailerStart;
                    } else {
                        self.line_len += 1;
                        if self.line_len > MAX_LINE {
                            return Err(HttpError::BadChunk("trailer line too long"));
                        }
                    }
                }
                ChunkState::FinalLf => {
                    if b != b'\n' {
                        return Err(HttpError::BadChunk("expected LF after the last chunk"));
                    }
                    self.state = ChunkState::Done;
                }
                ChunkState::Done => return Ok((i - 1, None)),
                ChunkState::Data => unreachable!("handled above"),
            }
        }
        Ok((i, None))
    }

    fn size_line_done(&mut self) {
        self.state = if self.remaining == 0 {
            ChunkState::TrailerStart
        } else {
            ChunkState::Data
        };
    }

    fn start_chunk(&mut self) {
        self.state = ChunkState::Size;
        self.remaining = 0;
        self.digits = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of the given sizes (cycled), returning the
    /// payload and whether the end was seen.
    fn decode_split(input: &[u8], sizes: &[usize]) -> Result<(Vec<u8>, bool), HttpError> {
        let mut dec = ChunkedDecoder::new();
        let mut out = Vec::new();
        let mut pos = 0;
        let mut k = 0;
        while pos < input.len() && !dec.is_done() {
            let end = (pos + sizes[k % sizes.len()]).min(input.len());
            k += 1;
            let piece = &input[pos..end];
            let mut at = 0;
            while at < piece.len() && !dec.is_done() {
                let (used, data) = dec.next(&piece[at..])?;
                if let Some(r) = data {
                    out.extend_from_slice(&piece[at + r.start..at + r.end]);
                }
                assert!(used > 0, "no progress");
                at += used;
            }
            pos = end;
        }
        Ok((out, dec.is_done()))
    }

    const BODY: &[u8] =
        b"5\r\nhello\r\n1;name=v\r\n \r\n10\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\n";

    #[test]
    fn chunked_any_split() {
        for sizes in [
            &[1][..],
            &[2],
            &[3],
            &[7],
            &[1, 5, 2],
            &[1000],
            &[4, 1, 1, 9],
        ] {
            let (out, done) = decode_split(BODY, sizes).unwrap();
            assert_eq!(out, b"hello 0123456789abcdef", "split {sizes:?}");
            assert!(done, "split {sizes:?}");
        }
    }

    #[test]
    fn chunked_every_two_way_split() {
        for cut in 0..=BODY.len() {
            let mut dec = ChunkedDecoder::new();
            let mut out = Vec::new();
            for piece in [&BODY[..cut], &BODY[cut..]] {
                let mut at = 0;
                while at < piece.len() && !dec.is_done() {
                    let (used, data) = dec.next(&piece[at..]).unwrap();
                    if let Some(r) = data {
                        out.extend_from_slice(&piece[at + r.start..at + r.end]);
                    }
                    at += used;
                }
            }
            assert_eq!(out, b"hello 0123456789abcdef", "cut at {cut}");
            assert!(dec.is_done());
        }
    }

    #[test]
    fn chunked_stops_at_end() {
        let mut input = BODY.to_vec();
        input.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        let mut dec = ChunkedDecoder::new();
        let mut at = 0;
        while !dec.is_done() {
            let (used, _) = dec.next(&input[at..]).unwrap();
            at += used;
        }
        assert_eq!(at, BODY.len());
        assert_eq!(dec.next(&input[at..]).unwrap(), (0, None));
    }

    #[test]
    fn chunked_large_chunk_hex_upper() {
        let mut input = b"1A\r\n".to_vec();
        input.extend_from_slice(&[7u8; 26]);
        input.extend_from_slice(b"\r\n");
        let (out, done) = decode_split(&input, &[3]).unwrap();
        assert_eq!(out, vec![7u8; 26]);
        assert!(!done);
    }

    #[test]
    fn chunked_rejects_garbage() {
        assert!(decode_split(b"xyz\r\n", &[1]).is_err());
        assert!(decode_split(b"3\r\nabcd\r\n", &[2]).is_err());
        assert!(decode_split(b"3\rX", &[1]).is_err());
        assert!(decode_split(b"ffffffffffffffff1\r\n", &[4]).is_err());
        assert!(decode_split(b"\r\n", &[1]).is_err());
    }

    #[test]
    fn head_chunked() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n";
        let (head, len) = parse_head(raw).unwrap().unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.framing, Framing::Chunked);
        assert_eq!(head.content_type.as_deref(), Some("video/mp4"));
        assert_eq!(&raw[len..], b"5\r\n");
        // Incomplete head at every shorter length.
        for cut in 0..len {
            assert_eq!(parse_head(&raw[..cut]).unwrap(), None, "cut {cut}");
        }
    }

    #[test]
    fn head_length_and_close() {
        let (head, _) = parse_head(b"HTTP/1.0 404 Not Found\ncontent-length: 12\n\n")
            .unwrap()
            .unwrap();
        assert_eq!((head.status, head.framing), (404, Framing::Length(12)));
        let (head, _) = parse_head(b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((head.framing, head.close), (Framing::Close, false));
        let (head, _) = parse_head(b"HTTP/1.1 200 OK\r\nConnection: Close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(head.close);
        let (head, _) = parse_head(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!head.close);
        let (head, _) = parse_head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(head.framing, Framing::Chunked);
    }

    #[test]
    fn head_errors() {
        assert_eq!(
            parse_head(b"SIP/2.0 200 OK\r\n\r\n"),
            Err(HttpError::BadStatusLine)
        );
        assert_eq!(
            parse_head(b"HTTP/1.1 2000 OK\r\n\r\n"),
            Err(HttpError::BadStatusLine)
        );
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n"),
            Err(HttpError::BadHeader)
        );
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"),
            Err(HttpError::BadContentLength)
        );
        assert_eq!(
            parse_head(&vec![b'a'; MAX_HEAD]),
            Err(HttpError::HeadTooLarge)
        );
    }

    #[test]
    fn target_parse() {
        let t = Target::parse("http://127.0.0.1:18080/demo.mp4").unwrap();
        assert_eq!(t.authority, "127.0.0.1:18080");
        assert_eq!(t.path, "/demo.mp4");
        assert!(t
            .request()
            .starts_with("GET /demo.mp4 HTTP/1.1\r\nHost: 127.0.0.1:18080\r\n"));
        let t = Target::parse("http://localhost").unwrap();
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("localhost:80", "/")
        );
        let t = Target::parse("http://[::1]:9/x?y=1").unwrap();
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("[::1]:9", "/x?y=1")
        );
        assert_eq!(
            Target::parse("http://[::1]/").unwrap().authority,
            "[::1]:80"
        );
        assert!(Target::parse("https://x/").is_err());
        assert!(Target::parse("http:///x").is_err());
    }
}
