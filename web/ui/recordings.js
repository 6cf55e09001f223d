/* Brume web UI — recordings: on a stream's page, the stream's recordings (start,
 * length, size) from GET /api/v1/streams/S/recordings, each playable in the page
 * (MPEG-TS recordings as one MP4, which the browser plays itself) and with links
 * to its MP4 and HLS playlist. Served from the API port: the session cookie
 * authorises the media requests. */
(function () {
  'use strict';
  var B = window.Brume;
  var h = B.h;

  /** Fills `box` with the recordings of stream `name`. */
  B.renderRecordings = async function (box, name) {
    var base = '/api/v1/streams/' + B.segment(name) + '/recordings';
    var list;
    try {
      list = (await B.api('GET', base)).recordings || [];
    } catch (err) {
      B.clear(box).appendChild(h('p', {class: 'muted', text: 'Recordings unavailable: ' + err.message}));
      return;
    }
    B.clear(box);
    if (list.length === 0) {
      box.appendChild(h('p', {class: 'muted', text: 'No recordings. Add "record" to the stream ' +
        'or POST ' + base.replace(/s$/, '') + ' to start one.'}));
      return;
    }
    var player = h('div', {id: 'recording-view'});
    var rows = list.slice().reverse().map(function (rec) {
      var url = base + '/' + B.segment(rec.id);
      var play = rec.format === 'ts'
        ? h('button', {type: 'button', class: 'small play-recording', text: 'Play', onclick: function () {
            B.clear(player).appendChild(h('video', {id: 'recording-player', controls: true,
              autoplay: true, muted: true, playsinline: true, src: url + '/recording.mp4'}));
          }})
        : h('span', {class: 'muted', text: 'HLS only'});
      return h('tr', {},
        h('td', {text: B.formatTime(rec.start_unix_ms)}),
        h('td', {text: B.formatDuration(rec.duration_s)}),
        h('td', {text: B.formatBytes(rec.bytes)}),
        h('td', {text: String(rec.segments)}),
        h('td', {}, play, ' ',
          rec.format === 'ts' ? h('a', {href: url + '/recording.mp4', text: 'MP4'}) : '', ' ',
          h('a', {href: url + '/index.m3u8', text: 'HLS'})));
    });
    box.appendChild(h('table', {class: 'list', id: 'recordings-table'},
      h('thead', {}, h('tr', {}, ['Start', 'Length', 'Size', 'Segments', ''].map(function (t) {
        return h('th', {text: t});
      }))),
      h('tbody', {}, rows)));
    box.appendChild(player);
  };
})();
