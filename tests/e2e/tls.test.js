'use strict';
/*
 * wss:// (docs/protocol.md, "TLS"): a daemon with a plain and a TLS
 * listener, certificates from a test CA made here with the openssl CLI.
 *
 *   - the npm ws client chats over wss:// in a room with a plain ws://
 *     client, and resumes over wss://;
 *   - a wrong hostname and an untrusted CA fail on the client side; TLS
 *     1.1 is refused by the server (protocol version alert); ALPN is
 *     http/1.1; SNI picks the second certificate;
 *   - ticket resumption works across both workers (tickets sealed with the
 *     supervisor's keys);
 *   - a certificate swap plus SIGHUP keeps the connections up and new
 *     ones see the new certificate; a broken certificate keeps the old one
 *     and the log says why;
 *   - failed handshakes are counted by reason in /metrics, the workers
 *     survive them, and a client that never sends a ClientHello is closed
 *     by the handshake timeout.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { startWsd, connectWelcomed, waitFor, freePorts, httpGet } = require('./harness');

const T = { timeout: 30000 };

function openssl(args, dir) {
  childProcess.execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/* A CA, and certificates it signs for names (SAN) with ECDSA P-256 or RSA keys. */
function makePki(dir) {
  const ca = (name) => {
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`], dir);
    return path.join(dir, `${name}.pem`);
  };
  const leaf = (name, caName, san, rsa) => {
    const keyArgs = rsa ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
    openssl(['req', ...keyArgs, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
    fs.writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=${san}\n`);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.pem`, '-CAkey', `${caName}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`], dir);
    return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
  };
  return {
    ca: ca('testca'),
    untrusted: ca('otherca'),
    srv: leaf('srv', 'testca', 'DNS:localhost,IP:127.0.0.1'),
    srv2: leaf('srv2', 'testca', 'DNS:localhost,IP:127.0.0.1', true),
    other: leaf('other', 'testca', 'DNS:other.test'),
  };
}

const fingerprint = (c) => c.ws._socket.getPeerCertificate().fingerprint256;
/* A wss:// (or ws://) client, welcomed: harness.js's client. */
const open = (url, tls) => connectWelcomed(url, tls ? { tls } : {});

describe('TLS listeners', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsd-e2e-tls-'));
  let pki;
  let d;
  let plainPort;
  let tlsPort;
  const sockets = [];
  const certPath = path.join(dir, 'live.pem');
  const keyPath = path.join(dir, 'live.key');
  const wss = () => `wss://localhost:${tlsPort}/ws`;

  before(
    async () => {
      pki = makePki(dir);
      fs.copyFileSync(pki.srv.cert, certPath);
      fs.copyFileSync(pki.srv.key, keyPath);
      [plainPort, tlsPort] = await freePorts(2);
      d = await startWsd({
        workers: 2,
        config: {
          listen: undefined,
          listeners: [
            { listen: `127.0.0.1:${plainPort}` },
            { listen: `127.0.0.1:${tlsPort}`, tls: { certs: [{ cert: certPath, key: keyPath }, { cert: pki.other.cert, key: pki.other.key }] } },
          ],
          sessions: { keys: ['t1:0123456789abcdef0123456789abcdef'] },
          heartbeat: { handshake_timeout_ms: 1000 },
        },
      });
    },
    { timeout: 60000 },
  );
  after(
    async () => {
      for (const s of sockets) s.terminate();
      if (d) await d.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
    { timeout: 15000 },
  );

  const ca = () => fs.readFileSync(pki.ca);

  it('a wss:// client and a ws:// client chat in one room; ALPN is http/1.1', T, async () => {
    const a = await open(wss(), { ca: ca(), ALPNProtocols: ['http/1.1'] });
    const b = await open(`ws://127.0.0.1:${plainPort}/ws`);
    sockets.push(a, b);
    assert.equal(a.ws._socket.alpnProtocol, 'http/1.1');
    assert.ok(['TLSv1.3', 'TLSv1.2'].includes(a.ws._socket.getProtocol()));
    for (const c of [a, b]) {
      c.send({ type: 'subscribe', room: 'tls.room' });
      await c.nextMatching((m) => m.type === 'subscribed');
    }
    a.send({ type: 'publish', room: 'tls.room', data: 'from wss' });
    b.send({ type: 'publish', room: 'tls.room', data: 'from ws' });
    for (const c of [a, b]) {
      assert.equal((await c.nextMatching((m) => m.type === 'message' && m.data === 'from wss')).room, 'tls.room');
      assert.equal((await c.nextMatching((m) => m.type === 'message' && m.data === 'from ws')).room, 'tls.room');
    }
    /* A message larger than a TLS record (16 KB), both ways. */
    const big = 'y'.repeat(40000);
    b.send({ type: 'publish', room: 'tls.room', data: { big } });
    assert.equal((await a.nextMatching((m) => m.type === 'message' && m.data && m.data.big)).data.big, big);
    a.send({ type: 'publish', room: 'tls.room', data: { big2: big } });
    assert.equal((await b.nextMatching((m) => m.type === 'message' && m.data && m.data.big2)).data.big2, big);
  });

  it('a wss:// client resumes its session and gets what it missed', T, async () => {
    const a = await open(wss(), { ca: ca() });
    a.send({ type: 'subscribe', room: 'tls.resume' });
    const sub = await a.nextMatching((m) => m.type === 'subscribed');
    const token = a.welcome.resume_token;
    a.terminate();
    await waitFor(() => !d.ctl(['conns']).conns.some((x) => x.id === a.welcome.conn), { what: 'the connection gone' });
    d.ctl(['publish', 'tls.resume', '"missed"']);
    const b = await open(wss(), { ca: ca() });
    sockets.push(b);
    b.send({ type: 'resume', token, rooms: { 'tls.resume': { seq: sub.seq, epoch: sub.epoch } } });
    const r = await b.nextMatching((m) => m.type === 'resumed');
    assert.equal(r.rooms['tls.resume'].recovered, true);
    assert.equal((await b.nextMatching((m) => m.type === 'message')).data, 'missed');
  });

  it('a wrong hostname and an untrusted CA fail on the client side, and are counted', T, async () => {
    const before = await failures();
    await assert.rejects(open(wss(), { ca: ca(), servername: 'wrong.example' }), /does not match|altnames/i);
    await assert.rejects(open(wss(), { ca: fs.readFileSync(pki.untrusted) }), /self[- ]signed|unable to (get|verify)|certificate/i);
    await waitFor(async () => (await failures()) >= before + 1, { what: 'the refused certificate counted' });
    assert.equal(d.ctl(['status']).workers_ready, 2, 'the workers are still up');
  });

  it('TLS 1.1 is refused by the server with a protocol version alert, counted; 1.2 and 1.3 work', T, async () => {
    const counted = async () => {
      const m = await metricsText();
      return Number((/wsd_tls_handshake_failures_total\{reason="protocol_version"\} (\d+)/.exec(m) || [0, 0])[1]);
    };
    const before = await counted();
    const r = childProcess.spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${tlsPort}`, '-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0'], { input: '', encoding: 'utf8', timeout: 10000 });
    const out = r.stdout + r.stderr;
    assert.match(out, /alert protocol version/i, out);
    assert.match(out, /Cipher is \(NONE\)/, 'no session was made');
    await waitFor(async () => (await counted()) > before, { what: 'protocol_version counted' });
    for (const v of ['TLSv1.2', 'TLSv1.3']) {
      const sock = tls.connect({ host: '127.0.0.1', port: tlsPort, servername: 'localhost', ca: ca(), minVersion: v, maxVersion: v });
      await new Promise((res, rej) => {
        sock.once('secureConnect', res);
        sock.once('error', rej);
      });
      assert.equal(sock.getProtocol(), v);
      sock.destroy();
    }
  });

  it('SNI picks the certificate for the name asked', T, async () => {
    const sock = tls.connect({ host: '127.0.0.1', port: tlsPort, servername: 'other.test', ca: ca() });
    await new Promise((res, rej) => {
      sock.once('secureConnect', res);
      sock.once('error', rej);
    });
    assert.match(sock.getPeerCertificate().subjectaltname, /other\.test/);
    sock.destroy();
    const def = tls.connect({ host: '127.0.0.1', port: tlsPort, servername: 'localhost', ca: ca() });
    await new Promise((res, rej) => {
      def.once('secureConnect', res);
      def.once('error', rej);
    });
    assert.match(def.getPeerCertificate().subjectaltname, /localhost/);
    def.destroy();
  });

  it('a session ticket resumes the TLS session on either worker', { timeout: 60000 }, async () => {
    const first = await open(wss(), { ca: ca() });
    /* The ticket came before the welcome: the server sends it right after its handshake. */
    const session = first.ws._socket.getSession();
    assert.ok(session, 'a session to resume');
    first.close();
    const reusedOn = new Set();
    for (let i = 0; i < 40 && reusedOn.size < 2; i++) {
      const c = await open(wss(), { ca: ca(), session });
      if (c.ws._socket.isSessionReused()) reusedOn.add(d.ctl(['conn', String(c.welcome.conn)]).conn.worker);
      c.close();
    }
    assert.deepEqual([...reusedOn].sort(), [0, 1], 'resumed on both workers');
    /* The workers' counters reach /metrics with their next STATS. */
    await waitFor(async () => /wsd_tls_handshakes_total\{kind="resumed"\} [1-9]/.test(await metricsText()), { what: 'resumed handshakes counted' });
  });

  it('a certificate swap and SIGHUP: connections stay up, new ones see the new certificate; a broken one keeps it', { timeout: 60000 }, async () => {
    const old = await open(wss(), { ca: ca() });
    sockets.push(old);
    const oldPrint = fingerprint(old);
    fs.copyFileSync(pki.srv2.cert, certPath);
    fs.copyFileSync(pki.srv2.key, keyPath);
    process.kill(d.pid, 'SIGHUP');
    let fresh;
    await waitFor(
      async () => {
        const c = await open(wss(), { ca: ca() });
        const p = fingerprint(c);
        c.close();
        fresh = p;
        return p !== oldPrint;
      },
      { timeoutMs: 15000, what: 'the new certificate served' },
    );
    assert.notEqual(fresh, oldPrint);
    /* The old connection is still up and works. */
    old.send({ type: 'ping' });
    await old.nextMatching((m) => m.type === 'pong');

    /* A broken certificate: the reload keeps the running one. */
    fs.writeFileSync(certPath, '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
    process.kill(d.pid, 'SIGHUP');
    await waitFor(() => /reload_failed|reload_refused/.test(d.log()) && /live\.pem/.test(d.log()), { timeoutMs: 10000, what: 'the refused reload logged' });
    const c = await open(wss(), { ca: ca() });
    assert.equal(fingerprint(c), fresh, 'still the certificate that was running');
    c.close();
    /* A key that does not match its certificate: refused too. */
    fs.copyFileSync(pki.srv.cert, certPath);
    fs.copyFileSync(pki.srv2.key, keyPath);
    const n0 = (d.log().match(/reload_failed/g) || []).length;
    process.kill(d.pid, 'SIGHUP');
    await waitFor(() => (d.log().match(/reload_failed/g) || []).length > n0, { timeoutMs: 10000, what: 'the mismatched key refused' });
    const c2 = await open(wss(), { ca: ca() });
    assert.equal(fingerprint(c2), fresh);
    c2.close();
    assert.doesNotMatch(d.log(), /BEGIN (EC |RSA )?PRIVATE KEY/, 'no key in the log');
  });

  it('plain HTTP on the TLS port and a silent client: counted, closed, the workers survive', T, async () => {
    const before = await failures();
    const r = await httpGet(tlsPort, '/ws').catch((e) => ({ error: e }));
    /* A TLS port answers plain HTTP with no HTTP at all (an alert, or
     * the end of the stream). */
    assert.ok(r.error || !/^HTTP\//.test(r.statusLine || ''), `an HTTP answer on the TLS port: ${r.statusLine}`);
    await waitFor(async () => (await failures()) > before, { what: 'the plain HTTP request counted' });
    /* Connects, says nothing: closed by the handshake timeout (1 s). */
    const t0 = Date.now();
    await new Promise((resolve, reject) => {
      const s = net.connect(tlsPort, '127.0.0.1');
      s.on('error', () => {});
      s.on('close', resolve);
      setTimeout(() => reject(new Error('not closed')), 8000).unref();
    });
    assert.ok(Date.now() - t0 < 6000, `closed after ${Date.now() - t0} ms`);
    assert.equal(d.ctl(['status']).workers_ready, 2);
    assert.deepEqual(
      d.ctl(['workers']).workers.map((w) => w.restarts),
      [0, 0],
      'no worker restarted',
    );
  });

  async function metricsText() {
    const res = await fetch(`http://127.0.0.1:${d.adminPort}/metrics`);
    return res.text();
  }

  async function failures() {
    const m = await metricsText();
    let n = 0;
    for (const line of m.split('\n')) if (line.startsWith('wsd_tls_handshake_failures_total{')) n += Number(line.split(' ').pop());
    return n;
  }
});
