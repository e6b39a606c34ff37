'use strict';
/*
 * The supervisor's registry: after many connects and disconnects of every
 * kind it counts exactly what is open (no ghosts), and wsctl conns / conn /
 * workers / status agree with what the clients were told.
 */

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const { WSCTL_BIN, startWsd, connectWelcomed, rawHttp, RawWs, OP, httpGet, waitFor, pidAlive, stopCleanly } = require('./harness');

const T = { timeout: 30000 };
/*
 * Short heartbeats for the liveness test, on a daemon of its own: wsctl runs
 * synchronously and blocks this process, so the clients held open on the main
 * daemon could not answer short-interval pings in time.
 */
const HB_INTERVAL = 1000;
const HB_TIMEOUT = 1500;
const tick = () => new Promise((r) => setImmediate(r));

let d;

before(
  async () => {
    d = await startWsd({ workers: 2 });
  },
  { timeout: 30000 },
);

after(
  async () => {
    if (d) await d.stop();
  },
  { timeout: 15000 },
);

function ctlConnections() {
  return d.ctl(['status']).connections;
}

async function expectRegistry(n, what) {
  await waitFor(() => ctlConnections() === n, { timeoutMs: 10000, what: `status.connections === ${n} (${what})` });
  const conns = d.ctl(['conns']);
  assert.equal(conns.total, n, `conns.total (${what})`);
  assert.equal(conns.conns.length, n, `conns length (${what})`);
  const workers = d.ctl(['workers']).workers;
  assert.equal(
    workers.reduce((s, w) => s + w.connections, 0),
    n,
    `sum of workers[].connections (${what}): ${JSON.stringify(workers)}`,
  );
}

describe('registry', () => {
  it('status has the documented fields', T, () => {
    const st = d.ctl(['status']);
    assert.equal(st.ok, true);
    assert.equal(typeof st.version, 'string');
    assert.ok(Number.isInteger(st.uptime_s) && st.uptime_s >= 0);
    assert.ok(Number.isInteger(st.generation));
    assert.equal(st.workers_total, 2);
    assert.equal(st.workers_ready, 2);
    assert.equal(st.connections, 0);
    assert.equal(st.state, 'running');
  });

  it('200 connects and disconnects (clean close, abrupt destroy, reset) leave no ghosts', T, async () => {
    let welcomed = 0;
    for (let batch = 0; batch < 10; batch++) {
      const cs = await Promise.all(Array.from({ length: 16 }, () => connectWelcomed(d.url)));
      const raws = await Promise.all(Array.from({ length: 4 }, () => RawWs.open(d.port, '/ws')));
      for (const rw of raws) {
        const f = await rw.nextFrame(3000);
        assert.equal(f.opcode, OP.TEXT);
        assert.equal(JSON.parse(f.payload.toString()).type, 'welcome');
      }
      welcomed += cs.length + raws.length;
      const closing = [];
      cs.forEach((c, i) => {
        if (i % 2 === 0) closing.push(c.close(1000));
        else c.terminate(); /* FIN without a close frame */
      });
      for (const rw of raws) rw.sock.resetAndDestroy(); /* RST */
      /* Half-finished upgrades that never register. */
      closing.push(rawHttp(d.port, 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n', { timeoutMs: 50 }));
      await Promise.all(closing);
    }
    assert.equal(welcomed, 200);
    await expectRegistry(0, 'after 200 connects and disconnects');
  });

  describe('with 10 connections held open', () => {
    const held = [];

    before(async () => {
      for (let i = 0; i < 10; i++) held.push(await connectWelcomed(d.url));
    });

    after(async () => {
      await Promise.all(held.filter((c) => c.isOpen).map((c) => c.close()));
    });

    /* Until the last test closes them, every held connection must stay open. */
    beforeEach(() => {
      const gone = held.filter((c) => !c.isOpen).map((c) => `${c.welcome.conn}: ${JSON.stringify(c.closeInfo)}`);
      assert.deepEqual(gone, [], 'held connections closed by the server');
    });

    it('status, conns and workers count exactly 10', T, async () => {
      await expectRegistry(10, '10 held open');
      assert.equal(d.ctl(['status']).users, 10, 'each anonymous connection is its own user');
    });

    it('conns lists exactly the welcomed connections with their users', T, () => {
      const r = d.ctl(['conns']);
      const got = new Map(r.conns.map((c) => [c.id, c]));
      assert.deepEqual(
        [...got.keys()].sort((a, b) => a - b),
        held.map((c) => c.welcome.conn).sort((a, b) => a - b),
      );
      const workerIds = d.ctl(['workers']).workers.map((w) => w.id);
      for (const c of held) {
        const e = got.get(c.welcome.conn);
        assert.equal(e.user, c.welcome.user);
        assert.ok(workerIds.includes(e.worker), `worker ${e.worker} not in ${workerIds}`);
        assert.match(String(e.addr), /127\.0\.0\.1/);
        assert.equal(e.queue_msgs, 0);
        assert.equal(e.drops, 0);
      }
      /* Newest last. */
      const order = r.conns.map((c) => c.id);
      assert.deepEqual(order, held.map((c) => c.welcome.conn), 'conns must list oldest first, newest last');
    });

    it('conns --user and conn ID agree with each welcome', T, async () => {
      for (const c of held) {
        await tick();
        const byUser = d.ctl(['conns', '--user', c.welcome.user]);
        assert.equal(
          byUser.total,
          1,
          `conns --user ${c.welcome.user} (conn ${c.welcome.conn}, client open ${c.isOpen}, close ${JSON.stringify(c.closeInfo)})`,
        );
        assert.deepEqual(byUser.conns.map((x) => x.id), [c.welcome.conn]);
        const one = d.ctl(['conn', c.welcome.conn]).conn;
        assert.equal(one.id, c.welcome.conn);
        assert.equal(one.user, c.welcome.user);
        assert.equal(one.anonymous, true);
        assert.ok(Array.isArray(one.rooms));
        assert.ok(one.rooms.includes(`user:${c.welcome.user}`), `rooms ${JSON.stringify(one.rooms)}`);
        assert.equal(byUser.conns[0].worker, one.worker);
      }
    });

    it('conns --limit and --worker filter', T, async () => {
      const lim = d.ctl(['conns', '--limit', '3']);
      assert.equal(lim.conns.length, 3);
      assert.equal(lim.total, 10);
      let sum = 0;
      for (const w of d.ctl(['workers']).workers) {
        await tick();
        const r = d.ctl(['conns', '--worker', w.id]);
        for (const c of r.conns) assert.equal(c.worker, w.id);
        assert.equal(r.total, r.conns.length);
        assert.equal(r.total, w.connections);
        sum += r.total;
      }
      assert.equal(sum, 10);
    });

    it('conn of an unknown id is refused with exit 1', T, () => {
      const r = d.ctlResult(['conn', '987654321']);
      assert.equal(r.status, 1, `exit ${r.status}: ${r.stdout} ${r.stderr}`);
      assert.equal(r.json && r.json.ok, false);
      assert.equal(typeof r.json.error, 'string');
    });

    it('workers lists 2 ready workers with live, distinct pids', T, () => {
      const ws = d.workers();
      assert.equal(ws.length, 2);
      assert.equal(new Set(ws.map((w) => w.id)).size, 2);
      assert.equal(new Set(ws.map((w) => w.pid)).size, 2);
      for (const w of ws) {
        assert.equal(w.state, 'ready');
        assert.ok(Number.isInteger(w.pid) && w.pid > 1, `pid ${w.pid}`);
        assert.notEqual(w.pid, d.pid, 'a worker pid must not be the supervisor pid');
        assert.ok(pidAlive(w.pid), `worker pid ${w.pid} is not alive`);
        assert.equal(w.restarts, 0);
        assert.ok(Number.isInteger(w.generation));
        assert.ok(Number.isInteger(w.uptime_s));
      }
      assert.equal(ws.reduce((s, w) => s + w.connections, 0), 10);
    });

    it('closing them (5 clean, 5 abrupt) brings the registry back to 0', T, async () => {
      const closing = [];
      held.forEach((c, i) => {
        if (i < 5) closing.push(c.close(1000));
        else c.terminate();
      });
      await Promise.all(closing);
      await expectRegistry(0, 'after closing the 10');
      for (const c of held) {
        await tick();
        const r = d.ctlResult(['conns', '--user', c.welcome.user]);
        assert.equal(r.status, 0);
        assert.equal(r.json.total, 0, `ghost for ${c.welcome.user}`);
      }
      assert.equal(d.ctl(['status']).users, 0);
    });
  });

  describe('heartbeat (own daemon, interval 1000 ms, timeout 1500 ms)', () => {
    let hb;

    before(
      async () => {
        hb = await startWsd({ workers: 1, config: { heartbeat: { interval_ms: HB_INTERVAL, timeout_ms: HB_TIMEOUT } } });
      },
      { timeout: 30000 },
    );

    after(
      async () => {
        if (hb) await hb.stop();
      },
      { timeout: 15000 },
    );

    it('heartbeat: a client that never answers pings is closed with 4000 and leaves the registry; one that does stays', T, async () => {
      const silent = await RawWs.open(hb.port, '/ws');
      const alive = await RawWs.open(hb.port, '/ws');
      alive.autoPong = true;
      const welcomes = [];
      for (const rw of [silent, alive]) {
        const f = await rw.nextFrame(3000);
        welcomes.push(JSON.parse(f.payload.toString()));
      }
      assert.equal(welcomes[0].heartbeat_ms, HB_INTERVAL);
      const t0 = Date.now();
      const f = await silent.nextFrame(4 * (HB_INTERVAL + HB_TIMEOUT));
      assert.equal(f.opcode, OP.CLOSE, `expected a close, got opcode ${f.opcode}`);
      assert.equal(f.code, 4000);
      const ms = Date.now() - t0;
      assert.ok(silent.serverPings.length >= 1, 'the server must ping before giving up');
      assert.ok(ms <= 2 * (HB_INTERVAL + HB_TIMEOUT) + 500, `closed after ${ms} ms, interval + timeout is ${HB_INTERVAL + HB_TIMEOUT}`);
      silent.close(4000);
      await silent.waitEnd(3000);
      await waitFor(() => hb.ctlResult(['conn', welcomes[0].conn]).status === 1, { what: 'the silent conn to leave the registry' });
      /* The answering client has seen pings by now and is still there. */
      assert.ok(alive.serverPings.length >= 1, 'the answering client saw no ping');
      assert.equal(alive.ended, false, 'the client answering pings was closed');
      assert.equal(hb.ctl(['conn', welcomes[1].conn]).conn.id, welcomes[1].conn);
      alive.close(1000);
      await alive.expectClose(1000);
      await alive.waitEnd(3000);
      await waitFor(() => hb.ctl(['status']).connections === 0, { what: 'no connections left on the heartbeat daemon' });
    });
  });

  it('admin GET /health answers 200 and GET /ready answers 200 while running', T, async () => {
    const h = await httpGet(d.adminPort, '/health');
    assert.equal(h.status, 200, h.statusLine);
    const r = await httpGet(d.adminPort, '/ready');
    assert.equal(r.status, 200, r.statusLine);
  });

  it('wsctl against a socket nobody listens on exits 3', T, () => {
    const r = childProcess.spawnSync(WSCTL_BIN, ['-s', `${d.dir}/nobody.sock`, '--json', 'status'], {
      encoding: 'utf8',
      timeout: 15000,
    });
    assert.equal(r.status, 3, `exit ${r.status}: ${r.stdout} ${r.stderr}`);
  });

  it('SIGTERM with no clients: exit 0 within 5 s, no worker left behind, no sanitizer report', T, async () => {
    await stopCleanly(d);
  });
});
