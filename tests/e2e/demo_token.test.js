'use strict';
/*
 * The demo page's endpoints on the client listener, without a browser:
 *
 *   - GET /wsd-client.js serves the client library, byte for byte the
 *     file of clients/js, as JavaScript;
 *   - POST /demo/token mints a demo token for a name: it connects as
 *     demo:NAME, and presence shows the name as info.name; bad bodies and
 *     names get 400 with a JSON error; the token is never logged;
 *   - a token with kid "demo" that the daemon's demo key did not sign for
 *     that sub (a forged sub, another key, another daemon's demo key, as
 *     after a restart) is refused with 401, and a reload keeps the key;
 *   - with demo_page off, or anonymous clients off, POST /demo/token is
 *     404 (and with demo_page off, so is the library).
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { startWsd, connect, connectWelcomed, stopCleanly, REPO } = require('./harness');

const T = { timeout: 20000 };
const SECRET = 'e2e-demo-token-secret-7f3b1c';
const LIB = fs.readFileSync(path.join(REPO, 'clients', 'js', 'wsd-client.js'));

function b64url(buf) {
  return Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

function decodePart(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

/* An HS256 token with header and claims as given, signed with key. */
function handToken(header, claims, key) {
  const h = b64url(JSON.stringify(header));
  const p = b64url(JSON.stringify(claims));
  const sig = b64url(crypto.createHmac('sha256', key).update(`${h}.${p}`).digest());
  return `${h}.${p}.${sig}`;
}

async function post(port, body, headers = { 'Content-Type': 'application/json' }) {
  const res = await fetch(`http://127.0.0.1:${port}/demo/token`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(3000),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch (_) {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/* The HTTP status an upgrade with token gets (101 when it connects). */
async function upgradeStatus(url, token) {
  try {
    const c = await connect(`${url}?token=${token}`);
    c.terminate();
    return 101;
  } catch (e) {
    return e.status;
  }
}

describe('POST /demo/token and GET /wsd-client.js', () => {
  let d;
  let other;
  const minted = [];

  before(async () => {
    const config = { jwt_secret: SECRET, log_level: 'debug', presence: { query: ['demo.*'] } };
    [d, other] = await Promise.all([startWsd({ workers: 1, config }), startWsd({ workers: 1, config })]);
  });
  after(async () => {
    if (d) await stopCleanly(d);
    if (other) await stopCleanly(other);
  });

  it('serves the client library as JavaScript, byte for byte', T, async () => {
    const res = await fetch(`http://127.0.0.1:${d.port}/wsd-client.js`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(LIB), 'the served library differs from clients/js/wsd-client.js');
    const head = await fetch(`http://127.0.0.1:${d.port}/wsd-client.js`, { method: 'POST', body: 'x' });
    assert.equal(head.status, 404, 'POST /wsd-client.js');
  });

  it('mints a token that connects as demo:NAME, with the name in presence', T, async () => {
    const r = await post(d.port, { name: 'Alice B-2' });
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type'), /^application\/json/);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.deepEqual(Object.keys(r.json).sort(), ['expires_in', 'token', 'user']);
    assert.equal(r.json.user, 'demo:Alice B-2');
    assert.equal(r.json.expires_in, 3600);
    minted.push(r.json.token);
    const [h, p] = r.json.token.split('.');
    assert.deepEqual(decodePart(h), { alg: 'HS256', kid: 'demo', typ: 'JWT' });
    const claims = decodePart(p);
    assert.equal(claims.sub, 'demo:Alice B-2');
    assert.deepEqual(claims.info, { name: 'Alice B-2' });
    assert.ok(Math.abs(claims.exp - Date.now() / 1000 - 3600) < 10, `exp ${claims.exp}`);
    assert.deepEqual(d.ctl(['checktoken', r.json.token]).kid, 'demo');

    const a = await connectWelcomed(`${d.url}?token=${encodeURIComponent(r.json.token)}`);
    assert.equal(a.welcome.user, 'demo:Alice B-2');
    const b = await connectWelcomed(d.url); /* anonymous */
    a.send({ type: 'subscribe', room: 'demo.lobby' });
    await a.next('subscribed');
    b.send({ type: 'presence', room: 'demo.lobby' });
    const pr = await b.next('presence');
    assert.deepEqual(pr.users, [{ user: 'demo:Alice B-2', info: { name: 'Alice B-2' }, conns: 1 }]);
    a.close();
    b.close();
  });

  it('answers 400 with a JSON error for a bad body or name, 405 for GET, 413 past 1 KB', T, async () => {
    const bad = [
      'not json',
      '[]',
      '{}',
      { name: 7 },
      { name: '' },
      { name: 'x'.repeat(25) },
      { name: 'al.ice' },
      { name: 'demo:x' },
      { name: ' alice' },
      { name: 'alice ' },
      { name: 'a\u0000b' },
      { name: '<script>' },
      { name: 'élan' },
    ];
    for (const body of bad) {
      const r = await post(d.port, body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.match(r.headers.get('content-type'), /^application\/json/);
      assert.equal(typeof r.json.error, 'string', r.text);
      assert.ok(r.json.error.length > 5, r.text);
    }
    assert.equal((await post(d.port, { name: 'x'.repeat(24) })).status, 200);
    const big = await post(d.port, { name: 'bob', pad: 'p'.repeat(1100) });
    assert.equal(big.status, 413, big.text);
    const get = await fetch(`http://127.0.0.1:${d.port}/demo/token`);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
  });

  it('refuses a forged or foreign demo token with 401', T, async () => {
    const r = await post(d.port, { name: 'carol' });
    assert.equal(r.status, 200);
    const [h, p, s] = r.json.token.split('.');
    assert.equal(await upgradeStatus(d.url, r.json.token), 101);
    /* The same signature over another sub. */
    const forged = `${h}.${b64url(JSON.stringify({ ...decodePart(p), sub: 'alice' }))}.${s}`;
    assert.equal(await upgradeStatus(d.url, forged), 401);
    const now = Math.floor(Date.now() / 1000);
    /* kid demo signed with the config's secret, as a demo user and as another. */
    for (const sub of ['demo:carol', 'alice']) {
      const t = handToken({ alg: 'HS256', typ: 'JWT', kid: 'demo' }, { sub, exp: now + 600 }, SECRET);
      assert.equal(await upgradeStatus(d.url, t), 401, sub);
    }
    /* The config's secret still signs its own tokens (no kid). */
    const own = handToken({ alg: 'HS256', typ: 'JWT' }, { sub: 'alice', exp: now + 600 }, SECRET);
    assert.equal(await upgradeStatus(d.url, own), 101);
    /* Another daemon (as the same one after a restart) has another demo key. */
    assert.equal(await upgradeStatus(other.url, r.json.token), 401);
    const fresh = await post(other.port, { name: 'carol' });
    assert.equal(await upgradeStatus(other.url, fresh.json.token), 101);
    minted.push(r.json.token, fresh.json.token);
  });

  it('keeps the demo key across a reload (it changes only with a restart)', T, async () => {
    const r = await post(d.port, { name: 'dave' });
    assert.equal(r.status, 200);
    d.ctl(['reload']);
    assert.equal(await upgradeStatus(d.url, r.json.token), 101);
    const again = await post(d.port, { name: 'dave' });
    assert.equal(await upgradeStatus(d.url, again.json.token), 101);
    minted.push(r.json.token, again.json.token);
  });

  it('never logs a token', T, async () => {
    assert.ok(minted.length >= 2);
    for (const t of minted) {
      assert.ok(!d.log().includes(t.split('.')[2]), 'a demo token signature is in the log');
      assert.ok(!other.log().includes(t.split('.')[2]), 'a demo token signature is in the log');
    }
  });
});

describe('POST /demo/token when the demo page or anonymous clients are off', () => {
  let noDemo;
  let noAnon;

  before(async () => {
    [noDemo, noAnon] = await Promise.all([
      startWsd({ workers: 1, config: { demo_page: false } }),
      startWsd({ workers: 1, config: { allow_anonymous: false, jwt_secret: SECRET } }),
    ]);
  });
  after(async () => {
    if (noDemo) await stopCleanly(noDemo);
    if (noAnon) await stopCleanly(noAnon);
  });

  it('is 404, and so are the page and the library without demo_page', T, async () => {
    assert.equal((await post(noDemo.port, { name: 'alice' })).status, 404);
    assert.equal((await post(noAnon.port, { name: 'alice' })).status, 404);
    for (const p of ['/', '/wsd-client.js']) {
      assert.equal((await fetch(`http://127.0.0.1:${noDemo.port}${p}`)).status, 404, p);
      assert.equal((await fetch(`http://127.0.0.1:${noAnon.port}${p}`)).status, 200, p);
    }
  });

  it('checks no demo token while anonymous clients are off', T, async () => {
    /* Refused before any key is tried; wsctl checktoken names the reason. */
    const t = handToken({ alg: 'HS256', typ: 'JWT', kid: 'demo' }, { sub: 'demo:x', exp: 2e9 }, 'k');
    const r = noAnon.ctlResult(['checktoken', t]);
    assert.notEqual(r.status, 0);
    assert.match(r.stdout + r.stderr, /demo tokens are off/);
    assert.equal(await upgradeStatus(noAnon.url, t), 401);
  });
});
