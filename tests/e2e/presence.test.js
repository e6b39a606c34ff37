'use strict';
/*
 * Presence: who is in a room, with the `info` of their tokens. Clients
 * may ask where presence.query allows it; joins and leaves are announced
 * where presence.announce says so; `wsctl room NAME` always lists the
 * users present.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startWsd, connectWelcomed, mintToken, sleep, stopCleanly } = require('./harness');

const T = { timeout: 20000 };
const SECRET = 'e2e-presence-secret-5a7c9e1b3d';

describe('presence', () => {
  let d;
  const url = (sub, info) => `${d.url}?token=${mintToken(SECRET, info ? { sub, info } : { sub })}`;

  before(async () => {
    d = await startWsd({
      config: {
        jwt_secret: SECRET,
        presence: { query: ['chat.*'], announce: ['chat.*'] },
      },
    });
  });
  after(async () => {
    if (d) await stopCleanly(d);
  });

  it('announces joins and leaves, answers presence, lists users in wsctl', T, async () => {
    const a = await connectWelcomed(url('alice', { name: 'Alice' }));
    const b = await connectWelcomed(url('bob', { name: 'Bob' }));
    const b2 = await connectWelcomed(url('bob', { name: 'Bob' }));
    a.send({ type: 'subscribe', room: 'chat.x' });
    await a.next('subscribed');
    b.send({ type: 'subscribe', room: 'chat.x' });
    await b.next('subscribed');
    const j = await a.next('join');
    assert.deepEqual(j, { type: 'join', room: 'chat.x', user: 'bob', info: { name: 'Bob' } });
    /* bob's second connection joins: bob is already present, no news. */
    b2.send({ type: 'subscribe', room: 'chat.x' });
    await b2.next('subscribed');
    b.send({ type: 'presence', room: 'chat.x' });
    const p = await b.next('presence');
    assert.equal(p.room, 'chat.x');
    const users = Object.fromEntries(p.users.map((u) => [u.user, u]));
    assert.deepEqual(Object.keys(users).sort(), ['alice', 'bob']);
    assert.deepEqual(users.alice.info, { name: 'Alice' });
    assert.equal(users.bob.conns, 2);
    const room = d.ctl(['room', 'chat.x']).room;
    assert.deepEqual(room.users.map((u) => u.user).sort(), ['alice', 'bob']);
    assert.equal(room.members.length, 3);
    /* One of bob's two leaves: still present. Then the other: leave. */
    b.send({ type: 'unsubscribe', room: 'chat.x' });
    await sleep(200);
    assert.deepEqual(a.peek((m) => m.type === 'leave'), []);
    b2.close();
    const l = await a.next('leave');
    assert.deepEqual(l, { type: 'leave', room: 'chat.x', user: 'bob', info: { name: 'Bob' } });
    a.close();
    b.close();
  });

  it('announces nothing when a resume takes a session over', T, async () => {
    const a = await connectWelcomed(url('erin'));
    const b1 = await connectWelcomed(url('frank'));
    a.send({ type: 'subscribe', room: 'chat.t' });
    await a.next('subscribed');
    b1.send({ type: 'subscribe', room: 'chat.t' });
    await b1.next('subscribed');
    await a.next('join');
    /* frank comes back on a new connection while the old one is still
     * registered: the session moves, frank never left. */
    const b2 = await connectWelcomed(url('frank'));
    b2.send({ type: 'resume', token: b1.welcome.resume_token });
    const r = await b2.next('resumed');
    assert.ok('chat.t' in r.rooms);
    const closed = await b1.waitClose();
    assert.equal(closed.code, 4003);
    await sleep(200);
    assert.deepEqual(a.peek((m) => m.type === 'leave' || m.type === 'join'), []);
    const room = d.ctl(['room', 'chat.t']).room;
    assert.deepEqual(room.users.map((u) => [u.user, u.conns]).sort(), [['erin', 1], ['frank', 1]]);
    a.close();
    b2.close();
  });

  it('refuses presence outside presence.query and announces nothing outside presence.announce', T, async () => {
    const a = await connectWelcomed(url('carol'));
    const b = await connectWelcomed(url('dave'));
    a.send({ type: 'subscribe', room: 'quiet' });
    await a.next('subscribed');
    b.send({ type: 'subscribe', room: 'quiet' });
    await b.next('subscribed');
    b.send({ type: 'presence', room: 'quiet' });
    const e = await b.next('error');
    assert.equal(e.code, 'forbidden');
    await sleep(200);
    assert.deepEqual(a.peek((m) => m.type === 'join'), []);
    /* The operator still sees who is there. */
    const room = d.ctl(['room', 'quiet']).room;
    assert.deepEqual(room.users.map((u) => u.user).sort(), ['carol', 'dave']);
    assert.equal(room.users[0].info, null);
    a.close();
    b.close();
  });
});
