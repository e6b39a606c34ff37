'use strict';
/*
 * The engine's budgets against the real daemon: the global bound on rooms
 * (limits.max_rooms: a publish to one room more is refused with
 * `room_limit` and counted), the replay byte budget (replay.max_bytes:
 * the bytes kept, as `wsctl stats` and /metrics show them, never exceed
 * it, and a client that asks for what was evicted is told
 * `recovered: false`), the supervisor's memory while it holds them, and
 * a new epoch for a room that was forgotten and made again.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { startWsd, connectWelcomed, httpGet, stopCleanly, waitFor } = require('./harness');

const T = { timeout: 90000 };

function rssKb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}

/* Publishes to rooms[i] with ids, batch at a time; resolves with the
 * answers (ack or error) in order of ids. */
async function publishAll(c, rooms, data, batch = 2000) {
  const answers = new Map();
  for (let i = 0; i < rooms.length; i += batch) {
    const end = Math.min(i + batch, rooms.length);
    for (let j = i; j < end; j++) c.send({ type: 'publish', room: rooms[j], data, id: `p${j}` });
    for (let j = i; j < end; j++) {
      const m = await c.nextMatching((x) => (x.type === 'ack' || x.type === 'error') && x.id !== undefined || x.ref !== undefined, 10000, `answer ${j}`);
      answers.set(m.id || m.ref, m);
    }
  }
  return answers;
}

describe('limits.max_rooms', () => {
  const MAX = 50000;
  const N = 200000;
  let d;

  before(async () => {
    d = await startWsd({ workers: 1, config: { limits: { max_rooms: MAX, max_queue_msgs: 100000, max_queue_bytes: 64 << 20, rate_msgs: 0 } } });
  });
  after(async () => {
    if (d) await stopCleanly(d);
  });

  it('stops at the bound with room_limit errors, and counts them', T, async (t) => {
    const c = await connectWelcomed(d.url);
    const before = rssKb(d.pid);
    const rooms = Array.from({ length: N }, (_, i) => `r${i}`);
    const answers = await publishAll(c, rooms, 1);
    let acks = 0;
    let limited = 0;
    for (const m of answers.values()) {
      if (m.type === 'ack') acks++;
      else if (m.code === 'room_limit') limited++;
      else assert.fail(`unexpected answer ${JSON.stringify(m)}`);
    }
    assert.equal(acks, MAX, 'one publish accepted per room up to the bound');
    assert.equal(limited, N - MAX, 'every publish past the bound refused');
    const st = d.ctl(['stats']).stats;
    assert.equal(st.rooms, MAX);
    assert.equal(st.room_limit_hits, N - MAX);
    /* Existing rooms still take publishes. */
    c.send({ type: 'publish', room: 'r7', data: 2, id: 'again' });
    const again = await c.nextMatching((x) => x.id === 'again');
    assert.equal(again.type, 'ack');
    assert.equal(again.seq, 2);
    /* A subscribe to a new room is refused the same way. */
    c.send({ type: 'subscribe', room: 'fresh-room' });
    const e = await c.next('error');
    assert.equal(e.code, 'room_limit');
    const metrics = await httpGet(d.adminPort, '/metrics');
    assert.match(metrics.body.toString(), new RegExp(`^wsd_room_limit_total ${N - MAX + 1}$`, 'm'));
    /* The documented bound (docs/architecture.md): at most 1 KiB of
     * supervisor memory per room with one short message. */
    const grown = rssKb(d.pid) - before;
    t.diagnostic(`supervisor RSS grew ${grown} kB for ${MAX} rooms (${N} publishes)`);
    /* AddressSanitizer's shadow and quarantine multiply the heap: the
     * bound is a figure of the real build. */
    if (!fs.readFileSync(`/proc/${d.pid}/maps`, 'utf8').includes('libasan'))
      assert.ok(grown < MAX, `supervisor grew ${grown} kB for ${MAX} rooms`);
    c.close();
  });
});

describe('replay.max_bytes', () => {
  const BUDGET = 1 << 20;
  let d;

  before(async () => {
    d = await startWsd({ workers: 1, config: { replay: { size: 10000, max_bytes: BUDGET }, limits: { max_queue_msgs: 100000, max_queue_bytes: 64 << 20, rate_msgs: 0 } } });
  });
  after(async () => {
    if (d) await stopCleanly(d);
  });

  it('keeps the replay bytes within the budget; the largest logs give way', T, async () => {
    const c = await connectWelcomed(d.url);
    const blob = 'x'.repeat(1000);
    /* big gets 4000 messages, small 100 after it: the budget is over
     * while big is the largest, so big loses its oldest first. */
    const rooms = [...Array(4000).fill('big'), ...Array(100).fill('small')];
    const answers = await publishAll(c, rooms, blob, 500);
    for (const m of answers.values()) assert.equal(m.type, 'ack');
    const st = d.ctl(['stats']).stats;
    assert.ok(st.replay_bytes <= BUDGET, `replay_bytes ${st.replay_bytes} > ${BUDGET}`);
    assert.ok(st.replay_bytes > BUDGET * 0.9, `replay_bytes ${st.replay_bytes} far below the budget`);
    assert.ok(st.replay_evictions > 0);
    const metrics = (await httpGet(d.adminPort, '/metrics')).body.toString();
    const kept = Number(/^wsd_replay_bytes (\d+)$/m.exec(metrics)[1]);
    assert.ok(kept <= BUDGET);
    /* small kept all of its 100; big lost its oldest. */
    const rooms2 = d.ctl(['rooms']).rooms;
    const small = rooms2.find((r) => r.name === 'small');
    const big = rooms2.find((r) => r.name === 'big');
    assert.equal(small.log, 100);
    assert.ok(big.log < 4000 && big.log > 500, `big keeps ${big.log}`);
    /* Asking big for everything: told it is not all there. */
    const s = await connectWelcomed(d.url);
    s.send({ type: 'subscribe', room: 'big', since: 0, epoch: big.epoch });
    const sub = await s.next('subscribed');
    assert.equal(sub.recovered, false);
    assert.equal(sub.seq, 4000);
    const first = await s.nextIn('big');
    assert.equal(first.seq, 4000 - big.log + 1, 'the replay starts at the oldest kept');
    /* And small from its start: recovered. */
    s.send({ type: 'subscribe', room: 'small', since: 0 });
    const sub2 = await s.next('subscribed');
    assert.equal(sub2.recovered, true);
    c.close();
    s.close();
  });
});

describe('a room forgotten and made again', () => {
  let d;

  before(async () => {
    d = await startWsd({ workers: 1, config: { replay: { ttl_ms: 1000 } } });
  });
  after(async () => {
    if (d) await stopCleanly(d);
  });

  it('gets a new epoch, and a since of the old epoch is not recovered', { timeout: 30000 }, async () => {
    const c = await connectWelcomed(d.url);
    c.send({ type: 'subscribe', room: 'brief' });
    const first = await c.next('subscribed');
    for (let i = 1; i <= 3; i++) c.send({ type: 'publish', room: 'brief', data: i, id: `b${i}` });
    for (let i = 1; i <= 3; i++) await c.next('ack');
    c.send({ type: 'unsubscribe', room: 'brief' });
    /* No member, and its log ages out after replay.ttl_ms: the sweep
     * (every 10 s) forgets the room. */
    const gone = () => !d.ctl(['rooms']).rooms.some((r) => r.name === 'brief');
    await waitFor(gone, { timeoutMs: 20000, intervalMs: 250, what: 'room brief to be forgotten' });
    c.send({ type: 'subscribe', room: 'brief', since: 3, epoch: first.epoch });
    const again = await c.next('subscribed');
    assert.notEqual(again.epoch, first.epoch);
    assert.equal(again.seq, 0);
    assert.equal(again.recovered, false);
    /* The new epoch counts from 1 again, and says so. */
    c.send({ type: 'publish', room: 'brief', data: 'new', id: 'n1' });
    const m = await c.nextIn('brief');
    assert.equal(m.seq, 1);
    c.close();
  });
});
