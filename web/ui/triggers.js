/* Brume web UI — triggers: the configuration's `triggers` section (event → handlers)
 * shown and edited as JSON, saved through PUT /api/v1/triggers (validated like the
 * file: an unknown event or a bad handler is refused in words, naming its place). */
(function () {
  'use strict';
  var B = window.Brume;
  var h = B.h;

  var EXAMPLE = {
    USER_NEW: [{handler: 'http://backend.example/hook', sync: true, default: 'false', timeout_ms: 2000, cache_s: 10}]
  };

  /** Draws the view into `view` from the API's document. */
  B.renderTriggers = async function (view) {
    B.clear(view).appendChild(h('h2', {text: 'Triggers'}));
    var loading = view.appendChild(h('p', {class: 'muted', text: 'Loading…'}));
    var doc = await B.api('GET', '/api/v1/triggers');
    view.removeChild(loading);
    var empty = Object.keys(doc.triggers || {}).length === 0;
    var area = h('textarea', {id: 'triggers-json', class: 'mono', rows: '16', spellcheck: 'false',
      'aria-label': 'Triggers (JSON)'});
    area.value = JSON.stringify(empty ? {} : doc.triggers, null, 2);
    var error = h('div', {class: 'field-error', id: 'triggers-error', role: 'alert', hidden: true});
    var save = h('button', {type: 'submit', class: 'primary', id: 'triggers-save', text: 'Save'});
    var form = h('form', {id: 'triggers-form', class: 'form', novalidate: true},
      h('section', {class: 'card'},
        h('div', {class: 'help', text: 'Event name → handlers. A handler is an http(s):// URL ' +
          '(the payload is POSTed, the answer is the response body) or the absolute path of an ' +
          'executable; "sync" waits for the answer, "streams" limits it to some streams, ' +
          '"default" answers when the handler fails or times out. Events: ' +
          (doc.events || []).join(', ') + '.'}),
        h('div', {class: 'field', 'data-field': 'triggers'}, area, error),
        h('div', {class: 'help'}, 'Example: ', h('code', {class: 'mono', text: JSON.stringify(EXAMPLE)}))),
      h('div', {class: 'buttons'}, save));
    form.addEventListener('submit', async function (event) {
      event.preventDefault();
      error.hidden = true;
      var value;
      try {
        value = JSON.parse(area.value || '{}');
      } catch (e) {
        error.textContent = 'Not valid JSON: ' + e.message;
        error.hidden = false;
        return;
      }
      save.disabled = true;
      try {
        var saved = await B.api('PUT', '/api/v1/triggers', value);
        area.value = JSON.stringify(saved.triggers || {}, null, 2);
        B.notify('Triggers saved.', 'ok');
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
        if (err.status !== 400) B.showError(err);
      } finally {
        save.disabled = false;
      }
    });
    view.appendChild(form);
  };
})();
