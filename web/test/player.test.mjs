// Unit tests for web/player.js's pure parts: the file is evaluated (with the
// server's first line in front, as /player.js serves it) in a vm context whose
// window asks for the internals (`__brumeTest`). Run: node --test web/test/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const SOURCE = readFileSync(join(here, '..', 'player.js'), 'utf8');

function prelude(host) {
  return `if (typeof mistoptions == 'undefined'){mistoptions = {};} if (!('host' in mistoptions)){mistoptions.host = '${host}';}\n`;
}

/** Evaluates player.js as a browser would; returns the window. */
function load({ host = 'http://media.example.com:8080/prefix/', extra = {}, internals = true } = {}) {
  const messages = [];
  const fakeConsole = {};
  for (const level of ['info', 'warn', 'error', 'log']) fakeConsole[level] = (m) => messages.push(`${level}: ${m}`);
  const win = { console: fakeConsole, setTimeout, clearTimeout, setInterval, clearInterval, URL, messages, ...extra };
  if (internals) win.__brumeTest = true;
  win.window = win;
  vm.createContext(win);
  vm.runInContext(prelude(host) + SOURCE, win, { filename: 'player.js' });
  return win;
}

const I = load().__brumePlayerInternals;

/** deepEqual across the vm boundary (arrays and objects from the context have
 * that realm's prototypes). */
function same(actual, expected, message) {
  assert.deepEqual(JSON.parse(JSON.stringify(actual)), expected, message);
}

/** A document shaped like MistServer's json_S.js example. */
function sampleInfo(extra = {}) {
  return {
    type: 'live', width: 1280, height: 720, selver: 2,
    meta: {
      tracks: {
        audio_AAC_2ch_48000hz_2: { codec: 'AAC', codecstring: 'mp4a.40.2', type: 'audio', idx: 2, trackid: 2 },
        video_H264_1280x720_30fps_1: { codec: 'H264', codecstring: 'avc1.64001f', type: 'video', idx: 1, trackid: 1 },
      },
      live: 1,
    },
    source: [
      { type: 'ws/video/mp4', url: 'ws://media.example.com:8080/demo.mp4', relurl: 'demo.mp4' },
      { type: 'html5/application/vnd.apple.mpegurl', url: 'http://media.example.com:8080/hls/demo/index.m3u8' },
      { type: 'html5/application/vnd.apple.mpegurl;version=7', url: 'http://media.example.com:8080/cmaf/demo/index.m3u8' },
      { type: 'dash/video/mp4', url: 'http://media.example.com:8080/cmaf/demo/index.mpd' },
      { type: 'html5/video/mp4', url: 'http://media.example.com:8080/demo.mp4' },
      { type: 'flash/10', url: 'rtmp://media.example.com/play/demo' },
    ],
    ...extra,
  };
}

/** Players that "support" exactly the listed types. */
function fakePlayers(table) {
  return Object.entries(table).map(([name, types]) => ({ name, isBrowserSupported: (mime) => types.includes(mime) }));
}

test('loading the script defines mistPlay and the four players, and reads the default host', () => {
  const win = load({ internals: false });
  assert.equal(typeof win.mistPlay, 'function');
  same(Object.keys(win.mistplayers), ['mews', 'mse-mp4', 'webrtc', 'native']);
  same(win.mistplayers.webrtc.mimes, ['whep']);
  for (const [name, p] of Object.entries(win.mistplayers)) {
    assert.equal(p.name, name);
    assert.ok(Array.isArray(p.mimes) && p.mimes.length > 0, `${name} lists its types`);
    assert.equal(typeof p.isBrowserSupported, 'function');
    assert.equal(typeof p.player, 'function');
    assert.equal(typeof p.build, 'function');
  }
  same(win.mistplayers.mews.mimes, ['ws/video/mp4']);
  assert.ok(win.mistplayers.native.mimes.includes('html5/application/vnd.apple.mpegurl'));
  assert.equal(win.mistoptions.host, 'http://media.example.com:8080/prefix/');
  assert.equal(win.__brumePlayerInternals, undefined, 'internals stay hidden on real pages');
});

test('the server line supplies the default host; a page may set its own first', () => {
  const win = load({ host: 'https://example.com/mistserver' });
  assert.equal(win.__brumePlayerInternals.globalOptions().host, 'https://example.com/mistserver');
  const own = load({ extra: { mistoptions: { host: 'http://other/' } } });
  assert.equal(own.__brumePlayerInternals.globalOptions().host, 'http://other/');
});

test('a browser without MSE or WebSocket supports none of the players', () => {
  const win = load();
  const info = sampleInfo();
  for (const s of info.source) {
    for (const p of Object.values(win.mistplayers)) assert.equal(p.isBrowserSupported(s.type, s, info), false, `${p.name} ${s.type}`);
  }
});

test('hosts become absolute bases ending in a slash', () => {
  assert.equal(I.normalizeHost('http://host:8080/prefix', 'https:'), 'http://host:8080/prefix/');
  assert.equal(I.normalizeHost('//example.com/mistserver/', 'https:'), 'https://example.com/mistserver/');
  assert.equal(I.normalizeHost('//example.com/mistserver/', 'http:'), 'http://example.com/mistserver/');
  assert.equal(I.normalizeHost('//example.com/', 'file:'), 'http://example.com/');
  assert.equal(I.normalizeHost('example.com:8080', 'http:'), 'http://example.com:8080/');
  assert.equal(I.normalizeHost('', 'http:'), '');
});

test('stream info is asked for over ws:// or wss:// at the same place', () => {
  const url = I.infoUrl('https://example.com/mistserver/', 'live+cam 1');
  assert.equal(url, 'https://example.com/mistserver/json_live%2Bcam%201.js');
  assert.equal(I.toWebSocketUrl(url), 'wss://example.com/mistserver/json_live%2Bcam%201.js');
  assert.equal(I.toWebSocketUrl('http://h:8080/json_demo.js'), 'ws://h:8080/json_demo.js');
  assert.equal(I.toWebSocketUrl('HTTPS://h/json_demo.js'), 'wss://h/json_demo.js');
  assert.equal(I.toWebSocketUrl('ws://h/demo.mp4'), 'ws://h/demo.mp4');
  assert.equal(I.toWebSocketUrl('//h/x', 'https:'), 'wss://h/x');
});

test('error documents mean offline; anything unreadable is broken', () => {
  same(I.interpretInfo('{"error":"Stream is offline"}'), { state: 'offline', message: 'Stream is offline' });
  assert.equal(I.interpretInfo({ error: 'Stream is initializing' }).state, 'offline');
  assert.equal(I.interpretInfo('<html>502 Bad Gateway</html>').state, 'broken');
  assert.equal(I.interpretInfo('[1,2]').state, 'broken');
  assert.equal(I.interpretInfo('null').state, 'broken');
  assert.equal(I.interpretInfo({ type: 'live' }).state, 'broken');
  const ready = I.interpretInfo(JSON.stringify(sampleInfo()));
  assert.equal(ready.state, 'ready');
  assert.equal(ready.info.source.length, 6);
  assert.equal(I.offlineText('Stream is offline'), 'Stream is offline — waiting…');
  assert.equal(I.offlineText('Stream is initializing'), 'Stream is starting — waiting…');
  assert.equal(I.offlineText('Stream is waiting for data'), 'Stream is starting — waiting…');
  assert.equal(I.offlineText('bad file.'), 'bad file — waiting…');
});

test('only track or source changes count as a change of the stream', () => {
  const a = sampleInfo();
  const b = sampleInfo();
  b.meta.tracks.video_H264_1280x720_30fps_1.lastms = 99999;
  b.meta.tracks.video_H264_1280x720_30fps_1.bps = 1;
  assert.equal(I.infoSignature(a), I.infoSignature(b));
  b.meta.tracks.video_H264_1280x720_30fps_1.codecstring = 'avc1.640028';
  assert.notEqual(I.infoSignature(a), I.infoSignature(b));
});

test('sources are tried in the server\'s order, each with every player that can play it', () => {
  const players = fakePlayers({ mews: ['ws/video/mp4'], 'mse-mp4': ['html5/video/mp4'], native: ['html5/video/mp4'] });
  const { candidates } = I.chooseCandidates(sampleInfo(), players, {});
  same(candidates.map((c) => `${c.player.name} ${c.source.type} #${c.index}`), [
    'mews ws/video/mp4 #0', 'mse-mp4 html5/video/mp4 #4', 'native html5/video/mp4 #4',
  ]);
});

test('forceType takes full types, bare MIME types and short names', () => {
  const players = fakePlayers({
    mews: ['ws/video/mp4'], 'mse-mp4': ['html5/video/mp4'],
    native: ['html5/video/mp4', 'html5/application/vnd.apple.mpegurl', 'html5/application/vnd.apple.mpegurl;version=7'],
  });
  const pick = (forceType) => I.chooseCandidates(sampleInfo(), players, { forceType }).candidates
    .map((c) => `${c.player.name} ${c.source.type}`);
  same(pick('html5/video/mp4'), ['mse-mp4 html5/video/mp4', 'native html5/video/mp4']);
  same(pick('mp4'), ['mse-mp4 html5/video/mp4', 'native html5/video/mp4']);
  same(pick('hls'), ['native html5/application/vnd.apple.mpegurl']);
  same(pick('application/vnd.apple.mpegurl'), ['native html5/application/vnd.apple.mpegurl']);
  same(pick('cmaf'), ['native html5/application/vnd.apple.mpegurl;version=7']);
  same(pick('ws'), ['mews ws/video/mp4']);
  same(pick('video/mp4'), ['mews ws/video/mp4', 'mse-mp4 html5/video/mp4', 'native html5/video/mp4']);
  assert.equal(I.normalizeForceType(''), null);
  assert.equal(I.normalizeForceType('DASH'), 'dash/video/mp4');
});

test('forcePlayer and forceSource narrow the choice', () => {
  const players = fakePlayers({ mews: ['ws/video/mp4'], 'mse-mp4': ['html5/video/mp4'], native: ['html5/video/mp4'] });
  const names = (o) => I.chooseCandidates(sampleInfo(), players, o).candidates.map((c) => `${c.player.name} #${c.index}`);
  same(names({ forcePlayer: 'native' }), ['native #4']);
  same(names({ forceSource: 4 }), ['mse-mp4 #4', 'native #4']);
  same(names({ forceSource: '0' }), ['mews #0']);
  same(names({ forceType: 'mp4', forcePlayer: 'mse-mp4' }), ['mse-mp4 #4']);
});

test('when nothing can play, the reason is given in words', () => {
  const players = fakePlayers({ mews: ['ws/video/mp4'], native: ['html5/video/mp4'] });
  const why = (o, info = sampleInfo()) => I.chooseCandidates(info, players, o).error;
  assert.match(why({ forceType: 'hls' }), /cannot play html5\/application\/vnd\.apple\.mpegurl\./);
  const named = sampleInfo();
  named.source[3].hrn = 'DASH';
  assert.match(why({ forceType: 'dash' }, named), /cannot play DASH \(dash\/video\/mp4\)\./);
  assert.match(why({ forceType: 'webm' }), /not offered as html5\/video\/webm/);
  assert.match(why({ forcePlayer: 'flash' }), /no player called "flash"/);
  assert.match(why({ forceSource: 17 }), /no source number 17/);
  assert.match(why({ forcePlayer: 'mews', forceType: 'mp4' }), /cannot play html5\/video\/mp4 with the mews player/);
  assert.match(why({}, sampleInfo({ source: [] })), /offers no way to play/);
  const none = I.chooseCandidates(sampleInfo(), fakePlayers({ x: [] }), {});
  assert.match(none.error, /cannot play any of the formats .*ws\/video\/mp4/);
  const throwing = [{ name: 'bad', isBrowserSupported() { throw new Error('boom'); } }];
  assert.equal(I.chooseCandidates(sampleInfo(), throwing, {}).candidates.length, 0);
});

test('source URLs get track selection and urlappend; relative ones use the host', () => {
  const host = 'https://example.com/m/';
  assert.equal(I.sourceUrl({ type: 'html5/video/mp4', url: 'https://example.com/m/demo.mp4' }, host, { urlappend: '?token=a b' }),
    'https://example.com/m/demo.mp4?token=a b');
  assert.equal(I.sourceUrl({ type: 'html5/video/mp4', url: 'https://example.com/m/demo.mp4?x=1' }, host, { urlappend: '?t=2' }),
    'https://example.com/m/demo.mp4?x=1&t=2');
  assert.equal(I.sourceUrl({ type: 'html5/video/mp4', url: 'http://h/demo.mp4' }, host, { setTracks: { video: 1, audio: 'none' } }),
    'http://h/demo.mp4?video=1&audio=none');
  assert.equal(I.sourceUrl({ type: 'ws/video/mp4', relurl: 'demo.mp4' }, host, { setTracks: { video: 1 } }),
    'wss://example.com/m/demo.mp4');
  assert.equal(I.appendUrl('u', ''), 'u');
  assert.equal(I.appendUrl('u?a', '&b'), 'u?a&b');
});

test('codecs come from codecstring, or from the codec name and init data', () => {
  same(I.codecsOfInfo(sampleInfo()), ['avc1.64001f', 'mp4a.40.2']);
  assert.equal(I.mseMime(['avc1.64001f', 'mp4a.40.2']), 'video/mp4; codecs="avc1.64001f,mp4a.40.2"');
  // init strings as Brume's json_demo.js carries them (bytes as code points)
  const h264 = { codec: 'H264', type: 'video', init: '\u0001d\u0000\u001e\u00ff\u00e1\u0000\u001agd' };
  const aac = { codec: 'AAC', type: 'audio', init: '\u0011V\u00e5\u0000' };
  assert.equal(I.trackCodecString(h264), 'avc1.64001e');
  assert.equal(I.trackCodecString(aac), 'mp4a.40.2');
  assert.equal(I.trackCodecString({ codec: 'AAC', init: '\u0013\u0090' }), 'mp4a.40.2');
  assert.equal(I.trackCodecString({ codec: 'AAC', init: '\u002b\u0090' }), 'mp4a.40.5');
  assert.equal(I.trackCodecString({ codec: 'opus' }), 'opus');
  assert.equal(I.trackCodecString({ codec: 'JPEG' }), null);
  const info = { meta: { tracks: { a: { ...h264, idx: 1 }, b: { ...aac, idx: 2 }, c: { codec: 'subtitle', type: 'meta', idx: 3 } } } };
  same(I.codecsOfInfo(info), ['avc1.64001e', 'mp4a.40.2']);
  same(I.codecsOfInfo({}), []);
});

/** An fMP4 init segment made by ffmpeg with the given codec arguments. */
function initSegment(dir, name, args) {
  const file = join(dir, `${name}.mp4`);
  execFileSync('ffmpeg', ['-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc=size=320x180:rate=25:duration=1',
    '-f', 'lavfi', '-i', 'sine=sample_rate=48000:duration=1',
    '-pix_fmt', 'yuv420p', ...args, '-movflags', 'frag_keyframe+empty_moov+default_base_moof', '-f', 'mp4', file]);
  return new Uint8Array(readFileSync(file));
}

test('codecs are read from real fMP4 headers (ffmpeg)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'brume-player-init-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cases = [
    [['-c:v', 'libx264', '-profile:v', 'main', '-level', '3.0', '-c:a', 'aac'], /^avc1\.4d401e,mp4a\.40\.2$/],
    [['-c:v', 'libx264', '-profile:v', 'high', '-level', '3.1', '-c:a', 'aac', '-profile:a', 'aac_he'], /^avc1\.64001f,mp4a\.40\.5$/],
    [['-c:v', 'libx265', '-tag:v', 'hvc1', '-x265-params', 'log-level=error', '-c:a', 'libopus'], /^hvc1\.1\.6\.L\d+\.[0-9A-F]{2}(\.[0-9A-F]{1,2})*,opus$/],
    [['-c:v', 'libvpx-vp9', '-c:a', 'libmp3lame'], /^vp09\.00\.\d\d\.08,mp4a\.6b$/],
    [['-c:v', 'libaom-av1', '-cpu-used', '8', '-an'], /^av01\.0\.\d\dM\.08$/],
  ];
  cases.forEach(([args, expected], n) => {
    const bytes = initSegment(dir, `c${n}`, args);
    const parsed = I.parseInitCodecs(bytes);
    assert.ok(parsed && parsed.codecs, `case ${n} parsed`);
    assert.match(parsed.codecs.join(','), expected, `case ${n}: ${args.join(' ')}`);
    // Until the whole moov has arrived there is no answer yet.
    assert.equal(I.parseInitCodecs(bytes.subarray(0, parsed.end - 1)), null);
  });
});

test('bytes that are not MP4, or media with no header, are refused', () => {
  const text = new TextEncoder().encode('<!DOCTYPE html><html><body>Not Found</body></html>');
  assert.match(I.parseInitCodecs(text).bad, /not MP4/);
  const moof = new Uint8Array([0, 0, 0, 16, 0x6d, 0x6f, 0x6f, 0x66, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.match(I.parseInitCodecs(moof).bad, /no MP4 header/);
  assert.equal(I.parseInitCodecs(new Uint8Array([0, 0, 0])), null);
  const tinyBox = new Uint8Array([0, 0, 0, 4, 0x66, 0x74, 0x79, 0x70]);
  assert.ok(I.parseInitCodecs(tinyBox).bad);
});

test('the playhead goes onto the data, near the live edge, and over small holes', () => {
  const { LIVE_MAX_LAG_S, LIVE_TARGET_LAG_S } = I.limits;
  // Live start: currentTime 0, data at 100..102 → near the end, not before the data.
  assert.equal(I.positionFix(0, [[100, 102]], true, true, false), 102 - LIVE_TARGET_LAG_S);
  assert.equal(I.positionFix(0, [[100, 100.5]], true, true, false), 100);
  // Playing live, fallen behind → jump closer; close enough → stay.
  assert.equal(I.positionFix(100, [[90, 100 + LIVE_MAX_LAG_S + 1]], true, false, false), 100 + LIVE_MAX_LAG_S + 1 - LIVE_TARGET_LAG_S);
  assert.equal(I.positionFix(100, [[90, 102]], true, false, false), null);
  // Paused live stays put unless it is very far behind.
  assert.equal(I.positionFix(100, [[90, 110]], true, false, true), null);
  assert.notEqual(I.positionFix(100, [[90, 140]], true, false, true), null);
  // On demand: start on the first data; skip a small hole, not a big one.
  assert.equal(I.positionFix(0, [[0.2, 5]], false, true, false), 0.2);
  assert.equal(I.positionFix(5, [[0, 5], [6, 9]], false, false, false), 6.001);
  assert.equal(I.positionFix(5, [[0, 5], [20, 30]], false, false, false), null);
  assert.equal(I.positionFix(3, [[0, 5]], false, false, false), null);
  assert.equal(I.positionFix(3, [], true, true, false), null);
});

test('old media is removed to keep about 30 s behind the playhead', () => {
  const { KEEP_BEHIND_S } = I.limits;
  assert.equal(I.trimRange(20, [[0, 25]]), null);
  same(I.trimRange(100, [[10, 105]]), [10, 100 - KEEP_BEHIND_S]);
  assert.equal(I.trimRange(100, [[65, 105]]), null, 'not every second: only once enough piled up');
  assert.equal(I.trimRange(100, []), null);
});

test('mistPlay without a target says so and returns null', () => {
  const win = load({ extra: { document: { getElementById: () => null, querySelector: () => null } } });
  assert.equal(win.mistPlay('demo', {}), null);
  assert.equal(win.mistPlay('demo', { target: 'nope' }), null);
  assert.ok(win.messages.some((m) => m.startsWith('error: [brume]') && m.includes('options.target')), win.messages.join('\n'));
});
