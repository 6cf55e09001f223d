// bench/latency.mjs — drives headless Chromium over the DevTools protocol for
// bench/latency: one tab plays BASE/cmaf/S/index.m3u8 with hls.js in
// low-latency mode, another plays BASE/S.html with player.js forced to its
// progressive MP4 (Media Source) player. Every 500 ms it samples the tab's
// latency: wall clock minus the Unix time of the frame on screen (hls.js:
// `playingDate`, from EXT-X-PROGRAM-DATE-TIME; MP4: Brume's `unixoffset`,
// the Unix ms of media time 0, plus the video's currentTime). Brume dates
// media time 0 by the first frame's arrival, so both are measured from when
// Brume received the frame. Prints
// one JSON line: {"hls": [ms...], "mp4": [ms...], "hlsjs_latency": [s...]}.
// The viewers run one after the other (warm-up, then samples), on one publish.
// Usage: node --experimental-websocket bench/latency.mjs BASE STREAM WARMUP_S SAMPLE_S
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, stream, warmup, seconds] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const profile = mkdtempSync(join(tmpdir(), 'brume-latency-'));
const chrome = spawn('chromium', ['--headless=new', '--no-sandbox', '--disable-gpu',
  '--autoplay-policy=no-user-gesture-required', '--remote-debugging-port=0',
  // Both tabs play at once: no background throttling or media suspension.
  '--disable-background-media-suspend', '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows', '--disable-background-timer-throttling',
  '--disable-features=BackgroundVideoTrackOptimization,MediaSuspend',
  `--user-data-dir=${profile}`, 'about:blank'], { stdio: ['ignore', 'ignore', 'pipe'] });
process.on('exit', () => chrome.kill('SIGKILL'));
const wsUrl = await new Promise((resolve, reject) => {
  let err = '';
  chrome.stderr.on('data', (d) => {
    err += d;
    const m = err.match(/DevTools listening on (ws:\/\/\S+)/);
    if (m) resolve(m[1]);
  });
  setTimeout(() => reject(new Error('chromium did not start: ' + err)), 20000);
});
const port = new URL(wsUrl).port;

async function tab(url) {
  const t = await (await fetch(`http://127.0.0.1:${port}/json/new?${encodeURIComponent(url)}`, { method: 'PUT' })).json();
  const ws = new WebSocket(t.webSocketDebuggerUrl);
  await new Promise((r) => ws.addEventListener('open', r));
  let id = 0;
  const pending = new Map();
  ws.addEventListener('message', (e) => {
    const msg = JSON.parse(e.data);
    if (msg.id && pending.has(msg.id)) { pending.get(msg.id)(msg); pending.delete(msg.id); }
  });
  return async (expression) => {
    const n = ++id;
    ws.send(JSON.stringify({ id: n, method: 'Runtime.evaluate', params: { expression, awaitPromise: true, returnByValue: true } }));
    const msg = await new Promise((r) => pending.set(n, r));
    if (msg.result?.exceptionDetails) throw new Error(JSON.stringify(msg.result.exceptionDetails));
    return msg.result?.result?.value;
  };
}

const info = await (await fetch(`${base}/json_${stream}.js`)).json();
const offset = info.unixoffset;
// hls.js: the frame's time is the playlist's EXT-X-PROGRAM-DATE-TIME mapped to
// the playing position (hls.playingDate); progressive MP4: unixoffset plus the
// media time (player.js keeps the stream's timeline).
const probe = `(() => { const v = document.querySelector('video'); if (!v || v.paused || v.readyState < 2) return null;
  const shown = window.hls ? (window.hls.playingDate ? window.hls.playingDate.getTime() : null) : ${offset} + v.currentTime * 1000;
  return shown === null ? null : {ms: Date.now() - shown, l: window.hls ? window.hls.latency : null}; })()`;
const out = { hls: [], mp4: [], hlsjs_latency: [] };
async function sample(name, page) {
  await sleep(Number(warmup) * 1000);
  const end = Date.now() + Number(seconds) * 1000;
  while (Date.now() < end) {
    const s = await page(probe);
    if (s) {
      out[name].push(Math.round(s.ms));
      if (s.l !== null) out.hlsjs_latency.push(s.l);
    }
    await sleep(500);
  }
  await page('window.close(); true').catch(() => {});
}
// One viewer at a time, each in the foreground tab (a background tab's video is
// throttled), on the same publish.
const hls = await tab(`${base}/`);
await sleep(1000);
await hls(`new Promise((resolve, reject) => { const s = document.createElement('script');
  s.src = '/hlsjs.js'; s.onload = resolve; s.onerror = () => reject('no hlsjs.js'); document.head.appendChild(s); })`);
await hls(`(() => { document.body.innerHTML = ''; const v = document.createElement('video');
  v.muted = true; v.autoplay = true; document.body.appendChild(v);
  const hls = new Hls({lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5}); window.hls = hls;
  hls.loadSource('/cmaf/${stream}/index.m3u8'); hls.attachMedia(v); v.play().catch(() => {}); return true; })()`);
await sample('hls', hls);
const mp4 = await tab(`${base}/${stream}.html?forcePlayer=mse-mp4&muted=1`);
await sample('mp4', mp4);
console.log(JSON.stringify(out));
process.exit(0);
