//! Brume in a real browser (headless Chromium) behind the guide's reverse proxies:
//! the player page `/mistserver/demo.html` and a page on the proxy's own site with
//! the guide's embed code (verbatim) play the live demo stream, also over HTTPS and
//! when forced to progressive MP4; forced HLS plays where the browser plays HLS
//! natively and is reported as unplayable where it does not. Screenshots go to
//! `target/screenshots/`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::browser::{Browser, Page, Playback};
use common::proxy::{self, checks, Proxy, ProxyKind};
use common::Brume;

/// Media seconds a page must play.
const PLAY_SECONDS: f64 = 2.0;
/// How long a page gets to get there.
const PLAY_TIMEOUT: Duration = Duration::from_secs(20);

/// Opens `url` and requires its video to play [`PLAY_SECONDS`] with no player error,
/// from `source` (its URL) when given: a forced type.
fn assert_plays(
    browser: &Browser,
    proxy: &Proxy,
    url: &str,
    screenshot: &str,
    source: Option<&str>,
) {
    let mut page = browser.open_page();
    open(&mut page, url, proxy);
    let playback = page.watch_video(PLAY_SECONDS, PLAY_TIMEOUT);
    let shot = page.screenshot(screenshot);
    let errors = page.player_errors();
    assert!(
        playback.played >= PLAY_SECONDS && playback.error.is_none() && errors.is_empty(),
        "{url} did not play {PLAY_SECONDS} s through {} ({}): {}",
        proxy.kind().name(),
        shot.display(),
        report(&page, &playback, browser, proxy)
    );
    if let Some(source) = source {
        // Media Source players show a blob: URL; what the page requested tells.
        let used = page
            .requests
            .iter()
            .chain(playback.last["src"].as_str().map(str::to_owned).iter())
            .any(|u| u.split('?').next() == Some(source));
        assert!(
            used,
            "{url} did not play the forced source {source}; requests: {:#?}\n{}",
            page.requests,
            report(&page, &playback, browser, proxy)
        );
    }
}

/// Navigates to `url`, which must answer 200.
fn open(page: &mut Page, url: &str, proxy: &Proxy) {
    page.navigate(url);
    let status =
        page.eval("(performance.getEntriesByType('navigation')[0] || {}).responseStatus || 0");
    assert_eq!(
        status,
        200,
        "{url} through {} answered {status}; console:\n{}",
        proxy.kind().name(),
        page.messages.join("\n")
    );
}

fn report(page: &Page, playback: &Playback, browser: &Browser, proxy: &Proxy) -> String {
    let chromium: Vec<String> = browser
        .log()
        .into_iter()
        .filter(|l| !l.contains("bus.cc") && !l.contains("ALSA") && !l.contains("alsa"))
        .collect();
    format!(
        "{playback:?}\nconsole:\n{}\nchromium:\n{}\nproxy log:\n{}",
        page.messages.join("\n"),
        chromium.join("\n"),
        proxy.log()
    )
}

/// The demo stream behind `kind`, and a browser.
fn setup(kind: ProxyKind) -> (Brume, Proxy, Browser) {
    let browser = Browser::launch();
    let (brume, proxy) = proxy::demo_behind(kind);
    (brume, proxy, browser)
}

/// The harness itself: an on-demand MP4 (Range requests through the proxy) in a
/// plain `<video>` tag on the proxy's own site.
#[test]
fn on_demand_mp4_plays_in_a_video_tag_through_nginx() {
    let browser = Browser::launch();
    let asset = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/demo.mp4");
    let brume = Brume::start(serde_json::json!({"clip": {"source": asset}}));
    let proxy = Proxy::start(ProxyKind::Nginx, &brume);
    proxy.write_page(
        "clip.html",
        "<!DOCTYPE html><html><body>\
         <video src=\"/mistserver/clip.mp4\" autoplay muted controls width=\"640\"></video>\
         </body></html>",
    );
    let url = proxy.site_url("http", "/clip.html");
    assert_plays(&browser, &proxy, &url, "nginx-vod-video-tag", None);
}

#[test]
fn player_page_plays_through_nginx() {
    let (_brume, proxy, browser) = setup(ProxyKind::Nginx);
    let url = proxy.url("http", "demo.html");
    assert_plays(&browser, &proxy, &url, "nginx-demo-page", None);
}

/// The guide's embed code, verbatim but for the proxy's address and stream name,
/// on a page of the proxy's own site.
#[test]
fn embed_code_plays_through_nginx() {
    let (_brume, proxy, browser) = setup(ProxyKind::Nginx);
    let base = proxy.base("http");
    let protocol_relative = base.trim_start_matches("http:");
    let page = proxy::read_fixture("embed.html")
        .replace("//example.com/mistserver/", protocol_relative)
        .replace("STREAMNAME", "demo");
    proxy.write_page("embed.html", &page);
    let url = proxy.site_url("http", "/embed.html");
    assert_plays(&browser, &proxy, &url, "nginx-embed-code", None);
}

#[test]
fn player_page_forced_to_progressive_mp4_plays_through_nginx() {
    let (_brume, proxy, browser) = setup(ProxyKind::Nginx);
    let url = proxy.url("http", "demo.html?forceType=html5/video/mp4");
    assert_plays(
        &browser,
        &proxy,
        &url,
        "nginx-demo-page-mp4",
        Some(&proxy.url("http", "demo.mp4")),
    );
}

/// HLS forced: Chromium plays it if it has native HLS (Chromium 156 does: its
/// `canPlayType` says "maybe"); otherwise the player must say it cannot play rather
/// than sit there silently.
#[test]
fn player_page_forced_to_hls_plays_or_says_it_cannot() {
    let (_brume, proxy, browser) = setup(ProxyKind::Nginx);
    let url = proxy.url(
        "http",
        "demo.html?forceType=html5/application/vnd.apple.mpegurl",
    );
    let mut probe = browser.open_page();
    let native_hls =
        probe.eval("document.createElement('video').canPlayType('application/vnd.apple.mpegurl')");
    let native_hls = native_hls.as_str().is_some_and(|s| !s.is_empty());
    if native_hls {
        // Chromium's native HLS fails to start on a live playlist of fewer than
        // three segments (a stream that just started).
        checks::wait_for_segments(&proxy, "http", 3);
        assert_plays(
            &browser,
            &proxy,
            &url,
            "nginx-demo-page-hls",
            Some(&proxy.url("http", "hls/demo/index.m3u8")),
        );
        return;
    }
    let mut page = browser.open_page();
    open(&mut page, &url, &proxy);
    let playback = page.watch_video(PLAY_SECONDS, Duration::from_secs(10));
    let shot = page.screenshot("nginx-demo-page-hls-unsupported");
    let said_so = page
        .messages
        .iter()
        .any(|m| (m.starts_with("error:") || m.starts_with("warning:")) && m.contains("[brume]"));
    assert!(
        playback.played < PLAY_SECONDS && said_so,
        "without native HLS, forced HLS must not play and the player must log a [brume] \
         error or warning ({}): {}",
        shot.display(),
        report(&page, &playback, &browser, &proxy)
    );
}

/// The guide: "For Apache and Nginx all you need to do is enable SSL support": the
/// page over HTTPS plays, its media over `https://` and `wss://`.
#[test]
fn player_page_plays_over_https_through_nginx() {
    let (_brume, proxy, browser) = setup(ProxyKind::Nginx);
    let url = proxy.url("https", "demo.html");
    assert_plays(&browser, &proxy, &url, "nginx-demo-page-https", None);
}

#[test]
fn player_page_plays_through_apache() {
    let (_brume, proxy, browser) = setup(ProxyKind::Apache);
    let url = proxy.url("http", "demo.html");
    assert_plays(&browser, &proxy, &url, "apache-demo-page", None);
}

#[test]
fn player_page_plays_through_lighttpd() {
    let (_brume, proxy, browser) = setup(ProxyKind::Lighttpd);
    let url = proxy.url("http", "demo.html");
    assert_plays(&browser, &proxy, &url, "lighttpd-demo-page", None);
}
