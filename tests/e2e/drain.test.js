'use strict';
/*
 * Drain (SIGTERM): every client gets `shutdown` with a resume token and a
 * reconnect delay spread over drain.spread_ms, then close 1001; upgrades
 * during the drain get 503 with Retry-After; the daemon exits 0 well
 * before its deadline; and a client resumes, on the next start, with the
 * token of its `shutdown`.
 */

const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startWsd, connectWelcomed, rawHttp, waitFor } = require('./harness');

const T = { timeout: 60000 };
const N = 1000;
const SPREAD = 10000;

describe('drain', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsd-e2e-drain-'));
  const config = {
    state_dir: dir,
    sessions: { keys: ['d1:5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b'] },
    drain: { spread_ms: SPREAD },
  };
  let d;

  after(async () => {
    if (d) await d.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('tells every client, spreads the reconnects, refuses new upgrades', T, async () => {
    d = await startWsd({ config });
    const clients = [];
    for (let i = 0; i < N; i += 100) {
      const batch = [];
      for (let j = i; j < Math.min(N, i + 100); j++) batch.push(connectWelcomed(d.url));
      clients.push(...(await Promise.all(batch)));
    }
    clients[0].send({ type: 'subscribe', room: 'd' });
    await clients[0].next('subscribed');
    d.ctl(['publish', 'd', '"before"']);
    await clients[0].nextIn('d');
    await waitFor(() => d.ctl(['status']).connections === N, { what: `${N} connections` });
    const t0 = Date.now();
    process.kill(d.pid, 'SIGTERM');
    /* Upgrades while it drains. */
    const refusals = [];
    const probe = (async () => {
      for (let k = 0; k < 20 && !d.exitInfo; k++) {
        try {
          const r = await rawHttp(
            d.port,
            `GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
            { timeoutMs: 2000 },
          );
          if (r.status) refusals.push(r);
          else break; /* refused or reset: the listener is gone */
        } catch (_) {
          break;
        }
      }
    })();
    const closes = await Promise.all(clients.map((c) => c.waitClose(20000)));
    await probe;
    const info = await d.stop({ closeClients: false });
    assert.equal(info.code, 0);
    assert.ok(Date.now() - t0 < 10000, 'done well before the 10 s deadline');
    /* One line says it all. */
    assert.match(d.log(), new RegExp(`"event":"drained","told":${N},"clean":${N},"forced":0,"saved":${N}`));
    for (let i = 0; i < N; i++) {
      assert.equal(closes[i].code, 1001, `client ${i} closed with ${closes[i].code}`);
      const s = clients[i].all.find((m) => m.type === 'shutdown');
      assert.ok(s, `client ${i} got shutdown`);
      assert.equal(typeof s.resume_token, 'string');
      assert.ok(s.reconnect_after_ms >= 0 && s.reconnect_after_ms < SPREAD);
      /* shutdown is the last message before the close. */
      assert.equal(clients[i].all[clients[i].all.length - 1].type, 'shutdown');
    }
    /* The delays are spread: no 100 ms slot holds more than 3 %. */
    const slots = new Map();
    for (const c of clients) {
      const s = Math.floor(c.all.find((m) => m.type === 'shutdown').reconnect_after_ms / 100);
      slots.set(s, (slots.get(s) || 0) + 1);
    }
    assert.ok(Math.max(...slots.values()) <= N * 0.03, `a slot holds ${Math.max(...slots.values())}`);
    assert.ok(refusals.length > 0, 'an upgrade during the drain was answered');
    for (const r of refusals) {
      assert.equal(r.status, 503);
      assert.match(r.headers['retry-after'] || '', /^\d+$/);
    }
    assert.match(d.log(), /"event":"drain_told","told":1000\b/);

    /* The next start: the shutdown token resumes, the message is kept. */
    d = await startWsd({ config });
    const token = clients[0].all.find((m) => m.type === 'shutdown').resume_token;
    const c = await connectWelcomed(d.url);
    c.send({ type: 'resume', token, rooms: { d: 0 } });
    const r = await c.next('resumed');
    assert.equal(r.user, clients[0].welcome.user);
    assert.equal((await c.nextIn('d')).data, 'before');
    c.close();
  });
});
