'use strict';
/*
 * The client library (clients/js/wsd-client.js) against the real daemon,
 * with the npm `ws` package as its WebSocket:
 *
 *   - exactly once, in order: clients on both workers, subscribed to two
 *     of three rooms, while the admin API publishes at 200 messages/s and
 *     a library client publishes with ids; a worker holding clients is
 *     killed with SIGKILL, then the daemon is drained (SIGTERM) and
 *     started again on the same port and state: every handler sees every
 *     seq of its rooms once, in order, and every library publish is
 *     acknowledged and delivered once;
 *   - reconnect delays grow with the attempts and are jittered (full
 *     jitter), measured from the attempts against a closed port;
 *   - a 401 for an expired token calls the token callback once, then
 *     connects;
 *   - a close with 4500 stops the client with an error: no reconnect;
 *   - a refused presence is not taken for a refused subscribe of the room;
 *   - the bounded queue refuses publishes past its size.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');
const { startWsd, mintToken, waitFor, sleep, freePorts, noUpgradeProxy } = require('./harness');

const LIB = path.join(__dirname, '..', '..', 'clients', 'js', 'wsd-client.js');
let WsdClient;

before(async () => {
  ({ WsdClient } = await import(LIB));
});

const KEYS = ['k1:5d41402abc4b2a76b9719d911017c592'];
const ROOMS = ['lib.a', 'lib.b', 'lib.c'];

/* A library client that records what its handlers see. */
function trackedClient(url, rooms, extra = {}) {
  const c = new WsdClient(url, { WebSocket, backoff: { baseMs: 100, capMs: 1000 }, ...extra });
  const seen = Object.fromEntries(rooms.map((r) => [r, []]));
  const notes = [];
  const errors = [];
  c.on('error', (e) => errors.push(e));
  for (const r of rooms) c.subscribe(r, (m) => seen[r].push(m.seq), { onRecovery: (n) => notes.push(n) });
  return { c, seen, notes, errors, rooms };
}

/* POST /api/publish on the admin listener; returns the seq, or null. */
async function adminPublish(port, room, data) {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/api/publish`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ room, data }),
      signal: AbortSignal.timeout(2000),
    });
    const j = await res.json();
    return j.ok ? j.seq : null;
  } catch (e) {
    return null; /* the daemon is restarting */
  }
}

/* The scenario below, over WebSocket, or (sse) through the proxy above. */
function killAndRestart(title, { sse }) {
describe(title, () => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsd-e2e-lib-'));
  const config = { state_dir: stateDir, sessions: { keys: KEYS }, drain: { spread_ms: 300 }, replay: { size: 4096 } };
  let d;
  let d2;
  let proxy;
  const clients = [];

  after(
    async () => {
      for (const t of clients) t.c.close();
      if (d) await d.stop();
      if (d2) await d2.stop();
      if (proxy) proxy.close();
      fs.rmSync(stateDir, { recursive: true, force: true });
    },
    { timeout: 20000 },
  );

  it('a worker killed with SIGKILL, then drain and restart, during 200 publishes/s', { timeout: 90000 }, async (ctx) => {
    d = await startWsd({ workers: 2, config });
    let url = d.url;
    let daemonPort = d.port;
    if (sse) {
      proxy = noUpgradeProxy(() => daemonPort);
      await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
      url = `ws://127.0.0.1:${proxy.address().port}/ws`;
    }
    const tracked = (u, rooms) => {
      const t = trackedClient(u, rooms);
      if (sse) t.c.on('transport', (tr) => (t.transport = tr));
      return t;
    };
    const publisher = tracked(url, []);
    clients.push(publisher);
    const workerOf = (t) => d.ctl(['conn', String(t.c.session.conn)]).conn.worker;
    const onWorker = new Map();
    /* Subscribers until both workers hold at least three (the kernel
     * hands connections to whichever worker accepts first). */
    const count = (w) => [...onWorker.entries()].filter(([t, x]) => x === w && t !== publisher).length;
    for (let i = 0; i < 40 && (i < 8 || count(0) < 3 || count(1) < 3); i++) {
      const t = tracked(url, [ROOMS[i % 3], ROOMS[(i + 1) % 3]]);
      clients.push(t);
      await waitFor(() => t.c.state === 'connected' && t.c.session, { what: 'a client connected' });
      onWorker.set(t, workerOf(t));
    }
    await waitFor(() => publisher.c.state === 'connected' && publisher.c.session, { what: 'the publisher connected' });
    onWorker.set(publisher, workerOf(publisher));
    await waitFor(() => clients.every((t) => t.rooms.every((r) => t.c.rooms.get(r).joined)), { what: 'every room joined' });
    assert.ok(count(0) >= 3 && count(1) >= 3, `subscribers on both workers: ${count(0)} and ${count(1)}`);

    /* 200 admin publishes a second over the three rooms, and library
     * publishes with ids into lib.a, until told to stop. */
    let adminPort = d.adminPort;
    let stop = false;
    const acked = Object.fromEntries(ROOMS.map((r) => [r, 0]));
    const adminLoop = (async () => {
      let n = 0;
      const t0 = Date.now();
      while (!stop) {
        const room = ROOMS[n % 3];
        const seq = await adminPublish(adminPort, room, { n });
        if (seq !== null) acked[room] = Math.max(acked[room], seq);
        n++;
        const ahead = t0 + n * 5 - Date.now();
        if (ahead > 0) await sleep(ahead);
      }
    })();
    const libAcks = [];
    const libLoop = (async () => {
      let k = 0;
      while (!stop) {
        libAcks.push(publisher.c.publish('lib.a', { lib: k++ }));
        await sleep(40);
      }
    })();

    await sleep(1000);
    /* SIGKILL the worker that holds the publisher's connection. */
    const victimSlot = onWorker.get(publisher);
    const victim = d.ctl(['workers']).workers.find((w) => w.id === victimSlot).pid;
    process.kill(victim, 'SIGKILL');
    const moved = clients.filter((t) => onWorker.get(t) === victimSlot);
    await waitFor(() => moved.every((t) => t.c.state === 'connected' && !t.c.resuming && t.c.session.conn !== undefined), {
      timeoutMs: 15000,
      what: 'the killed worker’s clients back',
    });
    await sleep(1000);

    /* Drain the daemon, and start it again on the same port and state. */
    const port = d.port;
    await d.stop();
    d = null;
    d2 = await startWsd({ workers: 2, config: { ...config, listen: `127.0.0.1:${port}` } });
    /* d2 listens on `port` (d2.port is the harness's unused pick). */
    daemonPort = port;
    adminPort = d2.adminPort;
    await waitFor(() => clients.every((t) => t.c.state === 'connected' && !t.c.resuming), { timeoutMs: 20000, what: 'every client back after the restart' });
    await sleep(1000);
    stop = true;
    await adminLoop;
    await libLoop;
    const acks = await Promise.all(libAcks);

    /* Every client ends at each room's last seq, having seen every seq once. */
    const last = Object.fromEntries(d2.ctl(['rooms']).rooms.filter((r) => ROOMS.includes(r.name)).map((r) => [r.name, r.seq]));
    for (const r of ROOMS) assert.ok(last[r] >= acked[r], `room ${r}: last ${last[r]}, acked ${acked[r]}`);
    await waitFor(() => clients.every((t) => t.rooms.every((r) => t.seen[r][t.seen[r].length - 1] === last[r])), {
      timeoutMs: 15000,
      what: 'every client caught up',
    }).catch(() => {});
    const summary = `last ${JSON.stringify(last)}; ${libAcks.length} library publishes; ${moved.length} clients on the killed worker`;
    ctx.diagnostic(summary);
    for (const [i, t] of clients.entries()) {
      for (const r of t.rooms) {
        const s = t.seen[r];
        const want = Array.from({ length: last[r] }, (_, k) => k + 1);
        assert.deepEqual(s, want, `client ${i} room ${r}: ${s.length} messages, first ${s.slice(0, 3)}, last ${s.slice(-3)} (${summary})`);
      }
      assert.deepEqual(t.notes, [], `client ${i} was told of losses`);
    }
    /* Library publishes: all acknowledged with distinct seqs (a resend is
     * not delivered twice), and lib.a subscribers saw each once. */
    const seqs = acks.map((a) => a.seq);
    assert.equal(new Set(seqs).size, seqs.length, 'distinct seqs');
    assert.equal(new Set(acks.map((a) => a.id)).size, acks.length, 'distinct ids');
    ctx.diagnostic(`epochs kept: ${JSON.stringify(d2.ctl(['rooms']).rooms.filter((r) => ROOMS.includes(r.name)).map((r) => r.epoch))}`);
    if (sse) {
      /* Each went over SSE, and the daemon has them as event streams. */
      for (const [i, t] of clients.entries()) assert.equal(t.transport, 'sse', `client ${i} fell back to SSE`);
      const conns = d2.ctl(['conns']).conns;
      assert.ok(conns.length >= clients.length && conns.every((c) => c.transport === 'sse'), JSON.stringify(conns.map((c) => c.transport)));
    }
  });
});
}

killAndRestart('wsd-client: every message once and in order across a worker kill and a daemon restart', { sse: false });
killAndRestart('wsd-client over the SSE fallback (a proxy refuses upgrades): the same, every message once and in order', { sse: true });

describe('wsd-client: reconnects, tokens and terminal codes', () => {
  const SECRET = 'client-lib-secret-1';
  let d;
  const opened = [];
  before(async () => {
    d = await startWsd({ workers: 1, config: { jwt_secret: SECRET } });
  });
  after(
    async () => {
      for (const c of opened) c.close();
      if (d) await d.stop();
    },
    { timeout: 15000 },
  );

  it('reconnect delays grow with the attempts and are jittered', { timeout: 30000 }, async () => {
    const [port] = await freePorts(1);
    const base = 40;
    const cap = 2560;
    const c = new WsdClient(`ws://127.0.0.1:${port}/ws`, { WebSocket, transport: 'websocket', backoff: { baseMs: base, capMs: cap, maxAttempts: 8 }, autoConnect: false });
    opened.push(c);
    const starts = [];
    const planned = [];
    c.on('state', (s) => s === 'connecting' && starts.push(Date.now()));
    c.on('reconnecting', (r) => planned.push(r.delayMs));
    c.on('error', () => {});
    c.connect();
    await waitFor(() => c.state === 'closed', { timeoutMs: 25000, what: 'the client to give up' });
    assert.equal(starts.length, 9, 'the first attempt and 8 more');
    const gaps = starts.slice(1).map((t, i) => t - starts[i]);
    for (let i = 0; i < gaps.length; i++) {
      const bound = Math.min(cap, base * 2 ** i);
      assert.ok(planned[i] >= 0 && planned[i] < bound, `attempt ${i}: delay ${planned[i]} in [0, ${bound})`);
      /* The measured gap is the delay plus a refused connect. */
      assert.ok(gaps[i] >= planned[i] - 5 && gaps[i] < planned[i] + 500, `attempt ${i}: gap ${gaps[i]} ms for a delay of ${planned[i]}`);
    }
    const early = gaps.slice(0, 3).reduce((a, b) => a + b, 0);
    const late = gaps.slice(5).reduce((a, b) => a + b, 0);
    assert.ok(late > early, `later waits longer: ${gaps.join(', ')} ms`);
    /* Jitter: the delays are not a fixed share of their bound. */
    const shares = planned.map((p, i) => p / Math.min(cap, base * 2 ** i));
    assert.ok(Math.max(...shares) - Math.min(...shares) > 0.1, `jittered: shares ${shares.map((x) => x.toFixed(2)).join(', ')}`);
  });

  it('a 401 for an expired token calls the token callback once, then connects', { timeout: 20000 }, async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = mintToken(SECRET, { sub: 'lib-user', iat: now - 7200, exp: now - 3600 });
    let calls = 0;
    const c = new WsdClient(d.url, {
      WebSocket,
      token: expired,
      getToken: () => {
        calls++;
        return mintToken(SECRET, { sub: 'lib-user' });
      },
    });
    opened.push(c);
    const errors = [];
    c.on('error', (e) => errors.push(e));
    await waitFor(() => c.state === 'connected' && c.session, { what: 'connected with the new token' });
    assert.equal(calls, 1);
    assert.equal(c.session.user, 'lib-user');
    assert.equal(errors.length, 1);
    assert.equal(errors[0].code, 401);
  });

  it('a close with 4500 stops it with an error, and it does not reconnect', { timeout: 20000 }, async () => {
    const c = new WsdClient(d.url, { WebSocket, backoff: { baseMs: 50, capMs: 100 }, autoConnect: false });
    opened.push(c);
    let attempts = 0;
    c.on('state', (s) => s === 'connecting' && attempts++);
    const failed = new Promise((resolve) => c.on('error', resolve));
    c.connect();
    await waitFor(() => c.state === 'connected' && c.session, { what: 'connected' });
    d.ctl(['kick', '--conn', String(c.session.conn), '--code', '4500', '--reason', 'token invalid']);
    const err = await failed;
    assert.equal(err.code, 4500);
    assert.match(err.message, /4500/);
    await sleep(1000);
    assert.equal(c.state, 'closed');
    assert.equal(attempts, 1, 'no attempt after the 4500');
    await assert.rejects(c.publish('after.stop', 1), (e) => e.code === 'closed');
  });

  it('a presence refused for a room it is joining or in leaves the room alone', { timeout: 10000 }, async () => {
    /* presence.query is empty here: every presence is forbidden, with the
     * room as the ref, as a refused subscribe of it would be. */
    const c = new WsdClient(d.url, { WebSocket });
    opened.push(c);
    const got = [];
    await waitFor(() => c.state === 'connected' && c.session, { what: 'connected' });
    const sub = c.subscribe('pres.a', (m) => got.push(m.data));
    const early = c.presence('pres.a'); /* sent only once the subscribe is answered */
    await assert.rejects(early, (e) => e.code === 'forbidden' && e.ref === 'pres.a');
    assert.equal((await sub).room, 'pres.a');
    await assert.rejects(c.presence('pres.a'), (e) => e.code === 'forbidden');
    assert.ok(c.rooms.has('pres.a'), 'the room is still subscribed');
    await adminPublish(d.adminPort, 'pres.a', 'still here');
    await waitFor(() => got.length === 1, { what: 'the room still delivers' });
    assert.deepEqual(got, ['still here']);
  });

  it('the queue of publishes waiting for their ack is bounded', { timeout: 10000 }, async () => {
    const c = new WsdClient(d.url, { WebSocket, offlineQueue: 2, autoConnect: false });
    opened.push(c);
    const a = c.publish('q', 1);
    const b = c.publish('q', 2);
    await assert.rejects(c.publish('q', 3), (e) => e.code === 'queue_full');
    /* Once connected, the two that waited go out and are acknowledged. */
    c.connect();
    const [x, y] = await Promise.all([a, b]);
    assert.equal(y.seq, x.seq + 1);
  });
});
