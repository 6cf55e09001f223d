/* Brume web UI — the application: login and first-account setup, the views (overview
 * with its live chart, streams, a stream's page, protocols, logs), the hash router and
 * the 2-second polling that keeps them current. Helpers live in api.js, the stream
 * screens in streams.js. */
(function () {
  'use strict';
  var B = window.Brume;
  var h = B.h, $ = B.$;

  var POLL_MS = 2000;
  var HISTORY_MS = 120000;

  var state = {
    username: null,
    view: null,          // the current route's name
    route: null,         // {view, name, edit}
    history: [],         // [{t, viewers, out, in}] for the charts
    streams: [],
    config: null,
    server: null,
    streamPage: null,    // {update} while a stream page is shown
    logsNext: null,
    logLines: [],
    protocolsDirty: false
  };

  /* ---------- Screens: loading, login, app ---------- */

  function show(id) {
    ['loading', 'login', 'app'].forEach(function (s) { $('#' + s).hidden = s !== id; });
  }

  var loginMode = 'login';
  // The setup token from the URL the server logs in setup mode (?setup=TOKEN),
  // taken off the address bar at once so it stays out of history and bookmarks.
  var setupToken = new URLSearchParams(location.search).get('setup') || '';
  if (setupToken) history.replaceState(null, '', location.pathname + location.hash);
  function showLogin(mode, why) {
    loginMode = mode;
    stopPolling();
    B.stopPreview();
    show('login');
    var form = $('#login-form');
    B.clearFieldErrors(form);
    var setup = mode === 'setup';
    $('#login-repeat-field').hidden = !setup;
    $('#login-token-field').hidden = !setup;
    if (setup && setupToken && !$('#login-token').value) $('#login-token').value = setupToken;
    // From elsewhere in setup mode there is nothing to fill in: only "check again".
    var remote = mode === 'setup-remote';
    $('[data-field=username]', form).hidden = remote;
    $('[data-field=password]', form).hidden = remote;
    $('#login-password').setAttribute('autocomplete', setup ? 'new-password' : 'current-password');
    $('#login-submit').textContent = setup ? 'Create account and log in' : remote ? 'Check again' : 'Log in';
    $('#login-intro').textContent = mode === 'setup'
      ? 'Welcome. This server has no account yet: create the first one with the setup token from the server\'s log. It can do everything, so pick a strong password.'
      : mode === 'setup-remote'
        ? 'This server has no account yet. Create the first one from the server itself (open this page on it, or run `brume passwd`), then log in here.'
        : (why || 'Log in to manage this server.');
    $('#login-password').value = '';
    $('#login-repeat').value = '';
    $('#login-username').focus();
  }

  async function submitLogin(event) {
    event.preventDefault();
    var form = $('#login-form');
    B.clearFieldErrors(form);
    if (loginMode === 'setup-remote') { boot(); return; }
    var username = $('#login-username').value.trim();
    var password = $('#login-password').value;
    if (!username) { B.showFieldError(form, 'username', 'Enter a username.'); return; }
    if (!password) { B.showFieldError(form, 'password', 'Enter a password.'); return; }
    var button = $('#login-submit');
    button.disabled = true;
    try {
      if (loginMode === 'setup') {
        if (password !== $('#login-repeat').value) {
          B.showFieldError(form, 'repeat', 'The two passwords differ.');
          return;
        }
        try {
          var token = $('#login-token').value.trim();
          if (!token) { B.showFieldError(form, 'setup_token', 'Enter the setup token from the server\'s log.'); return; }
          await B.api('PUT', '/api/v1/accounts/' + B.segment(username), {password: password, setup_token: token});
        } catch (err) {
          var key = err.field === 'name' ? 'username' : err.field;
          if (!(key && B.showFieldError(form, key, err.message))) B.showError(err, 'Could not create the account');
          return;
        }
        B.notify('Account “' + username + '” created.', 'ok');
      }
      var who = await B.api('POST', '/api/v1/login', {username: username, password: password});
      B.forget('session');
      startApp(who && who.username || username);
    } catch (err) {
      if (err.status === 401) B.showFieldError(form, 'password', err.message);
      else B.showError(err, 'Could not log in');
    } finally {
      button.disabled = false;
    }
  }

  async function logout() {
    try {
      await B.api('POST', '/api/v1/logout');
      state.username = null;
      showLogin('login', 'You are logged out.');
    } catch (err) {
      B.showError(err, 'Could not log out');
    }
  }

  /** A 401 while the app is shown: back to the login form. True when handled. */
  B.onUnauthorized = function () {
    if ($('#app').hidden) return false;
    B.notify('Your session has ended: log in again.', 'error', 'session');
    showLogin('login', 'Your session has ended: log in again.');
    return true;
  };

  function startApp(username) {
    state.username = username;
    $('#username').textContent = username ? username : 'setup mode';
    show('app');
    if (!location.hash || location.hash === '#' || location.hash === '#/') location.hash = '#/overview';
    route();
    startPolling();
  }

  async function boot() {
    try {
      var session = await B.api('GET', '/api/v1/session');
      if (session.setup_mode) showLogin(session.authenticated ? 'setup' : 'setup-remote');
      else if (session.authenticated) startApp(session.username);
      else showLogin('login');
    } catch (err) {
      show('loading');
      $('#loading').firstChild.textContent = 'The management API did not answer. Retrying…';
      B.showError(err, 'Cannot load the session');
      setTimeout(boot, 3000);
    }
  }

  /* ---------- Routing ---------- */

  function parseRoute() {
    var parts = (location.hash || '').replace(/^#\/?/, '').split('/');
    var view = parts[0] || 'overview';
    if (view === 'streams' && parts[1] === 'new') return {view: 'stream-form', name: null};
    if (view === 'streams' && parts[1]) {
      var name;
      try { name = decodeURIComponent(parts[1]); } catch (e) { return {view: 'missing'}; }
      return {view: parts[2] === 'edit' ? 'stream-form' : 'stream', name: name};
    }
    if (['overview', 'streams', 'protocols', 'triggers', 'logs'].indexOf(view) >= 0) return {view: view};
    return {view: 'missing'};
  }

  function route() {
    if ($('#app').hidden) return;
    if (state.view === 'protocols' && state.protocolsDirty &&
        !window.confirm('Leave Protocols without saving your changes?')) {
      history.replaceState(null, '', '#/protocols');
      return;
    }
    state.protocolsDirty = false;
    B.stopPreview();
    state.streamPage = null;
    var r = parseRoute();
    state.route = r;
    state.view = r.view;
    var views = document.querySelectorAll('.view');
    for (var i = 0; i < views.length; i++) views[i].hidden = views[i].id !== 'view-' + r.view;
    var links = document.querySelectorAll('#nav a');
    var section = r.view === 'stream' || r.view === 'stream-form' ? 'streams' : r.view;
    for (var j = 0; j < links.length; j++) {
      links[j].classList.toggle('active', links[j].getAttribute('data-view') === section);
    }
    enter(r);
  }

  async function enter(r) {
    try {
      if (r.view === 'overview') {
        drawCharts();
        await refreshServer();
      } else if (r.view === 'streams') {
        await refreshStreams();
      } else if (r.view === 'stream-form') {
        var view = $('#view-stream-form');
        B.clear(view).appendChild(h('p', {class: 'muted', text: 'Loading…'}));
        var list = await B.api('GET', '/api/v1/streams');
        state.streams = list.streams || [];
        var existing = null;
        if (r.name !== null) {
          existing = await B.api('GET', '/api/v1/streams/' + B.segment(r.name));
        }
        if (state.route !== r) return;
        B.renderStreamForm(view, existing, state.streams.map(function (s) { return s.name; }));
      } else if (r.view === 'stream') {
        var page = $('#view-stream');
        B.clear(page).appendChild(h('p', {class: 'muted', text: 'Loading…'}));
        var results = await Promise.all([
          B.api('GET', '/api/v1/streams/' + B.segment(r.name)),
          B.api('GET', '/api/v1/config'),
          B.api('GET', '/api/v1/server')
        ]);
        if (state.route !== r) return;
        state.config = results[1];
        state.server = results[2];
        state.streamPage = B.renderStreamPage(page, results[0], results[1], results[2]);
      } else if (r.view === 'protocols') {
        await loadProtocols();
      } else if (r.view === 'triggers') {
        await B.renderTriggers($('#view-triggers'));
      } else if (r.view === 'logs') {
        state.logsNext = null;
        state.logLines = [];
        B.clear($('#logs-box'));
        await refreshLogs();
      }
    } catch (err) {
      if (err.status === 404 && (r.view === 'stream' || r.view === 'stream-form')) {
        var target = r.view === 'stream' ? $('#view-stream') : $('#view-stream-form');
        B.clear(target).appendChild(h('p', null, 'There is no stream called “' + r.name + '”. ',
          h('a', {href: '#/streams', text: 'All streams'})));
      }
      B.showError(err);
    }
  }

  /* ---------- Polling ---------- */

  var timer = null;
  function startPolling() {
    stopPolling();
    timer = setInterval(tick, POLL_MS);
    tick();
  }
  function stopPolling() {
    if (timer) clearInterval(timer);
    timer = null;
  }

  var ticking = false;
  async function tick() {
    if (ticking) return;
    ticking = true;
    try {
      await refreshTotals();
      if (state.view === 'streams') await refreshStreams();
      else if (state.view === 'stream' && state.streamPage) await refreshStreamPage();
      else if (state.view === 'logs') await refreshLogs();
      else if (state.view === 'overview') await refreshServer();
      B.forget('poll');
    } catch (err) {
      if (err.status !== 401) {
        err.key = 'poll';
        B.showError(err, 'Updating failed');
      }
    } finally {
      ticking = false;
    }
  }
  B.refresh = tick;

  async function refreshTotals() {
    var totals = await B.api('GET', '/api/v1/totals');
    var now = Date.now();
    state.history.push({t: now, viewers: totals.viewers || 0,
      out: totals.bandwidth_out_bps || 0, in: totals.bandwidth_in_bps || 0});
    while (state.history.length && state.history[0].t < now - HISTORY_MS) state.history.shift();
    $('#t-streams').textContent = String(totals.streams);
    $('#t-online').textContent = totals.streams_online + ' online';
    $('#t-viewers').textContent = String(totals.viewers);
    $('#t-publishers').textContent = totals.publishers + ' publishing, ' + totals.connections + ' connections';
    $('#t-out').textContent = B.formatBits(totals.bandwidth_out_bps);
    $('#t-bytes-out').textContent = B.formatBytes(totals.bytes_out) + ' sent';
    $('#t-in').textContent = B.formatBits(totals.bandwidth_in_bps);
    $('#t-bytes-in').textContent = B.formatBytes(totals.bytes_in) + ' received';
    if (state.view === 'overview') drawCharts();
  }

  async function refreshServer() {
    var server = await B.api('GET', '/api/v1/server');
    state.server = server;
    var facts = B.clear($('#server-facts'));
    function fact(label, value) {
      facts.appendChild(h('dt', {text: label}));
      facts.appendChild(h('dd', {class: 'mono', text: value === null || value === undefined ? '—' : String(value)}));
    }
    fact('Version', server.version);
    fact('Uptime', B.formatDuration(server.uptime_s));
    var ports = server.ports || {};
    fact('HTTP', ports.http || 'off');
    fact('HTTPS', ports.https || 'off');
    fact('RTMP', ports.rtmp || 'off');
    fact('API', ports.api || 'off');
    fact('Public addresses', (server.public_address || []).join(', ') || 'none');
    fact('Configuration', server.config_path || 'not saved to a file');
  }

  async function refreshStreams() {
    var data = await B.api('GET', '/api/v1/streams');
    state.streams = data.streams || [];
    if (state.view === 'streams') B.renderStreams($('#view-streams'), state.streams);
  }

  async function refreshStreamPage() {
    var r = state.route;
    var results = await Promise.all([
      B.api('GET', '/api/v1/streams/' + B.segment(r.name)),
      B.api('GET', '/api/v1/config'),
      B.api('GET', '/api/v1/server')
    ]);
    if (state.route !== r || !state.streamPage) return;
    state.config = results[1];
    state.server = results[2];
    state.streamPage.update(results[0], results[1], results[2]);
  }

  /* ---------- Charts ---------- */

  function drawCharts() {
    drawChart($('#chart-viewers'), [{key: 'viewers', color: '#4aa3ff'}], function (v) { return String(Math.round(v * 10) / 10); }, 2);
    drawChart($('#chart-bandwidth'), [{key: 'out', color: '#4aa3ff'}, {key: 'in', color: '#f0a040'}], B.formatBits);
  }

  function drawChart(canvas, series, label, least) {
    if (!canvas || canvas.offsetParent === null) return;
    var ratio = window.devicePixelRatio || 1;
    var width = canvas.clientWidth, height = canvas.clientHeight;
    if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
    if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
    var g = canvas.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    var style = getComputedStyle(document.body);
    var ink = style.getPropertyValue('--muted').trim() || '#888';
    var grid = style.getPropertyValue('--line').trim() || '#ddd';
    var points = state.history;
    var max = 0;
    points.forEach(function (p) { series.forEach(function (s) { max = Math.max(max, p[s.key]); }); });
    max = Math.max(niceMax(max), least || 0);
    var left = 8, right = width - 8, top = 18, bottom = height - 18;
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = ink;
    g.strokeStyle = grid;
    g.lineWidth = 1;
    for (var i = 0; i <= 2; i++) {
      var y = Math.round(top + (bottom - top) * i / 2) + 0.5;
      g.beginPath(); g.moveTo(left, y); g.lineTo(right, y); g.stroke();
      g.fillText(label(max * (2 - i) / 2), left + 2, y - 3);
    }
    g.fillText('−2 min', left, height - 4);
    g.textAlign = 'right';
    g.fillText('now', right, height - 4);
    g.textAlign = 'left';
    if (points.length < 1) return;
    var now = Date.now();
    series.forEach(function (s) {
      g.strokeStyle = s.color;
      g.lineWidth = 2;
      g.beginPath();
      points.forEach(function (p, index) {
        var x = right - (now - p.t) / HISTORY_MS * (right - left);
        var y = bottom - (max ? p[s.key] / max : 0) * (bottom - top);
        if (index === 0) g.moveTo(Math.max(x, left), y); else g.lineTo(Math.max(x, left), y);
      });
      g.stroke();
    });
  }

  function niceMax(value) {
    if (value <= 0) return 1;
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (value <= steps[i] * power) return steps[i] * power;
    return 10 * power;
  }

  window.addEventListener('resize', function () { if (state.view === 'overview') drawCharts(); });

  /* ---------- Protocols ---------- */

  function listEditor(id, values, placeholder, fieldKey) {
    var rows = h('div', {class: 'list-editor', id: id});
    function addRow(value) {
      var input = h('input', {class: 'mono', value: value || '', placeholder: placeholder, spellcheck: 'false',
        autocomplete: 'off', 'aria-label': placeholder});
      var row = h('div', {class: 'row'}, input,
        h('button', {type: 'button', class: 'small', text: 'Remove', 'aria-label': 'Remove this entry',
          onclick: function () { rows.removeChild(row); markDirty(); }}));
      rows.insertBefore(row, rows.lastChild);
      return input;
    }
    rows.appendChild(h('button', {type: 'button', class: 'small add', text: 'Add',
      onclick: function () { addRow('').focus(); markDirty(); }}));
    (values || []).forEach(addRow);
    rows.values = function () {
      var inputs = rows.querySelectorAll('input');
      var out = [];
      for (var i = 0; i < inputs.length; i++) if (inputs[i].value.trim()) out.push(inputs[i].value.trim());
      return out;
    };
    rows.setAttribute('data-key', fieldKey);
    return rows;
  }

  function markDirty() { state.protocolsDirty = true; }

  function protoField(label, input, help, key) {
    return h('div', {class: 'field', 'data-field': key},
      h('label', {for: input.id, text: label}), input,
      help ? h('div', {class: 'help', text: help}) : null,
      h('div', {class: 'field-error', role: 'alert', hidden: true}));
  }

  async function loadProtocols() {
    var body = $('#protocols-body');
    B.clear(body).appendChild(h('p', {class: 'muted', text: 'Loading…'}));
    var config = await B.api('GET', '/api/v1/config');
    if (state.view !== 'protocols') return;
    state.config = config;
    renderProtocols(body, config);
  }

  function text(id, value, placeholder) {
    return h('input', {id: id, class: 'mono', value: value || '', placeholder: placeholder || '',
      spellcheck: 'false', autocomplete: 'off'});
  }

  function renderProtocols(body, config) {
    B.clear(body);
    var http = config.http || {};
    var https = config.https;
    var inputs = {
      httpListen: text('p-http-listen', http.listen, '0.0.0.0:8080'),
      httpPublic: listEditor('p-http-public', http.public_address, 'https://example.com/brume/', 'http.public_address'),
      httpsOn: h('input', {id: 'p-https-on', type: 'checkbox', checked: !!https}),
      httpsListen: text('p-https-listen', https && https.listen, '0.0.0.0:4433'),
      httpsCert: text('p-https-cert', https && https.cert, '/etc/brume/cert.pem'),
      httpsKey: text('p-https-key', https && https.key, '/etc/brume/key.pem'),
      httpsPublic: listEditor('p-https-public', https && https.public_address, 'https://example.com/brume/', 'https.public_address'),
      rtmpListen: text('p-rtmp-listen', config.rtmp && config.rtmp.listen, '0.0.0.0:1935'),
      apiListen: text('p-api-listen', config.api && config.api.listen, '127.0.0.1:4242'),
      proxies: listEditor('p-proxies', config.trusted_proxies, '10.0.0.0/8', 'trusted_proxies')
    };
    var httpsBox = h('div', {class: 'sub-fields', hidden: !https},
      protoField('HTTPS listen address', inputs.httpsListen, null, 'https.listen'),
      protoField('Certificate file (PEM)', inputs.httpsCert, 'Path on the server.', 'https.cert'),
      protoField('Private key file (PEM)', inputs.httpsKey, 'Path on the server.', 'https.key'),
      h('div', {class: 'field', 'data-field': 'https.public_address'},
        h('label', {text: 'HTTPS public addresses'}), inputs.httpsPublic,
        h('div', {class: 'field-error', role: 'alert', hidden: true})));
    inputs.httpsOn.addEventListener('change', function () { httpsBox.hidden = !inputs.httpsOn.checked; });
    var save = h('button', {type: 'submit', class: 'primary', id: 'protocols-save', text: 'Save'});
    var form = h('form', {id: 'protocols-form', class: 'form', novalidate: true},
      h('section', {class: 'card'}, h('h3', {text: 'HTTP'}),
        protoField('Listen address', inputs.httpListen, 'Where players and proxies connect (HLS, DASH, MP4, WebSocket, player page).', 'http.listen'),
        h('div', {class: 'field', 'data-field': 'http.public_address'},
          h('label', {text: 'Public addresses'}),
          h('div', {class: 'help', text: 'Full addresses this port is reachable at through a reverse proxy, like https://example.com/brume/. The first one is used by the embed code.'}),
          inputs.httpPublic,
          h('div', {class: 'field-error', role: 'alert', hidden: true}))),
      h('section', {class: 'card'}, h('h3', {text: 'HTTPS'}),
        h('div', {class: 'field check', 'data-field': 'https'},
          h('label', {for: 'p-https-on'}, inputs.httpsOn, ' Serve HTTPS'),
          h('div', {class: 'field-error', role: 'alert', hidden: true})),
        httpsBox),
      h('section', {class: 'card'}, h('h3', {text: 'RTMP and management API'}),
        protoField('RTMP listen address', inputs.rtmpListen, 'Publishers push to rtmp://host/live/NAME; players pull rtmp://host/play/NAME.', 'rtmp.listen'),
        protoField('API and UI listen address', inputs.apiListen, 'Changing it moves this page to the new address.', 'api.listen')),
      h('section', {class: 'card'}, h('h3', {text: 'Trusted proxies'}),
        h('div', {class: 'field', 'data-field': 'trusted_proxies'},
          h('div', {class: 'help', text: 'Addresses or networks (CIDR) whose X-Forwarded-For, Forwarded and X-Mst-Path headers are believed.'}),
          inputs.proxies,
          h('div', {class: 'field-error', role: 'alert', hidden: true}))),
      h('div', {class: 'buttons'}, save,
        h('button', {type: 'button', id: 'protocols-undo', text: 'Undo changes', onclick: function () {
          state.protocolsDirty = false;
          renderProtocols(body, state.config);
        }})));
    form.addEventListener('input', markDirty);
    form.addEventListener('change', markDirty);
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      saveProtocols(form, inputs, save);
    });
    body.appendChild(form);
  }

  function sameList(a, b) {
    a = a || []; b = b || [];
    return a.length === b.length && a.every(function (v, i) { return v === b[i]; });
  }

  /** The merge patch from the loaded config to what the form says (changes only). */
  function protocolsPatch(config, inputs) {
    var patch = {};
    var http = config.http || {};
    var httpPatch = {};
    if (inputs.httpListen.value.trim() !== (http.listen || '')) httpPatch.listen = inputs.httpListen.value.trim();
    if (!sameList(inputs.httpPublic.values(), http.public_address)) httpPatch.public_address = inputs.httpPublic.values();
    if (Object.keys(httpPatch).length) patch.http = httpPatch;
    if (!inputs.httpsOn.checked) {
      if (config.https) patch.https = null;
    } else {
      var wanted = {listen: inputs.httpsListen.value.trim(), cert: inputs.httpsCert.value.trim(),
        key: inputs.httpsKey.value.trim(), public_address: inputs.httpsPublic.values()};
      var old = config.https;
      if (!old) {
        patch.https = wanted;
      } else {
        var httpsPatch = {};
        ['listen', 'cert', 'key'].forEach(function (k) { if (wanted[k] !== (old[k] || '')) httpsPatch[k] = wanted[k]; });
        if (!sameList(wanted.public_address, old.public_address)) httpsPatch.public_address = wanted.public_address;
        if (Object.keys(httpsPatch).length) patch.https = httpsPatch;
      }
    }
    var rtmp = inputs.rtmpListen.value.trim();
    if (rtmp !== ((config.rtmp && config.rtmp.listen) || '')) patch.rtmp = {listen: rtmp};
    var api = inputs.apiListen.value.trim();
    if (api !== ((config.api && config.api.listen) || '')) patch.api = {listen: api};
    if (!sameList(inputs.proxies.values(), config.trusted_proxies)) patch.trusted_proxies = inputs.proxies.values();
    return patch;
  }

  async function saveProtocols(form, inputs, button) {
    B.clearFieldErrors(form);
    var patch = protocolsPatch(state.config, inputs);
    if (!Object.keys(patch).length) {
      B.notify('Nothing to save: no setting changed.', 'info');
      return;
    }
    button.disabled = true;
    try {
      var fresh = await B.api('PATCH', '/api/v1/config', patch);
      state.config = fresh;
      state.protocolsDirty = false;
      B.notify('Protocols saved.', 'ok');
      if (patch.api && patch.api.listen) {
        B.notify('The management API now listens on ' + patch.api.listen + '; open the UI there if this page stops answering.', 'info');
      }
      renderProtocols($('#protocols-body'), fresh);
    } catch (err) {
      var shown = err.field && B.showFieldError(form, err.field, err.message);
      // A refused bind (409) or a file that cannot be written (500) also gets the banner.
      if (!shown || err.status === 409 || err.status >= 500) B.showError(err, 'Could not save the protocols');
    } finally {
      button.disabled = false;
    }
  }

  /* ---------- Logs ---------- */

  var MAX_LOG_LINES = 1000;
  var RANK = {TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4};

  function logRow(line) {
    var fields = line.fields && typeof line.fields === 'object' ? Object.keys(line.fields).map(function (k) {
      var v = line.fields[k];
      return k + '=' + (typeof v === 'string' ? v : JSON.stringify(v));
    }).join(' ') : '';
    var level = String(line.level || 'INFO').toUpperCase();
    return h('div', {class: 'log-line level-' + level.toLowerCase(), 'data-level': level},
      h('span', {class: 'time', text: B.formatTime(line.time_ms)}),
      h('span', {class: 'level', text: level}),
      h('span', {class: 'target', text: line.target || ''}),
      h('span', {class: 'msg', text: line.message || ''}),
      fields ? h('span', {class: 'fields', text: fields}) : null);
  }

  function levelShown(level) {
    var min = $('#logs-level').value;
    return !min || (RANK[level] || 0) >= RANK[min];
  }

  async function refreshLogs() {
    var path = '/api/v1/logs' + (state.logsNext !== null ? '?since=' + encodeURIComponent(state.logsNext) : '');
    var data = await B.api('GET', path);
    if (state.view !== 'logs') return;
    var box = $('#logs-box');
    var atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    var lines = data.lines || [];
    var placeholder = $('.empty', box);
    if (placeholder && lines.length) box.removeChild(placeholder);
    lines.forEach(function (line) {
      var row = logRow(line);
      row.hidden = !levelShown(row.getAttribute('data-level'));
      box.appendChild(row);
    });
    while (box.childNodes.length > MAX_LOG_LINES) box.removeChild(box.firstChild);
    if (typeof data.next === 'number') state.logsNext = data.next;
    if (!box.firstChild) box.appendChild(h('p', {class: 'muted empty', text: 'No log lines yet.'}));
    if ($('#logs-follow').checked && (atBottom || lines.length)) box.scrollTop = box.scrollHeight;
  }

  $('#logs-level').addEventListener('change', function () {
    var rows = document.querySelectorAll('#logs-box .log-line');
    for (var i = 0; i < rows.length; i++) rows[i].hidden = !levelShown(rows[i].getAttribute('data-level'));
  });

  /* ---------- Start ---------- */

  window.addEventListener('hashchange', route);
  $('#login-form').addEventListener('submit', submitLogin);
  $('#logout').addEventListener('click', logout);
  window.addEventListener('error', function (event) {
    // Only this UI's own scripts; the player reports its problems in the preview.
    if (!event.filename || event.filename.indexOf(location.origin + '/ui/') !== 0) return;
    B.notify('The page hit a bug: ' + (event.message || 'unknown error') + '. Reloading may help.', 'error', 'bug');
  });
  window.addEventListener('unhandledrejection', function (event) {
    B.showError(event.reason || 'unknown error', 'Unexpected failure');
  });
  boot();
})();
