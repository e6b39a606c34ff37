// tests/fuzz/gen_frames_seeds.js: writes the seeds of fuzz_frames (node gen_frames_seeds.js DIR):
// [params byte][mode byte] then masked client frames, as fuzz_frames.c reads them.
const zlib = require('zlib');
const fs = require('fs');
const dir = process.argv[2];
const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
function frame(opcode, payload, { fin = true, rsv1 = false } = {}) {
  const len = payload.length;
  const h = [((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode)];
  if (len < 126) h.push(0x80 | len);
  else if (len < 65536) h.push(0x80 | 126, len >> 8, len & 255);
  else { h.push(0x80 | 127, 0, 0, 0, 0, (len >>> 24) & 255, (len >> 16) & 255, (len >> 8) & 255, len & 255); }
  const m = Buffer.from(payload);
  for (let i = 0; i < len; i++) m[i] ^= key[i & 3];
  return Buffer.concat([Buffer.from(h), key, m]);
}
const z = (b) => { const o = zlib.deflateRawSync(b, { finishFlush: zlib.constants.Z_SYNC_FLUSH }); return o.subarray(0, o.length - 4); };
const txt = (n) => Buffer.from('abcdefghij klmnop '.repeat(Math.ceil(n / 18)).slice(0, n));
const P_NCT = 0x01 | 0x02 | (7 << 2) | (7 << 5);   // deflate, no takeover, 15/15
const P_TAKE = 0x01 | (2 << 2) | (4 << 5);         // deflate, takeover, client 10, ours 12
const P_OFF = 0x00;
const P_S8 = 0x01 | 0x02 | (7 << 2);               // server window 8: we send plain
const ECHO = 0x02 | (63 << 2), ECHO_CUT = 0x02 | (0 << 2), V1 = 0x01 | 0x02 | (63 << 2);
const close = frame(8, Buffer.from([0x03, 0xe8]));
const seeds = {
  'plain-echo': [P_OFF, ECHO, frame(1, txt(100)), close],
  'deflate-text': [P_NCT, ECHO, frame(1, z(txt(300)), { rsv1: true }), close],
  'deflate-binary-cut': [P_NCT, ECHO_CUT, frame(2, z(Buffer.alloc(2000, 7)), { rsv1: true }), close],
  'deflate-fragmented-ping': (() => { const c = z(txt(3000)); return [P_NCT, ECHO, frame(1, c.subarray(0, 20), { fin: false, rsv1: true }), frame(9, Buffer.from('p')), frame(0, c.subarray(20)), close]; })(),
  'deflate-takeover': (() => {
    const d = zlib.createDeflateRaw({ windowBits: 10 });
    const out = [];
    const msgs = [txt(200), txt(200), txt(250)];
    return { d, msgs, out };
  })(),
  'deflate-bomb': [P_NCT, ECHO, frame(1, z(Buffer.alloc(100000, 0x61)), { rsv1: true }), close],
  'deflate-bad-data': [P_NCT, ECHO, frame(2, Buffer.from([0xff, 0xff, 0xff, 0, 1, 2]), { rsv1: true })],
  'deflate-bad-utf8': [P_NCT, ECHO, frame(1, z(Buffer.from([0x61, 0xc0, 0xaf])), { rsv1: true })],
  'rsv1-continuation': (() => { const c = z(txt(300)); return [P_NCT, ECHO, frame(1, c.subarray(0, 5), { fin: false, rsv1: true }), frame(0, c.subarray(5), { rsv1: true })]; })(),
  'rsv1-ping': [P_NCT, ECHO, frame(9, Buffer.from('x'), { rsv1: true })],
  'rsv1-not-negotiated': [P_OFF, ECHO, frame(1, z(txt(300)), { rsv1: true })],
  'bfinal': [P_NCT, ECHO, frame(1, zlib.deflateRawSync(txt(500)), { rsv1: true }), close],
  'server-window-8': [P_S8, ECHO, frame(1, z(txt(400)), { rsv1: true }), close],
  'v1-subscribe-compressed': [P_NCT, V1, frame(1, z(Buffer.from('{"type":"subscribe","room":"lobby"}')), { rsv1: true }), frame(1, z(Buffer.from(`{"type":"ping","pad":"${'x'.repeat(300)}"}`)), { rsv1: true }), close],
  'plain-too-big': [P_NCT, ECHO, frame(2, Buffer.alloc(9000, 1)), close],
};
(async () => {
  for (const [name, v] of Object.entries(seeds)) {
    let parts = v;
    if (name === 'deflate-takeover') {
      const { d, msgs } = v;
      parts = [P_TAKE, ECHO];
      for (const m of msgs) {
        const chunks = [];
        d.on('data', (c) => chunks.push(c));
        await new Promise((r) => d.write(m, () => d.flush(zlib.constants.Z_SYNC_FLUSH, r)));
        d.removeAllListeners('data');
        const c = Buffer.concat(chunks);
        parts.push(frame(1, c.subarray(0, c.length - 4), { rsv1: true }));
      }
      parts.push(close);
    }
    const buf = Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from([p]))));
    fs.writeFileSync(`${dir}/${name}`, buf);
  }
})();
