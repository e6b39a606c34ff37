'use strict';
/*
 * The Server-Sent Events fallback, raw: GET /sse read as an event stream
 * by hand, POST /sse/send with the welcome's send key.
 *
 *   - the stream: 200 text/event-stream, the welcome with a send key,
 *     rooms= joined, every event's data the same JSON as a WebSocket
 *     message, the connection listed with transport "sse";
 *   - POST /sse/send: several messages per body, answered 202, acked on
 *     the stream, delivered to a WebSocket client in the room; a wrong key
 *     publishes nothing; the request errors (400, 405, 411, 413);
 *   - Last-Event-ID (and last_event_id=): a stream opened again with the
 *     last event id it got is resumed and gets what was published
 *     meanwhile, each once, in order, then live messages;
 *   - a refused resume: the stream goes on as the new session, and its
 *     cursor says so; a stream in 20 rooms comes back with its cursor;
 *   - heartbeats as comments, a kick as a final "close" event, 401 and 403
 *     as on a WebSocket (a same-origin GET without Origin passes), 404
 *     for both paths when `sse` is off;
 *   - the send rate: what a paused stream POSTs waits, in order, and
 *     past twice max_message_bytes the stream is closed with 4002;
 *   - the library with `transport: 'sse'` (its POSTs sized in UTF-8
 *     bytes), and with 'auto' against a
 *     daemon that is down at first: it alternates WebSocket and SSE until
 *     one opens, then keeps that one.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const path = require('node:path');
const WebSocket = require('ws');
const { startWsd, connectWelcomed, rawHttp, waitFor, sleep, stopCleanly, mintToken, freePorts } = require('./harness');

const KEYS = ['k1:5d41402abc4b2a76b9719d911017c592'];
const T = { timeout: 30000 };

/* One GET /sse, its events parsed as they come. */
class Stream {
  constructor(port, pathq, headers = {}) {
    this.events = [];
    this.comments = 0;
    this.ended = false;
    this.lastId = null;
    this.buf = '';
    this.opened = new Promise((resolve, reject) => {
      this.req = http.get({ host: '127.0.0.1', port, path: pathq, headers, agent: false }, (res) => {
        this.res = res;
        res.setEncoding('utf8');
        res.on('data', (t) => this.feed(t));
        res.on('end', () => (this.ended = true));
        res.on('close', () => (this.ended = true));
        resolve(res);
      });
      this.req.on('error', (e) => {
        this.ended = true;
        reject(e);
      });
    });
  }

  feed(text) {
    this.buf += text;
    let i;
    while ((i = this.buf.indexOf('\n\n')) >= 0) {
      const block = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 2);
      const data = [];
      let id = null;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) this.comments++;
        else if (line.startsWith('id: ')) id = line.slice(4);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (id !== null) this.lastId = id;
      if (data.length) this.events.push({ id, msg: JSON.parse(data.join('\n')) });
    }
  }

  msgs(type) {
    return this.events.map((e) => e.msg).filter((m) => !type || m.type === type);
  }

  async next(pred, what, timeoutMs = 5000) {
    let found;
    await waitFor(() => (found = this.msgs().find(pred)), { timeoutMs, what });
    return found;
  }

  close() {
    this.req.destroy();
  }
}

/* POST /sse/send of body for the stream whose welcome is w. */
function post(port, w, body, { key = w.send_key, query } = {}) {
  return fetch(`http://127.0.0.1:${port}/sse/send?${query || `conn=${w.conn}&key=${key}`}`, { method: 'POST', body });
}

async function adminPublish(d, room, data) {
  const res = await fetch(`http://127.0.0.1:${d.adminPort}/api/publish`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ room, data }),
  });
  return (await res.json()).seq;
}

describe('SSE fallback: the stream and POST /sse/send', () => {
  let d;
  const streams = [];
  const open = (q, headers) => {
    const s = new Stream(d.port, q, headers);
    streams.push(s);
    return s;
  };
  before(async () => {
    d = await startWsd({ workers: 2, config: { sessions: { keys: KEYS }, heartbeat: { interval_ms: 300 }, limits: { max_message_bytes: 4096 } } });
  });
  after(async () => {
    for (const s of streams) s.close();
    if (d) await stopCleanly(d);
  });

  it('streams the welcome with a send key, joins rooms=, lists it as sse', T, async () => {
    const s = open('/sse?rooms=news,chat');
    const res = await s.opened;
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'], /^text\/event-stream/);
    assert.equal(res.headers['cache-control'], 'no-store');
    const w = await s.next((m) => m.type === 'welcome', 'the welcome');
    assert.match(w.send_key, /^[A-Za-z0-9_-]{22}$/);
    assert.ok(w.resume_token && w.conn > 0);
    assert.ok(s.events[0].id, 'the welcome carries an id');
    await s.next((m) => m.type === 'subscribed' && m.room === 'news', 'news joined');
    await s.next((m) => m.type === 'subscribed' && m.room === 'chat', 'chat joined');
    const c = d.ctl(['conn', String(w.conn)]).conn;
    assert.equal(c.transport, 'sse');
    assert.deepEqual(c.rooms.filter((r) => !r.startsWith('user:')).sort(), ['chat', 'news']);
    /* Heartbeats are comments, which EventSource ignores. */
    await waitFor(() => s.comments >= 2, { what: 'two heartbeat comments' });
  });

  it('takes several messages in one POST: 202, acked on the stream, delivered to a WebSocket client', T, async () => {
    const s = open('/sse?rooms=post');
    const w = await s.next((m) => m.type === 'welcome', 'the welcome');
    await s.next((m) => m.type === 'subscribed', 'joined');
    const ws = await connectWelcomed(d.url);
    ws.send({ type: 'subscribe', room: 'post' });
    await ws.next('subscribed');
    const body = ['{"type":"publish","room":"post","data":{"n":1},"id":"a1"}', '', '{"type":"publish","room":"post","data":{"n":2},"id":"a2"}\r', '{"type":"ping"}'].join('\n');
    const r = await post(d.port, w, body);
    assert.equal(r.status, 202);
    assert.deepEqual(await r.json(), { ok: true });
    const a2 = await s.next((m) => m.type === 'ack' && m.id === 'a2', 'the second ack');
    const a1 = s.msgs('ack').find((m) => m.id === 'a1');
    assert.ok(a1.seq < a2.seq, 'acked in order');
    await s.next((m) => m.type === 'pong', 'the pong');
    const got = [await ws.nextIn('post'), await ws.nextIn('post')];
    assert.deepEqual(got.map((m) => m.data.n), [1, 2]);
    assert.equal(got[0].from, w.user);
    /* The stream's own room gets its messages too, once each. */
    await waitFor(() => s.msgs('message').length === 2, { what: 'two messages on the stream' });
    /* A bad message gets the same error as on a WebSocket. */
    await post(d.port, w, '{"type":"publish","room":"post"}');
    const e = await s.next((m) => m.type === 'error', 'an error');
    assert.equal(e.code, 'bad_request');
    ws.close();
  });

  it('publishes nothing for a wrong send key or an unknown connection', T, async () => {
    const s = open('/sse?rooms=keyed');
    const w = await s.next((m) => m.type === 'welcome', 'the welcome');
    await s.next((m) => m.type === 'subscribed', 'joined');
    const wrong = w.send_key.startsWith('A') ? `B${w.send_key.slice(1)}` : `A${w.send_key.slice(1)}`;
    assert.equal((await post(d.port, w, '{"type":"publish","room":"keyed","data":1}', { key: wrong })).status, 202);
    assert.equal((await post(d.port, { conn: 99999999, send_key: w.send_key }, '{"type":"publish","room":"keyed","data":1}')).status, 202);
    await sleep(400);
    const room = d.ctl(['rooms']).rooms.find((r) => r.name === 'keyed');
    assert.equal(room.seq, 0, 'nothing was published');
    assert.equal(s.msgs('message').length, 0);
    /* The right key still works. */
    await post(d.port, w, '{"type":"publish","room":"keyed","data":2,"id":"k"}');
    await s.next((m) => m.type === 'ack' && m.id === 'k' && m.seq === 1, 'the ack of seq 1');
  });

  it('answers a bad POST with the right status', T, async () => {
    const s = open('/sse');
    const w = await s.next((m) => m.type === 'welcome', 'the welcome');
    const q = `conn=${w.conn}&key=${w.send_key}`;
    const send = (head, body = '') => rawHttp(d.port, `${head}\r\nHost: x\r\nConnection: close\r\n\r\n${body}`);
    let r = await send(`GET /sse/send?${q} HTTP/1.1`);
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, 'POST');
    r = await send(`POST /sse/send?conn=${w.conn} HTTP/1.1\r\nContent-Length: 2`, '{}');
    assert.equal(r.status, 400, 'no key');
    r = await send(`POST /sse/send?conn=x1&key=${w.send_key} HTTP/1.1\r\nContent-Length: 2`, '{}');
    assert.equal(r.status, 400, 'conn is not a number');
    r = await send(`POST /sse/send?${q} HTTP/1.1\r\nTransfer-Encoding: chunked`, '2\r\n{}\r\n0\r\n\r\n');
    assert.equal(r.status, 411);
    r = await send(`POST /sse/send?${q} HTTP/1.1\r\nContent-Length: 5000`);
    assert.equal(r.status, 413);
    r = await send(`POST /sse/send?${q} HTTP/1.1\r\nContent-Length: 0`);
    assert.equal(r.status, 400, 'an empty body');
    r = await send(`POST /sse HTTP/1.1\r\nContent-Length: 2`, '{}');
    assert.equal(r.status, 405, 'a POST to the stream');
    /* None of them closed the stream. */
    await sleep(100);
    assert.equal(s.ended, false);
  });

  it('resumes from Last-Event-ID: what was published meanwhile, once, in order, then live', T, async () => {
    const s1 = open('/sse?rooms=resume');
    await s1.next((m) => m.type === 'subscribed', 'joined');
    for (let i = 1; i <= 3; i++) await adminPublish(d, 'resume', { i });
    await waitFor(() => s1.msgs('message').length === 3, { what: 'three messages' });
    const id = s1.lastId;
    s1.close();
    await waitFor(() => d.ctl(['conns', '--room', 'resume']).conns.length === 0, { what: 'the first stream gone' });
    for (let i = 4; i <= 6; i++) await adminPublish(d, 'resume', { i });

    /* As EventSource reconnects: the header, same rooms= (already back). */
    const s2 = open('/sse?rooms=resume', { 'Last-Event-ID': id });
    const resumed = await s2.next((m) => m.type === 'resumed', 'resumed');
    assert.ok(resumed);
    await waitFor(() => s2.msgs('message').length === 3, { what: 'the three missed' });
    await adminPublish(d, 'resume', { i: 7 });
    await waitFor(() => s2.msgs('message').length === 4, { what: 'a live one' });
    await sleep(200);
    assert.deepEqual(s2.msgs('message').map((m) => m.seq), [4, 5, 6, 7]);
    assert.equal(s2.msgs('subscribed').length, 0, 'rooms= did not subscribe again');

    /* As a new EventSource would: last_event_id= in the query. */
    const id2 = s2.lastId;
    s2.close();
    await waitFor(() => d.ctl(['conns', '--room', 'resume']).conns.length === 0, { what: 'the second stream gone' });
    await adminPublish(d, 'resume', { i: 8 });
    const s3 = open(`/sse?last_event_id=${encodeURIComponent(id2)}`);
    await s3.next((m) => m.type === 'resumed', 'resumed again');
    await waitFor(() => s3.msgs('message').length === 1, { what: 'the one missed' });
    assert.equal(s3.msgs('message')[0].seq, 8);

    /* A cursor that does not decode starts a fresh session. */
    const s4 = open('/sse', { 'Last-Event-ID': 'not-a-cursor' });
    const w4 = await s4.next((m) => m.type === 'welcome', 'a welcome');
    assert.ok(w4.session);
    assert.equal(s4.msgs('resumed').length, 0);
  });

  it('after a refused resume, the cursor names the new session: the next reconnect loses nothing', T, async () => {
    const s1 = open('/sse?rooms=refused', { 'Last-Event-ID': '{"t":"v1.bogus","r":{}}' });
    await s1.next((m) => m.type === 'error' && m.code === 'resume_failed', 'resume_failed');
    await s1.next((m) => m.type === 'subscribed' && m.room === 'refused', 'rooms= joined');
    await adminPublish(d, 'refused', 1);
    await s1.next((m) => m.type === 'message', 'message 1');
    const id = s1.lastId;
    assert.equal(JSON.parse(id).t, s1.msgs('welcome')[0].resume_token);
    s1.close();
    await waitFor(() => d.ctl(['conns', '--room', 'refused']).conns.length === 0, { what: 'the first stream gone' });
    await adminPublish(d, 'refused', 2);
    const s2 = open('/sse?rooms=refused', { 'Last-Event-ID': id });
    await s2.next((m) => m.type === 'resumed', 'resumed');
    await s2.next((m) => m.type === 'message' && m.seq === 2, 'message 2');
    assert.deepEqual(s2.msgs('message').map((m) => m.seq), [2]);
  });

  it('keeps the cursor of a stream in 20 rooms small enough to come back with', T, async () => {
    const rooms = Array.from({ length: 20 }, (_, i) => `many-${String(i).padStart(2, '0')}-${'x'.repeat(12)}`);
    const s1 = open(`/sse?rooms=${rooms.join(',')}`);
    await waitFor(() => s1.msgs('subscribed').length === 20, { what: '20 rooms joined' });
    await adminPublish(d, rooms[7], 'hi');
    await s1.next((m) => m.type === 'message', 'the message');
    assert.ok(s1.lastId.length < 1200, `the id is ${s1.lastId.length} bytes`);
    assert.match(s1.lastId, /^[\x20-\x7e]+$/, 'ASCII');
    s1.close();
    await waitFor(() => d.ctl(['conns', '--room', rooms[0]]).conns.length === 0, { what: 'gone' });
    const s2 = open(`/sse?rooms=${rooms.join(',')}`, { 'Last-Event-ID': s1.lastId });
    const r = await s2.next((m) => m.type === 'resumed', 'resumed');
    assert.equal(Object.keys(r.rooms).filter((n) => n.startsWith('many-')).length, 20);
    assert.equal(s2.msgs('subscribed').length, 0);
  });

  it('ends a kicked stream with a close event', T, async () => {
    const s = open('/sse');
    const w = await s.next((m) => m.type === 'welcome', 'the welcome');
    d.ctl(['kick', '--conn', String(w.conn)]);
    const c = await s.next((m) => m.type === 'close', 'the close event');
    assert.equal(c.code, 4003);
    await waitFor(() => s.ended, { what: 'the stream ended' });
  });
});

describe('SSE fallback: refusals and the switch', () => {
  let d;
  let off;
  const SECRET = 'sse-secret-sse-secret-sse-secret';
  before(async () => {
    d = await startWsd({ workers: 1, config: { allow_anonymous: false, jwt_secret: SECRET, origins: ['https://ok.example'] } });
    off = await startWsd({ workers: 1, config: { sse: false } });
  });
  after(async () => {
    if (d) await stopCleanly(d);
    if (off) await stopCleanly(off);
  });

  it('refuses as the upgrade does: 401 without a token, 403 for an origin', T, async () => {
    const get = (p, origin = 'https://ok.example') => rawHttp(d.port, `GET ${p} HTTP/1.1\r\nHost: x\r\nOrigin: ${origin}\r\nConnection: close\r\n\r\n`);
    assert.equal((await get('/sse')).status, 401);
    assert.equal((await get('/sse?token=garbage')).status, 401);
    assert.equal((await get('/sse', 'https://evil.example')).status, 403);
    /* A same-origin GET from a browser carries no Origin: it passes. */
    const t0 = mintToken(SECRET, { sub: 'bob', exp: Math.floor(Date.now() / 1000) + 60 });
    const same = new Stream(d.port, `/sse?token=${t0}`);
    try {
      assert.equal((await same.opened).statusCode, 200);
    } finally {
      same.close();
    }
    const token = mintToken(SECRET, { sub: 'alice', exp: Math.floor(Date.now() / 1000) + 60 });
    const s = new Stream(d.port, `/sse?token=${token}`, { Origin: 'https://ok.example' });
    try {
      assert.equal((await s.opened).statusCode, 200);
      const w = await s.next((m) => m.type === 'welcome', 'the welcome');
      assert.equal(w.user, 'alice');
    } finally {
      s.close();
    }
  });

  it('answers 404 for both paths when sse is off', T, async () => {
    const r1 = await rawHttp(off.port, 'GET /sse HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const r2 = await rawHttp(off.port, 'POST /sse/send?conn=1&key=x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}');
    assert.equal(r1.status, 404);
    assert.equal(r2.status, 404);
  });
});

describe('SSE fallback: POSTed messages and the send rate', () => {
  let d;
  const streams = [];
  before(async () => {
    d = await startWsd({ workers: 1, config: { limits: { rate_msgs: 5, rate_msgs_burst: 5, max_message_bytes: 4096 } } });
  });
  after(async () => {
    for (const s of streams) s.close();
    if (d) await stopCleanly(d);
  });

  it('holds what a paused stream POSTs until the resume, in order', T, async () => {
    const s = new Stream(d.port, '/sse');
    streams.push(s);
    const w = await s.next((m) => m.type === 'welcome', 'the welcome');
    const body = Array.from({ length: 20 }, (_, i) => `{"type":"publish","room":"paced","data":${i},"id":"p${i}"}`).join('\n');
    assert.ok(body.length <= 4096);
    assert.equal((await post(d.port, w, body)).status, 202);
    await sleep(300);
    assert.ok(s.msgs('ack').length <= 8, `${s.msgs('ack').length} taken in 300 ms at 5 a second`);
    await s.next((m) => m.type === 'flow' && m.state === 'pause', 'paused');
    await waitFor(() => s.msgs('ack').length === 20, { timeoutMs: 15000, what: 'all 20 acked' });
    assert.deepEqual(s.msgs('ack').map((a) => a.id), Array.from({ length: 20 }, (_, i) => `p${i}`));
    assert.deepEqual(s.msgs('ack').map((a) => a.seq), Array.from({ length: 20 }, (_, i) => i + 1));
    assert.ok(s.msgs('flow').some((m) => m.state === 'resume'));
  });

  it('closes with 4002 a stream that POSTs on past what may wait', T, async () => {
    const s = new Stream(d.port, '/sse');
    streams.push(s);
    const w = await s.next((m) => m.type === 'welcome', 'the welcome');
    const line = `{"type":"ping","pad":"${'x'.repeat(80)}"}`;
    const body = Array.from({ length: 35 }, () => line).join('\n');
    assert.ok(body.length <= 4096);
    for (let i = 0; i < 4; i++) assert.equal((await post(d.port, w, body)).status, 202);
    const c = await s.next((m) => m.type === 'close', 'the close event');
    assert.equal(c.code, 4002);
  });
});

describe('the library with transport: sse', () => {
  let d;
  let WsdClient;
  before(async () => {
    ({ WsdClient } = await import(path.join(__dirname, '..', '..', 'clients', 'js', 'wsd-client.js')));
    d = await startWsd({ workers: 2, config: { sessions: { keys: KEYS }, limits: { max_message_bytes: 4096 } } });
  });
  after(async () => {
    if (d) await stopCleanly(d);
  });

  it('sizes its POSTs in UTF-8 bytes: non-ASCII publishes go through without a reconnect', T, async () => {
    const c = new WsdClient(d.url, { WebSocket, transport: 'sse' });
    let drops = 0;
    c.on('state', (st) => (drops += st === 'disconnected' ? 1 : 0));
    try {
      await waitFor(() => c.state === 'connected', { what: 'connected' });
      /* 2,400 bytes each (1,200 characters): one a POST of 4,096. */
      const acks = await Promise.all(Array.from({ length: 8 }, () => c.publish('utf8', 'é'.repeat(1200))));
      assert.equal(new Set(acks.map((a) => a.seq)).size, 8);
      assert.equal(drops, 0, 'no reconnect');
    } finally {
      c.close();
    }
  });

  it('subscribes, publishes and gets its ack without a WebSocket', T, async () => {
    const c = new WsdClient(d.url, { WebSocket, transport: 'sse' });
    const seen = [];
    try {
      c.subscribe('libsse', (m) => seen.push(m.data));
      await waitFor(() => c.state === 'connected' && c.rooms.get('libsse').joined, { what: 'connected and joined' });
      const ack = await c.publish('libsse', { hello: 1 });
      assert.equal(ack.seq, 1);
      await waitFor(() => seen.length === 1, { what: 'its own message' });
      assert.deepEqual(seen, [{ hello: 1 }]);
      assert.equal(d.ctl(['conns']).conns[0].transport, 'sse');
    } finally {
      c.close();
    }
  });

  it('auto: while nothing opens (the daemon is down) it alternates, and keeps the first that opens', T, async () => {
    const [port] = await freePorts(1);
    const c = new WsdClient(`ws://127.0.0.1:${port}/ws`, { WebSocket, backoff: { baseMs: 50, capMs: 200 } });
    const switched = [];
    c.on('transport', (t) => switched.push(t));
    let late;
    try {
      await waitFor(() => switched.length >= 3, { what: 'three switches' });
      late = await startWsd({ workers: 1, config: { listen: `127.0.0.1:${port}` } });
      await waitFor(() => c.state === 'connected', { timeoutMs: 10000, what: 'connected once the daemon is up' });
      switched.forEach((t, i) => assert.equal(t, i % 2 ? 'websocket' : 'sse', `switch ${i}: ${switched}`));
      const now = switched[switched.length - 1];
      assert.equal(late.ctl(['conns']).conns[0].transport, now);
      /* Kept: a dropped connection comes back over the same one. */
      const n = switched.length;
      late.ctl(['kick', '--conn', String(c.session.conn)]);
      await waitFor(() => c.state === 'connected' && late.ctl(['conns']).conns.length === 1, { timeoutMs: 10000, what: 'back after a kick' });
      assert.equal(switched.length, n);
      assert.equal(late.ctl(['conns']).conns[0].transport, now);
    } finally {
      c.close();
      if (late) await stopCleanly(late);
    }
  });
});
