'use strict';
/*
 * The Redis engine (engine = "redis"): several wsd nodes sharing rooms,
 * sessions, presence and per-user limits through real redis-server
 * processes on loopback.
 *
 *   1. three nodes, one room: every publish from any node (clients and
 *      the admin API) reaches every subscriber on every node once, all in
 *      the same seq order;
 *   2. a client on node A drops without a close frame, 50 messages are
 *      published on B and C, it resumes on B: exactly what it missed, then
 *      live, no gap, no duplicate; its token is spent on every node;
 *   3. a per-user connection limit holds across nodes; presence on C
 *      lists users of A and B; `wsctl nodes` lists the nodes; a node
 *      killed with SIGKILL leaves presence, the user counts and the node
 *      list within redis.node_ttl_ms;
 *   4. Redis killed with SIGKILL during traffic: publishes get
 *      `unavailable`, /ready and status say so, nothing is delivered
 *      twice; after Redis restarts on its data every client has one
 *      gap-free sequence, the same on every node;
 *   5. two Redis shards: rooms spread over both; fan-out and resume still
 *      hold, and a resume past what the trimmed stream keeps is told
 *      recovered false.
 *
 * Each block starts its own redis-server processes and nodes, with a key
 * prefix of its own, and stops them in after().
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { startWsd, connectWelcomed, connect, mintToken, waitFor, sleep, httpGet, pidAlive } = require('./harness');
const { startRedis, startProxy } = require('./redis_server');

const T = { timeout: 60000 };
const SECRET = 'e2e-redis-secret-5c2f8d1e9a7b3064';
const SESSION_KEY = `r1:${'7f3a9c21'.repeat(4)}`;
const NODE_TTL_MS = 2000;

const j = (x) => JSON.stringify(x);
const range = (from, to) => Array.from({ length: Math.max(0, to - from + 1) }, (_, k) => from + k);

function nodeConfig(shards, id, prefix, extra = {}) {
  return {
    engine: 'redis',
    node_id: id,
    redis: { addresses: shards.map((r) => r.address), prefix, node_ttl_ms: NODE_TTL_MS, timeout_ms: 1000 },
    sessions: { keys: [SESSION_KEY] },
    jwt_secret: SECRET,
    allow_anonymous: true,
    presence: { query: ['*'] },
    ...extra,
  };
}

/* Three nodes (one worker each) on shards. */
async function startNodes(shards, prefix, extra, n = 3) {
  const nodes = [];
  for (let i = 0; i < n; i++) {
    nodes.push(await startWsd({ workers: 1, config: nodeConfig(shards, `node${'ABC'[i]}`, prefix, extra) }));
  }
  /* Every node's heartbeat is in: each counts the others. */
  await waitFor(() => nodes.every((d) => d.ctl(['nodes']).nodes.length === n), {
    timeoutMs: 5000,
    what: `${n} nodes listed`,
  });
  return nodes;
}

const userUrl = (d, user) => `${d.url}?token=${mintToken(SECRET, { sub: user })}`;

async function subscribed(c, room) {
  c.send({ type: 'subscribe', room });
  return c.nextMatching((m) => (m.type === 'subscribed' || m.type === 'error') && (m.room === room || m.ref === room), 5000, `subscribed ${room}`);
}

/* The messages c got in room so far. */
const inRoom = (c, room) => c.all.filter((m) => m.type === 'message' && m.room === room);

/* Waits until every client has n messages in room. */
async function everyoneHas(clients, room, n, timeoutMs = 10000) {
  await waitFor(() => clients.every((c) => inRoom(c, room).length >= n), {
    timeoutMs,
    what: `every client to have ${n} messages in ${room}; have ${clients.map((c) => inRoom(c, room).length)}`,
  });
}

/* Asserts every client got seqs first..last once, in order, with the same data for each seq. */
function assertSameOrder(clients, room, first, last) {
  const ref = inRoom(clients[0], room);
  assert.deepEqual(ref.map((m) => m.seq), range(first, last), `seqs of ${room}: ${j(ref.map((m) => m.seq))}`);
  for (const c of clients) {
    const got = inRoom(c, room);
    assert.deepEqual(got.map((m) => m.seq), range(first, last), `a client's seqs of ${room}: ${j(got.map((m) => m.seq))}`);
    assert.deepEqual(got.map((m) => j(m.data)), ref.map((m) => j(m.data)), `the same data for each seq of ${room}`);
  }
}

/* A client of user on d once d admits it (a count given back elsewhere
 * reaches Redis a moment later). */
async function admittedOn(d, user, what) {
  let c = null;
  await waitFor(
    async () => {
      c = await connectWelcomed(userUrl(d, user)).catch(() => null);
      return c !== null;
    },
    { timeoutMs: 3000, what },
  );
  return c;
}

async function stopAll(nodes, shards) {
  for (const d of nodes) if (d) await d.stop();
  for (const r of shards) if (r) await r.stop();
}

/*
 * Before the block's tests: nshards redis-server processes and three
 * nodes on them with a key prefix of the block's own (extra: more
 * config); after them, all stopped. Returns { nodes, shards }, filled in
 * before().
 */
function cluster(extra, nshards = 1) {
  const x = { nodes: [], shards: [], prefix: `e2e-${crypto.randomBytes(3).toString('hex')}:` };
  before(async () => {
    for (let i = 0; i < nshards; i++) x.shards.push(await startRedis());
    x.nodes = await startNodes(x.shards, x.prefix, extra);
  });
  after(async () => stopAll(x.nodes, x.shards));
  return x;
}

/* Kills a node's supervisor and workers with SIGKILL (no drain, no goodbye). */
async function killNode(d) {
  const pids = [d.pid, ...d.workerPids];
  for (const pid of pids) if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
  await d.exited;
  await waitFor(() => pids.every((p) => !pidAlive(p)), { timeoutMs: 3000, what: 'the killed node to be gone' });
}

describe('three nodes share a room', () => {
  const x = cluster();

  it('every publish from any node reaches every subscriber once, in one seq order', T, async () => {
    const { nodes } = x;
    const clients = [];
    for (const d of nodes) for (let k = 0; k < 2; k++) clients.push(await connectWelcomed(d.url));
    for (const c of clients) assert.equal((await subscribed(c, 'fan')).type, 'subscribed');
    const epochs = new Set(clients.map((c) => c.all.find((m) => m.type === 'subscribed').epoch));
    assert.equal(epochs.size, 1, `one epoch for the room on every node: ${j([...epochs])}`);
    const acks = [];
    for (let i = 0; i < 20; i++) {
      clients.forEach((c, k) => c.send({ type: 'publish', room: 'fan', id: `c${k}-${i}`, data: { k, i } }));
      if (i % 5 === 0) nodes[1].ctl(['publish', 'fan', j({ api: i })]);
    }
    const total = 20 * clients.length + 4;
    await everyoneHas(clients, 'fan', total);
    await sleep(200); /* nothing more comes */
    assertSameOrder(clients, 'fan', 1, total);
    for (const c of clients) acks.push(...c.all.filter((m) => m.type === 'ack'));
    assert.equal(acks.length, 20 * clients.length, 'every client publish acknowledged');
    const bySeq = new Map(inRoom(clients[0], 'fan').map((m) => [m.seq, m]));
    for (const a of acks) assert.equal(bySeq.get(a.seq).id, a.id, `ack ${j(a)} names the delivered message`);
    for (const c of clients) await c.close();
  });

  it('keeps a client\'s order: a publish sent right after its subscribe comes after subscribed', T, async () => {
    const { nodes } = x;
    const [A, B] = nodes;
    const c = await connectWelcomed(A.url);
    const other = await connectWelcomed(B.url);
    await subscribed(other, 'quick');
    /* A room this node does not hear yet: the subscribe waits on Redis. */
    c.send({ type: 'subscribe', room: 'quick' });
    c.send({ type: 'publish', room: 'quick', id: 'q1', data: 1 });
    c.send({ type: 'publish', room: 'quick', id: 'q2', data: 2 });
    await everyoneHas([c, other], 'quick', 2);
    const kinds = c.all.filter((m) => m.room === 'quick' || m.type === 'ack').map((m) => m.type + (m.seq || ''));
    assert.deepEqual(kinds.filter((k) => !k.startsWith('ack')), ['subscribed', 'message1', 'message2'], j(kinds));
    assert.deepEqual(inRoom(other, 'quick').map((m) => m.data), [1, 2]);
    /* A send to an anonymous user's personal room reaches it from another node. */
    B.ctl(['send', '--user', c.welcome.user, j({ hi: 'there' })]);
    const got = await c.nextMatching((m) => m.type === 'message' && m.room === `user:${c.welcome.user}`, 5000, 'the send');
    assert.deepEqual(got.data, { hi: 'there' });
    await c.close();
    await other.close();
  });

  it('a client dropped on A resumes on B with exactly what it missed, then live', T, async () => {
    const { nodes } = x;
    const [A, B, C] = nodes;
    const pub = async (d, from, to) => {
      const p = await connectWelcomed(d.url);
      for (let i = from; i <= to; i++) p.send({ type: 'publish', room: 'res', id: `p${i}`, data: { i } });
      await p.nextMatching((m) => m.type === 'ack' && m.id === `p${to}`, 5000, `ack p${to}`);
      await p.close();
    };
    const a = await connectWelcomed(userUrl(A, 'ann'));
    await subscribed(a, 'res');
    await pub(B, 1, 3);
    await everyoneHas([a], 'res', 3);
    const token = a.welcome.resume_token;
    const conn = a.welcome.conn;
    a.ws._socket.destroy();
    await a.waitClose(3000);
    await waitFor(() => !A.ctl(['conns']).conns.some((x) => x.id === conn), { timeoutMs: 3000, what: 'ann gone from node A' });
    await pub(B, 4, 28);
    await pub(C, 29, 53);
    /* Any node lists the detached session, from Redis. */
    await waitFor(() => C.ctl(['sessions', '--user', 'ann']).sessions.some((x) => x.connected === false), {
      timeoutMs: 3000,
      what: "ann's detached session listed on C",
    });
    const listed = C.ctl(['sessions', '--user', 'ann']).sessions.find((x) => !x.connected);
    assert.ok(listed.rooms.includes('res'), j(listed));
    assert.ok(listed.expires_s > 0, j(listed));
    const b = await connectWelcomed(userUrl(B, 'ann'));
    b.send({ type: 'resume', token });
    const reply = await b.nextMatching((m) => m.type === 'resumed' || m.type === 'error', 5000, 'resumed');
    assert.equal(reply.type, 'resumed', j(reply));
    assert.deepEqual(reply.rooms.res, { seq: 53, epoch: reply.rooms.res.epoch, recovered: true });
    await everyoneHas([b], 'res', 50);
    await pub(C, 54, 58);
    await everyoneHas([b], 'res', 55);
    await sleep(200);
    const got = inRoom(b, 'res');
    assert.deepEqual(got.map((m) => m.seq), range(4, 58), `missed then live: ${j(got.map((m) => m.seq))}`);
    assert.deepEqual(got.map((m) => m.data.i), range(4, 58));
    /* The token is spent on every node: the same resume on C fails. */
    const c = await connectWelcomed(userUrl(C, 'ann'));
    c.send({ type: 'resume', token });
    const again = await c.nextMatching((m) => m.type === 'resumed' || m.type === 'error', 5000, 'the second resume');
    assert.equal(again.type, 'error', j(again));
    assert.equal(again.code, 'resume_failed');
    await b.close();
    await c.close();
  });
});

describe('limits, presence and the node list across nodes', () => {
  const x = cluster({ limits: { max_connections_per_user: 2 } });

  it('holds a per-user connection limit across nodes', T, async () => {
    const { nodes } = x;
    const [A, B, C] = nodes;
    const a = await connectWelcomed(userUrl(A, 'lim'));
    const b = await connectWelcomed(userUrl(B, 'lim'));
    await assert.rejects(connect(userUrl(C, 'lim')), (e) => e.status === 429);
    await a.close();
    /* The count goes down with the close; then C admits. */
    const c = await admittedOn(C, 'lim', 'C to admit lim once A closed');
    await b.close();
    await c.close();
  });

  it('lists presence of every node, and the nodes; a killed node leaves both within its TTL', T, async () => {
    const { nodes } = x;
    const [A, B, C] = nodes;
    const alice = await connectWelcomed(userUrl(A, 'alice'));
    const bob = await connectWelcomed(userUrl(B, 'bob'));
    const bob2 = await connectWelcomed(userUrl(B, 'bob'));
    const carol = await connectWelcomed(userUrl(C, 'carol'));
    for (const c of [alice, bob, bob2, carol]) await subscribed(c, 'lobby');
    const presence = async () => {
      carol.send({ type: 'presence', room: 'lobby' });
      const p = await carol.next('presence');
      return Object.fromEntries(p.users.map((u) => [u.user, u.conns]));
    };
    await waitFor(async () => Object.keys(await presence()).length === 3, {
      timeoutMs: 3000,
      what: 'presence with alice, bob and carol',
    });
    assert.deepEqual(await presence(), { alice: 1, bob: 2, carol: 1 });
    /* wsctl room lists the users of every node too. */
    const users = A.ctl(['room', 'lobby']).room.users.map((u) => `${u.user}:${u.conns}`).sort();
    assert.deepEqual(users, ['alice:1', 'bob:2', 'carol:1']);
    const listed = A.ctl(['nodes']).nodes;
    assert.deepEqual(listed.map((n) => n.id).sort(), ['nodeA', 'nodeB', 'nodeC']);
    for (const n of listed) {
      assert.equal(typeof n.address, 'string');
      assert.ok(Number.isInteger(n.connections));
    }
    /* bob's node dies without a word: its entries expire. */
    const killedAt = Date.now();
    await killNode(B);
    await waitFor(async () => !('bob' in (await presence())), {
      timeoutMs: NODE_TTL_MS * 3,
      intervalMs: 200,
      what: 'bob out of the presence on C',
    });
    const took = Date.now() - killedAt;
    assert.ok(took <= NODE_TTL_MS + 1500, `presence expired after ${took} ms (node_ttl_ms ${NODE_TTL_MS})`);
    assert.deepEqual(await presence(), { alice: 1, carol: 1 });
    await waitFor(() => A.ctl(['nodes']).nodes.length === 2, { timeoutMs: NODE_TTL_MS * 2, what: 'node B out of wsctl nodes' });
    /* bob's two connections were on B: the limit counts them no more. */
    const back1 = await connectWelcomed(userUrl(A, 'bob'));
    const back2 = await connectWelcomed(userUrl(C, 'bob'));
    await assert.rejects(connect(userUrl(A, 'bob')), (e) => e.status === 429);
    for (const c of [alice, carol, back1, back2]) await c.close();
  });
});

describe('Redis killed during traffic', () => {
  const x = cluster();

  it('answers unavailable while it is down, then every client ends gap-free', T, async () => {
    const { nodes, shards } = x;
    const [redis] = shards;
    const clients = [];
    for (const d of nodes) clients.push(await connectWelcomed(d.url));
    for (const c of clients) await subscribed(c, 'storm');
    let n = 0;
    let timer;
    const tick = () => {
      clients[n % clients.length].send({ type: 'publish', room: 'storm', id: `s${n}`, data: { n } });
      n++;
      timer = setTimeout(tick, 5);
    };
    tick();
    await sleep(500);
    await redis.kill();
    await waitFor(
      async () => {
        const r = await httpGet(nodes[0].adminPort, '/ready');
        return r.status === 503 && /engine unreachable/.test(r.body);
      },
      { timeoutMs: 5000, what: '/ready 503 with the engine unreachable' },
    );
    assert.equal(nodes[1].ctl(['status']).state, 'degraded');
    assert.equal(nodes[1].ctl(['status']).engine_links[0].up, false);
    const m = await httpGet(nodes[2].adminPort, '/metrics');
    assert.match(m.body, /wsd_engine_link_up\{address="127\.0\.0\.1:\d+"\} 0/);
    assert.match(m.body, /wsd_engine_info\{engine="redis"\} 1/);
    /* The engine's families pass promtool's checks too. */
    const pt = require('node:child_process').spawnSync('promtool', ['check', 'metrics'], {
      input: m.body,
      encoding: 'utf8',
    });
    assert.equal(pt.status, 0, `promtool: ${pt.stdout}${pt.stderr}`);
    assert.equal((pt.stdout + pt.stderr).trim(), '', `promtool: ${pt.stdout}${pt.stderr}`);
    const down = nodes[0].ctlResult(['publish', 'storm', '"x"']);
    assert.notEqual(down.status, 0);
    assert.match(down.stdout + down.stderr, /unavailable/);
    await sleep(300);
    await redis.restart();
    await waitFor(
      async () => {
        for (const d of nodes) if ((await httpGet(d.adminPort, '/ready')).status !== 200) return false;
        return true;
      },
      { timeoutMs: 10000, what: 'every node ready again' },
    );
    await sleep(500);
    clearTimeout(timer);
    /* Every publish answered: acknowledged or refused. */
    await waitFor(
      () =>
        clients.reduce((k, c) => k + c.all.filter((x) => x.type === 'ack' || x.type === 'error').length, 0) === n,
      { timeoutMs: 10000, what: `${n} publishes answered` },
    );
    const errors = clients.flatMap((c) => c.all.filter((x) => x.type === 'error'));
    assert.ok(errors.length > 0, 'some publishes were refused while Redis was down');
    assert.ok(errors.every((e) => e.code === 'unavailable'), j(errors.find((e) => e.code !== 'unavailable')));
    /*
     * A refused publish is sent again with its id, as a client does. One
     * whose script ran just before Redis died (its reply lost) was stamped
     * once: the resend is answered with that seq, not stamped again.
     */
    const resent = new Map();
    clients.forEach((c) => {
      for (const e of c.all.filter((x) => x.type === 'error')) {
        const k = Number(e.ref.slice(1));
        c.send({ type: 'publish', room: 'storm', id: e.ref, data: { n: k } });
        resent.set(e.ref, c);
      }
    });
    await waitFor(() => [...resent].every(([id, c]) => c.all.some((x) => x.type === 'ack' && x.id === id)), {
      timeoutMs: 10000,
      what: `${resent.size} resends acknowledged`,
    });
    /* One last publish through each node settles where everyone is. */
    for (const d of nodes) d.ctl(['publish', 'storm', '"end"']);
    const last = n + 3;
    await everyoneHas(clients, 'storm', last, 15000);
    await sleep(200);
    assertSameOrder(clients, 'storm', 1, last);
    const ids = inRoom(clients[0], 'storm').filter((x) => x.id).map((x) => x.id);
    assert.equal(new Set(ids).size, ids.length, 'no message delivered twice');
    assert.equal(ids.length, n, 'every publish delivered once');
    for (const c of clients)
      for (const a of c.all.filter((x) => x.type === 'ack')) {
        const m = inRoom(c, 'storm').find((x) => x.id === a.id);
        assert.equal(m.seq, a.seq, `ack ${j(a)} and its delivery agree`);
      }
    for (const c of clients) await c.close();
  });
});

describe('a lost subscription link', () => {
  const x = cluster({ replay: { size: 8 } });

  /* The sum of a family's samples on d's /metrics. */
  const metric = async (d, name) => {
    const body = (await httpGet(d.adminPort, '/metrics')).body;
    return [...body.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'gm'))].reduce((a, m) => a + Number(m[1]), 0);
  };

  it('fills what a node missed from the stream before anything newer', T, async () => {
    const { nodes, shards } = x;
    const [redis] = shards;
    const clients = [];
    for (const d of nodes) clients.push(await connectWelcomed(d.url));
    for (const c of clients) await subscribed(c, 'gap');
    const before0 = await metric(nodes[0], 'wsd_engine_gaps_filled_total');
    /* Redis drops every subscriber link: the nodes hear nothing until
     * theirs is back, while the publishes go on over the command links. */
    redis.cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
    for (let i = 1; i <= 6; i++) nodes[i % 3].ctl(['publish', 'gap', j({ i })]);
    await everyoneHas(clients, 'gap', 6);
    for (let i = 7; i <= 9; i++) nodes[i % 3].ctl(['publish', 'gap', j({ i })]);
    await everyoneHas(clients, 'gap', 9);
    await sleep(200);
    assertSameOrder(clients, 'gap', 1, 9);
    let filled = 0;
    for (const d of nodes) filled += (await metric(d, 'wsd_engine_gaps_filled_total')) - (d === nodes[0] ? before0 : 0);
    assert.ok(filled > 0, 'the missed messages came from the stream');
    for (const c of clients) await c.close();
  });

  it('says what the stream no longer had: the seq gap, then recovered false', T, async () => {
    const { nodes, shards } = x;
    const [redis] = shards;
    const clients = [];
    for (const d of nodes) clients.push(await connectWelcomed(d.url));
    for (const c of clients) await subscribed(c, 'lost');
    nodes[0].ctl(['publish', 'lost', '0']);
    await everyoneHas(clients, 'lost', 1);
    /* Far more than replay.size while nobody hears (Redis trims a
     * stream by whole blocks of 100 entries): the oldest are gone. */
    redis.cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
    const p = await connectWelcomed(nodes[1].url);
    for (let i = 1; i <= 400; i++) p.send({ type: 'publish', room: 'lost', id: `l${i}`, data: i });
    await p.nextMatching((m) => m.type === 'ack' && m.id === 'l400', 10000, 'the last ack');
    await waitFor(() => clients.every((c) => inRoom(c, 'lost').some((m) => m.seq === 401)), {
      timeoutMs: 10000,
      what: 'seq 401 everywhere',
    });
    let lost = 0;
    for (const d of nodes) lost += await metric(d, 'wsd_engine_gaps_lost_total');
    assert.ok(lost > 0, 'some messages were past the stream');
    for (const c of clients) {
      const seqs = inRoom(c, 'lost').map((m) => m.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), `in order: ${j(seqs)}`);
      assert.equal(new Set(seqs).size, seqs.length, `no duplicate: ${j(seqs)}`);
      assert.equal(seqs[seqs.length - 1], 401);
      /* A client that sees the gap asks, and is told. */
      const hole = seqs.findIndex((s, k) => k > 0 && s !== seqs[k - 1] + 1);
      if (hole < 0) continue;
      c.send({ type: 'subscribe', room: 'lost', since: seqs[hole - 1] });
      const r = await c.next('subscribed');
      assert.equal(r.recovered, false, j(r));
    }
    await p.close();
    for (const c of clients) await c.close();
  });
});

describe('a subscription link that goes silent', () => {
  let redis;
  let proxy;
  let nodes = [];
  const prefix = `e2e-${crypto.randomBytes(3).toString('hex')}:`;
  before(async () => {
    redis = await startRedis();
    proxy = await startProxy(redis);
    /* Node A through the proxy, B straight to Redis: the same shard. */
    nodes.push(await startWsd({ workers: 1, config: nodeConfig([proxy], 'nodeA', prefix) }));
    nodes.push(await startWsd({ workers: 1, config: nodeConfig([redis], 'nodeB', prefix) }));
  });
  after(async () => {
    for (const d of nodes) await d.stop();
    await proxy.close();
    await redis.stop();
  });

  it('is dropped within twice redis.timeout_ms and made again; what it missed comes from the stream', T, async () => {
    const [A, B] = nodes;
    const a = await connectWelcomed(A.url);
    const b = await connectWelcomed(B.url);
    await subscribed(a, 'silent');
    await subscribed(b, 'silent');
    const t0 = Date.now();
    proxy.freezeSubscribers();
    /* (wsctl without blocking this process: the proxy runs in it.) */
    for (let i = 1; i <= 5; i++) assert.equal((await B.ctlAsync(['publish', 'silent', j({ i })])).ok, true);
    await everyoneHas([b], 'silent', 5);
    /* Node A hears nothing; its watchdog drops the link (timeout_ms 1000
     * in these configs), makes it again, and reads the gap. */
    await waitFor(() => A.log().includes('"nothing heard"'), { timeoutMs: 5000, what: 'A to drop its silent subscription link' });
    const took = Date.now() - t0;
    assert.ok(took <= 3500, `dropped after ${took} ms`);
    proxy.thaw();
    await everyoneHas([a], 'silent', 5, 8000);
    for (let i = 6; i <= 7; i++) assert.equal((await A.ctlAsync(['publish', 'silent', j({ i })])).ok, true);
    await everyoneHas([a, b], 'silent', 7);
    await sleep(200);
    assertSameOrder([a, b], 'silent', 1, 7);
    await a.close();
    await b.close();
  });
});

describe('a busy or lost Redis', () => {
  const x = cluster({ limits: { max_connections_per_user: 1, max_rooms: 4 } });

  it('spends a token taken over once, also when the resume waits on Redis', T, async () => {
    const { nodes, shards } = x;
    const [A, B] = nodes;
    const [redis] = shards;
    const old = await connectWelcomed(A.url);
    const token = old.welcome.resume_token;
    /* The old connection is still there: a resume on its node takes it
     * over, and waits for a room Redis is too busy to make ready. */
    const sleeping = redis.busy(1000);
    await sleep(50);
    const b = await connect(A.url);
    b.send({ type: 'resume', token, rooms: { wait1: 0 } });
    await old.waitClose(3000);
    assert.equal(old.closeInfo.code, 4003);
    await sleeping;
    const r1 = await b.nextMatching((m) => m.type === 'resumed' || m.type === 'error', 5000, 'the resume');
    assert.equal(r1.type, 'resumed', j(r1));
    /* The old connection's close left nothing behind: a second use of
     * the token fails on every node. */
    const c = await connectWelcomed(B.url);
    c.send({ type: 'resume', token });
    const r2 = await c.nextMatching((m) => m.type === 'resumed' || m.type === 'error', 5000, 'the second resume');
    assert.equal(r2.type, 'error', j(r2));
    assert.equal(r2.code, 'resume_failed');
    await b.close();
    await c.close();
  });

  it('delivers the first sends to an anonymous user welcomed while Redis is busy', T, async () => {
    const { nodes, shards } = x;
    const [A, B] = nodes;
    const [redis] = shards;
    const sleeping = redis.busy(800);
    await sleep(50);
    const c = await connectWelcomed(A.url);
    const sent = B.ctlAsync(['send', '--user', c.welcome.user, j({ first: true })]);
    await sleeping;
    assert.equal((await sent).ok, true);
    const got = await c.nextMatching((m) => m.type === 'message' && m.room === `user:${c.welcome.user}`, 5000, 'the first send');
    assert.deepEqual(got.data, { first: true });
    await c.close();
  });

  it('resumes an anonymous session on another node with its personal room', T, async () => {
    const [A, B] = x.nodes;
    const a = await connectWelcomed(A.url);
    const user = a.welcome.user;
    A.ctl(['send', '--user', user, '1']);
    await a.nextMatching((m) => m.type === 'message' && m.data === 1, 5000, 'the first send');
    const token = a.welcome.resume_token;
    const conn = a.welcome.conn;
    a.ws._socket.destroy();
    await a.waitClose(3000);
    await waitFor(() => !A.ctl(['conns']).conns.some((c) => c.id === conn), { timeoutMs: 3000, what: 'gone from A' });
    B.ctl(['send', '--user', user, '2']);
    B.ctl(['send', '--user', user, '3']);
    const b = await connectWelcomed(B.url);
    b.send({ type: 'resume', token });
    const r = await b.nextMatching((m) => m.type === 'resumed' || m.type === 'error', 5000, 'resumed');
    assert.equal(r.type, 'resumed', j(r));
    assert.equal(r.user, user);
    assert.deepEqual(r.rooms[`user:${user}`].recovered, true, j(r));
    await everyoneHas([b], `user:${user}`, 2);
    await sleep(200);
    assert.deepEqual(inRoom(b, `user:${user}`).map((m) => m.data), [2, 3]);
    assert.equal(b.all.filter((m) => m.type === 'error').length, 0, j(b.all));
    await b.close();
  });

  it('keeps limits.max_rooms from counting personal rooms', T, async () => {
    const [A] = x.nodes;
    const cs = [];
    for (let i = 0; i < 5; i++) cs.push(await connectWelcomed(A.url));
    assert.equal((await subscribed(cs[0], 'lobby4')).type, 'subscribed');
    A.ctl(['send', '--user', cs[4].welcome.user, '"hi"']);
    const got = await cs[4].nextMatching((m) => m.type === 'message' && m.data === 'hi', 5000, 'the send');
    assert.equal(got.data, 'hi');
    for (const c of cs) await c.close();
  });

  it('counts users and presence right again after Redis was lost and came back', T, async () => {
    const { nodes, shards } = x;
    const [A, B, C] = nodes;
    const [redis] = shards;
    const u = await connectWelcomed(userUrl(A, 'cnt'));
    const gone = await connectWelcomed(userUrl(A, 'gone'));
    await subscribed(gone, 'pr2');
    await subscribed(u, 'pr2');
    await assert.rejects(connect(userUrl(B, 'cnt')), (e) => e.status === 429);
    await redis.kill();
    /* Both leave while nobody can tell Redis. */
    await u.close();
    await gone.close();
    await redis.restart();
    await waitFor(
      async () => {
        for (const d of nodes) if ((await httpGet(d.adminPort, '/ready')).status !== 200) return false;
        return true;
      },
      { timeoutMs: 10000, what: 'every node ready again' },
    );
    /* A's state is written anew: cnt is not counted, gone not present. */
    const v = await admittedOn(B, 'cnt', 'cnt admitted on B');
    const w = await connectWelcomed(userUrl(C, 'watcher'));
    await subscribed(w, 'pr2');
    w.send({ type: 'presence', room: 'pr2' });
    const p = await w.next('presence');
    assert.deepEqual(p.users.map((x) => x.user), ['watcher'], j(p));
    await v.close();
    await w.close();
  });

  it('refuses a reload of the Redis keys', T, async () => {
    const [A] = x.nodes;
    const fs = require('node:fs');
    const { renderConfig } = require('./harness');
    const conf = fs.readFileSync(A.confPath, 'utf8');
    fs.writeFileSync(A.confPath, conf.replace(/timeout_ms = 1000;/, 'timeout_ms = 3000;').replace(/node_ttl_ms = \d+;/, 'node_ttl_ms = 9000;'));
    const r = A.ctl(['reload']);
    const lines = r.changes.join('\n');
    assert.match(lines, /redis\.timeout_ms 1000 -> 3000: refused \(needs a restart\)/);
    assert.match(lines, /redis\.node_ttl_ms \d+ -> 9000: refused \(needs a restart\)/);
    void renderConfig;
    fs.writeFileSync(A.confPath, conf);
  });

  it('exits cleanly with an admission waiting on Redis', T, async () => {
    const { nodes, shards } = x;
    const [redis] = shards;
    const C = nodes[2];
    const sleeping = redis.busy(1500);
    await sleep(50);
    const pending = connect(userUrl(C, 'late')).catch((e) => e);
    await sleep(200);
    const st = await C.stop({ graceMs: 8000 });
    await sleeping;
    await pending;
    assert.equal(st.forced, false, 'stopped without SIGKILL');
    assert.deepEqual(st.sanitizer, [], 'no sanitizer report');
    nodes[2] = null; /* stopped here */
  });
});

describe('two Redis shards', () => {
  const x = cluster({ replay: { size: 20 }, limits: { max_connections_per_user: 2 } }, 2);

  it('spreads rooms over both, and fan-out and resume still hold', T, async () => {
    const { nodes, shards, prefix } = x;
    const rooms = range(0, 9).map((k) => `room${k}`);
    const clients = [];
    for (const d of nodes) clients.push(await connectWelcomed(d.url));
    for (const c of clients) for (const r of rooms) assert.equal((await subscribed(c, r)).type, 'subscribed');
    for (let i = 0; i < 5; i++)
      for (const r of rooms) clients[i % 3].send({ type: 'publish', room: r, data: { r, i } });
    for (const r of rooms) await everyoneHas(clients, r, 5);
    for (const r of rooms) assertSameOrder(clients, r, 1, 5);
    const held = shards.map((s) =>
      s.cli('--scan', '--pattern', `${prefix}m:room*`).split('\n').filter(Boolean),
    );
    assert.ok(held[0].length > 0 && held[1].length > 0, `rooms on both shards: ${j(held)}`);
    assert.equal(held[0].length + held[1].length, rooms.length, 'each room on one shard');
    for (const c of clients) await c.close();
  });

  it('resumes rooms of both shards on another node; a trimmed one says recovered false', T, async () => {
    const { nodes, shards, prefix } = x;
    const [A, B, C] = nodes;
    /* Two rooms, one on each shard. */
    const shardOf = (r) => shards.findIndex((s) => s.cli('EXISTS', `${prefix}m:${r}`).trim() === '1');
    const a = await connectWelcomed(userUrl(A, 'dan'));
    const names = [];
    for (let k = 0; names.length < 2 && k < 50; k++) {
      const r = `dan${k}`;
      await subscribed(a, r);
      const s = shardOf(r);
      if (names.length === 0 || shardOf(names[0]) !== s) names.push(r);
    }
    assert.equal(names.length, 2, 'a room on each shard');
    const [small, big] = names;
    const token = a.welcome.resume_token;
    a.ws._socket.destroy();
    await a.waitClose(3000);
    await waitFor(() => A.ctl(['conns']).conns.length === 0, { timeoutMs: 3000, what: 'dan gone from A' });
    const p = await connectWelcomed(C.url);
    for (let i = 1; i <= 5; i++) p.send({ type: 'publish', room: small, id: `s${i}`, data: { i } });
    for (let i = 1; i <= 30; i++) p.send({ type: 'publish', room: big, id: `b${i}`, data: { i } });
    await p.nextMatching((m) => m.type === 'ack' && m.id === 'b30', 5000, 'the last ack');
    const b = await connectWelcomed(userUrl(B, 'dan'));
    b.send({ type: 'resume', token });
    const reply = await b.nextMatching((m) => m.type === 'resumed' || m.type === 'error', 5000, 'resumed');
    assert.equal(reply.type, 'resumed', j(reply));
    assert.equal(reply.rooms[small].seq, 5);
    assert.equal(reply.rooms[small].recovered, true);
    assert.equal(reply.rooms[big].seq, 30);
    assert.equal(reply.rooms[big].recovered, false, 'replay.size 20 of 30 missed');
    await everyoneHas([b], small, 5);
    await sleep(200);
    assert.deepEqual(inRoom(b, small).map((m) => m.seq), range(1, 5));
    const bigSeqs = inRoom(b, big).map((m) => m.seq);
    assert.deepEqual(bigSeqs, range(30 - bigSeqs.length + 1, 30), `the newest of ${big}: ${j(bigSeqs)}`);
    await p.close();
    await b.close();
  });
  it('holds the per-user limit and presence with users and rooms on both shards', T, async () => {
    const { nodes, shards, prefix } = x;
    const [A, B, C] = nodes;
    /* Users whose counts are on either shard. */
    const shardOfUser = (u) => shards.findIndex((s) => s.cli('EXISTS', `${prefix}uc:${u}`).trim() === '1');
    const held = [];
    const seen = new Set();
    for (let k = 0; seen.size < 2 && k < 40; k++) {
      const u = `sh${k}`;
      const c = await connectWelcomed(userUrl(A, u));
      const s = shardOfUser(u);
      if (seen.has(s)) {
        await c.close();
        continue;
      }
      seen.add(s);
      held.push({ u, c, c2: await connectWelcomed(userUrl(B, u)) });
    }
    assert.equal(held.length, 2, 'a user on each shard');
    for (const h of held) await assert.rejects(connect(userUrl(C, h.u)), (e) => e.status === 429, `${h.u} over its limit`);
    /* Presence of rooms on both shards, seen from C. */
    const w = await connectWelcomed(C.url);
    for (const r of ['room0', 'room1', 'room2', 'room3']) {
      for (const h of held) await subscribed(h.c, r);
      await subscribed(w, r);
      w.send({ type: 'presence', room: r });
      const p = await w.next('presence');
      const users = p.users.map((u) => u.user).filter((u) => u.startsWith('sh')).sort();
      assert.deepEqual(users, held.map((h) => h.u).sort(), `presence of ${r}: ${j(p)}`);
    }
    for (const h of held) {
      await h.c.close();
      await h.c2.close();
    }
    await w.close();
  });

  it('one shard down: its rooms are unavailable, the other shard\'s go on', T, async () => {
    const { nodes, shards, prefix } = x;
    const [A, B] = nodes;
    const shardOf = (r) => shards.findIndex((s) => s.cli('EXISTS', `${prefix}m:${r}`).trim() === '1');
    const byShard = [null, null];
    for (let k = 0; k < 10; k++) byShard[shardOf(`room${k}`)] = byShard[shardOf(`room${k}`)] || `room${k}`;
    assert.ok(byShard[0] && byShard[1], j(byShard));
    const a = await connectWelcomed(A.url);
    const b = await connectWelcomed(B.url);
    for (const r of byShard) {
      await subscribed(a, r);
      await subscribed(b, r);
    }
    const before = byShard.map((r) => inRoom(b, r).length);
    await shards[1].kill();
    await waitFor(() => A.ctl(['status']).engine_links.some((l) => !l.up), { timeoutMs: 5000, what: 'a link down' });
    a.send({ type: 'publish', room: byShard[0], id: 'up0', data: 'fine' });
    a.send({ type: 'publish', room: byShard[1], id: 'down1', data: 'no' });
    const ack = await a.nextMatching((m) => m.type === 'ack' && m.id === 'up0', 5000, 'the up shard\'s ack');
    assert.ok(ack.seq > 0);
    const err = await a.nextMatching((m) => m.type === 'error' && m.ref === 'down1', 5000, 'the down shard\'s refusal');
    assert.equal(err.code, 'unavailable');
    await waitFor(() => inRoom(b, byShard[0]).length === before[0] + 1, { timeoutMs: 5000, what: 'the up shard delivering' });
    await shards[1].restart();
    await waitFor(() => A.ctl(['status']).engine_links.every((l) => l.up), { timeoutMs: 10000, what: 'links up again' });
    a.send({ type: 'publish', room: byShard[1], id: 'down1', data: 'no' });
    await a.nextMatching((m) => m.type === 'ack' && m.id === 'down1', 5000, 'the resend acknowledged');
    await waitFor(() => inRoom(b, byShard[1]).length === before[1] + 1, { timeoutMs: 5000, what: 'the other shard back' });
    await a.close();
    await b.close();
  });
});
