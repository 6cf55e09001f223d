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

/// Creates the first account (setup mode) with the setup token from the log.
fn create_first(brume: &Brume, api: &Client, password: &str) -> common::Response {
    let (token, _) = brume.setup_token();
    api.put(
        "/api/v1/accounts/admin",
        &json!({"password": password, "setup_token": token}).to_string(),
    )
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
    // The first account needs the one-time setup token from the log.
    for body_text in [
        r#"{"password": "first pw"}"#,
        r#"{"password": "first pw", "setup_token": "00112233"}"#,
    ] {
        let refused = api.put("/api/v1/accounts/admin", body_text);
        assert_eq!(refused.status, 403, "{}", body(&refused));
        assert_eq!(refused.json()["field"], "setup_token");
    }
    let (token, url) = brume.setup_token();
    assert!(url.ends_with(&format!("/?setup={token}")), "{url}");
    let created = api.put(
        "/api/v1/accounts/admin",
        &json!({"password": "first pw", "setup_token": token}).to_string(),
    );
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

    // Change the password: 200; the old one stops working, and so do the
    // account's sessions (the caller's own is renewed).
    let login = api.post(
        "/api/v1/login",
        r#"{"username": "admin", "password": "first pw"}"#,
    );
    let other_session = login
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let other = api.with("Cookie", &other_session);
    assert_eq!(other.get("/api/v1/streams").status, 200);
    let changed = admin.put("/api/v1/accounts/admin", r#"{"password": "second pw"}"#);
    assert_eq!(changed.status, 200);
    assert!(!body(&changed).contains("argon2"));
    assert_eq!(admin.get("/api/v1/streams").status, 401);
    assert_eq!(
        other.get("/api/v1/streams").status,
        401,
        "session outlived the password"
    );
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
    // Scoped to the API's paths: browsers send a host's cookies to every port,
    // the media port's URLs included, unless the path keeps them off.
    assert!(cookie.contains("Path=/api/v1/"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let pair = cookie.split(';').next().unwrap().to_owned();
    let session_token = pair.strip_prefix("brume_session=").unwrap().to_owned();
    let session_token = session_token.as_str();
    assert_eq!(session_token.len(), 64);
    assert!(session_token.chars().all(|c| c.is_ascii_hexdigit()));
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
    // The used token is spent; a fresh one is logged.
    let again = api.put(
        "/api/v1/accounts/admin",
        &json!({"password": "x", "setup_token": token}).to_string(),
    );
    assert_eq!(again.status, 403, "{}", body(&again));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let fresh = loop {
        let newest = brume.log_lines().iter().rev().find_map(|line| {
            let line: serde_json::Value = serde_json::from_str(line).ok()?;
            (line["fields"]["message"] == common::SETUP_MESSAGE)
                .then(|| line["fields"]["setup_token"].as_str().map(str::to_owned))?
        });
        match newest {
            Some(newest) if newest != token => break newest,
            _ if std::time::Instant::now() > deadline => panic!("no fresh setup token logged"),
            _ => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    };
    assert_ne!(fresh, token);

    // No hash or password ever appeared in the logs.
    let logs = brume.log_lines().join("\n");
    for secret in ["first pw", "second pw", "ops pw", "$argon2", session_token] {
        assert!(!logs.contains(secret), "{secret} logged");
    }
    // The setup token is in the log on stderr (that is how the operator gets it)
    // but never in the copy the API serves.
    let served = api.get("/api/v1/logs").json().to_string();
    assert!(
        !served.contains(&fresh),
        "the setup token is served by /api/v1/logs"
    );
}

#[test]
fn wrong_passwords_are_rate_limited_per_ip() {
    let (brume, api) = start();
    assert_eq!(create_first(&brume, &api, "right").status, 201);
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
    let Some(ip) = non_loopback_ip() else {
        panic!("this test needs a non-loopback IPv4 address on the machine");
    };
    // The operator exposes the API on purpose, so lists the address it is
    // reached by.
    let brume = Brume::start_with(
        tempfile::tempdir().unwrap(),
        json!({"api": {"listen": "0.0.0.0:0", "allowed_hosts": [ip.to_string()]}}),
    );
    let port = api_client::api_addr(&brume)
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let local = Client::new(&format!("127.0.0.1:{port}"));
    assert_eq!(local.get("/api/v1/streams").status, 200);
    // A loopback peer that is a proxy for someone else is not "local".
    let proxied = local.with("X-Forwarded-For", "203.0.113.9");
    assert_eq!(proxied.get("/api/v1/streams").status, 403);
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
    assert_eq!(create_first(&brume, &local, "pw").status, 201);
    assert_eq!(remote.get("/api/v1/streams").status, 401);
    assert_eq!(
        remote.basic("admin", "pw").get("/api/v1/streams").status,
        200
    );
}

/// A page on `attacker.example` whose name was rebound to 127.0.0.1 reaches the
/// port with its own Host (refused whatever it asks); a page elsewhere sends
/// requests with its Origin (refused for changes and cookie calls); the server's
/// own names and origin keep working.
#[test]
fn dns_rebinding_and_cross_site_requests_are_refused() {
    let (brume, api) = start();
    let rebound = api
        .with("Host", "attacker.example:4242")
        .with("Origin", "http://attacker.example:4242");
    let put = rebound.put("/api/v1/streams/x", r#"{"source": "/etc/passwd"}"#);
    assert_eq!(put.status, 403, "{}", body(&put));
    assert!(body(&put).contains("allowed_hosts"), "{}", body(&put));
    for path in ["/api/v1/streams", "/api/v1/logs", "/metrics", "/"] {
        let read = api.with("Host", "attacker.example:4242").get(path);
        assert_eq!(read.status, 403, "{path}");
    }
    assert_eq!(api.get("/api/v1/streams/x").status, 404, "nothing was made");

    // Cross-site: the right Host, a foreign Origin.
    let foreign = api.with("Origin", "http://evil.example");
    let put = foreign.put("/api/v1/streams/x", r#"{"source": "push://"}"#);
    assert_eq!(put.status, 403, "{}", body(&put));
    assert_eq!(
        foreign
            .with("Origin", "null")
            .delete("/api/v1/streams/demo")
            .status,
        403
    );
    assert_eq!(
        foreign.get("/api/v1/streams").status,
        200,
        "reads without a cookie"
    );

    // The server's own names and origin.
    let addr = api_client::api_addr(&brume);
    let port = addr.rsplit(':').next().unwrap();
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.2:{port}"),
        addr.clone(),
    ] {
        assert_eq!(
            api.with("Host", &host).get("/api/v1/streams").status,
            200,
            "{host}"
        );
    }
    let own = api.with("Origin", &format!("http://{addr}"));
    assert_eq!(
        own.put("/api/v1/streams/x", r#"{"source": "push://"}"#)
            .status,
        201
    );

    // Cookie calls with a foreign Origin are refused even for reads.
    assert_eq!(create_first(&brume, &own, "pw").status, 201);
    let login = own.post(
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
    let session = api.with("Cookie", &pair);
    assert_eq!(session.get("/api/v1/streams").status, 200);
    assert_eq!(
        session
            .with("Origin", "http://evil.example")
            .get("/api/v1/streams")
            .status,
        403
    );
    // Every answer of the port forbids framing and sniffing.
    let page = api.get("/");
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
}

#[test]
fn an_operator_listed_host_is_answered() {
    let brume = Brume::start_with(
        tempfile::tempdir().unwrap(),
        json!({"api": {"allowed_hosts": ["admin.example"]}}),
    );
    let api = Client::of(&brume);
    assert_eq!(
        api.with("Host", "admin.example")
            .get("/api/v1/streams")
            .status,
        200
    );
    assert_eq!(
        api.with("Host", "Admin.Example:8443")
            .get("/api/v1/streams")
            .status,
        200
    );
    assert_eq!(
        api.with("Host", "other.example")
            .get("/api/v1/streams")
            .status,
        403
    );
    // A proxy that rewrites Host to 127.0.0.1 still passes the browser's Origin.
    let via_proxy = api.with("Origin", "https://admin.example");
    assert_eq!(
        via_proxy
            .put("/api/v1/streams/x", r#"{"source": "push://"}"#)
            .status,
        201
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
    let (brume, api) = start();
    assert_eq!(create_first(&brume, &api, "pw").status, 201);
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
