'use strict';
/*
 * Client tokens at the upgrade, with every kind of key: HS256 and HS512
 * secrets, an RSA and an EC P-256 public key read from files (@PATH), and
 * the legacy jwt_secret. Tokens are signed here with node's crypto, so
 * the daemon is checked against an independent implementation; each case
 * checks the HTTP status of the upgrade. Then the rooms claim on
 * subscribe and publish, wsctl token and checktoken, and a reload that
 * takes a key away.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const { startWsd, connect, connectWelcomed } = require('./harness');

const T = { timeout: 20000 };
const HS256 = 'e2e-auth-hs256-secret-0b1c2d3e4f';
const HS512 = 'e2e-auth-hs512-secret-9a8b7c6d5e';
const LEGACY = 'e2e-auth-legacy-secret-1234567890';

const nowS = () => Math.floor(Date.now() / 1000);
const b64url = (buf) => Buffer.from(buf).toString('base64url');

const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pem = (k) => k.publicKey.export({ type: 'spki', format: 'pem' });

/* A JWT: alg, the key (a secret, or a private KeyObject), extra header fields, claims. */
function sign(alg, key, claims, header = {}) {
  const h = b64url(JSON.stringify({ alg, typ: 'JWT', ...header }));
  const p = b64url(JSON.stringify({ sub: 'alice', exp: nowS() + 600, ...claims }));
  const input = `${h}.${p}`;
  let sig;
  if (alg === 'HS256') sig = crypto.createHmac('sha256', key).update(input).digest();
  else if (alg === 'HS512') sig = crypto.createHmac('sha512', key).update(input).digest();
  else if (alg === 'RS256') sig = crypto.sign('sha256', Buffer.from(input), key);
  else if (alg === 'ES256') sig = crypto.sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  else sig = Buffer.alloc(0);
  return `${input}.${b64url(sig)}`;
}

let d;
let keyDir;
let rsaFile;
let ecFile;
const clients = [];

const upgrade = (token) =>
  `GET /ws?token=${encodeURIComponent(token)} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
  'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

/*
 * The status of the upgrade's answer, read as soon as the head is in (the
 * harness's rawHttp waits for the close, which a 101 never brings).
 */
function status(token) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port: d.port, host: '127.0.0.1' });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('no answer to the upgrade within 3 s'));
    }, 3000);
    sock.on('connect', () => sock.write(upgrade(token)));
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.indexOf('\r\n\r\n') < 0) return;
      clearTimeout(timer);
      sock.destroy();
      const m = /^HTTP\/1\.1 (\d{3}) /.exec(buf.toString('latin1'));
      resolve(m ? Number(m[1]) : null);
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

async function welcomed(token) {
  const c = await connectWelcomed(`${d.url}?token=${encodeURIComponent(token)}`);
  clients.push(c);
  return c;
}

/* The status of a refused upgrade through the ws client's 'unexpected-response'. */
async function refused(token) {
  try {
    const c = await connect(`${d.url}?token=${encodeURIComponent(token)}`);
    clients.push(c);
  } catch (e) {
    return e.status;
  }
  return 101;
}

/* Subscribe and publish to room; returns the two answers' types and codes. */
async function tryRoom(c, room) {
  const pick = (m) => m.type === 'subscribed' || m.type === 'error' || m.type === 'ack';
  c.send({ type: 'subscribe', room });
  const s = await c.nextMatching(pick, 3000);
  c.send({ type: 'publish', room, data: { x: 1 }, id: `p-${room}` });
  const p = await c.nextMatching(pick, 3000);
  return [s.type === 'error' ? s.code : s.type, p.type === 'error' ? p.code : p.type];
}

before(async () => {
  keyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsd-e2e-keys-'));
  rsaFile = path.join(keyDir, 'rsa.pem');
  ecFile = path.join(keyDir, 'ec.pem');
  fs.writeFileSync(rsaFile, pem(rsa));
  fs.writeFileSync(ecFile, pem(ec));
  d = await startWsd({
    workers: 2,
    config: {
      allow_anonymous: false,
      jwt_secret: LEGACY,
      jwt: {
        keys: [`h256:HS256:${HS256}`, `h512:HS512:${HS512}`, `ec:ES256:@${ecFile}`, `rsa:RS256:@${rsaFile}`],
      },
    },
  });
});

after(async () => {
  for (const c of clients) c.terminate();
  if (d) await d.stop();
  if (keyDir) fs.rmSync(keyDir, { recursive: true, force: true });
});

describe('tokens at the upgrade', () => {
  it('a valid token gets 101 and a welcome with its sub as user', T, async () => {
    const c = await welcomed(sign('HS256', HS256, { sub: 'valid-user' }, { kid: 'h256' }));
    assert.equal(c.welcome.user, 'valid-user');
    assert.equal(await status(sign('HS256', HS256, {}, { kid: 'h256' })), 101);
  });

  it('HS512, RS256 and ES256 tokens verify with their keys, with or without kid', T, async () => {
    const cases = [
      ['HS512', HS512, 'h512'],
      ['RS256', rsa.privateKey, 'rsa'],
      ['ES256', ec.privateKey, 'ec'],
    ];
    for (const [alg, key, kid] of cases) {
      const c = await welcomed(sign(alg, key, { sub: `u-${kid}` }, { kid }));
      assert.equal(c.welcome.user, `u-${kid}`, alg);
      assert.equal(await status(sign(alg, key, { sub: `u2-${kid}` })), 101, `${alg} without kid`);
    }
    /* The legacy jwt_secret, without kid. */
    assert.equal(await status(sign('HS256', LEGACY, {})), 101, 'jwt_secret');
  });

  it('expired, not yet valid, a wrong signature, alg none, an unknown kid and garbage get 401', T, async () => {
    const cases = {
      expired: sign('HS256', HS256, { exp: nowS() - 120 }, { kid: 'h256' }),
      'not yet valid': sign('HS256', HS256, { nbf: nowS() + 600 }, { kid: 'h256' }),
      'wrong signature': sign('HS256', 'not-the-secret', {}, { kid: 'h256' }),
      'wrong signature, no kid': sign('HS256', 'not-the-secret', {}),
      'alg none': sign('none', null, {}),
      'alg none with kid': sign('none', null, {}, { kid: 'h256' }),
      'unknown kid': sign('HS256', HS256, {}, { kid: 'nope' }),
      'alg confusion': sign('HS256', pem(rsa), {}, { kid: 'rsa' }),
      'alg confusion, no kid': sign('HS256', pem(rsa), {}),
      'RS256 key under the EC kid': sign('RS256', rsa.privateKey, {}, { kid: 'ec' }),
      'ES256 signed with another key': sign('ES256', crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, {}),
      malformed: 'not.a.jwt',
      'two segments': 'eyJhbGciOiJIUzI1NiJ9.e30',
      'no exp': sign('HS256', HS256, { exp: undefined }, { kid: 'h256' }),
    };
    for (const [what, token] of Object.entries(cases)) {
      assert.equal(await status(token), 401, what);
    }
    /* Through the ws client as well: the refusal is an HTTP answer. */
    assert.equal(await refused(cases.expired), 401);
    assert.equal(await refused(cases['alg none']), 401);
  });
});

describe('the rooms claim', () => {
  it('is enforced on subscribe and publish', T, async () => {
    const c = await welcomed(sign('RS256', rsa.privateKey, { sub: 'roomy', rooms: ['chat-*'] }, { kid: 'rsa' }));
    assert.deepEqual(await tryRoom(c, 'chat-1'), ['subscribed', 'ack']);
    assert.deepEqual(await tryRoom(c, 'other-1'), ['forbidden', 'forbidden']);
  });
});

describe('wsctl token and checktoken', () => {
  it('wsctl token mints a token an upgrade accepts, with its rooms claim enforced', T, async () => {
    const r = d.ctlResult(['token', '--user', 'minted', '--rooms', 'news,chat-*', '--ttl', '120', '--info', '{"name":"M"}']);
    assert.equal(r.status, 0, r.stderr);
    const token = r.json.token;
    assert.equal(typeof token, 'string');
    assert.ok(Math.abs(r.json.exp - (nowS() + 120)) <= 2, `exp ${r.json.exp}`);
    /* Without --json it prints the token alone. */
    const plain = require('node:child_process').spawnSync(
      process.env.WSCTL_BIN || path.join(__dirname, '..', '..', 'bin', 'wsctl'),
      ['-s', d.controlSocket, 'token', '--user', 'minted'],
      { encoding: 'utf8' },
    );
    assert.equal(plain.status, 0, plain.stderr);
    assert.match(plain.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const c = await welcomed(token);
    assert.equal(c.welcome.user, 'minted');
    assert.deepEqual(await tryRoom(c, 'chat-9'), ['subscribed', 'ack']);
    assert.deepEqual(await tryRoom(c, 'news'), ['subscribed', 'ack']);
    assert.deepEqual(await tryRoom(c, 'secret'), ['forbidden', 'forbidden']);
    /* checktoken says what it carries; the first HS* key signed it. */
    const ok = d.ctl(['checktoken', token]);
    assert.equal(ok.user, 'minted');
    assert.equal(ok.kid, 'h256');
    assert.deepEqual(ok.rooms, ['news', 'chat-*']);
    assert.deepEqual(ok.info, { name: 'M' });
  });

  it('wsctl checktoken on a bad token exits 1 and says why', T, async () => {
    const expired = d.ctlResult(['checktoken', sign('HS256', HS256, { exp: nowS() - 120 }, { kid: 'h256' })]);
    assert.equal(expired.status, 1);
    assert.match(expired.stderr, /expired/);
    assert.equal(expired.json.ok, false);
    assert.match(expired.json.error, /expired/);
    const none = d.ctlResult(['checktoken', sign('none', null, {})]);
    assert.equal(none.status, 1);
    assert.match(none.stderr, /alg none not allowed/);
    const kid = d.ctlResult(['checktoken', sign('HS256', HS256, {}, { kid: 'nope' })]);
    assert.match(kid.stderr, /unknown kid/);
    /* The admin API answers the same. */
    const res = await fetch(`http://127.0.0.1:${d.adminPort}/api/checktoken`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token: sign('HS256', HS256, { nbf: nowS() + 900 }, { kid: 'h256' }) }),
    });
    assert.equal(res.status, 400);
    assert.match((await res.json()).error, /not yet valid/);
    const minted = await fetch(`http://127.0.0.1:${d.adminPort}/api/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: 'via-admin' }),
    });
    assert.equal(minted.status, 200);
    assert.equal(d.ctl(['checktoken', (await minted.json()).token]).user, 'via-admin');
  });
});

describe('reload', () => {
  it('a reload that removes a key makes its tokens refused; a missing key file keeps the old config', T, async () => {
    const rsToken = sign('RS256', rsa.privateKey, { sub: 'before-reload' }, { kid: 'rsa' });
    assert.equal(await status(rsToken), 101);
    const conf = fs.readFileSync(d.confPath, 'utf8');
    const rsaElem = `, ${JSON.stringify(`rsa:RS256:@${rsaFile}`)}`;
    assert.ok(conf.includes(rsaElem), conf);

    /* A key file that cannot be read: the reload fails, the old keys stay. */
    fs.writeFileSync(d.confPath, conf.replace(rsaFile, `${rsaFile}.missing`));
    const bad = d.ctlResult(['reload']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /jwt\.keys: cannot read .*rsa\.pem\.missing/);
    assert.equal(await status(rsToken), 101);

    fs.writeFileSync(d.confPath, conf.replace(rsaElem, ''));
    d.ctl(['reload']);
    /* Every worker applies the CONFIG on its own; wait for both. */
    let codes = [];
    for (let i = 0; i < 50; i++) {
      codes = [];
      for (let j = 0; j < 6; j++) codes.push(await status(rsToken));
      if (codes.every((s) => s === 401)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(codes, [401, 401, 401, 401, 401, 401]);
    assert.match(d.ctlResult(['checktoken', rsToken]).stderr, /unknown kid/);
    /* The other keys still work. */
    assert.equal(await status(sign('ES256', ec.privateKey, {}, { kid: 'ec' })), 101);
  });
});
