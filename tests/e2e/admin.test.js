'use strict';
/*
 * The admin HTTP listener (docs/control.md):
 * /health, /ready, /metrics, /api/CMD, the 404 and 405 answers; and the
 * demo page on the client listener.
 *
 * One daemon for the whole file (the harness's generated config, which
 * puts the admin listener on a free loopback port), stopped in after().
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startWsd, connectWelcomed, rawHttp, httpGet, waitFor, stopCleanly } = require('./harness');

const T = { timeout: 20000 };

let d;
const clients = [];

/* One HTTP request with an optional JSON body; Connection: close. */
function httpRequest(port, method, urlPath, body, { headers = {}, timeoutMs = 3000 } = {}) {
  const payload = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  const lines = [`${method} ${urlPath} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close'];
  if (body !== undefined) {
    lines.push('Content-Type: application/json');
    lines.push(`Content-Length: ${Buffer.byteLength(payload)}`);
  } else if (method === 'POST') {
    lines.push('Content-Length: 0');
  }
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return rawHttp(port, `${lines.join('\r\n')}\r\n\r\n${payload}`, { timeoutMs });
}

function parseJson(res, what) {
  try {
    return JSON.parse(res.body);
  } catch (e) {
    throw new Error(`${what}: body is not JSON: ${JSON.stringify(res.body).slice(0, 300)}`);
  }
}

/* The value of an unlabelled Prometheus sample, or undefined. */
function metricValue(text, name) {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m && m[1] === name && !m[2]) return Number(m[3]);
  }
  return undefined;
}

describe('admin HTTP listener', () => {
  before(async () => {
    d = await startWsd({ workers: 2 });
  });

  after(async () => {
    for (const c of clients) c.terminate();
    if (d) await stopCleanly(d);
  });

  it('GET /health answers 200', T, async () => {
    const r = await httpGet(d.adminPort, '/health');
    assert.equal(r.status, 200, `GET /health: ${r.statusLine}`);
  });

  it('GET /ready answers 200 when every worker is ready', T, async () => {
    const st = d.ctl(['status']);
    assert.equal(st.workers_ready, st.workers_total, 'status: all workers ready');
    const r = await httpGet(d.adminPort, '/ready');
    assert.equal(r.status, 200, `GET /ready: ${r.statusLine} ${r.body}`);
  });

  it('GET /metrics is Prometheus text whose wsd_connections equals the open connections', T, async () => {
    for (let i = 0; i < 3; i++) clients.push(await connectWelcomed(d.url));
    const open = clients.filter((c) => c.isOpen).length;
    assert.equal(open, 3);
    let last;
    await waitFor(
      async () => {
        last = await httpGet(d.adminPort, '/metrics');
        return last.status === 200 && metricValue(last.body, 'wsd_connections') === open;
      },
      { timeoutMs: 3000, what: `wsd_connections ${open} in /metrics` },
    ).catch((e) => {
      throw new Error(`${e.message}; last response ${last && last.statusLine}: ${last && last.body.slice(0, 600)}`);
    });
    assert.equal(last.status, 200);
    assert.match(last.headers['content-type'] || '', /^text\/plain/, 'metrics content type');
    assert.match(last.body, /^wsd_connections \d+$/m, 'a wsd_connections sample line');
    assert.equal(d.ctl(['status']).connections, open, 'wsctl status agrees with /metrics');

    /* And it follows a close. */
    await clients.pop().close();
    await waitFor(
      async () => metricValue((await httpGet(d.adminPort, '/metrics')).body, 'wsd_connections') === open - 1,
      { timeoutMs: 3000, what: `wsd_connections ${open - 1} after a close` },
    );
  });

  it('GET /api/status returns JSON ok:true with connections', T, async () => {
    const r = await httpGet(d.adminPort, '/api/status');
    assert.equal(r.status, 200, `GET /api/status: ${r.statusLine} ${r.body}`);
    assert.match(r.headers['content-type'] || '', /json/, 'content type');
    const j = parseJson(r, 'GET /api/status');
    assert.equal(j.ok, true, JSON.stringify(j));
    assert.equal(typeof j.connections, 'number', `connections in ${JSON.stringify(j)}`);
    assert.equal(j.connections, clients.filter((c) => c.isOpen).length);
    assert.equal(j.workers_total, 2);
  });

  it('POST /api/publish {room, data} delivers to a subscribed client', T, async () => {
    const sub = await connectWelcomed(d.url);
    clients.push(sub);
    sub.send({ type: 'subscribe', room: 'admin-room' });
    const s = await sub.next('subscribed');
    assert.equal(s.room, 'admin-room');
    const data = { hello: 'from admin', n: 42 };
    const r = await httpRequest(d.adminPort, 'POST', '/api/publish', { room: 'admin-room', data });
    assert.equal(r.status, 200, `POST /api/publish: ${r.statusLine} ${r.body}`);
    const j = parseJson(r, 'POST /api/publish');
    assert.equal(j.ok, true, JSON.stringify(j));
    assert.equal(j.room, 'admin-room');
    const m = await sub.nextIn('admin-room', 3000);
    assert.deepEqual(m.data, data);
    assert.equal(m.from, 'server');
    assert.equal(m.seq, j.seq, 'delivered seq equals the seq in the API reply');
  });

  it('POST /api/nope answers 404 with ok:false', T, async () => {
    const r = await httpRequest(d.adminPort, 'POST', '/api/nope', {});
    assert.equal(r.status, 404, `POST /api/nope: ${r.statusLine} ${r.body}`);
    const j = parseJson(r, 'POST /api/nope');
    assert.equal(j.ok, false);
    assert.equal(typeof j.error, 'string');
    assert.ok(j.error.length > 0, 'error is a sentence');
  });

  it('a request from a web page (Origin header) is refused, and the daemon keeps running', T, async () => {
    const r = await httpRequest(d.adminPort, 'POST', '/api/drain', {}, { headers: { Origin: 'http://evil.example' } });
    assert.equal(r.status, 403, `${r.statusLine} ${r.body}`);
    const g = await httpRequest(d.adminPort, 'GET', '/api/status', undefined, { headers: { Origin: 'http://evil.example' } });
    assert.equal(g.status, 403);
    assert.equal(d.ctl(['status']).state, 'running');
  });

  it('actions need POST with a JSON body: GET /api/drain and a form POST are refused', T, async () => {
    const g = await httpRequest(d.adminPort, 'GET', '/api/drain');
    assert.equal(g.status, 405, `${g.statusLine} ${g.body}`);
    const form = await rawHttp(d.adminPort, `POST /api/publish HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n` +
      `Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}`, { timeoutMs: 3000 });
    assert.equal(form.status, 405, `${form.statusLine} ${form.body}`);
    assert.equal(d.ctl(['status']).state, 'running');
  });

  it('an unknown path answers 404', T, async () => {
    const r = await httpGet(d.adminPort, '/no/such/path');
    assert.equal(r.status, 404, `GET /no/such/path: ${r.statusLine}`);
  });

  it('POST /health answers 405', T, async () => {
    const r = await httpRequest(d.adminPort, 'POST', '/health');
    assert.equal(r.status, 405, `POST /health: ${r.statusLine}`);
  });

  it('GET / on the client listener serves the demo page', T, async () => {
    const r = await httpGet(d.port, '/');
    assert.equal(r.status, 200, `GET / on the client listener: ${r.statusLine}`);
    assert.match(r.headers['content-type'] || '', /^text\/html/, 'content type');
    assert.match(r.body, /wsd/, 'the page names wsd');
    assert.match(r.body, /import \{ WsdClient \} from '\/wsd-client\.js'/, 'the page runs on the client library');
    for (const id of ['rooms', 'join-named', 'join-anon', 'send']) {
      assert.match(r.body, new RegExp(`\\bid\\s*=\\s*["']?${id}["'\\s>]`), `an element with id "${id}"`);
    }
  });
});
