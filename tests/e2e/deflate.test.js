'use strict';
/*
 * permessage-deflate (RFC 7692; docs/protocol.md, "Compression"):
 * negotiation with the npm ws client's perMessageDeflate options and with
 * raw handshakes (declined, invalid and several offers, several headers),
 * compressed echo through /echo in the manner of Autobahn sections 12 and
 * 13 (text and binary, 16 B to 128 KiB, fragmented, RSV1 where it is not
 * allowed, data that does not inflate), the inflated-size limit (a 1 KB
 * frame that inflates past limits.max_message_bytes closes with 1009), and
 * room deliveries to compressed and uncompressed members of one room.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const zlib = require('node:zlib');
const WebSocket = require('ws');
const { startWsd, RawWs, OP, waitFor, httpGet } = require('./harness');

const T = { timeout: 20000 };
const LIMIT = 262144;
const WINDOW = 12;
const MIN = 200; /* compression.min_bytes */

let d; /* compression on, window_bits 12 */
let off; /* compression off */

before(
  async () => {
    d = await startWsd({
      workers: 2,
      config: {
        limits: { max_message_bytes: LIMIT, max_queue_bytes: 4 * LIMIT },
        compression: { enabled: true, window_bits: WINDOW, min_bytes: MIN },
      },
    });
    off = await startWsd({ workers: 1 });
  },
  { timeout: 30000 },
);

after(
  async () => {
    if (d) await d.stop();
    if (off) await off.stop();
  },
  { timeout: 15000 },
);

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/* A message compressed as RFC 7692 7.2.1 says: a sync flush, its tail removed. */
function compress(buf) {
  const z = zlib.deflateRawSync(buf, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  assert.ok(z.subarray(z.length - 4).equals(TAIL), 'a sync flush ends with 00 00 ff ff');
  return z.subarray(0, z.length - 4);
}

function inflate(buf, windowBits = 15) {
  return zlib.inflateRawSync(Buffer.concat([buf, TAIL]), { windowBits, finishFlush: zlib.constants.Z_SYNC_FLUSH });
}

function textPayload(len) {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = 0x20 + ((i * 7) % 31);
  return b;
}

/* A ws client with these perMessageDeflate options, open. */
function wsOpen(port, path, pmd) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { perMessageDeflate: pmd });
    const t = setTimeout(() => reject(new Error('no open within 5 s')), 5000);
    ws.once('open', () => {
      clearTimeout(t);
      resolve(ws);
    });
    ws.once('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

function wsNext(ws, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no message within timeout')), timeoutMs);
    ws.once('message', (data, isBinary) => {
      clearTimeout(t);
      resolve({ data, isBinary });
    });
  });
}

function wsClosed(ws, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no close within timeout')), timeoutMs);
    ws.once('close', (code, reason) => {
      clearTimeout(t);
      resolve({ code, reason: reason.toString() });
    });
  });
}

/* The normalized Sec-WebSocket-Extensions answer of a raw upgrade, or null. */
async function rawAnswer(port, headers, path = '/echo') {
  const rw = await RawWs.open(port, path, { headers });
  const h = rw.handshake.headers['sec-websocket-extensions'];
  rw.destroy();
  return h === undefined ? null : h;
}

const EXT = 'permessage-deflate; server_no_context_takeover';

describe('negotiation with the ws client', () => {
  const cases = [
    [{}, `${EXT}; client_max_window_bits=${WINDOW}`],
    [{ threshold: 0 }, `${EXT}; client_max_window_bits=${WINDOW}`],
    [{ clientNoContextTakeover: true }, `${EXT}; client_no_context_takeover; client_max_window_bits=${WINDOW}`],
    [{ serverNoContextTakeover: true }, `${EXT}; client_max_window_bits=${WINDOW}`],
    [{ serverMaxWindowBits: 10 }, `${EXT}; server_max_window_bits=10; client_max_window_bits=${WINDOW}`],
    [{ serverMaxWindowBits: 15 }, `${EXT}; server_max_window_bits=${WINDOW}; client_max_window_bits=${WINDOW}`],
    [{ serverMaxWindowBits: 8 }, `${EXT}; server_max_window_bits=8; client_max_window_bits=${WINDOW}`],
    [{ clientMaxWindowBits: 9 }, `${EXT}; client_max_window_bits=9`],
    [{ clientMaxWindowBits: 8 }, `${EXT}; client_max_window_bits=8`],
    [{ clientMaxWindowBits: 15 }, `${EXT}; client_max_window_bits=${WINDOW}`],
    [{ clientMaxWindowBits: false }, EXT],
    [
      { clientNoContextTakeover: true, serverNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 10 },
      `${EXT}; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=10`,
    ],
  ];
  for (const [opts, want] of cases) {
    it(`perMessageDeflate ${JSON.stringify(opts)} -> ${want}`, T, async () => {
      const ws = await wsOpen(d.port, '/echo', { threshold: 0, ...opts });
      try {
        assert.ok(ws.extensions.startsWith('permessage-deflate'), `extensions: ${ws.extensions}`);
        /* ws keeps the answer it accepted; read it back from the raw header as well. */
        const ans = await rawAnswer(d.port, { 'Sec-WebSocket-Extensions': offerOf(opts) });
        assert.equal(ans, want);
        /* Compressed both ways: several similar messages, so a client that keeps its
         * context refers back into earlier ones. */
        for (let i = 0; i < 5; i++) {
          const msg = `${'hello permessage-deflate '.repeat(20)}#${i}`;
          ws.send(msg);
          const m = await wsNext(ws);
          assert.equal(m.isBinary, false);
          assert.equal(m.data.toString(), msg);
        }
        const bin = Buffer.alloc(3000, 0xab);
        ws.send(bin);
        const m = await wsNext(ws);
        assert.equal(m.isBinary, true);
        assert.ok(m.data.equals(bin));
      } finally {
        ws.close();
      }
    });
  }

  it('perMessageDeflate false: no extension, plain echo', T, async () => {
    const ws = await wsOpen(d.port, '/echo', false);
    try {
      assert.equal(ws.extensions, '');
      ws.send('plain');
      assert.equal((await wsNext(ws)).data.toString(), 'plain');
    } finally {
      ws.close();
    }
  });

  it('compression disabled in the config: the offer is declined', T, async () => {
    const ws = await wsOpen(off.port, '/ws', {});
    try {
      assert.equal(ws.extensions, '');
    } finally {
      ws.close();
    }
    assert.equal(await rawAnswer(off.port, { 'Sec-WebSocket-Extensions': 'permessage-deflate' }, '/ws'), null);
  });
});

/* The offer ws sends for these options (permessage-deflate.js offer()). */
function offerOf(o) {
  const p = ['permessage-deflate'];
  if (o.serverNoContextTakeover) p.push('server_no_context_takeover');
  if (o.clientNoContextTakeover) p.push('client_no_context_takeover');
  if (o.serverMaxWindowBits) p.push(`server_max_window_bits=${o.serverMaxWindowBits}`);
  if (o.clientMaxWindowBits) p.push(`client_max_window_bits=${o.clientMaxWindowBits}`);
  else if (o.clientMaxWindowBits == null) p.push('client_max_window_bits');
  return p.join('; ');
}

describe('negotiation with raw handshakes', () => {
  const declined = [
    'permessage-deflate; foo',
    'permessage-deflate; foo=1',
    'permessage-deflate; server_max_window_bits',
    'permessage-deflate; server_max_window_bits=7',
    'permessage-deflate; server_max_window_bits=16',
    'permessage-deflate; server_max_window_bits=08',
    'permessage-deflate; client_max_window_bits=1a',
    'permessage-deflate; client_max_window_bits=',
    'permessage-deflate; server_no_context_takeover; server_no_context_takeover',
    'permessage-deflate; client_no_context_takeover; client_no_context_takeover',
    'permessage-deflate; client_max_window_bits; client_max_window_bits=10',
    'permessage-deflate; server_max_window_bits=10; server_max_window_bits=10',
    'permessage-deflate; server_no_context_takeover=1',
    'permessage-deflate; client_no_context_takeover="x"',
    'permessage-deflate; client_max_window_bits="1 0"',
    'x-webkit-deflate-frame',
    'permessage-deflate;;',
    'permessage-deflate; =10',
  ];
  for (const offer of declined) {
    it(`declines ${JSON.stringify(offer)}`, T, async () => {
      assert.equal(await rawAnswer(d.port, { 'Sec-WebSocket-Extensions': offer }), null);
    });
  }

  const accepted = [
    ['permessage-deflate', EXT],
    ['PerMessage-Deflate', EXT],
    ['permessage-deflate ; client_max_window_bits = 10', `${EXT}; client_max_window_bits=10`],
    ['permessage-deflate; client_max_window_bits="10"', `${EXT}; client_max_window_bits=10`],
    ['permessage-deflate; server_max_window_bits="9"', `${EXT}; server_max_window_bits=9`],
    ['x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=10', `${EXT}; client_max_window_bits=10`],
    [
      'permessage-deflate; foo, permessage-deflate; server_max_window_bits=10, permessage-deflate',
      `${EXT}; server_max_window_bits=10`,
    ],
    ['permessage-deflate; server_max_window_bits=7, permessage-deflate; client_no_context_takeover', `${EXT}; client_no_context_takeover`],
    ['permessage-deflate; server_max_window_bits=11; client_max_window_bits=9', `${EXT}; server_max_window_bits=11; client_max_window_bits=9`],
  ];
  for (const [offer, want] of accepted) {
    it(`answers ${JSON.stringify(offer)} with ${want}`, T, async () => {
      assert.equal(await rawAnswer(d.port, { 'Sec-WebSocket-Extensions': offer }), want);
    });
  }

  it('offers spread over two headers: the first acceptable one wins', T, async () => {
    const ans = await rawAnswer(d.port, {
      'Sec-WebSocket-Extensions': 'permessage-deflate; bogus',
      'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits=11',
    });
    assert.equal(ans, `${EXT}; client_max_window_bits=11`);
  });

  it('without an offer, no extension', T, async () => {
    assert.equal(await rawAnswer(d.port, {}), null);
  });
});

/* A raw client on /echo that negotiated permessage-deflate (offer). */
async function openDeflate(offer = 'permessage-deflate; client_no_context_takeover', path = '/echo') {
  const rw = await RawWs.open(d.port, path, { headers: { 'Sec-WebSocket-Extensions': offer } });
  assert.ok(rw.handshake.headers['sec-websocket-extensions'], 'deflate negotiated');
  return rw;
}

/* One whole server message, inflated when RSV1 is set on its first frame. */
async function readInflated(rw, timeoutMs = 5000) {
  const first = await rw.nextFrame(timeoutMs);
  assert.equal(first.masked, false);
  assert.ok(!first.rsv2 && !first.rsv3);
  if (first.opcode === OP.CLOSE) throw new Error(`closed ${first.code} ${first.reason}`);
  const parts = [first.payload];
  let f = first;
  while (!f.fin) {
    f = await rw.nextFrame(timeoutMs);
    assert.equal(f.opcode, OP.CONT);
    assert.ok(!f.rsv1, 'RSV1 only on the first frame');
    parts.push(f.payload);
  }
  const raw = Buffer.concat(parts);
  return { opcode: first.opcode, compressed: first.rsv1, payload: first.rsv1 ? inflate(raw, WINDOW) : raw };
}

describe('compressed echo (Autobahn 12/13 style)', () => {
  const sizes = [16, 64, 125, 126, 1000, 4096, 65535, 65536, 131072];
  for (const opcode of [OP.TEXT, OP.BINARY]) {
    for (const size of sizes) {
      it(`${opcode === OP.TEXT ? 'text' : 'binary'} ${size} B compressed: echoed, ${size >= MIN ? 'compressed' : 'plain (under min_bytes)'}`, T, async () => {
        const rw = await openDeflate();
        try {
          const payload = opcode === OP.TEXT ? textPayload(size) : Buffer.from(Array.from({ length: size }, (_, i) => ((i % 16) * 13) & 0xff));
          rw.send({ opcode, payload: compress(payload), rsv1: true });
          const m = await readInflated(rw);
          assert.equal(m.opcode, opcode);
          assert.ok(m.payload.equals(payload), `echo of ${size} bytes differs`);
          assert.equal(m.compressed, size >= MIN, 'a compressible message of min_bytes or more comes back compressed, a shorter one plain');
        } finally {
          rw.destroy();
        }
      });
    }
  }

  it('with context takeover (no client_no_context_takeover): messages that refer back inflate', T, async () => {
    const rw = await openDeflate('permessage-deflate; client_max_window_bits=10');
    try {
      /* One zlib stream over three messages, each sync-flushed: the later ones
       * refer to the earlier ones' bytes. */
      const def = zlib.createDeflateRaw({ windowBits: 10 });
      const chunks = [];
      def.on('data', (c) => chunks.push(c));
      for (let i = 0; i < 3; i++) {
        const msg = Buffer.from(`${'takeover '.repeat(30)}${i}`);
        await new Promise((r) => def.write(msg, () => def.flush(zlib.constants.Z_SYNC_FLUSH, r)));
        const z = Buffer.concat(chunks.splice(0));
        assert.ok(z.subarray(z.length - 4).equals(TAIL));
        rw.send({ opcode: OP.TEXT, payload: z.subarray(0, z.length - 4), rsv1: true });
        const m = await readInflated(rw);
        assert.equal(m.payload.toString(), msg.toString());
      }
      def.close();
    } finally {
      rw.destroy();
    }
  });

  it('a message ending in a final block (BFINAL) is accepted', T, async () => {
    const rw = await openDeflate();
    try {
      const payload = textPayload(500);
      rw.send({ opcode: OP.TEXT, payload: zlib.deflateRawSync(payload), rsv1: true });
      assert.ok((await readInflated(rw)).payload.equals(payload));
    } finally {
      rw.destroy();
    }
  });

  it('a message under min_bytes comes back uncompressed; an uncompressed one is fine too', T, async () => {
    const rw = await openDeflate();
    try {
      rw.send({ opcode: OP.TEXT, payload: compress(Buffer.from('tiny')), rsv1: true });
      let m = await readInflated(rw);
      assert.equal(m.compressed, false);
      assert.equal(m.payload.toString(), 'tiny');
      rw.text('plain text, not compressed');
      m = await readInflated(rw);
      assert.equal(m.payload.toString(), 'plain text, not compressed');
    } finally {
      rw.destroy();
    }
  });

  it('fragmented compressed message, RSV1 on the first fragment only, a ping between', T, async () => {
    const rw = await openDeflate();
    try {
      const payload = textPayload(20000);
      const z = compress(payload);
      const a = Math.floor(z.length / 3);
      rw.send({ opcode: OP.TEXT, payload: z.subarray(0, a), rsv1: true, fin: false });
      rw.send({ opcode: OP.CONT, payload: z.subarray(a, 2 * a), fin: false });
      rw.ping(Buffer.from('p'));
      rw.send({ opcode: OP.CONT, payload: z.subarray(2 * a), fin: true });
      /* The ping and the last fragment may arrive together: either order
       * (as in conformance.test.js), each exactly once. */
      const first = await rw.nextFrame();
      if (first.opcode === OP.PONG) {
        assert.ok(!first.rsv1);
        assert.ok((await readInflated(rw)).payload.equals(payload));
      } else {
        rw.frames.unshift(first);
        assert.ok((await readInflated(rw)).payload.equals(payload));
        const pong = await rw.nextFrame();
        assert.equal(pong.opcode, OP.PONG);
        assert.ok(!pong.rsv1);
      }
    } finally {
      rw.destroy();
    }
  });

  it('RSV1 on a continuation frame: 1002', T, async () => {
    const rw = await openDeflate();
    const z = compress(textPayload(300));
    rw.send({ opcode: OP.TEXT, payload: z.subarray(0, 10), rsv1: true, fin: false });
    rw.send({ opcode: OP.CONT, payload: z.subarray(10), rsv1: true, fin: true });
    await rw.expectClose(1002);
    await rw.waitEnd();
  });

  it('RSV1 on a control frame: 1002', T, async () => {
    const rw = await openDeflate();
    rw.ping(Buffer.from('x'), { rsv1: true });
    await rw.expectClose(1002);
    await rw.waitEnd();
  });

  it('RSV1 without negotiation: 1002', T, async () => {
    const rw = await RawWs.open(d.port, '/echo');
    assert.equal(rw.handshake.headers['sec-websocket-extensions'], undefined);
    rw.send({ opcode: OP.TEXT, payload: compress(textPayload(100)), rsv1: true });
    await rw.expectClose(1002);
    await rw.waitEnd();
  });

  it('RSV1 when the server has compression off: 1002', T, async () => {
    const rw = await RawWs.open(off.port, '/echo', { headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate' } });
    assert.equal(rw.handshake.headers['sec-websocket-extensions'], undefined);
    rw.send({ opcode: OP.TEXT, payload: compress(textPayload(100)), rsv1: true });
    await rw.expectClose(1002);
    await rw.waitEnd();
  });

  it('data that does not inflate: 1007', T, async () => {
    const rw = await openDeflate();
    rw.send({ opcode: OP.BINARY, payload: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x12]), rsv1: true });
    await rw.expectClose(1007);
    await rw.waitEnd();
  });

  it('compressed text that inflates to invalid UTF-8: 1007', T, async () => {
    const rw = await openDeflate();
    rw.send({ opcode: OP.TEXT, payload: compress(Buffer.from([0x68, 0x69, 0xc0, 0xaf, 0x21])), rsv1: true });
    await rw.expectClose(1007);
    await rw.waitEnd();
  });

  it('compressed text with a code point split across fragments is fine', T, async () => {
    const rw = await openDeflate();
    try {
      const payload = Buffer.from('κόσμε '.repeat(40));
      const z = compress(payload);
      rw.send({ opcode: OP.TEXT, payload: z.subarray(0, 3), rsv1: true, fin: false });
      rw.send({ opcode: OP.CONT, payload: z.subarray(3), fin: true });
      assert.ok((await readInflated(rw)).payload.equals(payload));
    } finally {
      rw.destroy();
    }
  });
});

describe('the message limit applies to the inflated size', () => {
  it('a 1 KB compressed frame that inflates past the limit: 1009 (raw)', T, async () => {
    const rw = await openDeflate();
    const z = compress(Buffer.alloc(4 * LIMIT, 0x61));
    assert.ok(z.length < 2048, `compressed to ${z.length} bytes`);
    rw.send({ opcode: OP.TEXT, payload: z, rsv1: true });
    await rw.expectClose(1009);
    await rw.waitEnd();
  });

  it('just at the limit inflates; one byte over is 1009', T, async () => {
    let rw = await openDeflate();
    try {
      rw.send({ opcode: OP.BINARY, payload: compress(Buffer.alloc(LIMIT, 0x62)), rsv1: true });
      const m = await readInflated(rw);
      assert.equal(m.payload.length, LIMIT);
    } finally {
      rw.destroy();
    }
    rw = await openDeflate('permessage-deflate');
    rw.send({ opcode: OP.BINARY, payload: compress(Buffer.alloc(LIMIT + 1, 0x62)), rsv1: true });
    await rw.expectClose(1009);
    await rw.waitEnd();
  });

  it('the ws client sending 1 MiB of zeros compressed gets close code 1009', T, async () => {
    const ws = await wsOpen(d.port, '/echo', { threshold: 0 });
    const closed = wsClosed(ws);
    ws.send(Buffer.alloc(1 << 20));
    const c = await closed;
    assert.equal(c.code, 1009);
  });
});

describe('room deliveries to compressed and uncompressed members', () => {
  it('ws clients with and without deflate and a raw deflate client all get the same messages', T, async () => {
    const room = 'deflate-room';
    const url = `ws://127.0.0.1:${d.port}/ws`;
    const members = [];
    for (const pmd of [{ threshold: 0 }, false, { clientNoContextTakeover: true, serverMaxWindowBits: 10 }, { threshold: 0 }, false]) {
      const ws = new WebSocket(url, 'wsd.v1', { perMessageDeflate: pmd });
      const c = await new Promise((resolve, reject) => {
        const got = [];
        ws.on('message', (m) => got.push(JSON.parse(m.toString())));
        ws.once('open', () => resolve({ ws, got, pmd }));
        ws.once('error', reject);
      });
      await waitFor(() => c.got.some((m) => m.type === 'welcome'), { what: 'welcome' });
      ws.send(JSON.stringify({ type: 'subscribe', room }));
      await waitFor(() => c.got.some((m) => m.type === 'subscribed'), { what: 'subscribed' });
      members.push(c);
    }
    /* A raw client with deflate sees the frames themselves. */
    const rw = await openDeflate('permessage-deflate; client_no_context_takeover', '/ws');
    const welcome = await readInflated(rw);
    assert.equal(JSON.parse(welcome.payload).type, 'welcome');
    rw.send({ opcode: OP.TEXT, payload: compress(Buffer.from(JSON.stringify({ type: 'subscribe', room }))), rsv1: true });
    const sub = await readInflated(rw);
    assert.equal(JSON.parse(sub.payload).type, 'subscribed');

    const datas = [{ small: 1 }, { big: 'x'.repeat(5000), n: [1, 2, 3] }, { text: 'ünïcödé '.repeat(100) }];
    for (const data of datas) d.ctl(['publish', room, JSON.stringify(data)]);
    for (const c of members) {
      await waitFor(() => c.got.filter((m) => m.type === 'message').length === datas.length, { what: 'deliveries' });
      const got = c.got.filter((m) => m.type === 'message').map((m) => m.data);
      assert.deepEqual(got, datas, `member with perMessageDeflate ${JSON.stringify(c.pmd)}`);
    }
    const raw = [];
    for (let i = 0; i < datas.length; i++) raw.push(await readInflated(rw));
    assert.deepEqual(
      raw.map((m) => JSON.parse(m.payload).data),
      datas,
    );
    assert.deepEqual(
      raw.map((m) => m.compressed),
      [false, true, true],
      'the small delivery goes plain, the large ones compressed',
    );
    rw.destroy();
    for (const c of members) c.ws.close();
  });
});

/* One sample of /metrics, or 0. */
async function metric(name) {
  const r = await httpGet(d.adminPort, '/metrics');
  const line = r.body
    .toString()
    .split('\n')
    .find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

describe('metrics', () => {
  it('compressed messages and the bytes saved are counted, in and out, exactly', T, async () => {
    const names = [
      'wsd_compressed_messages_total{direction="in"}',
      'wsd_compressed_messages_total{direction="out"}',
      'wsd_compression_saved_bytes_total{direction="in"}',
      'wsd_compression_saved_bytes_total{direction="out"}',
    ];
    /* Nothing else runs on d now: wait for the counters to settle. */
    let before = [];
    await waitFor(
      async () => {
        const v = await Promise.all(names.map(metric));
        const same = before.length && v.every((x, i) => x === before[i]);
        before = v;
        return same;
      },
      { intervalMs: 1200, timeoutMs: 10000, what: 'settled counters' },
    );
    const hdr = (n) => (n < 126 ? 2 : n < 65536 ? 4 : 10);
    const rw = await openDeflate();
    const want = [0, 0, 0, 0];
    for (const size of [500, 5000, 70000]) {
      const payload = textPayload(size);
      const z = compress(payload);
      rw.send({ opcode: OP.TEXT, payload: z, rsv1: true });
      const first = await rw.nextFrame();
      assert.ok(first.rsv1 && first.fin);
      want[0] += 1;
      want[1] += 1;
      want[2] += size - z.length;
      want[3] += hdr(size) + size - (hdr(first.payload.length) + first.payload.length);
    }
    rw.destroy();
    await waitFor(
      async () => {
        const v = await Promise.all(names.map(metric));
        return v.every((x, i) => x - before[i] === want[i]);
      },
      { intervalMs: 300, timeoutMs: 10000, what: `counters moved by ${want}` },
    );
  });
});
