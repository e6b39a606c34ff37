'use strict';
/*
 * Flow control for senders (limits.rate_msgs, rate_msgs_burst,
 * rate_grace_ms): a client that goes over its rate gets
 * {"type":"flow","state":"pause","reason":"rate_limit"} and is not read
 * until its bucket refills, then {"type":"flow","state":"resume"}; one that
 * keeps sending past the grace period is closed with 4002. A burst that
 * then slows down is paused briefly, loses nothing and stays open. Other
 * clients on the same worker are answered meanwhile.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startWsd, connectWelcomed, waitFor, sleep } = require('./harness');

const T = { timeout: 30000 };
const RATE = 50;
const BURST = 20;

describe('flow control for senders', () => {
  let d;

  before(async () => {
    d = await startWsd({ workers: 1, config: { limits: { rate_msgs: RATE, rate_msgs_burst: BURST, rate_grace_ms: 1500 } } });
  });
  after(async () => {
    if (d) await d.stop();
  });

  it('a burst over the rate is paused, then resumed, and loses nothing', T, async () => {
    const c = await connectWelcomed(d.url);
    const n = BURST + 15;
    for (let i = 0; i < n; i++) c.send({ type: 'ping' });
    const pause = await c.next('flow');
    assert.deepEqual(pause, { type: 'flow', state: 'pause', reason: 'rate_limit' });
    const resume = await c.next('flow', 5000);
    assert.deepEqual(resume, { type: 'flow', state: 'resume' });
    /* What was read before the pause is answered (at most one read of
     * wslay's buffer goes past it); nothing is lost. */
    for (let i = 0; i < n; i++) await c.next('pong', 5000);
    await sleep(200);
    assert.ok(c.isOpen);
    c.close();
  });

  it('a client that does not slow down is closed with 4002 past the grace period', T, async () => {
    const c = await connectWelcomed(d.url);
    const other = await connectWelcomed(d.url);
    let sent = 0;
    let stop = false;
    const flood = (async () => {
      while (!stop && c.isOpen) {
        for (let i = 0; i < 50 && c.isOpen; i++, sent++) c.send({ type: 'ping' });
        await sleep(10);
      }
    })();
    /* wsctl sees it paused, and its rate. */
    await waitFor(() => d.ctl(['conn', c.welcome.conn]).conn.flow === 'paused', { timeoutMs: 3000, what: 'flow paused in wsctl conn' });
    /* The other client is served meanwhile. */
    other.send({ type: 'ping' });
    await other.next('pong', 2000);
    const info = await c.waitClose(10000);
    stop = true;
    await flood;
    assert.equal(info.code, 4002, `closed with ${info.code} ${info.reason}`);
    const pongs = c.all.filter((m) => m.type === 'pong').length;
    /* Not read while paused: far fewer answered than sent. */
    assert.ok(pongs < sent / 2, `${pongs} pongs for ${sent} pings`);
    assert.ok(c.all.some((m) => m.type === 'flow' && m.state === 'pause'));
    assert.match(d.log(), /"event":"rate_close","conn":\d+,"over_s":1\.5,"code":4002\}/);
    assert.ok(other.isOpen);
    other.close();
  });

  it('a reload applies a new rate to open connections', T, async () => {
    const c = await connectWelcomed(d.url);
    const fs = require('node:fs');
    const { renderConfig } = require('./harness');
    fs.writeFileSync(d.confPath, renderConfig(d.base, { limits: { rate_msgs: 0 } }));
    assert.equal(d.ctlResult(['reload']).status, 0);
    await waitFor(() => d.ctl(['workers']).workers.every((w) => w.generation === 2), { what: 'generation 2' });
    for (let i = 0; i < 200; i++) c.send({ type: 'ping' });
    for (let i = 0; i < 200; i++) await c.next('pong', 5000);
    assert.equal(c.all.filter((m) => m.type === 'flow').length, 0);
    c.close();
  });
});

/*
 * At a rate high enough that a pause tick (10 ms) refills a few tokens,
 * a flooder's first message after each resume fits. It is still the
 * client that does not slow down: it goes over again at once, so every
 * resume continues the streak, and the grace period closes it.
 */
describe('a flooder resumed over and over', () => {
  let d;

  before(async () => {
    d = await startWsd({ workers: 1, config: { limits: { rate_msgs: 400, rate_msgs_burst: 400, rate_grace_ms: 1000 } } });
  });
  after(async () => {
    if (d) await d.stop();
  });

  it('is closed with 4002 once its pauses have lasted the grace period', T, async () => {
    const c = await connectWelcomed(d.url);
    let stop = false;
    const flood = (async () => {
      while (!stop && c.isOpen) {
        for (let i = 0; i < 200 && c.isOpen; i++) c.send({ type: 'ping' });
        await sleep(5);
      }
    })();
    const firstPause = await c.next('flow', 5000);
    assert.equal(firstPause.state, 'pause');
    const pausedAt = Date.now();
    const info = await c.waitClose(8000);
    stop = true;
    await flood;
    assert.equal(info.code, 4002, `closed with ${info.code} ${info.reason}`);
    /* It was resumed on the way (the streak outlived resumes), and not
     * closed before the grace period. */
    assert.ok(c.all.filter((m) => m.type === 'flow' && m.state === 'resume').length >= 1);
    assert.ok(Date.now() - pausedAt >= 900, `closed ${Date.now() - pausedAt} ms after the first pause`);
  });
});
