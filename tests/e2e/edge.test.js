'use strict';
/*
 * Strict at the edge, and closes that reach the client:
 * - a request without Host, or with two, gets 400;
 * - a frame length in a longer encoding than it needs, or a 64-bit
 *   length with its top bit set, closes with 1002 at the header;
 * - a frame declared over max_message_bytes (2^62 bytes, say) closes with
 *   1009 at once, before any payload;
 * - a 1 MB message to a 64 KiB limit: the `ws` client gets 1009 (not a
 *   reset, 1006) in 100 of 100 trials, because the server shuts its side
 *   for writing and reads what is left instead of closing on unread input;
 * - a slow consumer that still reads gets close 4001 (the close goes
 *   ahead of its queue, which is dropped and counted; this test sees only
 *   that the close arrives, after what the kernel already held).
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const WebSocket = require('ws');
const { startWsd, rawHttp, RawWs, OP, connectWelcomed, waitFor, sleep } = require('./harness');

const T = { timeout: 30000 };

let d;

before(
  async () => {
    d = await startWsd({
      workers: 2,
      config: { limits: { max_message_bytes: 65536, max_queue_bytes: 131072, max_queue_msgs: 64 } },
    });
  },
  { timeout: 30000 },
);

after(
  async () => {
    if (d) await d.stop();
  },
  { timeout: 15000 },
);

const key = () => crypto.randomBytes(16).toString('base64');

describe('Host', () => {
  for (const [what, host] of [
    ['no Host header', ''],
    ['two Host headers', `Host: a\r\nHost: b\r\n`],
    ['an empty Host', 'Host: \r\n'],
  ]) {
    it(`${what} -> 400`, T, async () => {
      const r = await rawHttp(
        d.port,
        `GET /ws HTTP/1.1\r\n${host}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key()}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
      assert.equal(r.status, 400, r.statusLine);
    });
  }
});

/* A raw connection to /ws past its welcome. */
async function openWs() {
  const rw = await RawWs.open(d.port, '/ws');
  const f = await rw.nextFrame(3000);
  assert.equal(f.opcode, OP.TEXT);
  return rw;
}

/* A masked frame header with the length in the given form (7, 16 or 64 bits). */
function header(opcode, len, form) {
  const out = [0x80 | opcode];
  if (form === 7) out.push(0x80 | Number(len));
  else if (form === 16) out.push(0x80 | 126, Number(len >> 8n) & 0xff, Number(len) & 0xff);
  else {
    out.push(0x80 | 127);
    for (let i = 7; i >= 0; i--) out.push(Number((len >> BigInt(8 * i)) & 0xffn));
  }
  out.push(1, 2, 3, 4);
  return Buffer.from(out);
}

describe('frame lengths', () => {
  for (const [what, len, form, code] of [
    ['5 bytes in the 16-bit form', 5n, 16, 1002],
    ['100 bytes in the 64-bit form', 100n, 64, 1002],
    ['a 64-bit length with the top bit set', 1n << 63n, 64, 1002],
    ['a declared 2^62-byte frame', 1n << 62n, 64, 1009],
    ['a declared 1 MB frame', 1n << 20n, 64, 1009],
  ]) {
    it(`${what} closes with ${code} at the header`, T, async () => {
      const rw = await openWs();
      const t0 = Date.now();
      rw.write(header(OP.TEXT, len, form));
      await rw.expectClose(code, 2000);
      assert.ok(Date.now() - t0 < 1500, `closed after ${Date.now() - t0} ms`);
      await rw.waitEnd(3000);
    });
  }
});

describe('an oversized message', () => {
  it('1009 reaches the ws client in 100 of 100 trials', { timeout: 60000 }, async () => {
    const big = Buffer.alloc(1 << 20, 0x61);
    const codes = new Map();
    for (let round = 0; round < 10; round++) {
      const got = await Promise.all(
        Array.from(
          { length: 10 },
          () =>
            new Promise((resolve) => {
              const ws = new WebSocket(d.url);
              ws.on('error', () => {});
              ws.on('message', () => ws.send(big));
              ws.on('close', (code) => resolve(code));
            }),
        ),
      );
      for (const c of got) codes.set(c, (codes.get(c) || 0) + 1);
    }
    assert.deepEqual([...codes], [[1009, 100]], `close codes seen: ${JSON.stringify([...codes])}`);
  });
});

describe('a slow consumer', () => {
  it('that still reads gets its 4001, not a reset', T, async () => {
    const slow = await connectWelcomed(d.url);
    slow.send({ type: 'subscribe', room: 'edge-slow' });
    await slow.next('subscribed');
    const pub = await connectWelcomed(d.url);
    /* Stop reading until the server gives up on it. */
    slow.ws._socket.pause();
    const pad = 'x'.repeat(60000);
    for (let i = 0; i < 400 && slow.closeInfo === null; i++) {
      pub.send({ type: 'publish', room: 'edge-slow', data: { i, pad } });
      if (i % 20 === 19) {
        await sleep(5);
        const c = d.ctl(['conns', '--room', 'edge-slow']).conns;
        if (!c.some((x) => x.id === slow.welcome.conn)) break;
      }
    }
    await waitFor(() => !d.ctl(['conns']).conns.some((x) => x.id === slow.welcome.conn), { what: 'the slow consumer closed' });
    /* It reads again: what the kernel holds, then the close. */
    slow.ws._socket.resume();
    const info = await slow.waitClose(5000);
    assert.equal(info.code, 4001, `closed with ${info.code} ${info.reason}`);
    assert.match(d.log(), /"event":"send_queue_full","conn":\d+,"queued_bytes":\d+,"queued_msgs":\d+,"code":4001/);
    pub.close();
  });
});
