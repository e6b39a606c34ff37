'use strict';
/*
 * Reloads that need new worker processes roll them, and no client loses a
 * message: a worker count cut from 3 to 1, raised from 1 to 3, and a new
 * `listen` address. In each, 30 clients in one or two of two rooms follow
 * a publisher (the admin API, about 100 messages/s for 4 s); 1 s in, the
 * config file changes and `wsctl reload` runs. Clients of a worker that
 * goes get `shutdown` (a resume token, a reconnect delay within
 * drain.spread_ms) and 1001, reconnect (to the new address, for a listen
 * change) and resume; at the end every client holds every seq of each of
 * its rooms exactly once, in order. Meanwhile a client connects in a loop
 * and is never refused. The reply of `wsctl reload` names each change and
 * how it was applied; a reload while the last one still rolls is refused
 * and changes nothing; a listen address that cannot be bound is refused
 * with the reason while the rest of the reload applies.
 */

const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const { startWsd, connectWelcomed, renderConfig, waitFor, sleep, freePorts } = require('./harness');
const { publishFor, Tracked, verdict, connectLoop } = require('./tracked');

const ROOMS = ['roll-a', 'roll-b'];
const SUBSETS = [[0], [1], [0, 1]];
const NCLIENTS = 30;
const RATE = 100;
const DURATION_MS = 4000;
const RELOAD_AT_MS = 1000;
const SPREAD_MS = 400;
const TEST_MS = 60000;

const j = (x) => JSON.stringify(x);

const config = (extra = {}) => ({
  sessions: { keys: ['r1:7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d'] },
  drain: { spread_ms: SPREAD_MS },
  replay: { size: 4096 },
  ...extra,
});

/*
 * One rolling reload under traffic: start with `workers`, reload into
 * newConfig (from the harness's base config), and check that nothing was
 * lost. Returns what happened, for the caller's own checks.
 */
async function rollUnderTraffic(ctx, { workers, change, url, afterReload }) {
  const d = await startWsd({ workers, config: config() });
  const t0 = Date.now();
  const deadline = t0 + TEST_MS - 10000;
  let stopping = false;
  let current = d.url;
  const clients = Array.from(
    { length: NCLIENTS },
    (_, i) => new Tracked(i, { url: () => current, rooms: SUBSETS[i % SUBSETS.length].map((k) => ROOMS[k]) }),
  );
  try {
    for (let k = 0; k < NCLIENTS; k += 10) await Promise.all(clients.slice(k, k + 10).map((t) => t.open()));
    for (const t of clients) t.attach(t.c);
    await Promise.all(clients.map((t) => t.subscribeAll()));
    const before = new Map(d.ctl(['conns', '--limit', '1000']).conns.map((c) => [c.id, c.worker]));
    const follow = { deadline, stopping: () => stopping, t0 };
    for (const t of clients) t.keepAlive(follow);
    let loopDone = false;
    const looping = connectLoop(() => current, () => loopDone);

    let reply = null;
    const pubd = await publishFor(d.adminPort, {
      rooms: ROOMS,
      rate: RATE,
      durationMs: DURATION_MS,
      tick: async (ms) => {
        if (reply !== null || ms < RELOAD_AT_MS) return;
        fs.writeFileSync(d.confPath, renderConfig(d.base, config(change)));
        reply = d.ctl(['reload']);
        if (url) current = url;
        if (afterReload) await afterReload(d, reply);
      },
    });
    const { acked, sent } = pubd;
    const pubErrors = pubd.errors;
    /* The roll ends: every slot ready on the new generation. */
    const want = change.workers || workers;
    await waitFor(
      () => {
        const ws = d.ctl(['workers']).workers.filter((w) => w.state !== 'stopped');
        return ws.length === want && ws.every((w) => w.state === 'ready' && w.generation === reply.generation);
      },
      { timeoutMs: 15000, what: `${want} workers ready on the new generation` },
    );
    loopDone = true;
    const loop = await looping;
    const last = Object.fromEntries(d.ctl(['rooms']).rooms.filter((r) => ROOMS.includes(r.name)).map((r) => [r.name, r.seq]));
    await waitFor(() => clients.every((t) => t.caughtUp(last)), { timeoutMs: 10000, what: 'every client caught up' }).catch(() => {});
    await sleep(300); /* a late duplicate would land here */
    stopping = true;
    const problems = verdict(clients, last);
    const moved = clients.filter((t) => t.resumes.length > 0);
    const summary =
      `${NCLIENTS} clients on ${workers} workers; reload ${j(reply.changes)}; ${sent} publishes, ${pubErrors.length} failed; ` +
      `last ${j(last)}, acked ${j(acked)}; ${moved.length} clients moved, ${clients.filter((t) => t.failure).length} failed; ` +
      `connect loop ${loop.ok} ok, ${loop.failures.length} refused, ${loop.retries.length} told to retry; ${problems.length} problems`;
    ctx.diagnostic(summary);
    assert.deepEqual(pubErrors.slice(0, 5), [], summary);
    for (const r of ROOMS) assert.equal(last[r], acked[r], `room ${r}: ${summary}`);
    assert.deepEqual(loop.failures.slice(0, 5), [], `connect loop: ${summary}`);
    assert.deepEqual(loop.resets.slice(0, 5), [], `connect loop resets: ${summary}`);
    /* A handshake that ends on a worker just as it drains is told to come
     * back (503 with Retry-After): a few at most. */
    assert.ok(loop.retries.length <= 5, `connect loop: ${loop.retries.length} answered 503 (${summary})`);
    if (problems.length) assert.fail(`${summary}\n  ${problems.slice(0, 12).join('\n  ')}`);
    /* A client that moved was told first: `shutdown`, then 1001. */
    for (const t of moved) {
      assert.ok(t.shutdowns.length > 0, `${t.name()} moved without a shutdown: closes ${j(t.closes)}`);
      assert.equal(t.closes[0], 1001, `${t.name()}: closes ${j(t.closes)}`);
      assert.ok(t.shutdowns.every((ms) => ms >= 0 && ms < SPREAD_MS), `${t.name()}: delays ${j(t.shutdowns)}`);
    }
    return { d, reply, clients, before, moved };
  } finally {
    stopping = true;
    for (const t of clients) if (t.c) t.c.terminate();
    try {
      d.workers();
    } catch (_) {
      /* best effort */
    }
    await d.stop();
  }
}

describe('reload: rolling the workers', () => {
  it('3 -> 1 workers: the clients of workers 1 and 2 move to worker 0 and lose nothing', { timeout: TEST_MS }, async (ctx) => {
    const { reply, moved, before } = await rollUnderTraffic(ctx, { workers: 3, change: { workers: 1 } });
    assert.ok(reply.changes.includes('workers 3 -> 1: rolled'), j(reply.changes));
    const onGone = [...before.values()].filter((w) => w !== 0).length;
    assert.ok(onGone > 0, 'some clients were on workers 1 and 2');
    assert.equal(moved.length, onGone, `every client of workers 1 and 2 moved, and only they: ${moved.length} of ${onGone}`);
    for (const t of moved) assert.notEqual(before.get(t.connIds[0]), 0, `${t.name()} was on worker 0`);
  });

  it('1 -> 3 workers: nobody is closed and nothing is lost', { timeout: TEST_MS }, async (ctx) => {
    const { reply, clients } = await rollUnderTraffic(ctx, { workers: 1, change: { workers: 3 } });
    assert.ok(reply.changes.includes('workers 1 -> 3: rolled'), j(reply.changes));
    for (const t of clients) assert.deepEqual(t.closes, [], `${t.name()} was closed`);
  });

  it('a new listen address: every worker is rolled onto it, clients move there, and a reload meanwhile is refused', { timeout: TEST_MS }, async (ctx) => {
    const [newPort] = await freePorts(1);
    let overlap = null;
    const { d, reply, clients } = await rollUnderTraffic(ctx, {
      workers: 2,
      change: { listen: `127.0.0.1:${newPort}`, heartbeat: { interval_ms: 20000 } },
      url: `ws://127.0.0.1:${newPort}/ws`,
      afterReload: (dd) => {
        overlap = dd.ctlResult(['reload']);
      },
    });
    const line = reply.changes.find((l) => l.startsWith('listen '));
    assert.match(line, new RegExp(`^listen 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${newPort}: rolled$`));
    assert.ok(reply.changes.includes('heartbeat.interval_ms 25000 -> 20000: live'), j(reply.changes));
    assert.equal(overlap.status, 1, `the overlapping reload: ${overlap.stdout} ${overlap.stderr}`);
    assert.match(overlap.stderr, /still rolling/);
    assert.ok(clients.every((t) => t.resumes.length > 0), 'every client moved to the new address');
    assert.match(d.log(), /"event":"roll_done","generation":2\}/);
  });
});

describe('reload: command-line overrides', () => {
  let d;
  after(async () => {
    if (d) await d.stop();
  });

  it('hold across a reload: an unchanged file changes nothing', { timeout: 30000 }, async () => {
    /* The file says 3 workers, the command line 1. */
    d = await startWsd({ workers: 1, args: ['-w', '1'], config: { workers: 3 } });
    assert.equal(d.ctl(['workers']).workers.length, 1);
    const r = d.ctl(['reload']);
    assert.deepEqual(r.changes, []);
    assert.equal(r.changed, 'nothing');
    assert.equal(d.ctl(['workers']).workers.length, 1);
  });
});

describe('reload: a listen address that cannot be bound', () => {
  let d;
  let blocker;
  after(async () => {
    if (blocker) blocker.close();
    if (d) await d.stop();
  });

  it('is refused with the reason; the other changes apply and the old address serves on', { timeout: 30000 }, async () => {
    d = await startWsd({ workers: 1, config: config() });
    blocker = net.createServer();
    await new Promise((res) => blocker.listen(0, '127.0.0.1', res));
    const taken = blocker.address().port;
    fs.writeFileSync(d.confPath, renderConfig(d.base, config({ listen: `127.0.0.1:${taken}`, run_dir: `${d.dir}/elsewhere`, heartbeat: { interval_ms: 20000 } })));
    const r = d.ctlResult(['reload']);
    assert.equal(r.status, 0, r.stderr);
    const changes = r.json.changes;
    const line = changes.find((l) => l.startsWith('listen '));
    assert.match(line, /: refused \(cannot listen on 127\.0\.0\.1:\d+: Address already in use\)$/);
    assert.ok(changes.some((l) => /^run_dir .* refused \(needs a restart\)$/.test(l)), j(changes));
    assert.ok(changes.includes('heartbeat.interval_ms 25000 -> 20000: live'), j(changes));
    const text = d.ctlResult(['reload']);
    assert.equal(text.status, 0);
    /* The old address serves; the running generation keeps its listener. */
    const st = d.ctl(['status']);
    assert.equal(st.generation, 3);
    const c = await connectWelcomed(d.url);
    assert.equal(c.welcome.heartbeat_ms, 20000);
    c.close();
  });
});
