'use strict';
/*
 * Process lifecycle and operator-facing behaviour of wsd:
 *   worker crash and restart, SIGTERM, supervisor SIGKILL (no orphans),
 *   `wsd -t` / `wsctl checkconfig`, reload (SIGHUP and wsctl reload),
 *   heartbeat timeouts, the slow-consumer policy, and the connection
 *   checks (JWT, per-user limit, origins).
 *
 * Each describe block starts its own daemon in before() and stops it in
 * after() (the harness stops it by PID: SIGTERM, then SIGKILL, then every
 * worker pid it has seen). The harness also kills every process it started
 * if this file's process exits for any reason.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const {
  WSD_BIN,
  WSCTL_BIN,
  OP,
  startWsd,
  connect,
  connectWelcomed,
  RawWs,
  readMessage,
  renderConfig,
  waitFor,
  withTimeout,
  sleep,
  pidAlive,
} = require('./harness');

const T = { timeout: 30000 };

/* ------------------------------------------------------------------ */
/* Helpers the harness lacks. */

/* The config the harness generated for d, without overrides. */
function baseConfig(d, workers = d.workersTotal) {
  return { ...d.base, workers };
}

/* Rewrites d's config file: base config plus overrides. */
function writeConfig(d, overrides, workers) {
  fs.writeFileSync(d.confPath, renderConfig(baseConfig(d, workers), overrides));
}

/* HS256 JWT signed with secret; claims given as they are (no defaults). */
function b64url(buf) {
  return Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}
function jwt(secret, payload) {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(payload));
  const sig = b64url(crypto.createHmac('sha256', secret).update(`${header}.${body}`).digest());
  return `${header}.${body}.${sig}`;
}
const nowS = () => Math.floor(Date.now() / 1000);

/* Connect and expect a refusal; resolves with the HTTP status. */
async function refusedStatus(url, opts = {}) {
  try {
    const c = await connect(url, opts);
    c.terminate();
  } catch (e) {
    if (e.status) return e.status;
    throw new Error(`connect ${url}: failed without an HTTP status: ${e.message}`);
  }
  throw new Error(`connect ${url}: expected a refusal, but the upgrade succeeded`);
}

/* Opens clients one at a time until each of the workers holds at least perWorker. */
async function openSpread(d, { total, perWorker, max = 60, url = d.url }) {
  const clients = [];
  const counts = () => {
    const m = new Map();
    for (const c of clients) m.set(c.worker, (m.get(c.worker) || 0) + 1);
    return m;
  };
  const nworkers = d.workers().length;
  while (clients.length < max) {
    const c = await connectWelcomed(url);
    clients.push(c);
    const conn = d.ctl(['conn', c.welcome.conn]).conn;
    c.worker = conn.worker;
    const m = counts();
    if (clients.length >= total && m.size === nworkers && [...m.values()].every((n) => n >= perWorker)) break;
  }
  return { clients, counts: counts() };
}

function runSync(bin, args, timeoutMs = 10000) {
  const r = childProcess.spawnSync(bin, args, { encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, signal: r.signal, stdout: r.stdout || '', stderr: r.stderr || '' };
}

/* ------------------------------------------------------------------ */

describe('worker crash', () => {
  let d;
  let clients = [];

  before(async () => {
    d = await startWsd({ workers: 2 });
  });
  after(async () => {
    for (const c of clients) c.terminate();
    if (d) await d.stop();
  });

  it('SIGKILL of one worker drops only its clients, leaves no ghosts, and the worker comes back', T, async () => {
    const spread = await openSpread(d, { total: 10, perWorker: 3 });
    clients = spread.clients;
    assert.equal(
      spread.counts.size,
      2,
      `connections did not spread over both workers: ${JSON.stringify([...spread.counts])} after ${clients.length} connects`,
    );
    const ROOM = 'crash-room';
    for (const c of clients) {
      c.send({ type: 'subscribe', room: ROOM });
      await c.next('subscribed');
    }
    const before = d.workers();
    assert.equal(before.length, 2);
    const victimId = clients[0].worker;
    const victim = before.find((w) => w.id === victimId);
    assert.ok(victim, `worker ${victimId} in ${JSON.stringify(before)}`);
    assert.equal(victim.restarts, 0, 'no restarts before the kill');
    const victims = clients.filter((c) => c.worker === victimId);
    const survivors = clients.filter((c) => c.worker !== victimId);
    assert.ok(victims.length >= 3 && survivors.length >= 3, `${victims.length} victims, ${survivors.length} survivors`);
    assert.equal(d.ctl(['status']).connections, clients.length);

    const t0 = Date.now();
    process.kill(victim.pid, 'SIGKILL');

    /* The victims see the TCP connection drop: 1006, no close frame. */
    const closes = await Promise.all(victims.map((c) => c.waitClose(3000)));
    for (const [i, ci] of closes.entries()) {
      assert.equal(ci.code, 1006, `victim conn ${victims[i].welcome.conn} closed with ${ci.code} ${ci.reason}`);
    }
    /* The others are untouched and still get room deliveries. */
    for (const c of survivors) assert.ok(c.isOpen, `survivor conn ${c.welcome.conn} is still open`);
    const pub = d.ctl(['publish', ROOM, JSON.stringify({ after: 'crash' })]);
    for (const c of survivors) {
      const m = await c.nextIn(ROOM, 3000);
      assert.deepEqual(m.data, { after: 'crash' });
      assert.equal(m.seq, pub.seq);
    }

    /* The registry forgets the dead worker's connections: exactly the survivors. */
    await waitFor(() => d.ctl(['status']).connections === survivors.length, {
      timeoutMs: 3000,
      what: `status connections == ${survivors.length}`,
    }).catch((e) => {
      throw new Error(`${e.message}; status ${JSON.stringify(d.ctl(['status']))}`);
    });
    const conns = d.ctl(['conns']);
    assert.equal(conns.total, survivors.length, `conns total: ${JSON.stringify(conns)}`);
    assert.deepEqual(
      conns.conns.map((c) => c.id).sort((a, b) => a - b),
      survivors.map((c) => c.welcome.conn).sort((a, b) => a - b),
      'wsctl conns lists exactly the survivors',
    );
    const room = d.ctl(['room', ROOM]).room;
    assert.deepEqual(
      [...room.members].sort((a, b) => a - b),
      survivors.map((c) => c.welcome.conn).sort((a, b) => a - b),
      'room members are exactly the survivors',
    );

    /* Restarted within 5 s: new pid, ready, restarts 1. */
    let w;
    await waitFor(
      () => {
        w = d.workers().find((x) => x.id === victimId);
        return w && w.pid !== victim.pid && w.state === 'ready' && w.restarts === 1;
      },
      { timeoutMs: Math.max(100, 5000 - (Date.now() - t0)), what: `worker ${victimId} restarted and ready` },
    ).catch((e) => {
      throw new Error(`${e.message}; workers ${JSON.stringify(d.workers())}`);
    });
    assert.ok(!pidAlive(victim.pid), 'the killed pid is gone');
    assert.ok(pidAlive(w.pid), 'the new worker pid is alive');
    const st = d.ctl(['status']);
    assert.equal(st.workers_ready, 2);
    assert.equal(st.workers_total, 2);

    /* New clients connect and are welcomed. */
    for (let i = 0; i < 6; i++) {
      const c = await connectWelcomed(d.url);
      clients.push(c);
      assert.equal(c.welcome.type, 'welcome');
    }
    await waitFor(() => d.ctl(['status']).connections === survivors.length + 6, {
      timeoutMs: 3000,
      what: 'status counts the new connections',
    });
  });
});

/* ------------------------------------------------------------------ */

describe('SIGTERM', () => {
  let d;
  const clients = [];

  before(async () => {
    d = await startWsd({ workers: 2 });
  });
  after(async () => {
    for (const c of clients) c.terminate();
    if (d) await d.stop();
  });

  it('closes every client with 1001, exits 0 within 5 s and leaves no worker behind', T, async () => {
    for (let i = 0; i < 8; i++) clients.push(await connectWelcomed(d.url));
    const workers = d.workers();
    assert.equal(workers.length, 2);
    const t0 = Date.now();
    process.kill(d.pid, 'SIGTERM');
    const closes = await Promise.all(clients.map((c) => c.waitClose(5000)));
    for (const [i, ci] of closes.entries()) {
      assert.equal(ci.code, 1001, `conn ${clients[i].welcome.conn} closed with ${ci.code} ${ci.reason}`);
    }
    const exit = await withTimeout(d.exited, Math.max(100, 5000 - (Date.now() - t0)), 'wsd exit after SIGTERM');
    assert.equal(exit.signal, null, `wsd died of signal ${exit.signal}`);
    assert.equal(exit.code, 0, `wsd exit code ${exit.code}`);
    const left = workers.filter((w) => pidAlive(w.pid)).map((w) => w.pid);
    assert.deepEqual(left, [], `worker pids alive after wsd exited: ${left}`);
  });
});

/* ------------------------------------------------------------------ */

describe('supervisor SIGKILL', () => {
  let d;
  const clients = [];

  before(async () => {
    d = await startWsd({ workers: 2 });
  });
  after(async () => {
    for (const c of clients) c.terminate();
    if (d) await d.stop();
  });

  it('workers exit by themselves within 3 s (no orphans)', T, async () => {
    for (let i = 0; i < 4; i++) clients.push(await connectWelcomed(d.url));
    const pids = d.workers().map((w) => w.pid);
    assert.equal(pids.length, 2);
    for (const p of pids) assert.ok(pidAlive(p), `worker ${p} alive before`);
    process.kill(d.pid, 'SIGKILL');
    await withTimeout(d.exited, 3000, 'wsd death');
    await waitFor(() => pids.every((p) => !pidAlive(p)), {
      timeoutMs: 3000,
      intervalMs: 25,
      what: 'every worker to exit after the supervisor was killed',
    }).catch((e) => {
      throw new Error(`${e.message}; alive: ${pids.filter(pidAlive)}`);
    });
  });
});

/* ------------------------------------------------------------------ */

describe('wsd -t and wsctl checkconfig', () => {
  let dir;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsd-e2e-cfg-'));
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const write = (name, text) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text);
    return f;
  };
  const check = (file) => ({ wsd: runSync(WSD_BIN, ['-t', '-c', file]), ctl: runSync(WSCTL_BIN, ['checkconfig', file]) });

  it('a valid file exits 0', T, () => {
    for (const f of [
      write('ok.conf', 'workers = 2;\nlisten = "127.0.0.1:18080";\nlimits = { max_queue_msgs = 8; };\n'),
      path.resolve(__dirname, '..', '..', 'conf', 'wsd.conf'),
    ]) {
      const r = check(f);
      assert.equal(r.wsd.status, 0, `wsd -t -c ${f}: ${r.wsd.status} ${r.wsd.stderr}`);
      assert.equal(r.ctl.status, 0, `wsctl checkconfig ${f}: ${r.ctl.status} ${r.ctl.stderr}`);
    }
  });

  it('a syntax error exits non-zero and names FILE:LINE', T, () => {
    const f = write('syntax.conf', 'workers = 2;\nlisten = "127.0.0.1:18080";\nlog_level = ;\nrun_dir = "/tmp/x";\n');
    const r = check(f);
    assert.notEqual(r.wsd.status, 0, 'wsd -t exit status');
    assert.equal(r.wsd.signal, null);
    assert.ok(r.wsd.stderr.includes(`${f}:3`), `stderr names ${f}:3: ${JSON.stringify(r.wsd.stderr)}`);
    assert.equal(r.ctl.status, 1, `wsctl checkconfig: ${r.ctl.status} ${r.ctl.stderr}`);
  });

  it('an unknown key names the file, the line and the key', T, () => {
    const f = write('unknown.conf', 'workers = 2;\nlisten = "127.0.0.1:18080";\nlimits = { nope = 1; };\n');
    const r = check(f);
    assert.notEqual(r.wsd.status, 0, 'wsd -t exit status');
    assert.ok(r.wsd.stderr.includes(`${f}:3`), `stderr names ${f}:3: ${JSON.stringify(r.wsd.stderr)}`);
    assert.match(r.wsd.stderr, /nope/, 'stderr names the key');
    assert.equal(r.ctl.status, 1, `wsctl checkconfig: ${r.ctl.status} ${r.ctl.stderr}`);
  });

  it('a value out of range (workers = 0) is refused', T, () => {
    const f = write('range.conf', 'listen = "127.0.0.1:18080";\nworkers = 0;\n');
    const r = check(f);
    assert.notEqual(r.wsd.status, 0, 'wsd -t exit status');
    assert.ok(r.wsd.stderr.includes(`${f}:2`), `stderr names ${f}:2: ${JSON.stringify(r.wsd.stderr)}`);
    assert.match(r.wsd.stderr, /workers/, 'stderr names the key');
    assert.equal(r.ctl.status, 1, `wsctl checkconfig: ${r.ctl.status} ${r.ctl.stderr}`);
  });

  it('a missing file is refused', T, () => {
    const f = path.join(dir, 'does-not-exist.conf');
    const r = check(f);
    assert.notEqual(r.wsd.status, 0);
    assert.ok(r.wsd.stderr.includes(f), `stderr names the file: ${JSON.stringify(r.wsd.stderr)}`);
    assert.equal(r.ctl.status, 1, `wsctl checkconfig: ${r.ctl.status} ${r.ctl.stderr}`);
  });
});

/* ------------------------------------------------------------------ */

describe('reload', () => {
  let d;
  const clients = [];

  before(async () => {
    d = await startWsd({ workers: 2 });
    /* The tests below rewrite the file from baseConfig(): check it is what the harness wrote. */
    assert.equal(fs.readFileSync(d.confPath, 'utf8'), renderConfig(baseConfig(d), {}), 'baseConfig() matches the harness');
  });
  after(async () => {
    for (const c of clients) c.terminate();
    if (d) await d.stop();
  });

  const NEW = { limits: { max_message_bytes: 4096 }, heartbeat: { interval_ms: 15000, timeout_ms: 5000 } };

  it('SIGHUP applies a changed file as generation 2', T, async () => {
    const st = d.ctl(['status']);
    assert.equal(st.generation, 1, `initial generation: ${JSON.stringify(st)}`);
    const c0 = await connectWelcomed(d.url);
    clients.push(c0);
    assert.equal(c0.welcome.max_message_bytes, 65536, 'default max_message_bytes before the reload');

    writeConfig(d, NEW);
    process.kill(d.pid, 'SIGHUP');
    await waitFor(() => d.ctl(['status']).generation === 2, { timeoutMs: 3000, what: 'generation 2' });

    /* Workers get the new config over IPC: a connection opened shortly after sees it. */
    let w;
    await waitFor(
      async () => {
        const c = await connectWelcomed(d.url);
        clients.push(c);
        w = c.welcome;
        return w.max_message_bytes === 4096;
      },
      { timeoutMs: 2000, intervalMs: 50, what: 'a welcome with max_message_bytes 4096' },
    ).catch((e) => {
      throw new Error(`${e.message}; last welcome ${JSON.stringify(w)}`);
    });
    assert.equal(w.heartbeat_ms, 15000, 'welcome heartbeat_ms follows the reload');
    /* Every worker has it, not just one: open a few more. */
    for (let i = 0; i < 6; i++) {
      const c = await connectWelcomed(d.url);
      clients.push(c);
      assert.equal(c.welcome.max_message_bytes, 4096, `welcome ${i}: ${JSON.stringify(c.welcome)}`);
    }
    const ws = d.workers();
    assert.equal(ws.length, 2);
    for (const x of ws) assert.equal(x.state, 'ready');
  });

  it('wsctl reload of a broken file exits 1, names file:line and keeps generation 2', T, async () => {
    const good = renderConfig(baseConfig(d), NEW);
    const lines = good.split('\n');
    /* Insert a broken line as line 3. */
    lines.splice(2, 0, 'workers = = 3;');
    fs.writeFileSync(d.confPath, lines.join('\n'));
    const r = d.ctlResult(['reload']);
    assert.equal(r.status, 1, `wsctl reload exit status ${r.status}; stdout ${r.stdout}; stderr ${r.stderr}`);
    assert.ok(r.stderr.includes(`${d.confPath}:3`), `stderr names ${d.confPath}:3: ${JSON.stringify(r.stderr)}`);
    assert.equal(d.ctl(['status']).generation, 2, 'generation stays 2');
    /* The daemon keeps serving with the old config. */
    const c = await connectWelcomed(d.url);
    clients.push(c);
    assert.equal(c.welcome.max_message_bytes, 4096);
    c.send({ type: 'ping' });
    await c.next('pong', 3000);
    /* A SIGHUP with the same broken file changes nothing either. */
    process.kill(d.pid, 'SIGHUP');
    await sleep(200);
    assert.equal(d.ctl(['status']).generation, 2, 'generation stays 2 after SIGHUP of a broken file');
    const c2 = await connectWelcomed(d.url);
    clients.push(c2);
  });

  it('a reload that changes workers 2 -> 3 ends with 3 ready workers', T, async () => {
    writeConfig(d, NEW, 3);
    const r = d.ctlResult(['reload']);
    assert.equal(r.status, 0, `wsctl reload exit status ${r.status}; stderr ${r.stderr}`);
    let ws;
    await waitFor(
      () => {
        ws = d.workers();
        return ws.length === 3 && ws.every((w) => w.state === 'ready' && pidAlive(w.pid));
      },
      { timeoutMs: 5000, what: '3 ready workers' },
    ).catch((e) => {
      throw new Error(`${e.message}; workers ${JSON.stringify(ws)}`);
    });
    const st = d.ctl(['status']);
    assert.equal(st.generation, 3);
    assert.equal(st.workers_total, 3);
    assert.equal(st.workers_ready, 3);
    const c = await connectWelcomed(d.url);
    clients.push(c);
    assert.equal(c.welcome.max_message_bytes, 4096);
  });
});

/* ------------------------------------------------------------------ */

describe('heartbeat', () => {
  let d;
  let good;
  let goodOpenedAt;
  let raw;

  before(async () => {
    d = await startWsd({ workers: 2, config: { heartbeat: { interval_ms: 300, timeout_ms: 300 } } });
    good = await connectWelcomed(d.url);
    goodOpenedAt = Date.now();
  });
  after(async () => {
    if (raw) raw.destroy();
    if (good) good.terminate();
    if (d) await d.stop();
  });

  it('a raw client that never answers pings is closed with 4000 within 1.5 s and leaves the registry', T, async () => {
    raw = await RawWs.open(d.port, '/ws');
    const t0 = Date.now();
    const welcome = JSON.parse((await readMessage(raw, 2000)).payload.toString('utf8'));
    assert.equal(welcome.type, 'welcome');
    assert.equal(welcome.heartbeat_ms, 300);
    const rawId = welcome.conn;
    const inRegistry = () => d.ctl(['conns']).conns.some((c) => c.id === rawId);
    assert.ok(inRegistry(), 'raw client registered');

    const f = await raw.expectClose(4000, 1500);
    const closedMs = Date.now() - t0;
    assert.ok(closedMs <= 1500, `closed after ${closedMs} ms`);
    assert.ok(raw.serverPings.length >= 1, 'the server pinged before closing');
    assert.equal(f.code, 4000);

    /*
     * The liveness promise: "a dead connection is out of the registry within
     * interval + timeout" (600 ms here); allow up to 1.5 s after the
     * connect, the same bound as the close.
     */
    await waitFor(() => !inRegistry(), {
      timeoutMs: Math.max(50, 1500 - (Date.now() - t0)),
      intervalMs: 25,
      what: `conn ${rawId} out of the registry within 1.5 s of connecting`,
    }).catch(async (e) => {
      /* Say when it did leave, if it does. */
      const t = Date.now();
      while (inRegistry() && Date.now() - t < 5000) await sleep(25);
      throw new Error(
        `${e.message}: closed with 4000 after ${closedMs} ms, but left the registry only after ` +
          `${Date.now() - t0} ms${inRegistry() ? ' (still there)' : ''}`,
      );
    });
    assert.equal(d.ctl(['status']).connections, 1, 'status connections: only the ws client');
    /* The server drops the TCP connection itself (the peer never answers the close). */
    await raw.waitEnd(5000);
  });

  it('a ws client, which answers pings, stays connected for 2 s', T, async () => {
    assert.equal(good.welcome.heartbeat_ms, 300);
    const left = 2000 - (Date.now() - goodOpenedAt);
    if (left > 0) await sleep(left);
    assert.ok(good.isOpen, `ws client closed: ${JSON.stringify(good.closeInfo)}`);
    assert.equal(good.closeInfo, null);
    good.send({ type: 'ping' });
    await good.next('pong', 2000);
    await waitFor(() => d.ctl(['status']).connections === 1, { timeoutMs: 3000, what: 'status connections 1' });
    assert.ok(d.ctl(['conns']).conns.some((c) => c.id === good.welcome.conn), 'ws client still registered');
  });
});

/* ------------------------------------------------------------------ */

/*
 * One room, three clients: `slow` (raw, subscribes and then stops reading),
 * `fast` (ws, subscribed, reads everything) and `pub` (ws, publishes 4 KB
 * messages). Publishes until the server has dropped `slow` (at least MIN,
 * at most MAX messages: kernel socket buffers absorb several MB first).
 *   batch      publishes sent back to back before pausing
 *   waitFast   after each batch, wait until `fast` has received it
 */
async function slowConsumerRun(d, room, { batch, waitFast }) {
  const PAYLOAD = 'x'.repeat(4096);
  const MIN = 2000;
  const MAX = 12000;
  const opened = [];
  let slow;
  try {
    slow = await RawWs.open(d.port, '/ws');
    const sw = JSON.parse((await readMessage(slow)).payload.toString('utf8'));
    assert.equal(sw.type, 'welcome');
    slow.text(JSON.stringify({ type: 'subscribe', room }));
    const ss = JSON.parse((await readMessage(slow)).payload.toString('utf8'));
    assert.equal(ss.type, 'subscribed', JSON.stringify(ss));

    const fast = await connectWelcomed(d.url);
    opened.push(fast);
    fast.send({ type: 'subscribe', room });
    const fs0 = await fast.next('subscribed');
    const pub = await connectWelcomed(d.url);
    opened.push(pub);

    slow.sock.pause(); /* stop reading: the kernel buffers fill, then the server's queue */

    let nrecv = 0;
    const received = () => {
      nrecv = fast.all.reduce((n, m) => n + (m.type === 'message' && m.room === room ? 1 : 0), 0);
      return nrecv;
    };
    const slowGone = () => !d.ctl(['conns']).conns.some((c) => c.id === sw.conn);
    let sent = 0;
    let gone = false;
    let lastCheck = 0;
    while (sent < MAX && !(sent >= MIN && gone) && fast.isOpen) {
      for (let i = 0; i < batch; i++) {
        pub.send(JSON.stringify({ type: 'publish', room, data: { n: sent, p: PAYLOAD } }));
        sent++;
      }
      if (waitFast) {
        await waitFor(() => received() >= sent || !fast.isOpen, { timeoutMs: 5000, intervalMs: 1, what: `fast gets ${sent}` });
      } else {
        /*
         * Only let the publisher's own buffer drain, and yield to the event
         * loop so that `fast` keeps reading; do not wait for the subscriber.
         */
        await new Promise((r) => setImmediate(r));
        await waitFor(() => pub.ws.bufferedAmount === 0 || !pub.isOpen, { timeoutMs: 5000, intervalMs: 5, what: 'publisher buffer drained' });
      }
      assert.ok(pub.isOpen, `publisher closed: ${JSON.stringify(pub.closeInfo)}`);
      if (!gone && sent - lastCheck >= 500) {
        lastCheck = sent;
        gone = slowGone();
      }
    }
    /* Everything published reaches the reading subscriber, in seq order. */
    await waitFor(() => received() >= sent || !fast.isOpen, {
      timeoutMs: 15000,
      intervalMs: 20,
      what: `fast subscriber receives ${sent} messages`,
    }).catch((e) => {
      throw new Error(`${e.message}; got ${nrecv}`);
    });
    received();
    if (!fast.isOpen) await fast.waitClose(3000).catch(() => {}); /* for the close code in the message */
    assert.ok(
      fast.isOpen,
      `the reading subscriber was closed (${JSON.stringify(fast.closeInfo)}) after ${nrecv} of ${sent} published ` +
        `messages (batches of ${batch}); slow consumer ${slowGone() ? 'gone' : 'still registered'}`,
    );
    const got = fast.all.filter((m) => m.type === 'message' && m.room === room);
    assert.equal(got.length, sent, 'fast subscriber message count');
    for (let i = 0; i < got.length; i++) {
      if (got[i].seq !== fs0.seq + 1 + i || got[i].data.n !== i) {
        assert.fail(`message ${i}: seq ${got[i].seq} n ${got[i].data.n}, expected seq ${fs0.seq + 1 + i} n ${i}`);
      }
    }
    const errs = pub.all.filter((m) => m.type === 'error' || m.type === 'flow');
    assert.deepEqual(errs, [], 'publisher got no error or flow message');

    /* The slow one is out of the registry... */
    await waitFor(slowGone, { timeoutMs: 5000, what: `slow conn ${sw.conn} out of the registry` }).catch((e) => {
      throw new Error(`${e.message}; published ${sent}; conn ${JSON.stringify(d.ctlResult(['conn', sw.conn]).json)}`);
    });
    /* ...and when it reads again it finds close 4001 or the connection gone. */
    slow.sock.resume();
    await slow.waitEnd(10000);
    const closes = slow.received.filter((f) => f.opcode === OP.CLOSE);
    for (const f of closes) assert.equal(f.code, 4001, `slow consumer close code ${f.code} ${f.reason}`);
    const dataFrames = slow.received.filter((f) => f.opcode === OP.TEXT).length;
    assert.ok(dataFrames < sent + 2, `the slow consumer did not get everything (${dataFrames} text frames)`);
    const conns = d.ctl(['conns']).conns.map((c) => c.id);
    assert.ok(conns.includes(fast.welcome.conn) && conns.includes(pub.welcome.conn), 'fast and pub still registered');
  } finally {
    if (slow) slow.destroy();
    for (const c of opened) c.terminate();
  }
}

describe('slow consumer', () => {
  let d;

  before(async () => {
    d = await startWsd({
      workers: 2,
      config: { limits: { max_queue_msgs: 8, max_queue_bytes: 65536, max_message_bytes: 16384, slow_consumer: 'disconnect', rate_msgs: 0 } },
    });
  });
  after(async () => {
    if (d) await d.stop();
  });

  /*
   * The publisher is paced (at most 4 publishes in flight, below
   * max_queue_msgs): with a queue of 8 messages, a reader that falls
   * further behind than that plus the kernel's socket buffers is a slow
   * consumer by definition, so an unpaced run could not tell a bug from
   * a busy machine.
   */
  it('paced publisher: the stalled subscriber is closed (4001), the reading one gets every message in order', { timeout: 60000 }, async () => {
    await slowConsumerRun(d, 'paced', { batch: 4, waitFast: true });
  });
});

/* ------------------------------------------------------------------ */

describe('connection checks: JWT, per-user limit, origins', () => {
  const SECRET = 'e2e-lifecycle-secret-3c9d1f0a7e';
  let d;
  const clients = [];

  before(async () => {
    d = await startWsd({
      workers: 2,
      config: {
        jwt_secret: SECRET,
        allow_anonymous: false,
        limits: { max_connections_per_user: 2 },
        origins: ['http://good.example'],
      },
    });
  });
  after(async () => {
    for (const c of clients) c.terminate();
    if (d) await d.stop();
  });

  const tok = (claims, secret = SECRET) => jwt(secret, { exp: nowS() + 600, ...claims });
  const GOOD = { Origin: 'http://good.example' };
  const q = (t) => `${d.url}?token=${encodeURIComponent(t)}`;

  it('two connections of one user succeed, the third gets 429', T, async () => {
    const t = tok({ sub: 'u1' });
    for (let i = 0; i < 2; i++) {
      const c = await connectWelcomed(q(t), { headers: GOOD });
      clients.push(c);
      assert.equal(c.welcome.user, 'u1');
    }
    assert.equal(await refusedStatus(q(t), { headers: GOOD }), 429);
    /* Another user is not affected. */
    const c = await connectWelcomed(q(tok({ sub: 'u2' })), { headers: GOOD });
    clients.push(c);
    assert.equal(c.welcome.user, 'u2');
    /* When one of u1's closes, u1 may connect again. */
    await clients.shift().close();
    await waitFor(() => d.ctl(['conns', '--user', 'u1']).total === 1, { timeoutMs: 3000, what: 'u1 down to 1' });
    const again = await connectWelcomed(q(t), { headers: GOOD });
    clients.push(again);
  });

  it('no token, a wrong key or an expired token get 401', T, async () => {
    assert.equal(await refusedStatus(d.url, { headers: GOOD }), 401, 'no token');
    assert.equal(await refusedStatus(q(tok({ sub: 'u3' }, 'not-the-secret')), { headers: GOOD }), 401, 'wrong key');
    assert.equal(await refusedStatus(q(jwt(SECRET, { sub: 'u3', exp: nowS() - 60 })), { headers: GOOD }), 401, 'expired');
    assert.equal(await refusedStatus(`${d.url}?token=garbage`, { headers: GOOD }), 401, 'not a JWT');
  });

  it('the token is taken from ?token=, Authorization: Bearer and the wsd_token cookie', T, async () => {
    const viaQuery = await connectWelcomed(q(tok({ sub: 'q-user' })), { headers: GOOD });
    clients.push(viaQuery);
    assert.equal(viaQuery.welcome.user, 'q-user');
    const viaBearer = await connectWelcomed(d.url, {
      headers: { ...GOOD, Authorization: `Bearer ${tok({ sub: 'bearer-user' })}` },
    });
    clients.push(viaBearer);
    assert.equal(viaBearer.welcome.user, 'bearer-user');
    const viaCookie = await connectWelcomed(d.url, {
      headers: { ...GOOD, Cookie: `theme=dark; wsd_token=${tok({ sub: 'cookie-user' })}; other=1` },
    });
    clients.push(viaCookie);
    assert.equal(viaCookie.welcome.user, 'cookie-user');
  });

  it('a token with rooms ["chat-*"] may join chat-1 but not other-1', T, async () => {
    const c = await connectWelcomed(q(tok({ sub: 'roomy', rooms: ['chat-*'] })), { headers: GOOD });
    clients.push(c);
    c.send({ type: 'subscribe', room: 'chat-1' });
    const s = await c.nextMatching((m) => m.type === 'subscribed' || m.type === 'error', 3000);
    assert.equal(s.type, 'subscribed', JSON.stringify(s));
    assert.equal(s.room, 'chat-1');
    c.send({ type: 'subscribe', room: 'other-1' });
    const e = await c.nextMatching((m) => m.type === 'subscribed' || m.type === 'error', 3000);
    assert.equal(e.type, 'error', JSON.stringify(e));
    assert.equal(e.code, 'forbidden');
    assert.ok(c.isOpen, 'the connection stays open after the error');
    const conn = d.ctl(['conn', c.welcome.conn]).conn;
    assert.ok(conn.rooms.includes('chat-1'), `rooms ${JSON.stringify(conn.rooms)}`);
    assert.ok(!conn.rooms.includes('other-1'), `rooms ${JSON.stringify(conn.rooms)}`);
  });

  it('Origin on the allow-list gets 101, another origin gets 403', T, async () => {
    const t = tok({ sub: 'origin-user' });
    const ok = await RawWs.open(d.port, `/ws?token=${t}`, { headers: GOOD });
    assert.equal(ok.handshake.status, 101);
    ok.destroy();
    assert.equal(await refusedStatus(q(t), { headers: { Origin: 'http://evil.example' } }), 403);
  });
});
