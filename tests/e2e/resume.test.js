'use strict';
/*
 * Session resume (the `resume` message), replay on resume, epochs, and the
 * session keys: what a client that lost its connection gets back.
 *
 *   1. a JWT user drops its socket, misses 50 messages, resumes: `resumed`,
 *      exactly the missed seqs in order, then live, no duplicate;
 *      rooms it does not list are rejoined and replayed too;
 *   2. an anonymous client gets its old user id back and the `send` to its
 *      personal room made while it was away;
 *   3. refusals (`error` resume_failed, the connection stays open): a spent
 *      token, a tampered one, another user's, an expired token, an expired
 *      session, a revoked session, a resume that is not the first frame,
 *      malformed tokens;
 *   4. epochs across a daemon restart (no state file);
 *   5. key rotation by reload (sessions.keys).
 *
 * Each describe block starts its own daemon and stops it in after().
 * Old connections are dropped without a close frame (the TCP socket is
 * destroyed), as a client that loses its network would.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const { startWsd, connectWelcomed, mintToken, renderConfig, waitFor, sleep } = require('./harness');

const T = { timeout: 30000 };
const SECRET = 'e2e-resume-secret-4b1d9e07c3a85f62';

/* ------------------------------------------------------------------ */
/* Helpers. */

const userUrl = (d, user) => `${d.url}?token=${mintToken(SECRET, { sub: user })}`;
const range = (from, to) => Array.from({ length: Math.max(0, to - from + 1) }, (_, k) => from + k);
const j = (x) => JSON.stringify(x);
const keySecret = () => crypto.randomBytes(16).toString('hex'); /* 32 chars */

/* The config the harness generated for d, without overrides. */
function baseConfig(d) {
  return d.base;
}

/* Rewrites d's config file (base plus overrides) and reloads; waits for the next generation. */
async function reloadWith(d, overrides) {
  const gen = d.ctl(['status']).generation;
  fs.writeFileSync(d.confPath, renderConfig(baseConfig(d), overrides));
  const r = d.ctlResult(['reload']);
  assert.equal(r.status, 0, `wsctl reload: status ${r.status}; stdout ${r.stdout}; stderr ${r.stderr}`);
  await waitFor(() => d.ctl(['status']).generation > gen, { timeoutMs: 3000, what: `generation > ${gen}` });
  await waitFor(
    () => {
      const st = d.ctl(['status']);
      return st.workers_ready === st.workers_total;
    },
    { timeoutMs: 5000, what: 'every worker ready after the reload' },
  );
}

/*
 * Drops c's TCP socket without a close frame and waits until the daemon no
 * longer lists the connection (so what follows happens while it is away).
 */
async function dropSocket(d, c) {
  const id = c.welcome.conn;
  c.ws._socket.destroy();
  await c.waitClose(3000);
  await waitFor(() => !d.ctl(['conns']).conns.some((x) => x.id === id), {
    timeoutMs: 3000,
    what: `conn ${id} to leave wsctl conns after its socket was dropped`,
  });
}

/*
 * Opens a connection to url and sends `resume` as its first frame (right
 * after the welcome). Resolves { c, reply } where reply is the first
 * `resumed` or `error` that comes back.
 */
async function resumeOn(url, token, rooms) {
  const c = await connectWelcomed(url);
  const msg = { type: 'resume', token };
  if (rooms !== undefined) msg.rooms = rooms;
  c.send(msg);
  const reply = await c.nextMatching((m) => m.type === 'resumed' || m.type === 'error', 5000, 'resumed or error');
  return { c, reply };
}

/* Asserts reply is a `resumed`, and that it is the first message after the welcome. */
function assertResumed(c, reply, what) {
  assert.equal(reply.type, 'resumed', `${what}: expected resumed, got ${j(reply)}`);
  assert.equal(c.all[0].type, 'welcome', `${what}: first message ${j(c.all[0])}`);
  assert.equal(c.all[1], reply, `${what}: resumed must be the first message after the welcome; got ${j(c.all.slice(0, 3))}`);
  assert.equal(typeof reply.resume_token, 'string', `${what}: resume_token in ${j(reply)}`);
  assert.ok(reply.resume_token.length > 0, `${what}: empty resume_token`);
}

/* Asserts reply is error resume_failed, and that the connection is still open and answers. */
async function assertRefused(c, reply, what) {
  assert.equal(reply.type, 'error', `${what}: expected error resume_failed, got ${j(reply)}`);
  assert.equal(reply.code, 'resume_failed', `${what}: error code ${j(reply)}`);
  assert.equal(typeof reply.reason, 'string', `${what}: reason in ${j(reply)}`);
  assert.ok(!c.peek((m) => m.type === 'resumed').length, `${what}: a resumed came too`);
  assert.ok(c.isOpen, `${what}: the connection must stay open after resume_failed`);
  c.send({ type: 'ping' });
  await c.next('pong', 3000).catch((e) => {
    throw new Error(`${what}: no pong after resume_failed (the connection must stay usable): ${e.message}`);
  });
}

/* Publishes n messages to room with wsctl; returns their seqs. */
function publishN(d, room, n, tag) {
  const seqs = [];
  for (let i = 0; i < n; i++) {
    const r = d.ctl(['publish', room, j({ tag, i })]);
    seqs.push(r.seq);
  }
  return seqs;
}

/* The next n messages of room on c; asserts their seqs are exactly `expect`. */
async function expectSeqs(c, room, expect, what) {
  const got = [];
  for (let k = 0; k < expect.length; k++) {
    let m;
    try {
      m = await c.nextIn(room, 5000);
    } catch (e) {
      throw new Error(`${what}: got seqs ${j(got)} of ${expect[0]}..${expect[expect.length - 1]} in ${room}, then: ${e.message}`);
    }
    got.push(m.seq);
  }
  assert.deepEqual(got, expect, `${what}: seqs in ${room}`);
  return got;
}

/* Subscribes c to room (optionally since/epoch) and returns the `subscribed`. */
async function subscribe(c, room, extra = {}) {
  c.send({ type: 'subscribe', room, ...extra });
  return c.nextMatching((m) => (m.type === 'subscribed' && m.room === room) || m.type === 'error', 5000, `subscribed ${room}`);
}

/* A token with one character of its MAC part changed (the last '.'-separated part). */
function tamper(token) {
  const cut = token.lastIndexOf('.');
  /* The first character of the part is fully significant in hex and in base64. */
  const i = cut >= 0 && cut + 1 < token.length ? cut + 1 : Math.floor(token.length / 2);
  const repl = token[i] === 'a' ? 'b' : 'a';
  return token.slice(0, i) + repl + token.slice(i + 1);
}

/* ------------------------------------------------------------------ */

describe('resume: replay after a dropped socket', () => {
  let d;

  before(async () => {
    d = await startWsd({ workers: 2, config: { jwt_secret: SECRET } });
  });
  after(async () => {
    if (d) await d.stop();
  });

  it('JWT user: resumed, then exactly N+1..N+50 in order, then live N+51, no duplicate', T, async () => {
    const ROOM = 'r1-jwt';
    const USER = 'alice-r1';
    const N = 5;
    const c = await connectWelcomed(userUrl(d, USER));
    const w = c.welcome;
    const s = await subscribe(c, ROOM);
    assert.equal(s.type, 'subscribed', j(s));
    assert.equal(s.seq, 0, `a new room: ${j(s)}`);
    assert.equal(typeof s.epoch, 'string', `subscribed carries an epoch: ${j(s)}`);
    assert.ok(s.epoch.length > 0, 'epoch is not empty');
    assert.deepEqual(publishN(d, ROOM, N, 'before'), range(1, N));
    await expectSeqs(c, ROOM, range(1, N), 'old connection');

    await dropSocket(d, c);
    assert.deepEqual(publishN(d, ROOM, 50, 'away'), range(N + 1, N + 50), 'wsctl publish seqs while away');

    const { c: c2, reply } = await resumeOn(userUrl(d, USER), w.resume_token, { [ROOM]: { seq: N, epoch: s.epoch } });
    assertResumed(c2, reply, 'resume');
    assert.equal(reply.session, w.session, 'resumed.session is the old session');
    assert.equal(reply.user, USER, 'resumed.user');
    assert.notEqual(reply.resume_token, w.resume_token, 'resumed carries a fresh token');
    assert.ok(reply.rooms && reply.rooms[ROOM], `resumed.rooms lists ${ROOM}: ${j(reply)}`);
    assert.equal(reply.rooms[ROOM].seq, N + 50, `resumed.rooms.${ROOM}.seq: ${j(reply.rooms[ROOM])}`);
    assert.equal(reply.rooms[ROOM].epoch, s.epoch, `resumed.rooms.${ROOM}.epoch: ${j(reply.rooms[ROOM])}`);
    assert.equal(reply.rooms[ROOM].recovered, true, `resumed.rooms.${ROOM}.recovered: ${j(reply.rooms[ROOM])}`);

    await expectSeqs(c2, ROOM, range(N + 1, N + 50), 'replay');
    /* Live after the replay: N+51, then N+52 right behind it (nothing in between). */
    assert.deepEqual(publishN(d, ROOM, 1, 'live'), [N + 51]);
    await expectSeqs(c2, ROOM, [N + 51], 'live');
    assert.deepEqual(publishN(d, ROOM, 1, 'live2'), [N + 52]);
    await expectSeqs(c2, ROOM, [N + 52], 'second live');
    const all = c2.all.filter((m) => m.type === 'message' && m.room === ROOM).map((m) => m.seq);
    assert.deepEqual(all, range(N + 1, N + 52), 'every delivery in the room on the resumed connection, once each');
    const data = c2.all.filter((m) => m.type === 'message' && m.room === ROOM).map((m) => m.data);
    assert.deepEqual(data.slice(0, 50), range(0, 49).map((i) => ({ tag: 'away', i })), 'replayed data is what was published');
    c2.terminate();
  });

  it('rooms the client does not list are rejoined and replayed from where the old connection left', T, async () => {
    const LISTED = 'r1b-listed';
    const UNLISTED = 'r1b-unlisted';
    const USER = 'alice-r1b';
    const c = await connectWelcomed(userUrl(d, USER));
    const w = c.welcome;
    const s1 = await subscribe(c, LISTED);
    const s2 = await subscribe(c, UNLISTED);
    assert.equal(s1.type, 'subscribed', j(s1));
    assert.equal(s2.type, 'subscribed', j(s2));
    publishN(d, LISTED, 2, 'before');
    publishN(d, UNLISTED, 3, 'before');
    await expectSeqs(c, LISTED, [1, 2], 'old connection');
    await expectSeqs(c, UNLISTED, [1, 2, 3], 'old connection');

    await dropSocket(d, c);
    publishN(d, LISTED, 4, 'away');
    publishN(d, UNLISTED, 5, 'away');

    const { c: c2, reply } = await resumeOn(userUrl(d, USER), w.resume_token, { [LISTED]: { seq: 2, epoch: s1.epoch } });
    assertResumed(c2, reply, 'resume listing one room of two');
    assert.equal(reply.session, w.session);
    await expectSeqs(c2, LISTED, range(3, 6), 'listed room replay');
    await expectSeqs(c2, UNLISTED, range(4, 8), 'unlisted room replay (rejoined from seq 3)');
    /* And it is a member again: live deliveries come. */
    publishN(d, UNLISTED, 1, 'live');
    await expectSeqs(c2, UNLISTED, [9], 'unlisted room live');
    const info = d.ctl(['conn', c2.welcome.conn]).conn;
    assert.ok(info.rooms.includes(LISTED) && info.rooms.includes(UNLISTED), `wsctl conn rooms ${j(info.rooms)}`);
    c2.terminate();
  });

  it('a bare number in resume.rooms is a seq without an epoch check', T, async () => {
    const ROOM = 'r1c-bare';
    const USER = 'alice-r1c';
    const c = await connectWelcomed(userUrl(d, USER));
    const s = await subscribe(c, ROOM);
    assert.equal(s.type, 'subscribed', j(s));
    publishN(d, ROOM, 4, 'before');
    await expectSeqs(c, ROOM, range(1, 4), 'old connection');
    await dropSocket(d, c);
    publishN(d, ROOM, 3, 'away');
    /* The client says it saw up to 2 (it lost 3 and 4, say): the replay starts at 3. */
    const { c: c2, reply } = await resumeOn(userUrl(d, USER), c.welcome.resume_token, { [ROOM]: 2 });
    assertResumed(c2, reply, 'resume with a bare seq');
    assert.equal(reply.rooms[ROOM].seq, 7, j(reply.rooms[ROOM]));
    assert.equal(reply.rooms[ROOM].recovered, true, j(reply.rooms[ROOM]));
    assert.equal(reply.rooms[ROOM].epoch, s.epoch, j(reply.rooms[ROOM]));
    await expectSeqs(c2, ROOM, range(3, 7), 'replay from the bare seq');
    publishN(d, ROOM, 1, 'live');
    await expectSeqs(c2, ROOM, [8], 'live');
    c2.terminate();
  });

  it('a resume while the old connection is still registered takes the session over', T, async () => {
    const ROOM = 'r1d-takeover';
    const USER = 'alice-r1d';
    const old = await connectWelcomed(userUrl(d, USER));
    const s = await subscribe(old, ROOM);
    assert.equal(s.type, 'subscribed', j(s));
    publishN(d, ROOM, 3, 'before');
    await expectSeqs(old, ROOM, [1, 2, 3], 'old connection');
    /* The old connection stays open (as if its socket had not been seen to close yet). */
    const { c: c2, reply } = await resumeOn(userUrl(d, USER), old.welcome.resume_token, { [ROOM]: { seq: 2, epoch: s.epoch } });
    assertResumed(c2, reply, 'resume while the old connection is registered');
    assert.equal(reply.session, old.welcome.session);
    await expectSeqs(c2, ROOM, [3], 'replay after 2');
    publishN(d, ROOM, 1, 'live');
    await expectSeqs(c2, ROOM, [4], 'live on the new connection');
    /*
     * The spec only says "takes the session over"; read here as: the old
     * connection no longer gets the session's deliveries (closed, or out of
     * its rooms), so nothing goes to two connections of one session.
     */
    await sleep(200);
    const late = old.all.filter((m) => m.type === 'message' && m.room === ROOM && m.seq > 3);
    assert.deepEqual(late, [], 'the old connection must not get deliveries after the takeover');
    c2.terminate();
    old.terminate();
  });

  it('anonymous client: its old user id back, and a send to user:<id> made while away is replayed', T, async () => {
    const ROOM = 'r2-anon';
    const N = 3;
    const c = await connectWelcomed(d.url);
    const w = c.welcome;
    assert.match(w.user, /^anon-/, `anonymous user id ${w.user}`);
    const s = await subscribe(c, ROOM);
    assert.equal(s.type, 'subscribed', j(s));
    publishN(d, ROOM, N, 'before');
    await expectSeqs(c, ROOM, range(1, N), 'old connection');

    const other = await connectWelcomed(userUrl(d, 'sender-r2'));
    await dropSocket(d, c);
    other.send({ type: 'send', user: w.user, data: { hello: 'while away' }, id: 'away-1' });
    const ack = await other.nextMatching((m) => (m.type === 'ack' && m.id === 'away-1') || m.type === 'error', 5000, 'ack away-1');
    assert.equal(ack.type, 'ack', `send to ${w.user}: ${j(ack)}`);
    publishN(d, ROOM, 50, 'away');

    const { c: c2, reply } = await resumeOn(d.url, w.resume_token, { [ROOM]: { seq: N, epoch: s.epoch } });
    assert.notEqual(c2.welcome.user, undefined);
    assertResumed(c2, reply, 'anonymous resume');
    assert.equal(reply.session, w.session, 'resumed.session is the old session');
    assert.equal(reply.user, w.user, 'resumed.user is the old anonymous id');
    assert.notEqual(reply.resume_token, w.resume_token, 'fresh token');

    const personal = `user:${w.user}`;
    const pm = await c2.nextIn(personal, 5000);
    assert.equal(pm.seq, ack.seq, `the send is replayed with its seq: ${j(pm)}`);
    assert.deepEqual(pm.data, { hello: 'while away' });
    assert.equal(pm.from, 'sender-r2');
    await expectSeqs(c2, ROOM, range(N + 1, N + 50), 'replay');
    assert.deepEqual(publishN(d, ROOM, 1, 'live'), [N + 51]);
    await expectSeqs(c2, ROOM, [N + 51], 'live');

    /* The resumed connection is the old user's now: a live send to it arrives. */
    other.send({ type: 'send', user: w.user, data: { hello: 'live' }, id: 'live-1' });
    const ack2 = await other.nextMatching((m) => (m.type === 'ack' && m.id === 'live-1') || m.type === 'error', 5000, 'ack live-1');
    assert.equal(ack2.type, 'ack', j(ack2));
    const pm2 = await c2.nextIn(personal, 5000);
    assert.equal(pm2.seq, ack2.seq);
    assert.deepEqual(pm2.data, { hello: 'live' });
    assert.equal(c2.all.filter((m) => m.type === 'message' && m.room === personal).length, 2, 'no duplicate in the personal room');
    assert.equal(c2.all.filter((m) => m.type === 'message' && m.room === ROOM).length, 51, 'no duplicate in the room');
    c2.terminate();
    other.terminate();
  });
});

/* ------------------------------------------------------------------ */

describe('resume: refusals', () => {
  let d;

  before(async () => {
    d = await startWsd({ workers: 2, config: { jwt_secret: SECRET } });
  });
  after(async () => {
    if (d) await d.stop();
  });

  it('a spent token is refused; the session goes on with the fresh one', T, async () => {
    const USER = 'sam-r3';
    const c = await connectWelcomed(userUrl(d, USER));
    const t0 = c.welcome.resume_token;
    await dropSocket(d, c);
    const first = await resumeOn(userUrl(d, USER), t0, {});
    assertResumed(first.c, first.reply, 'first use');

    const second = await resumeOn(userUrl(d, USER), t0, {});
    await assertRefused(second.c, second.reply, 'second use of the same token');
    assert.ok(first.c.isOpen, 'the resumed connection is untouched by the refused attempt');

    /* Detached again: the spent token still does not resume it. */
    await dropSocket(d, first.c);
    const again = await resumeOn(userUrl(d, USER), t0, {});
    await assertRefused(again.c, again.reply, 'the spent token once the session is detached again');
    again.c.terminate();

    /* The refused attempts did not take the session: its fresh token still resumes it. */
    const third = await resumeOn(userUrl(d, USER), first.reply.resume_token, {});
    assertResumed(third.c, third.reply, 'resume with the fresh token');
    assert.equal(third.reply.session, c.welcome.session);
    for (const x of [second.c, third.c]) x.terminate();
  });

  it('a tampered token (one character of its MAC changed) is refused', T, async () => {
    const c = await connectWelcomed(d.url);
    const t = c.welcome.resume_token;
    await dropSocket(d, c);
    const bad = tamper(t);
    assert.notEqual(bad, t);
    const r = await resumeOn(d.url, bad, {});
    await assertRefused(r.c, r.reply, `tampered token ${bad} (from ${t})`);
    r.c.terminate();
  });

  it('a refused tampered token does not spend the genuine one', T, async () => {
    /* Not spelled out by the spec: a token that fails its MAC names no session it could spend. */
    const c = await connectWelcomed(d.url);
    const t = c.welcome.resume_token;
    await dropSocket(d, c);
    const r = await resumeOn(d.url, tamper(t), {});
    assert.equal(r.reply.code, 'resume_failed', j(r.reply));
    const ok = await resumeOn(d.url, t, {});
    assertResumed(ok.c, ok.reply, 'the genuine token after a tampered attempt');
    assert.equal(ok.reply.session, c.welcome.session);
    assert.equal(ok.reply.user, c.welcome.user);
    r.c.terminate();
    ok.c.terminate();
  });

  it("another user's token is refused (JWT user B presents A's token)", T, async () => {
    const a = await connectWelcomed(userUrl(d, 'alice-r3'));
    const ta = a.welcome.resume_token;
    await dropSocket(d, a);
    const r = await resumeOn(userUrl(d, 'bob-r3'), ta, {});
    await assertRefused(r.c, r.reply, "bob presenting alice's token");
    /* It stays bob's fresh session. */
    const info = d.ctl(['conn', r.c.welcome.conn]).conn;
    assert.equal(info.user, 'bob-r3', `the refused connection is still bob's: ${j(info)}`);
    r.c.terminate();
  });

  it('wsctl kick --user U --revoke: neither the live nor the detached session resumes', T, async () => {
    const USER = 'rita-r3';
    const detached = await connectWelcomed(userUrl(d, USER));
    const tDetached = detached.welcome.resume_token;
    await dropSocket(d, detached);
    const live = await connectWelcomed(userUrl(d, USER));
    const tLive = live.welcome.resume_token;

    const k = d.ctl(['kick', '--user', USER, '--revoke']);
    assert.equal(k.ok, true, j(k));
    await live.waitClose(3000);
    await waitFor(() => d.ctl(['conns', '--user', USER]).total === 0, { timeoutMs: 3000, what: `no conns of ${USER}` });

    const r1 = await resumeOn(userUrl(d, USER), tLive, {});
    await assertRefused(r1.c, r1.reply, 'token of the session that was connected at the revoke');
    const r2 = await resumeOn(userUrl(d, USER), tDetached, {});
    await assertRefused(r2.c, r2.reply, 'token of the session that was detached at the revoke');
    r1.c.terminate();
    r2.c.terminate();
  });

  it('a plain wsctl kick (without --revoke) leaves the session resumable', T, async () => {
    /* The reading of --revoke: without it a kick only closes the connections. */
    const USER = 'kim-r3';
    const c = await connectWelcomed(userUrl(d, USER));
    d.ctl(['kick', '--user', USER]);
    await c.waitClose(3000);
    await waitFor(() => d.ctl(['conns', '--user', USER]).total === 0, { timeoutMs: 3000, what: `no conns of ${USER}` });
    const r = await resumeOn(userUrl(d, USER), c.welcome.resume_token, {});
    assertResumed(r.c, r.reply, 'resume after a plain kick');
    assert.equal(r.reply.session, c.welcome.session);
    r.c.terminate();
  });

  it('a resume that is not the first frame (after a subscribe, after a ping) is refused', T, async () => {
    const c = await connectWelcomed(d.url);
    const t = c.welcome.resume_token;
    await dropSocket(d, c);
    const c2 = await connectWelcomed(d.url);
    const s = await subscribe(c2, 'r3-first');
    assert.equal(s.type, 'subscribed', j(s));
    c2.send({ type: 'resume', token: t, rooms: {} });
    const reply = await c2.nextMatching((m) => m.type === 'resumed' || m.type === 'error', 5000, 'resumed or error');
    await assertRefused(c2, reply, 'resume after a subscribe');
    /* Still the fresh session, still in the room it subscribed to. */
    const info = d.ctl(['conn', c2.welcome.conn]).conn;
    assert.equal(info.user, c2.welcome.user, j(info));
    assert.ok(info.rooms.includes('r3-first'), j(info));
    c2.terminate();

    /* A ping is a first frame too. */
    const c3 = await connectWelcomed(d.url);
    c3.send({ type: 'ping' });
    await c3.next('pong', 3000);
    c3.send({ type: 'resume', token: t, rooms: {} });
    const reply3 = await c3.nextMatching((m) => m.type === 'resumed' || m.type === 'error', 5000, 'resumed or error');
    await assertRefused(c3, reply3, 'resume after a ping');
    c3.terminate();

    /* Not spelled out by the spec: the late attempts did not spend the token. */
    const ok = await resumeOn(d.url, t, {});
    assertResumed(ok.c, ok.reply, 'the same token as a first frame afterwards');
    ok.c.terminate();
  });

  it('malformed tokens are refused', T, async () => {
    const c = await connectWelcomed(d.url);
    const t = c.welcome.resume_token;
    c.terminate();
    for (const bad of ['garbage', 'x.y.z', t.slice(0, -1), `${t}00`, t.replace(/\./g, '')]) {
      if (bad === t) continue;
      const r = await resumeOn(d.url, bad, {});
      await assertRefused(r.c, r.reply, `malformed token ${j(bad)}`);
      r.c.terminate();
    }
  });
});

/* ------------------------------------------------------------------ */

describe('resume: sessions.token_ttl_ms', () => {
  let d;
  const TOKEN_TTL = 1500;

  before(async () => {
    d = await startWsd({ workers: 2, config: { sessions: { token_ttl_ms: TOKEN_TTL } } });
  });
  after(async () => {
    if (d) await d.stop();
  });

  it('a token resumes within token_ttl_ms and is refused once it has passed', T, async () => {
    const c = await connectWelcomed(d.url);
    await dropSocket(d, c);
    const first = await resumeOn(d.url, c.welcome.resume_token, {});
    const issuedAt = Date.now();
    assertResumed(first.c, first.reply, `resume well within ${TOKEN_TTL} ms`);
    await dropSocket(d, first.c);
    /* The fresh token was issued at the resume: wait past its ttl (the session itself lives 300 s). */
    await sleep(Math.max(0, issuedAt + TOKEN_TTL + 1000 - Date.now()));
    const late = await resumeOn(d.url, first.reply.resume_token, {});
    await assertRefused(late.c, late.reply, `token ${Date.now() - issuedAt} ms after it was issued (ttl ${TOKEN_TTL})`);
    late.c.terminate();
  });
});

describe('resume: sessions.ttl_ms', () => {
  let d;
  const TTL = 1500;

  before(async () => {
    d = await startWsd({ workers: 2, config: { sessions: { ttl_ms: TTL } } });
  });
  after(async () => {
    if (d) await d.stop();
  });

  it('a session resumes soon after its connection went away, and not once ttl_ms has passed', T, async () => {
    const quick = await connectWelcomed(d.url);
    await dropSocket(d, quick);
    const r1 = await resumeOn(d.url, quick.welcome.resume_token, {});
    assertResumed(r1.c, r1.reply, `resume well within ttl_ms ${TTL}`);
    r1.c.terminate();

    const slow = await connectWelcomed(d.url);
    await dropSocket(d, slow);
    const goneAt = Date.now();
    await sleep(TTL + 1000);
    const r2 = await resumeOn(d.url, slow.welcome.resume_token, {});
    await assertRefused(r2.c, r2.reply, `session ${Date.now() - goneAt} ms after its connection went away (ttl ${TTL})`);
    r2.c.terminate();
  });
});

/* ------------------------------------------------------------------ */

describe('resume: epochs across a restart (no state file)', () => {
  let d;
  const CONFIG = { jwt_secret: SECRET, sessions: { keys: [`ep1:${keySecret()}`] } };
  const ROOM = 'r4-epoch';

  after(async () => {
    if (d) await d.stop();
  });

  it('since with the old epoch: recovered false, a new epoch, nothing replayed; the old token is refused', T, async () => {
    d = await startWsd({ workers: 2, config: CONFIG });
    const c = await connectWelcomed(d.url);
    const s = await subscribe(c, ROOM);
    assert.equal(s.type, 'subscribed', j(s));
    const oldEpoch = s.epoch;
    assert.equal(typeof oldEpoch, 'string', `subscribed carries an epoch: ${j(s)}`);
    publishN(d, ROOM, 3, 'first life');
    await expectSeqs(c, ROOM, [1, 2, 3], 'before the restart');
    const token = c.welcome.resume_token;

    const r = await d.stop();
    assert.equal(r.forced, false, 'the first daemon stopped on SIGTERM');
    d = await startWsd({ workers: 2, config: CONFIG });

    /* The room lives again with seqs 1..5: without an epoch check, since 3 would replay 4 and 5. */
    assert.deepEqual(publishN(d, ROOM, 5, 'second life'), range(1, 5));
    const c2 = await connectWelcomed(d.url);
    const s2 = await subscribe(c2, ROOM, { since: 3, epoch: oldEpoch });
    assert.equal(s2.type, 'subscribed', j(s2));
    assert.equal(s2.recovered, false, `recovered with the old epoch: ${j(s2)}`);
    assert.equal(typeof s2.epoch, 'string', `subscribed carries the new epoch: ${j(s2)}`);
    assert.notEqual(s2.epoch, oldEpoch, 'the room has a new epoch after a restart without state');
    assert.equal(s2.seq, 5, j(s2));
    assert.deepEqual(publishN(d, ROOM, 1, 'live'), [6]);
    const first = await c2.nextIn(ROOM, 5000);
    assert.equal(first.seq, 6, `nothing is replayed across epochs; first delivery ${j(first)}`);

    /* Control: the new epoch recovers. */
    const c3 = await connectWelcomed(d.url);
    const s3 = await subscribe(c3, ROOM, { since: 4, epoch: s2.epoch });
    assert.equal(s3.recovered, true, `since 4 with the current epoch: ${j(s3)}`);
    assert.equal(s3.epoch, s2.epoch);
    await expectSeqs(c3, ROOM, [5, 6], 'replay within the new epoch');

    /* The key is configured, so the token verifies; its session is gone with the old daemon. */
    const res = await resumeOn(d.url, token, { [ROOM]: { seq: 3, epoch: oldEpoch } });
    await assertRefused(res.c, res.reply, 'a token from before the restart');
    for (const x of [c2, c3, res.c]) x.terminate();
  });
});

/* ------------------------------------------------------------------ */

describe('resume: key rotation by reload (sessions.keys)', () => {
  let d;
  const K1 = `k1:${keySecret()}`;
  const K2 = `k2:${keySecret()}`;
  const K3 = `k3:${keySecret()}`;
  const cfg = (keys) => ({ sessions: { keys } });

  before(async () => {
    d = await startWsd({ workers: 2, config: cfg([K1]) });
    assert.equal(fs.readFileSync(d.confPath, 'utf8'), renderConfig(baseConfig(d), cfg([K1])), 'baseConfig() matches the harness');
  });
  after(async () => {
    if (d) await d.stop();
  });

  it('k1 -> [k2,k1] -> [k2] -> [k3]: listed keys verify, the first signs, dropped keys are refused', T, async () => {
    const a = await connectWelcomed(d.url); /* resumed along the way */
    const b = await connectWelcomed(d.url); /* keeps its k1 token */
    const c = await connectWelcomed(d.url); /* keeps its k1 token */
    for (const x of [a, b, c]) await dropSocket(d, x);

    await reloadWith(d, cfg([K2, K1]));
    const a1 = await resumeOn(d.url, a.welcome.resume_token, {});
    assertResumed(a1.c, a1.reply, 'a k1 token after reloading [k2, k1]');
    assert.equal(a1.reply.session, a.welcome.session);
    await dropSocket(d, a1.c);

    /* k1 gone: the token issued by the resume above must be a k2 token to pass. */
    await reloadWith(d, cfg([K2]));
    const a2 = await resumeOn(d.url, a1.reply.resume_token, {});
    assertResumed(a2.c, a2.reply, 'the token issued under [k2, k1], after reloading [k2]');
    assert.equal(a2.reply.session, a.welcome.session);
    const b1 = await resumeOn(d.url, b.welcome.resume_token, {});
    await assertRefused(b1.c, b1.reply, 'a k1 token after reloading [k2]');
    await dropSocket(d, a2.c);

    await reloadWith(d, cfg([K3]));
    const a3 = await resumeOn(d.url, a2.reply.resume_token, {});
    await assertRefused(a3.c, a3.reply, 'a k2 token after reloading [k3]');
    const c1 = await resumeOn(d.url, c.welcome.resume_token, {});
    await assertRefused(c1.c, c1.reply, 'a k1 token after reloading [k3]');

    /* Control: a token minted under k3 resumes. */
    const e = await connectWelcomed(d.url);
    await dropSocket(d, e);
    const e1 = await resumeOn(d.url, e.welcome.resume_token, {});
    assertResumed(e1.c, e1.reply, 'a k3 token under [k3]');
    for (const x of [b1.c, a3.c, c1.c, e1.c]) x.terminate();
  });
});
