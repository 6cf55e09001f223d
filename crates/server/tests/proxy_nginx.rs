//! Brume behind nginx configured as the reverse-proxy guide says (its location block
//! verbatim, `tests/fixtures/proxy/nginx.conf`), over HTTP and HTTPS (nginx
//! terminates TLS, Brume stays plain HTTP): stream info names the proxy's URLs, the
//! WebSockets pass through, HLS and progressive MP4 decode, bytes flow at once.
//!
//! nginx runs on the default ports of a loopback address of its own, as the guide
//! assumes: its `X-Mst-Path` is built from `$host`, which has no port.
#![allow(clippy::unwrap_used)]

mod common;

use common::proxy::{self, checks, Ports, ProxyKind};

const KIND: ProxyKind = ProxyKind::Nginx;

#[test]
fn stream_info_urls_point_through_the_proxy() {
    let (_brume, proxy) = proxy::demo_behind(KIND);
    checks::check_stream_info_urls(&proxy, "http");
    checks::check_stream_info_urls(&proxy, "https");
}

#[test]
fn info_websocket_works_through_the_proxy() {
    let (_brume, proxy) = proxy::demo_behind(KIND);
    checks::check_info_websocket(&proxy, "http");
    checks::check_info_websocket(&proxy, "https");
}

#[test]
fn mp4_websocket_plays_through_the_proxy() {
    let (_brume, proxy) = proxy::demo_behind(KIND);
    checks::check_mews(&proxy, "http");
    checks::check_mews(&proxy, "https");
}

#[test]
fn hls_and_mp4_play_through_the_proxy() {
    let (_brume, proxy) = proxy::demo_behind(KIND);
    checks::check_media(&proxy, "http");
    checks::check_media(&proxy, "https");
}

/// The guide's nginx block on a non-default port: `$host` drops the port, so the
/// URLs Brume builds from X-Mst-Path (correctly, as sent) lack it. This pins the
/// guide's semantics (`$scheme://$host/mistserver`): a user on another port must
/// put the port into X-Mst-Path (or use `$http_host`).
#[test]
fn on_another_port_the_guides_nginx_block_yields_urls_without_the_port() {
    let (_brume, proxy) = proxy::demo_behind_on(KIND, Ports::Ephemeral);
    for scheme in ["http", "https"] {
        let doc = checks::stream_info(&proxy, scheme);
        let portless = format!("{scheme}://{}/mistserver/", proxy.plan.addr);
        checks::assert_urls_under(&doc, &portless, &format!("nginx {scheme} on a high port"));
    }
}
