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
