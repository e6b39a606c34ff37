'use strict';
/*
 * Trace context (docs/protocol.md, "Trace context"): a W3C traceparent on
 * the upgrade request is checked and kept with the connection, shown by
 * `wsctl conn` and the admin API, and added to that connection's log
 * lines; a `trace` on a publish or send is checked (bad_request when it
 * is not a traceparent) and carried by the deliveries, by replays and
 * by the log. Also the admin API's and wsctl's `trace` and `key`.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const { startWsd, connectWelcomed, waitFor, WSCTL_BIN } = require('./harness');

const T = { timeout: 30000 };
const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const TP2 = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00';
const TP3 = '00-11111111111111111111111111111111-2222222222222222-01';

/* Every JSON log line of the daemon so far. */
function logLines(d) {
  return d
    .log()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}

describe('trace context', () => {
  let d;
  const clients = [];
  const admin = () => `http://127.0.0.1:${d.adminPort}`;
  const open = async (headers) => {
    const c = await connectWelcomed(d.url, headers ? { headers } : {});
    clients.push(c);
    return c;
  };

  before(
    async () => {
      d = await startWsd({ workers: 2, config: { log_level: 'debug' } });
    },
    { timeout: 30000 },
  );
  after(
    async () => {
      for (const c of clients) c.terminate();
      if (d) await d.stop();
    },
    { timeout: 15000 },
  );

  it('the upgrade traceparent is kept with the connection and shown by wsctl conn and the API', T, async () => {
    const c = await open({ traceparent: TP });
    const info = d.ctl(['conn', String(c.welcome.conn)]).conn;
    assert.equal(info.traceparent, TP);
    /* The human form shows it too. */
    const human = childProcess.execFileSync(WSCTL_BIN, ['-s', d.controlSocket, 'conn', String(c.welcome.conn)], { encoding: 'utf8' });
    assert.match(human, new RegExp(`traceparent:\\s+${TP}`));
    const api = await (await fetch(`${admin()}/api/conn?id=${c.welcome.conn}`)).json();
    assert.equal(api.conn.traceparent, TP);
    /* Without one: null. */
    const plain = await open();
    assert.equal(d.ctl(['conn', String(plain.welcome.conn)]).conn.traceparent, null);
  });

  it('an invalid or repeated traceparent is ignored, and the connection is still accepted', T, async () => {
    for (const bad of [
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      `${TP}-extra`,
      'garbage',
    ]) {
      const c = await open({ traceparent: bad });
      assert.equal(d.ctl(['conn', String(c.welcome.conn)]).conn.traceparent, null, bad);
    }
    /* Two traceparent headers: neither is kept (W3C). */
    const twice = await open({ traceparent: [TP, TP2] });
    assert.equal(d.ctl(['conn', String(twice.welcome.conn)]).conn.traceparent, null);
    /* A later version is accepted, and only its first 55 characters kept. */
    const later = await open({ traceparent: `cc-${TP.slice(3)}-future-fields` });
    assert.equal(d.ctl(['conn', String(later.welcome.conn)]).conn.traceparent, `cc-${TP.slice(3)}`);
  });

  it("the connection's log lines carry its trace, in the supervisor and the worker", T, async () => {
    const c = await open({ traceparent: TP2 });
    const id = c.welcome.conn;
    d.ctl(['kick', '--conn', String(id)]);
    await c.waitClose(5000);
    await waitFor(() => logLines(d).some((o) => o.event === 'conn_closed' && o.conn === id), { what: 'the close logged' });
    const mine = logLines(d).filter((o) => o.conn === id);
    const byEvent = Object.fromEntries(mine.map((o) => [o.event, o]));
    assert.equal(byEvent.conn_opened?.trace, TP2, 'conn_opened (supervisor)');
    assert.equal(byEvent.kicked?.trace, TP2, 'kicked (worker)');
    assert.equal(byEvent.kicked.process, 'worker');
    assert.equal(byEvent.conn_closed?.trace, TP2, 'conn_closed (supervisor)');
    /* A connection without one has no trace field. */
    const p = await open();
    d.ctl(['kick', '--conn', String(p.welcome.conn)]);
    await p.waitClose(5000);
    await waitFor(() => logLines(d).some((o) => o.event === 'conn_closed' && o.conn === p.welcome.conn), { what: 'the close logged' });
    for (const o of logLines(d).filter((x) => x.conn === p.welcome.conn)) assert.ok(!('trace' in o), JSON.stringify(o));
  });

  it('a publish and a send carry their trace to deliveries, replays and the log', T, async () => {
    const sub = await open();
    sub.send({ type: 'subscribe', room: 'traced' });
    await sub.next('subscribed');
    const pub = await open();
    pub.send({ type: 'publish', room: 'traced', data: { n: 1 }, trace: TP, id: 'p1' });
    const m1 = await sub.nextIn('traced');
    assert.equal(m1.trace, TP);
    assert.deepEqual(m1.data, { n: 1 });
    assert.equal((await pub.next('ack')).id, 'p1');
    pub.send({ type: 'publish', room: 'traced', data: { n: 2 } });
    const m2 = await sub.nextIn('traced');
    assert.ok(!('trace' in m2), 'no trace given, none delivered');

    /* A replay holds the trace as the delivery did. */
    const late = await open();
    late.send({ type: 'subscribe', room: 'traced', since: 0 });
    const r1 = await late.nextIn('traced');
    assert.equal(r1.seq, m1.seq);
    assert.equal(r1.trace, TP);
    assert.ok(!('trace' in (await late.nextIn('traced'))));

    /* A send to a user. */
    const u = await open();
    pub.send({ type: 'send', user: u.welcome.user, data: 'hi', trace: TP2 });
    const dm = await u.nextMatching((m) => m.type === 'message' && m.room === `user:${u.welcome.user}`, 5000, 'the send');
    assert.equal(dm.trace, TP2);

    /* The log says where the traced publish went, without its data. */
    await waitFor(() => logLines(d).some((o) => o.event === 'publish_traced' && o.trace === TP), { what: 'publish_traced' });
    const line = logLines(d).find((o) => o.event === 'publish_traced' && o.trace === TP);
    assert.equal(line.room, 'traced');
    assert.equal(line.seq, m1.seq);
    await waitFor(() => logLines(d).some((o) => o.event === 'publish_traced' && o.trace === TP2 && o.room === `user:${u.welcome.user}`), {
      what: "the send's publish_traced",
    });
  });

  it('a trace that is not a traceparent is refused with bad_request, and nothing is published', T, async () => {
    const sub = await open();
    sub.send({ type: 'subscribe', room: 'traced.bad' });
    await sub.next('subscribed');
    const pub = await open();
    for (const bad of [42, '', 'nope', TP.toUpperCase(), `${TP}-x`, { tp: TP }]) {
      pub.send({ type: 'publish', room: 'traced.bad', data: 1, trace: bad, id: 'b1' });
      const e = await pub.next('error');
      assert.equal(e.code, 'bad_request', JSON.stringify(bad));
      assert.equal(e.ref, 'b1');
      pub.send({ type: 'send', user: sub.welcome.user, data: 1, trace: bad });
      assert.equal((await pub.next('error')).code, 'bad_request');
    }
    pub.send({ type: 'publish', room: 'traced.bad', data: 'ok' });
    const m = await sub.nextIn('traced.bad');
    assert.equal(m.seq, 1, 'no refused publish took a seq');
    assert.equal(m.data, 'ok');
  });

  it('wsctl and the admin API publish, send and broadcast with a trace; wsctl publish takes --key', T, async () => {
    const sub = await open();
    sub.send({ type: 'subscribe', room: 'traced.ops' });
    await sub.next('subscribed');
    d.ctl(['publish', 'traced.ops', '"a"', '--trace', TP3, '--key', 'k1']);
    assert.equal((await sub.nextIn('traced.ops')).trace, TP3);
    const res = await fetch(`${admin()}/api/publish`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ room: 'traced.ops', data: 'b', trace: TP2 }),
    });
    assert.equal(res.status, 200, await res.text());
    assert.equal((await sub.nextIn('traced.ops')).trace, TP2);
    d.ctl(['send', '--user', sub.welcome.user, '"c"', '--trace', TP]);
    const dm = await sub.nextMatching((m) => m.type === 'message' && m.room === `user:${sub.welcome.user}`, 5000, 'the send');
    assert.equal(dm.trace, TP);
    d.ctl(['send', '--conn', String(sub.welcome.conn), '"direct"', '--trace', TP2]);
    const direct = await sub.nextMatching((m) => m.type === 'message' && m.data === 'direct', 5000, 'the direct send');
    assert.equal(direct.trace, TP2);
    assert.ok(!('room' in direct), 'a send to one connection has no room');
    d.ctl(['broadcast', '"d"', '--trace', TP3]);
    const bc = await sub.nextMatching((m) => m.type === 'message' && m.room === '*', 5000, 'the broadcast');
    assert.equal(bc.trace, TP3);
    /* Refused when it is not one. */
    const bad = d.ctlResult(['publish', 'traced.ops', '"e"', '--trace', 'nope']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr + bad.stdout, /traceparent/);
    const badApi = await fetch(`${admin()}/api/publish`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ room: 'traced.ops', data: 'e', trace: 'nope' }),
    });
    assert.equal((await badApi.json()).ok, false);
  });
});
