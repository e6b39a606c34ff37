'use strict';
/*
 * A reload that changes the heartbeat reaches the connections already
 * open at once: with the interval cut from 20 s to 400 ms, an open
 * client gets a protocol ping within about one new interval (not when
 * its old 20 s timer fires), and is not closed (the ws client answers).
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { startWsd, connectWelcomed, renderConfig, waitFor, sleep, stopCleanly } = require('./harness');

const T = { timeout: 20000 };

describe('reload: heartbeat on open connections', () => {
  let d;

  before(async () => {
    d = await startWsd({ config: { heartbeat: { interval_ms: 20000, timeout_ms: 10000 } } });
  });
  after(async () => {
    if (d) await stopCleanly(d);
  });

  it('applies a new interval to open connections at once', T, async () => {
    const c = await connectWelcomed(d.url);
    let pings = 0;
    let firstPingAt = 0;
    c.ws.on('ping', () => {
      if (pings++ === 0) firstPingAt = Date.now();
    });
    await sleep(300);
    assert.equal(pings, 0);
    const gen = d.ctl(['status']).generation;
    fs.writeFileSync(
      d.confPath,
      renderConfig(d.base, { heartbeat: { interval_ms: 400, timeout_ms: 10000 } }),
    );
    const reloadAt = Date.now();
    assert.equal(d.ctlResult(['reload']).status, 0);
    await waitFor(() => d.ctl(['status']).generation > gen, { what: 'the new generation' });
    await waitFor(() => pings >= 1, { timeoutMs: 3000, what: 'a ping at the new interval' });
    assert.ok(firstPingAt - reloadAt < 1500, `first ping ${firstPingAt - reloadAt} ms after the reload`);
    assert.ok(c.isOpen, 'not closed');
    c.close();
  });
});

/*
 * The log follows a reload in every process: a new log_level applies to
 * the workers too, and after the file was moved away (rotation) the
 * supervisor and every worker write to a new file at the same path.
 */
describe('reload: log level and log file', () => {
  let d;

  after(async () => {
    if (d) await d.stop();
  });

  it('reopens the log in the supervisor and the workers, at the new level', T, async () => {
    const { startWsd: start } = require('./harness');
    const path = require('node:path');
    d = await start({ workers: 2, config: { log_level: 'info' } });
    const file = path.join(d.dir, 'wsd.log.file');
    fs.writeFileSync(d.confPath, renderConfig(d.base, { log_file: file }));
    assert.equal(d.ctlResult(['reload']).status, 0);
    await waitFor(() => fs.existsSync(file) && /supervisor\[\d+\] info: reloaded: generation 2/.test(fs.readFileSync(file, 'utf8')), {
      what: 'the supervisor logging to log_file',
    });
    fs.renameSync(file, `${file}.1`);
    fs.writeFileSync(d.confPath, renderConfig(d.base, { log_file: file, log_level: 'debug' }));
    assert.equal(d.ctlResult(['reload']).status, 0);
    for (const id of [0, 1])
      await waitFor(() => fs.existsSync(file) && new RegExp(`worker ${id}\\[\\d+\\] debug: applied config generation 3`).test(fs.readFileSync(file, 'utf8')), {
        what: `worker ${id} logging at debug to the new file`,
      });
    assert.match(fs.readFileSync(file, 'utf8'), /supervisor\[\d+\] info: reload: log_level info -> debug: live/);
    assert.doesNotMatch(fs.readFileSync(`${file}.1`, 'utf8'), /generation 3/);
  });
});
