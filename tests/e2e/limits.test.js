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
const { startWsd, WSD_BIN, waitFor } = require('./harness');
const { openUntil } = require('./tracked');

const T = { timeout: 30000 };
const PER_ADDRESS = 3;

/* Opens a connection from localAddress with headers; resolves with
 * { ws, welcome } or { status, retryAfter } when the upgrade is refused. */
const open = (url, { localAddress = '127.0.0.1', headers = {} } = {}) =>
  openUntil(url, (m) => m.length > 0, { localAddress, headers });

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
    const workerOf = (r) => d.ctl(['conn', r.welcome.conn]).conn.worker;
    const ok = await openAll(PER_ADDRESS, {});
    assert.ok(ok.every((r) => r.ws), JSON.stringify(ok.map((r) => r.status)));
    /* Until the address's connections are on both workers: the limit is
     * then held by the supervisor's count, not by one worker's. */
    for (let i = 0; i < 40 && new Set(ok.map(workerOf)).size < 2; i++) {
      const gone = ok.pop();
      gone.ws.close();
      await waitFor(() => !d.ctl(['conns']).conns.some((x) => x.id === gone.welcome.conn), { what: 'the close' });
      const [again] = await openAll(1, {});
      assert.ok(again.ws, `status ${again.status}`);
      ok.push(again);
    }
    assert.equal(new Set(ok.map(workerOf)).size, 2, 'the connections are on both workers');
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
