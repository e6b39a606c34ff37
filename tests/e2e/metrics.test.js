'use strict';
/*
 * GET /metrics (docs/metrics.md): the real daemon with two workers is
 * scraped before and after known traffic, and the counters must move by
 * exactly what the traffic did: N connects, M publishes to a room with K
 * subscribers (M * K deliveries, each one observation of the
 * publish-to-delivery latency), a kick with a known close code, a refused
 * handshake, and a rate-limited flood. The workers report their totals in
 * STATS once a second (worker/wk_main.c, STATS_INTERVAL), so the test
 * polls until the values it expects are there, with a deadline, and then
 * checks that they stay put one STATS period later (nothing counted
 * twice). Every scrape is also handed to `promtool check metrics`, which
 * must exit 0 and print nothing.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const { startWsd, connectWelcomed, rawHttp, httpGet, waitFor, sleep, stopCleanly } = require('./harness');

const T = { timeout: 60000 };
const STATS_PERIOD_MS = 1000; /* worker/wk_main.c STATS_INTERVAL */
const RATE = 40;
const BURST = 20;
const ROOM = 'metrics-room';
const K = 3; /* subscribers */
const M = 5; /* publishes */
const KICK_CODE = 4005;
const FLOOD = 80; /* pings sent at once: over the burst */

let d;

/* Samples of a scrape: "name{labels}" -> value; labels as written. */
function parse(text) {
  const samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    assert.ok(m, `unparsable sample line: ${JSON.stringify(line)}`);
    samples.set(m[1] + (m[2] || ''), Number(m[3]));
  }
  return samples;
}

function promtool(text) {
  const r = childProcess.spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool: ${r.error.message} (scripts/install-deps.sh installs it)`);
  return r;
}

async function scrape() {
  const r = await httpGet(d.adminPort, '/metrics');
  assert.equal(r.status, 200, `GET /metrics: ${r.statusLine}`);
  const pt = promtool(r.body);
  assert.equal(pt.status, 0, `promtool check metrics exited ${pt.status}: ${pt.stdout}${pt.stderr}`);
  assert.equal((pt.stdout + pt.stderr).trim(), '', `promtool check metrics found problems:\n${pt.stdout}${pt.stderr}`);
  return { text: r.body, s: parse(r.body) };
}

const v = (snap, key) => snap.s.get(key) ?? 0;
const sumOf = (snap, re) => [...snap.s].filter(([k]) => re.test(k)).reduce((a, [, x]) => a + x, 0);

/* Scrape until every expectation holds (deadline), then once more a STATS
 * period later: they must still hold. Returns the last scrape. */
async function settled(expect, what) {
  let last;
  let bad = [];
  const check = (snap) => Object.entries(expect).filter(([, [fn, want]]) => fn(snap) !== want);
  await waitFor(
    async () => {
      last = await scrape();
      bad = check(last);
      return bad.length === 0;
    },
    { timeoutMs: 8000, intervalMs: 200, what },
  ).catch((e) => {
    throw new Error(`${e.message}; still off: ${bad.map(([k, [fn, want]]) => `${k}=${fn(last)} (want ${want})`).join(', ')}`);
  });
  await sleep(STATS_PERIOD_MS + 300);
  last = await scrape();
  bad = check(last);
  assert.deepEqual(
    bad.map(([k, [fn, want]]) => `${k}=${fn(last)} (want ${want})`),
    [],
    `${what}: a value moved on after it settled`,
  );
  return last;
}

describe('GET /metrics', () => {
  before(async () => {
    d = await startWsd({
      workers: 2,
      config: {
        heartbeat: { interval_ms: 1000 },
        limits: { rate_msgs: RATE, rate_msgs_burst: BURST, rate_grace_ms: 10000 },
      },
    });
    await waitFor(() => d.ctl(['status']).workers_ready === 2, { what: 'both workers ready' });
  });

  after(async () => {
    if (d) await stopCleanly(d);
  });

  it('every family has HELP and TYPE, counters end in _total, and promtool finds nothing', T, async () => {
    const { text } = await scrape();
    const help = new Set();
    const type = new Map();
    for (const line of text.split('\n')) {
      let m;
      if ((m = /^# HELP (\S+) \S/.exec(line))) help.add(m[1]);
      if ((m = /^# TYPE (\S+) (counter|gauge|histogram)$/.exec(line))) type.set(m[1], m[2]);
    }
    for (const [name, t] of type) {
      assert.ok(help.has(name), `${name} has no HELP`);
      if (t === 'counter') assert.match(name, /_total$/, `counter ${name}`);
    }
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)[0];
      const fam = type.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
      assert.ok(type.has(fam), `sample ${name} belongs to no family with a TYPE`);
    }
    for (const fam of [
      'wsd_connections', 'wsd_worker_connections', 'wsd_connections_opened_total', 'wsd_connections_closed_total',
      'wsd_handshakes_refused_total', 'wsd_connections_refused_by_total', 'wsd_users', 'wsd_rooms', 'wsd_sessions',
      'wsd_messages_received_total', 'wsd_messages_sent_total', 'wsd_received_bytes_total', 'wsd_sent_bytes_total',
      'wsd_drops_total', 'wsd_send_queue_depth', 'wsd_delivery_latency_seconds', 'wsd_pong_round_trip_seconds',
      'wsd_worker_restarts_total', 'wsd_worker_state', 'wsd_ipc_queue_messages', 'wsd_ipc_queue_bytes',
      'wsd_replay_entries', 'wsd_replay_bytes', 'wsd_limit_hits_total', 'process_cpu_seconds_total',
      'process_resident_memory_bytes', 'process_open_fds',
    ])
      assert.ok(type.has(fam), `family ${fam} is missing`);
    const s = parse(text);
    for (const w of ['0', '1']) {
      assert.equal(s.get(`wsd_worker_state{worker="${w}",state="ready"}`), 1, `worker ${w} ready`);
      assert.ok(s.get(`process_resident_memory_bytes{worker="${w}"}`) > 0, `worker ${w} RSS`);
      assert.ok(s.get(`process_cpu_seconds_total{worker="${w}"}`) >= 0, `worker ${w} CPU`);
    }
    assert.ok(s.get('process_resident_memory_bytes') > 0, 'supervisor RSS');
    assert.ok(s.get('process_open_fds') > 0, 'supervisor fds');
    assert.equal(s.get('wsd_delivery_latency_seconds_bucket{le="+Inf"}'), s.get('wsd_delivery_latency_seconds_count'));
  });

  it('counters move by exactly what the traffic did', T, async () => {
    const before0 = await settled({}, 'baseline');
    const clients = [];
    const subs = [];
    for (let i = 0; i < K; i++) {
      const c = await connectWelcomed(d.url);
      c.send({ type: 'subscribe', room: ROOM });
      await c.next('subscribed');
      subs.push(c);
      clients.push(c);
    }
    const pub = await connectWelcomed(d.url);
    clients.push(pub);
    const kicked = await connectWelcomed(d.url);
    clients.push(kicked);
    const flooder = await connectWelcomed(d.url);
    clients.push(flooder);
    const N = clients.length;

    /* Let the open connections show on both workers' STATS first. */
    await settled(
      {
        wsd_connections: [(s) => v(s, 'wsd_connections'), v(before0, 'wsd_connections') + N],
        workers_sum: [(s) => sumOf(s, /^wsd_worker_connections\{/), v(before0, 'wsd_connections') + N],
        depth_count: [(s) => v(s, 'wsd_send_queue_depth_count'), v(before0, 'wsd_connections') + N],
        opened: [(s) => v(s, 'wsd_connections_opened_total'), v(before0, 'wsd_connections_opened_total') + N],
        sessions: [(s) => v(s, 'wsd_sessions{state="connected"}'), v(before0, 'wsd_connections') + N],
      },
      'N connections open',
    );
    const base = await scrape();

    for (let i = 0; i < M; i++) {
      pub.send({ type: 'publish', room: ROOM, data: { i }, id: `m${i}` });
      await pub.next('ack');
    }
    for (const c of subs) for (let i = 0; i < M; i++) await c.nextIn(ROOM);

    const r = d.ctl(['kick', '--conn', kicked.welcome.conn, '--code', String(KICK_CODE)]);
    assert.equal(r.kicked, 1);
    const info = await kicked.waitClose();
    assert.equal(info.code, KICK_CODE);

    const refused = await rawHttp(d.port, `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${d.port}\r\n\r\n`);
    assert.equal(refused.status, 426, `a plain GET of the WebSocket path: ${refused.statusLine}`);

    for (let i = 0; i < FLOOD; i++) flooder.send({ type: 'ping' });
    for (let i = 0; i < FLOOD; i++) await flooder.next('pong', 10000);
    await sleep(100);
    const pauses = flooder.all.filter((m) => m.type === 'flow' && m.state === 'pause').length;
    assert.ok(pauses >= 1, `the flood of ${FLOOD} over a burst of ${BURST} was paused`);
    /* The resume comes from the worker's refill timer: slow under a
     * sanitizer on a loaded machine (once over 5 s in a local run). */
    await waitFor(() => flooder.all.filter((m) => m.type === 'flow' && m.state === 'resume').length === pauses, {
      timeoutMs: 20000,
      what: 'the flooder resumed',
    });

    const open = clients.filter((c) => c !== kicked);
    const at = (key) => v(base, key);
    const after1 = await settled(
      {
        publishes: [(s) => v(s, 'wsd_publishes_total'), at('wsd_publishes_total') + M],
        latency_count: [(s) => v(s, 'wsd_delivery_latency_seconds_count'), at('wsd_delivery_latency_seconds_count') + M * K],
        latency_inf: [(s) => v(s, 'wsd_delivery_latency_seconds_bucket{le="+Inf"}'), at('wsd_delivery_latency_seconds_count') + M * K],
        received: [(s) => v(s, 'wsd_messages_received_total'), at('wsd_messages_received_total') + M + FLOOD],
        closed_kick: [(s) => v(s, `wsd_connections_closed_total{code="${KICK_CODE}"}`), at(`wsd_connections_closed_total{code="${KICK_CODE}"}`) + 1],
        refused_426: [(s) => v(s, 'wsd_handshakes_refused_total{status="426"}'), at('wsd_handshakes_refused_total{status="426"}') + 1],
        refused_all: [(s) => sumOf(s, /^wsd_handshakes_refused_total\{/), sumOf(base, /^wsd_handshakes_refused_total\{/) + 1],
        admission_refused: [(s) => v(s, 'wsd_connections_refused_total'), at('wsd_connections_refused_total')],
        rate_hits: [(s) => v(s, 'wsd_limit_hits_total{limit="rate"}'), at('wsd_limit_hits_total{limit="rate"}') + pauses],
        connections: [(s) => v(s, 'wsd_connections'), at('wsd_connections') - 1],
        drops: [(s) => sumOf(s, /^wsd_drops_total\{/), sumOf(base, /^wsd_drops_total\{/)],
      },
      'after the traffic',
    );
    /* Every JSON message the clients got since the base scrape was one
     * message sent. */
    const sent = v(after1, 'wsd_messages_sent_total') - at('wsd_messages_sent_total');
    const got = clients.reduce((a, c) => a + c.all.length, 0) - N - K; /* the welcomes and subscribed came before */
    assert.equal(sent, got, `messages sent (${sent}) = JSON messages the clients got since the base scrape (${got})`);
    const inBytes = v(after1, 'wsd_received_bytes_total') - at('wsd_received_bytes_total');
    const outBytes = v(after1, 'wsd_sent_bytes_total') - at('wsd_sent_bytes_total');
    assert.ok(inBytes > FLOOD * 6, `bytes received moved by ${inBytes}`);
    assert.ok(outBytes > M * K * 10, `bytes sent moved by ${outBytes}`);
    /* Latency buckets are cumulative and end at the count. */
    const les = [...after1.s].filter(([k]) => k.startsWith('wsd_delivery_latency_seconds_bucket')).map(([, x]) => x);
    for (let i = 1; i < les.length; i++) assert.ok(les[i] >= les[i - 1], 'latency buckets are cumulative');
    assert.ok(v(after1, 'wsd_delivery_latency_seconds_sum') > 0, 'latency sum');

    /* The idle subscribers were pinged (heartbeat 1 s) and answered. */
    await waitFor(async () => v(await scrape(), 'wsd_pong_round_trip_seconds_count') > at('wsd_pong_round_trip_seconds_count'), {
      timeoutMs: 8000,
      intervalMs: 300,
      what: 'a pong round trip counted',
    });

    /* The rest close with 1000: every connection is counted closed. */
    await Promise.all(open.map((c) => c.close()));
    await settled(
      {
        closed_1000: [(s) => v(s, 'wsd_connections_closed_total{code="1000"}'), at('wsd_connections_closed_total{code="1000"}') + open.length],
        closed_all: [(s) => sumOf(s, /^wsd_connections_closed_total\{/), sumOf(base, /^wsd_connections_closed_total\{/) + N],
        connections: [(s) => v(s, 'wsd_connections'), at('wsd_connections') - N],
        depth_count: [(s) => v(s, 'wsd_send_queue_depth_count'), at('wsd_connections') - N],
        sessions: [(s) => v(s, 'wsd_sessions{state="connected"}'), at('wsd_connections') - N],
      },
      'after every client closed',
    );
  });
});
