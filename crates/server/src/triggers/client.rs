//! Delivering one payload to one handler: an HTTP POST (hyper's client, one
//! connection per call) or an executable (payload on stdin, answer on stdout),
//! and reading what it answers, at most [`MAX_ANSWER_BYTES`] of it.
//!
//! The caller bounds the whole call with the handler's timeout; dropping the
//! future closes the connection or kills the process.

use std::process::Stdio;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::config::Target;

/// Longest answer read from a handler; the rest is ignored.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Why a handler gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("cannot connect: {0}")]
    Connect(#[source] std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("bad request: {0}")]
    Request(#[from] http::Error),
    #[error("the handler answered HTTP {0}")]
    Status(u16),
    #[error("the answer is longer than {MAX_ANSWER_BYTES} bytes")]
    TooLong,
    #[error("TLS: {0}")]
    Tls(#[source] std::io::Error),
    #[error("cannot run the executable: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("the executable failed: {0}")]
    Exit(std::process::ExitStatus),
    #[error("the executable's output: {0}")]
    Pipe(#[source] std::io::Error),
}

/// A handler's answer, trimmed of surrounding whitespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer(pub String);

impl Answer {
    /// Reads an answer from raw bytes (invalid UTF-8 is replaced).
    pub fn parse(bytes: &[u8]) -> Answer {
        let bytes = &bytes[..bytes.len().min(MAX_ANSWER_BYTES)];
        Answer(String::from_utf8_lossy(bytes).trim().to_owned())
    }

    /// MistServer's rule: positive if it starts with `1`, `yes`, `true` or `cont`.
    pub fn is_positive(&self) -> bool {
        let head = self.0.as_bytes();
        ["1", "yes", "true", "cont"]
            .iter()
            .any(|p| head.len() >= p.len() && head[..p.len()].eq_ignore_ascii_case(p.as_bytes()))
    }
}

/// Delivers `payload` for `event` to `target` and returns its answer.
pub async fn call(target: &Target, event: &str, payload: &str) -> Result<Answer, CallError> {
    match target {
        Target::Url(uri) => post(uri, event, payload).await,
        Target::Executable(path) => execute(path, event, payload).await,
    }
}

async fn post(uri: &http::Uri, event: &str, payload: &str) -> Result<Answer, CallError> {
    let host = uri.host().unwrap_or_default();
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    let tcp = tokio::net::TcpStream::connect((bare_host, port))
        .await
        .map_err(CallError::Connect)?;
    let _ = tcp.set_nodelay(true);
    let authority = uri
        .authority()
        .map_or_else(|| host.to_owned(), |a| a.as_str().to_owned());
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = http::Request::post(path)
        .header(http::header::HOST, authority)
        .header("X-Trigger", event)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(http::header::USER_AGENT, "Brume")
        .body(Full::new(Bytes::copy_from_slice(payload.as_bytes())))?;
    if https {
        let tls = super::tls::connect(bare_host, tcp)
            .await
            .map_err(CallError::Tls)?;
        exchange(TokioIo::new(tls), request).await
    } else {
        exchange(TokioIo::new(tcp), request).await
    }
}

async fn exchange<I>(io: I, request: http::Request<Full<Bytes>>) -> Result<Answer, CallError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let result = async {
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|_| CallError::TooLong)?
            .to_bytes();
        if !status.is_success() {
            return Err(CallError::Status(status.as_u16()));
        }
        Ok(Answer::parse(&body))
    }
    .await;
    driver.abort();
    result
}

async fn execute(path: &std::path::Path, event: &str, payload: &str) -> Result<Answer, CallError> {
    let mut child = tokio::process::Command::new(path)
        .arg(event)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(CallError::Spawn)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A handler that does not read its input is not an error.
        let _ = stdin.write_all(payload.as_bytes()).await;
    }
    let mut out = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        stdout
            .take(MAX_ANSWER_BYTES as u64)
            .read_to_end(&mut out)
            .await
            .map_err(CallError::Pipe)?;
    }
    let status = child.wait().await.map_err(CallError::Pipe)?;
    // Shell handlers often end on a failed test (`[ "$k" = x ] && echo cam`):
    // what they printed is the answer; only silence and a failure is a failure.
    if !status.success() && out.iter().all(u8::is_ascii_whitespace) {
        return Err(CallError::Exit(status));
    }
    Ok(Answer::parse(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_follow_mistservers_rule() {
        for yes in ["1", "yes", "true\n", " TRUE", "continue", "1 ok"] {
            assert!(Answer::parse(yes.as_bytes()).is_positive(), "{yes}");
        }
        for no in ["", "0", "false", "no", "nope", "\u{0}", "tru"] {
            assert!(!Answer::parse(no.as_bytes()).is_positive(), "{no}");
        }
        assert_eq!(Answer::parse(b"cam\r\n").0, "cam");
        assert_eq!(Answer::parse(b"\xff\xfe").0.chars().count(), 2);
    }

    #[tokio::test]
    async fn an_executable_gets_the_event_and_payload_and_answers() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("hook.sh");
        std::fs::write(&script, "#!/bin/sh\nread a\nread b\necho \"$1 $b\"\n").unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let answer = call(&Target::Executable(script.clone()), "USER_NEW", "a\nb\n").await;
        assert_eq!(answer.unwrap().0, "USER_NEW b");
        let failing = call(&Target::Executable("/bin/false".into()), "X", "").await;
        assert!(matches!(failing, Err(CallError::Exit(_))), "{failing:?}");
        // Printed, then failed: the printed answer counts.
        std::fs::write(&script, "#!/bin/sh\necho cam\nexit 3\n").unwrap();
        let answer = call(&Target::Executable(script.clone()), "PUSH_REWRITE", "").await;
        assert_eq!(answer.unwrap().0, "cam");
        let missing = call(&Target::Executable("/nonexistent/hook".into()), "X", "").await;
        assert!(matches!(missing, Err(CallError::Spawn(_))), "{missing:?}");
    }
}
