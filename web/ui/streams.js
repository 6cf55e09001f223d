/* Brume web UI — streams: the list (status, viewers, bitrate), the add/edit form with
 * the API's field errors shown beside the fields, deleting, and a stream's page with
 * its preview (the real player from the HTTP port) and embed panel (every output URL
 * and the embed code, as the reverse-proxy guide has it). */
(function () {
  'use strict';
  var B = window.Brume;
  var h = B.h;

  /* ---------- The list ---------- */

  function statusBadge(stream) {
    var status = stream.status || 'offline';
    var words = {online: 'Online', offline: 'Offline', starting: 'Starting', error: 'Error'}[status] || status;
    return h('span', {class: 'badge ' + status, 'data-status': status}, words);
  }

  /** Fills the cells that change (status, viewers, bitrate) of a stream's row. */
  function fillRow(cells, stream) {
    B.clear(cells.status).appendChild(statusBadge(stream));
    if (stream.error) cells.status.appendChild(h('div', {class: 'reason', text: stream.error}));
    cells.viewers.textContent = String(stream.viewers || 0);
    var bitrate = stream.bitrate_in_bps !== null && stream.bitrate_in_bps !== undefined
      ? B.formatBits(stream.bitrate_in_bps) + ' in' : '—';
    B.clear(cells.bitrate).appendChild(document.createTextNode(bitrate));
    cells.bitrate.appendChild(h('div', {class: 'muted', text: B.formatBits(stream.bitrate_out_bps || 0) + ' out'}));
    cells.source.textContent = stream.source;
  }

  function streamRow(stream) {
    var name = stream.name;
    var link = '#/streams/' + B.segment(name);
    var cells = {
      source: h('div', {class: 'source muted'}),
      status: h('td', {class: 'status', 'data-label': 'Status'}),
      viewers: h('td', {class: 'viewers num', 'data-label': 'Viewers'}),
      bitrate: h('td', {class: 'bitrate num', 'data-label': 'Bitrate'})
    };
    var row = h('tr', {'data-stream': name},
      h('td', {class: 'name', 'data-label': 'Stream'}, h('a', {href: link, text: name}), cells.source),
      cells.status, cells.viewers, cells.bitrate,
      h('td', {class: 'actions'},
        h('a', {class: 'button small', href: link, text: 'Preview & embed'}),
        h('a', {class: 'button small', href: link + '/edit', text: 'Edit'}),
        h('button', {type: 'button', class: 'small danger', text: 'Delete',
          onclick: function () { B.deleteStream(name); }})));
    row.brumeCells = cells;
    return row;
  }

  /** Renders the streams view from `streams` (the API's list). Rows are updated in
   * place, so a button being clicked is never replaced under the pointer. */
  B.renderStreams = function (view, streams) {
    var body = B.$('tbody', view);
    var old = {};
    Array.prototype.forEach.call(body.querySelectorAll('tr[data-stream]'), function (row) {
      old[row.getAttribute('data-stream')] = row;
    });
    if (!streams.length) {
      B.clear(body).appendChild(h('tr', {class: 'empty'}, h('td', {colspan: 5},
        'No streams yet. ', h('a', {href: '#/streams/new', text: 'Add one'}), '.')));
      return;
    }
    var empty = B.$('tr.empty', body);
    if (empty) body.removeChild(empty);
    var previous = null;
    streams.forEach(function (stream) {
      var row = old[stream.name] || streamRow(stream);
      delete old[stream.name];
      fillRow(row.brumeCells, stream);
      var wanted = previous ? previous.nextSibling : body.firstChild;
      if (row !== wanted) body.insertBefore(row, wanted);
      previous = row;
    });
    Object.keys(old).forEach(function (name) { body.removeChild(old[name]); });
  };

  B.deleteStream = async function (name) {
    if (!window.confirm('Delete the stream “' + name + '”? Its viewers and publisher are disconnected.')) return;
    try {
      await B.api('DELETE', '/api/v1/streams/' + B.segment(name));
      B.notify('Stream “' + name + '” deleted.', 'ok');
      if (location.hash.indexOf('#/streams/') === 0) location.hash = '#/streams';
      else B.refresh();
    } catch (err) {
      B.showError(err, 'Could not delete “' + name + '”');
    }
  };

  /* ---------- The form ---------- */

  function field(label, input, help, key) {
    return h('div', {class: 'field', 'data-field': key},
      h('label', {for: input.id, text: label}), input,
      help ? h('div', {class: 'help', text: help}) : null,
      h('div', {class: 'field-error', role: 'alert', hidden: true}));
  }

  /** Shows `message` under the field for API field `key` (or returns false). */
  B.showFieldError = function (form, key, message) {
    var candidates = form.querySelectorAll('[data-field]');
    var best = null, bestLength = -1;
    for (var i = 0; i < candidates.length; i++) {
      var f = candidates[i].getAttribute('data-field');
      if ((key === f || key.indexOf(f + '.') === 0 || key.indexOf(f + '[') === 0) && f.length > bestLength) {
        best = candidates[i];
        bestLength = f.length;
      }
    }
    if (!best) return false;
    var slot = B.$('.field-error', best);
    slot.textContent = message;
    slot.hidden = false;
    best.classList.add('invalid');
    // `list[2]`: the third entry of a list field.
    var index = /\[(\d+)\]/.exec(key.slice(bestLength));
    var inputs = best.querySelectorAll('input, textarea, select');
    var input = inputs[index ? Number(index[1]) : 0] || inputs[0];
    if (input) { input.setAttribute('aria-invalid', 'true'); input.focus(); }
    return true;
  };
  B.clearFieldErrors = function (form) {
    var slots = form.querySelectorAll('.field-error');
    for (var i = 0; i < slots.length; i++) { slots[i].textContent = ''; slots[i].hidden = true; }
    var bad = form.querySelectorAll('.invalid');
    for (var j = 0; j < bad.length; j++) bad[j].classList.remove('invalid');
    var inputs = form.querySelectorAll('[aria-invalid]');
    for (var k = 0; k < inputs.length; k++) inputs[k].removeAttribute('aria-invalid');
  };

  /** The add (existing = null) or edit form, rendered into `view`. */
  B.renderStreamForm = function (view, existing, known) {
    var editing = !!existing;
    B.clear(view);
    var name = h('input', {id: 'stream-name', name: 'name', autocomplete: 'off', spellcheck: 'false',
      required: true, value: editing ? existing.name : '', readOnly: editing});
    var source = h('input', {id: 'stream-source', name: 'source', autocomplete: 'off', spellcheck: 'false',
      required: true, value: editing ? existing.source : '', placeholder: 'push://  or  /videos/clip.mp4  or  builtin:demo'});
    var loop = h('input', {id: 'stream-loop', name: 'loop', type: 'checkbox', checked: editing && existing.loop});
    var dvr = h('input', {id: 'stream-dvr', name: 'dvr', type: 'number', min: '0', step: '1', inputmode: 'numeric',
      value: editing && existing.dvr_window_ms ? String(existing.dvr_window_ms / 1000) : '',
      placeholder: 'server default'});
    var password = h('input', {id: 'stream-password', name: 'password', type: 'password', autocomplete: 'new-password',
      placeholder: editing && existing.password === 'set' ? 'unchanged' : 'none'});
    var clearPassword = h('input', {id: 'stream-clear-password', type: 'checkbox'});
    var submit = h('button', {type: 'submit', class: 'primary', id: 'stream-save', text: editing ? 'Save' : 'Add stream'});
    var form = h('form', {id: 'stream-form', class: 'card form', novalidate: true},
      h('h2', {text: editing ? 'Edit “' + existing.name + '”' : 'Add a stream'}),
      field('Name', name, editing ? 'The name cannot change; delete and add to rename.'
        : 'Letters, digits, - _ . + (used in every URL of the stream).', 'name'),
      field('Source', source, 'push:// for RTMP publishing (rtmp://server/live/NAME), a file path for on-demand or looped video, builtin:demo for the test clip.', 'source'),
      h('div', {class: 'field check', 'data-field': 'loop'},
        h('label', {for: 'stream-loop'}, loop, ' Loop the file as a live stream'),
        h('div', {class: 'field-error', role: 'alert', hidden: true})),
      field('DVR window (seconds)', dvr, 'How far back live viewers can seek. Empty: the server default.', 'dvr_window_ms'),
      field('Publishing password', password, 'Publishers must append it to the stream key (push:// only).', 'password'),
      editing && existing.password === 'set'
        ? h('div', {class: 'field check'}, h('label', {for: 'stream-clear-password'}, clearPassword, ' Remove the password'))
        : null,
      h('div', {class: 'buttons'}, submit,
        h('a', {class: 'button', href: editing ? '#/streams/' + B.segment(existing.name) : '#/streams', text: 'Cancel'})));

    form.addEventListener('submit', async function (event) {
      event.preventDefault();
      B.clearFieldErrors(form);
      var streamName = name.value.trim();
      if (!streamName) { B.showFieldError(form, 'name', 'Give the stream a name.'); return; }
      if (!source.value.trim()) { B.showFieldError(form, 'source', 'Say where the video comes from.'); return; }
      if (!editing && known && known.indexOf(streamName) >= 0) {
        B.showFieldError(form, 'name', 'A stream called “' + streamName + '” already exists. Pick another name or edit that one.');
        return;
      }
      var body = {source: source.value.trim(), loop: loop.checked};
      if (dvr.value.trim() !== '') {
        var seconds = Number(dvr.value);
        if (!isFinite(seconds) || seconds < 0) {
          B.showFieldError(form, 'dvr_window_ms', 'The DVR window is a number of seconds, 0 or more.');
          return;
        }
        body.dvr_window_ms = Math.round(seconds * 1000);
      }
      if (clearPassword.checked) body.password = null;
      else if (password.value !== '') body.password = password.value;
      else if (!editing) body.password = null;
      submit.disabled = true;
      try {
        await B.api('PUT', '/api/v1/streams/' + B.segment(streamName), body);
        B.notify(editing ? 'Stream “' + streamName + '” saved.' : 'Stream “' + streamName + '” added.', 'ok');
        location.hash = '#/streams';
      } catch (err) {
        var shown = err.field && B.showFieldError(form, err.field, err.message);
        if (!shown) B.showError(err, 'Could not save the stream');
      } finally {
        submit.disabled = false;
      }
    });
    view.appendChild(form);
    (editing ? source : name).focus();
  };

  /* ---------- A stream's page: status, preview, embed ---------- */

  var embedIds = {};
  var player = null;

  /** Stops the preview player (when leaving the page). */
  B.stopPreview = function () {
    if (player && typeof player.stop === 'function') {
      try { player.stop(); } catch (e) { /* already gone */ }
    }
    player = null;
  };

  function tracksText(stream) {
    if (!stream.tracks || !stream.tracks.length) return '—';
    return stream.tracks.map(function (t) {
      if (t.type === 'video') return t.codec + ' ' + t.width + '×' + t.height;
      if (t.type === 'audio') return t.codec + ' ' + (t.rate / 1000) + ' kHz ' + t.channels + ' ch';
      return t.codec || t.type;
    }).join(', ');
  }

  /** Fills the status part of the stream page (refreshed by polling). */
  B.renderStreamStatus = function (box, stream) {
    B.clear(box);
    box.appendChild(h('dl', {class: 'facts'},
      h('dt', {text: 'Status'}), h('dd', null, statusBadge(stream),
        stream.error ? h('span', {class: 'reason', text: ' ' + stream.error}) : null),
      h('dt', {text: 'Source'}), h('dd', {class: 'mono', text: stream.source}),
      h('dt', {text: 'Kind'}), h('dd', {text: stream.kind === 'vod' ? 'On demand' : stream.kind === 'live' ? 'Live' : '—'}),
      h('dt', {text: 'Viewers'}), h('dd', {class: 'viewers', text: String(stream.viewers || 0)}),
      h('dt', {text: 'Bitrate'}), h('dd', {text: B.formatBits(stream.bitrate_in_bps) + ' in, ' +
        B.formatBits(stream.bitrate_out_bps || 0) + ' out'}),
      h('dt', {text: 'Uptime'}), h('dd', {text: B.formatDuration(stream.uptime_s)}),
      h('dt', {text: 'Tracks'}), h('dd', {text: tracksText(stream)}),
      h('dt', {text: 'Password'}), h('dd', {text: stream.password === 'set' ? 'Set' : 'None'})));
  };

  /** Runs the embed snippet's logic in `holder` with the stream's media from `base`
   * (the direct HTTP port, which this browser can reach). The player script itself
   * comes from this (management) port, /ui/player.js: nothing from the public media
   * port ever runs in the management origin. */
  function startPreview(holder, name, base) {
    B.stopPreview();
    var id = 'preview-' + B.randomId();
    var target = h('div', {class: 'mistvideo', id: id},
      h('noscript', null, h('a', {href: base + encodeURIComponent(name) + '.html', target: '_blank',
        text: 'Click here to play this video'})));
    B.clear(holder).appendChild(target);
    var play = function () {
      if (typeof window.mistPlay !== 'function') {
        B.notify('The player did not load: preview is not possible.', 'error', 'preview');
        return;
      }
      player = window.mistPlay(name, {target: document.getElementById(id), host: base, muted: true});
    };
    if (!window.mistplayers) {
      var p = document.createElement('script');
      p.src = '/ui/player.js';
      p.onerror = function () {
        B.notify('Could not load the player (/ui/player.js) from this server.', 'error', 'preview');
      };
      document.head.appendChild(p);
      p.onload = play;
    } else {
      play();
    }
  }

  /** Fills the embed panel for `name`. */
  function renderEmbed(panel, name, config, server) {
    B.clear(panel);
    var base = B.embedBase(config, server);
    if (!base) {
      panel.appendChild(h('p', {class: 'muted', text: 'The HTTP port is not listening and no public address is set: there are no URLs to give.'}));
      return;
    }
    if (!embedIds[name]) embedIds[name] = B.randomId();
    var code = B.embedCode(name, base, embedIds[name]);
    var fromPublic = config && config.http && config.http.public_address && config.http.public_address.length;
    panel.appendChild(h('p', {class: 'muted'}, fromPublic
      ? 'Built from the first public address, ' + base + ' (set under Protocols).'
      : 'Built from the HTTP port, ' + base + '. Behind a reverse proxy, set a public address under Protocols.'));
    var list = h('dl', {class: 'urls'});
    B.outputUrls(name, base, server).forEach(function (item) {
      list.appendChild(h('dt', {text: item.label}));
      list.appendChild(h('dd', null,
        h('input', {class: 'mono url', readonly: true, value: item.url, 'aria-label': item.label + ' URL',
          onfocus: function (e) { e.target.select(); }}),
        h('button', {type: 'button', class: 'small', text: 'Copy', 'aria-label': 'Copy the ' + item.label + ' URL',
          onclick: function () { B.copy(item.url, item.label + ' URL'); }})));
    });
    panel.appendChild(list);
    panel.appendChild(h('h3', {text: 'Embed code'}));
    var area = h('textarea', {id: 'embed-code', class: 'mono', readonly: true, rows: 20, spellcheck: 'false'});
    area.value = code;
    panel.appendChild(area);
    panel.appendChild(h('div', {class: 'buttons'},
      h('button', {type: 'button', id: 'copy-embed', class: 'primary', text: 'Copy embed code',
        onclick: function () { B.copy(area.value, 'Embed code'); }})));
  }

  /** Renders a stream's page; returns {update(stream, config, server)} for polling. */
  B.renderStreamPage = function (view, stream, config, server) {
    B.clear(view);
    var name = stream.name;
    var statusBox = h('div', {id: 'stream-status'});
    var holder = h('div', {id: 'preview', class: 'preview'});
    var embedPanel = h('div', {id: 'embed'});
    var direct = B.directBase(server);
    view.appendChild(h('div', {class: 'title-row'},
      h('h2', {text: name}),
      h('div', {class: 'buttons'},
        h('a', {class: 'button', href: '#/streams/' + B.segment(name) + '/edit', text: 'Edit'}),
        h('button', {type: 'button', class: 'danger', text: 'Delete', onclick: function () { B.deleteStream(name); }}),
        h('a', {class: 'button', href: '#/streams', text: 'All streams'}))));
    view.appendChild(h('div', {class: 'columns'},
      h('section', {class: 'card'}, h('h3', {text: 'Preview'}), holder,
        h('div', {class: 'buttons'},
          h('button', {type: 'button', text: 'Reload player', onclick: function () {
            if (direct) startPreview(holder, name, direct);
          }}))),
      h('section', {class: 'card'}, h('h3', {text: 'Status'}), statusBox)));
    view.appendChild(h('section', {class: 'card'}, h('h3', {text: 'Embed'}), embedPanel));
    var recordings = h('div', {id: 'recordings'});
    view.appendChild(h('section', {class: 'card'}, h('h3', {text: 'Recordings'}), recordings));
    B.renderRecordings(recordings, name);
    B.renderStreamStatus(statusBox, stream);
    renderEmbed(embedPanel, name, config, server);
    if (direct) {
      startPreview(holder, name, direct);
    } else {
      holder.appendChild(h('p', {class: 'muted', text: 'The HTTP port is not listening: no preview.'}));
    }
    var lastBase = B.embedBase(config, server);
    return {
      update: function (fresh, freshConfig, freshServer) {
        B.renderStreamStatus(statusBox, fresh);
        var base = B.embedBase(freshConfig, freshServer);
        if (base !== lastBase) {
          lastBase = base;
          renderEmbed(embedPanel, name, freshConfig, freshServer);
        }
      }
    };
  };
})();
