'use strict';
/*
 * Rooms, users and direct delivery across two workers: subscribe, publish
 * with ids and acks, per-room sequence numbers, send to a user, wsctl
 * publish / send / broadcast / kick / rooms / room, ping, unsubscribe.
 *
 * Clients authenticate with HS256 tokens minted here, so that one user can
 * hold connections on both workers.
 */

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const { startWsd, connectWelcomed, mintToken, waitFor, rawHttp, stopCleanly } = require('./harness');

const T = { timeout: 20000 };
const SECRET = 'e2e-rooms-secret-7f3a9c1d5b2e4f60';
const HEARTBEAT_MS = 20000;
const ROOM = 'lobby';
const SYNC = 'sync';

let d;
let A1; /* alice, worker X */
let A2; /* alice, worker Y */
let B1; /* bob, worker X */
let B2; /* bob, worker Y */
let N; /* anonymous, only in the sync room */
let main; /* [A1, A2, B1, B2] */
let everyone; /* main + N */
let lobbySeq = 0; /* last seq seen in ROOM */
let spreadNote = '';

const userUrl = (user) => `${d.url}?token=${mintToken(SECRET, { sub: user })}`;
const ids = (cs) => cs.map((c) => c.welcome.conn);
const name = (c) => `conn ${c.welcome.conn} (${c.welcome.user}, worker ${c.worker})`;

/*
 * Opens alice/bob connections in batches until each user has one on each of
 * two workers. The kernel hands connections to whichever worker accepts
 * first; one at a time they spread better than in bursts.
 */
async function openSpread() {
  const pool = [];
  let pick = null;
  for (let batch = 0; batch < 8 && !pick; batch++) {
    for (let i = 0; i < 8; i++) pool.push(await connectWelcomed(userUrl(i % 2 ? 'bob' : 'alice')));
    const where = new Map(d.ctl(['conns']).conns.map((c) => [c.id, c.worker]));
    for (const c of pool) c.worker = where.get(c.welcome.conn);
    const byUser = (u) => {
      const m = new Map();
      for (const c of pool) if (c.welcome.user === u && !m.has(c.worker)) m.set(c.worker, c);
      return m;
    };
    const a = byUser('alice');
    const b = byUser('bob');
    const shared = [...a.keys()].filter((w) => b.has(w));
    if (shared.length >= 2) {
      const [x, y] = shared;
      pick = [a.get(x), a.get(y), b.get(x), b.get(y)];
    }
  }
  if (!pick) {
    /* Not spread: go on with what there is, the spread test reports it. */
    const workers = new Set(pool.map((c) => c.worker));
    spreadNote = `${pool.length} connections all landed on worker(s) ${[...workers].join(',')}`;
    const al = pool.filter((c) => c.welcome.user === 'alice');
    const bo = pool.filter((c) => c.welcome.user === 'bob');
    pick = [al[0], al[1], bo[0], bo[1]];
  }
  await Promise.all(pool.filter((c) => !pick.includes(c)).map((c) => c.close()));
  return pick;
}

/*
 * Barrier: a server publish to SYNC, awaited by every client in cs. Deliveries
 * issued before it reach each connection before it, so after the barrier a
 * message that has not arrived is not coming.
 */
let barrierN = 0;
async function barrier(cs = everyone) {
  const n = ++barrierN;
  d.ctl(['publish', SYNC, JSON.stringify({ barrier: n })]);
  for (const c of cs) {
    const m = await c.nextIn(SYNC, 5000);
    assert.deepEqual(m.data, { barrier: n }, `${name(c)}: barrier ${n} out of order`);
  }
}

function assertNothingQueued(c, what) {
  const extra = c.peek((m) => m.type === 'message');
  assert.equal(extra.length, 0, `${name(c)} got ${what}: ${JSON.stringify(extra)}`);
}

before(
  async () => {
    d = await startWsd({
      workers: 2,
      config: { jwt_secret: SECRET, heartbeat: { interval_ms: HEARTBEAT_MS }, limits: { max_message_bytes: 65536 } },
    });
    [A1, A2, B1, B2] = await openSpread();
    N = await connectWelcomed(d.url);
    N.worker = d.ctl(['conn', N.welcome.conn]).conn.worker;
    main = [A1, A2, B1, B2];
    everyone = [...main, N];
    for (const c of everyone) {
      c.send({ type: 'subscribe', room: SYNC });
      const s = await c.next('subscribed', 5000);
      assert.equal(s.room, SYNC);
    }
  },
  { timeout: 60000 },
);

/*
 * Each test starts from empty queues: a barrier flushes whatever an earlier
 * (possibly failed) test left in flight, then everything queued is dropped.
 */
beforeEach(async () => {
  if (!everyone) return;
  const open = everyone.filter((c) => c.isOpen);
  await barrier(open);
  for (const c of open) c.drain();
  /* Expected seqs follow what clients really saw, so one failure does not cascade. */
  lobbySeq = maxSeqSeen(ROOM, main);
});

function maxSeqSeen(room, cs) {
  let max = 0;
  for (const c of cs) for (const m of c.all) if (m.type === 'message' && m.room === room && m.seq > max) max = m.seq;
  return max;
}

after(
  async () => {
    if (d) await d.stop();
  },
  { timeout: 15000 },
);

describe('setup', () => {
  it('connections are spread over both workers (each user on both)', T, () => {
    assert.equal(spreadNote, '', spreadNote);
    assert.equal(new Set([A1.worker, A2.worker]).size, 2, `alice: ${name(A1)}, ${name(A2)}`);
    assert.equal(new Set([B1.worker, B2.worker]).size, 2, `bob: ${name(B1)}, ${name(B2)}`);
  });

  it('status counts the 5 open connections and 3 users', T, async () => {
    await waitFor(() => d.ctl(['status']).connections === 5, { what: 'status.connections to be 5' });
    assert.equal(d.ctl(['status']).users, 3);
  });

  it('welcome carries the token user, ids and limits', T, () => {
    for (const [c, user] of [[A1, 'alice'], [A2, 'alice'], [B1, 'bob'], [B2, 'bob']]) {
      const w = c.welcome;
      assert.equal(w.user, user);
      assert.ok(Number.isSafeInteger(w.conn) && w.conn > 0, `conn ${w.conn}`);
      assert.equal(typeof w.session, 'string');
      assert.ok(w.session.length > 0);
      assert.equal(typeof w.resume_token, 'string');
      assert.ok(w.resume_token.length > 0);
      assert.equal(w.heartbeat_ms, HEARTBEAT_MS);
      assert.equal(w.max_message_bytes, 65536);
    }
    assert.equal(new Set(ids(everyone)).size, 5, 'connection ids must be unique');
    assert.equal(new Set(everyone.map((c) => c.welcome.session)).size, 5, 'sessions must be unique');
    assert.equal(typeof N.welcome.user, 'string');
    assert.ok(!['alice', 'bob', ''].includes(N.welcome.user), `anonymous user id ${N.welcome.user}`);
  });

  it('wsctl conns --user and conn agree with the welcomes', T, () => {
    const r = d.ctl(['conns', '--user', 'alice']);
    assert.equal(r.total, 2);
    assert.deepEqual(r.conns.map((c) => c.id).sort((a, b) => a - b), ids([A1, A2]).sort((a, b) => a - b));
    for (const c of everyone) {
      const info = d.ctl(['conn', c.welcome.conn]).conn;
      assert.equal(info.id, c.welcome.conn);
      assert.equal(info.user, c.welcome.user);
      assert.equal(info.worker, c.worker);
      assert.ok(info.rooms.includes(SYNC), `${name(c)} rooms ${JSON.stringify(info.rooms)}`);
    }
  });
});

describe('tokens', () => {
  const upgrade = (query, extra = '') =>
    `GET /ws${query} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;

  it('a token signed with another secret -> 401', T, async () => {
    const r = await rawHttp(d.port, upgrade(`?token=${mintToken('not-the-secret', { sub: 'mallory' })}`));
    assert.equal(r.status, 401, r.statusLine);
  });

  it('an expired token -> 401', T, async () => {
    const past = Math.floor(Date.now() / 1000) - 3600;
    const r = await rawHttp(d.port, upgrade(`?token=${mintToken(SECRET, { sub: 'alice', iat: past - 60, exp: past })}`));
    assert.equal(r.status, 401, r.statusLine);
  });

  it('a token in Authorization: Bearer and in the wsd_token cookie is accepted', T, async () => {
    const viaHeader = await connectWelcomed(d.url, { headers: { Authorization: `Bearer ${mintToken(SECRET, { sub: 'carol' })}` } });
    assert.equal(viaHeader.welcome.user, 'carol');
    const viaCookie = await connectWelcomed(d.url, { headers: { Cookie: `other=1; wsd_token=${mintToken(SECRET, { sub: 'erin' })}` } });
    assert.equal(viaCookie.welcome.user, 'erin');
    await viaHeader.close();
    await viaCookie.close();
    await waitFor(() => d.ctl(['status']).connections === 5, { what: 'status.connections back to 5' });
  });
});

describe('room publish', () => {
  it('subscribe answers subscribed with the room and its current seq', T, async () => {
    for (const c of main) {
      c.send({ type: 'subscribe', room: ROOM });
      const s = await c.next('subscribed', 5000);
      assert.equal(s.room, ROOM);
      assert.equal(s.seq, 0, 'a room nobody published to has seq 0');
    }
    await waitFor(() => d.ctl(['room', ROOM]).room.members.length === 4, { what: 'room members to be 4' });
  });

  it('20 publishes from 4 clients: each subscriber gets each exactly once, seqs +1, acks match', T, async () => {
    const sent = [];
    for (let i = 0; i < 20; i++) {
      const pub = main[i % 4];
      const id = `pub-${i}`;
      const data = { i, text: `hello ${i}`, nested: { ok: true, list: [i, i * 2] } };
      sent.push({ id, pub, data });
      pub.send({ type: 'publish', room: ROOM, data, id });
    }
    const seqOf = new Map();
    for (const { id, pub } of sent) {
      const ack = await pub.nextMatching((m) => m.type === 'ack' && m.id === id, 5000, `ack ${id}`);
      assert.ok(Number.isSafeInteger(ack.seq), `ack ${id} seq ${ack.seq}`);
      seqOf.set(id, ack.seq);
    }
    assert.deepEqual(
      [...seqOf.values()].sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, k) => lobbySeq + 1 + k),
      'acks must carry seqs base+1..base+20',
    );
    const byId = new Map(sent.map((s) => [s.id, s]));
    for (const c of main) {
      const got = [];
      for (let k = 0; k < 20; k++) got.push(await c.nextIn(ROOM, 5000));
      const seqs = got.map((m) => m.seq);
      assert.deepEqual(seqs, Array.from({ length: 20 }, (_, k) => lobbySeq + 1 + k), `${name(c)}: seqs`);
      assert.equal(new Set(got.map((m) => m.id)).size, 20, `${name(c)}: duplicate ids`);
      for (const m of got) {
        const s = byId.get(m.id);
        assert.ok(s, `${name(c)}: unknown id ${m.id}`);
        assert.equal(m.room, ROOM);
        assert.equal(m.seq, seqOf.get(m.id), `${name(c)}: seq of ${m.id} differs from its ack`);
        assert.equal(m.from, s.pub.welcome.user);
        assert.deepEqual(m.data, s.data);
      }
      /* One publisher's messages keep their order. */
      for (const p of main) {
        const mine = got.filter((m) => byId.get(m.id).pub === p).map((m) => Number(m.id.slice(4)));
        assert.deepEqual(mine, [...mine].sort((a, b) => a - b), `${name(c)}: order of ${name(p)}'s messages`);
      }
    }
    lobbySeq += 20;
    await barrier();
    for (const c of everyone) assertNothingQueued(c, 'an extra room message');
    for (const c of main) assert.equal(c.peek((m) => m.type === 'ack').length, 0, `${name(c)}: extra acks`);
  });

  it('a repeated publish id is delivered once (dedupe window)', T, async () => {
    A1.send({ type: 'publish', room: ROOM, data: { dedupe: 1 }, id: 'dup-1' });
    A1.send({ type: 'publish', room: ROOM, data: { dedupe: 1 }, id: 'dup-1' });
    /* A third publish from the same connection is handled after the repeat. */
    A1.send({ type: 'publish', room: ROOM, data: { dedupe: 2 }, id: 'dup-2' });
    const ack1 = await A1.nextMatching((m) => m.type === 'ack' && m.id === 'dup-1', 5000, 'ack dup-1');
    assert.equal(ack1.seq, lobbySeq + 1);
    const ack2 = await A1.nextMatching((m) => m.type === 'ack' && m.id === 'dup-2', 5000, 'ack dup-2');
    assert.equal(ack2.seq, lobbySeq + 2, 'the repeated id must not take a seq');
    for (const c of main) {
      const m1 = await c.nextIn(ROOM, 5000);
      assert.equal(m1.id, 'dup-1');
      assert.equal(m1.seq, lobbySeq + 1);
      const m2 = await c.nextIn(ROOM, 5000);
      assert.equal(m2.id, 'dup-2', `${name(c)}: expected dup-2 after dup-1, got ${JSON.stringify(m2)}`);
      assert.equal(m2.seq, lobbySeq + 2);
    }
    lobbySeq += 2;
    await barrier();
    for (const c of everyone) assertNothingQueued(c, 'a duplicate of dup-1');
    /* If the repeat is acked at all, it is acked with the first seq. */
    for (const a of A1.peek((m) => m.type === 'ack')) assert.equal(a.seq, ack1.seq, `extra ack ${JSON.stringify(a)}`);
    A1.drain((m) => m.type === 'ack');
  });

  it('wsctl publish reaches every subscriber with from "server", JSON or string data', T, async () => {
    const r = d.ctl(['publish', ROOM, JSON.stringify({ hello: 'server', n: [1, 2, 3] })]);
    assert.equal(r.room, ROOM);
    assert.equal(r.seq, lobbySeq + 1);
    assert.equal(r.workers, 2, 'one IPC message per worker with members');
    lobbySeq += 1;
    for (const c of main) {
      const m = await c.nextIn(ROOM, 5000);
      assert.equal(m.from, 'server');
      assert.equal(m.seq, lobbySeq);
      assert.deepEqual(m.data, { hello: 'server', n: [1, 2, 3] });
    }
    const r2 = d.ctl(['publish', ROOM, 'just a string']);
    assert.equal(r2.seq, lobbySeq + 1);
    lobbySeq += 1;
    for (const c of main) {
      const m = await c.nextIn(ROOM, 5000);
      assert.equal(m.from, 'server');
      assert.equal(m.seq, lobbySeq);
      assert.equal(m.data, 'just a string');
    }
    await barrier();
    assertNothingQueued(N, 'a message of a room it is not in');
  });

  it('wsctl rooms and room NAME show members and seq', T, () => {
    const rooms = d.ctl(['rooms']).rooms;
    const lobby = rooms.find((r) => r.name === ROOM);
    assert.ok(lobby, `rooms: ${JSON.stringify(rooms)}`);
    assert.equal(lobby.members, 4);
    assert.equal(lobby.seq, lobbySeq);
    assert.equal(lobby.log, lobbySeq, 'every message is still in the replay log (size 256)');
    const sync = rooms.find((r) => r.name === SYNC);
    assert.ok(sync);
    assert.equal(sync.members, 5);
    assert.equal(sync.seq, barrierN);

    const room = d.ctl(['room', ROOM]).room;
    assert.equal(room.name, ROOM);
    assert.deepEqual([...room.members].sort((a, b) => a - b), ids(main).sort((a, b) => a - b));
    assert.equal(room.seq, lobbySeq);
    assert.equal(room.log, lobbySeq);

    const ua = d.ctl(['room', 'user:alice']).room;
    assert.deepEqual([...ua.members].sort((a, b) => a - b), ids([A1, A2]).sort((a, b) => a - b));
  });
});

describe('users and direct delivery', () => {
  let aliceSeq = 0;

  beforeEach(() => {
    aliceSeq = Math.max(
      maxSeqSeen('user:alice', [A1, A2]),
      ...B1.all.filter((m) => m.type === 'ack' && String(m.id).startsWith('dm-')).map((m) => m.seq),
    );
  });

  it('a client send reaches every connection of the user, and nobody else', T, async () => {
    B1.send({ type: 'send', user: 'alice', data: { dm: 'hi alice' }, id: 'dm-1' });
    const ack = await B1.nextMatching((m) => m.type === 'ack' && m.id === 'dm-1', 5000, 'ack dm-1');
    for (const c of [A1, A2]) {
      const m = await c.nextIn('user:alice', 5000);
      assert.equal(m.from, 'bob');
      assert.deepEqual(m.data, { dm: 'hi alice' });
      assert.equal(m.seq, ack.seq);
    }
    aliceSeq = ack.seq;
    await barrier();
    for (const c of [B1, B2, N]) assertNothingQueued(c, "a message sent to alice");
    for (const c of [A1, A2]) assertNothingQueued(c, 'a second copy');
  });

  it('wsctl send --user reaches all connections of that user only', T, async () => {
    const r = d.ctl(['send', '--user', 'alice', JSON.stringify({ from_ctl: 1 })]);
    assert.equal(r.room, 'user:alice');
    assert.equal(r.seq, aliceSeq + 1);
    assert.equal(r.workers, 2);
    aliceSeq += 1;
    for (const c of [A1, A2]) {
      const m = await c.nextIn('user:alice', 5000);
      assert.equal(m.from, 'server');
      assert.equal(m.seq, aliceSeq);
      assert.deepEqual(m.data, { from_ctl: 1 });
    }
    await barrier();
    for (const c of [B1, B2, N]) assertNothingQueued(c, 'a message sent to alice');
  });

  it('wsctl send --conn reaches that one connection, without room and seq', T, async () => {
    const target = B2;
    const r = d.ctl(['send', '--conn', target.welcome.conn, JSON.stringify({ only: 'you' })]);
    assert.equal(r.conn, target.welcome.conn);
    assert.equal(r.workers, 1);
    const m = await target.nextIn(null, 5000);
    assert.equal(m.from, 'server');
    assert.deepEqual(m.data, { only: 'you' });
    assert.equal('seq' in m, false, `a direct delivery has no seq: ${JSON.stringify(m)}`);
    await barrier();
    for (const c of everyone) assertNothingQueued(c, 'a direct message for someone else');
  });

  it('wsctl broadcast --exclude reaches everyone but the excluded connection', T, async () => {
    const r = d.ctl(['broadcast', JSON.stringify({ all: 'but one' }), '--exclude', A2.welcome.conn]);
    assert.ok(Number.isSafeInteger(r.seq));
    for (const c of [A1, B1, B2, N]) {
      const m = await c.nextIn('*', 5000);
      assert.equal(m.from, 'server');
      assert.equal(m.seq, r.seq);
      assert.deepEqual(m.data, { all: 'but one' });
    }
    await barrier();
    for (const c of everyone) assertNothingQueued(c, 'a second broadcast copy or the excluded one');

    const r2 = d.ctl(['broadcast', JSON.stringify({ all: 'of you' })]);
    assert.equal(r2.seq, r.seq + 1);
    for (const c of everyone) {
      const m = await c.nextIn('*', 5000);
      assert.equal(m.seq, r2.seq);
      assert.deepEqual(m.data, { all: 'of you' });
    }
  });

  it('wsctl send --user for a user with no connection is not delivered anywhere', T, async () => {
    const res = d.ctlResult(['send', '--user', 'nobody-here', '"void"']);
    assert.ok(res.status === 0 || res.status === 1, `exit ${res.status}: ${res.stderr}`);
    await barrier();
    for (const c of everyone) assertNothingQueued(c, 'a message for another user');
  });
});

describe('ping and unsubscribe', () => {
  it('ping -> pong on every connection', T, async () => {
    for (const c of everyone) c.send({ type: 'ping' });
    for (const c of everyone) await c.next('pong', 3000);
  });

  it('unsubscribe stops deliveries to that connection only', T, async () => {
    A2.send({ type: 'unsubscribe', room: ROOM });
    /* The second unsubscribe proves the first was handled. */
    A2.send({ type: 'unsubscribe', room: ROOM });
    const e = await A2.next('error', 5000);
    assert.equal(e.code, 'not_subscribed');
    await waitFor(() => d.ctl(['room', ROOM]).room.members.length === 3, { what: 'room members to drop to 3' });
    assert.ok(!d.ctl(['conn', A2.welcome.conn]).conn.rooms.includes(ROOM));

    const r = d.ctl(['publish', ROOM, JSON.stringify({ after: 'unsubscribe' })]);
    lobbySeq += 1;
    assert.equal(r.seq, lobbySeq);
    for (const c of [A1, B1, B2]) {
      const m = await c.nextIn(ROOM, 5000);
      assert.equal(m.seq, lobbySeq);
    }
    await barrier();
    assertNothingQueued(A2, 'a message of a room it left');
  });

  it('subscribe with since replays what was missed, recovered true', T, async () => {
    A2.send({ type: 'subscribe', room: ROOM, since: lobbySeq - 1 });
    const s = await A2.next('subscribed', 5000);
    assert.equal(s.room, ROOM);
    assert.equal(s.seq, lobbySeq);
    assert.equal(s.recovered, true);
    const m = await A2.nextIn(ROOM, 5000);
    assert.equal(m.seq, lobbySeq);
    assert.deepEqual(m.data, { after: 'unsubscribe' });
    await barrier();
    assertNothingQueued(A2, 'more than the one missed message');
  });
});

describe('kick', () => {
  it('kick --conn closes it with 4003 and leaves the others open', T, async () => {
    const k = await connectWelcomed(d.url);
    const r = d.ctl(['kick', '--conn', k.welcome.conn]);
    assert.equal(r.kicked, 1);
    const cl = await k.waitClose(5000);
    assert.equal(cl.code, 4003);
    for (const c of everyone) assert.equal(c.isOpen, true, `${name(c)} closed by someone else's kick`);
    await waitFor(() => d.ctlResult(['conn', k.welcome.conn]).status === 1, { what: 'the kicked conn to leave the registry' });
  });

  it('kick --conn --code 4000 --reason closes with that code and reason', T, async () => {
    const k = await connectWelcomed(d.url);
    const r = d.ctl(['kick', '--conn', k.welcome.conn, '--code', '4000', '--reason', 'go away']);
    assert.equal(r.kicked, 1);
    const cl = await k.waitClose(5000);
    assert.equal(cl.code, 4000);
    assert.equal(cl.reason, 'go away');
  });

  it('kick with a code outside the allowed set is refused (exit 1) and kicks nobody', T, async () => {
    const k = await connectWelcomed(d.url);
    for (const code of ['3000', '1005', '5000']) {
      const res = d.ctlResult(['kick', '--conn', k.welcome.conn, '--code', code]);
      assert.equal(res.status, 1, `--code ${code}: exit ${res.status}, stdout ${res.stdout}`);
      assert.equal(res.json && res.json.ok, false);
    }
    k.send({ type: 'ping' });
    await k.next('pong', 3000);
    assert.equal(k.isOpen, true);
    await k.close();
  });

  it('kick --user closes every connection of that user with 4003', T, async () => {
    const dave = await Promise.all([connectWelcomed(userUrl('dave')), connectWelcomed(userUrl('dave'))]);
    const r = d.ctl(['kick', '--user', 'dave']);
    assert.equal(r.kicked, 2);
    for (const c of dave) {
      const cl = await c.waitClose(5000);
      assert.equal(cl.code, 4003);
    }
    for (const c of everyone) assert.equal(c.isOpen, true, `${name(c)} closed by dave's kick`);
    await waitFor(() => d.ctl(['conns', '--user', 'dave']).total === 0, { what: "dave's conns to leave the registry" });
    await waitFor(() => d.ctl(['status']).connections === 5, { what: 'status.connections back to 5' });
  });
});

describe('shutdown', () => {
  it('SIGTERM: exit 0 within 5 s, no worker left behind, no sanitizer report', T, async () => {
    await stopCleanly(d);
  });
});
