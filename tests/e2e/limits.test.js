'use strict';
/*
 * Connection limits per client address, across both workers, and
 * trusted proxies: a connection from a trusted proxy is the client its
 * X-Forwarded-For or Forwarded header names (limited and listed by that
 * address); one from any other peer is the peer, whatever it claims. Each
 * refusal is counted by the limit it hit. A bad trusted_proxies entry is
 * refused by the config check, naming it.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startWsd, WSD_BIN, waitFor, mintToken } = require('./harness');
const { openUntil } = require('./tracked');

const T = { timeout: 30000 };
const PER_ADDRESS = 3;

/* Opens a connection from localAddress with headers; resolves with
 * { ws, welcome } or { status, retryAfter } when the upgrade is refused. */
const open = (url, { localAddress = '127.0.0.1', headers = {} } = {}) =>
  openUntil(url, (m) => m.length > 0, { localAddress, headers });

/*
 * Closes and reopens the last of opened (connections with a welcome) until
 * they are on both workers, so that a limit that holds afterwards is held
 * by the supervisor's count of the whole daemon, not by one worker's.
 */
async function spreadOverWorkers(d, opened, openOne) {
  const workerOf = (r) => d.ctl(['conn', r.welcome.conn]).conn.worker;
  for (let i = 0; i < 40 && new Set(opened.map(workerOf)).size < 2; i++) {
    const gone = opened.pop();
    gone.ws.close();
    await waitFor(() => !d.ctl(['conns']).conns.some((x) => x.id === gone.welcome.conn), { what: 'the close' });
    const again = await openOne();
    assert.ok(again.ws, `status ${again.status}`);
    opened.push(again);
  }
  assert.equal(new Set(opened.map(workerOf)).size, 2, 'the connections are on both workers');
}

describe('limits.max_connections_per_address and trusted_proxies', () => {
  let d;
  const opened = [];

  before(async () => {
    d = await startWsd({
      workers: 2,
      config: { limits: { max_connections_per_address: PER_ADDRESS }, trusted_proxies: ['127.0.0.2', '10.0.0.0/8'] },
    });
  });
  after(async () => {
    for (const c of opened) if (c.ws) c.ws.terminate();
    if (d) await d.stop();
  });

  async function openAll(n, opts) {
    const out = [];
    for (let i = 0; i < n; i++) {
      const r = await open(d.url, opts);
      if (r.ws) opened.push(r);
      out.push(r);
    }
    return out;
  }

  const addrOf = (r) => d.ctl(['conn', r.welcome.conn]).conn.addr;

  it('holds for one address across both workers, with 429 and Retry-After', T, async () => {
    const ok = await openAll(PER_ADDRESS, {});
    assert.ok(ok.every((r) => r.ws), JSON.stringify(ok.map((r) => r.status)));
    /* The limit is then held by the supervisor's count, not by one worker's. */
    await spreadOverWorkers(d, ok, () => openAll(1, {}).then((r) => r[0]));
    const [over] = await openAll(1, {});
    assert.equal(over.status, 429);
    assert.equal(over.retryAfter, '5');
    /* Another address is not held back. */
    const [other] = await openAll(1, { localAddress: '127.0.0.3' });
    assert.ok(other.ws);
    const st = d.ctl(['stats']).stats;
    assert.equal(st.refused_per_address, 1);
    /* One goes: one more may come. */
    ok[0].ws.close();
    await waitFor(() => d.ctl(['stats']).stats.connections === PER_ADDRESS, { what: 'the close' });
    const [again] = await openAll(1, {});
    assert.ok(again.ws, `status ${again.status}`);
  });

  it('behind a trusted proxy, the forwarded client is the one limited and listed', T, async () => {
    const xff = { localAddress: '127.0.0.2', headers: { 'X-Forwarded-For': '6.6.6.6, 198.51.100.7' } };
    const ok = await openAll(PER_ADDRESS, xff);
    assert.ok(ok.every((r) => r.ws));
    assert.equal(addrOf(ok[0]), '198.51.100.7:0');
    const [over] = await openAll(1, xff);
    assert.equal(over.status, 429);
    /* Another client behind the same proxy is not. */
    const [other] = await openAll(1, { localAddress: '127.0.0.2', headers: { 'X-Forwarded-For': '[2001:db8::9]:443' } });
    assert.ok(other.ws);
    assert.equal(addrOf(other), '[2001:db8::9]:0');
    /* A Forwarded header the client wrote itself is not read: the proxies
     * set X-Forwarded-For (trusted_proxies_header). */
    const [spoof] = await openAll(1, {
      localAddress: '127.0.0.2',
      headers: { 'X-Forwarded-For': '198.51.100.20', Forwarded: 'for=203.0.113.99' },
    });
    assert.ok(spoof.ws);
    assert.equal(addrOf(spoof), '198.51.100.20:0');
  });

  it('from an untrusted peer, the forwarding headers are ignored', T, async () => {
    const spoof = { localAddress: '127.0.0.4', headers: { 'X-Forwarded-For': '203.0.113.50' } };
    const ok = await openAll(PER_ADDRESS, spoof);
    assert.ok(ok.every((r) => r.ws));
    assert.match(addrOf(ok[0]), /^127\.0\.0\.4:\d+$/);
    /* Changing the claimed address does not get past the peer's limit. */
    const [over] = await openAll(1, { localAddress: '127.0.0.4', headers: { 'X-Forwarded-For': '203.0.113.51' } });
    assert.equal(over.status, 429);
  });

  it('counts refusals by the limit they hit, in stats and /metrics', T, async () => {
    const st = d.ctl(['stats']).stats;
    assert.equal(st.refused_per_address, 3);
    assert.equal(st.refused_per_user, 0);
    assert.equal(st.refused_max_connections, 0);
    const res = await fetch(`http://127.0.0.1:${d.adminPort}/metrics`);
    const text = await res.text();
    assert.match(text, /^wsd_connections_refused_by_total\{reason="per_address"\} 3$/m);
  });
});

/*
 * limits.max_connections (the whole daemon) and
 * limits.max_connections_per_user, with the connections that fill them on
 * both workers at once: the one over gets 503 or 429 with Retry-After,
 * whichever worker it reaches, and is counted by its cause.
 */
describe('limits.max_connections and max_connections_per_user across both workers', () => {
  const SECRET = 'e2e-limits-secret-5b1e7d';
  const GLOBAL = 4;
  const PER_USER = 2;
  let d;
  const opened = [];

  before(async () => {
    d = await startWsd({
      workers: 2,
      config: { jwt_secret: SECRET, limits: { max_connections: GLOBAL, max_connections_per_user: PER_USER } },
    });
  });
  after(async () => {
    for (const c of opened) if (c.ws) c.ws.terminate();
    if (d) await d.stop();
  });

  const urlFor = (user) => `${d.url}?token=${encodeURIComponent(mintToken(SECRET, { sub: user, exp: Math.floor(Date.now() / 1000) + 600 }))}`;
  const openAs = async (user) => {
    const r = await open(user ? urlFor(user) : d.url);
    if (r.ws) opened.push(r);
    return r;
  };
  const closeAll = async (list) => {
    for (const r of list) r.ws.close();
    await waitFor(() => d.ctl(['stats']).stats.connections === 0, { what: 'every close' });
  };

  it('a user over max_connections_per_user gets 429 on either worker', T, async () => {
    const mine = [await openAs('alice'), await openAs('alice')];
    assert.ok(mine.every((r) => r.ws), JSON.stringify(mine.map((r) => r.status)));
    await spreadOverWorkers(d, mine, () => openAs('alice'));
    /* Several tries, so that both workers get to refuse one. */
    for (let i = 0; i < 4; i++) {
      const over = await openAs('alice');
      assert.equal(over.status, 429);
      assert.equal(over.retryAfter, '5');
    }
    const bob = await openAs('bob');
    assert.ok(bob.ws, `status ${bob.status}`);
    const st = d.ctl(['stats']).stats;
    assert.equal(st.refused_per_user, 4);
    assert.equal(st.refused_max_connections, 0);
    assert.equal(d.ctl(['conns', '--user', 'alice']).total, PER_USER);
    await closeAll([...mine, bob]);
  });

  it('the daemon over max_connections gets 503 on either worker', T, async () => {
    const all = [];
    for (let i = 0; i < GLOBAL; i++) all.push(await openAs(null));
    assert.ok(all.every((r) => r.ws), JSON.stringify(all.map((r) => r.status)));
    await spreadOverWorkers(d, all, () => openAs(null));
    for (let i = 0; i < 4; i++) {
      const over = await openAs(`user-${i}`);
      assert.equal(over.status, 503);
      assert.equal(over.retryAfter, '5');
    }
    const st = d.ctl(['stats']).stats;
    assert.equal(st.connections, GLOBAL);
    assert.equal(st.refused_max_connections, 4);
    /* One goes: one more may come, and no more. */
    all[0].ws.close();
    await waitFor(() => d.ctl(['stats']).stats.connections === GLOBAL - 1, { what: 'the close' });
    assert.ok((await openAs(null)).ws);
    assert.equal((await openAs(null)).status, 503);
  });
});

describe('trusted_proxies in the config check', () => {
  it('a bad entry is refused, naming it', T, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsd-e2e-limits-'));
    try {
      const conf = path.join(dir, 'wsd.conf');
      fs.writeFileSync(conf, 'trusted_proxies = ["10.0.0.0/8", "10.0.0.0/40"];\n');
      const r = childProcess.spawnSync(WSD_BIN, ['-t', '-c', conf], { encoding: 'utf8' });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /trusted_proxies: element 2 \("10\.0\.0\.0\/40"\): the prefix length/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/*
 * trusted_proxies_header = "proxy-protocol": a trusted proxy opens each
 * connection with a PROXY header (v1 text or v2 binary), and the client it
 * names is the one listed and limited; without one it gets 400, and a
 * peer that is not trusted cannot send one.
 */
describe('the PROXY protocol', () => {
  const net = require('node:net');
  let d;

  before(async () => {
    d = await startWsd({ workers: 1, config: { trusted_proxies: ['127.0.0.2'], trusted_proxies_header: 'proxy-protocol' } });
  });
  after(async () => {
    if (d) await d.stop();
  });

  const upgrade = 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

  /* Sends prefix + upgrade from localAddress; resolves with the status and
   * the welcome's conn id (when 101). */
  function raw(localAddress, prefix) {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port: d.port, localAddress });
      let buf = Buffer.alloc(0);
      const t = setTimeout(() => {
        s.destroy();
        reject(new Error(`no answer: ${buf.toString('latin1').slice(0, 80)}`));
      }, 3000);
      s.on('connect', () => s.write(Buffer.concat([Buffer.from(prefix), Buffer.from(upgrade)])));
      s.on('data', (b) => {
        buf = Buffer.concat([buf, b]);
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const status = Number(buf.toString('latin1').split(' ')[1]);
        if (status !== 101) {
          clearTimeout(t);
          s.destroy();
          resolve({ status });
          return;
        }
        const f = buf.subarray(end + 4);
        if (f.length < 4) return;
        const len7 = f[1] & 0x7f;
        const hl = len7 === 126 ? 4 : 2;
        const len = len7 === 126 ? f.readUInt16BE(2) : len7;
        if (f.length < hl + len) return;
        clearTimeout(t);
        const welcome = JSON.parse(f.subarray(hl, hl + len).toString());
        resolve({ status, conn: welcome.conn, sock: s });
      });
      s.on('error', () => {});
    });
  }

  it('reads the client from a v1 or v2 header of a trusted proxy', { timeout: 20000 }, async () => {
    const v1 = await raw('127.0.0.2', 'PROXY TCP4 198.51.100.5 127.0.0.1 5555 80\r\n');
    assert.equal(v1.status, 101);
    assert.equal(d.ctl(['conn', v1.conn]).conn.addr, '198.51.100.5:0');
    const v2 = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0x00, 0x0c, 192, 0, 2, 77, 127, 0, 0, 1, 0x15, 0xb3, 0, 80]);
    const r2 = await raw('127.0.0.2', v2);
    assert.equal(r2.status, 101);
    assert.equal(d.ctl(['conn', r2.conn]).conn.addr, '192.0.2.77:0');
    v1.sock.destroy();
    r2.sock.destroy();
  });

  it('refuses a trusted proxy without one, and anyone else who sends one', { timeout: 20000 }, async () => {
    assert.equal((await raw('127.0.0.2', '')).status, 400);
    assert.equal((await raw('127.0.0.1', 'PROXY TCP4 198.51.100.5 127.0.0.1 5555 80\r\n')).status, 400);
    /* An ordinary client of an untrusted peer is served as usual. */
    const plain = await raw('127.0.0.1', '');
    assert.equal(plain.status, 101);
    assert.match(d.ctl(['conn', plain.conn]).conn.addr, /^127\.0\.0\.1:\d+$/);
    plain.sock.destroy();
  });
});
