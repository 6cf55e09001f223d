//! Unit tests of public-base resolution: every header combination, trust, hostile
//! values.

use super::*;
use http::header::HeaderName;
use http::HeaderValue;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn loopback() -> Option<SocketAddr> {
    Some("127.0.0.1:50000".parse().unwrap())
}

fn stranger() -> Option<SocketAddr> {
    Some("203.0.113.9:50000".parse().unwrap())
}

fn urls(resolved: &Resolved) -> Vec<String> {
    resolved.bases.iter().map(|b| b.url("")).collect()
}

fn plain(pairs: &[(&str, &str)], peer: Option<SocketAddr>) -> Resolved {
    resolve(
        &headers(pairs),
        peer,
        Scheme::Http,
        8080,
        &Config::default(),
    )
}

#[test]
fn no_headers_use_the_listen_address_and_port() {
    let resolved = plain(&[], stranger());
    assert_eq!(urls(&resolved), ["http://localhost:8080/"]);
    assert_eq!(resolved.origin, Origin::HostHeader);
    assert!(!resolved.from_mst_path());
}

#[test]
fn host_header_gets_the_listener_port_unless_it_has_one() {
    let resolved = plain(&[("host", "media.example.com")], stranger());
    assert_eq!(resolved.primary.url("x"), "http://media.example.com:8080/x");
    let resolved = plain(&[("host", "media.example.com:9000")], stranger());
    assert_eq!(resolved.primary.url("x"), "http://media.example.com:9000/x");
    // The scheme's default port is left out.
    let resolved = plain(&[("host", "media.example.com:80")], stranger());
    assert_eq!(resolved.primary.url("x"), "http://media.example.com/x");
    let resolved = resolve(
        &headers(&[("host", "h")]),
        stranger(),
        Scheme::Http,
        80,
        &Config::default(),
    );
    assert_eq!(resolved.primary.url(""), "http://h/");
}

#[test]
fn ipv6_hosts_keep_their_brackets() {
    let resolved = plain(&[("host", "[::1]:8080")], stranger());
    assert_eq!(resolved.primary.url("a"), "http://[::1]:8080/a");
    let resolved = plain(&[("host", "[2001:db8::1]")], stranger());
    assert_eq!(resolved.primary.url("a"), "http://[2001:db8::1]:8080/a");
    assert_eq!(
        resolved.primary.rtmp_url("play/a", 1935),
        "rtmp://[2001:db8::1]/play/a"
    );
    assert_eq!(
        resolved.primary.rtmp_url("play/a", 1936),
        "rtmp://[2001:db8::1]:1936/play/a"
    );
    // Unbracketed IPv6 is not a valid Host: fall back.
    let resolved = plain(&[("host", "::1")], stranger());
    assert_eq!(resolved.primary.url(""), "http://localhost:8080/");
}

#[test]
fn bad_host_headers_fall_back_to_the_listen_address() {
    for bad in [
        "a b", "x\"y", "<script>", "h:99999", "h:0", "h:-1", "a..b", "h:8080:1", "user@h",
    ] {
        let resolved = plain(&[("host", bad)], stranger());
        assert_eq!(resolved.primary.url(""), "http://localhost:8080/", "{bad}");
    }
}

#[test]
fn x_mst_path_is_the_whole_base() {
    let resolved = plain(
        &[
            ("host", "inner:8080"),
            ("x-mst-path", "https://example.com/mistserver"),
        ],
        stranger(),
    );
    assert!(resolved.from_mst_path());
    assert_eq!(urls(&resolved), ["https://example.com/mistserver/"]);
    assert_eq!(
        resolved.primary.url("demo.mp4"),
        "https://example.com/mistserver/demo.mp4"
    );
    assert_eq!(
        resolved.primary.ws_url("demo.mp4"),
        "wss://example.com/mistserver/demo.mp4"
    );
    assert_eq!(
        resolved.primary.rtmp_url("play/demo", 1935),
        "rtmp://example.com/play/demo"
    );
    assert_eq!(
        resolved.primary.player_host(),
        "https://example.com/mistserver"
    );
    assert_eq!(resolved.vary(), "X-Mst-Path");

    // Apache's form: explicit default port, trailing slash.
    let resolved = plain(
        &[("x-mst-path", "http://example.com:80/mistserver/")],
        stranger(),
    );
    assert_eq!(resolved.primary.url("a"), "http://example.com/mistserver/a");
    assert_eq!(
        resolved.primary.ws_url("a"),
        "ws://example.com/mistserver/a"
    );
    let resolved = plain(&[("x-mst-path", "HTTPS://example.com:4433/m/")], stranger());
    assert_eq!(resolved.primary.url("a"), "https://example.com:4433/m/a");
    let resolved = plain(&[("x-mst-path", "http://[::1]:8081/")], stranger());
    assert_eq!(resolved.primary.url("a"), "http://[::1]:8081/a");
}

#[test]
fn malformed_x_mst_path_is_ignored() {
    for bad in [
        "example.com/mistserver",
        "ftp://example.com/",
        "javascript:alert(1)",
        "http://x/\"></script><script>alert(1)</script>",
        "http://x/<b>",
        "http://x/a b",
        "http://x/a'b",
        "http://x/a\\b",
        "http://x/a?q=1",
        "http://x/a#f",
        "http://u@x/",
        "http:///path",
        "http://x:0/",
        "http://x/%zz/",
        "http://x/../y/",
        &format!("http://x/{}", "a".repeat(3000)),
    ] {
        let resolved = plain(&[("host", "h:1"), ("x-mst-path", bad)], stranger());
        assert!(!resolved.from_mst_path(), "{bad}");
        assert_eq!(urls(&resolved), ["http://h:1/"], "{bad}");
    }
}

#[test]
fn forwarded_headers_from_a_trusted_proxy() {
    let resolved = plain(
        &[
            ("host", "inner:8080"),
            ("forwarded", "for=192.0.2.1;proto=https;host=example.com"),
        ],
        loopback(),
    );
    assert_eq!(resolved.origin, Origin::Forwarded);
    assert_eq!(urls(&resolved), ["https://example.com/"]);
    assert!(resolved.vary().contains("Forwarded"));

    // Only the first element counts; quoted values unquote.
    let resolved = plain(
        &[(
            "forwarded",
            "for=\"[2001:db8::1]:4711\";host=\"example.com:8443\";proto=https, proto=http;host=evil",
        )],
        loopback(),
    );
    assert_eq!(urls(&resolved), ["https://example.com:8443/"]);

    let resolved = plain(
        &[
            ("host", "example.org"),
            ("x-forwarded-proto", "https, http"),
            ("x-forwarded-prefix", "/media"),
        ],
        loopback(),
    );
    assert_eq!(urls(&resolved), ["https://example.org/media/"]);

    let resolved = plain(
        &[
            ("host", "inner:8080"),
            ("x-forwarded-host", "example.net:8000"),
            ("x-forwarded-prefix", "/a/b/"),
        ],
        None, // a Unix-socket peer is trusted
    );
    assert_eq!(urls(&resolved), ["http://example.net:8000/a/b/"]);
}

#[test]
fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
    let pairs = [
        ("host", "h:8080"),
        ("forwarded", "proto=https;host=evil.example"),
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-prefix", "/evil"),
    ];
    let resolved = plain(&pairs, stranger());
    assert_eq!(resolved.origin, Origin::HostHeader);
    assert_eq!(urls(&resolved), ["http://h:8080/"]);
    // X-Mst-Path is believed from anyone (MistServer's convention).
    let mut with_mst = pairs.to_vec();
    with_mst.push(("x-mst-path", "http://proxy.example/m/"));
    assert_eq!(
        urls(&plain(&with_mst, stranger())),
        ["http://proxy.example/m/"]
    );
}

#[test]
fn malformed_forwarded_values_are_ignored() {
    let resolved = plain(
        &[
            ("host", "h:8080"),
            ("x-forwarded-proto", "gopher"),
            ("x-forwarded-host", "a\"b"),
            ("x-forwarded-prefix", "/<x>"),
        ],
        loopback(),
    );
    assert_eq!(resolved.origin, Origin::HostHeader);
    assert_eq!(urls(&resolved), ["http://h:8080/"]);
    // One bad field does not spoil the good ones.
    let resolved = plain(
        &[
            ("host", "h"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-prefix", "/<x>"),
        ],
        loopback(),
    );
    assert_eq!(urls(&resolved), ["https://h/"]);
    // Unterminated quotes give no element.
    assert_eq!(parse_forwarded("host=\"abc"), None);
    assert_eq!(parse_forwarded("garbage"), None);
}

#[test]
fn configured_public_addresses_are_all_listed_first_is_primary() {
    let mut config = Config::default();
    config.http.public_address = vec![
        "http://a.example/m/".to_owned(),
        "https://b.example/m".to_owned(),
        "c.example:8000/x".to_owned(),
        "not a url".to_owned(),
    ];
    let resolved = resolve(
        &headers(&[("host", "inner:8080")]),
        stranger(),
        Scheme::Http,
        8080,
        &config,
    );
    assert_eq!(resolved.origin, Origin::Configured);
    assert_eq!(
        urls(&resolved),
        [
            "http://a.example/m/",
            "https://b.example/m/",
            "http://c.example:8000/x/"
        ]
    );
    assert_eq!(resolved.primary.url(""), "http://a.example/m/");

    // X-Mst-Path still wins; trusted forwarding too.
    let resolved = resolve(
        &headers(&[("x-mst-path", "https://p.example/")]),
        stranger(),
        Scheme::Http,
        8080,
        &config,
    );
    assert_eq!(urls(&resolved), ["https://p.example/"]);
    let resolved = resolve(
        &headers(&[("x-forwarded-host", "f.example")]),
        loopback(),
        Scheme::Http,
        8080,
        &config,
    );
    assert_eq!(urls(&resolved), ["http://f.example/"]);
}

#[test]
fn https_configuration_lists_both_schemes() {
    let config = Config::from_json(
        r#"{"https": {"listen": "0.0.0.0:4433", "cert": "c", "key": "k",
            "public_address": ["https://s.example/m/"]},
            "http": {"public_address": ["http://p.example/m/"]}}"#,
        std::path::Path::new("/x.json"),
    )
    .unwrap();
    let on_http = resolve(&HeaderMap::new(), stranger(), Scheme::Http, 8080, &config);
    assert_eq!(
        urls(&on_http),
        ["http://p.example/m/", "https://s.example/m/"]
    );
    let on_https = resolve(&HeaderMap::new(), stranger(), Scheme::Https, 4433, &config);
    assert_eq!(
        urls(&on_https),
        ["https://s.example/m/", "http://p.example/m/"]
    );
    assert_eq!(on_https.primary.url(""), "https://s.example/m/");

    let config = Config::from_json(
        r#"{"https": {"listen": "0.0.0.0:4433", "cert": "c", "key": "k"}}"#,
        std::path::Path::new("/x.json"),
    )
    .unwrap();
    let resolved = resolve(
        &headers(&[("host", "h:8080")]),
        stranger(),
        Scheme::Http,
        8080,
        &config,
    );
    assert_eq!(urls(&resolved), ["http://h:8080/", "https://h:4433/"]);
    let resolved = resolve(
        &headers(&[("host", "h")]),
        stranger(),
        Scheme::Https,
        443,
        &config,
    );
    assert_eq!(urls(&resolved), ["https://h/", "http://h:8080/"]);
}

#[test]
fn client_ip_believes_only_trusted_proxies() {
    let trusted = trusted_proxies(&Config::default());
    let spoof = headers(&[
        ("x-real-ip", "198.51.100.7"),
        ("x-forwarded-for", "198.51.100.8, 10.0.0.1"),
    ]);
    assert_eq!(
        client_ip(&spoof, stranger(), &trusted),
        "203.0.113.9".parse::<IpAddr>().unwrap()
    );
    assert_eq!(
        client_ip(&spoof, loopback(), &trusted),
        "198.51.100.7".parse::<IpAddr>().unwrap()
    );
    let xff = headers(&[("x-forwarded-for", "198.51.100.8, 10.0.0.1")]);
    assert_eq!(
        client_ip(&xff, loopback(), &trusted),
        "198.51.100.8".parse::<IpAddr>().unwrap()
    );
    let fwd = headers(&[("forwarded", "for=\"[2001:db8::7]:4711\";proto=https")]);
    assert_eq!(
        client_ip(&fwd, None, &trusted),
        "2001:db8::7".parse::<IpAddr>().unwrap()
    );
    let garbage = headers(&[("x-real-ip", "unknown"), ("x-forwarded-for", "<x>")]);
    assert_eq!(
        client_ip(&garbage, loopback(), &trusted),
        "127.0.0.1".parse::<IpAddr>().unwrap()
    );
    let mapped: Option<SocketAddr> = Some("[::ffff:203.0.113.9]:1".parse().unwrap());
    assert_eq!(
        client_ip(&HeaderMap::new(), mapped, &trusted),
        "203.0.113.9".parse::<IpAddr>().unwrap()
    );
}

#[test]
fn warnings_are_rate_limited() {
    let slot = AtomicU64::new(0);
    let mut count = 0;
    for _ in 0..100 {
        warn_limited(&slot, || count += 1);
    }
    assert_eq!(count, 1);
}

#[test]
fn bases_build_urls() {
    let base = PublicBase::parse("https://example.com/mistserver/", None).unwrap();
    assert_eq!(
        base.url("demo.mp4"),
        "https://example.com/mistserver/demo.mp4"
    );
    assert_eq!(
        base.ws_url("demo.mp4"),
        "wss://example.com/mistserver/demo.mp4"
    );
    assert_eq!(
        base.rtmp_url("play/demo", 0),
        "rtmp://example.com/play/demo"
    );
    assert_eq!(base.to_string(), "https://example.com/mistserver/");
    let root = PublicBase::new(Scheme::Http, "h", Some(8080), "/").unwrap();
    assert_eq!(root.player_host(), "http://h:8080");
    assert_eq!(root.authority(), "h:8080");
}

#[test]
fn forwarded_host_naming_a_configured_address_takes_its_path() {
    let mut config = Config::default();
    config.http.public_address = vec![
        "http://a.example/m/".to_owned(),
        "https://b.example/m/".to_owned(),
    ];
    // lighttpd: X-Forwarded-Host and -Proto, no prefix.
    let resolved = resolve(
        &headers(&[
            ("host", "b.example"),
            ("x-forwarded-host", "b.example"),
            ("x-forwarded-proto", "https"),
        ]),
        loopback(),
        Scheme::Http,
        8080,
        &config,
    );
    assert_eq!(
        urls(&resolved),
        ["https://b.example/m/", "http://a.example/m/"]
    );
    assert_eq!(resolved.primary.url(""), "https://b.example/m/");
    // An explicit prefix is the proxy's word.
    let resolved = resolve(
        &headers(&[
            ("x-forwarded-host", "b.example"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-prefix", "/other"),
        ]),
        loopback(),
        Scheme::Http,
        8080,
        &config,
    );
    assert_eq!(urls(&resolved), ["https://b.example/other/"]);
    // A host the configuration does not know is used as forwarded.
    let resolved = resolve(
        &headers(&[("x-forwarded-host", "c.example")]),
        loopback(),
        Scheme::Http,
        8080,
        &config,
    );
    assert_eq!(urls(&resolved), ["http://c.example/"]);
}
