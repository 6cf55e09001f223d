/* Brume web UI — shared helpers: talking to the management API, showing messages,
 * building DOM safely, formatting numbers, and the public URLs of streams.
 * Plain ES2017, no dependencies. Everything hangs off window.Brume. */
(function () {
  'use strict';
  var B = window.Brume = window.Brume || {};

  /* ---------- DOM ---------- */

  /** h('div', {class: 'x', onclick: f}, child, 'text', [more]) — never parses HTML. */
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === undefined || value === null || value === false) return;
        if (key.slice(0, 2) === 'on' && typeof value === 'function') {
          el.addEventListener(key.slice(2), value);
        } else if (key === 'class') {
          el.className = value;
        } else if (key === 'text') {
          el.textContent = value;
        } else if (key === 'value') {
          el.value = value;
        } else if (key === 'checked' || key === 'disabled' || key === 'readOnly' || key === 'hidden') {
          el[key] = !!value;
        } else {
          el.setAttribute(key, value === true ? '' : String(value));
        }
      });
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }
  function append(el, child) {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(el, c); }); return; }
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }
  function $(selector, root) { return (root || document).querySelector(selector); }
  B.h = h; B.clear = clear; B.$ = $;

  /* ---------- Messages (banner) ---------- */

  var keyed = {};
  /** Shows `text` in the banner. kind: 'error' | 'ok' | 'info'. A `key` replaces an
   * earlier message with the same key (the connection-lost notice, say). Errors stay
   * until dismissed; others fade after 5 s. Returns a function that removes it. */
  function notify(text, kind, key) {
    kind = kind || 'error';
    var banner = $('#banner');
    if (key && keyed[key]) keyed[key]();
    var close = h('button', {type: 'button', class: 'close', 'aria-label': 'Dismiss', text: '×'});
    var item = h('div', {class: 'message ' + kind, role: kind === 'error' ? 'alert' : 'status'},
      h('span', {class: 'text', text: text}), close);
    var gone = false;
    function remove() {
      if (gone) return;
      gone = true;
      if (item.parentNode) item.parentNode.removeChild(item);
      if (key && keyed[key] === remove) delete keyed[key];
      banner.hidden = !banner.firstChild;
    }
    close.addEventListener('click', remove);
    banner.appendChild(item);
    banner.hidden = false;
    if (key) keyed[key] = remove;
    if (kind !== 'error') setTimeout(remove, 5000);
    return remove;
  }
  B.notify = notify;
  B.forget = function (key) { if (keyed[key]) keyed[key](); };
  /** Shows an error (an ApiError or anything thrown) in words. */
  B.showError = function (err, prefix) {
    if (err && err.handled) return;
    var text = (err && err.message) ? err.message : String(err);
    notify((prefix ? prefix + ': ' : '') + text, 'error', err && err.key);
  };

  /* ---------- API ---------- */

  function ApiError(status, message, field) {
    this.name = 'ApiError';
    this.status = status;
    this.message = message;
    this.field = field || null;
  }
  ApiError.prototype = Object.create(Error.prototype);
  B.ApiError = ApiError;

  /** Encodes one path segment; dots too, so `.`/`..` stay names, not paths. */
  B.segment = function (text) {
    return encodeURIComponent(text).replace(/\./g, '%2E');
  };

  var STATUS_WORDS = {
    400: 'the server refused the request', 401: 'you need to log in',
    403: 'not allowed', 404: 'not found', 405: 'not supported by this server',
    409: 'conflict', 413: 'too large', 429: 'too many attempts — wait a minute',
    500: 'the server failed', 502: 'bad gateway', 503: 'the server is unavailable'
  };

  /** Calls the API: resolves with the parsed JSON (or null), rejects with an ApiError
   * whose message is in words. A 401 also tells the app the session is gone. */
  B.api = async function (method, path, body) {
    var init = {
      method: method,
      credentials: 'same-origin',
      cache: 'no-store',
      headers: {'X-Brume-UI': '1', 'Accept': 'application/json'}
    };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    var response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      var lost = new ApiError(0, 'Cannot reach the Brume server (' + (e && e.message || 'network error') +
        '). Is it running?');
      lost.key = 'network';
      throw lost;
    }
    var text = '';
    try { text = await response.text(); } catch (e) { text = ''; }
    var data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (!response.ok) {
      var message = data && typeof data.error === 'string' ? data.error
        : 'HTTP ' + response.status + ' — ' + (STATUS_WORDS[response.status] || response.statusText || 'error');
      if (response.status === 429) {
        var wait = response.headers.get('Retry-After');
        if (wait && !/\d+ ?s/.test(message)) message += ' (try again in ' + wait + ' s)';
      }
      var err = new ApiError(response.status, message, data && data.field);
      if (response.status === 401 && B.onUnauthorized && path.indexOf('/api/v1/login') !== 0) {
        // The login form comes back and says why; no second message for this one.
        err.handled = B.onUnauthorized(err) === true;
      }
      throw err;
    }
    if (text && data === null) {
      throw new ApiError(response.status, 'The server answered something that is not JSON.');
    }
    B.forget('network');
    return data;
  };

  /* ---------- Formatting ---------- */

  B.formatBits = function (bps) {
    if (bps === null || bps === undefined) return '—';
    var units = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s'];
    var value = Number(bps), i = 0;
    while (value >= 1000 && i < units.length - 1) { value /= 1000; i++; }
    return (i === 0 ? value.toFixed(0) : value.toFixed(value < 10 ? 2 : 1)) + ' ' + units[i];
  };
  B.formatBytes = function (bytes) {
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    var value = Number(bytes) || 0, i = 0;
    while (value >= 1024 && i < units.length - 1) { value /= 1024; i++; }
    return (i === 0 ? value.toFixed(0) : value.toFixed(1)) + ' ' + units[i];
  };
  B.formatDuration = function (seconds) {
    if (seconds === null || seconds === undefined) return '—';
    var s = Math.floor(Number(seconds));
    var d = Math.floor(s / 86400), hh = Math.floor(s % 86400 / 3600),
      mm = Math.floor(s % 3600 / 60), ss = s % 60;
    if (d) return d + ' d ' + hh + ' h';
    if (hh) return hh + ' h ' + mm + ' min';
    if (mm) return mm + ' min ' + ss + ' s';
    return ss + ' s';
  };
  B.formatTime = function (ms) {
    var d = new Date(ms);
    function two(n) { return (n < 10 ? '0' : '') + n; }
    return two(d.getHours()) + ':' + two(d.getMinutes()) + ':' + two(d.getSeconds());
  };

  /* ---------- Public URLs ---------- */

  /** Splits `127.0.0.1:8080` / `[::1]:8080` into {host, port}; null if it is not one. */
  B.splitAddress = function (address) {
    if (typeof address !== 'string') return null;
    var m = /^\[([^\]]+)\]:(\d+)$/.exec(address) || /^([^:]+):(\d+)$/.exec(address);
    return m ? {host: m[1], port: Number(m[2])} : null;
  };

  /** The HTTP media port's base URL as seen from this browser (`http://host:port/`):
   * a wildcard listen address means "this machine", i.e. the host the UI came from. */
  B.directBase = function (server) {
    var http = server && server.ports && B.splitAddress(server.ports.http);
    if (!http) return null;
    var host = http.host;
    if (host === '0.0.0.0' || host === '::' || host === '') {
      host = location.hostname;
    } else if (host.indexOf(':') >= 0) {
      host = '[' + host + ']';
    }
    if (host.indexOf(':') >= 0 && host.charAt(0) !== '[') host = '[' + host + ']';
    return 'http://' + host + (http.port === 80 ? '' : ':' + http.port) + '/';
  };

  /** The base embed code and output URLs use: the first public address of the HTTP
   * protocol when set (as the guide says), else the direct HTTP port. */
  B.embedBase = function (config, server) {
    var list = config && config.http && config.http.public_address;
    if (list && list.length && typeof list[0] === 'string' && list[0].trim()) {
      var base = list[0].trim();
      return base.charAt(base.length - 1) === '/' ? base : base + '/';
    }
    return B.directBase(server);
  };

  /** The host part of a base URL (`https://a.b:8443/x/` → `a.b`). */
  function baseHost(base) {
    var m = /^(?:[a-z][a-z0-9+.-]*:)?\/\/(\[[^\]]+\]|[^\/:?#]+)/i.exec(base);
    return m ? m[1] : location.hostname;
  }

  /** Every output URL of stream `name` under `base`: [{label, url}]. */
  B.outputUrls = function (name, base, server) {
    var s = encodeURIComponent(name);
    var ws = /^https:/i.test(base) ? 'wss:' + base.slice(6)
      : /^http:/i.test(base) ? 'ws:' + base.slice(5)
      : base.slice(0, 2) === '//' ? 'ws:' + base : base;
    var list = [
      {label: 'HLS (TS)', url: base + 'hls/' + s + '/index.m3u8'},
      {label: 'HLS (CMAF)', url: base + 'cmaf/' + s + '/index.m3u8'},
      {label: 'DASH', url: base + 'cmaf/' + s + '/index.mpd'},
      {label: 'MP4', url: base + s + '.mp4'},
      {label: 'MPEG-TS', url: base + s + '.ts'},
      {label: 'FLV', url: base + s + '.flv'},
      {label: 'WebSocket MP4', url: ws + s + '.mp4'}
    ];
    var rtmp = server && server.ports && B.splitAddress(server.ports.rtmp);
    if (rtmp) {
      list.push({label: 'RTMP', url: 'rtmp://' + baseHost(base) +
        (rtmp.port === 1935 ? '' : ':' + rtmp.port) + '/play/' + s});
    }
    list.push({label: 'Player page', url: base + s + '.html'});
    list.push({label: 'Stream info (JSON)', url: base + 'json_' + s + '.js'});
    list.push({label: 'Embed script', url: base + 'embed_' + s + '.js'});
    return list;
  };

  /** A JavaScript string literal in double quotes, safe inside <script>. */
  function jsString(text) {
    return JSON.stringify(String(text)).replace(/[<>&\u2028\u2029]/g, function (c) {
      return '\\u' + ('000' + c.charCodeAt(0).toString(16)).slice(-4);
    });
  }
  function htmlAttr(text) {
    return String(text).replace(/&/g, '&amp;').replace(/"/g, '&quot;')
      .replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&#39;');
  }

  /** A MistServer-style element id: 12 letters and digits. */
  B.randomId = function () {
    var chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    var bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    var out = '';
    for (var i = 0; i < bytes.length; i++) out += chars.charAt(bytes[i] % chars.length);
    return out;
  };

  /** The embed code for stream `name` under `base`, in the reverse-proxy guide's form. */
  B.embedCode = function (name, base, id) {
    var s = encodeURIComponent(name);
    return '<div class="mistvideo" id="' + htmlAttr(id) + '">\n' +
      '<noscript>\n' +
      '<a href="' + htmlAttr(base + s + '.html') + '" target="_blank">\n' +
      'Click here to play this video\n' +
      '</a>\n' +
      '</noscript>\n' +
      '<script>\n' +
      'var a = function(){\n' +
      'mistPlay(' + jsString(name) + ',{\n' +
      'target: document.getElementById(' + jsString(id) + ')\n' +
      '});\n' +
      '};\n' +
      'if (!window.mistplayers) {\n' +
      'var p = document.createElement("script");\n' +
      'p.src = ' + jsString(base + 'player.js') + '\n' +
      'document.head.appendChild(p);\n' +
      'p.onload = a;\n' +
      '}\n' +
      'else { a(); }\n' +
      '</script>\n' +
      '</div>';
  };

  /** Copies `text`; says so (or why not) in words. */
  B.copy = async function (text, what) {
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
      } else {
        var area = h('textarea', {class: 'offscreen', readonly: true});
        area.value = text;
        document.body.appendChild(area);
        area.select();
        var ok = document.execCommand('copy');
        document.body.removeChild(area);
        if (!ok) throw new Error('the browser refused');
      }
      notify((what || 'Text') + ' copied to the clipboard.', 'ok', 'copy');
    } catch (e) {
      notify('Could not copy ' + (what || 'the text').toLowerCase() + ': ' + (e && e.message || e) +
        '. Select it and copy by hand.', 'error', 'copy');
    }
  };
})();
