'use strict';
/*
 * Per-room slow-consumer policies (room_policies): three readers stop
 * reading while a publisher floods their rooms. In a `latest_per_key`
 * room the queued message of a key is replaced by the next of that key,
 * so the reader stays connected and ends with the last value of every
 * key; in a `drop_oldest` room the reader stays connected, drops show in
 * `wsctl conn`, and it ends with the last message; in a room with the
 * default policy (`disconnect`) the reader is closed with 4001.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startWsd, connectWelcomed, waitFor, sleep } = require('./harness');

const N = 3000;
const PAD = 'x'.repeat(3000);
const KEYS = ['AAPL', 'MSFT', 'GOOG'];

/* A subscriber of room on d that then stops reading. */
async function reader(d, room) {
  const c = await connectWelcomed(d.url);
  c.send({ type: 'subscribe', room });
  await c.next('subscribed');
  c.ws._socket.pause();
  return c;
}

describe('room_policies', () => {
  let d;

  before(async () => {
    d = await startWsd({
      workers: 1,
      config: {
        room_policies: ['tick.*=latest_per_key', 'chat.*=drop_oldest'],
        limits: { rate_msgs: 0, max_queue_msgs: 32, max_queue_bytes: 262144 },
      },
    });
  });
  after(async () => {
    if (d) await d.stop();
  });


  it('each room keeps its own policy under a flood', { timeout: 60000 }, async () => {
    const tick = await reader(d, 'tick.prices');
    const chat = await reader(d, 'chat.lobby');
    const plain = await reader(d, 'plain');
    const pub = await connectWelcomed(d.url);
    const last = {};
    /* Once closed, the disconnect reader reads again at once: its close
     * frame must be read before CLOSE_WAIT runs out, also while the test
     * waits below (a slow, sanitized run closes it late). */
    const watch = setInterval(() => {
      try {
        if (plain.ws._socket.isPaused() && !d.ctl(['conns']).conns.some((x) => x.id === plain.welcome.conn)) plain.ws._socket.resume();
      } catch (_) {
        clearInterval(watch); /* the daemon is gone: the test has failed */
      }
    }, 50);
    watch.unref();
    for (let i = 0; i < N; i++) {
      const key = KEYS[i % KEYS.length];
      last[key] = i;
      pub.send({ type: 'publish', room: 'tick.prices', key, data: { key, i, pad: PAD } });
      pub.send({ type: 'publish', room: 'chat.lobby', data: { i, pad: PAD } });
      pub.send({ type: 'publish', room: 'plain', data: { i, pad: PAD } });
      if (i % 200 === 199) await sleep(5);
    }
    /* Everything is published and fanned out. */
    await waitFor(() => d.ctl(['room', 'plain']).room.seq === N, { timeoutMs: 20000, what: 'all published' });
    await waitFor(() => d.ctl(['room', 'tick.prices']).room.seq === N, { timeoutMs: 20000, what: 'all published' });
    await sleep(300);
    /* The default policy closed its reader; the others are still there. */
    await waitFor(() => !d.ctl(['conns']).conns.some((x) => x.id === plain.welcome.conn), { what: 'the disconnect reader closed' });
    clearInterval(watch);
    plain.ws._socket.resume();
    const conns = new Map(d.ctl(['conns']).conns.map((c) => [c.id, c]));
    assert.ok(!conns.has(plain.welcome.conn), 'the disconnect reader is closed');
    assert.ok(conns.has(tick.welcome.conn), 'the latest_per_key reader stays');
    assert.ok(conns.has(chat.welcome.conn), 'the drop_oldest reader stays');
    const tickDrops = d.ctl(['conn', tick.welcome.conn]).conn.drops;
    const chatDrops = d.ctl(['conn', chat.welcome.conn]).conn.drops;
    assert.ok(tickDrops > 0 && chatDrops > 0, `drops: tick ${tickDrops}, chat ${chatDrops}`);
    /* The worker's slot counts them too (workers' drops, on the dashboard). */
    const slotDrops = d.ctl(['workers']).workers[0].drops;
    assert.ok(slotDrops >= tickDrops + chatDrops, `slot drops ${slotDrops}, tick ${tickDrops} + chat ${chatDrops}`);
    /* wsctl top shows the worst first. */
    const top = d.ctl(['top', '--by', 'drops', '--limit', '2']);
    assert.equal(top.by, 'drops');
    assert.deepEqual(
      new Set(top.conns.map((x) => x.id)),
      new Set([tick.welcome.conn, chat.welcome.conn]),
      JSON.stringify(top.conns),
    );
    assert.ok(top.conns[0].drops >= top.conns[1].drops);
    /* Read again. */
    for (const c of [tick, chat, plain]) c.ws._socket.resume();
    assert.equal((await plain.waitClose(10000)).code, 4001);
    const msgs = (c, room) => c.all.filter((m) => m.type === 'message' && m.room === room);
    await waitFor(() => msgs(chat, 'chat.lobby').some((m) => m.seq === N), { timeoutMs: 10000, what: 'chat caught up' });
    await waitFor(
      () => KEYS.every((k) => msgs(tick, 'tick.prices').some((m) => m.data.key === k && m.data.i === last[k])),
      { timeoutMs: 10000, what: 'the last value of every key' },
    );
    const t = msgs(tick, 'tick.prices');
    const c = msgs(chat, 'chat.lobby');
    assert.ok(t.length < N, `latest_per_key delivered ${t.length} of ${N}`);
    assert.ok(c.length < N, `drop_oldest delivered ${c.length} of ${N}`);
    /* Seqs still only go up: a gap, never a reorder. */
    for (const list of [t, c]) for (let i = 1; i < list.length; i++) assert.ok(list[i].seq > list[i - 1].seq);
    /* The last delivery of each key is its last value. */
    for (const k of KEYS) {
      const mine = t.filter((m) => m.data.key === k);
      assert.equal(mine[mine.length - 1].data.i, last[k], `key ${k}`);
    }
    assert.ok(tick.isOpen && chat.isOpen);
    for (const x of [tick, chat, pub]) x.close();
  });
});

/*
 * A budget on all the queues of a worker (limits.worker_queue_bytes):
 * three stalled readers of a drop_oldest room each stay within their own
 * queue bound, but together they pass the budget, so the largest give
 * way first (closed with 4001) until the rest fits.
 */
describe('limits.worker_queue_bytes', () => {
  let d;

  before(async () => {
    d = await startWsd({
      workers: 1,
      config: {
        room_policies: ['b.*=drop_oldest'],
        limits: { rate_msgs: 0, max_queue_msgs: 1000, max_queue_bytes: 262144, worker_queue_bytes: 400000 },
      },
    });
  });
  after(async () => {
    if (d) await d.stop();
  });

  it('the largest queues give way first', { timeout: 60000 }, async () => {
    const readers = [];
    for (let i = 0; i < 3; i++) readers.push(await reader(d, 'b.room'));
    const pub = await connectWelcomed(d.url);
    for (let i = 0; i < 3000; i++) {
      pub.send({ type: 'publish', room: 'b.room', data: { i, pad: PAD } });
      if (i % 200 === 199) await sleep(5);
    }
    await waitFor(() => d.ctl(['room', 'b.room']).room.seq === 3000, { timeoutMs: 20000, what: 'all published' });
    await waitFor(() => /"event":"worker_budget_close",.*"code":4001/.test(d.log()), { timeoutMs: 5000, what: 'the budget acting' });
    const left = new Set(d.ctl(['conns']).conns.map((c) => c.id));
    const closed = readers.filter((c) => !left.has(c.welcome.conn));
    assert.ok(closed.length >= 1 && closed.length < 3, `${closed.length} of 3 readers closed`);
    for (const c of readers) c.ws._socket.resume();
    for (const c of closed) assert.equal((await c.waitClose(10000)).code, 4001);
    pub.close();
  });

});
