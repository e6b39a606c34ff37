'use strict';
/*
 * Admission under a reconnect storm: with limits.connect_rate set, 5,000
 * clients that come back at once with their resume tokens (?resume= at
 * the upgrade) are all admitted and resumed (welcome, then `resumed` with
 * their session), while fresh connects beyond the rate get 503 with
 * Retry-After. Each refusal and each admission over the rate is counted.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { startWsd, connectWelcomed, renderConfig, waitFor } = require('./harness');
const { openUntil } = require('./tracked');

const N = Number(process.env.WSD_STORM_CLIENTS || 5000);
const FRESH = 300;
const RATE = 20;

describe('a reconnect storm', () => {
  let d;
  const live = [];

  before(async () => {
    d = await startWsd({
      workers: 2,
      config: { limits: { max_connections_per_address: 0 }, sessions: { keys: ['st1:0a1b2c3d4e5f60718293a4b5c6d7e8f9'] } },
    });
  });
  after(async () => {
    for (const ws of live) ws.terminate();
    if (d) await d.stop();
  });

  it(`admits ${N} returning clients and holds fresh ones to the rate`, { timeout: 120000 }, async (ctx) => {
    /* N sessions, left to wait for their clients. */
    const first = [];
    for (let i = 0; i < N; i += 250) {
      const batch = [];
      for (let j = i; j < Math.min(N, i + 250); j++) batch.push(connectWelcomed(d.url));
      first.push(...(await Promise.all(batch)));
    }
    const tokens = first.map((c) => ({ token: c.welcome.resume_token, session: c.welcome.session }));
    for (const c of first) c.close();
    await waitFor(() => d.ctl(['status']).connections === 0, { timeoutMs: 20000, what: 'every first connection gone' });
    /* Now connects are limited. */
    fs.writeFileSync(d.confPath, renderConfig(d.base, { limits: { max_connections_per_address: 0, connect_rate: RATE }, sessions: { keys: ['st1:0a1b2c3d4e5f60718293a4b5c6d7e8f9'] } }));
    assert.equal(d.ctlResult(['reload']).status, 0);
    /* The storm: everyone back at once, and fresh clients among them. */
    const t0 = Date.now();
    const back = tokens.map((t) => openUntil(`${d.url}?resume=${t.token}`, (m) => m.some((x) => x.type === 'resumed' || x.type === 'error')));
    const fresh = Array.from({ length: FRESH }, () => openUntil(d.url, (m) => m.some((x) => x.type === 'welcome')));
    const [b, f] = await Promise.all([Promise.all(back), Promise.all(fresh)]);
    const secs = (Date.now() - t0) / 1000;
    for (const r of [...b, ...f]) if (r.ws) live.push(r.ws);
    const refusedBack = b.filter((r) => r.status);
    assert.deepEqual(refusedBack.slice(0, 3), [], `${refusedBack.length} returning clients were refused`);
    const notResumed = b.filter((r, i) => {
      const res = r.msgs.find((x) => x.type === 'resumed');
      return !res || res.session !== tokens[i].session;
    });
    assert.equal(notResumed.length, 0, `not resumed: ${JSON.stringify(notResumed.slice(0, 2).map((r) => r.msgs))}`);
    const admitted = f.filter((r) => r.ws).length;
    const refused = f.filter((r) => r.status === 503);
    assert.ok(refused.length > FRESH / 2, `only ${refused.length} of ${FRESH} fresh connects refused`);
    assert.ok(refused.every((r) => r.retryAfter), 'every 503 says Retry-After');
    /* A burst of RATE, then RATE a second. */
    assert.ok(admitted <= RATE + Math.ceil(RATE * secs) + 1, `${admitted} fresh admitted in ${secs.toFixed(1)} s`);
    assert.equal(admitted + refused.length, FRESH);
    const st = d.ctl(['stats']).stats;
    assert.equal(st.refused_connect_rate, refused.length);
    assert.ok(st.resumes_over_rate > 0);
    /* A spent token (those of the first connections were used by the
     * storm) does not get past the rate. */
    const over = d.ctl(['stats']).stats.resumes_over_rate;
    const spent = await Promise.all(tokens.slice(0, 60).map((t) => openUntil(`${d.url}?resume=${t.token}`, (m) => m.some((x) => x.type === 'welcome'))));
    for (const r of spent) if (r.ws) live.push(r.ws);
    assert.equal(d.ctl(['stats']).stats.resumes_over_rate, over, 'spent tokens were let in over the rate');
    assert.ok(spent.some((r) => r.status === 503), 'some spent-token connects were refused');
    ctx.diagnostic(`${N} returning clients resumed in ${secs.toFixed(1)} s; fresh: ${admitted} admitted, ${refused.length} refused with 503`);
  });
});
