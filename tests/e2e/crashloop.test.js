'use strict';
/*
 * Crash loops: a worker slot whose worker keeps dying is marked `failed`
 * after restart.max_exits exits within restart.window_ms and is not
 * restarted; the daemon says `degraded` (wsctl status, /ready's body)
 * while /ready stays 200 because another worker accepts; `wsctl worker
 * restart` brings the slot back.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startWsd, connectWelcomed, httpGet, sleep, waitFor, stopCleanly } = require('./harness');

const T = { timeout: 30000 };

describe('crash loop', () => {
  let d;

  before(async () => {
    d = await startWsd({ workers: 2, config: { restart: { max_exits: 3, window_ms: 20000 } } });
  });
  after(async () => {
    if (d) await stopCleanly(d);
  });

  const slot = (id) => d.ctl(['workers']).workers.find((w) => w.id === id);

  it('marks a slot failed, stays ready with the other, and restarts on demand', T, async () => {
    for (let k = 1; k <= 3; k++) {
      await waitFor(() => slot(0).state === 'ready', { timeoutMs: 5000, what: `slot 0 ready (${k})` });
      process.kill(slot(0).pid, 'SIGKILL');
      await waitFor(() => slot(0).state !== 'ready', { what: `slot 0 to go (${k})` });
    }
    await waitFor(() => slot(0).state === 'failed', { timeoutMs: 5000, what: 'slot 0 failed' });
    const failed = slot(0);
    assert.equal(failed.crash_loop, true);
    assert.equal(failed.last_exit, 'signal 9');
    assert.equal(failed.pid, 0);
    await waitFor(() => /"event":"worker_crash_loop","worker":0,"exits":3,"window_ms":20000\}/.test(d.log()), { what: 'the crash loop logged' });
    await sleep(1000);
    assert.equal(slot(0).state, 'failed', 'not restarted');
    assert.equal(d.ctl(['status']).state, 'degraded');
    const ready = await httpGet(d.adminPort, '/ready');
    assert.equal(ready.status, 200);
    assert.match(ready.body.toString(), /^degraded: 1 of 2 workers ready/);
    /* Clients are still served, by the other worker. */
    const c = await connectWelcomed(d.url);
    assert.equal(d.ctl(['conn', c.welcome.conn]).conn.worker, 1);
    c.close();
    const r = d.ctlResult(['worker', 'restart', '0']);
    assert.equal(r.status, 0, r.stderr);
    await waitFor(() => slot(0).state === 'ready', { timeoutMs: 5000, what: 'slot 0 back' });
    assert.equal(slot(0).crash_loop, false);
    assert.equal(d.ctl(['status']).state, 'running');
    assert.match((await httpGet(d.adminPort, '/ready')).body.toString(), /^ready: 2 of 2/);
    /* A slot that does not exist, and a wrong action, are refused. */
    assert.equal(d.ctlResult(['worker', 'restart', '7']).status, 1);
    assert.equal(d.ctlResult(['worker', 'start', '0']).status, 1);
  });
});
