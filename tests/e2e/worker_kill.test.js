'use strict';
/*
 * A worker killed with SIGKILL under load: its clients reconnect, resume
 * their sessions, and lose nothing.
 *
 * 100 clients (every other one a JWT user, the rest anonymous) spread over
 * 2 workers, each in 1 to 3 of 3 rooms. A publisher posts to the admin API
 * (POST /api/publish) at about 200 messages/s for about 6 s; 2 s in, one
 * worker is killed with SIGKILL. Every client whose socket closes
 * reconnects (short backoff, retried on refusal) and sends `resume` with its
 * latest token and, per room, the last seq it saw and the room's epoch.
 * When the publisher has stopped and the deliveries have settled, every
 * client must hold exactly 1..LAST of each of its rooms, in order, once
 * each, across all its connections (LAST: the room's seq in wsctl rooms,
 * which must equal the highest seq the publisher was answered). Meanwhile
 * a client connects, is welcomed and closes in a loop, and is never
 * refused.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startWsd, connectWelcomed, mintToken, waitFor, sleep } = require('./harness');
const { publishFor, Tracked, verdict, connectLoop } = require('./tracked');

const SECRET = 'e2e-worker-kill-secret-91c0d2e7a4b3';
const ROOMS = ['wk-a', 'wk-b', 'wk-c'];
const SUBSETS = [[0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2]];
const NCLIENTS = 100;
const RATE = 200; /* messages per second, all rooms together */
const DURATION_MS = 6000;
const KILL_AT_MS = 2000;
const MIN_PER_WORKER = 10;
const TEST_MS = 45000;

const j = (x) => JSON.stringify(x);

describe('worker SIGKILL under load', () => {
  let d;
  let clients = [];
  let stopping = false;

  before(async () => {
    d = await startWsd({ workers: 2, config: { jwt_secret: SECRET, replay: { size: 4096 } } });
  });
  after(async () => {
    stopping = true;
    for (const t of clients) if (t.c) t.c.terminate();
    if (d) {
      try {
        d.workers(); /* remember the restarted worker's pid, for the cleanup */
      } catch (_) {
        /* best effort */
      }
      await d.stop();
    }
  });

  it('every client resumes and ends with the complete gap-free sequence of each room', { timeout: TEST_MS }, async (ctx) => {
    const tStart = Date.now();
    const hardDeadline = tStart + TEST_MS - 5000;

    /* ---- 100 clients over both workers ---- */
    clients = Array.from({ length: NCLIENTS }, (_, i) => {
      const jwt = i % 2 === 0;
      const url = jwt ? `${d.url}?token=${mintToken(SECRET, { sub: `wk-user-${i}` })}` : d.url;
      return new Tracked(i, { url: () => url, rooms: SUBSETS[i % SUBSETS.length].map((k) => ROOMS[k]), label: jwt ? 'jwt ' : 'anon ' });
    });
    const open = (t) => t.open();
    for (let k = 0; k < clients.length; k += 10) await Promise.all(clients.slice(k, k + 10).map(open));
    const workerOf = () => new Map(d.ctl(['conns', '--limit', '1000']).conns.map((c) => [c.id, c.worker]));
    let where;
    let perWorker;
    for (let round = 0; ; round++) {
      where = workerOf();
      perWorker = new Map();
      for (const t of clients) {
        const w = where.get(t.c.welcome.conn);
        perWorker.set(w, (perWorker.get(w) || 0) + 1);
      }
      const counts = [...perWorker.values()];
      if (perWorker.size === 2 && counts.every((n) => n >= MIN_PER_WORKER)) break;
      assert.ok(round < 10, `connections did not spread over 2 workers: ${j([...perWorker])}`);
      /* Reconnect some clients of the busiest worker, one at a time. */
      const busiest = [...perWorker].sort((a, b) => b[1] - a[1])[0][0];
      const move = clients.filter((t) => where.get(t.c.welcome.conn) === busiest).slice(0, 15);
      for (const t of move) {
        t.c.terminate();
        await open(t);
      }
    }
    for (const t of clients) t.connIds = [];
    for (const t of clients) t.attach(t.c);

    /* ---- subscriptions, before anything is published ---- */
    await Promise.all(clients.map((t) => t.subscribeAll()));

    /* ---- reconnect and resume whenever a socket closes ---- */
    const follow = { deadline: hardDeadline, stopping: () => stopping, t0: tStart };
    for (const t of clients) t.keepAlive(follow);
    /* ---- and a client that connects in a loop throughout ---- */
    let loopDone = false;
    const looping = connectLoop(() => d.url, () => loopDone);

    /* ---- publish at ~RATE for DURATION_MS; SIGKILL one worker at KILL_AT_MS ---- */
    const workers = d.workers();
    assert.equal(workers.length, 2, j(workers));
    const victimId = [...perWorker].sort((a, b) => b[1] - a[1])[0][0];
    const victim = workers.find((w) => w.id === victimId);
    assert.ok(victim, `worker ${victimId} in ${j(workers)}`);
    const victims = clients.filter((t) => where.get(t.c.welcome.conn) === victimId);

    let killedAt = null;
    let refill = null; /* resolves with the ms until the slot is ready again */
    const pubd = await publishFor(d.adminPort, {
      rooms: ROOMS,
      rate: RATE,
      durationMs: DURATION_MS,
      tick: (ms) => {
        if (killedAt !== null || ms < KILL_AT_MS) return;
        process.kill(victim.pid, 'SIGKILL');
        killedAt = ms;
        refill = (async () => {
          const k = Date.now();
          while (Date.now() - k < 5000) {
            const w = (await d.ctlAsync(['workers'])).workers.find((x) => x.id === victimId);
            if (w && w.pid !== victim.pid && w.state === 'ready') return Date.now() - k;
            await sleep(20);
          }
          return Infinity;
        })();
      },
    });
    const { acked, sent } = pubd;
    const pubErrors = pubd.errors;
    const publishMs = pubd.ms;
    loopDone = true;
    const loop = await looping;
    const refillMs = await refill;
    /* None of the dead worker's connections is listed any more. */
    const oldIds = new Set(victims.map((t) => t.connIds[0]));
    const ghosts = d.ctl(['conns', '--limit', '100000']).conns.filter((c) => oldIds.has(c.id));

    /* ---- settle: every client caught up with every room, or the deadline ---- */
    const last = Object.fromEntries(d.ctl(['rooms']).rooms.filter((r) => ROOMS.includes(r.name)).map((r) => [r.name, r.seq]));
    const caughtUp = () => clients.every((t) => t.caughtUp(last));
    await waitFor(caughtUp, { timeoutMs: Math.max(1000, Math.min(10000, hardDeadline - Date.now())), what: 'every client caught up' }).catch(
      () => {},
    );
    await sleep(300); /* a late duplicate would land here */
    stopping = true;

    /* ---- verdict ---- */
    const problems = verdict(clients, last);
    const resumedCount = clients.filter((t) => t.resumes.length).length;
    const summary =
      `${NCLIENTS} clients, ${perWorker.get(victimId)} on the killed worker ${victimId} (pid ${victim.pid}, killed at ${killedAt} ms); ` +
      `${sent} publishes in ${publishMs} ms, ${pubErrors.length} failed; last seqs ${j(last)}, acked ${j(acked)}; ` +
      `${resumedCount} clients resumed, ${clients.filter((t) => t.failure).length} failed; ${problems.length} problems; ` +
      `the connect loop connected ${loop.ok} times (${loop.resets.length} resets); the slot was ready again ${refillMs} ms after the kill`;

    assert.ok(killedAt !== null, 'the worker was killed');
    assert.ok(refillMs < 1000, `a new worker ready ${refillMs} ms after the kill`);
    assert.deepEqual(ghosts, [], 'wsctl conns lists connections of the dead worker');
    assert.deepEqual(loop.failures, [], `the connect loop was refused (${loop.ok} connects worked)`);
    assert.deepEqual(loop.retries, [], `the connect loop got 503 (${loop.ok} connects worked)`);
    /* A handshake the killed worker had accepted dies with it (a reset,
     * not a refusal); there can be a few, never more. */
    assert.ok(loop.resets.length <= 3, `the connect loop saw ${loop.resets.length} resets`);
    assert.ok(loop.ok > 10, `the connect loop connected ${loop.ok} times`);
    assert.deepEqual(pubErrors.slice(0, 5), [], `publishes refused: ${summary}`);
    for (const r of ROOMS) {
      assert.equal(last[r], acked[r], `room ${r}: wsctl rooms seq is the highest seq the publisher was answered (${summary})`);
      assert.ok(last[r] > 0, `room ${r} got messages`);
    }
    assert.ok(victims.length >= MIN_PER_WORKER, summary);
    const victimsNotResumed = victims.filter((t) => !t.resumes.length);
    assert.equal(
      victimsNotResumed.length,
      0,
      `clients of the killed worker that never resumed: ${victimsNotResumed.slice(0, 5).map((t) => `${t.name()} ${t.failure || ''} closes ${j(t.closes)}`).join('; ')} (${summary})`,
    );
    ctx.diagnostic(summary);
    if (problems.length) {
      assert.fail(`${summary}\n  ${problems.slice(0, 12).join('\n  ')}${problems.length > 12 ? `\n  ... ${problems.length - 12} more` : ''}`);
    }
  });
});

/*
 * The race of the spec's example, made deterministic: the old connection's
 * worker is stopped (SIGSTOP), so the connection is still registered and
 * its socket still open when the client comes back through the other
 * worker (the workers share one listening socket, and a stopped worker
 * accepts nothing). The resume takes the session over; then the stopped
 * worker is killed, and reaping it must not undo the resumed session.
 */
describe('resume while the old worker is stopped, then SIGKILL', () => {
  let d;
  let victimPid = null;
  const opened = [];

  before(async () => {
    d = await startWsd({ workers: 2, config: { jwt_secret: SECRET } });
  });
  after(async () => {
    if (victimPid) {
      try {
        process.kill(victimPid, 'SIGKILL'); /* a worker this test stopped; SIGKILL ends a stopped process too */
      } catch (_) {
        /* already gone */
      }
    }
    for (const c of opened) c.terminate();
    if (d) {
      try {
        d.workers();
      } catch (_) {
        /* best effort */
      }
      await d.stop();
    }
  });

  it('the resume takes over the registered connection; the reaping of its worker leaves the new one intact', { timeout: 30000 }, async () => {
    const ROOM = 'wk-stop';
    const USER = 'wk-stop-user';
    const url = () => `${d.url}?token=${mintToken(SECRET, { sub: USER })}`;
    const workerOfConn = (id) => d.ctl(['conn', id]).conn.worker;

    /* One connection on each worker; the old one is any of them. */
    let old = null;
    let otherWorker = null;
    for (let i = 0; i < 40 && otherWorker === null; i++) {
      const c = await connectWelcomed(url());
      opened.push(c);
      c.worker = workerOfConn(c.welcome.conn);
      if (!old) old = c;
      else if (c.worker !== old.worker) otherWorker = c.worker;
    }
    assert.notEqual(otherWorker, null, 'connections did not spread over both workers');
    for (const c of opened) if (c !== old) c.terminate();

    old.send({ type: 'subscribe', room: ROOM });
    const s = await old.nextMatching((m) => (m.type === 'subscribed' && m.room === ROOM) || m.type === 'error', 5000, 'subscribed');
    assert.equal(s.type, 'subscribed', j(s));
    for (let i = 1; i <= 3; i++) assert.equal(d.ctl(['publish', ROOM, j({ i })]).seq, i);
    for (let i = 1; i <= 3; i++) assert.equal((await old.nextIn(ROOM, 5000)).seq, i);

    const victim = d.workers().find((w) => w.id === old.worker);
    victimPid = victim.pid;
    process.kill(victimPid, 'SIGSTOP');
    for (let i = 4; i <= 5; i++) assert.equal(d.ctl(['publish', ROOM, j({ i })]).seq, i);
    assert.ok(
      d.ctl(['conns']).conns.some((x) => x.id === old.welcome.conn),
      'precondition: the old connection is still registered while its worker is stopped',
    );

    const c2 = await connectWelcomed(url(), { timeoutMs: 3000 });
    opened.push(c2);
    assert.equal(workerOfConn(c2.welcome.conn), otherWorker, 'the new connection is on the running worker');
    c2.send({ type: 'resume', token: old.welcome.resume_token, rooms: { [ROOM]: { seq: 3, epoch: s.epoch } } });
    const reply = await c2.nextMatching((m) => m.type === 'resumed' || m.type === 'error', 5000, 'resumed or error');
    assert.equal(reply.type, 'resumed', `resume while the old connection is registered: ${j(reply)}`);
    assert.equal(reply.session, old.welcome.session);
    assert.equal(reply.user, USER);
    for (const want of [4, 5]) assert.equal((await c2.nextIn(ROOM, 5000)).seq, want, 'replay after 3');

    process.kill(victimPid, 'SIGKILL');
    await waitFor(
      () => {
        const w = d.workers().find((x) => x.id === victim.id);
        return w && w.pid !== victimPid && w.state === 'ready';
      },
      { timeoutMs: 8000, what: `worker ${victim.id} restarted` },
    );
    victimPid = null;

    assert.ok(c2.isOpen, 'the resumed connection survives the reaping of the old worker');
    assert.equal(d.ctl(['publish', ROOM, j({ i: 6 })]).seq, 6);
    assert.equal((await c2.nextIn(ROOM, 5000)).seq, 6, 'live after the reaping');
    const seqs = c2.all.filter((m) => m.type === 'message' && m.room === ROOM).map((m) => m.seq);
    assert.deepEqual(seqs, [4, 5, 6], 'every delivery on the resumed connection, once each');
    const info = d.ctl(['conn', c2.welcome.conn]).conn;
    assert.ok(info.rooms.includes(ROOM), `still in ${ROOM}: ${j(info.rooms)}`);

    /* The reaping did not bring the old connection's session back: its token stays spent. */
    const stale = await connectWelcomed(url());
    opened.push(stale);
    stale.send({ type: 'resume', token: old.welcome.resume_token, rooms: {} });
    const rs = await stale.nextMatching((m) => m.type === 'resumed' || m.type === 'error', 5000, 'resumed or error');
    assert.equal(rs.type, 'error', `the taken-over token after the reaping: ${j(rs)}`);
    assert.equal(rs.code, 'resume_failed', j(rs));
    assert.ok(c2.isOpen, 'the resumed connection is untouched by the refused attempt');
    stale.terminate();

    /* The session is the resumed connection's: its token resumes it once more. */
    c2.ws._socket.destroy();
    await c2.waitClose(3000);
    const c3 = await connectWelcomed(url());
    opened.push(c3);
    c3.send({ type: 'resume', token: reply.resume_token, rooms: { [ROOM]: { seq: 6, epoch: s.epoch } } });
    const r3 = await c3.nextMatching((m) => m.type === 'resumed' || m.type === 'error', 5000, 'resumed or error');
    assert.equal(r3.type, 'resumed', `the token from the takeover resumes again: ${j(r3)}`);
    assert.equal(r3.session, old.welcome.session);
  });
});
