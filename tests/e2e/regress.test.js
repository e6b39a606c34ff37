// Regression tests for inputs the fuzzers found: a client must never be
// able to make its worker send the supervisor a message the IPC decoder
// refuses (the supervisor would drop that worker and every client on it).
// Each test checks that the workers were not restarted.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startWsd, connectWelcomed, rawHttp, stopCleanly } = require('./harness');

const T = { timeout: 15000 };

describe('inputs that once killed a worker', () => {
  let d;
  const restarts = () => d.ctl(['workers']).workers.reduce((a, w) => a + w.restarts, 0);

  before(async () => { d = await startWsd({ workers: 1 }); });
  after(async () => { if (d) await stopCleanly(d); });

  it('a User-Agent with a NUL byte (fuzz_http: crashes/http/user-agent-nul.http)', T, async () => {
    // http_parser refuses a NUL inside a value but lets one through as
    // its first byte: that is the input that reached CONN_OPEN.
    const r = await rawHttp(d.port, 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nUser-Agent: \u0000b\r\n\r\n');
    assert.equal(r.status, 101, `status ${r.status}`);
    const c = await connectWelcomed(d.url);
    const conn = d.ctl(['conn', String(c.welcome.conn)]).conn;
    assert.equal(conn.worker, 0);
    c.ws.terminate();
    assert.equal(restarts(), 0, 'the worker was not restarted');
  });

  it('a publish id holding \\u0000 is refused (jansson: bad_json) and the worker lives', T, async () => {
    const c = await connectWelcomed(d.url);
    c.ws.send(JSON.stringify({ type: 'publish', room: 'r', data: 1, id: 'a\u0000b' }));
    const e = await c.next('error', 3000);
    assert.ok(['bad_json', 'bad_request'].includes(e.code), `error ${e.code}`);
    c.ws.send(JSON.stringify({ type: 'ping' }));
    await c.next('pong', 3000);
    c.ws.terminate();
    assert.equal(restarts(), 0, 'the worker was not restarted');
  });

  it('subscribe with since beyond what the log holds says recovered: false', T, async () => {
    const c = await connectWelcomed(d.url);
    c.ws.send(JSON.stringify({ type: 'subscribe', room: 'fresh-room', since: 5 }));
    const s = await c.next('subscribed', 3000);
    assert.deepEqual([s.room, s.seq, s.recovered], ['fresh-room', 0, false]);
    c.ws.terminate();
  });
});
