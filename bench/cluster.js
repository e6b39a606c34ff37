// Two-node fan-out through Redis: wsd (engine = "redis") against Socket.IO 4
// with @socket.io/redis-adapter, in the same run, on this machine.
//
//   node bench/cluster.js        (BENCH_CLUSTER=1 make bench runs it too)
//
// For each round, each system in turn (the order alternates by round):
//   1. a fresh redis-server (Debian's, /usr/bin/redis-server) on a free
//      loopback port, --save '' --appendonly no, its dir a temp dir;
//   2. two server nodes on it: two bin/wsd (workers = 1, engine = "redis",
//      the same sessions key, node_id A and B), or two Socket.IO servers
//      (bench/cluster/sio-server.js, WebSocket transport only);
//   3. CLUSTER_SUBS subscribers on each node in room "fan", held by
//      CLUSTER_PROCS forked client processes (each holds its share of both
//      nodes' subscribers), and one publisher connection per node in this
//      process. The load generator is the same code for both systems: the
//      npm `ws` client (tests/node_modules/ws) speaking raw WebSocket,
//      wsd.v1 JSON for wsd, Engine.IO v4 / Socket.IO v5 packets by hand for
//      Socket.IO (`0{..}` open, `40` connect, `42[..]` events, `2`/`3`
//      ping and pong);
//   4. a probe publish from each node, which every subscriber must get
//      (it shows a node that does not deliver), then CLUSTER_RATE publishes
//      a second alternating between the nodes: CLUSTER_WARM s of warm-up,
//      then CLUSTER_SECS s measured, then up to CLUSTER_DRAIN s for the
//      measured publishes' last deliveries.
// Measured in the window: deliveries received per second (all
// subscribers), server CPU per delivery (utime + stime from /proc/PID/stat
// of every server process: the wsd supervisors and their workers, or the
// Socket.IO processes, and the redis-server in both cases), and
// publish-to-delivery latency of the measured publishes (each carries its
// send time on CLOCK_MONOTONIC, which process.hrtime reads and every
// process shares). The measured publishes' deliveries are counted per node
// against publishes x subscribers, so losses show.
//
// Prints a machine line, one key=value line per round and system, and the
// medians with the ratios wsd/socketio. Raw lines, the table and the
// servers' logs go to bench/out/cluster-STAMP/. Only 127.0.0.1 is used;
// every process started here is stopped by its PID, also on SIGINT,
// SIGTERM or an exception.
//
// Sizes: CLUSTER_SUBS (subscribers per node, 200), CLUSTER_RATE
// (publishes/s over both nodes, 100), CLUSTER_SECS (15), CLUSTER_WARM
// (2.5), CLUSTER_DRAIN (5), CLUSTER_ROUNDS (3), CLUSTER_PROCS (client
// processes, 2), CLUSTER_SYSTEMS ("wsd socketio").
'use strict';
const childProcess = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const WebSocket = require(path.join(root, 'tests/node_modules/ws'));

const WSD_BIN = process.env.WSD_BIN || path.join(root, 'bin/wsd');
const REDIS_SERVER = process.env.REDIS_SERVER || '/usr/bin/redis-server';
const SIO_DIR = path.join(root, 'bench/cluster');
const ROOM = 'fan';

/* ------------------------------------------------------------------ */
/* Latency histogram: log-linear, 1/64 relative precision, nanoseconds. */

const HBUCKETS = 128 + 64 * 48;
function hidx(v) {
  if (v < 128) return v < 0 ? 0 : Math.floor(v);
  const e = Math.floor(Math.log2(v)) - 6;
  const m = Math.floor(v / 2 ** e); // 64..127
  return Math.min(HBUCKETS - 1, 128 + (e - 1) * 64 + (m - 64));
}
function hval(i) {
  if (i < 128) return i;
  const e = Math.floor((i - 128) / 64) + 1;
  const m = ((i - 128) % 64) + 64;
  return (m + 0.5) * 2 ** e;
}
function hquantile(h, total, q) {
  if (total === 0) return NaN;
  const want = Math.max(1, Math.ceil(total * q));
  let seen = 0;
  for (let i = 0; i < h.length; i++) {
    seen += h[i];
    if (seen >= want) return hval(i);
  }
  return hval(h.length - 1);
}

/* ------------------------------------------------------------------ */
/* The two wire protocols, as the load generator speaks them. */

/* Connects one client to a node and gets it ready: for a subscriber, in
 * the room; for a publisher, past the greeting. onEvent(data) gets each
 * room message's payload afterwards. Resolves with the socket. */
function connectClient(system, url, subscribe, onEvent) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, system === 'wsd' ? 'wsd.v1' : undefined, { perMessageDeflate: false, handshakeTimeout: 10000 });
    let ready = false;
    const timer = setTimeout(() => fail(new Error(`not ready after 15 s: ${url}`)), 15000);
    function fail(e) {
      if (ready) return;
      ready = true;
      clearTimeout(timer);
      ws.terminate();
      reject(e);
    }
    function done() {
      ready = true;
      clearTimeout(timer);
      resolve(ws);
    }
    ws.on('error', (e) => fail(e));
    ws.on('close', () => fail(new Error(`closed before ready: ${url}`)));
    if (system === 'wsd') {
      ws.on('message', (raw) => {
        const m = JSON.parse(raw.toString());
        if (m.type === 'message') {
          if (ready) onEvent(m.data, raw);
        } else if (!ready) {
          if (m.type === 'welcome') {
            if (subscribe) ws.send(JSON.stringify({ type: 'subscribe', room: ROOM }));
            else done();
          } else if (m.type === 'subscribed' && m.room === ROOM) {
            done();
          } else if (m.type === 'error') {
            fail(new Error(`wsd error: ${raw}`));
          }
        }
      });
    } else {
      ws.on('message', (raw) => {
        const s = raw.toString();
        if (s.startsWith('42')) {
          const a = JSON.parse(s.slice(2));
          if (a[0] === 'message') {
            if (ready) onEvent(a[1], raw);
          } else if (a[0] === 'subscribed' && !ready) {
            done();
          }
        } else if (s === '2') {
          ws.send('3'); // Engine.IO ping, pong
        } else if (s[0] === '0' && !ready) {
          ws.send('40'); // Engine.IO open: Socket.IO connect to "/"
        } else if (s.startsWith('40') && !ready) {
          if (subscribe) ws.send(`42${JSON.stringify(['subscribe', ROOM])}`);
          else done();
        } else if ((s.startsWith('44') || s === '1') && !ready) {
          fail(new Error(`socket.io refused: ${s}`));
        }
      });
    }
  });
}

function publishFrame(system, data) {
  return system === 'wsd'
    ? JSON.stringify({ type: 'publish', room: ROOM, data })
    : `42${JSON.stringify(['publish', data])}`;
}

/* ------------------------------------------------------------------ */
/* Client process (forked): holds subscribers and counts what they get. */

function runSubs() {
  let base = 0n;
  let win = { start: Infinity, end: -Infinity };
  const socks = [];
  const hist = new Float64Array(HBUCKETS);
  let latCount = 0;
  let latMax = 0;
  const secMax = {};
  const st = { total: 0, inWindow: 0, measured: [0, 0], probes: [0, 0], connected: [0, 0], failed: 0, failures: [], closed: 0 };
  const send = (m) => process.send(m);

  function onEvent(node, data, raw) {
    const now = Number(process.hrtime.bigint() - base);
    if (st.sample === undefined && data.m) st.sample = raw.toString();
    st.total++;
    if (now >= win.start && now < win.end) st.inWindow++;
    if (data.p) {
      st.probes[node]++;
    } else {
      const lat = now - data.t;
      const sec = Math.floor(data.t / 1e8); // tenths of a second since base, by send time
      if (!(lat <= (secMax[sec] || 0))) secMax[sec] = lat;
      if (!data.m) return;
      st.measured[node]++;
      hist[hidx(lat)]++;
      latCount++;
      if (lat > latMax) latMax = lat;
    }
  }

  async function start(msg) {
    base = BigInt(msg.base);
    const jobs = [];
    for (let node = 0; node < 2; node++) for (let k = 0; k < msg.perNode[node]; k++) jobs.push(node);
    let next = 0;
    async function lane() {
      while (next < jobs.length) {
        const node = jobs[next++];
        try {
          socks.push(await connectClient(msg.system, msg.urls[node], true, (d, raw) => onEvent(node, d, raw)));
          st.connected[node]++;
        } catch (e) {
          st.failed++;
          if (st.failures.length < 5) st.failures.push(String(e.message || e));
        }
      }
    }
    await Promise.all(Array.from({ length: 32 }, lane));
    for (const ws of socks) {
      ws.removeAllListeners('close');
      ws.on('close', () => st.closed++);
    }
    send({ ev: 'ready', connected: st.connected, failed: st.failed, failures: st.failures });
  }

  process.on('message', (msg) => {
    if (msg.cmd === 'start') {
      start(msg).catch((e) => send({ ev: 'ready', connected: st.connected, failed: -1, failures: [String(e.stack || e)] }));
    } else if (msg.cmd === 'window') {
      win = { start: msg.start, end: msg.end };
    } else if (msg.cmd === 'query') {
      send({ ev: 'counts', measured: st.measured, probes: st.probes, closed: st.closed });
    } else if (msg.cmd === 'final') {
      const pairs = [];
      for (let i = 0; i < HBUCKETS; i++) if (hist[i]) pairs.push([i, hist[i]]);
      send({ ev: 'final', ...st, hist: pairs, latCount, latMax, secMax });
    } else if (msg.cmd === 'exit') {
      for (const ws of socks) ws.terminate();
      setTimeout(() => process.exit(0), 50);
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ ev: 'up' });
}

/* ------------------------------------------------------------------ */
/* The orchestrator. */

const num = (name, dflt) => {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}=${v}: not a number`);
  return n;
};

/* Everything started here, killed by PID at the end whatever happens. */
const live = new Map(); // pid -> starttime (from /proc/PID/stat), so a reused PID is left alone
const tmpDirs = new Set();

function procStat(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // f[0] is field 3 (state): ppid field 4, utime 14, stime 15, starttime 22
    return { state: f[0], ppid: Number(f[1]), utime: Number(f[11]), stime: Number(f[12]), start: f[19] };
  } catch {
    return null;
  }
}

function track(pid) {
  const s = procStat(pid);
  if (s) live.set(pid, s.start);
}

function alive(pid) {
  const s = procStat(pid);
  return !!s && s.state !== 'Z' && (!live.has(pid) || live.get(pid) === s.start);
}

function killPid(pid, sig) {
  if (!alive(pid)) return;
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

function killAll() {
  for (const pid of live.keys()) killPid(pid, 'SIGKILL');
  live.clear();
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
  tmpDirs.clear();
}

/* Every descendant of pid, from the PPid of each process in /proc. */
function descendants(pid) {
  const kids = new Map();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const s = procStat(Number(e));
    if (!s) continue;
    if (!kids.has(s.ppid)) kids.set(s.ppid, []);
    kids.get(s.ppid).push(Number(e));
  }
  const out = [];
  const stack = [pid];
  while (stack.length) {
    for (const c of kids.get(stack.pop()) || []) {
      out.push(c);
      stack.push(c);
    }
  }
  return out;
}

const CLK_TCK = (() => {
  try {
    return Number(childProcess.execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/* CPU seconds (utime + stime) of each pid; missing pids count 0. */
function cpuOf(pids) {
  const out = {};
  for (const p of pids) {
    const s = procStat(p);
    out[p] = s ? (s.utime + s.stime) / CLK_TCK : 0;
  }
  return out;
}

function hostBusy() {
  const l = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = l[3] + (l[4] || 0);
  const total = l.slice(0, 8).reduce((a, b) => a + b, 0);
  return { idle, total };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(fn, ms, what) {
  const until = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/* Ports below the ephemeral range, so no client socket holds one. */
const taken = new Set();
async function freePorts(n) {
  let lo = 32768;
  try {
    lo = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0]) || lo;
  } catch {
    /* default */
  }
  if (lo <= 12000) lo = 32768;
  const out = [];
  for (let i = 0; out.length < n && i < 500; i++) {
    const p = 10000 + Math.floor(Math.random() * (lo - 10000));
    if (taken.has(p) || out.includes(p)) continue;
    if (await portFree(p)) {
      out.push(p);
      taken.add(p);
    }
  }
  if (out.length < n) throw new Error('no free ports');
  return out;
}

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function httpStatus(port, p) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => {
      req.destroy();
      resolve(0);
    });
  });
}

function redisPing(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(500, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      buf += d;
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

/* Spawns a server process with its output appended to logFile. */
function spawnServer(cmd, args, logFile, cwd) {
  const fd = fs.openSync(logFile, 'a');
  const child = childProcess.spawn(cmd, args, { stdio: ['ignore', fd, fd], cwd: cwd || root });
  fs.closeSync(fd);
  track(child.pid);
  child.exitedP = new Promise((resolve) => child.once('exit', resolve));
  child.on('error', () => {});
  return child;
}

/* SIGTERM, up to ms for it and its descendants to go, then SIGKILL. */
async function stopProc(child, ms, extra = []) {
  if (!child) return;
  const pids = [child.pid, ...extra];
  killPid(child.pid, 'SIGTERM');
  const until = Date.now() + ms;
  while (Date.now() < until && pids.some((p) => alive(p))) await sleep(50);
  for (const p of pids) killPid(p, 'SIGKILL');
  await Promise.race([child.exitedP, sleep(1000)]);
  for (const p of pids) live.delete(p);
}

async function startRedis(dir, log) {
  const [port] = await freePorts(1);
  const child = spawnServer(REDIS_SERVER, [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning',
  ], log);
  await waitFor(async () => {
    if (!alive(child.pid)) throw new Error(`redis-server exited; see ${log}`);
    return redisPing(port);
  }, 10000, `redis-server on ${port}`);
  return { child, port, pids: () => [child.pid], stop: () => stopProc(child, 3000) };
}

function wsdConfig(o) {
  return `# generated by bench/cluster.js
listen = "127.0.0.1:${o.port}";
admin_listen = "127.0.0.1:${o.admin}";
run_dir = "${o.dir}/run";
control_socket = "${o.dir}/wsctl.sock";
workers = 1;
log_level = "warn";
demo_page = false;
allow_anonymous = true;
engine = "redis";
node_id = "${o.id}";
redis = { addresses = [ "127.0.0.1:${o.redis}" ]; prefix = "${o.prefix}"; };
sessions = { keys = [ "${o.key}" ]; };
limits = { max_connections = 0; max_connections_per_user = 0; max_connections_per_address = 0; rate_msgs = 0; };
drain = { spread_ms = 0; timeout_ms = 2000; };
`;
}

/* Two wsd nodes on one Redis: urls, pids() (supervisors and workers), stop(). */
async function startWsdNodes(dir, redisPort, out) {
  const prefix = `bench-${crypto.randomBytes(3).toString('hex')}:`;
  const key = `k1:${crypto.randomBytes(16).toString('hex')}`;
  const nodes = [];
  for (const id of ['A', 'B']) {
    const [port, admin] = await freePorts(2);
    const ndir = path.join(dir, `wsd-${id}`);
    fs.mkdirSync(ndir, { recursive: true });
    const conf = path.join(ndir, 'wsd.conf');
    const text = wsdConfig({ port, admin, dir: ndir, id, redis: redisPort, prefix, key });
    fs.writeFileSync(conf, text);
    fs.writeFileSync(path.join(out, `wsd-${id}.conf`), text);
    const child = spawnServer(WSD_BIN, ['-c', conf], path.join(out, `wsd-${id}.log`), ndir);
    nodes.push({ id, port, admin, child, workers: [] });
  }
  const stopAll = async () => {
    for (const n of nodes) await stopProc(n.child, 5000, n.workers);
  };
  try {
    for (const n of nodes) {
      await waitFor(async () => {
        if (!alive(n.child.pid)) throw new Error(`wsd ${n.id} exited; see ${out}/wsd-${n.id}.log`);
        return (await httpStatus(n.admin, '/ready')) === 200;
      }, 20000, `wsd ${n.id} /ready`);
      n.workers = descendants(n.child.pid);
      for (const w of n.workers) track(w);
    }
  } catch (e) {
    await stopAll();
    throw e;
  }
  return {
    urls: nodes.map((n) => `ws://127.0.0.1:${n.port}/ws`),
    pids: () => nodes.flatMap((n) => [n.child.pid, ...n.workers]),
    detail: () => nodes.map((n) => `${n.id}:${n.child.pid}+${n.workers.join('+')}`).join(','),
    roles: () => nodes.flatMap((n) => [[`${n.id}.sv`, n.child.pid], ...n.workers.map((w) => [`${n.id}.wk`, w])]),
    stop: stopAll,
  };
}

/* Two Socket.IO nodes on one Redis. */
async function startSioNodes(dir, redisPort, out) {
  const prefix = `bench-${crypto.randomBytes(3).toString('hex')}`;
  const nodes = [];
  for (const id of ['A', 'B']) {
    const [port] = await freePorts(1);
    const child = spawnServer(process.execPath, [path.join(SIO_DIR, 'sio-server.js'), String(port), String(redisPort), prefix],
      path.join(out, `sio-${id}.log`), SIO_DIR);
    nodes.push({ id, port, child });
  }
  const stopAll = async () => {
    for (const n of nodes) await stopProc(n.child, 3000);
  };
  try {
    for (const n of nodes) {
      await waitFor(async () => {
        if (!alive(n.child.pid)) throw new Error(`socket.io ${n.id} exited; see ${out}/sio-${n.id}.log`);
        return portOpen(n.port);
      }, 20000, `socket.io ${n.id} listening`);
    }
  } catch (e) {
    await stopAll();
    throw e;
  }
  return {
    urls: nodes.map((n) => `ws://127.0.0.1:${n.port}/socket.io/?EIO=4&transport=websocket`),
    pids: () => nodes.map((n) => n.child.pid),
    detail: () => nodes.map((n) => `${n.id}:${n.child.pid}`).join(','),
    roles: () => nodes.map((n) => [n.id, n.child.pid]),
    stop: stopAll,
  };
}

/* Forked client processes. */
function forkClients(n) {
  const kids = [];
  for (let i = 0; i < n; i++) {
    const child = childProcess.fork(__filename, ['--subs'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    track(child.pid);
    child.exitedP = new Promise((resolve) => child.once('exit', resolve));
    child.waiters = [];
    child.on('message', (m) => {
      const w = child.waiters.findIndex((x) => x.ev === m.ev);
      if (w >= 0) child.waiters.splice(w, 1)[0].resolve(m);
    });
    child.on('error', () => {});
    kids.push(child);
  }
  return kids;
}

function ask(child, msg, ev, ms) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`client process ${child.pid}: no ${ev} after ${ms} ms`)), ms);
    child.waiters.push({ ev, resolve: (m) => { clearTimeout(t); resolve(m); } });
    if (msg) child.send(msg);
  });
}

async function stopClients(kids) {
  for (const k of kids) {
    try {
      k.send({ cmd: 'exit' });
    } catch {
      /* gone */
    }
  }
  await Promise.race([Promise.all(kids.map((k) => k.exitedP)), sleep(3000)]);
  for (const k of kids) {
    killPid(k.pid, 'SIGKILL');
    live.delete(k.pid);
  }
}

const fmt = (x, d = 3) => (Number.isFinite(x) ? Number(x.toPrecision(d)) : 'nan');

/* One measured run of one system. Returns the key=value fields. */
async function runOne(system, round, cfg, out) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsd-cluster-'));
  tmpDirs.add(dir);
  const tag = `r${round}-${system}`;
  const sout = path.join(out, tag);
  fs.mkdirSync(sout, { recursive: true });
  let redis = null;
  let nodes = null;
  let kids = [];
  const pubs = [];
  const r = { round, system };
  try {
    redis = await startRedis(dir, path.join(sout, 'redis.log'));
    nodes = system === 'wsd' ? await startWsdNodes(dir, redis.port, sout) : await startSioNodes(dir, redis.port, sout);

    const base = process.hrtime.bigint();
    const now = () => Number(process.hrtime.bigint() - base);
    kids = forkClients(cfg.procs);
    await Promise.all(kids.map((k) => ask(k, null, 'up', 10000)));
    const share = (total, i) => Math.floor(total / cfg.procs) + (i < total % cfg.procs ? 1 : 0);
    const readies = await Promise.all(kids.map((k, i) => ask(k, {
      cmd: 'start', system, urls: nodes.urls, base: String(base), perNode: [share(cfg.subs, i), share(cfg.subs, i)],
    }, 'ready', 120000)));
    const connected = [0, 1].map((n) => readies.reduce((a, m) => a + m.connected[n], 0));
    r.connected_a = connected[0];
    r.connected_b = connected[1];
    r.connect_failed = readies.reduce((a, m) => a + Math.max(0, m.failed), 0);
    const fails = readies.flatMap((m) => m.failures);
    if (fails.length) console.error(`  ${tag}: connect failures, first: ${fails[0]}`);
    const subs = connected[0] + connected[1];
    if (subs === 0) throw new Error('no subscriber connected');

    for (let n = 0; n < 2; n++) pubs.push(await connectClient(system, nodes.urls[n], false, () => {}));
    let pubClosed = 0;
    for (const ws of pubs) ws.on('close', () => pubClosed++);

    // The probe: one publish from each node; every subscriber must get both.
    for (let n = 0; n < 2; n++) pubs[n].send(publishFrame(system, { p: 1, t: now(), i: -1 - n }));
    const probeDeadline = Date.now() + 10000;
    let probes = [0, 0];
    while (Date.now() < probeDeadline) {
      const c = await Promise.all(kids.map((k) => ask(k, { cmd: 'query' }, 'counts', 5000)));
      probes = [0, 1].map((n) => c.reduce((a, m) => a + m.probes[n], 0));
      if (probes[0] >= 2 * connected[0] && probes[1] >= 2 * connected[1]) break;
      await sleep(50);
    }
    r.probe_a = `${probes[0]}/${2 * connected[0]}`;
    r.probe_b = `${probes[1]}/${2 * connected[1]}`;

    // Publish at the rate; measure in [wStart, wEnd).
    const t0 = now();
    const wStart = t0 + cfg.warm * 1e9;
    const wEnd = wStart + cfg.secs * 1e9;
    for (const k of kids) k.send({ cmd: 'window', start: wStart, end: wEnd });
    let sent = 0;
    let measured = 0;
    let cpu0 = null;
    let cpu1 = null;
    let host0 = null;
    let host1 = null;
    let selfCpu0 = null;
    let selfCpu1 = null;
    let pids = [];
    let lag = 0;
    const kidPids = kids.map((k) => k.pid);
    await new Promise((resolve) => {
      const tick = () => {
        const t = now();
        if (cpu0 === null && t >= wStart) {
          pids = [...nodes.pids(), ...redis.pids()];
          cpu0 = cpuOf([...pids, ...kidPids]);
          host0 = hostBusy();
          selfCpu0 = process.cpuUsage();
          r.cpu_t0 = t;
        }
        if (t >= wEnd) {
          cpu1 = cpuOf([...pids, ...kidPids]);
          host1 = hostBusy();
          selfCpu1 = process.cpuUsage(selfCpu0);
          r.cpu_t1 = t;
          clearInterval(iv);
          resolve();
          return;
        }
        const due = Math.floor(((t - t0) / 1e9) * cfg.rate);
        if (due - sent > lag) lag = due - sent;
        while (sent < due) {
          const ts = now();
          const m = ts >= wStart && ts < wEnd ? 1 : 0;
          pubs[sent % 2].send(publishFrame(system, { t: ts, i: sent, m }));
          sent++;
          measured += m;
        }
      };
      const iv = setInterval(tick, 1);
    });
    const expected = [measured * connected[0], measured * connected[1]];

    // Wait for the measured publishes' last deliveries.
    const drainDeadline = Date.now() + cfg.drain * 1000;
    for (;;) {
      const c = await Promise.all(kids.map((k) => ask(k, { cmd: 'query' }, 'counts', 5000)));
      const got = [0, 1].map((n) => c.reduce((a, m) => a + m.measured[n], 0));
      if ((got[0] >= expected[0] && got[1] >= expected[1]) || Date.now() > drainDeadline) break;
      await sleep(100);
    }
    const fin = await Promise.all(kids.map((k) => ask(k, { cmd: 'final' }, 'final', 10000)));
    const hist = new Float64Array(HBUCKETS);
    let latCount = 0;
    let latMax = 0;
    for (const f of fin) {
      for (const [i, c] of f.hist) hist[i] += c;
      latCount += f.latCount;
      latMax = Math.max(latMax, f.latMax);
    }
    const delivered = [0, 1].map((n) => fin.reduce((a, m) => a + m.measured[n], 0));
    const sample = (fin.find((f) => f.sample) || {}).sample;
    const tl = {};
    for (const f of fin) for (const [k, v] of Object.entries(f.secMax)) tl[k] = Math.max(tl[k] || 0, v);
    fs.writeFileSync(path.join(sout, 'timeline.txt'), `# each tenth of a second from the first publish (s; by publish time, the window starts at the warm-up), worst publish-to-delivery latency of its publishes (ms)\n${Object.keys(tl).map(Number).sort((a, b) => a - b).map((k) => `${Math.max(0, (k * 1e8 - t0) / 1e9).toFixed(1)} ${(tl[k] / 1e6).toFixed(2)}`).join('\n')}\n`);
    if (sample) fs.writeFileSync(path.join(sout, 'delivery.txt'), `${sample}\n`);
    const inWindow = fin.reduce((a, m) => a + m.inWindow, 0);
    const winSecs = (r.cpu_t1 - r.cpu_t0) / 1e9;
    const serverCpu = pids.reduce((a, p) => a + (cpu1[p] - cpu0[p]), 0);
    const redisCpu = redis.pids().reduce((a, p) => a + (cpu1[p] - cpu0[p]), 0);
    const clientCpu = kidPids.reduce((a, p) => a + (cpu1[p] - cpu0[p]), 0) + (selfCpu1.user + selfCpu1.system) / 1e6;
    const busy = 1 - (host1.idle - host0.idle) / Math.max(1, host1.total - host0.total);

    Object.assign(r, {
      subs,
      rate: cfg.rate,
      secs: fmt(winSecs, 4),
      publishes: measured,
      expected: expected[0] + expected[1],
      delivered: delivered[0] + delivered[1],
      delivered_a: `${delivered[0]}/${expected[0]}`,
      delivered_b: `${delivered[1]}/${expected[1]}`,
      lost: expected[0] + expected[1] - delivered[0] - delivered[1],
      deliveries_per_s: Math.round(inWindow / winSecs),
      server_cpu_s: fmt(serverCpu, 4),
      redis_cpu_s: fmt(redisCpu, 4),
      cpu_us_per_delivery: fmt((serverCpu * 1e6) / inWindow),
      lat_p50_ms: fmt(hquantile(hist, latCount, 0.5) / 1e6),
      lat_p99_ms: fmt(hquantile(hist, latCount, 0.99) / 1e6),
      lat_max_ms: fmt(latMax / 1e6),
      cpu_split: [...nodes.roles(), ['redis', redis.child.pid]].map(([k, p]) => `${k}:${fmt(cpu1[p] - cpu0[p], 3)}`).join(','),
      client_cpu_s: fmt(clientCpu, 4),
      host_busy: fmt(busy, 2),
      publish_lag_max: lag,
      delivery_bytes: sample ? Buffer.byteLength(sample) : 0,
      subscribers_closed: fin.reduce((a, m) => a + m.closed, 0),
      publisher_closed: pubClosed,
      pids: nodes.detail() + `,redis:${redis.child.pid}`,
    });
    delete r.cpu_t0;
    delete r.cpu_t1;
    return r;
  } finally {
    for (const ws of pubs) ws.terminate();
    await stopClients(kids);
    if (nodes) await nodes.stop();
    if (redis) await redis.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    tmpDirs.delete(dir);
    await sleep(300); // let the sockets' last packets settle
  }
}

const line = (o) => Object.entries(o).map(([k, v]) => `${k}=${v}`).join(' ');

function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const h = Math.floor(v.length / 2);
  return v.length % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

function table(results, systems) {
  const rows = [
    ['deliveries/s (higher is better)', 'deliveries_per_s', 0],
    ['server CPU per delivery, us (lower is better)', 'cpu_us_per_delivery', 3],
    ['  of which redis-server, us', 'redis_us_per_delivery', 3],
    ['publish-to-delivery p50, ms (lower is better)', 'lat_p50_ms', 3],
    ['publish-to-delivery p99, ms (lower is better)', 'lat_p99_ms', 3],
    ['delivered / expected', 'delivered_frac', 4],
    ['load generator CPU, s', 'client_cpu_s', 3],
    ['machine busy (both cores)', 'host_busy', 2],
  ];
  const med = {};
  for (const s of systems) {
    const rs = results.filter((x) => x.system === s);
    med[s] = {};
    for (const [, key] of rows) {
      med[s][key] = median(rs.map((x) => {
        if (key === 'delivered_frac') return x.delivered / x.expected;
        if (key === 'redis_us_per_delivery') return (Number(x.redis_cpu_s) * 1e6) / (x.deliveries_per_s * Number(x.secs));
        return Number(x[key]);
      }));
    }
  }
  const two = systems.includes('wsd') && systems.includes('socketio');
  const head = ['measure (median of rounds)', ...systems, ...(two ? ['wsd/socketio'] : [])];
  const body = rows.map(([label, key, d]) => {
    const cells = systems.map((s) => {
      const v = med[s][key];
      return Number.isFinite(v) ? (d === 0 ? Math.round(v).toLocaleString('en-US') : String(fmt(v, Math.max(3, d)))) : 'n/a';
    });
    if (two) {
      const q = med.wsd[key] / med.socketio[key];
      cells.push(Number.isFinite(q) ? q.toFixed(2) : 'n/a');
    }
    return [label, ...cells];
  });
  const md = [
    `| ${head.join(' | ')} |`,
    `|---|${head.slice(1).map(() => '---:').join('|')}|`,
    ...body.map((r) => `| ${r.join(' | ')} |`),
  ];
  return md.join('\n');
}

function describeMachine(cfg) {
  const cpus = os.cpus();
  let rev = '?';
  try {
    // The binary's own build revision (wsd -V: "wsd 0.1.0 (git REV)"), not the checkout's.
    const v = childProcess.execFileSync(WSD_BIN, ['-V']).toString().split('\n')[0];
    rev = (v.match(/\(git ([^)]+)\)/) || [])[1] || v;
  } catch {
    /* missing */
  }
  const ver = (p) => {
    try {
      return JSON.parse(fs.readFileSync(path.join(SIO_DIR, 'node_modules', p, 'package.json'), 'utf8')).version;
    } catch {
      return '?';
    }
  };
  let redisVer = '?';
  try {
    redisVer = (childProcess.execFileSync(REDIS_SERVER, ['--version']).toString().match(/v=(\S+)/) || [])[1] || '?';
  } catch {
    /* missing */
  }
  return [
    `machine: ${cpus.length} cores, ${cpus[0] ? cpus[0].model : '?'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, Linux ${os.release()}, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`,
    `software: wsd ${rev} (2 nodes, 1 worker each, engine redis), socket.io ${ver('socket.io')} + @socket.io/redis-adapter ${ver('@socket.io/redis-adapter')} + redis ${ver('redis')} (2 nodes), redis-server ${redisVer}, node ${process.version}, ws ${JSON.parse(fs.readFileSync(path.join(root, 'tests/node_modules/ws/package.json'), 'utf8')).version} (load generator)`,
    `sizes: ${cfg.subs} subscribers per node, ${cfg.rate} publishes/s alternating nodes, ${cfg.warm} s warm-up, ${cfg.secs} s measured, ${cfg.rounds} round(s), ${cfg.procs} client process(es)`,
  ].join('\n');
}

async function main() {
  const cfg = {
    subs: Math.floor(num('CLUSTER_SUBS', 200)),
    rate: num('CLUSTER_RATE', 100),
    secs: num('CLUSTER_SECS', 15),
    warm: num('CLUSTER_WARM', 2.5),
    drain: num('CLUSTER_DRAIN', 5),
    rounds: Math.max(1, Math.floor(num('CLUSTER_ROUNDS', 3))),
    procs: Math.max(1, Math.floor(num('CLUSTER_PROCS', 2))),
  };
  const systems = (process.env.CLUSTER_SYSTEMS || 'wsd socketio').split(/[\s,]+/).filter(Boolean);
  for (const s of systems) if (s !== 'wsd' && s !== 'socketio') throw new Error(`CLUSTER_SYSTEMS: unknown system ${s}`);

  if (systems.includes('wsd') && !fs.existsSync(WSD_BIN)) {
    console.error(`cluster: ${WSD_BIN} is missing: make`);
    const b = childProcess.spawnSync('make', [], { cwd: root, stdio: 'inherit' });
    if (b.status !== 0 || !fs.existsSync(WSD_BIN)) throw new Error('make failed');
  }
  if (!fs.existsSync(REDIS_SERVER)) throw new Error(`${REDIS_SERVER} is missing: scripts/install-deps.sh installs redis-server`);
  if (systems.includes('socketio') && !fs.existsSync(path.join(SIO_DIR, 'node_modules/socket.io'))) {
    console.error('cluster: npm ci in bench/cluster');
    const b = childProcess.spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--silent'], { cwd: SIO_DIR, stdio: 'inherit' });
    if (b.status !== 0) throw new Error('npm ci in bench/cluster failed');
  }

  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const out = path.join(root, 'bench/out', `cluster-${stamp}`);
  fs.mkdirSync(out, { recursive: true });
  const resultsFile = path.join(out, 'results.txt');
  const head = describeMachine(cfg);
  console.log(head);
  fs.writeFileSync(resultsFile, `${head}\n`);

  const results = [];
  for (let round = 1; round <= cfg.rounds; round++) {
    const order = round % 2 ? systems : [...systems].reverse();
    for (const system of order) {
      let r;
      try {
        r = await runOne(system, round, cfg, out);
      } catch (e) {
        r = { round, system, error: JSON.stringify(String(e.message || e)) };
      }
      const l = line(r);
      console.log(l);
      fs.appendFileSync(resultsFile, `${l}\n`);
      if (!r.error) results.push(r);
    }
  }
  const t = table(results, systems);
  console.log(`\n${t}`);
  fs.writeFileSync(path.join(out, 'table.md'), `${head}\n\n${t}\n`);
  console.log(`\nraw lines, table and logs: ${path.relative(process.cwd(), out) || out}`);
}

if (process.argv[2] === '--subs') {
  runSubs();
} else {
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      console.error(`cluster: ${sig}, stopping everything`);
      killAll();
      process.exit(130);
    });
  }
  process.on('uncaughtException', (e) => {
    console.error(`cluster: ${e.stack || e}`);
    killAll();
    process.exit(1);
  });
  main().then(
    () => {
      killAll();
      process.exit(0);
    },
    (e) => {
      console.error(`cluster: ${e.stack || e}`);
      killAll();
      process.exit(1);
    },
  );
}
