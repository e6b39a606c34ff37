'use strict';
/*
 * Process names and signals: the supervisor and each worker have their
 * own names in ps (and `pidof wsd` finds only supervisors), a SIGHUP,
 * SIGUSR1 or SIGUSR2 sent to a worker by mistake ends nothing, the user
 * signals do not kill the supervisor, and a SIGTERM sent to one worker
 * drains only that worker: its clients get `shutdown` with a resume token
 * and then 1001, and resume elsewhere while the slot is refilled (not
 * counted as a crash).
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const { startWsd, connectWelcomed, sleep, waitFor, stopCleanly } = require('./harness');

const T = { timeout: 30000 };

const comm = (pid) => fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();

describe('process names and signals', () => {
  let d;

  before(async () => {
    d = await startWsd({ workers: 2, config: { sessions: { keys: ['s1:0f1e2d3c4b5a69788796a5b4c3d2e1f0'] } } });
  });
  after(async () => {
    if (d) await stopCleanly(d);
  });

  /* Clients until both workers hold one; returns them by worker. */
  async function onBoth() {
    const by = new Map();
    for (let i = 0; i < 40 && by.size < 2; i++) {
      const c = await connectWelcomed(d.url);
      c.worker = d.ctl(['conn', c.welcome.conn]).conn.worker;
      if (!by.has(c.worker)) by.set(c.worker, c);
      else c.close();
    }
    assert.equal(by.size, 2, 'clients on both workers');
    return by;
  }

  it('names the processes', T, () => {
    assert.equal(comm(d.pid), 'wsd: supervisor');
    const workers = d.ctl(['workers']).workers;
    for (const w of workers) {
      assert.equal(comm(w.pid), `wsd: worker ${w.id}`);
      const argv0 = fs.readFileSync(`/proc/${w.pid}/cmdline`, 'utf8').split('\0')[0];
      assert.equal(argv0, `wsd: worker ${w.id}`);
    }
    let found = [];
    try {
      found = childProcess.execFileSync('pidof', ['wsd'], { encoding: 'utf8' }).trim().split(/\s+/).map(Number);
    } catch (_) {
      /* no pidof, or none found */
    }
    if (found.length > 0) {
      assert.ok(found.includes(d.pid), 'pidof wsd finds the supervisor');
      for (const w of workers) assert.ok(!found.includes(w.pid), 'pidof wsd does not find workers');
    }
  });

  it('ends nothing on HUP, USR1 or USR2 sent to a worker, or USR1/USR2 to the supervisor', T, async () => {
    const by = await onBoth();
    const before = d.ctl(['workers']).workers.map((w) => w.pid);
    for (const pid of before) for (const sig of ['SIGHUP', 'SIGUSR1', 'SIGUSR2']) process.kill(pid, sig);
    process.kill(d.pid, 'SIGUSR1');
    process.kill(d.pid, 'SIGUSR2');
    await sleep(300);
    assert.deepEqual(d.ctl(['workers']).workers.map((w) => w.pid), before);
    for (const c of by.values()) {
      assert.ok(c.isOpen);
      c.send({ type: 'ping' });
      await c.next('pong');
      c.close();
    }
  });

  it('a TERM to one worker drains only its clients, who resume', T, async () => {
    const by = await onBoth();
    const victim = d.ctl(['workers']).workers.find((w) => w.id === 0);
    const gone = by.get(0);
    const stays = by.get(1);
    for (const c of by.values()) c.send({ type: 'subscribe', room: 'sig' });
    for (const c of by.values()) await c.next('subscribed');
    process.kill(victim.pid, 'SIGTERM');
    const bye = await gone.next('shutdown');
    assert.ok(bye.resume_token, 'a resume token');
    assert.ok(bye.reconnect_after_ms >= 0 && bye.reconnect_after_ms < 10000, 'a delay within drain.spread_ms');
    assert.equal((await gone.waitClose()).code, 1001);
    d.ctl(['publish', 'sig', '"while away"']);
    assert.equal((await stays.nextIn('sig')).data, 'while away');
    await waitFor(() => d.ctl(['workers']).workers.some((w) => w.id === 0 && w.state === 'ready' && w.pid !== victim.pid), {
      timeoutMs: 5000,
      what: 'slot 0 refilled',
    });
    const back = await connectWelcomed(d.url);
    back.send({ type: 'resume', token: bye.resume_token, rooms: { sig: 0 } });
    const r = await back.next('resumed');
    assert.equal(r.user, gone.welcome.user);
    assert.equal((await back.nextIn('sig')).data, 'while away');
    assert.ok(stays.isOpen);
    const slot = d.ctl(['workers']).workers.find((w) => w.id === 0);
    assert.equal(slot.crash_loop, false);
    assert.match(d.log(), /"event":"worker_draining","worker":0,"worker_pid":\d+,"conns":1\}/);
    back.close();
    stays.close();
  });
});

/* One worker, so that every half-open handshake is on it. */
describe('a handshake during a worker drain', () => {
  let d;

  before(async () => {
    d = await startWsd({ workers: 1 });
  });
  after(async () => {
    if (d) await stopCleanly(d);
  });

  it('that ends after its worker began to drain gets 503 with Retry-After', T, async () => {
    const victim = d.ctl(['workers']).workers.find((w) => w.id === 0);
    const head = 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n';
    const rest = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
    const socks = [];
    for (let i = 0; i < 4; i++) {
      const s = net.connect(d.port, '127.0.0.1');
      await new Promise((res) => s.once('connect', res));
      s.write(head);
      s.data = '';
      s.on('data', (b) => (s.data += b.toString('latin1')));
      s.on('error', () => {});
      socks.push(s);
    }
    await sleep(100); /* the worker has read the heads */
    process.kill(victim.pid, 'SIGTERM');
    await waitFor(() => d.log().includes(`\"event\":\"worker_draining\",\"worker\":0,\"worker_pid\":${victim.pid},`), { what: 'worker 0 draining' });
    for (const s of socks) s.write(rest);
    await waitFor(() => socks.every((s) => /\r\n\r\n/.test(s.data)), { what: 'every handshake answered' });
    for (const s of socks) {
      assert.match(s.data, /^HTTP\/1\.1 503 /, s.data.split('\r\n')[0]);
      assert.match(s.data, /\r\nRetry-After: \d+\r\n/i);
      s.destroy();
    }
    /* It then goes at once, not at drain.timeout_ms. */
    await waitFor(() => d.ctl(['workers']).workers.some((w) => w.id === 0 && w.state === 'ready' && w.pid !== victim.pid), {
      timeoutMs: 5000,
      what: 'slot 0 refilled',
    });
  });
});
