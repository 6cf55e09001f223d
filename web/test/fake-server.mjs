// A stand-in for Brume's HTTP port, for testing web/player.js in a real browser
// before (and independently of) the Rust server: /player.js (with the server's
// first line), /json_demo.js over HTTP and WebSocket, live fragmented MP4 at
// /demo.mp4 (progressive, and MEWS over WebSocket) paced in real time from an
// ffmpeg-made clip, a test page at /page.html, and POST /report from that page.
// `upstream` mode instead forwards everything but /player.js and the page to a real
// server. Test code only.
import { createServer, request as httpRequest } from 'node:http';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { accept, isUpgrade } from './ws.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const PLAYER = join(here, '..', 'player.js');
const PAGE = join(here, 'page.html');
/** Largest report body accepted from the page. */
const MAX_REPORT = 1 << 20;

/** Makes a fragmented MP4 (one fragment per second: 1 s GOPs) and splits it into
 * the init segment and moof+mdat fragments. */
export function makeClip(dir, seconds = 90) {
  const file = join(dir, 'clip.mp4');
  execFileSync('ffmpeg', ['-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc=size=320x180:rate=25:duration=${seconds}`,
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
    '-c:v', 'libx264', '-profile:v', 'main', '-pix_fmt', 'yuv420p', '-g', '25', '-keyint_min', '25', '-sc_threshold', '0',
    '-c:a', 'aac', '-b:a', '64k',
    '-movflags', 'frag_keyframe+empty_moov+default_base_moof', '-f', 'mp4', file]);
  const bytes = readFileSync(file);
  const boxes = [];
  for (let o = 0; o + 8 <= bytes.length;) {
    const size = bytes.readUInt32BE(o);
    boxes.push({ type: bytes.toString('latin1', o + 4, o + 8), data: bytes.subarray(o, o + size) });
    if (size < 8) break;
    o += size;
  }
  const init = Buffer.concat(boxes.filter((b) => b.type === 'ftyp' || b.type === 'moov').map((b) => b.data));
  const fragments = [];
  for (let i = 0; i < boxes.length; i++) {
    if (boxes[i].type === 'moof' && boxes[i + 1] && boxes[i + 1].type === 'mdat') {
      fragments.push(Buffer.concat([boxes[i].data, boxes[i + 1].data]));
    }
  }
  return { file, bytes, init, fragments };
}

function info(base, state) {
  if (!state.online) return { error: 'Stream is offline' };
  const wsBase = base.replace(/^http/, 'ws');
  return {
    type: state.vod ? 'vod' : 'live', width: 320, height: 180, selver: 2, capa: { selver: 2, ssl: false },
    meta: {
      tracks: {
        video_H264_320x180_25fps_1: { codec: 'H264', codecstring: 'avc1.4d400d', type: 'video', idx: 1, trackid: 1, width: 320, height: 180, fpks: 25000, firstms: 0, lastms: 1000 },
        audio_AAC_1ch_48000hz_2: { codec: 'AAC', codecstring: 'mp4a.40.2', type: 'audio', idx: 2, trackid: 2, rate: 48000, channels: 1, firstms: 0, lastms: 1000 },
      },
      ...(state.vod ? {} : { live: 1, buffer_window: 10000 }),
    },
    source: [
      { type: 'ws/video/mp4', hrn: 'MP4 WebSocket', priority: 10, simul_tracks: 2, total_matches: 2, relurl: 'demo.mp4', url: `${wsBase}demo.mp4` },
      { type: 'html5/application/vnd.apple.mpegurl', hrn: 'HLS (TS)', priority: 9, simul_tracks: 2, total_matches: 2, relurl: 'hls/demo/index.m3u8', url: `${base}hls/demo/index.m3u8` },
      { type: 'dash/video/mp4', hrn: 'DASH', priority: 8, simul_tracks: 2, total_matches: 2, relurl: 'cmaf/demo/index.mpd', url: `${base}cmaf/demo/index.mpd` },
      { type: 'html5/video/mp4', hrn: 'MP4 progressive', priority: 7, simul_tracks: 2, total_matches: 2, relurl: 'demo.mp4', url: `${base}demo.mp4` },
    ],
  };
}

/** Starts the server. `clip` from makeClip (not needed in upstream mode). */
export function startFakeServer({ clip, upstream = null, onReport = () => {} } = {}) {
  // infoWsSilent: info WebSockets are accepted but never sent anything.
  const state = { online: true, infoWs: true, infoWsSilent: false, mews: true, vod: false };
  const epoch = Date.now();
  const infoSockets = new Set();
  const media = new Set(); // {stop()} of live media connections
  let base = '';

  const liveIndex = () => Math.max(0, Math.floor((Date.now() - epoch) / 1000) - 1);
  /** Sends fragments from the live position in real time; returns a stopper. */
  const pace = (send, onEnd) => {
    let i = liveIndex();
    let timer = null;
    const next = () => {
      while (i < clip.fragments.length && epoch + (i + 1) * 1000 <= Date.now()) send(clip.fragments[i++]);
      if (i >= clip.fragments.length) { onEnd(); return; }
      timer = setTimeout(next, epoch + (i + 1) * 1000 - Date.now());
    };
    send(clip.init);
    next();
    return () => clearTimeout(timer);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Cache-Control', 'no-cache');
    if (url.pathname === '/player.js') {
      res.setHeader('Content-Type', 'application/javascript');
      res.end(`if (typeof mistoptions == 'undefined'){mistoptions = {};} if (!('host' in mistoptions)){mistoptions.host = '${base}';}\n` +
        readFileSync(PLAYER, 'utf8'));
      return;
    }
    if (url.pathname === '/page.html') {
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      res.end(readFileSync(PAGE, 'utf8'));
      return;
    }
    if (url.pathname === '/report' && req.method === 'POST') {
      let body = '';
      req.on('data', (c) => { if (body.length < MAX_REPORT) body += c; });
      req.on('end', () => {
        res.end('ok');
        try { onReport(JSON.parse(body)); } catch (e) { /* ignore a torn report */ }
      });
      return;
    }
    if (upstream) return forward(req, res, upstream);
    if (url.pathname === '/json_demo.js') {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify(info(base, state)));
      return;
    }
    if (url.pathname === '/demo.mp4') {
      if (!state.online) { res.statusCode = 404; res.end('offline'); return; }
      res.setHeader('Content-Type', 'video/mp4');
      if (state.vod) { res.setHeader('Content-Length', clip.bytes.length); res.end(clip.bytes); return; }
      const conn = { stop: null };
      conn.stop = pace((b) => res.write(b), () => res.end());
      const end = () => { conn.stop(); media.delete(conn); };
      conn.kill = () => { end(); res.destroy(); };
      media.add(conn);
      res.on('close', end);
      return;
    }
    res.statusCode = 404;
    res.end('not found');
  });

  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url, 'http://x');
    if (upstream) { tunnel(req, socket, head, upstream); return; }
    if (!isUpgrade(req)) { socket.end('HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\n\r\n'); return; }
    if (url.pathname === '/json_demo.js' && state.infoWs) {
      const ws = accept(req, socket);
      infoSockets.add(ws);
      if (state.infoWsSilent) return;
      ws.onclose = () => infoSockets.delete(ws);
      ws.send(JSON.stringify(info(base, state)));
      return;
    }
    if (url.pathname === '/demo.mp4' && state.mews && state.online) {
      const ws = accept(req, socket);
      const conn = { stop: () => {} };
      let clock = null;
      conn.kill = () => {
        conn.stop();
        clearInterval(clock);
        media.delete(conn);
        ws.send(JSON.stringify({ type: 'on_stop', data: {} }));
        ws.close();
      };
      media.add(conn);
      ws.onclose = () => { conn.stop(); clearInterval(clock); media.delete(conn); };
      ws.onmessage = (text) => {
        let m;
        try { m = JSON.parse(String(text)); } catch (e) { return; }
        conn.log = (conn.log || []).concat(m.type);
        if (m.type === 'request_codec_data') {
          ws.send(JSON.stringify({ type: 'codec_data', data: { codecs: ['avc1.4d400d', 'mp4a.40.2'], tracks: [1, 2] } }));
        } else if (m.type === 'play') {
          conn.stop();
          conn.stop = pace((b) => ws.send(b), () => conn.kill());
          clearInterval(clock);
          clock = setInterval(() => {
            const now = (Date.now() - epoch);
            ws.send(JSON.stringify({ type: 'on_time', data: { current: now - 1000, begin: 0, end: now, tracks: [1, 2], play_rate_curr: 'auto' } }));
          }, 1000);
        } else if (m.type === 'hold' || m.type === 'stop') {
          conn.stop();
        }
      };
      return;
    }
    socket.end('HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\n\r\n');
  });

  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      base = `http://127.0.0.1:${server.address().port}/`;
      resolve({
        base,
        state,
        /** Changes the stream's state and pushes info to WebSocket listeners;
         * going offline cuts live media connections, like a source ending. */
        set(changes) {
          Object.assign(state, changes);
          if (!state.online) for (const c of [...media]) c.kill();
          const doc = JSON.stringify(info(base, state));
          for (const ws of infoSockets) ws.send(doc);
        },
        /** Live media connections stop sending but stay open (a stuck server). */
        freeze() {
          for (const c of media) c.stop();
        },
        close() {
          for (const c of [...media]) c.kill();
          for (const ws of infoSockets) ws.close();
          server.closeAllConnections();
          return new Promise((r) => server.close(r));
        },
      });
    });
  });
}

function forward(req, res, upstream) {
  const target = new URL(req.url, upstream);
  const out = httpRequest(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (up) => {
    res.writeHead(up.statusCode, up.headers);
    up.pipe(res);
  });
  out.on('error', () => { res.statusCode = 502; res.end(); });
  req.pipe(out);
}

/** Passes a WebSocket upgrade through to the upstream server unchanged. */
function tunnel(req, socket, head, upstream) {
  const u = new URL(upstream);
  const up = connect(Number(u.port) || 80, u.hostname, () => {
    let text = `${req.method} ${req.url} HTTP/1.1\r\n`;
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i];
      text += `${name}: ${name.toLowerCase() === 'host' ? u.host : req.rawHeaders[i + 1]}\r\n`;
    }
    up.write(text + '\r\n');
    if (head && head.length) up.write(head);
    socket.pipe(up).pipe(socket);
  });
  const done = () => { up.destroy(); socket.destroy(); };
  up.on('error', done);
  socket.on('error', done);
}

// `node web/test/fake-server.mjs --serve [upstream-url]`: run it by hand and open
// the printed page in a browser. (`node --test web/test/` loads every file here as a
// test file; without --serve this one only defines things.)
if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--serve') {
  const upstream = process.argv[3] || null;
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const clip = upstream ? null : makeClip(mkdtempSync(join(tmpdir(), 'brume-player-')));
  const s = await startFakeServer({ clip, upstream, onReport: (r) => console.log(JSON.stringify(r)) });
  console.log(`${s.base}page.html`);
}
