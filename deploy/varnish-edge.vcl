# Varnish as an HTTP cache edge in front of a Brume origin.
#
# Viewers talk to this edge; the edge asks the origin for each HLS/DASH segment
# once and serves every later request for it from memory. Concurrent requests for
# an object being fetched wait for that one fetch (Varnish's request coalescing),
# so the origin sees about one request per segment per edge however many viewers
# there are.
#
# Install: copy this file to /etc/varnish/default.vcl (or point varnishd's -f at
# it), change the backend's .host/.port (marked CHANGE) to the origin's HTTP media
# port, and start varnishd with the address viewers use and a memory bound:
#     varnishd -a :8081 -f /etc/varnish/brume-edge.vcl -s malloc,1g
#
# What is cached, and for how long, is Brume's decision (its Cache-Control):
#   * segments and init segments (/hls/..., /cmaf/...): immutable, a day;
#   * playlists, the DASH manifest, json_S.js / info_S.js: at most 1 s on a shared
#     cache (`s-maxage=1`); an expired copy is served for up to 2 s more while one
#     background fetch refreshes it, revalidated with its ETag;
#   * LL-HLS blocking playlist reloads (`?_HLS_msn=...`) are passed to the origin,
#     which holds them until the part exists; never cached;
#   * WebSockets (MEWS, live stream info) are piped; progressive streams
#     (/S.mp4, /S.ts, /S.flv) and everything else are passed through, streamed.
# The response header X-Cache says HIT or MISS.

vcl 4.1;

backend brume_origin {
    # CHANGE: the origin's HTTP media port (Brume's `http.listen`).
    .host = "127.0.0.1";
    .port = "8080";
    .connect_timeout = 2s;
    # A blocking LL-HLS reload waits up to a few target durations.
    .first_byte_timeout = 30s;
    # Live progressive streams send continuously; a stall this long is an error.
    .between_bytes_timeout = 30s;
}

sub vcl_recv {
    # Brume builds the absolute URLs of its stream info and player pages from
    # this (MistServer's convention): the edge's own address, so viewers come
    # back here. Put "https://" here when a TLS terminator sits in front.
    set req.http.X-Mst-Path = "http://" + req.http.host;

    if (req.http.upgrade ~ "(?i)websocket") {
        return (pipe);
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    if (req.url ~ "[?&]_HLS_msn=") {
        return (pass);
    }
    if (req.url ~ "^/(hls|cmaf)/" || req.url ~ "^/(json|info)_[^/?]*\.js(\?|$)") {
        # Media and documents are the same for every viewer: cookies and
        # credentials sent to the edge's site must not split the cache.
        unset req.http.cookie;
        unset req.http.authorization;
        # Looked up by URL and Host (the built-in vcl_hash).
        return (hash);
    }
    return (pass);
}

sub vcl_pipe {
    # Varnish drops hop-by-hop headers; a WebSocket handshake needs them.
    if (req.http.upgrade) {
        set bereq.http.upgrade = req.http.upgrade;
        set bereq.http.connection = req.http.connection;
    }
}

sub vcl_backend_response {
    # Brume's Cache-Control already set the TTL (s-maxage before max-age).
    # An expired playlist may be served 2 s more while one fetch refreshes it,
    # and is kept 10 s for a conditional (If-None-Match) refresh.
    set beresp.grace = 2s;
    set beresp.keep = 10s;
    # Errors are not worth keeping: the next request asks the origin again.
    if (beresp.status >= 400) {
        set beresp.uncacheable = true;
        set beresp.ttl = 0s;
        return (deliver);
    }
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
