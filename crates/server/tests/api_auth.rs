//! Accounts and auth of the management API against the real binary: setup mode
//! (loopback only), Basic auth, login/cookie/logout, the wrong-password limit, and
//! `brume passwd` reading the password from stdin.
#![allow(clippy::unwrap_used)]

mod api_client;
mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use api_client::{Client, Running};
use common::Brume;
use serde_json::json;

fn start() -> (Brume, Client) {
    let brume = Brume::start_with(tempfile::tempdir().unwrap(), json!({}));
    let client = Client::of(&brume);
    (brume, client)
}

fn body(response: &common::Response) -> String {
    String::from_utf8_lossy(&response.body).into_owned()
}

#[test]
fn accounts_basic_auth_and_sessions() {
    let (brume, api) = start();

    // Setup mode: loopback may do everything, and is told so.
    let session = api.get("/api/v1/session").json();
    assert_eq!(
        session,
        json!({"authenticated": true, "username": null, "setup_mode": true})
    );
    assert_eq!(api.get("/api/v1/streams").status, 200);
    assert_eq!(api.get("/api/v1/accounts").json(), json!({"accounts": []}));

    // Creating the first account ends setup mode.
    let bad_name = api.put("/api/v1/accounts/a:b", r#"{"password": "x"}"#);
    assert_eq!(bad_name.status, 400);
    assert_eq!(bad_name.json()["field"], "name");
    let empty = api.put("/api/v1/accounts/admin", r#"{"password": ""}"#);
    assert_eq!(empty.status, 400);
    assert_eq!(empty.json()["field"], "password");
    let created = api.put("/api/v1/accounts/admin", r#"{"password": "first pw"}"#);
    assert_eq!(created.status, 201, "{}", body(&created));
    let saved = std::fs::read_to_string(&brume.config_path).unwrap();
    assert!(saved.contains("$argon2id$"), "{saved}");
    assert!(!saved.contains("first pw"));

    // Now every protected route needs auth, loopback included.
    for path in [
        "/api/v1/streams",
        "/api/v1/config",
        "/api/v1/server",
        "/metrics",
    ] {
        let denied = api.get(path);
        assert_eq!(denied.status, 401, "{path}");
        assert_eq!(denied.json()["error"], "authentication required");
        assert_eq!(
            denied.header("www-authenticate"),
            Some("Basic realm=\"Brume\"")
        );
    }
    let from_ui = api.with("X-Brume-UI", "1").get("/api/v1/streams");
    assert_eq!(from_ui.status, 401);
    assert_eq!(from_ui.header("www-authenticate"), None);
    assert_eq!(
        api.put("/api/v1/streams/x", r#"{"source": "push://"}"#)
            .status,
        401
    );
    assert_eq!(
        api.put("/api/v1/accounts/evil", r#"{"password": "x"}"#)
            .status,
        401
    );
    // Public: the session state, the document, the login.
    assert_eq!(
        api.get("/api/v1/session").json(),
        json!({"authenticated": false, "username": null, "setup_mode": false})
    );
    assert_eq!(api.get("/api/v1/openapi.json").status, 200);

    // Basic auth.
    let admin = api.basic("admin", "first pw");
    assert_eq!(admin.get("/api/v1/streams").status, 200);
    let metrics = admin.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert!(body(&metrics).contains("brume_"), "{}", body(&metrics));
    assert_eq!(
        api.basic("admin", "wrong").get("/api/v1/streams").status,
        401
    );
    assert_eq!(
        admin.get("/api/v1/session").json(),
        json!({"authenticated": true, "username": "admin", "setup_mode": false})
    );

    // Change the password: 200; the old one stops working.
    let changed = admin.put("/api/v1/accounts/admin", r#"{"password": "second pw"}"#);
    assert_eq!(changed.status, 200);
    assert!(!body(&changed).contains("argon2"));
    assert_eq!(admin.get("/api/v1/streams").status, 401);
    let admin = api.basic("admin", "second pw");
    assert_eq!(
        admin
            .put("/api/v1/accounts/ops", r#"{"password": "ops pw"}"#)
            .status,
        201
    );
    assert_eq!(
        admin.get("/api/v1/accounts").json(),
        json!({"accounts": ["admin", "ops"]})
    );

    // Login: a wrong password is 401; the right one sets an HttpOnly,
    // SameSite=Strict cookie that authenticates.
    let wrong = api.post(
        "/api/v1/login",
        r#"{"username": "ops", "password": "nope"}"#,
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["error"], "wrong username or password");
    let unknown_key = api.post("/api/v1/login", r#"{"user": "ops", "password": "x"}"#);
    assert_eq!(unknown_key.status, 400);
    assert_eq!(unknown_key.json()["field"], "user");
    let login = api.post(
        "/api/v1/login",
        r#"{"username": "ops", "password": "ops pw"}"#,
    );
    assert_eq!(login.status, 200, "{}", body(&login));
    assert_eq!(login.json(), json!({"username": "ops"}));
    let cookie = login.header("set-cookie").unwrap().to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_owned();
    let token = pair.strip_prefix("brume_session=").unwrap();
    assert_eq!(token.len(), 64);
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
    let ops = api.with("Cookie", &pair);
    assert_eq!(ops.get("/api/v1/streams").status, 200);
    assert_eq!(
        ops.get("/api/v1/session").json(),
        json!({"authenticated": true, "username": "ops", "setup_mode": false})
    );
    // Logout: 204, cookie cleared, session forgotten.
    let logout = ops.post("/api/v1/logout", "");
    assert_eq!(logout.status, 204);
    assert!(logout.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(ops.get("/api/v1/streams").status, 401);

    // A deleted account's sessions end with it.
    let login = api.post(
        "/api/v1/login",
        r#"{"username": "ops", "password": "ops pw"}"#,
    );
    let pair = login
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let ops = api.with("Cookie", &pair);
    assert_eq!(ops.get("/api/v1/streams").status, 200);
    assert_eq!(admin.delete("/api/v1/accounts/ops").status, 204);
    assert_eq!(admin.delete("/api/v1/accounts/ops").status, 404);
    assert_eq!(ops.get("/api/v1/streams").status, 401);

    // Deleting the last account returns to setup mode.
    assert_eq!(admin.delete("/api/v1/accounts/admin").status, 204);
    assert_eq!(api.get("/api/v1/streams").status, 200);
    assert_eq!(api.get("/api/v1/session").json()["setup_mode"], true);

    // No hash or password ever appeared in the logs.
    let logs = brume.log_lines().join("\n");
    for secret in ["first pw", "second pw", "ops pw", "$argon2", token] {
        assert!(!logs.contains(secret), "{secret} logged");
    }
}

#[test]
fn wrong_passwords_are_rate_limited_per_ip() {
    let (_brume, api) = start();
    assert_eq!(
        api.put("/api/v1/accounts/admin", r#"{"password": "right"}"#)
            .status,
        201
    );
    for attempt in 0..5 {
        let wrong = if attempt % 2 == 0 {
            api.post(
                "/api/v1/login",
                r#"{"username": "admin", "password": "wrong"}"#,
            )
        } else {
            api.basic("admin", "wrong").get("/api/v1/streams")
        };
        assert_eq!(wrong.status, 401, "attempt {attempt}");
    }
    // The sixth try is refused, even with the right password, for up to a minute.
    for blocked in [
        api.post(
            "/api/v1/login",
            r#"{"username": "admin", "password": "right"}"#,
        ),
        api.basic("admin", "right").get("/api/v1/streams"),
    ] {
        assert_eq!(blocked.status, 429, "{}", body(&blocked));
        let wait: u64 = blocked.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait), "Retry-After {wait}");
        assert!(blocked.json()["error"]
            .as_str()
            .unwrap()
            .contains("try again"));
    }
}

/// The first non-loopback IPv4 address of this machine, if it has one.
fn non_loopback_ip() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    // Connecting a UDP socket sends nothing; it only picks the outgoing address.
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[test]
fn setup_mode_refuses_remote_clients() {
    let brume = Brume::start_with(
        tempfile::tempdir().unwrap(),
        json!({"api": {"listen": "0.0.0.0:0"}}),
    );
    let port = api_client::api_addr(&brume)
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let local = Client::new(&format!("127.0.0.1:{port}"));
    assert_eq!(local.get("/api/v1/streams").status, 200);
    let Some(ip) = non_loopback_ip() else {
        panic!("this test needs a non-loopback IPv4 address on the machine");
    };
    let remote = Client::new(&format!("{ip}:{port}"));
    for path in ["/api/v1/streams", "/api/v1/config", "/metrics"] {
        let denied = remote.get(path);
        assert_eq!(denied.status, 403, "{path}");
        assert!(
            denied.json()["error"]
                .as_str()
                .unwrap()
                .contains("create an account first"),
            "{}",
            body(&denied)
        );
    }
    let denied = remote.put("/api/v1/accounts/admin", r#"{"password": "x"}"#);
    assert_eq!(denied.status, 403);
    assert_eq!(
        remote.get("/api/v1/session").json(),
        json!({"authenticated": false, "username": null, "setup_mode": true})
    );
    // Once an account exists (made from loopback), remote clients can sign in.
    assert_eq!(
        local
            .put("/api/v1/accounts/admin", r#"{"password": "pw"}"#)
            .status,
        201
    );
    assert_eq!(remote.get("/api/v1/streams").status, 401);
    assert_eq!(
        remote.basic("admin", "pw").get("/api/v1/streams").status,
        200
    );
}

fn passwd(config: &std::path::Path, user: Option<&str>, stdin: &str) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_brume"));
    command.arg("passwd").arg("--config").arg(config);
    if let Some(user) = user {
        command.args(["--user", user]);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // brume may refuse (a bad name) and exit before reading: ignore a broken pipe.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

#[test]
fn brume_passwd_stores_an_account_the_server_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("brume.json");

    // A missing file is created with the defaults, and the account added.
    let fresh = dir.path().join("fresh.json");
    let out = passwd(&fresh, None, "s3cret pass\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "password set for user admin"
    );
    let saved = api_client::read_config(&fresh);
    assert!(saved["api"]["accounts"]["admin"]
        .as_str()
        .unwrap()
        .starts_with("$argon2id$"));
    assert_eq!(saved["streams"]["demo"]["source"], "builtin:demo");

    // An existing file keeps everything else.
    std::fs::write(&config, common::config_with(&json!({})).to_string()).unwrap();
    let out = passwd(&config, Some("ops"), "ops pw\r\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "password set for user ops"
    );
    let before = std::fs::read_to_string(&config).unwrap();
    assert!(!before.contains("ops pw"));

    // Empty input and bad names are refused, and change nothing.
    for (user, input) in [(None, "\n"), (None, ""), (Some("a:b"), "pw\n")] {
        let out = passwd(&config, user, input);
        assert!(!out.status.success(), "{user:?} {input:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).trim().is_empty());
        assert_eq!(std::fs::read_to_string(&config).unwrap(), before);
    }

    // The server takes the account.
    let server = Running::start(&config);
    let api = server.client();
    assert_eq!(api.get("/api/v1/streams").status, 401);
    assert_eq!(
        api.basic("ops", "ops pw").get("/api/v1/streams").status,
        200
    );
    assert_eq!(
        api.basic("ops", "ops pw\r").get("/api/v1/streams").status,
        401
    );
}

#[test]
fn sessions_survive_moving_the_api_to_another_port() {
    let (_brume, api) = start();
    assert_eq!(
        api.put("/api/v1/accounts/admin", r#"{"password": "pw"}"#)
            .status,
        201
    );
    let login = api.post(
        "/api/v1/login",
        r#"{"username": "admin", "password": "pw"}"#,
    );
    let pair = login
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let free = common::unused_address();
    let moved = api.with("Cookie", &pair).patch(
        "/api/v1/config",
        &json!({"api": {"listen": free.as_str()}}).to_string(),
    );
    assert_eq!(moved.status, 200, "{}", body(&moved));
    let there = Client::new(&free).with("Cookie", &pair);
    let answer = api_client::wait_for(
        std::time::Duration::from_secs(10),
        "the new API port",
        || there.try_send("GET", "/api/v1/session", None).ok(),
    );
    assert_eq!(answer.json()["username"], "admin");
    assert_eq!(there.get("/api/v1/streams").status, 200);
    assert!(
        api.try_send("GET", "/api/v1/session", None).is_err(),
        "old port still open"
    );
}

#[test]
fn an_account_added_with_brume_passwd_while_running_is_taken_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("brume.json");
    std::fs::write(&config, common::config_with(&json!({})).to_string()).unwrap();
    let server = Running::start(&config);
    let api = server.client();
    // Setup mode until the file gains an account.
    assert_eq!(api.get("/api/v1/streams").status, 200);

    let out = passwd(&config, None, "while running\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    api_client::wait_for(
        std::time::Duration::from_secs(15),
        "the running server to leave setup mode",
        || (api.get("/api/v1/streams").status == 401).then_some(()),
    );
    let admin = api.basic("admin", "while running");
    assert_eq!(admin.get("/api/v1/streams").status, 200);

    // A change through the API afterwards keeps the account in the file.
    let put = admin.put("/api/v1/streams/extra", r#"{"source": "builtin:demo"}"#);
    assert_eq!(put.status, 201, "{}", body(&put));
    let saved = api_client::read_config(&config);
    assert!(saved["api"]["accounts"]["admin"]
        .as_str()
        .unwrap()
        .starts_with("$argon2id$"));
    assert_eq!(saved["streams"]["extra"]["source"], "builtin:demo");
}
