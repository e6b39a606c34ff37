'use strict';
/*
 * Malformed input, over raw TCP and hand-built frames: every bad request
 * gets its HTTP status, every bad frame its close code, every bad wsd.v1
 * message its `error`, and the daemon keeps serving afterwards.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { startWsd, rawHttp, RawWs, OP, connectWelcomed, assertServerFrame, readMessage, stopCleanly } = require('./harness');

const T = { timeout: 15000 };
const MAX_MSG = 1024;

let d;

before(
  async () => {
    d = await startWsd({
      workers: 2,
      config: {
        limits: { max_header_bytes: 4096, max_message_bytes: MAX_MSG },
        heartbeat: { handshake_timeout_ms: 1000 },
      },
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

/* An upgrade request; headers with value null are left out. */
function upgradeRequest({ method = 'GET', path = '/ws', headers = {} } = {}) {
  const h = {
    Host: `127.0.0.1:${d.port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': crypto.randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  const lines = [`${method} ${path} HTTP/1.1`];
  for (const [k, v] of Object.entries(h)) if (v !== null) lines.push(`${k}: ${v}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/* A rejection: that status, Connection: close, and the socket closed by the server. */
async function expectRejection(request, status) {
  const r = await rawHttp(d.port, request, { timeoutMs: 4000 });
  assert.equal(r.status, status, `expected HTTP ${status}, got ${JSON.stringify(r.statusLine)}`);
  assert.match(r.headers.connection || '', /close/i, 'a rejection must carry Connection: close');
  assert.equal(r.closed, true, 'the server must close the socket after a rejection');
  return r;
}

describe('HTTP upgrade requests', () => {
  it('garbage bytes -> 400', T, async () => {
    const garbage = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x00]), crypto.randomBytes(64), Buffer.from('\r\n\r\n')]);
    await expectRejection(garbage, 400);
  });

  it('a request line that is not HTTP -> 400', T, async () => {
    await expectRejection('HELLO WORLD FOO\r\nHost: x\r\n\r\n', 400);
  });

  it('missing Sec-WebSocket-Key -> 400', T, async () => {
    await expectRejection(upgradeRequest({ headers: { 'Sec-WebSocket-Key': null } }), 400);
  });

  it('Sec-WebSocket-Key that is not base64 -> 400', T, async () => {
    await expectRejection(upgradeRequest({ headers: { 'Sec-WebSocket-Key': 'not*base64*at*all!!' } }), 400);
  });

  it('Sec-WebSocket-Key that is base64 of 15 bytes -> 400', T, async () => {
    await expectRejection(upgradeRequest({ headers: { 'Sec-WebSocket-Key': crypto.randomBytes(15).toString('base64') } }), 400);
  });

  it('Sec-WebSocket-Version 8 -> 426 with Sec-WebSocket-Version: 13', T, async () => {
    const r = await expectRejection(upgradeRequest({ headers: { 'Sec-WebSocket-Version': '8' } }), 426);
    assert.equal(r.headers['sec-websocket-version'], '13');
  });

  it('no Upgrade header -> 426', T, async () => {
    const r = await expectRejection(upgradeRequest({ headers: { Upgrade: null, Connection: 'keep-alive' } }), 426);
    assert.equal(r.headers['sec-websocket-version'], '13');
  });

  it('Upgrade: websocket without Connection: upgrade -> 426', T, async () => {
    await expectRejection(upgradeRequest({ headers: { Connection: 'keep-alive' } }), 426);
  });

  it('POST /ws -> 405 with Allow: GET', T, async () => {
    const r = await expectRejection(upgradeRequest({ method: 'POST', headers: { 'Content-Length': '0' } }), 405);
    assert.equal(r.headers.allow, 'GET');
  });

  it('GET /nope -> 404', T, async () => {
    await expectRejection(upgradeRequest({ path: '/nope' }), 404);
  });

  it('headers over max_header_bytes (8 KB against 4096) -> 431', T, async () => {
    const pad = {};
    for (let i = 0; i < 64; i++) pad[`X-Pad-${i}`] = 'p'.repeat(120);
    const req = upgradeRequest({ headers: pad });
    assert.ok(req.length > 8000);
    await expectRejection(req, 431);
  });

  it('headers just under max_header_bytes (about 3 KB) still upgrade', T, async () => {
    const pad = {};
    for (let i = 0; i < 20; i++) pad[`X-Pad-${i}`] = 'p'.repeat(120);
    const rw = await RawWs.open(d.port, '/ws', { headers: pad });
    assert.equal(rw.handshake.status, 101);
    const f = await rw.nextFrame(3000);
    assert.equal(f.opcode, OP.TEXT);
    assert.equal(JSON.parse(f.payload.toString('utf8')).type, 'welcome');
    rw.close(1000);
    await rw.expectClose(1000);
    await rw.waitEnd();
  });

  it('subprotocol: wsd.v1 is selected when offered, and none is named when none is offered', T, async () => {
    for (const [offer, expected] of [['wsd.v1', 'wsd.v1'], ['chat, wsd.v1', 'wsd.v1'], [undefined, undefined]]) {
      const rw = await RawWs.open(d.port, '/ws', { protocol: offer });
      assert.equal(rw.handshake.headers['sec-websocket-protocol'], expected, `offered ${offer}`);
      const f = await rw.nextFrame(3000);
      assert.equal(JSON.parse(f.payload.toString('utf8')).type, 'welcome');
      rw.close(1000);
      await rw.expectClose(1000);
      await rw.waitEnd();
    }
  });

  it('an incomplete request is dropped after handshake_timeout_ms', T, async () => {
    const t0 = Date.now();
    const r = await rawHttp(d.port, 'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n', { timeoutMs: 5000 });
    assert.equal(r.closed, true, 'the server must close a connection that never completes its request');
    const ms = Date.now() - t0;
    assert.ok(ms >= 800, `closed after ${ms} ms, before handshake_timeout_ms (1000)`);
    assert.ok(ms < 4000, `closed after ${ms} ms, long after handshake_timeout_ms (1000)`);
  });
});

/* A raw connection to /ws, past its welcome. */
async function openWs() {
  const rw = await RawWs.open(d.port, '/ws');
  const f = await rw.nextFrame(3000);
  assertServerFrame(f);
  assert.equal(f.opcode, OP.TEXT, 'the first frame on /ws must be the welcome text');
  const welcome = JSON.parse(f.payload.toString('utf8'));
  assert.equal(welcome.type, 'welcome');
  rw.welcome = welcome;
  return rw;
}

async function expectCloseAndEnd(rw, code) {
  const f = await rw.expectClose(code, 3000);
  await rw.waitEnd(3000);
  return f;
}

describe('bad frames on /ws', () => {
  it('welcome announces max_message_bytes from the config', T, async () => {
    const rw = await openWs();
    assert.equal(rw.welcome.max_message_bytes, MAX_MSG);
    rw.close(1000);
    await expectCloseAndEnd(rw, 1000);
  });

  it('unmasked client frame -> close 1002', T, async () => {
    const rw = await openWs();
    rw.text('{"type":"ping"}', { mask: false });
    await expectCloseAndEnd(rw, 1002);
  });

  it('invalid UTF-8 in a whole text message -> close 1007', T, async () => {
    const rw = await openWs();
    rw.text(Buffer.concat([Buffer.from('{"type":"ping","x":"'), Buffer.from([0xc0, 0x80]), Buffer.from('"}')]));
    await expectCloseAndEnd(rw, 1007);
  });

  it('invalid UTF-8 in the first fragment -> close 1007 before the last fragment is sent', T, async () => {
    const rw = await openWs();
    rw.send({ opcode: OP.TEXT, fin: false, payload: Buffer.concat([Buffer.from('{"type":"ping","x":"'), Buffer.from([0xed, 0xa0, 0x80])]) });
    /* The last fragment is deliberately never sent. */
    await expectCloseAndEnd(rw, 1007);
  });

  it(`message over max_message_bytes (2048 > ${MAX_MSG}) -> close 1009`, T, async () => {
    const rw = await openWs();
    rw.text(JSON.stringify({ type: 'ping', pad: 'x'.repeat(2048) }));
    await expectCloseAndEnd(rw, 1009);
  });

  it(`fragments adding up to more than max_message_bytes -> close 1009`, T, async () => {
    const rw = await openWs();
    rw.send({ opcode: OP.TEXT, fin: false, payload: Buffer.from('{"type":"ping","pad":"' + 'x'.repeat(600)) });
    rw.send({ opcode: OP.CONT, fin: false, payload: Buffer.from('y'.repeat(600)) });
    await expectCloseAndEnd(rw, 1009);
  });

  it(`a message of exactly max_message_bytes is accepted, one byte more -> 1009 (on /echo)`, T, async () => {
    const ok = await RawWs.open(d.port, '/echo');
    const p = crypto.randomBytes(MAX_MSG);
    ok.binary(p);
    const m = await readMessage(ok, 3000);
    assert.equal(m.opcode, OP.BINARY);
    assert.ok(m.payload.equals(p), 'the echo of a message at the limit differs');
    ok.close(1000);
    await expectCloseAndEnd(ok, 1000);

    const over = await RawWs.open(d.port, '/echo');
    over.binary(crypto.randomBytes(MAX_MSG + 1));
    await expectCloseAndEnd(over, 1009);
  });

  it('unknown opcode 0x3 -> close 1002', T, async () => {
    const rw = await openWs();
    rw.send({ opcode: 0x3, payload: Buffer.from('{"type":"ping"}') });
    await expectCloseAndEnd(rw, 1002);
  });

  it('binary frame on /ws -> close 1003', T, async () => {
    const rw = await openWs();
    rw.binary(Buffer.from('{"type":"ping"}'));
    /* Not a framing error but a refusal, so the server may wait for the close handshake: answer it. */
    await rw.expectClose(1003, 3000);
    rw.close(1003);
    await rw.waitEnd(3000);
  });

  it('RSV1 without a negotiated extension -> close 1002', T, async () => {
    const rw = await openWs();
    rw.text('{"type":"ping"}', { rsv1: true });
    await expectCloseAndEnd(rw, 1002);
  });

  it('a protocol ping on /ws is answered with a pong', T, async () => {
    const rw = await openWs();
    rw.ping(Buffer.from('are you there'));
    const f = await rw.nextFrame(3000);
    assert.equal(f.opcode, OP.PONG);
    assert.equal(f.payload.toString(), 'are you there');
    rw.close(1000);
    await expectCloseAndEnd(rw, 1000);
  });
});

describe('bad wsd.v1 messages', () => {
  let c;

  before(async () => {
    c = await connectWelcomed(d.url);
  });

  after(async () => {
    if (c && c.isOpen) await c.close();
  });

  async function expectError(text, code) {
    c.send(text);
    const e = await c.next('error', 3000);
    assert.equal(e.code, code, `for ${text}: expected error ${code}, got ${JSON.stringify(e)}`);
    assert.equal(typeof e.reason, 'string', 'error.reason must be a string');
    assert.equal(c.isOpen, true, 'the connection must stay open after an error');
    return e;
  }

  it('text that is not JSON -> error bad_json, connection stays open', T, async () => {
    await expectError('{"type": "ping"', 'bad_json');
    c.send({ type: 'ping' });
    await c.next('pong', 3000);
  });

  it('JSON that is not an object -> error bad_json', T, async () => {
    await expectError('[1,2,3]', 'bad_json');
    await expectError('"ping"', 'bad_json');
  });

  it('unknown type -> error unknown_type', T, async () => {
    await expectError('{"type":"dance"}', 'unknown_type');
  });

  it('missing or mistyped fields -> error bad_request', T, async () => {
    await expectError('{"type":"subscribe"}', 'bad_request');
    await expectError('{"type":"publish","room":42,"data":1}', 'bad_request');
    await expectError('{"type":"send","data":1}', 'bad_request');
  });

  it('bad room names -> error bad_room', T, async () => {
    await expectError('{"type":"subscribe","room":""}', 'bad_room');
    await expectError(JSON.stringify({ type: 'subscribe', room: 'r'.repeat(129) }), 'bad_room');
    await expectError(JSON.stringify({ type: 'subscribe', room: 'bad\u0001room' }), 'bad_room');
  });

  it('reserved and foreign rooms -> error forbidden, with ref for an id', T, async () => {
    await expectError('{"type":"subscribe","room":"*"}', 'forbidden');
    await expectError('{"type":"subscribe","room":"user:somebody-else"}', 'forbidden');
    const e = await expectError('{"type":"publish","room":"*","data":1,"id":"f-1"}', 'forbidden');
    assert.equal(e.ref, 'f-1');
  });

  it('unsubscribe from a room it is not in -> error not_subscribed', T, async () => {
    await expectError('{"type":"unsubscribe","room":"never-joined"}', 'not_subscribed');
  });

  it('after all of that the connection still works', T, async () => {
    c.send({ type: 'ping' });
    await c.next('pong', 3000);
    assert.equal(c.queue.filter((m) => m.type === 'error').length, 0, `unexpected extra errors: ${JSON.stringify(c.queue)}`);
  });
});

describe('the daemon keeps serving', () => {
  it('a fresh client gets welcome and a room publish still works', T, async () => {
    const a = await connectWelcomed(d.url);
    const b = await connectWelcomed(d.url);
    for (const x of [a, b]) {
      assert.equal(typeof x.welcome.conn, 'number');
      x.send({ type: 'subscribe', room: 'after-malformed' });
      const s = await x.next('subscribed', 3000);
      assert.equal(s.room, 'after-malformed');
    }
    a.send({ type: 'publish', room: 'after-malformed', data: { still: 'alive' }, id: 'alive-1' });
    const ack = await a.next('ack', 3000);
    assert.equal(ack.id, 'alive-1');
    for (const x of [a, b]) {
      const m = await x.nextIn('after-malformed', 3000);
      assert.deepEqual(m.data, { still: 'alive' });
      assert.equal(m.seq, ack.seq);
      assert.equal(m.from, a.welcome.user);
    }
    const st = d.ctl(['status']);
    assert.equal(st.workers_ready, 2);
    assert.equal(st.state, 'running');
    await a.close();
    await b.close();
  });
});

describe('shutdown', () => {
  it('SIGTERM: exit 0 within 5 s, no worker left behind, no sanitizer report', T, async () => {
    await stopCleanly(d);
  });
});
