//! The player libraries MistServer's player wrappers fetch from the media port
//! (`/hlsjs.js`, `/dashjs.js`, `/flv.js`): served byte for byte as the vendored
//! package builds, as JavaScript, cacheable and revalidatable; and hls.js loaded
//! from Brume's `/hlsjs.js` plays Brume's HLS stream in Chromium.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::browser::Browser;
use common::*;
use serde_json::json;

fn vendored(file: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../web/vendor")
        .join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_three_libraries_are_served_as_their_packages_build_them() {
    let brume = Brume::start(json!({"demo": {"source": "builtin:demo", "loop": true}}));
    for (file, marker) in [
        ("hlsjs.js", "Hls"),
        ("dashjs.js", "dashjs"),
        ("flv.js", "flvjs"),
    ] {
        let url = brume.url(&format!("/{file}"));
        let response = get(&url);
        assert_eq!(response.status, 200, "{file}");
        assert_eq!(
            response.header("content-type"),
            Some("application/javascript"),
            "{file}"
        );
        assert!(
            response.body == vendored(file),
            "/{file} is not web/vendor/{file}"
        );
        assert!(
            String::from_utf8_lossy(&response.body).contains(marker),
            "/{file} does not define {marker}"
        );
        let cache = response.header("cache-control").unwrap();
        assert!(cache.contains("max-age=86400"), "{file}: {cache}");
        let etag = response.header("etag").unwrap().to_owned();
        let again = request(
            "GET",
            &url,
            &[("If-None-Match", &etag)],
            Duration::from_secs(20),
        );
        assert_eq!(again.status, 304, "{file}");
        assert!(again.body.is_empty());
    }
}

#[test]
fn hls_js_from_brume_plays_a_brume_hls_stream_in_chromium() {
    let brume = Brume::start(json!({"demo": {"source": "builtin:demo", "loop": true}}));
    // Wait until the stream lists segments.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !String::from_utf8_lossy(&get(&brume.url("/hls/demo/media.m3u8")).body)
        .contains("#EXTINF")
    {
        assert!(std::time::Instant::now() < deadline, "no HLS segments");
        std::thread::sleep(Duration::from_millis(200));
    }
    let browser = Browser::launch();
    let mut page = browser.open_page();
    page.navigate(&brume.url("/"));
    // A page of our own: the library from Brume, then a plain <video> driven by it.
    page.eval(
        "new Promise((resolve, reject) => { \
           const s = document.createElement('script'); \
           s.src = '/hlsjs.js'; s.onload = resolve; s.onerror = () => reject('no /hlsjs.js'); \
           document.head.appendChild(s); })",
    );
    let supported = page.eval("typeof Hls === 'function' && Hls.isSupported()");
    assert_eq!(supported, true, "hls.js did not load: {:?}", page.messages);
    page.eval(
        "(() => { document.body.innerHTML = ''; \
           const v = document.createElement('video'); v.muted = true; v.autoplay = true; \
           document.body.appendChild(v); \
           const hls = new Hls(); window.hlsErrors = []; \
           hls.on(Hls.Events.ERROR, (e, d) => { if (d.fatal) window.hlsErrors.push(d.details); }); \
           hls.loadSource('/hls/demo/index.m3u8'); hls.attachMedia(v); \
           v.play().catch(() => {}); return true; })()",
    );
    let playback = page.watch_video(2.0, Duration::from_secs(30));
    let errors = page.eval("window.hlsErrors");
    assert!(
        playback.played >= 2.0 && playback.error.is_none(),
        "hls.js did not play /hls/demo/index.m3u8: {playback:?}; fatal errors {errors}; console:\n{}",
        page.messages.join("\n")
    );
    assert_eq!(errors, json!([]));
    assert!(
        page.requests.iter().any(|u| u.ends_with("/hlsjs.js")),
        "{:?}",
        page.requests
    );
}
