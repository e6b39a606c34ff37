'use strict';
/*
 * The admin API with a key (admin.key): every read wsctl has, asked both
 * ways (`wsctl --json` and GET /api/CMD with query-string arguments)
 * against the same state, must give the same JSON; actions go as POST
 * with a JSON body; unknown commands are 404, malformed arguments 400;
 * without the key, or with a wrong one, 401. And the listener may only go
 * beyond loopback with a key.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { startWsd, connectWelcomed, mintToken, waitFor, freePorts, renderConfig, WSD_BIN, pidAlive } = require('./harness');

const T = { timeout: 30000 };
const KEY = 'e2e-admin-key-7f3a9c1d2b';
const SECRET = 'e2e-admin-jwt-secret';
/* Fields that move between two calls made a moment apart. */
const MOVING = new Set(['uptime_s', 'age_s', 'idle_s', 'last_seen', 'expires_s', 'rtt_ms', 'rate_in', 'rate_out']);

const steady = (v) =>
  Array.isArray(v)
    ? v.map(steady)
    : v && typeof v === 'object'
      ? Object.fromEntries(
          Object.entries(v)
            .filter(([k]) => !MOVING.has(k))
            .map(([k, x]) => [k, steady(x)]),
        )
      : v;

describe('the admin API with admin.key', () => {
  let d;
  const clients = [];
  let base;

  before(async () => {
    d = await startWsd({ workers: 2, config: { jwt_secret: SECRET, admin: { key: KEY } } });
    base = `http://127.0.0.1:${d.adminPort}`;
    for (const user of ['alice', 'alice', 'bob']) {
      const t = mintToken(SECRET, { sub: user });
      const c = await connectWelcomed(`${d.url}?token=${encodeURIComponent(t)}`);
      c.send({ type: 'subscribe', room: 'r1' });
      await c.next('subscribed');
      clients.push(c);
    }
    await waitFor(() => d.ctl(['room', 'r1']).room.members.length === 3, { what: 'three members' });
  });
  after(async () => {
    for (const c of clients) c.terminate();
    if (d) await d.stop();
  });

  const get = (p, key = KEY) => fetch(base + p, { headers: key ? { Authorization: `Bearer ${key}` } : {} });
  const post = (p, body, key = KEY) =>
    fetch(base + p, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(key ? { Authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify(body),
    });

  it('every read gives the same JSON as wsctl --json', T, async () => {
    const conn = clients[0].welcome.conn;
    const token = mintToken(SECRET, { sub: 'carol' });
    const pairs = [
      [['status'], '/api/status'],
      [['workers'], '/api/workers'],
      [['conns'], '/api/conns'],
      [['conns', '--user', 'alice'], '/api/conns?user=alice'],
      [['conns', '--room', 'r1', '--limit', '1'], '/api/conns?room=r1&limit=1'],
      [['conns', '--worker', '1'], '/api/conns?worker=1'],
      [['conn', String(conn)], `/api/conn?id=${conn}`],
      [['rooms'], '/api/rooms'],
      [['room', 'r1'], '/api/room?name=r1'],
      [['sessions', '--user', 'alice'], '/api/sessions?user=alice'],
      [['stats'], '/api/stats'],
      [['top', '--by', 'queue', '--limit', '2'], '/api/top?by=queue&limit=2'],
      [['checktoken', token], `/api/checktoken?token=${encodeURIComponent(token)}`],
    ];
    for (const [args, url] of pairs) {
      const viaCtl = d.ctl(args);
      const res = await get(url);
      assert.equal(res.status, 200, url);
      const viaApi = await res.json();
      assert.deepEqual(steady(viaApi), steady(viaCtl), url);
    }
    /* The filters did filter. */
    assert.equal(d.ctl(['conns', '--user', 'alice']).total, 2);
    assert.equal((await (await get('/api/conns?room=r1&limit=1')).json()).conns.length, 1);
  });

  it('actions go as POST with a JSON body', T, async () => {
    const before = d.ctl(['room', 'r1']).room.seq;
    const res = await post('/api/publish', { room: 'r1', data: { n: 1 } });
    assert.equal(res.status, 200);
    const r = await res.json();
    assert.equal(r.ok, true);
    assert.equal(r.seq, before + 1);
    for (const c of clients) assert.deepEqual((await c.next('message')).data, { n: 1 });
    /* send to a user, send to one connection, broadcast with exclude. */
    const su = await (await post('/api/send', { user: 'alice', data: { to: 'alice' } })).json();
    assert.equal(su.ok, true);
    assert.equal(su.room, 'user:alice');
    for (const c of clients.slice(0, 2)) assert.deepEqual((await c.nextIn('user:alice', 5000)).data, { to: 'alice' });
    const target = clients[2].welcome.conn;
    const sc = await (await post('/api/send', { conn: target, data: { to: 'bob' } })).json();
    assert.equal(sc.ok, true);
    assert.equal(sc.conn, target);
    assert.deepEqual((await clients[2].nextIn(null, 5000)).data, { to: 'bob' });
    const b = await (await post('/api/broadcast', { data: { all: 1 }, exclude: clients[0].welcome.conn })).json();
    assert.equal(b.ok, true);
    for (const c of clients.slice(1)) {
      const m = await c.nextIn('*', 5000);
      assert.equal(m.seq, b.seq);
      assert.deepEqual(m.data, { all: 1 });
    }
    /* A refused action is 400 with ok false; a body that is not an object too. */
    const bad = await post('/api/send', { user: 'alice' });
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).ok, false);
    const notObj = await post('/api/publish', [1, 2]);
    assert.equal(notObj.status, 400);
    assert.equal((await notObj.json()).ok, false);
    const k = await post('/api/kick', { conn: clients[2].welcome.conn, code: 4003 });
    assert.equal((await k.json()).kicked, 1);
    assert.equal((await clients[2].waitClose(5000)).code, 4003);
    /* A read sent as GET to an action is not run. */
    assert.equal((await get('/api/publish?room=r1')).status, 405);
  });

  it('unknown commands are 404 and malformed arguments 400, with ok false', T, async () => {
    const plain = await fetch(`${base}/api/nope`, { method: 'POST', headers: { Authorization: `Bearer ${KEY}` }, body: 'x' });
    for (const res of [await get('/api/nope'), await post('/api/nope', {}), plain]) {
      assert.equal(res.status, 404);
      assert.deepEqual(await res.json(), { ok: false, error: 'unknown command nope' });
    }
    const cases = [
      ['/api/conn?id=abc', 'id must be a non-negative integer'],
      ['/api/conns?limit=-3', 'limit must be a non-negative integer'],
      ['/api/conns?colour=red', 'unknown argument colour'],
      ['/api/conns?user=a&user=b', 'user is given twice'],
      ['/api/room?name=%zz', 'a bad %-escape in the query'],
    ];
    for (const [url, why] of cases) {
      const res = await get(url);
      assert.equal(res.status, 400, url);
      assert.deepEqual(await res.json(), { ok: false, error: why }, url);
    }
    /* A command's own refusal is 400 too. */
    const res = await get('/api/room?name=no-such-room');
    assert.equal(res.status, 400);
    assert.equal((await res.json()).ok, false);
  });

  it('without the key, or with a wrong one, 401; /health and the page stay open', T, async () => {
    for (const p of ['/api/status', '/api/conns?user=alice', '/metrics', '/ready']) {
      for (const key of [null, 'not-the-key-at-all', `${KEY}x`, KEY.slice(0, -1)]) {
        const res = await get(p, key);
        assert.equal(res.status, 401, `${p} with ${key}`);
        assert.match(res.headers.get('www-authenticate'), /^Bearer/);
        const body = await res.json();
        assert.equal(body.ok, false);
        assert.ok(!JSON.stringify(body).includes(KEY));
      }
    }
    assert.equal((await post('/api/publish', { room: 'r1', data: 1 }, null)).status, 401);
    assert.equal((await get('/health', null)).status, 200);
    assert.equal((await get('/', null)).status, 200);
    assert.equal((await get('/metrics')).status, 200);
    assert.ok(!d.log().includes(KEY), 'the key is not logged');
  });

  it('reads a header that comes in pieces, one per read', T, async () => {
    /* The name and the value of Authorization and Content-Type split
     * across TCP segments, a moment apart so each is its own read. */
    const body = JSON.stringify({ room: 'r1', data: { split: 1 } });
    const pieces = [
      'POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthor',
      `ization: Bearer ${KEY.slice(0, 5)}`,
      `${KEY.slice(5)}\r\nContent-`,
      'Type: applica',
      `tion/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    ];
    const raw = await new Promise((resolve, reject) => {
      const sock = net.connect({ port: d.adminPort, host: '127.0.0.1' });
      const got = [];
      sock.setNoDelay(true);
      sock.on('data', (x) => got.push(x));
      sock.on('close', () => resolve(Buffer.concat(got).toString('utf8')));
      sock.on('error', reject);
      sock.on('connect', async () => {
        for (const p of pieces) {
          sock.write(p);
          await new Promise((r) => setTimeout(r, 60));
        }
      });
    });
    assert.match(raw, /^HTTP\/1\.1 200 /, raw);
    assert.match(raw, /"ok":true/);
  });
  it('the other actions: token, worker restart, reload, kick --revoke, as wsctl gives them', T, async () => {
    const keys = (o) => Object.keys(o).sort();
    /* token: both mint a JWT the daemon accepts. */
    const viaCtl = d.ctl(['token', '--user', 'dave', '--ttl', '60']);
    const tr = await post('/api/token', { user: 'dave', ttl: 60 });
    assert.equal(tr.status, 200);
    const viaApi = await tr.json();
    assert.deepEqual(keys(viaApi), keys(viaCtl));
    for (const t of [viaApi.token, viaCtl.token]) {
      const c = await (await get(`/api/checktoken?token=${encodeURIComponent(t)}`)).json();
      assert.equal(c.ok, true, JSON.stringify(c));
      assert.equal(c.user, 'dave');
    }
    /* worker restart: the slot comes back ready, through either. */
    const restarted = d.ctl(['worker', 'restart', '0']);
    await waitFor(() => d.ctl(['workers']).workers.every((w) => w.state === 'ready'), { what: 'slot 0 ready again' });
    const wr = await (await post('/api/worker', { action: 'restart', id: 1 })).json();
    assert.deepEqual(keys(wr), keys(restarted));
    assert.equal(wr.id, 1);
    await waitFor(() => d.ctl(['workers']).workers.every((w) => w.state === 'ready'), { timeoutMs: 10000, what: 'slot 1 ready again' });
    /* reload: each makes the next generation and reports the changes. */
    const g = d.ctl(['status']).generation;
    const r1 = d.ctl(['reload']);
    const r2 = await (await post('/api/reload', {})).json();
    assert.deepEqual(keys(r2), keys(r1));
    assert.equal(r1.generation, g + 1);
    assert.equal(r2.generation, g + 2);
    assert.deepEqual(r2.changes, r1.changes);
    /* kick --user --revoke: a user without connections is not an error. */
    const k1 = d.ctl(['kick', '--user', 'nobody-here', '--revoke']);
    const k2 = await (await post('/api/kick', { user: 'nobody-here', revoke: true })).json();
    assert.deepEqual(steady(k2), steady(k1));
  });
});

/* drain, last: the daemon stops. */
describe('POST /api/drain', () => {
  let d;

  before(async () => {
    d = await startWsd({ workers: 1, config: { admin: { key: KEY } } });
  });
  after(async () => {
    if (d) await d.stop();
  });

  it('drains and stops the daemon, as wsctl drain does', T, async () => {
    const res = await fetch(`http://127.0.0.1:${d.adminPort}/api/drain`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ timeout: 2 }),
    });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).ok, true);
    await waitFor(() => !pidAlive(d.pid), { timeoutMs: 15000, what: 'the daemon gone after the drain' });
  });
});

describe('admin_listen 0.0.0.0 with a key and admin.metrics_public', () => {
  let d;
  let base;
  let port;

  before(async () => {
    [port] = await freePorts(1);
    d = await startWsd({
      workers: 1,
      config: { admin_listen: `0.0.0.0:${port}`, admin: { key: KEY, metrics_public: true } },
    });
    base = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    if (d) await d.stop();
  });

  it('starts, and asks for the key on all but /health and /metrics', T, async () => {
    assert.equal((await fetch(`${base}/api/status`)).status, 401);
    const ok = await fetch(`${base}/api/status`, { headers: { Authorization: `Bearer ${KEY}` } });
    assert.equal(ok.status, 200);
    assert.equal((await ok.json()).workers_total, 1);
    assert.equal((await fetch(`${base}/health`)).status, 200);
    const m = await fetch(`${base}/metrics`);
    assert.equal(m.status, 200);
    assert.match(await m.text(), /^# HELP wsd_/m);
    assert.equal((await fetch(`${base}/ready`)).status, 401);
  });

  it('a reload cannot drop the key while the listener stays beyond loopback', T, async () => {
    /* The file moves admin_listen to loopback (a restart key: the running
     * 0.0.0.0 is kept) and drops the key: the reload must fail. */
    const gen = d.ctl(['status']).generation;
    fs.writeFileSync(d.confPath, renderConfig(d.base, { admin_listen: `127.0.0.1:${port}`, admin: { metrics_public: true } }));
    const r = d.ctlResult(['reload']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /admin_listen "0\.0\.0\.0:\d+" is not a loopback address: set admin\.key/);
    assert.equal(d.ctl(['status']).generation, gen);
    assert.equal((await fetch(`${base}/api/status`)).status, 401);
    /* With a new key the same move reloads, and the new key is the one asked for. */
    const key2 = `${KEY}-second`;
    fs.writeFileSync(d.confPath, renderConfig(d.base, { admin_listen: `127.0.0.1:${port}`, admin: { key: key2 } }));
    assert.equal(d.ctlResult(['reload']).status, 0);
    assert.equal((await fetch(`${base}/api/status`, { headers: { Authorization: `Bearer ${KEY}` } })).status, 401);
    assert.equal((await fetch(`${base}/api/status`, { headers: { Authorization: `Bearer ${key2}` } })).status, 200);
    assert.ok(!d.log().includes(key2), 'the new key is not logged');
  });
});

describe('admin_listen beyond loopback', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsd-e2e-admin-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const conf = (extra) => {
    const p = path.join(dir, 'wsd.conf');
    fs.writeFileSync(p, `run_dir = "${dir}/run";\nlisten = "127.0.0.1:0";\nadmin_listen = "0.0.0.0:0";\n${extra}`);
    return p;
  };

  it('is refused without a key, by the check and at start', T, () => {
    const p = conf('');
    const t = childProcess.spawnSync(WSD_BIN, ['-t', '-c', p], { encoding: 'utf8' });
    assert.equal(t.status, 1);
    assert.match(t.stderr, /admin_listen "0\.0\.0\.0:0" is not a loopback address: set admin\.key or admin\.key_file/);
    const s = childProcess.spawnSync(WSD_BIN, ['-c', p], { encoding: 'utf8', timeout: 10000 });
    assert.notEqual(s.status, 0);
    assert.match(s.stderr, /is not a loopback address/);
  });

  it('is accepted with admin.key or admin.key_file; a short key is refused', T, () => {
    assert.equal(childProcess.spawnSync(WSD_BIN, ['-t', '-c', conf(`admin = { key = "${KEY}"; };\n`)]).status, 0);
    const kf = path.join(dir, 'admin.key');
    fs.writeFileSync(kf, `${KEY}\n`, { mode: 0o600 });
    assert.equal(childProcess.spawnSync(WSD_BIN, ['-t', '-c', conf(`admin = { key_file = "${kf}"; };\n`)]).status, 0);
    const short = childProcess.spawnSync(WSD_BIN, ['-t', '-c', conf('admin = { key = "short"; };\n')], { encoding: 'utf8' });
    assert.equal(short.status, 1);
    assert.match(short.stderr, /admin\.key is shorter than 16 bytes/);
    assert.ok(!short.stderr.includes('short"'));
    const missing = childProcess.spawnSync(WSD_BIN, ['-t', '-c', conf(`admin = { key_file = "${dir}/nope"; };\n`)], { encoding: 'utf8' });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /admin\.key_file: cannot read/);
  });
});
