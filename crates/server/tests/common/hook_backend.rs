//! A site backend for trigger tests: a tiny HTTP server (std threads) that
//! records every trigger it receives (the `X-Trigger` header and the payload)
//! and answers what the test's function says — or never, to play a hung backend.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the backend answers: `Some(body)`, or `None` to hang.
pub type Answerer = dyn Fn(&str, &str) -> Option<String> + Send + Sync;

/// One received trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub event: String,
    pub payload: String,
}

/// The running backend (its thread ends with the test process).
pub struct Backend {
    pub url: String,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Backend {
    pub fn start(answer: impl Fn(&str, &str) -> Option<String> + Send + Sync + 'static) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let calls = Arc::new(Mutex::new(Vec::new()));
        let answer: Arc<Answerer> = Arc::new(answer);
        {
            let calls = calls.clone();
            std::thread::spawn(move || {
                for socket in listener.incoming().map_while(Result::ok) {
                    let calls = calls.clone();
                    let answer = answer.clone();
                    std::thread::spawn(move || serve(socket, &calls, answer.as_ref()));
                }
            });
        }
        Backend { url, calls }
    }

    /// Every trigger received so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// The payloads received for `event`.
    pub fn payloads(&self, event: &str) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| c.event == event)
            .map(|c| c.payload)
            .collect()
    }

    /// Waits (up to `limit`) for a call of `event` whose payload satisfies `check`.
    pub fn wait_for(&self, event: &str, limit: Duration, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(found) = self.payloads(event).into_iter().find(|p| check(p)) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no matching {event} trigger within {limit:?}; got {:?}",
                self.calls()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn serve(socket: TcpStream, calls: &Mutex<Vec<Call>>, answer: &Answerer) {
    let mut reader = BufReader::new(socket);
    let mut event = String::new();
    let mut length = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            match name.to_ascii_lowercase().as_str() {
                "x-trigger" => event = value.trim().to_owned(),
                "content-length" => length = value.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let payload = String::from_utf8_lossy(&body).into_owned();
    calls.lock().unwrap().push(Call {
        event: event.clone(),
        payload: payload.clone(),
    });
    let Some(reply) = answer(&event, &payload) else {
        // A hung backend: hold the connection open, answer nothing.
        std::thread::sleep(Duration::from_secs(60));
        return;
    };
    let mut socket = reader.into_inner();
    let _ = write!(
        socket,
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    );
}
