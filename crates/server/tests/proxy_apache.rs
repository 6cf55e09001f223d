//! Brume behind Apache configured as the reverse-proxy guide says (its `<Location>`
//! block verbatim, `tests/fixtures/proxy/apache2.conf`), over HTTP and HTTPS (Apache
//! terminates TLS, Brume stays plain HTTP): stream info names the proxy's URLs, the
//! WebSockets pass through, HLS and progressive MP4 decode, bytes flow at once.
#![allow(clippy::unwrap_used)]

mod common;

use common::proxy::{self, checks, ProxyKind};

const KIND: ProxyKind = ProxyKind::Apache;

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
