'use strict';
/*
 * A flood that fills the supervisor-to-worker channel loses no message:
 * the subscriber's worker is stopped (SIGSTOP) while a publisher on the
 * other worker sends 20,000 messages, more than nng's queue to the
 * stopped worker holds; the rest waits in the supervisor's outbox for that
 * worker, in order. Once the worker runs again (SIGCONT), the subscriber
 * gets every seq, once, in order, and the room's seq equals the number of
 * publishes acknowledged. Nothing is counted as dropped.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startWsd, connectWelcomed, waitFor, sleep } = require('./harness');

const N = 20000;
const ROOM = 'ipc-flood';

describe('supervisor to worker channel under a flood', () => {
  let d;
  let stoppedPid = null;

  before(async () => {
    d = await startWsd({
      workers: 2,
      config: { replay: { size: 100 }, limits: { rate_msgs: 0, max_queue_msgs: 100000, max_queue_bytes: 64 << 20 } },
    });
  });
  after(async () => {
    if (stoppedPid) {
      try {
        process.kill(stoppedPid, 'SIGCONT');
      } catch (_) {
        /* gone */
      }
    }
    if (d) await d.stop();
  });

  it('loses no message while the subscriber worker is stopped', { timeout: 60000 }, async () => {
    /* A subscriber on one worker and a publisher on the other. */
    const conns = [];
    let sub = null;
    let pub = null;
    for (let i = 0; i < 40 && !(sub && pub); i++) {
      const c = await connectWelcomed(d.url);
      conns.push(c);
      c.worker = d.ctl(['conn', c.welcome.conn]).conn.worker;
      if (!sub) sub = c;
      else if (c.worker !== sub.worker) pub = c;
    }
    assert.ok(sub && pub, 'connections on both workers');
    for (const c of conns) if (c !== sub && c !== pub) c.close();
    sub.send({ type: 'subscribe', room: ROOM });
    await sub.next('subscribed');
    const seen = [];
    sub.ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      if (m.type === 'message' && m.room === ROOM) seen.push(m.seq);
    });
    const victim = d.ctl(['workers']).workers.find((w) => w.id === sub.worker);
    stoppedPid = victim.pid;
    process.kill(victim.pid, 'SIGSTOP');
    let acked = 0;
    pub.ws.on('message', (data) => {
      if (JSON.parse(data.toString()).type === 'ack') acked++;
    });
    for (let i = 0; i < N; i++) pub.send({ type: 'publish', room: ROOM, data: { i }, id: `p${i}` });
    await waitFor(() => acked === N, { timeoutMs: 30000, what: `${N} acks` });
    const w = d.ctl(['workers']).workers.find((x) => x.id === sub.worker);
    assert.ok(w.outbox > 0, `messages wait in the outbox of worker ${w.id}: ${JSON.stringify(w)}`);
    process.kill(victim.pid, 'SIGCONT');
    stoppedPid = null;
    await waitFor(() => seen.length >= N, { timeoutMs: 30000, what: `${N} deliveries (got ${seen.length})` });
    await sleep(200);
    assert.equal(seen.length, N);
    for (let i = 0; i < N; i++) if (seen[i] !== i + 1) assert.fail(`delivery ${i} has seq ${seen[i]}`);
    const room = d.ctl(['room', ROOM]).room;
    assert.equal(room.seq, N);
    const st = d.ctl(['stats']).stats;
    assert.equal(st.ipc_drops, 0);
    assert.equal(st.workers_stuck, 0);
    assert.equal(d.ctl(['workers']).workers.find((x) => x.id === sub.worker).pid, victim.pid, 'the worker was not restarted');
    sub.close();
    pub.close();
  });
});
