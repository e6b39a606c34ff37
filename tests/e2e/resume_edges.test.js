'use strict';
/*
 * The edges of resume that a review found: a replay larger than the
 * client's queue is paged (the oldest part, recovered false, the rest by
 * subscribe with since); a user from a token gets its personal room live
 * from its welcome, so the resume replays only what came before, with no
 * duplicate; a resume cut off before `resumed` left the worker keeps the
 * old token good; an epoch is compared whole.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startWsd, connectWelcomed, mintToken, sleep, stopCleanly, waitFor } = require('./harness');

const T = { timeout: 30000 };
const SECRET = 'e2e-resume-edges-secret-9c2e7a41';

describe('resume edges', () => {
  let d;
  const url = (user) => (user ? `${d.url}?token=${mintToken(SECRET, { sub: user })}` : d.url);

  before(async () => {
    d = await startWsd({ workers: 1, config: { jwt_secret: SECRET, limits: { max_queue_msgs: 1000, max_rooms_per_conn: 2 }, replay: { size: 2000 } } });
  });
  after(async () => {
    if (d) await stopCleanly(d);
  });

  /* Publishes n messages to room through the admin API, one request at
   * a time so the seqs are in order; returns the last seq. (One wsctl
   * process per message was too slow on a loaded 2-core CI machine.) */
  async function publish(room, n) {
    let seq = 0;
    for (let i = 0; i < n; i++) {
      const res = await fetch(`http://127.0.0.1:${d.adminPort}/api/publish`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ room, data: { i } }),
      });
      const j = await res.json();
      assert.equal(j.ok, true, JSON.stringify(j));
      seq = j.seq;
    }
    return seq;
  }

  it('pages a replay larger than the client may queue', T, async () => {
    const a = await connectWelcomed(url('pager'));
    a.send({ type: 'subscribe', room: 'big' });
    const sub = await a.next('subscribed');
    a.ws._socket.destroy();
    await sleep(200);
    const last = await publish('big', 800);
    const b = await connectWelcomed(url('pager'));
    b.send({ type: 'resume', token: a.welcome.resume_token, rooms: { big: { seq: 0, epoch: sub.epoch } } });
    const r = await b.next('resumed');
    assert.equal(r.rooms.big.recovered, false, 'a cut replay says so');
    assert.equal(r.rooms.big.seq, last);
    const got = [];
    for (let i = 0; i < 500; i++) got.push((await b.nextIn('big')).seq);
    assert.deepEqual(got, Array.from({ length: 500 }, (_, k) => k + 1), 'the oldest half of the queue, in order');
    await sleep(200);
    assert.deepEqual(b.peek((m) => m.type === 'message'), [], 'no more than the budget');
    b.send({ type: 'subscribe', room: 'big', since: 500, epoch: sub.epoch });
    const s2 = await b.next('subscribed');
    assert.equal(s2.recovered, true);
    for (let k = 501; k <= last; k++) assert.equal((await b.nextIn('big')).seq, k);
    b.close();
  });

  it('replays a token user\'s personal room only up to its welcome', T, async () => {
    const a = await connectWelcomed(url('pers'));
    const other = await connectWelcomed(url('sender'));
    other.send({ type: 'send', user: 'pers', data: 'one', id: 's1' });
    const m1 = await a.nextIn('user:pers');
    a.ws._socket.destroy();
    await sleep(200);
    other.send({ type: 'send', user: 'pers', data: 'missed', id: 's2' });
    await other.next('ack');
    const b = await connectWelcomed(url('pers'));
    other.send({ type: 'send', user: 'pers', data: 'live', id: 's3' });
    const live = await b.nextIn('user:pers');
    assert.equal(live.data, 'live');
    b.send({ type: 'resume', token: a.welcome.resume_token, rooms: { 'user:pers': { seq: m1.seq } } });
    await b.next('resumed');
    const missed = await b.nextIn('user:pers');
    assert.equal(missed.data, 'missed');
    assert.equal(missed.seq, m1.seq + 1);
    await sleep(200);
    assert.deepEqual(b.peek((m) => m.type === 'message'), [], 'the live one is not sent twice');
    a.close();
    b.close();
    other.close();
  });

  it('keeps the old token good when the resume was cut off before resumed', T, async () => {
    const a = await connectWelcomed(url());
    a.send({ type: 'subscribe', room: 'cut' });
    await a.next('subscribed');
    a.ws._socket.destroy();
    await sleep(200);
    const b = await connectWelcomed(url());
    /* The supervisor is held while the worker passes the resume on and
     * then sees the socket go: when the supervisor takes the resume,
     * the connection is gone from the worker, and `resumed` finds no
     * one to go to. */
    process.kill(d.pid, 'SIGSTOP');
    try {
      b.ws.send(JSON.stringify({ type: 'resume', token: a.welcome.resume_token }));
      await sleep(100);
      b.ws._socket.destroy();
      await sleep(300);
    } finally {
      process.kill(d.pid, 'SIGCONT');
    }
    await waitFor(() => d.ctl(['status']).connections === 0, { what: 'the cut connection to go' });
    const c = await connectWelcomed(url());
    c.send({ type: 'resume', token: a.welcome.resume_token });
    const r = await c.nextMatching((m) => m.type === 'resumed' || m.type === 'error');
    assert.equal(r.type, 'resumed', JSON.stringify(r));
    assert.equal(r.user, a.welcome.user);
    assert.ok('cut' in r.rooms);
    c.close();
  });

  it('tells which listed rooms it could not rejoin', T, async () => {
    const a = await connectWelcomed(url('many'));
    a.ws._socket.destroy();
    await sleep(200);
    const b = await connectWelcomed(url('many'));
    b.send({ type: 'resume', token: a.welcome.resume_token, rooms: { r1: 0, r2: 0, r3: 0 } });
    const r = await b.next('resumed');
    const joined = Object.keys(r.rooms).filter((n) => !n.startsWith('user:'));
    assert.equal(joined.length, 2, JSON.stringify(r.rooms));
    const e = await b.next('error');
    assert.equal(e.code, 'too_many_rooms');
    assert.ok(['r1', 'r2', 'r3'].includes(e.ref) && !joined.includes(e.ref));
    /* Rooms no client may be in are named too. */
    b.ws._socket.destroy();
    await sleep(200);
    const c = await connectWelcomed(url('many'));
    c.send({ type: 'resume', token: r.resume_token, rooms: { '*': 0, 'user:someone': 0 } });
    const r2 = await c.next('resumed');
    assert.ok(!('*' in r2.rooms) && !('user:someone' in r2.rooms));
    const errors = [await c.next('error'), await c.next('error')];
    assert.deepEqual(errors.map((x) => [x.ref, x.code]).sort(), [['*', 'forbidden'], ['user:someone', 'forbidden']]);
    c.close();
  });

  it('compares an epoch whole', T, async () => {
    const a = await connectWelcomed(url('epo'));
    a.send({ type: 'subscribe', room: 'ep' });
    const sub = await a.next('subscribed');
    await publish('ep', 3);
    for (let i = 0; i < 3; i++) await a.nextIn('ep');
    a.send({ type: 'subscribe', room: 'ep', since: 1, epoch: `${sub.epoch}-other` });
    const again = await a.next('subscribed');
    assert.equal(again.recovered, false);
    await sleep(200);
    assert.deepEqual(a.peek((m) => m.type === 'message'), [], 'nothing replayed across epochs');
    a.close();
  });
});
