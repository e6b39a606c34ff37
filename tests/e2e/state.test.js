'use strict';
/*
 * The state file: what a drain saves and the next start loads, so that a
 * planned restart loses nothing for a client that resumes (same epochs,
 * every message it had not seen); and a corrupt, truncated or foreign
 * file that is reported and ignored (the daemon serves, rooms get new
 * epochs).
 */

const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startWsd, connectWelcomed, sleep, waitFor } = require('./harness');

const T = { timeout: 40000 };
const KEYS = ['k1:7d1f0c3e9a2b4c5d6e7f8091a2b3c4d5'];

describe('state file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsd-e2e-state-'));
  const config = { state_dir: dir, sessions: { keys: KEYS } };
  const file = path.join(dir, 'wsd.state');
  let d;

  after(async () => {
    if (d) await d.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('carries rooms, epochs, logs and sessions across a drain and a start', T, async () => {
    d = await startWsd({ config });
    /* away: drops before the drain; stays: is drained with 1001. */
    const away = await connectWelcomed(d.url);
    const stays = await connectWelcomed(d.url);
    for (const c of [away, stays]) c.send({ type: 'subscribe', room: 'news' });
    const epoch = (await away.next('subscribed')).epoch;
    await stays.next('subscribed');
    for (let i = 1; i <= 3; i++) d.ctl(['publish', 'news', JSON.stringify({ i })]);
    for (let i = 1; i <= 3; i++) {
      assert.equal((await away.nextIn('news')).seq, i);
      assert.equal((await stays.nextIn('news')).seq, i);
    }
    away.ws._socket.destroy();
    await waitFor(() => d.ctl(['status']).connections === 1, { what: 'away to be gone' });
    for (let i = 4; i <= 6; i++) d.ctl(['publish', 'news', JSON.stringify({ i })]);
    assert.equal((await stays.nextIn('news')).seq, 4);
    const r = await d.stop({ closeClients: false });
    assert.equal(r.code, 0);
    assert.match(d.log(), /"event":"state_saved","path":"[^"]*wsd\.state","rooms":1,"replay_entries":6,"sessions":2,/);
    assert.equal((await stays.waitClose()).code, 1001);
    assert.ok(fs.existsSync(file));

    d = await startWsd({ config });
    assert.match(d.log(), /"event":"state_loaded","path":"[^"]*","rooms":1,"replay_entries":6,"sessions":2\}/);
    assert.ok(!fs.existsSync(file), 'a loaded file is moved aside');
    const room = d.ctl(['room', 'news']).room;
    assert.equal(room.epoch, epoch);
    assert.equal(room.seq, 6);
    /* away saw 3, stays saw 4 (the rest was in its queue, say). */
    let top = 6;
    for (const [old, last] of [
      [away, 3],
      [stays, 4],
    ]) {
      const c = await connectWelcomed(d.url);
      c.send({ type: 'resume', token: old.welcome.resume_token, rooms: { news: { seq: last, epoch } } });
      const res = await c.next('resumed');
      assert.equal(res.user, old.welcome.user);
      assert.deepEqual(res.rooms.news, { seq: top, epoch, recovered: true });
      for (let s = last + 1; s <= top; s++) assert.equal((await c.nextIn('news')).seq, s);
      d.ctl(['publish', 'news', '"live"']);
      const live = await c.nextIn('news');
      assert.deepEqual([live.seq, live.data], [++top, 'live']);
      c.close();
    }
    await d.stop();
    d = null;
  });

  for (const [what, make] of [
    ['corrupt', (buf) => Buffer.from(buf.map((b, i) => (i === 30 ? b ^ 1 : b)))],
    ['truncated', (buf) => buf.subarray(0, buf.length - 10)],
    ['foreign', () => Buffer.from('{"not": "a wsd state file"}\n')],
  ]) {
    it(`reports a ${what} state file and starts without it`, T, async () => {
      d = await startWsd({ config });
      const c = await connectWelcomed(d.url);
      c.send({ type: 'subscribe', room: 'x' });
      const epoch = (await c.next('subscribed')).epoch;
      d.ctl(['publish', 'x', '1']);
      await d.stop();
      fs.writeFileSync(file, make(fs.readFileSync(file)));
      d = await startWsd({ config });
      assert.match(d.log(), /"level":"warn",.*"event":"state_ignored",.*wsd\.state/);
      const c2 = await connectWelcomed(d.url);
      c2.send({ type: 'subscribe', room: 'x', since: 1, epoch });
      const sub = await c2.next('subscribed');
      assert.notEqual(sub.epoch, epoch);
      assert.equal(sub.recovered, false);
      c2.send({ type: 'resume', token: c.welcome.resume_token });
      await sleep(100);
      await d.stop();
      d = null;
      fs.rmSync(file, { force: true });
    });
  }
});

/*
 * The periodic snapshot (state_snapshot_ms): when the supervisor dies
 * without a stop (SIGKILL), the next start loads the last snapshot:
 * rooms keep their seqs and logs but get new epochs (what came after the
 * snapshot is unknown), and a connected client's session comes back, so
 * its resume works and says recovered: false. A clean stop removes the
 * snapshot, so it is never loaded over a newer state file.
 */
describe('state snapshot', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsd-e2e-snap-'));
  const config = { state_dir: dir, state_snapshot_ms: 200, sessions: { keys: KEYS } };
  const snap = path.join(dir, 'wsd.snapshot');
  let d;

  after(async () => {
    if (d) await d.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('brings sessions and rooms back after a SIGKILL of the supervisor, with new epochs', T, async () => {
    d = await startWsd({ config });
    const c = await connectWelcomed(d.url);
    c.send({ type: 'subscribe', room: 'snap' });
    const epoch = (await c.next('subscribed')).epoch;
    for (let i = 1; i <= 3; i++) d.ctl(['publish', 'snap', JSON.stringify({ i })]);
    for (let i = 1; i <= 3; i++) assert.equal((await c.nextIn('snap')).seq, i);
    const t = Date.now();
    await waitFor(() => fs.existsSync(snap) && fs.statSync(snap).mtimeMs > t, { what: 'a snapshot after the publishes' });
    const workers = d.workers();
    process.kill(d.pid, 'SIGKILL');
    await d.stop();
    for (const w of workers) await waitFor(() => !fs.existsSync(`/proc/${w.pid}`), { what: `worker ${w.pid} gone` }).catch(() => {});
    assert.ok(fs.existsSync(snap), 'the snapshot outlives the supervisor');

    d = await startWsd({ config });
    assert.match(d.log(), /"event":"snapshot_loaded","path":"[^"]*wsd\.snapshot","rooms":1,"replay_entries":3,"sessions":1,"new_epochs":true\}/);
    const room = d.ctl(['room', 'snap']).room;
    assert.equal(room.seq, 3);
    assert.notEqual(room.epoch, epoch);
    const back = await connectWelcomed(d.url);
    back.send({ type: 'resume', token: c.welcome.resume_token, rooms: { snap: { seq: 3, epoch } } });
    const res = await back.next('resumed');
    assert.equal(res.user, c.welcome.user);
    assert.equal(res.session, c.welcome.session);
    assert.deepEqual(res.rooms.snap, { seq: 3, epoch: room.epoch, recovered: false });
    d.ctl(['publish', 'snap', '"after"']);
    assert.equal((await back.nextIn('snap')).seq, 4);
    back.close();
    await waitFor(() => fs.existsSync(snap), { what: 'a new snapshot' });
    const r = await d.stop();
    assert.equal(r.code, 0);
    assert.ok(!fs.existsSync(snap), 'a clean stop removes the snapshot');
    assert.ok(fs.existsSync(path.join(dir, 'wsd.state')), 'and writes the state file');
    d = null;
  });
});
