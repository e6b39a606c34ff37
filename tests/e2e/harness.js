'use strict';
/*
 * End-to-end harness for wsd: starts the real daemon on loopback with a
 * generated config in a private temp dir, talks to it with wsctl, with the
 * `ws` client, with raw TCP and with a hand-written WebSocket frame encoder
 * and decoder (so tests can send frames no well-behaved client would).
 *
 * Every process the harness starts is killed by PID when the test file's
 * process exits, whatever the reason.
 */

const assert = require('node:assert');
const childProcess = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { promisify } = require('node:util');
const WebSocket = require('ws');

const execFileAsync = promisify(childProcess.execFile);

const REPO = path.resolve(__dirname, '..', '..');
const WSD_BIN = process.env.WSD_BIN || path.join(REPO, 'bin', 'wsd');
const WSCTL_BIN = process.env.WSCTL_BIN || path.join(REPO, 'bin', 'wsctl');
const READY_TIMEOUT_MS = Number(process.env.WSD_E2E_READY_MS || 10000);
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/* ------------------------------------------------------------------ */
/* Process bookkeeping: everything started here dies with this process. */

const livePids = new Set();
const liveDirs = new Set();
const liveSockets = new Map(); /* socket or WebSocket -> the local port it was opened to */
const daemons = new Set();

/* True while pid runs; a zombie (exited, not yet reaped) counts as gone. */
function pidAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if (e.code !== 'EPERM') return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch (_) {
    return true; /* no /proc: trust kill(0) */
  }
}

function killPid(pid, sig) {
  try {
    process.kill(pid, sig);
  } catch (_) {
    /* already gone */
  }
}

function emergencyCleanup() {
  for (const s of liveSockets.keys()) {
    try {
      if (s instanceof WebSocket) s.terminate();
      else s.destroy();
    } catch (_) {
      /* ignore */
    }
  }
  for (const pid of livePids) killPid(pid, 'SIGKILL');
  livePids.clear();
  for (const d of liveDirs) {
    try {
      fs.rmSync(d, { recursive: true, force: true });
    } catch (_) {
      /* ignore */
    }
  }
  liveDirs.clear();
}

process.on('exit', (code) => {
  if (code !== 0 || process.exitCode) {
    for (const d of daemons) d.dumpLog('test process exiting with failures');
  }
  emergencyCleanup();
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    emergencyCleanup();
    process.exit(128 + (os.constants.signals[sig] || 1));
  });
}

/* Have a process this test started (a browser) killed with the rest. */
function trackPid(pid) {
  if (pid) livePids.add(pid);
}

/* ------------------------------------------------------------------ */
/* Small utilities. */

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* Bounds a promise by a timeout; rejects with a message naming what timed out. */
function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

/* Polls fn() (sync or async) until it returns a truthy value; returns it. */
async function waitFor(fn, { timeoutMs = 5000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  let lastErr;
  for (;;) {
    try {
      last = await fn();
      lastErr = undefined;
      if (last) return last;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() >= deadline) {
      const extra = lastErr ? `; last error: ${lastErr.message}` : `; last value: ${JSON.stringify(last)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${extra}`);
    }
    await sleep(intervalMs);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function freePorts(n) {
  const ports = new Set();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/* ------------------------------------------------------------------ */
/* libconfig writer. */

function cfgValue(v, indent) {
  if (typeof v === 'string') return JSON.stringify(v); /* libconfig accepts C-style escapes */
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`config: only integers are supported, got ${v}`);
    return String(v);
  }
  /* An array of groups is a libconfig list ( ... ); others are arrays. */
  if (Array.isArray(v) && v.some((x) => x && typeof x === 'object'))
    return `( ${v.map((x) => cfgValue(x, indent)).join(', ')} )`;
  if (Array.isArray(v)) return `[ ${v.map((x) => cfgValue(x, indent)).join(', ')} ]`;
  if (v && typeof v === 'object') {
    const pad = '  '.repeat(indent + 1);
    const body = Object.entries(v)
      .map(([k, x]) => `${pad}${k} = ${cfgValue(x, indent + 1)};`)
      .join('\n');
    return `{\n${body}\n${'  '.repeat(indent)}}`;
  }
  throw new Error(`config: unsupported value ${v}`);
}

/* Merges b into a (one level deep for groups) and renders libconfig text. */
function renderConfig(base, overrides) {
  const merged = { ...base };
  for (const [k, v] of Object.entries(overrides || {})) {
    if (v && typeof v === 'object' && !Array.isArray(v) && merged[k] && typeof merged[k] === 'object') {
      merged[k] = { ...merged[k], ...v };
    } else if (v === undefined) {
      delete merged[k];
    } else {
      merged[k] = v;
    }
  }
  return (
    '# generated by tests/e2e/harness.js\n' +
    Object.entries(merged)
      .map(([k, v]) => `${k} = ${cfgValue(v, 0)};`)
      .join('\n') +
    '\n'
  );
}

/* ------------------------------------------------------------------ */
/* JWT (HS256), minted here so client auth does not depend on wsctl. */

function b64url(buf) {
  return Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

function mintToken(secret, claims) {
  const now = Math.floor(Date.now() / 1000);
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = b64url(JSON.stringify({ iat: now, exp: now + 3600, ...claims }));
  const sig = b64url(crypto.createHmac('sha256', secret).update(`${header}.${payload}`).digest());
  return `${header}.${payload}.${sig}`;
}

/* ------------------------------------------------------------------ */
/* The daemon. */

/*
 * startWsd(opts):
 *   workers   number of workers (default 2)
 *   config    object merged into the generated config; objects are groups,
 *             e.g. { limits: { max_message_bytes: 1024 }, jwt_secret: 's' }
 *   args      extra command-line arguments for wsd
 *   env       extra environment variables for wsd (merged into process.env)
 *   readyTimeoutMs
 * Returns { port, adminPort, url, echoUrl, pid, dir, confPath, controlSocket,
 *           base, ctl, ctlResult, ctlAsync, workers, log, stop }.
 */
async function startWsd(opts = {}) {
  if (!fs.existsSync(WSD_BIN)) throw new Error(`wsd binary not found at ${WSD_BIN} (build it, or set WSD_BIN)`);
  if (!fs.existsSync(WSCTL_BIN)) throw new Error(`wsctl binary not found at ${WSCTL_BIN} (build it, or set WSCTL_BIN)`);
  let lastErr;
  /* A port picked free may be taken before wsd binds it: retry on a fresh pair. */
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(opts);
    } catch (e) {
      lastErr = e;
      if (!e.earlyExit || !/in use|EADDRINUSE|bind/i.test(e.log || '')) throw e;
    }
  }
  throw lastErr;
}

async function startOnce(opts) {
  const workers = opts.workers === undefined ? 2 : opts.workers;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsd-e2e-'));
  liveDirs.add(dir);
  const [port, adminPort] = await freePorts(2);
  const runDir = path.join(dir, 'run');
  const controlSocket = path.join(dir, 'wsctl.sock');
  const confPath = path.join(dir, 'wsd.conf');
  const base = {
    listen: `127.0.0.1:${port}`,
    admin_listen: `127.0.0.1:${adminPort}`,
    run_dir: runDir,
    control_socket: controlSocket,
    workers,
    echo_path: '/echo',
    log_level: 'info',
  };
  fs.writeFileSync(confPath, renderConfig(base, opts.config));

  const child = childProcess.spawn(WSD_BIN, ['-c', confPath, ...(opts.args || [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: dir,
    env: opts.env ? { ...process.env, ...opts.env } : process.env,
  });
  livePids.add(child.pid);

  const logChunks = [];
  let logBytes = 0;
  const keepLog = (chunk) => {
    logChunks.push(chunk);
    logBytes += chunk.length;
    while (logBytes > 1 << 20 && logChunks.length > 1) logBytes -= logChunks.shift().length;
    if (process.env.WSD_E2E_VERBOSE) process.stderr.write(chunk);
  };
  child.stdout.on('data', keepLog);
  child.stderr.on('data', keepLog);
  const log = () => Buffer.concat(logChunks).toString('utf8');

  let exitInfo = null;
  const exited = new Promise((resolve) => {
    /* spawn itself failed (ENOENT, EACCES, ...): no 'exit' follows. */
    child.on('error', (err) => {
      if (exitInfo) return;
      exitInfo = { code: null, signal: null, error: err };
      livePids.delete(child.pid);
      logChunks.push(Buffer.from(`wsd e2e: cannot run ${WSD_BIN}: ${err.message}\n`));
      resolve(exitInfo);
    });
    child.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      if (!stopped && daemons.has(daemon)) {
        process.stderr.write(`\nwsd e2e: wsd (pid ${child.pid}) exited unexpectedly: code ${code}, signal ${signal}\n`);
      }
      livePids.delete(child.pid);
      resolve(exitInfo);
    });
  });

  const workerPids = new Set();
  let stopped = false;

  const ctlArgs = (args) => ['-s', controlSocket, '--json', ...args.map(String)];

  /* Runs wsctl; never throws for a non-zero exit. */
  function ctlResult(args, { timeoutMs = 10000 } = {}) {
    const r = childProcess.spawnSync(WSCTL_BIN, ctlArgs(args), { encoding: 'utf8', timeout: timeoutMs });
    let json;
    try {
      json = JSON.parse(r.stdout.trim().split('\n').pop() || 'null');
    } catch (_) {
      json = undefined;
    }
    return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, json };
  }

  /* Runs wsctl and returns its parsed JSON; throws unless it exited 0 with ok:true. */
  function ctl(args, { timeoutMs = 10000 } = {}) {
    let out;
    try {
      out = childProcess.execFileSync(WSCTL_BIN, ctlArgs(args), {
        encoding: 'utf8',
        timeout: timeoutMs,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (e) {
      throw new Error(
        `wsctl ${args.join(' ')} failed (status ${e.status}, signal ${e.signal}): ` +
          `stdout=${JSON.stringify(e.stdout)} stderr=${JSON.stringify(e.stderr)}`,
      );
    }
    let json;
    try {
      json = JSON.parse(out);
    } catch (_) {
      throw new Error(`wsctl ${args.join(' ')} printed no single JSON document: ${JSON.stringify(out)}`);
    }
    if (!json || json.ok !== true) throw new Error(`wsctl ${args.join(' ')}: not ok: ${out}`);
    return json;
  }

  async function ctlAsync(args, { timeoutMs = 10000 } = {}) {
    const { stdout } = await execFileAsync(WSCTL_BIN, ctlArgs(args), { timeout: timeoutMs });
    return JSON.parse(stdout);
  }

  function learnWorkers(list) {
    for (const w of list || []) {
      if (Number.isInteger(w.pid) && w.pid > 0 && w.pid !== child.pid) {
        workerPids.add(w.pid);
        livePids.add(w.pid);
      }
    }
  }

  const daemon = {
    port,
    adminPort,
    url: `ws://127.0.0.1:${port}/ws`,
    echoUrl: `ws://127.0.0.1:${port}/echo`,
    pid: child.pid,
    dir,
    confPath,
    controlSocket,
    workersTotal: workers,
    /* The generated config without opts.config: renderConfig(base, X)
     * rewrites it with other overrides (for reload tests). */
    base: { ...base },
    ctl,
    ctlResult,
    ctlAsync,
    log,
    exited,
    get exitInfo() {
      return exitInfo;
    },
    /* wsctl workers, remembering every worker pid for stop(). */
    workers() {
      const r = ctl(['workers']);
      learnWorkers(r.workers);
      return r.workers;
    },
    dumpLog(why) {
      const text = log();
      process.stderr.write(
        `\n----- wsd (pid ${child.pid}) log, ${why} -----\n${text.slice(-16000)}\n----- end of wsd log -----\n`,
      );
    },
    /*
     * SIGTERM, up to graceMs for the exit, then SIGKILL; then SIGKILL every
     * worker pid still alive (after workerGraceMs to exit on their own);
     * then removes the temp dir.
     * Returns { code, signal, forced, ms, workersLeft, sanitizer (report lines in the log) }.
     */
    async stop({ graceMs = 5000, workerGraceMs = 2000, closeClients = true } = {}) {
      if (stopped) return exitInfo;
      stopped = true;
      if (closeClients) destroyAllSockets(port);
      if (!exitInfo) {
        try {
          const r = ctlResult(['workers'], { timeoutMs: 3000 });
          if (r.json && r.json.ok) learnWorkers(r.json.workers);
        } catch (_) {
          /* best effort */
        }
      }
      const t0 = Date.now();
      let forced = false;
      if (!exitInfo) {
        killPid(child.pid, 'SIGTERM');
        let timer;
        const r = await Promise.race([exited, new Promise((res) => (timer = setTimeout(() => res(null), graceMs)))]);
        clearTimeout(timer);
        if (!r) {
          forced = true;
          killPid(child.pid, 'SIGKILL');
          await withTimeout(exited, 5000, 'wsd exit after SIGKILL').catch(() => {});
        }
      }
      const ms = Date.now() - t0;
      /* Workers exit by themselves once their supervisor is gone; give them a moment. */
      const wdeadline = Date.now() + (forced ? 0 : workerGraceMs);
      while ([...workerPids].some(pidAlive) && Date.now() < wdeadline) await sleep(20);
      const workersLeft = [...workerPids].filter(pidAlive);
      for (const pid of workerPids) {
        if (pidAlive(pid)) killPid(pid, 'SIGKILL');
        livePids.delete(pid);
      }
      if (process.env.WSD_E2E_KEEP) {
        process.stderr.write(`wsd e2e: kept ${dir}\n`);
        fs.writeFileSync(path.join(dir, 'wsd.log'), log());
      } else {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      liveDirs.delete(dir);
      const sanitizer = log()
        .split('\n')
        .filter((l) => /ERROR: \w+Sanitizer|runtime error:|SUMMARY: \w+Sanitizer/.test(l));
      return { ...exitInfo, forced, ms, workersLeft, sanitizer };
    },
    get workerPids() {
      return [...workerPids];
    },
  };
  daemons.add(daemon);

  /* Readiness: the control socket appears, then status says every worker is ready. */
  const deadline = Date.now() + (opts.readyTimeoutMs || READY_TIMEOUT_MS);
  let lastStatus;
  let lastErr;
  for (;;) {
    if (exitInfo) {
      const e = new Error(
        `wsd exited during startup (code ${exitInfo.code}, signal ${exitInfo.signal}); config:\n` +
          `${fs.readFileSync(confPath, 'utf8')}\nlog:\n${log()}`,
      );
      e.earlyExit = true;
      e.log = log();
      daemons.delete(daemon);
      fs.rmSync(dir, { recursive: true, force: true });
      liveDirs.delete(dir);
      throw e;
    }
    if (fs.existsSync(controlSocket)) {
      try {
        const st = await ctlAsync(['status'], { timeoutMs: 6000 });
        lastStatus = st;
        if (st.ok && st.workers_total === workers && st.workers_ready === st.workers_total) break;
      } catch (e) {
        lastErr = e;
      }
    }
    if (Date.now() > deadline) {
      await daemon.stop({ graceMs: 1000 });
      throw new Error(
        `wsd not ready within ${opts.readyTimeoutMs || READY_TIMEOUT_MS} ms; last status ` +
          `${JSON.stringify(lastStatus)}; last wsctl error ${lastErr && lastErr.message}\nlog:\n${log()}`,
      );
    }
    await sleep(50);
  }
  try {
    daemon.workers();
  } catch (_) {
    /* reported by the tests that use it */
  }
  return daemon;
}

/* ------------------------------------------------------------------ */
/* `ws` client with a message queue. */

/* Destroys every client socket opened to port (to any port when none is given). */
function destroyAllSockets(port) {
  for (const [s, p] of liveSockets) {
    if (port !== undefined && p !== port) continue;
    try {
      if (s instanceof WebSocket) s.terminate();
      else s.destroy();
    } catch (_) {
      /* ignore */
    }
    liveSockets.delete(s);
  }
}

/*
 * connect(url, { protocol, headers, timeoutMs, tls }) -> client once open;
 * tls: options for a wss:// URL's TLS (ca, servername, session, ...).
 * client.next(type, timeoutMs) resolves with the next JSON message of that
 * type (messages of other types stay queued); client.closed resolves with
 * { code, reason } when the connection closes.
 */
function connect(url, { protocol, headers, timeoutMs = 5000, tls } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocol, { ...tls, headers, handshakeTimeout: timeoutMs });
    liveSockets.set(ws, Number(new URL(url).port));
    const client = new Client(ws);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`connect ${url}: no open within ${timeoutMs} ms`));
    }, timeoutMs);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(client);
    });
    ws.once('unexpected-response', (req, res) => {
      clearTimeout(timer);
      const e = new Error(`connect ${url}: HTTP ${res.statusCode}`);
      e.status = res.statusCode;
      res.resume();
      ws.terminate();
      reject(e);
    });
    ws.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/* connect() and wait for the welcome; client.welcome holds it. */
async function connectWelcomed(url, opts = {}) {
  const c = await connect(url, opts);
  c.welcome = await c.next('welcome', opts.timeoutMs || 5000);
  return c;
}

class Client {
  constructor(ws) {
    this.ws = ws;
    this.queue = [];
    this.all = [];
    this.waiters = [];
    this.nonJson = [];
    this.closeInfo = null;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        liveSockets.delete(ws);
        this.closeInfo = { code, reason: reason.toString('utf8') };
        resolve(this.closeInfo);
        this._wake();
      });
    });
    ws.on('error', (e) => {
      this.lastError = e;
    });
    ws.on('message', (data, isBinary) => {
      let msg;
      try {
        msg = isBinary ? undefined : JSON.parse(data.toString('utf8'));
      } catch (_) {
        msg = undefined;
      }
      if (msg === undefined) {
        this.nonJson.push({ data, isBinary });
        return;
      }
      this.all.push(msg);
      this.queue.push(msg);
      this._wake();
    });
  }

  _wake() {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(obj) {
    this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  /* Removes and returns the first queued message matching pred, waiting for one. */
  nextMatching(pred, timeoutMs = 5000, what = 'message') {
    return new Promise((resolve, reject) => {
      const check = () => {
        const i = this.queue.findIndex(pred);
        if (i >= 0) {
          clearTimeout(timer);
          resolve(this.queue.splice(i, 1)[0]);
          return;
        }
        if (this.closeInfo) {
          clearTimeout(timer);
          reject(
            new Error(
              `connection closed (${this.closeInfo.code} ${this.closeInfo.reason}) while waiting for ${what}; ` +
                `queued: ${JSON.stringify(this.queue).slice(0, 500)}`,
            ),
          );
          return;
        }
        this.waiters.push(check);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(
          new Error(`timed out after ${timeoutMs} ms waiting for ${what}; queued: ${JSON.stringify(this.queue).slice(0, 800)}`),
        );
      }, timeoutMs);
      check();
    });
  }

  next(type, timeoutMs = 5000) {
    return this.nextMatching((m) => m.type === type, timeoutMs, `a "${type}" message`);
  }

  /* Next `message` delivery in room (room === null: a direct delivery without room). */
  nextIn(room, timeoutMs = 5000) {
    return this.nextMatching(
      (m) => m.type === 'message' && (room === null ? !('room' in m) : m.room === room),
      timeoutMs,
      `a message in room ${room}`,
    );
  }

  /* Queued messages matching pred, without removing them. */
  peek(pred) {
    return this.queue.filter(pred);
  }

  /* Drops queued messages matching pred (all when none given). */
  drain(pred = () => true) {
    this.queue = this.queue.filter((m) => !pred(m));
  }

  close(code = 1000, reason = '') {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.close(code, reason);
    }
    return withTimeout(this.closed, 5000, 'close handshake');
  }

  terminate() {
    this.ws.terminate();
    liveSockets.delete(this.ws);
  }

  waitClose(timeoutMs = 5000) {
    return withTimeout(this.closed, timeoutMs, 'the server to close the connection');
  }
}

/* ------------------------------------------------------------------ */
/* Raw TCP. */

/* Parses an HTTP response head from buf; null when incomplete. */
function parseHttpHead(buf) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const head = buf.subarray(0, end).toString('latin1');
  const lines = head.split('\r\n');
  const statusLine = lines[0];
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  const headers = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i <= 0) continue;
    const k = l.slice(0, i).trim().toLowerCase();
    const v = l.slice(i + 1).trim();
    headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
  }
  return { statusLine, status: m ? Number(m[1]) : null, headers, headEnd: end + 4 };
}

/*
 * rawHttp(port, data, { timeoutMs, chunks }) sends data (string or Buffer)
 * and collects everything until the server closes or the timeout.
 * Resolves { status, statusLine, headers, body, raw, closed, error }.
 */
function rawHttp(port, data, { timeoutMs = 3000, host = '127.0.0.1' } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    liveSockets.set(sock, port);
    const chunks = [];
    let error = null;
    let done = false;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      liveSockets.delete(sock);
      sock.destroy();
      const raw = Buffer.concat(chunks);
      const head = parseHttpHead(raw) || { statusLine: raw.toString('latin1').split('\r\n')[0], status: null, headers: {}, headEnd: raw.length };
      resolve({
        status: head.status,
        statusLine: head.statusLine,
        headers: head.headers,
        body: raw.subarray(head.headEnd).toString('utf8'),
        raw,
        closed,
        error,
      });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.setNoDelay(true);
    sock.on('connect', () => sock.write(data));
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', () => finish(true));
    sock.on('close', () => finish(true));
    sock.on('error', (e) => {
      error = e;
    });
  });
}

/* Minimal HTTP GET (for the admin listener). */
async function httpGet(port, urlPath, { headers = {}, timeoutMs = 3000 } = {}) {
  const lines = [`GET ${urlPath} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close'];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return rawHttp(port, `${lines.join('\r\n')}\r\n\r\n`, { timeoutMs });
}

/* ------------------------------------------------------------------ */
/* WebSocket frames, by hand. */

const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa };

/*
 * encodeFrame({ opcode, payload, fin = true, rsv1, rsv2, rsv3, mask = true, maskKey })
 * builds one frame. payload is a Buffer or string.
 */
function encodeFrame({ opcode, payload = Buffer.alloc(0), fin = true, rsv1 = false, rsv2 = false, rsv3 = false, mask = true, maskKey }) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const len = data.length;
  let hlen = 2 + (len > 65535 ? 8 : len > 125 ? 2 : 0) + (mask ? 4 : 0);
  const out = Buffer.alloc(hlen + len);
  out[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (rsv2 ? 0x20 : 0) | (rsv3 ? 0x10 : 0) | (opcode & 0x0f);
  let off = 2;
  if (len > 65535) {
    out[1] = 127;
    out.writeBigUInt64BE(BigInt(len), 2);
    off = 10;
  } else if (len > 125) {
    out[1] = 126;
    out.writeUInt16BE(len, 2);
    off = 4;
  } else {
    out[1] = len;
  }
  if (mask) {
    out[1] |= 0x80;
    const key = maskKey ? Buffer.from(maskKey) : crypto.randomBytes(4);
    key.copy(out, off);
    off += 4;
    for (let i = 0; i < len; i++) out[off + i] = data[i] ^ key[i & 3];
  } else {
    data.copy(out, off);
  }
  return out;
}

/* Close frame payload: 2-byte code (unless code is null) then the reason. */
function closePayload(code, reason = Buffer.alloc(0)) {
  const r = Buffer.isBuffer(reason) ? reason : Buffer.from(reason, 'utf8');
  if (code === null || code === undefined) return r;
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code);
  return Buffer.concat([b, r]);
}

/*
 * Incremental decoder. push(buf) returns the frames completed so far:
 * { fin, rsv1, rsv2, rsv3, opcode, masked, payload, code?, reason? }.
 */
class FrameDecoder {
  constructor() {
    this.buf = Buffer.alloc(0);
  }

  push(chunk) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const frames = [];
    for (;;) {
      const b = this.buf;
      if (b.length < 2) break;
      const masked = (b[1] & 0x80) !== 0;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) break;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) break;
        const big = b.readBigUInt64BE(2);
        if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('frame length too large');
        len = Number(big);
        off = 10;
      }
      let key = null;
      if (masked) {
        if (b.length < off + 4) break;
        key = b.subarray(off, off + 4);
        off += 4;
      }
      if (b.length < off + len) break;
      const payload = Buffer.from(b.subarray(off, off + len));
      if (key) for (let i = 0; i < len; i++) payload[i] ^= key[i & 3];
      const f = {
        fin: (b[0] & 0x80) !== 0,
        rsv1: (b[0] & 0x40) !== 0,
        rsv2: (b[0] & 0x20) !== 0,
        rsv3: (b[0] & 0x10) !== 0,
        opcode: b[0] & 0x0f,
        masked,
        payload,
      };
      if (f.opcode === OP.CLOSE) {
        f.code = payload.length >= 2 ? payload.readUInt16BE(0) : null;
        f.reason = payload.length > 2 ? payload.subarray(2).toString('utf8') : '';
      }
      frames.push(f);
      this.buf = b.subarray(off + len);
    }
    return frames;
  }
}

function acceptFor(key) {
  return crypto.createHash('sha1').update(key + WS_GUID).digest('base64');
}

/*
 * A raw WebSocket client over net.Socket.
 *   const rw = await RawWs.open(port, '/echo', { headers, protocol })
 *   rw.handshake       { status, headers, key }
 *   rw.send(frameOpts) / rw.write(buf) / rw.text(str) / rw.binary(buf) / rw.ping(buf) / rw.close(code, reason)
 *   await rw.nextFrame(timeoutMs, { skipPings = true })
 *   await rw.expectClose(code, timeoutMs)   asserts the next frame is a close with that code
 *   await rw.waitEnd(timeoutMs)             the server closed the TCP connection
 * Server pings are recorded in rw.serverPings and not answered unless
 * autoPong is set.
 */
class RawWs {
  static open(port, urlPath, { headers = {}, protocol, timeoutMs = 5000, host = '127.0.0.1', expectStatus = 101 } = {}) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ port, host });
      liveSockets.set(sock, port);
      sock.setNoDelay(true);
      const key = crypto.randomBytes(16).toString('base64');
      let pending = Buffer.alloc(0);
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        sock.destroy();
        reject(new Error(`raw upgrade of ${urlPath}: no response within ${timeoutMs} ms`));
      }, timeoutMs);
      const onData = (d) => {
        pending = Buffer.concat([pending, d]);
        const head = parseHttpHead(pending);
        if (!head) return;
        sock.removeListener('data', onData);
        clearTimeout(timer);
        settled = true;
        if (head.status !== expectStatus) {
          sock.destroy();
          reject(new Error(`raw upgrade of ${urlPath}: expected ${expectStatus}, got ${head.statusLine}`));
          return;
        }
        const rw = new RawWs(sock, { status: head.status, headers: head.headers, key });
        rw._onData(pending.subarray(head.headEnd));
        resolve(rw);
      };
      sock.on('data', onData);
      sock.on('error', (e) => {
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          reject(e);
        }
      });
      sock.on('close', () => {
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          reject(new Error(`raw upgrade of ${urlPath}: connection closed before a response: ${pending.toString('latin1')}`));
        }
      });
      sock.on('connect', () => {
        const lines = [
          `GET ${urlPath} HTTP/1.1`,
          `Host: ${host}:${port}`,
          'Upgrade: websocket',
          'Connection: Upgrade',
          `Sec-WebSocket-Key: ${key}`,
          'Sec-WebSocket-Version: 13',
        ];
        if (protocol) lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
        for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
        sock.write(`${lines.join('\r\n')}\r\n\r\n`);
      });
    });
  }

  constructor(sock, handshake) {
    this.sock = sock;
    this.handshake = handshake;
    this.decoder = new FrameDecoder();
    this.frames = [];
    this.received = [];
    this.serverPings = [];
    this.autoPong = false;
    this.waiters = [];
    this.ended = false;
    this.endedAt = null;
    this.error = null;
    this.decodeError = null;
    this.endPromise = new Promise((resolve) => {
      const done = () => {
        if (!this.ended) {
          this.ended = true;
          this.endedAt = Date.now();
        }
        resolve();
        this._wake();
      };
      sock.on('end', done);
      sock.on('close', () => {
        liveSockets.delete(sock);
        done();
      });
    });
    sock.on('data', (d) => this._onData(d));
    sock.on('error', (e) => {
      this.error = e;
    });
  }

  _onData(d) {
    if (!d.length) return;
    let frames;
    try {
      frames = this.decoder.push(d);
    } catch (e) {
      this.decodeError = e;
      this.sock.destroy();
      return;
    }
    for (const f of frames) {
      this.received.push(f);
      if (f.opcode === OP.PING) {
        this.serverPings.push(f);
        if (this.autoPong) this.send({ opcode: OP.PONG, payload: f.payload });
      }
      this.frames.push(f);
    }
    this._wake();
  }

  _wake() {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  write(buf) {
    if (!this.sock.destroyed) this.sock.write(buf);
  }

  send(frameOpts) {
    this.write(encodeFrame(frameOpts));
  }

  text(str, extra = {}) {
    this.send({ opcode: OP.TEXT, payload: Buffer.isBuffer(str) ? str : Buffer.from(str, 'utf8'), ...extra });
  }

  binary(buf, extra = {}) {
    this.send({ opcode: OP.BINARY, payload: buf, ...extra });
  }

  ping(payload = Buffer.alloc(0), extra = {}) {
    this.send({ opcode: OP.PING, payload, ...extra });
  }

  close(code = 1000, reason = '', extra = {}) {
    this.send({ opcode: OP.CLOSE, payload: closePayload(code, reason), ...extra });
  }

  /* The next server frame (server pings skipped unless skipPings is false). */
  nextFrame(timeoutMs = 3000, { skipPings = true } = {}) {
    return new Promise((resolve, reject) => {
      const check = () => {
        while (this.frames.length) {
          const f = this.frames.shift();
          if (skipPings && f.opcode === OP.PING) continue;
          clearTimeout(timer);
          resolve(f);
          return;
        }
        if (this.decodeError) {
          clearTimeout(timer);
          reject(new Error(`server sent an undecodable stream: ${this.decodeError.message}`));
          return;
        }
        if (this.ended) {
          clearTimeout(timer);
          reject(new Error('server closed the TCP connection without (another) frame'));
          return;
        }
        this.waiters.push(check);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`no frame from the server within ${timeoutMs} ms`));
      }, timeoutMs);
      check();
    });
  }

  /* Asserts the next frame is a close with exactly `code` (or one of an array) and returns it. */
  async expectClose(code, timeoutMs = 3000) {
    const f = await this.nextFrame(timeoutMs);
    const codes = Array.isArray(code) ? code : [code];
    assert.equal(
      f.opcode,
      OP.CLOSE,
      `expected a close frame (${codes.join(' or ')}), got opcode ${f.opcode} payload ${f.payload.toString('hex').slice(0, 80)}`,
    );
    assert.ok(codes.includes(f.code), `expected close code ${codes.join(' or ')}, got ${f.code} (reason ${JSON.stringify(f.reason)})`);
    assertServerFrame(f);
    return f;
  }

  /* Resolves when the server has closed the TCP connection (FIN or RST). */
  waitEnd(timeoutMs = 3000) {
    return withTimeout(this.endPromise, timeoutMs, 'the server to close the TCP connection');
  }

  destroy() {
    this.sock.destroy();
    liveSockets.delete(this.sock);
  }
}

/*
 * Stops the daemon with SIGTERM and asserts a clean exit: status 0 within
 * 5 s, every worker gone with it, no sanitizer report in the log.
 */
async function stopCleanly(d) {
  const pids = d.workers().map((w) => w.pid);
  const r = await d.stop();
  assert.equal(pids.length, d.workersTotal, 'workers listed before the stop');
  assert.equal(r.forced, false, 'wsd did not exit within 5 s of SIGTERM');
  assert.equal(r.code, 0, `wsd exit code ${r.code}, signal ${r.signal}`);
  assert.deepEqual(r.workersLeft, [], `worker pids still alive 2 s after the supervisor exited: ${r.workersLeft}`);
  assert.deepEqual(r.sanitizer, [], 'sanitizer reports in the wsd log');
  return r;
}

/* Server frames are never masked and carry no RSV bits (no extension negotiated). */
function assertServerFrame(f) {
  assert.equal(f.masked, false, 'server frames must not be masked');
  assert.ok(!f.rsv1 && !f.rsv2 && !f.rsv3, 'server frame has RSV bits set without an extension');
}

/* Reads one whole message (text/binary plus continuations) from a RawWs. */
async function readMessage(rw, timeoutMs = 3000) {
  const first = await rw.nextFrame(timeoutMs);
  assertServerFrame(first);
  if (first.opcode !== OP.TEXT && first.opcode !== OP.BINARY) {
    throw new Error(
      `expected a data frame, got opcode ${first.opcode}${first.opcode === OP.CLOSE ? ` (close ${first.code} ${first.reason})` : ''}`,
    );
  }
  const parts = [first.payload];
  let f = first;
  while (!f.fin) {
    f = await rw.nextFrame(timeoutMs);
    assertServerFrame(f);
    if (f.opcode !== OP.CONT) throw new Error(`expected a continuation frame, got opcode ${f.opcode}`);
    parts.push(f.payload);
  }
  return { opcode: first.opcode, payload: Buffer.concat(parts) };
}

/*
 * noUpgradeProxy(target): an HTTP proxy in front of the daemon's port
 * (target() gives it, so it may change across a restart) that passes
 * plain HTTP through, streaming, and refuses every WebSocket upgrade with
 * 403, as some corporate proxies do. Not listening yet: the caller
 * listens and closes it.
 */
function noUpgradeProxy(target) {
  const server = http.createServer((req, res) => {
    const up = http.request({ host: '127.0.0.1', port: target(), path: req.url, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  server.on('upgrade', (req, socket) => socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
  return server;
}

module.exports = {
  noUpgradeProxy,
  REPO,
  WSD_BIN,
  WSCTL_BIN,
  OP,
  startWsd,
  connect,
  connectWelcomed,
  rawHttp,
  httpGet,
  RawWs,
  FrameDecoder,
  encodeFrame,
  closePayload,
  acceptFor,
  assertServerFrame,
  readMessage,
  stopCleanly,
  mintToken,
  renderConfig,
  waitFor,
  withTimeout,
  sleep,
  pidAlive,
  trackPid,
  destroyAllSockets,
  freePorts,
};
