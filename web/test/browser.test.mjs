// web/player.js in headless Chromium against web/test/fake-server.mjs (a stand-in
// for Brume's HTTP port with live fMP4 over MEWS and progressive HTTP): the guide's
// embed code plays through MEWS, falls back when WebSockets are refused, waits with
// a message while the stream is offline and recovers when it returns, says in words
// what it cannot play, and plays muted when the browser refuses sound. Needs
// chromium and ffmpeg; fails (never skips) without them.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeClip, startFakeServer } from './fake-server.mjs';

/** Media seconds a page must play to count as playing. */
const PLAY_SECONDS = 2;

let dir;
let clip;
before(() => {
  for (const [program, flag] of [['chromium', '--version'], ['ffmpeg', '-version']]) {
    try {
      execFileSync(program, [flag], { stdio: 'ignore' });
    } catch (e) {
      throw new Error(`${program} is required by web/test/browser.test.mjs (apt-get install -y ${program}): ${e.message}`);
    }
  }
  dir = mkdtempSync(join(tmpdir(), 'brume-player-browser-'));
  clip = makeClip(dir, 90);
});
after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

/** A fake server and a Chromium showing its test page; collects the page's reports. */
async function open(t, { query = '', state = {}, flags = ['--autoplay-policy=no-user-gesture-required'] } = {}) {
  const reports = [];
  const waiters = new Set();
  const server = await startFakeServer({
    clip,
    onReport(r) {
      reports.push(r);
      for (const w of waiters) w();
    },
  });
  server.set(state);
  const profile = mkdtempSync(join(dir, 'profile-'));
  const chromium = spawn('chromium', ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
    '--mute-audio', '--no-first-run', '--no-default-browser-check', '--disable-background-networking',
    `--user-data-dir=${profile}`, ...flags, `${server.base}page.html${query}`], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  chromium.stderr.on('data', (d) => { if (stderr.length < 100000) stderr += d; });
  t.after(async () => {
    try { process.kill(-chromium.pid, 'SIGKILL'); } catch (e) { /* already gone */ }
    await server.close();
  });
  const page = {
    server,
    reports,
    logs: () => reports.flatMap((r) => r.logs),
    last: () => reports[reports.length - 1] || {},
    /** Resolves with the first report satisfying `pred`, or fails after `ms`. */
    waitFor(what, pred, ms = 20000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = reports.find((r, i) => pred(r, i));
          if (!hit) return;
          cleanup();
          resolve(hit);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`page never ${what} within ${ms / 1000} s; last report ${JSON.stringify({ ...page.last(), logs: undefined })}\n` +
            `page console:\n${page.logs().join('\n')}\nchromium:\n${stderr.split('\n').filter((l) => !/dbus|bus\.cc/.test(l)).slice(-20).join('\n')}`));
        }, ms);
        const cleanup = () => { clearTimeout(timer); waiters.delete(check); };
        waiters.add(check);
        check();
      });
    },
    /** Waits until the video has played PLAY_SECONDS more than it had at `from`. */
    playsFrom(from, what = `played ${PLAY_SECONDS} s`) {
      return page.waitFor(what, (r) => r.played >= from + PLAY_SECONDS && !r.error);
    },
    errors: () => page.logs().filter((l) => l.startsWith('error:') && l.includes('[brume]')),
  };
  return page;
}

// Each test has its own server and browser; a few run at once.
describe('the player in Chromium', { concurrency: 4 }, () => {
  test('the embed code plays the live stream over MEWS', async (t) => {
    const page = await open(t);
    const r = await page.playsFrom(0);
    assert.equal(r.player, 'mews');
    assert.equal(r.source, 'ws/video/mp4');
    assert.equal(r.noscript, false, 'the <noscript> inside the target is replaced');
    assert.ok(page.logs().includes('info: [brume] playing ws/video/mp4 with mews'), page.logs().join('\n'));
    assert.deepEqual(page.errors(), []);
    // Live: it stays close to the newest data.
    const later = await page.waitFor('kept playing', (x) => x.played >= r.played + 3);
    assert.ok(later.buffered[1] - later.time < 4, `latency ${later.buffered[1] - later.time} s`);
  });

  test('forceType mp4 plays progressive MP4 through Media Source', async (t) => {
    const page = await open(t, { query: '?opts=' + encodeURIComponent('{"forceType":"mp4"}') });
    const r = await page.playsFrom(0);
    assert.equal(r.player, 'mse-mp4');
    assert.equal(r.source, 'html5/video/mp4');
    assert.ok(page.logs().includes('info: [brume] playing html5/video/mp4 with mse-mp4'));
    assert.deepEqual(page.errors(), []);
  });

  test('with WebSockets refused, info comes over HTTP and a non-WebSocket source plays', async (t) => {
    const page = await open(t, { state: { infoWs: false, mews: false } });
    const r = await page.playsFrom(0);
    assert.notEqual(r.source, 'ws/video/mp4');
    assert.ok(page.logs().some((l) => l.startsWith('warn: [brume] mews (ws/video/mp4) could not play')), page.logs().join('\n'));
    assert.deepEqual(page.errors(), []);
  });

  test('an offline stream shows a message and starts by itself when it comes online', async (t) => {
    const page = await open(t, { state: { online: false } });
    const waiting = await page.waitFor('said it was offline', (r) => r.overlay.includes('Stream is offline — waiting…'));
    assert.equal(waiting.played, 0);
    page.server.set({ online: true });
    const r = await page.playsFrom(0);
    assert.equal(r.overlay, '');
    assert.deepEqual(page.errors(), []);
  });

  test('over HTTP polling too, a stream that goes offline and returns plays again', async (t) => {
    const page = await open(t, { state: { infoWs: false } });
    const first = await page.playsFrom(0);
    page.server.set({ online: false });
    await page.waitFor('said it was offline', (r, i) => i > page.reports.indexOf(first) && r.overlay.includes('offline'));
    page.server.set({ online: true });
    const played = page.last().played;
    const again = await page.playsFrom(played, 'played again');
    assert.equal(again.overlay, '');
    assert.deepEqual(page.errors(), []);
  });

  test('when the info WebSocket stays silent for 5 s, info comes over HTTP', async (t) => {
    const page = await open(t, { state: { infoWsSilent: true } });
    const r = await page.playsFrom(0);
    assert.ok(r.elapsed >= 4500, `played after ${r.elapsed} ms, before the 5 s WebSocket wait was over`);
    assert.ok(page.logs().some((l) => l.includes('no stream information over WebSocket within 5 s')), page.logs().join('\n'));
    assert.deepEqual(page.errors(), []);
  });

  test('a connection that stops delivering is noticed and replaced', async (t) => {
    const page = await open(t);
    await page.playsFrom(0);
    page.server.freeze();
    await page.waitFor('noticed the stall', (r) => r.logs.some((l) => l.includes('Playback stalled')), 30000);
    const played = page.last().played;
    const again = await page.playsFrom(played, 'played again after the stall');
    assert.equal(again.overlay, '');
    assert.deepEqual(page.errors(), []);
  });

  test('an unreachable server is said so on the page, and in the console once it lasts', async (t) => {
    const page = await open(t, { query: '?opts=' + encodeURIComponent('{"host":"http://127.0.0.1:9/"}') });
    await page.waitFor('said it cannot reach the server', (r) => r.overlay.includes('Cannot reach the media server'));
    await page.waitFor('logged an error', () => page.errors().some((l) => l.includes('Still trying')), 30000);
  });

  test('a forced type this browser cannot play is reported in words', async (t) => {
    const page = await open(t, { query: '?opts=' + encodeURIComponent('{"forceType":"dash"}') });
    const r = await page.waitFor('showed an error', (x) => x.overlay.includes('cannot play DASH (dash/video/mp4)'));
    assert.equal(r.state, 'error');
    assert.ok(page.errors().some((l) => l.includes('cannot play DASH (dash/video/mp4)')), page.logs().join('\n'));
  });

  test('on demand, the MP4 plays in the browser\'s own player', async (t) => {
    const page = await open(t, { state: { vod: true }, query: '?opts=' + encodeURIComponent('{"forceType":"mp4"}') });
    const r = await page.playsFrom(0);
    assert.equal(r.player, 'native');
    assert.deepEqual(page.errors(), []);
  });

  test('when the browser refuses sound, it plays muted and offers to unmute', async (t) => {
    const page = await open(t, { flags: ['--autoplay-policy=document-user-activation-required'] });
    const r = await page.playsFrom(0);
    assert.equal(r.muted, true);
    assert.ok(page.logs().some((l) => l.includes('playing muted')), page.logs().join('\n'));
    assert.deepEqual(page.errors(), []);
  });
});
