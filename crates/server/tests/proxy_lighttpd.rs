//! Brume behind lighttpd configured as the reverse-proxy guide says (its module list,
//! streaming setting and `$HTTP["url"]` block verbatim,
//! `tests/fixtures/proxy/lighttpd.conf`). lighttpd sends no X-Mst-Path, so Brume is
//! given the proxy's public address, as the guide says; then stream info names the
//! proxy's URLs, the WebSockets pass through, HLS and progressive MP4 decode, bytes
//! flow at once.
#![allow(clippy::unwrap_used)]

mod common;

use common::proxy::{self, checks, ProxyKind};

const KIND: ProxyKind = ProxyKind::Lighttpd;

#[test]
fn stream_info_urls_point_through_the_proxy() {
    let (_brume, proxy) = proxy::demo_behind(KIND);
    checks::check_stream_info_urls(&proxy, "http");
}

#[test]
fn info_websocket_works_through_the_proxy() {
    let (_brume, proxy) = proxy::demo_behind(KIND);
    checks::check_info_websocket(&proxy, "http");
}

#[test]
fn mp4_websocket_plays_through_the_proxy() {
    let (_brume, proxy) = proxy::demo_behind(KIND);
    checks::check_mews(&proxy, "http");
}

#[test]
fn hls_and_mp4_play_through_the_proxy() {
    let (_brume, proxy) = proxy::demo_behind(KIND);
    checks::check_media(&proxy, "http");
}
