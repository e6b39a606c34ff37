'use strict';
/*
 * Log rotation: after `mv wsd.log wsd.log.1` and SIGUSR1 to the
 * supervisor, the supervisor and every worker write to a new wsd.log,
 * and nothing more goes to the moved file.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startWsd, connectWelcomed, waitFor } = require('./harness');

const T = { timeout: 30000 };

describe('log_file reopened on SIGUSR1', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsd-e2e-logs-'));
  const log = path.join(dir, 'wsd.log');
  let d;
  const clients = [];

  before(async () => {
    d = await startWsd({ workers: 2, config: { log_file: log } });
  });
  after(async () => {
    for (const c of clients) c.terminate();
    if (d) await d.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /* The pids that wrote lines to file ("role[pid] level: ..."). */
  const writers = (file) =>
    new Set(
      fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .map((l) => /\[(\d+)\] (?:error|warn|info|debug):/.exec(l))
        .filter(Boolean)
        .map((m) => Number(m[1])),
    );

  it('the supervisor and every worker write to the new file', T, async () => {
    const workers = d.ctl(['workers']).workers.map((w) => w.pid);
    assert.equal(workers.length, 2);
    await waitFor(() => fs.existsSync(log) && writers(log).has(d.pid), { what: 'the first lines' });
    fs.renameSync(log, `${log}.1`);
    process.kill(d.pid, 'SIGUSR1');
    await waitFor(() => fs.existsSync(log), { what: 'a new wsd.log' });
    const oldSize = fs.statSync(`${log}.1`).size;
    /* A kick makes a worker log: one connection kicked on each worker. */
    const seen = new Map();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const c = await connectWelcomed(d.url);
      clients.push(c);
      const w = d.ctl(['conn', c.welcome.conn]).conn.worker;
      if (!seen.has(w)) seen.set(w, c);
    }
    assert.equal(seen.size, 2, 'connections on both workers');
    for (const c of seen.values()) {
      d.ctl(['kick', '--conn', String(c.welcome.conn)]);
      await c.waitClose(5000);
    }
    await waitFor(
      () => {
        const w = writers(log);
        return w.has(d.pid) && workers.every((p) => w.has(p));
      },
      { what: `lines of the supervisor (${d.pid}) and of workers ${workers.join(', ')} in the new file` },
    );
    assert.match(fs.readFileSync(log, 'utf8'), /opened again \(SIGUSR1\)/);
    assert.equal(fs.statSync(`${log}.1`).size, oldSize, 'nothing more went to the moved file');
    /* The daemon still serves. */
    assert.equal(d.ctl(['status']).workers_ready, 2);
  });
});
