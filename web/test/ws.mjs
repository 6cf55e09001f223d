// Minimal server-side WebSocket (RFC 6455) for the player's test server: the
// handshake, unfragmented text/binary frames, ping/pong and close. Test code only.
import { createHash } from 'node:crypto';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** Largest client frame accepted (the player only sends small JSON). */
const MAX_FRAME = 1 << 20;

export function isUpgrade(req) {
  return /websocket/i.test(req.headers.upgrade || '');
}

/** Completes the handshake on `socket`; returns a connection with send(text or
 * bytes), close(), and onmessage/onclose callbacks. */
export function accept(req, socket) {
  const key = req.headers['sec-websocket-key'] || '';
  const digest = createHash('sha1').update(key + GUID).digest('base64');
  socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${digest}\r\n\r\n`);
  socket.setNoDelay(true);
  const conn = {
    open: true,
    onmessage: () => {},
    onclose: () => {},
    send(data) {
      if (!conn.open) return;
      const text = typeof data === 'string';
      const payload = text ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      socket.write(frame(text ? 1 : 2, payload));
    },
    close(code = 1000) {
      if (!conn.open) return;
      conn.open = false;
      const body = Buffer.alloc(2);
      body.writeUInt16BE(code);
      socket.end(frame(8, body));
    },
  };
  let buffered = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    for (;;) {
      const parsed = parseFrame(buffered);
      if (!parsed) break;
      if (parsed.error) { socket.destroy(); return; }
      buffered = buffered.subarray(parsed.used);
      if (parsed.opcode === 1) conn.onmessage(parsed.payload.toString('utf8'));
      else if (parsed.opcode === 2) conn.onmessage(parsed.payload);
      else if (parsed.opcode === 9) socket.write(frame(10, parsed.payload));
      else if (parsed.opcode === 8) conn.close();
    }
  });
  const closed = () => {
    if (conn.closedOnce) return;
    conn.closedOnce = true;
    conn.open = false;
    conn.onclose();
  };
  socket.on('close', closed);
  socket.on('error', closed);
  return conn;
}

function frame(opcode, payload) {
  const n = payload.length;
  const head = n < 126 ? Buffer.alloc(2) : n < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = 0x80 | opcode;
  if (n < 126) head[1] = n;
  else if (n < 65536) { head[1] = 126; head.writeUInt16BE(n, 2); } else { head[1] = 127; head.writeBigUInt64BE(BigInt(n), 2); }
  return Buffer.concat([head, payload]);
}

function parseFrame(b) {
  if (b.length < 2) return null;
  const opcode = b[0] & 15;
  const masked = (b[1] & 128) !== 0;
  let len = b[1] & 127;
  let o = 2;
  if (len === 126) { if (b.length < 4) return null; len = b.readUInt16BE(2); o = 4; } else if (len === 127) {
    if (b.length < 10) return null;
    len = Number(b.readBigUInt64BE(2));
    o = 10;
  }
  if (len > MAX_FRAME) return { error: 'frame too large' };
  const maskAt = o;
  if (masked) o += 4;
  if (b.length < o + len) return null;
  const payload = Buffer.from(b.subarray(o, o + len));
  if (masked) for (let i = 0; i < len; i++) payload[i] ^= b[maskAt + (i & 3)];
  return { opcode, payload, used: o + len };
}
