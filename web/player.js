/* Brume's embeddable player: window.mistPlay(stream, options) and the player
 * registry window.mistplayers ("mews", "mse-mp4", "native").
 *
 * Served verbatim at /player.js after one line the server writes that sets the
 * global default host (mistoptions.host). Reads the stream info (json_S.js) over a
 * WebSocket, falling back to HTTP polling; picks the first source a player in this
 * browser can play; recovers by itself when the stream goes offline and comes back.
 * Plain ES2017, no dependencies, no external scripts. */
(function (root) {
  'use strict';

  var TAG = '[brume]';
  /* Limits and timings. */
  var INFO_WS_TIMEOUT_MS = 5000; // first info document over the WebSocket
  var POLL_MS = 5000; // HTTP info polling while waiting
  var WHEP_CONNECT_MS = 5000; // WebRTC must connect within this, else the next source
  var START_TIMEOUT_MS = 12000; // a player must show a frame within this
  var MAX_RETRIES = 8; // reconnects in a row before giving up
  var MAX_QUEUE_BYTES = 64 * 1024 * 1024; // media received but not yet appended
  var HIGH_WATER_BYTES = 8 * 1024 * 1024; // stop reading a download above this
  var MAX_INIT_BYTES = 4 * 1024 * 1024; // bytes searched for the MP4 header
  var KEEP_BEHIND_S = 30; // media kept behind the playhead
  var LIVE_MAX_LAG_S = 3; // live: jump closer when further behind than this
  var LIVE_TARGET_LAG_S = 1.5; // live: where to jump to, before the newest data
  var MAX_GAP_S = 3; // holes in the buffer skipped over
  var JUMP_COOLDOWN_MS = 3000;
  var STALL_MS = 15000; // playing but not moving this long: reconnect
  var SOCKET_POLL_MS = 15000; // HTTP polling while waiting, when info also comes pushed

  var SHORT_TYPES = {
    hls: 'html5/application/vnd.apple.mpegurl',
    cmaf: 'html5/application/vnd.apple.mpegurl;version=7',
    mp4: 'html5/video/mp4',
    dash: 'dash/video/mp4',
    ws: 'ws/video/mp4',
    mews: 'ws/video/mp4',
    wsmp4: 'ws/video/mp4',
    ts: 'html5/video/mp2t',
    webm: 'html5/video/webm',
    rtmp: 'flash/10',
    whep: 'whep',
    webrtc: 'whep'
  };

  var log = {
    info: function (m) { say('info', m); },
    warn: function (m) { say('warn', m); },
    error: function (m) { say('error', m); }
  };
  function say(level, message) {
    var c = root.console;
    if (c && typeof c[level] === 'function') c[level](TAG + ' ' + message);
  }

  /* ---------- URLs ---------- */

  /** `host` as an absolute base URL ending in "/" (protocol-relative and bare
   * hosts take the page's scheme). */
  function normalizeHost(host, pageProtocol) {
    var h = String(host == null ? '' : host).trim();
    if (!h) return '';
    var scheme = pageProtocol === 'https:' ? 'https:' : 'http:';
    if (h.indexOf('//') === 0) h = scheme + h;
    else if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(h)) h = scheme + '//' + h;
    if (h.charAt(h.length - 1) !== '/') h += '/';
    return h;
  }

  /** http → ws, https → wss; ws(s) URLs are returned as they are. */
  function toWebSocketUrl(url, pageProtocol) {
    var u = String(url);
    if (u.indexOf('//') === 0) u = (pageProtocol === 'https:' ? 'https:' : 'http:') + u;
    return u.replace(/^https:/i, 'wss:').replace(/^http:/i, 'ws:');
  }

  function infoUrl(host, stream) {
    return host + 'json_' + encodeURIComponent(stream) + '.js';
  }

  /** Adds `extra` (query text, with or without a leading ? or &) to `url`. */
  function appendUrl(url, extra) {
    if (!extra) return url;
    var e = String(extra);
    if (e.charAt(0) === '?' || e.charAt(0) === '&') {
      return url + (url.indexOf('?') === -1 ? '?' : '&') + e.slice(1);
    }
    return url + e;
  }

  /** The URL to play `source` at, with track selection and `urlappend`. */
  function sourceUrl(source, host, options) {
    var url = source.url || host + (source.relurl || '');
    if (/^ws/.test(source.type || '') && /^http/i.test(url)) url = toWebSocketUrl(url);
    var tracks = options.setTracks;
    if (tracks && typeof tracks === 'object' && !/^ws/.test(source.type || '')) {
      ['video', 'audio', 'subtitle'].forEach(function (kind) {
        if (tracks[kind] != null) url = appendUrl(url, '&' + kind + '=' + encodeURIComponent(tracks[kind]));
      });
    }
    return appendUrl(url, options.urlappend);
  }

  /* ---------- Stream info ---------- */

  /** Classifies an info document (object or JSON text): ready, offline or broken. */
  function interpretInfo(doc) {
    if (typeof doc === 'string') {
      try { doc = JSON.parse(doc); } catch (e) { doc = undefined; }
    }
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
      return { state: 'broken', message: 'The server sent stream information this player cannot read.' };
    }
    if (doc.error) return { state: 'offline', message: String(doc.error) };
    if (!Array.isArray(doc.source)) {
      return { state: 'broken', message: 'The stream information lists no sources.' };
    }
    return { state: 'ready', info: doc };
  }

  /** What to tell a viewer while the stream is not there. */
  function offlineText(message) {
    var m = String(message || '');
    if (/offline/i.test(m) || !m) return 'Stream is offline — waiting…';
    if (/initiali[sz]|waiting|starting|booting/i.test(m)) return 'Stream is starting — waiting…';
    return m.replace(/[.\s]+$/, '') + ' — waiting…';
  }

  /** The `startTime` option (seconds, from the page's `?t=`), or null. */
  function startSeconds(options) {
    var n = parseFloat(options && options.startTime);
    return isFinite(n) && n >= 0 ? n : null;
  }
    function isLive(info) {
    return !!info && (info.type === 'live' || !!(info.meta && info.meta.live));
  }

  function infoTracks(info) {
    var tracks = info && info.meta && info.meta.tracks;
    if (!tracks || typeof tracks !== 'object') return [];
    return Object.keys(tracks).map(function (k) { return tracks[k]; })
      .filter(function (t) { return t && typeof t === 'object'; })
      .sort(function (a, b) { return (a.idx || 0) - (b.idx || 0); });
  }

  /** Changes here restart playback; lastms and bitrates do not count. */
  function infoSignature(info) {
    var tracks = infoTracks(info).map(function (t) {
      return [t.type, t.trackid, t.codecstring || t.codec].join(':');
    });
    var sources = (info.source || []).map(function (s) { return s.type + ' ' + s.url; });
    return tracks.join(',') + '|' + sources.join(',') + '|' + info.type;
  }

  /* ---------- Codecs ---------- */

  function hex2(n) { return (n < 16 ? '0' : '') + n.toString(16); }

  function bytesOfString(s) {
    var out = new Uint8Array(typeof s === 'string' ? s.length : 0);
    for (var i = 0; i < out.length; i++) out[i] = s.charCodeAt(i) & 255;
    return out;
  }

  /** The RFC 6381 codec string of an info track (codecstring, else derived). */
  function trackCodecString(track) {
    if (track.codecstring) return String(track.codecstring);
    var codec = String(track.codec || '').toUpperCase();
    var init = bytesOfString(track.init);
    switch (codec) {
      case 'H264': return init.length >= 4 ? 'avc1.' + hex2(init[1]) + hex2(init[2]) + hex2(init[3]) : 'avc1.42e01e';
      case 'AAC': return 'mp4a.40.' + ((init.length && init[0] >> 3) || 2);
      case 'MP3': return 'mp4a.40.34';
      case 'OPUS': return 'opus';
      case 'FLAC': return 'flac';
      case 'AC3': return 'ac-3';
      case 'EAC3': return 'ec-3';
      case 'HEVC': return 'hev1.1.6.L93.B0';
      default: return null;
    }
  }

  /** Codec strings of the audio and video tracks of an info document, in order. */
  function codecsOfInfo(info) {
    var out = [];
    infoTracks(info).forEach(function (t) {
      if (t.type !== 'video' && t.type !== 'audio') return;
      var c = trackCodecString(t);
      if (c && out.indexOf(c) === -1) out.push(c);
    });
    return out;
  }

  function mseMime(codecs) {
    return 'video/mp4; codecs="' + codecs.join(',') + '"';
  }

  /* Reads the codecs out of an MP4 init segment (ftyp/moov). Returns null while
   * the moov box is incomplete, {bad: reason} for bytes that are not one. */
  var MP4_TOP = ['ftyp', 'styp', 'moov', 'free', 'skip', 'uuid', 'sidx', 'emsg', 'prft', 'moof', 'mdat', 'mfra', 'meta', 'wide', 'pdin'];
  function boxAt(b, o, end) {
    if (o + 8 > end) return null;
    var size = ((b[o] << 24) >>> 0) + (b[o + 1] << 16) + (b[o + 2] << 8) + b[o + 3];
    var type = String.fromCharCode(b[o + 4], b[o + 5], b[o + 6], b[o + 7]);
    var head = 8;
    if (size === 1) {
      if (o + 16 > end) return null;
      size = (((b[o + 8] << 24) >>> 0) + (b[o + 9] << 16) + (b[o + 10] << 8) + b[o + 11]) * 4294967296 +
        ((b[o + 12] << 24) >>> 0) + (b[o + 13] << 16) + (b[o + 14] << 8) + b[o + 15];
      head = 16;
    } else if (size === 0) {
      size = end - o;
    }
    return { type: type, start: o, body: o + head, end: o + size, size: size };
  }
  function childBoxes(b, from, to) {
    var out = [];
    for (var o = from; o + 8 <= to;) {
      var box = boxAt(b, o, to);
      if (!box || box.size < 8 || box.end > to) break;
      out.push(box);
      o = box.end;
    }
    return out;
  }
  function findChild(b, box, type, skip) {
    var kids = childBoxes(b, box.body + (skip || 0), box.end);
    for (var i = 0; i < kids.length; i++) if (kids[i].type === type) return kids[i];
    return null;
  }
  function parseInitCodecs(b) {
    for (var o = 0; o + 8 <= b.length;) {
      var box = boxAt(b, o, b.length);
      if (!box) return null;
      if (!/^[A-Za-z0-9 ]{4}$/.test(box.type) || MP4_TOP.indexOf(box.type) === -1 || box.size < 8) {
        return { bad: 'The stream is not MP4.' };
      }
      if (box.type === 'moof' || box.type === 'mdat') return { bad: 'The stream has no MP4 header.' };
      if (box.end > b.length) return null;
      if (box.type === 'moov') return { codecs: moovCodecs(b, box), end: box.end };
      o = box.end;
    }
    return null;
  }
  function moovCodecs(b, moov) {
    var out = [];
    childBoxes(b, moov.body, moov.end).forEach(function (trak) {
      if (trak.type !== 'trak') return;
      var box = trak;
      var path = ['mdia', 'minf', 'stbl', 'stsd'];
      for (var i = 0; i < path.length && box; i++) box = findChild(b, box, path[i]);
      if (!box) return;
      var entry = boxAt(b, box.body + 8, box.end); // full box header + entry count
      if (!entry || entry.end > box.end) return;
      var c = sampleEntryCodec(b, entry);
      if (c && out.indexOf(c) === -1) out.push(c);
    });
    return out;
  }
  function sampleEntryCodec(b, e) {
    var t = e.type;
    if (t === 'avc1' || t === 'avc3') {
      var avcc = findChild(b, e, 'avcC', 78);
      return avcc ? t + '.' + hex2(b[avcc.body + 1]) + hex2(b[avcc.body + 2]) + hex2(b[avcc.body + 3]) : t;
    }
    if (t === 'hvc1' || t === 'hev1') {
      var h = findChild(b, e, 'hvcC', 78);
      return h ? hevcString(t, b, h.body) : t;
    }
    if (t === 'av01') {
      var a = findChild(b, e, 'av1C', 78);
      if (!a) return t;
      var p = b[a.body + 1], q = b[a.body + 2];
      var depth = (q & 64) ? ((q & 32) ? 12 : 10) : 8;
      var level = p & 31;
      return 'av01.' + (p >> 5) + '.' + (level < 10 ? '0' : '') + level + ((q & 128) ? 'H' : 'M') + '.' +
        (depth < 10 ? '0' : '') + depth;
    }
    if (t === 'vp09') {
      var v = findChild(b, e, 'vpcC', 78);
      if (!v) return t;
      var two = function (n) { return (n < 10 ? '0' : '') + n; };
      return 'vp09.' + two(b[v.body + 4]) + '.' + two(b[v.body + 5]) + '.' + two(b[v.body + 6] >> 4);
    }
    if (t === 'mp4a') {
      var version = (b[e.body + 8] << 8) | b[e.body + 9];
      var skip = 28 + (version === 1 ? 16 : version === 2 ? 36 : 0);
      var esds = findChild(b, e, 'esds', skip);
      return esds ? esdsCodec(b, esds.body + 4, esds.end) : 'mp4a.40.2';
    }
    if (t === 'Opus') return 'opus';
    if (t === 'fLaC') return 'flac';
    if (t === 'ac-3' || t === 'ec-3') return t;
    return t.trim();
  }
  function hevcString(t, b, o) {
    var ps = b[o + 1] >> 6, tier = (b[o + 1] >> 5) & 1, profile = b[o + 1] & 31;
    var compat = 0;
    for (var i = 0; i < 4; i++) compat = compat * 256 + b[o + 2 + i];
    var reversed = 0;
    for (var j = 0; j < 32; j++) { reversed = reversed * 2 + (compat % 2); compat = Math.floor(compat / 2); }
    var cons = [];
    for (var k = 0; k < 6; k++) cons.push(b[o + 6 + k]);
    while (cons.length && cons[cons.length - 1] === 0) cons.pop();
    return t + '.' + ['', 'A', 'B', 'C'][ps] + profile + '.' + reversed.toString(16).toUpperCase() + '.' +
      (tier ? 'H' : 'L') + b[o + 12] + cons.map(function (c) { return '.' + c.toString(16).toUpperCase(); }).join('');
  }
  function esdsCodec(b, o, end) {
    var oti = null, aot = null;
    while (o + 2 <= end) {
      var tag = b[o++], len = 0;
      for (var n = 0; n < 4 && o < end; n++) { var c = b[o++]; len = (len << 7) | (c & 127); if (!(c & 128)) break; }
      if (tag === 3) { // ES descriptor: ES_ID, flags, optional fields, then children
        var flags = b[o + 2];
        o += 3 + ((flags & 128) ? 2 : 0) + ((flags & 64) ? 1 + b[o + 3] : 0) + ((flags & 32) ? 2 : 0);
      } else if (tag === 4) { // decoder config: object type, then children
        oti = b[o];
        o += 13;
      } else if (tag === 5) {
        aot = b[o] >> 3;
        if (aot === 31 && o + 1 < end) aot = 32 + (((b[o] & 7) << 3) | (b[o + 1] >> 5));
        break;
      } else {
        o += len;
      }
    }
    if (oti === null || oti === 0x40) return 'mp4a.40.' + (aot || 2);
    return 'mp4a.' + hex2(oti);
  }

  /* ---------- Buffer positions (ranges are [start, end] pairs in seconds) ---------- */

  function rangesOf(tr) {
    var out = [];
    try { for (var i = 0; i < tr.length; i++) out.push([tr.start(i), tr.end(i)]); } catch (e) { return out; }
    return out;
  }

  /** Where the playhead should jump to, or null: onto the data at the start, near
   * the live edge when too far behind, and over small holes. */
  function positionFix(t, ranges, live, starting, paused) {
    if (!ranges.length) return null;
    var first = ranges[0], last = ranges[ranges.length - 1];
    var nearEdge = Math.max(last[0], last[1] - LIVE_TARGET_LAG_S);
    if (live) {
      if (starting && (t < last[0] || last[1] - t > LIVE_MAX_LAG_S)) return nearEdge;
      if (!paused && last[1] - t > LIVE_MAX_LAG_S) return nearEdge;
      if (paused && last[1] - t > KEEP_BEHIND_S) return nearEdge;
    } else if (starting && t < first[0]) {
      return first[0];
    }
    for (var i = 0; i < ranges.length; i++) {
      var r = ranges[i];
      if (t >= r[0] && t < r[1]) return null;
      if (r[0] > t) return r[0] - t <= MAX_GAP_S ? r[0] + 0.001 : null;
    }
    return null;
  }

  /** The range to remove so that about KEEP_BEHIND_S stays behind the playhead. */
  function trimRange(t, ranges) {
    if (!ranges.length) return null;
    var start = ranges[0][0], cut = t - KEEP_BEHIND_S;
    return start < cut - 10 ? [start, cut] : null;
  }

  /* ---------- Source choice ---------- */

  function normalizeForceType(value) {
    if (value == null || value === '') return null;
    var v = String(value).trim();
    return SHORT_TYPES[v.toLowerCase()] || v;
  }

  function typeMatches(type, forced) {
    var t = String(type || '');
    return t === forced || t.replace(/^[^/]*\//, '') === forced;
  }

  /** WebRTC first (lowest latency) when it carries everything the stream has:
   * H.264 video, and audio the server sends as Opus (AAC is converted). */
  function preferWebRtc(candidates, info) {
    var carried = infoTracks(info).every(function (t) {
      return t.type !== 'audio' || /^(aac|opus)$/i.test(String(t.codec || ''));
    });
    if (!carried) return candidates;
    var webrtc = candidates.filter(function (c) { return c.source.type === 'whep'; });
    return webrtc.concat(candidates.filter(function (c) { return c.source.type !== 'whep'; }));
  }

  /** Every (source, player) pair worth trying, best first, or an error in words. */
  function chooseCandidates(info, players, options) {
    var sources = Array.isArray(info.source) ? info.source : [];
    var forcedType = normalizeForceType(options.forceType);
    var forcedPlayer = options.forcePlayer ? String(options.forcePlayer) : null;
    var forcedIndex = options.forceSource == null || options.forceSource === '' ? null : parseInt(options.forceSource, 10);
    if (isNaN(forcedIndex)) forcedIndex = null;
    var order = forcedPlayer ? players.filter(function (p) { return p.name === forcedPlayer; }) : players;
    if (!order.length) return { candidates: [], error: 'There is no player called "' + forcedPlayer + '".' };
    var candidates = [], offered = [];
    sources.forEach(function (source, index) {
      if (!source || typeof source !== 'object') return;
      if (forcedIndex !== null && index !== forcedIndex) return;
      if (forcedType && !typeMatches(source.type, forcedType)) return;
      offered.push(source.hrn ? source.hrn + ' (' + source.type + ')' : source.type);
      order.forEach(function (p) {
        var ok = false;
        try { ok = !!p.isBrowserSupported(source.type, source, info); } catch (e) { ok = false; }
        if (ok) candidates.push({ player: p, source: source, index: index });
      });
    });
    if (!forcedType && !forcedPlayer && forcedIndex === null) candidates = preferWebRtc(candidates, info);
    if (candidates.length) return { candidates: candidates };
    var error;
    if (!sources.length) error = 'The server offers no way to play this stream.';
    else if (forcedIndex !== null && !sources[forcedIndex]) error = 'The stream has no source number ' + forcedIndex + '.';
    else if (!offered.length) error = 'The stream is not offered as ' + forcedType + '.';
    else if (forcedType || forcedIndex !== null || forcedPlayer) {
      error = 'This browser cannot play ' + offered.join(', ') + (forcedPlayer ? ' with the ' + forcedPlayer + ' player' : '') + '.';
    } else error = 'This browser cannot play any of the formats this stream is offered in (' + offered.join(', ') + ').';
    return { candidates: [], error: error };
  }

  /* ---------- Browser capabilities ---------- */

  function mediaSourceClass() {
    return root.MediaSource || root.ManagedMediaSource || root.WebKitMediaSource || null;
  }
  function mseCanPlay(codecs) {
    var MS = mediaSourceClass();
    if (!MS || !codecs.length || typeof MS.isTypeSupported !== 'function') return false;
    try { return !!MS.isTypeSupported(mseMime(codecs)); } catch (e) { return false; }
  }
  var probeVideo = null;
  function canPlayNatively(mime) {
    try {
      if (!probeVideo) probeVideo = root.document.createElement('video');
      return !!probeVideo.canPlayType(mime);
    } catch (e) { return false; }
  }

  /* ---------- Feeding a MediaSource ---------- */

  /** Appends fMP4 bytes (header, then moof+mdat) to a MediaSource on `video`:
   * finds the codecs in the header, queues while the buffer is busy, makes room
   * when full, keeps the playhead on the data (and near the live edge), and removes
   * old media. `opts`: live, aligned (each push is whole boxes), fallbackCodecs(),
   * duration (seconds, on demand), fail(message). */
  function MseSink(video, opts) {
    this.video = video;
    this.opts = opts;
    this.queue = [];
    this.queuedBytes = 0;
    this.head = [];
    this.headBytes = 0;
    this.codecs = null;
    this.sb = null;
    this.ms = null;
    this.dead = false;
    this.ending = false;
    this.lastJump = 0;
    this.playedOnce = false;
    this.waiters = [];
    this.unlisten = [];
  }
  MseSink.prototype.on = function (target, name, fn) {
    target.addEventListener(name, fn);
    this.unlisten.push(function () { target.removeEventListener(name, fn); });
  };
  MseSink.prototype.start = function () {
    var self = this, MS = mediaSourceClass();
    if (!MS) return this.fail('This browser has no Media Source Extensions.');
    this.ms = new MS();
    if (!root.MediaSource && MS === root.ManagedMediaSource) this.video.disableRemotePlayback = true;
    this.on(this.ms, 'sourceopen', function () { self.create(); });
    this.url = root.URL.createObjectURL(this.ms);
    this.video.src = this.url;
    this.on(this.video, 'waiting', function () { self.tick(); });
    this.on(this.video, 'playing', function () { self.playedOnce = true; });
    this.timer = setInterval(function () { self.tick(); }, 1000);
  };
  MseSink.prototype.fail = function (message) {
    if (this.dead) return;
    this.dead = true;
    this.opts.fail(message);
  };
  MseSink.prototype.push = function (data) {
    if (this.dead) return;
    var bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
    if (!this.codecs) {
      this.head.push(bytes);
      this.headBytes += bytes.length;
      var all = concatBytes(this.head, this.headBytes);
      var parsed = parseInitCodecs(all);
      if (parsed && parsed.bad) return this.fail(parsed.bad);
      if (!parsed) {
        if (this.headBytes > MAX_INIT_BYTES) this.fail('The stream did not start with an MP4 header.');
        return;
      }
      this.codecs = parsed.codecs.length ? parsed.codecs : this.opts.fallbackCodecs();
      this.head = [];
      this.headBytes = 0;
      this.enqueue(all);
      this.create();
      return;
    }
    if (this.opts.aligned && bytes.length >= 8) {
      var type = String.fromCharCode(bytes[4], bytes[5], bytes[6], bytes[7]);
      if (type === 'ftyp' || type === 'moov') {
        var again = parseInitCodecs(bytes);
        if (again && again.codecs && again.codecs.length && again.codecs.join() !== this.codecs.join()) {
          this.codecs = again.codecs;
          this.queue.push({ changeType: mseMime(again.codecs) });
        }
      }
    }
    this.enqueue(bytes);
  };
  MseSink.prototype.enqueue = function (bytes) {
    this.queue.push(bytes);
    this.queuedBytes += bytes.byteLength;
    if (this.queuedBytes > MAX_QUEUE_BYTES) return this.fail('The browser fell too far behind the stream.');
    this.pump();
  };
  MseSink.prototype.create = function () {
    if (this.sb || this.dead || !this.codecs || !this.ms || this.ms.readyState !== 'open') return;
    var self = this, mime = mseMime(this.codecs);
    if (!mseCanPlay(this.codecs)) return this.fail('This browser cannot play ' + this.codecs.join(' + ') + '.');
    try {
      this.sb = this.ms.addSourceBuffer(mime);
    } catch (e) {
      return this.fail('This browser cannot play ' + this.codecs.join(' + ') + ' (' + e.message + ').');
    }
    try { this.sb.mode = 'segments'; } catch (e) { /* keep the default */ }
    if (!this.opts.live && this.opts.duration > 0) {
      try { this.ms.duration = this.opts.duration; } catch (e) { /* set later by the media */ }
    }
    this.on(this.sb, 'updateend', function () { self.tick(); self.pump(); });
    this.on(this.sb, 'error', function () { self.fail('The browser could not use the media it received.'); });
    this.pump();
  };
  MseSink.prototype.pump = function () {
    var sb = this.sb;
    if (!sb || this.dead || sb.updating || this.ms.readyState === 'closed') return;
    while (this.queue.length && !sb.updating) {
      var item = this.queue[0];
      if (item.changeType) {
        this.queue.shift();
        try { sb.changeType(item.changeType); } catch (e) { return this.fail('The stream changed to codecs this browser cannot switch to.'); }
        continue;
      }
      try {
        sb.appendBuffer(item);
      } catch (e) {
        if (e && e.name === 'QuotaExceededError') return this.makeRoom();
        return this.fail('Adding media to the player failed (' + (e && e.message) + ').');
      }
      this.queue.shift();
      this.queuedBytes -= item.byteLength;
      this.wake();
      return;
    }
    if (!this.queue.length && this.ending && !sb.updating && this.ms.readyState === 'open') {
      try { this.ms.endOfStream(); } catch (e) { /* already ended */ }
    }
  };
  MseSink.prototype.makeRoom = function () {
    var self = this, t = this.video.currentTime, ranges = rangesOf(this.sb.buffered);
    if (ranges.length && ranges[0][0] < t - 1) {
      try { this.sb.remove(ranges[0][0], t - 1); return; } catch (e) { /* retry below */ }
    }
    clearTimeout(this.roomTimer);
    this.roomTimer = setTimeout(function () { self.pump(); }, 1000);
  };
  MseSink.prototype.tick = function () {
    if (this.dead || !this.sb) return;
    var v = this.video, ranges = rangesOf(v.buffered), now = Date.now();
    var starting = !this.playedOnce && v.readyState < 3;
    var to = positionFix(v.currentTime, ranges, this.opts.live, starting, v.paused);
    if (to !== null && Math.abs(to - v.currentTime) > 0.05 && (starting || now - this.lastJump > JUMP_COOLDOWN_MS)) {
      this.lastJump = now;
      try { v.currentTime = to; } catch (e) { /* not seekable yet */ }
    }
    var cut = this.sb.updating ? null : trimRange(v.currentTime, rangesOf(this.sb.buffered));
    if (cut) {
      try { this.sb.remove(cut[0], cut[1]); } catch (e) { /* next tick */ }
    }
  };
  MseSink.prototype.end = function () {
    this.ending = true;
    this.pump();
  };
  /** Resolves once the queue is small enough to read more. */
  MseSink.prototype.drained = function () {
    var self = this;
    if (this.dead || this.queuedBytes < HIGH_WATER_BYTES / 2) return Promise.resolve();
    return new Promise(function (resolve) { self.waiters.push(resolve); });
  };
  MseSink.prototype.wake = function () {
    if (!this.dead && this.queuedBytes >= HIGH_WATER_BYTES / 2) return;
    var w = this.waiters;
    this.waiters = [];
    w.forEach(function (f) { f(); });
  };
  MseSink.prototype.destroy = function () {
    this.dead = true;
    clearInterval(this.timer);
    clearTimeout(this.roomTimer);
    this.unlisten.forEach(function (f) { f(); });
    this.unlisten = [];
    this.queue = [];
    this.wake();
    if (this.url) { try { root.URL.revokeObjectURL(this.url); } catch (e) { /* gone */ } }
  };

  function concatBytes(parts, total) {
    if (parts.length === 1) return parts[0];
    var out = new Uint8Array(total), o = 0;
    parts.forEach(function (p) { out.set(p, o); o += p.length; });
    return out;
  }

  /* ---------- Players ---------- */

  /* Each player gets ctx = {video, url, source, info, options, live, fail(message)}
   * and offers start(), destroy(), and optionally play(), pause(), seek(seconds). */

  /** MP4 over a WebSocket ("MEWS"). */
  function MewsPlayer(ctx) {
    this.ctx = ctx;
    this.ws = null;
    this.sink = null;
    this.closed = false;
    this.held = false;
    this.time = null;
    this.unlisten = [];
  }
  /* Codec names the server may pick tracks by (both of H264's names are sent). */
  var MEWS_CODECS = [['H264', 'avc1.42e01e'], ['AVC', 'avc1.42e01e'], ['HEVC', 'hev1.1.6.L93.B0'], ['AAC', 'mp4a.40.2'],
    ['MP3', 'mp4a.40.34'], ['opus', 'opus']];
  function mewsSupportedCodecs() {
    var names = MEWS_CODECS.filter(function (c) { return mseCanPlay([c[1]]); }).map(function (c) { return c[0]; });
    return names.length ? names : MEWS_CODECS.map(function (c) { return c[0]; });
  }
  /** MEWS starts at `ctx.start` itself (the server sends media from there). */
  MewsPlayer.prototype.seeksAtStart = true;
  MewsPlayer.prototype.send = function (message) {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(message));
  };
  MewsPlayer.prototype.start = function () {
    var self = this, ctx = this.ctx, v = ctx.video;
    var infoCodecs = codecsOfInfo(ctx.info);
    this.sink = new MseSink(v, {
      live: ctx.live,
      aligned: true,
      duration: maxTrackSeconds(ctx.info),
      fallbackCodecs: function () { return self.codecData || infoCodecs; },
      fail: function (m) { self.stop(); ctx.fail(m); }
    });
    this.sink.start();
    var ws;
    try { ws = new root.WebSocket(ctx.url); } catch (e) { return ctx.fail('Could not open ' + ctx.url + ' (' + e.message + ').'); }
    this.ws = ws;
    ws.binaryType = 'arraybuffer';
    ws.onopen = function () {
      var tracks = ctx.options.setTracks;
      if (tracks && typeof tracks === 'object') self.send(Object.assign({ type: 'tracks' }, tracks));
      self.send({ type: 'request_codec_data', supported_codecs: mewsSupportedCodecs() });
    };
    ws.onmessage = function (e) {
      if (self.closed) return;
      if (typeof e.data === 'string') self.onText(e.data);
      else self.sink.push(new Uint8Array(e.data));
    };
    ws.onclose = function (e) {
      if (self.closed) return;
      self.closed = true;
      if (self.stopped && !ctx.live) return; // the file was sent to its end
      ctx.fail(self.stopped ? 'The stream stopped.' : 'The connection to the media server closed (code ' + e.code + ').');
    };
    var listen = function (name, fn) {
      v.addEventListener(name, fn);
      self.unlisten.push(function () { v.removeEventListener(name, fn); });
    };
    listen('pause', function () {
      if (!v.ended && v.readyState > 0) { self.held = true; self.send({ type: 'hold' }); }
    });
    listen('play', function () {
      if (!self.held) return;
      self.held = false;
      self.send(ctx.live ? { type: 'play', seek_time: 'live' } : { type: 'play' });
    });
    listen('seeking', function () {
      if (ctx.live) return;
      var t = v.currentTime, inside = rangesOf(v.buffered).some(function (r) { return t >= r[0] && t < r[1]; });
      if (!inside) self.requestSeek(t);
    });
  };
  MewsPlayer.prototype.onText = function (text) {
    var m;
    try { m = JSON.parse(text); } catch (e) { return; }
    if (!m || typeof m !== 'object') return;
    var data = m.data && typeof m.data === 'object' ? m.data : {};
    switch (m.type) {
      case 'codec_data': {
        var infoTracksList = infoTracks(this.ctx.info);
        var codecs = (Array.isArray(data.codecs) ? data.codecs : []).map(function (c) {
          var s = String(c);
          var match = infoTracksList.filter(function (t) { return String(t.codec).toLowerCase() === s.toLowerCase(); })[0];
          return match ? trackCodecString(match) || s : s;
        });
        if (!codecs.length) {
          this.ctx.fail('None of the stream\'s tracks can be played in this browser.');
          return;
        }
        this.codecData = codecs;
        if (!this.playing) {
          this.playing = true;
          // The page's start time (`?t=`): a media time in the DVR window (live) or
          // the file; otherwise the live edge or the beginning.
          var at = this.ctx.start != null ? Math.round(this.ctx.start * 1000) : null;
          this.send({ type: 'play', seek_time: at != null ? at : this.ctx.live ? 'live' : 0 });
        }
        break;
      }
      case 'on_time':
        this.time = data;
        break;
      case 'on_stop':
        this.stopped = true;
        this.sink.end();
        if (this.ctx.live) this.ctx.fail('The stream stopped.');
        break;
      case 'error': {
        // Before media flows an error ends this attempt; later ones answer a
        // single command, and the connection goes on.
        var why = typeof m.data === 'string' ? m.data : data.message || m.message || 'unknown error';
        if (!this.codecData) this.ctx.fail('The media server said: ' + why);
        else log.warn('the media server said: ' + why);
        break;
      }
      default:
        break;
    }
  };
  MewsPlayer.prototype.stop = function () {
    if (this.closed) return;
    this.closed = true;
    if (this.ws) {
      try { this.send({ type: 'stop' }); this.ws.close(1000); } catch (e) { /* closing anyway */ }
    }
  };
  MewsPlayer.prototype.destroy = function () {
    this.stop();
    this.unlisten.forEach(function (f) { f(); });
    if (this.sink) this.sink.destroy();
  };
  /** On demand: asks for media from `seconds` on (the buffer takes more again). */
  MewsPlayer.prototype.requestSeek = function (seconds) {
    if (this.ctx.live) return;
    this.stopped = false;
    this.sink.ending = false;
    this.send({ type: 'seek', seek_time: Math.round(seconds * 1000) });
  };
  /* Seeking is the video's: its `seeking` event asks the server when needed. */
  MewsPlayer.prototype.seek = function (seconds) { this.ctx.video.currentTime = seconds; };
  MewsPlayer.prototype.setSpeed = function (rate) {
    this.send({ type: 'set_speed', play_rate: rate });
    if (typeof rate === 'number') this.ctx.video.playbackRate = rate;
  };

  function maxTrackSeconds(info) {
    var ms = 0;
    infoTracks(info).forEach(function (t) { if (t.lastms > ms) ms = t.lastms; });
    return ms / 1000;
  }

  /** Live progressive MP4 read with fetch() and fed to a MediaSource. */
  function MseMp4Player(ctx) {
    this.ctx = ctx;
    this.sink = null;
    this.abort = null;
    this.done = false;
  }
  MseMp4Player.prototype.start = function () {
    var self = this, ctx = this.ctx;
    this.sink = new MseSink(ctx.video, {
      live: true,
      aligned: false,
      fallbackCodecs: function () { return codecsOfInfo(ctx.info); },
      fail: function (m) { self.destroy(); ctx.fail(m); }
    });
    this.sink.start();
    this.abort = typeof root.AbortController === 'function' ? new root.AbortController() : null;
    this.read().catch(function (e) {
      if (!self.done) ctx.fail('The download of ' + ctx.url + ' failed (' + (e && e.message) + ').');
    });
  };
  MseMp4Player.prototype.read = async function () {
    var ctx = this.ctx;
    var response = await root.fetch(ctx.url, { cache: 'no-store', signal: this.abort ? this.abort.signal : undefined });
    if (this.done) return;
    if (!response.ok) return ctx.fail('The server answered ' + response.status + ' for ' + ctx.url + '.');
    if (!response.body || typeof response.body.getReader !== 'function') {
      return ctx.fail('This browser cannot read a download while it arrives.');
    }
    var reader = response.body.getReader();
    this.reader = reader;
    for (;;) {
      var chunk = await reader.read();
      if (this.done) return;
      if (chunk.done) {
        this.sink.end();
        return ctx.fail('The stream ended.');
      }
      this.sink.push(chunk.value);
      if (this.sink.queuedBytes > HIGH_WATER_BYTES) await this.sink.drained();
    }
  };
  MseMp4Player.prototype.destroy = function () {
    if (this.done) return;
    this.done = true;
    if (this.abort) { try { this.abort.abort(); } catch (e) { /* aborted */ } }
    if (this.reader) { try { this.reader.cancel().catch(function () {}); } catch (e) { /* cancelled */ } }
    if (this.sink) this.sink.destroy();
  };

  /** WebRTC over WHEP (draft-ietf-wish-whep): POST an offer to the source URL, play the
   * answer's tracks (H.264 video, Opus audio); the session resource is deleted
   * when the player stops. */
  function WhepPlayer(ctx) {
    this.ctx = ctx;
    this.pc = null;
    this.resource = null;
    this.done = false;
  }
  WhepPlayer.prototype.start = function () {
    var self = this, ctx = this.ctx;
    this.timer = setTimeout(function () {
      if (!self.done && !self.connected) ctx.fail('WebRTC did not connect within ' + WHEP_CONNECT_MS / 1000 + ' s.');
    }, WHEP_CONNECT_MS);
    this.run().catch(function (e) {
      if (!self.done) ctx.fail('WebRTC failed (' + (e && e.message) + ').');
    });
  };
  WhepPlayer.prototype.run = async function () {
    var self = this, ctx = this.ctx;
    var pc = new root.RTCPeerConnection();
    this.pc = pc;
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    // The video gets the stream once connected: before that the element would
    // look started to the embed, which then never moves on to the next source.
    pc.ontrack = function (e) {
      if (!self.stream) self.stream = (e.streams && e.streams[0]) || new root.MediaStream();
      if (self.stream.getTracks().indexOf(e.track) < 0) self.stream.addTrack(e.track);
      self.attach();
    };
    pc.onconnectionstatechange = function () {
      if (self.done) return;
      if (pc.connectionState === 'connected') { self.connected = true; self.attach(); }
      if (pc.connectionState === 'failed' || pc.connectionState === 'closed') ctx.fail('The WebRTC connection ' + pc.connectionState + '.');
    };
    await pc.setLocalDescription(await pc.createOffer());
    var response = await root.fetch(ctx.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp' },
      body: pc.localDescription.sdp
    });
    var answer = await response.text();
    if (this.done) return;
    if (response.status !== 201) return ctx.fail('The server answered ' + response.status + ': ' + answer.trim());
    var location = response.headers.get('Location');
    if (location) this.resource = new URL(location, new URL(ctx.url, root.location.href)).href;
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  };
  WhepPlayer.prototype.attach = function () {
    if (this.done || !this.connected || !this.stream) return;
    if (this.ctx.video.srcObject !== this.stream) this.ctx.video.srcObject = this.stream;
    safePlay(this.ctx.video).catch(function () { /* the embed handles autoplay refusals */ });
  };
  WhepPlayer.prototype.destroy = function () {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    if (this.pc) { try { this.pc.close(); } catch (e) { /* closed */ } }
    if (this.resource) root.fetch(this.resource, { method: 'DELETE', keepalive: true }).catch(function () {});
    try { this.ctx.video.srcObject = null; } catch (e) { /* no srcObject */ }
  };

  /** The browser's own player: <video src=url>. */
  function NativePlayer(ctx) { this.ctx = ctx; }
  NativePlayer.prototype.start = function () { this.ctx.video.src = this.ctx.url; };
  NativePlayer.prototype.destroy = function () { /* the embed clears the video */ };

  var NATIVE_TYPES = {
    'html5/video/mp4': 'video/mp4',
    'html5/application/vnd.apple.mpegurl': 'application/vnd.apple.mpegurl',
    'html5/application/vnd.apple.mpegurl;version=7': 'application/vnd.apple.mpegurl',
    'html5/video/webm': 'video/webm',
    'html5/video/mp2t': 'video/mp2t',
    'html5/audio/mp3': 'audio/mpeg',
    'html5/audio/aac': 'audio/aac',
    'html5/audio/wav': 'audio/wav',
    'html5/audio/flac': 'audio/flac'
  };

  function entry(name, hrn, priority, mimes, supported, Ctor) {
    return {
      name: name,
      hrn: hrn,
      priority: priority,
      mimes: mimes,
      isBrowserSupported: supported,
      player: Ctor,
      build: function (ctx) { return new Ctor(ctx); }
    };
  }
  var registry = {
    mews: entry('mews', 'MP4 over WebSocket', 10, ['ws/video/mp4'], function (mime, source, info) {
      if (mime !== 'ws/video/mp4' || typeof root.WebSocket !== 'function' || !mediaSourceClass()) return false;
      var codecs = codecsOfInfo(info);
      if (!codecs.length) return mseCanPlay(['avc1.42e01e']);
      return codecs.some(function (c) { return mseCanPlay([c]); });
    }, MewsPlayer),
    'mse-mp4': entry('mse-mp4', 'Live MP4 via Media Source', 20, ['html5/video/mp4'], function (mime, source, info) {
      if (mime !== 'html5/video/mp4' || !isLive(info)) return false;
      if (typeof root.fetch !== 'function' || typeof root.ReadableStream !== 'function') return false;
      return mseCanPlay(codecsOfInfo(info));
    }, MseMp4Player),
    webrtc: entry('webrtc', 'WebRTC (WHEP)', 5, ['whep'], function (mime, source, info) {
      if (mime !== 'whep' || typeof root.RTCPeerConnection !== 'function' || typeof root.fetch !== 'function') return false;
      return isLive(info) && infoTracks(info).some(function (t) { return t.type === 'video' && t.codec === 'H264'; });
    }, WhepPlayer),
    native: entry('native', 'HTML5 video', 30, Object.keys(NATIVE_TYPES), function (mime, source, info) {
      var m = NATIVE_TYPES[mime];
      if (!m) return false;
      if (m === 'video/mp4') {
        var codecs = codecsOfInfo(info);
        if (codecs.length) return canPlayNatively('video/mp4; codecs="' + codecs.join(',') + '"');
      }
      return canPlayNatively(m);
    }, NativePlayer)
  };

  /** Registered players, best first (lower priority number first). */
  function orderedPlayers() {
    var reg = root.mistplayers || registry;
    return Object.keys(reg).map(function (k) {
      var p = reg[k];
      if (p && !p.name) p.name = k;
      return p;
    }).filter(function (p) {
      return p && typeof p.isBrowserSupported === 'function' && (typeof p.build === 'function' || typeof p.player === 'function');
    }).sort(function (a, b) { return (a.priority || 100) - (b.priority || 100); });
  }

  /* ---------- Stream info watcher ---------- */

  /** Delivers interpreted info documents: over a WebSocket while that works,
   * otherwise by fetching, polling while `polling` is on. */
  function InfoWatcher(url, deliver) {
    this.url = url;
    this.deliver = deliver;
    this.ws = null;
    this.http = false;
    this.polling = false;
    this.stopped = false;
    this.seq = 0;
    this.wsFailures = 0;
  }
  InfoWatcher.prototype.start = function () {
    if (typeof root.WebSocket === 'function') this.openSocket();
    else this.useHttp();
  };
  InfoWatcher.prototype.openSocket = function () {
    var self = this, got = false, ws;
    try { ws = new root.WebSocket(toWebSocketUrl(this.url, pageProtocol())); } catch (e) { return this.useHttp(); }
    this.ws = ws;
    var timer = setTimeout(function () {
      if (got || self.ws !== ws) return;
      log.info('no stream information over WebSocket within 5 s; asking over HTTP');
      self.ws = null;
      try { ws.close(); } catch (e) { /* closing */ }
      self.useHttp();
    }, INFO_WS_TIMEOUT_MS);
    ws.onmessage = function (e) {
      if (self.stopped || self.ws !== ws) return;
      got = true;
      self.wsFailures = 0;
      clearTimeout(timer);
      self.deliver(interpretInfo(typeof e.data === 'string' ? e.data : ''));
    };
    ws.onclose = function () {
      clearTimeout(timer);
      if (self.stopped || self.ws !== ws) return;
      self.ws = null;
      if (!got) return self.useHttp();
      // It worked before: look now over HTTP, and reconnect the socket soon.
      self.wsFailures++;
      self.refresh();
      self.reopen = setTimeout(function () { if (!self.stopped && !self.http) self.openSocket(); }, Math.min(1000 * self.wsFailures, 10000));
    };
  };
  InfoWatcher.prototype.useHttp = function () {
    if (this.http || this.stopped) return;
    this.http = true;
    this.refresh();
  };
  /** Fetches the document now (and keeps polling in HTTP mode while polling is on). */
  InfoWatcher.prototype.refresh = function () {
    var self = this, seq = ++this.seq;
    clearTimeout(this.pollTimer);
    if (typeof root.fetch !== 'function') return this.deliver({ state: 'unreachable', message: 'This browser cannot fetch.' });
    root.fetch(this.url, { cache: 'no-store' }).then(function (r) {
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.text();
    }).then(function (text) {
      if (self.stopped || seq !== self.seq) return;
      self.deliver(interpretInfo(text));
      self.schedule();
    }, function (e) {
      if (self.stopped || seq !== self.seq) return;
      self.deliver({ state: 'unreachable', message: 'Cannot reach the media server (' + (e && e.message) + ').' });
      self.schedule();
    });
  };
  InfoWatcher.prototype.schedule = function () {
    var self = this;
    clearTimeout(this.pollTimer);
    if (this.stopped || !this.polling) return;
    // Pushed documents make polling a fallback: slower while the socket is up.
    this.pollTimer = setTimeout(function () { self.refresh(); }, this.http ? POLL_MS : SOCKET_POLL_MS);
  };
  InfoWatcher.prototype.setPolling = function (on) {
    var was = this.polling;
    this.polling = on;
    if (!on) clearTimeout(this.pollTimer);
    else if (!was) this.schedule();
  };
  InfoWatcher.prototype.stop = function () {
    this.stopped = true;
    clearTimeout(this.pollTimer);
    clearTimeout(this.reopen);
    if (this.ws) { try { this.ws.close(); } catch (e) { /* closing */ } }
    this.ws = null;
  };

  function pageProtocol() {
    return root.location && root.location.protocol;
  }

  /* ---------- The embed (what mistPlay returns) ---------- */

  var css = {
    wrapper: 'position:relative;display:block;width:100%;max-width:100%;margin:0 auto;background:#000;overflow:hidden;line-height:0;',
    video: 'display:block;width:100%;height:auto;aspect-ratio:16/9;background:#000;object-fit:contain;',
    overlay: 'position:absolute;left:0;top:0;right:0;bottom:0;display:none;align-items:center;justify-content:center;' +
      'flex-direction:column;padding:1em;box-sizing:border-box;background:rgba(0,0,0,0.6);color:#fff;' +
      'font:16px/1.4 sans-serif;text-align:center;pointer-events:none;',
    button: 'pointer-events:auto;margin-top:0.8em;padding:0.4em 1em;font:inherit;cursor:pointer;border:1px solid #fff;' +
      'border-radius:4px;background:rgba(255,255,255,0.15);color:#fff;',
    hint: 'position:absolute;left:0.5em;top:0.5em;display:none;padding:0.3em 0.8em;font:14px/1.4 sans-serif;cursor:pointer;' +
      'border:0;border-radius:4px;background:rgba(0,0,0,0.7);color:#fff;'
  };

  function BrumePlayer(stream, target, options) {
    this.stream = stream;
    this.target = target;
    this.options = options;
    this.host = options.host;
    this.info = null;
    this.sig = null;
    this.state = 'loading';
    this.current = null;
    this.candidates = [];
    this.retries = 0;
    this.player = null;
    this.source = null;
    this.stopped = false;
    this.buildUi();
    this.api = makeApi(this);
    target.MistVideo = this;
    this.message('Loading…');
    var self = this;
    this.watcher = new InfoWatcher(appendUrl(infoUrl(this.host, stream), options.urlappend), function (r) { self.onInfo(r); });
    this.watcher.start();
  }

  BrumePlayer.prototype.buildUi = function () {
    var doc = root.document, t = this.target, o = this.options, self = this;
    while (t.firstChild) t.removeChild(t.firstChild);
    var wrapper = doc.createElement('div');
    wrapper.className = 'brume-player';
    wrapper.style.cssText = css.wrapper;
    var video = doc.createElement('video');
    video.style.cssText = css.video;
    video.controls = o.controls !== false;
    video.playsInline = true;
    video.setAttribute('playsinline', '');
    video.muted = !!o.muted;
    video.loop = !!o.loop;
    video.preload = 'auto';
    if (o.poster) video.poster = o.poster;
    if (o.maxheight) video.style.maxHeight = typeof o.maxheight === 'number' ? o.maxheight + 'px' : String(o.maxheight);
    if (o.fillSpace) {
      t.style.width = '100%';
      t.style.height = '100%';
      wrapper.style.height = '100%';
      video.style.height = '100%';
      video.style.aspectRatio = 'auto';
    }
    var overlay = doc.createElement('div');
    overlay.className = 'brume-overlay';
    overlay.style.cssText = css.overlay;
    overlay.setAttribute('role', 'status');
    var hint = doc.createElement('button');
    hint.type = 'button';
    hint.className = 'brume-unmute';
    hint.style.cssText = css.hint;
    hint.textContent = 'Sound is off — click to unmute';
    hint.onclick = function () { video.muted = false; hint.style.display = 'none'; };
    wrapper.appendChild(video);
    wrapper.appendChild(overlay);
    wrapper.appendChild(hint);
    t.appendChild(wrapper);
    this.wrapper = wrapper;
    this.video = video;
    this.overlay = overlay;
    this.hint = hint;
    video.addEventListener('volumechange', function () { if (!video.muted) hint.style.display = 'none'; });
    video.addEventListener('loadeddata', function () { self.onData(); });
    video.addEventListener('playing', function () { self.onPlaying(); });
    video.addEventListener('error', function () { self.onVideoError(); });
    video.addEventListener('ended', function () { self.onEnded(); });
  };

  /** Shows `text` over the video; `error` adds a "Try again" button. */
  BrumePlayer.prototype.message = function (text, kind) {
    var o = this.overlay, self = this;
    this.overlayKind = kind || 'info';
    o.textContent = '';
    var p = root.document.createElement('div');
    p.textContent = text;
    o.appendChild(p);
    if (kind === 'error' || kind === 'play') {
      var b = root.document.createElement('button');
      b.type = 'button';
      b.style.cssText = css.button;
      b.textContent = kind === 'play' ? 'Play' : 'Try again';
      b.onclick = function () {
        if (kind === 'play') { self.clearMessage(); safePlay(self.video); } else self.restart();
      };
      o.appendChild(b);
    }
    o.style.display = 'flex';
  };
  BrumePlayer.prototype.clearMessage = function () {
    this.overlay.style.display = 'none';
    this.overlay.textContent = '';
    this.overlayKind = null;
  };

  BrumePlayer.prototype.sizeTo = function (info) {
    if (this.options.fillSpace) return;
    if (info.width > 0 && info.height > 0) {
      this.video.style.aspectRatio = info.width + '/' + info.height;
      this.wrapper.style.maxWidth = info.width + 'px';
    }
  };

  BrumePlayer.prototype.onInfo = function (r) {
    if (this.stopped) return;
    if (r.state === 'unreachable' || r.state === 'broken') {
      if (this.current) return;
      this.unreachable = (this.unreachable || 0) + 1;
      if (this.unreachable === 1) log.warn(r.message);
      if (this.unreachable === 3) log.error(r.message + ' Still trying.');
      if (this.state !== 'error') this.message(r.state === 'broken' ? r.message : 'Cannot reach the media server — retrying…');
      this.watcher.setPolling(true);
      return;
    }
    this.unreachable = 0;
    if (r.state === 'offline') {
      clearTimeout(this.retryTimer);
      this.teardown();
      this.info = null;
      this.retries = 0;
      if (this.state !== 'offline') log.info('stream "' + this.stream + '": ' + r.message + '; waiting');
      this.state = 'offline';
      this.message(offlineText(r.message));
      this.watcher.setPolling(true);
      return;
    }
    var sig = infoSignature(r.info), changed = this.sig !== null && sig !== this.sig;
    this.info = r.info;
    this.sig = sig;
    this.sizeTo(r.info);
    if (this.current) {
      if (changed) {
        log.info('the stream changed; restarting playback');
        this.teardown();
        this.begin();
      }
      return;
    }
    if (this.state === 'error' && !changed) return;
    this.begin();
  };

  BrumePlayer.prototype.begin = function () {
    var choice = chooseCandidates(this.info, orderedPlayers(), this.options);
    this.candidates = choice.candidates;
    if (!this.candidates.length) return this.fatal(choice.error);
    this.watcher.setPolling(false);
    this.startCandidate(0);
  };

  BrumePlayer.prototype.startCandidate = function (index) {
    var self = this, cand = this.candidates[index];
    var cur = { index: index, entry: cand.player, source: cand.source, started: false, announced: false, instance: null };
    this.current = cur;
    this.player = cand.player.name;
    this.source = cand.source;
    this.state = 'starting';
    if (this.overlayKind !== 'error') this.message(this.retries ? 'Reconnecting…' : 'Loading…');
    var ctx = {
      video: this.video,
      url: sourceUrl(cand.source, this.host, this.options),
      source: cand.source,
      info: this.info,
      options: this.options,
      live: isLive(this.info),
      // Where the first start begins (`startTime`, the page's `?t=`); a
      // reconnect goes on where the stream is.
      start: this.retries ? null : startSeconds(this.options),
      fail: function (m) { if (self.current === cur) self.fail(m); }
    };
    cur.startTimer = setTimeout(function () {
      if (self.current === cur && !cur.started) self.fail('Nothing arrived to play within ' + START_TIMEOUT_MS / 1000 + ' s.');
    }, START_TIMEOUT_MS);
    cur.lastTime = -1;
    cur.movedAt = Date.now();
    cur.watchdog = setInterval(function () { self.watch(cur); }, 1000);
    try {
      cur.instance = typeof cand.player.build === 'function' ? cand.player.build(ctx) : new cand.player.player(ctx);
      cur.instance.start();
      if (ctx.start != null && !ctx.live && !cur.instance.seeksAtStart) this.seekOnceLoaded(ctx.start);
    } catch (e) {
      return ctx.fail('The ' + cand.player.name + ' player failed to start (' + (e && e.message) + ').');
    }
    if (this.current !== cur) return;
    if (typeof this.options.callback === 'function') {
      try { this.options.callback(this); } catch (e) { log.error('the callback threw: ' + (e && e.message)); }
    }
    if (this.options.autoplay !== false) this.autoplay(cur);
  };

  /** Moves an on-demand video to `seconds` once its metadata is known. */
  BrumePlayer.prototype.seekOnceLoaded = function (seconds) {
    var v = this.video;
    var go = function () {
      v.removeEventListener('loadedmetadata', go);
      if (!(v.duration > 0) || seconds < v.duration) v.currentTime = seconds;
    };
    if (v.readyState >= 1) go();
    else v.addEventListener('loadedmetadata', go);
  };

  BrumePlayer.prototype.autoplay = function (cur) {
    var self = this, v = this.video;
    safePlay(v).catch(function (e) {
      if (self.current !== cur || !e || e.name !== 'NotAllowedError') return;
      if (v.muted) return self.message('Click to play', 'play');
      log.info('the browser refused to autoplay with sound; playing muted');
      v.muted = true;
      safePlay(v).then(function () {
        if (self.current === cur) self.hint.style.display = 'block';
      }, function (e2) {
        if (self.current === cur && e2 && e2.name === 'NotAllowedError') self.message('Click to play', 'play');
      });
    });
  };

  /** Reconnects when playback sits still without being paused or finished. */
  BrumePlayer.prototype.watch = function (cur) {
    var v = this.video, now = Date.now();
    if (this.current !== cur || !cur.started) return;
    if (v.paused || v.ended || v.currentTime !== cur.lastTime) {
      cur.lastTime = v.currentTime;
      cur.movedAt = now;
      return;
    }
    if (now - cur.movedAt > STALL_MS) this.fail('Playback stalled for ' + STALL_MS / 1000 + ' s.');
  };

  BrumePlayer.prototype.onData = function () {
    var cur = this.current;
    if (!cur || cur.started) return;
    cur.started = true;
    clearTimeout(cur.startTimer);
    this.state = 'playing';
    if (this.overlayKind !== 'play') this.clearMessage();
  };

  BrumePlayer.prototype.onPlaying = function () {
    var cur = this.current, self = this;
    if (!cur) return;
    this.onData();
    this.state = 'playing';
    if (this.overlayKind === 'play') this.clearMessage();
    this.everPlayed = true;
    if (!cur.announced) {
      cur.announced = true;
      log.info('playing ' + cur.source.type + ' with ' + cur.entry.name);
      clearTimeout(this.calmTimer);
      this.calmTimer = setTimeout(function () { if (self.current === cur) self.retries = 0; }, 10000);
    }
  };

  BrumePlayer.prototype.onVideoError = function () {
    var e = this.video.error;
    if (!this.current || !e) return;
    var what = ['', 'playback was aborted', 'a network error interrupted the download', 'the media could not be decoded',
      'the format is not supported'][e.code] || 'media error';
    this.fail('The browser says ' + what + (e.message ? ' (' + e.message + ')' : '') + '.');
  };

  BrumePlayer.prototype.onEnded = function () {
    if (!this.current) return;
    if (this.info && isLive(this.info)) return this.fail('The stream ended.');
    if (this.options.loop && this.current.instance && typeof this.current.instance.seek === 'function') {
      this.current.instance.seek(0);
      safePlay(this.video);
      return;
    }
    this.state = 'ended';
  };

  /** A player gave up: try the next candidate if it never started, else reconnect. */
  BrumePlayer.prototype.fail = function (message) {
    var cur = this.current;
    if (!cur) return;
    var what = cur.entry.name + ' (' + cur.source.type + ')';
    this.teardown();
    if (!cur.started) {
      log.warn(what + ' could not play: ' + message);
      if (cur.index + 1 < this.candidates.length) return this.startCandidate(cur.index + 1);
      if (!this.everPlayed) return this.fatal('This stream could not be played: ' + message);
      return this.reconnect(message);
    }
    log.warn(what + ' stopped: ' + message);
    this.reconnect(message);
  };

  BrumePlayer.prototype.reconnect = function (message) {
    var self = this;
    this.retries++;
    if (this.retries > MAX_RETRIES) return this.fatal('Playback keeps failing: ' + message);
    this.state = 'reconnecting';
    this.message('Reconnecting…');
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(function () {
      if (self.stopped || self.current || self.state !== 'reconnecting') return;
      self.watcher.refresh();
    }, Math.min(1000 * this.retries, 10000));
  };

  BrumePlayer.prototype.fatal = function (message) {
    this.teardown();
    this.state = 'error';
    this.watcher.setPolling(false);
    log.error(message);
    this.message(message, 'error');
  };

  BrumePlayer.prototype.restart = function () {
    this.teardown();
    this.retries = 0;
    this.state = 'loading';
    this.sig = null;
    this.message('Loading…');
    this.watcher.refresh();
  };

  BrumePlayer.prototype.teardown = function () {
    var cur = this.current;
    if (!cur) return;
    this.current = null;
    clearTimeout(cur.startTimer);
    clearInterval(cur.watchdog);
    this.hint.style.display = 'none';
    if (cur.instance) {
      try { cur.instance.destroy(); } catch (e) { log.warn('stopping ' + cur.entry.name + ' failed: ' + (e && e.message)); }
    }
    var v = this.video;
    try { v.pause(); } catch (e) { /* not playing */ }
    v.removeAttribute('src');
    try { v.load(); } catch (e) { /* nothing loaded */ }
  };

  /** Stops playback and stream info for good. */
  BrumePlayer.prototype.stop = function () {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.calmTimer);
    this.teardown();
    this.watcher.stop();
    this.state = 'stopped';
    this.player = null;
  };

  function safePlay(v) {
    try {
      var p = v.play();
      return p && typeof p.then === 'function' ? p : Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  function makeApi(embed) {
    var v = function () { return embed.video; };
    var inst = function () { return embed.current && embed.current.instance; };
    return {
      play: function () { return safePlay(v()); },
      pause: function () { v().pause(); },
      seek: function (seconds) {
        var i = inst();
        if (i && typeof i.seek === 'function') i.seek(seconds);
        else v().currentTime = seconds;
      },
      setSpeed: function (rate) {
        var i = inst();
        if (i && typeof i.setSpeed === 'function') i.setSpeed(rate);
        else if (typeof rate === 'number') v().playbackRate = rate;
      },
      stop: function () { embed.stop(); },
      reload: function () { embed.restart(); },
      get currentTime() { return v().currentTime; },
      set currentTime(s) { this.seek(s); },
      get duration() { return v().duration; },
      get paused() { return v().paused; },
      get muted() { return v().muted; },
      set muted(m) { v().muted = !!m; },
      get volume() { return v().volume; },
      set volume(x) { v().volume = x; },
      get state() { return embed.state; }
    };
  }

  /* ---------- Entry point ---------- */

  function globalOptions() {
    /* global mistoptions */
    try {
      if (typeof mistoptions !== 'undefined' && mistoptions && typeof mistoptions === 'object') return mistoptions;
    } catch (e) { /* not declared */ }
    return root.mistoptions && typeof root.mistoptions === 'object' ? root.mistoptions : {};
  }

  var scriptBase = (function () {
    try {
      var s = root.document && root.document.currentScript;
      return s && s.src ? s.src.replace(/[?#].*$/, '').replace(/[^/]*$/, '') : '';
    } catch (e) { return ''; }
  })();

  function resolveTarget(t) {
    if (typeof t === 'string' && root.document) {
      return root.document.getElementById(t) || root.document.querySelector(t);
    }
    return t && typeof t === 'object' && t.nodeType === 1 ? t : null;
  }

  /** Plays `stream` inside `options.target`; returns the embed object (also set as
   * target.MistVideo), or null when there is no target. */
  function mistPlay(stream, options) {
    var defaults = globalOptions();
    var o = Object.assign({ autoplay: true, controls: true }, defaults, options || {});
    var target = resolveTarget(o.target);
    if (!target) {
      log.error('mistPlay("' + stream + '") needs options.target: the element to play in.');
      return null;
    }
    o.host = normalizeHost(o.host || defaults.host || scriptBase || (root.location && root.location.origin), pageProtocol());
    if (target.MistVideo && typeof target.MistVideo.stop === 'function') target.MistVideo.stop();
    return new BrumePlayer(String(stream), target, o);
  }

  root.mistplayers = registry;
  root.mistPlay = mistPlay;
  if (root.__brumeTest) {
    root.__brumePlayerInternals = {
      normalizeHost: normalizeHost,
      toWebSocketUrl: toWebSocketUrl,
      infoUrl: infoUrl,
      appendUrl: appendUrl,
      sourceUrl: sourceUrl,
      interpretInfo: interpretInfo,
      offlineText: offlineText,
      infoSignature: infoSignature,
      trackCodecString: trackCodecString,
      codecsOfInfo: codecsOfInfo,
      mseMime: mseMime,
      parseInitCodecs: parseInitCodecs,
      positionFix: positionFix,
      trimRange: trimRange,
      normalizeForceType: normalizeForceType,
      chooseCandidates: chooseCandidates,
      orderedPlayers: orderedPlayers,
      globalOptions: globalOptions,
      limits: { LIVE_MAX_LAG_S: LIVE_MAX_LAG_S, LIVE_TARGET_LAG_S: LIVE_TARGET_LAG_S, KEEP_BEHIND_S: KEEP_BEHIND_S, MAX_GAP_S: MAX_GAP_S }
    };
  }
})(typeof window !== 'undefined' ? window : this);
