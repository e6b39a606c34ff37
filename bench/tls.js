// TLS and compression costs: wsd against the npm `ws` server on Node's
// TLS stack, in the same run, on the same certificate.
//
//   node bench/tls.js            (about 1 minute; BENCH_TLS_SECS=N per measure,
//                                 BENCH_TLS_SERVERS="wsd node")
//
// Measures, for each server in turn (started fresh, stopped by PID):
//   - full TLS handshakes per second and per CPU-second of the server:
//     C clients (BENCH_TLS_CONC, default 16) connect, finish the TLS 1.3
//     handshake and hang up, again and again, for BENCH_TLS_SECS (5) s;
//   - resumed handshakes, the same with each client offering the session
//     ticket of its previous connection (counted only when the server
//     resumed it: TLSSocket.isSessionReused());
//   - memory per idle TLS WebSocket connection: PSS of the server's
//     processes before and after BENCH_TLS_IDLE (2000) wss:// connections,
//     and the same count of plain ws:// connections to the same server.
// The certificate is an ECDSA P-256 one made here with the openssl CLI
// for 127.0.0.1. wsd runs one worker, so both servers use one core for
// TLS; server CPU is the sum over the server's processes of
// /proc/PID/task/*/schedstat. Prints a line per figure and the ratios
// wsd/node; figures also go to bench/README.md by hand.
'use strict';
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const tls = require('tls');
const WebSocket = require(path.join(__dirname, '../tests/node_modules/ws'));

const root = path.join(__dirname, '..');
const SECS = parseFloat(process.env.BENCH_TLS_SECS || '5');
const CONC = parseInt(process.env.BENCH_TLS_CONC || '16', 10);
const IDLE = parseInt(process.env.BENCH_TLS_IDLE || '2000', 10);
const children = [];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsd-bench-tls-'));
process.on('exit', () => {
  for (const c of children) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch (e) {
      /* gone */
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function freePort() {
  return new Promise((res) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
}
function pss(pid) {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? parseInt(m[1], 10) * 1024 : 0;
  } catch (e) {
    return 0;
  }
}
/* CPU nanoseconds of every thread of pids. */
function cpuNs(pids) {
  let sum = 0;
  for (const pid of pids) {
    let tids = [];
    try {
      tids = fs.readdirSync(`/proc/${pid}/task`);
    } catch (e) {
      continue;
    }
    for (const t of tids) {
      try {
        sum += parseInt(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0], 10);
      } catch (e) {
        /* gone */
      }
    }
  }
  return sum;
}

function makeCert() {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { key, cert, ca: fs.readFileSync(cert) };
}

/* C loops of connect, handshake, hang up for SECS; resumed: offer the
 * previous session. Returns handshakes, resumed ones, server CPU ns. */
async function handshakes(port, pids, ca, resume) {
  let count = 0;
  let reused = 0;
  const deadline = Date.now() + SECS * 1000;
  const cpu0 = cpuNs(pids);
  const loop = async () => {
    let session;
    while (Date.now() < deadline) {
      await new Promise((res) => {
        const s = tls.connect({ host: '127.0.0.1', port, ca, minVersion: 'TLSv1.3', session: resume ? session : undefined, ALPNProtocols: ['http/1.1'] });
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          s.destroy();
          res();
        };
        s.on('session', (sess) => {
          session = sess;
          if (resume) finish();
        });
        s.on('secureConnect', () => {
          count++;
          if (s.isSessionReused()) reused++;
          /* A TLS 1.3 ticket comes after the handshake: wait for it
           * when the next connection is to resume. */
          if (!resume) finish();
          else setTimeout(finish, 200);
        });
        s.on('error', finish);
      });
    }
  };
  await Promise.all(Array.from({ length: CONC }, loop));
  return { count, reused, cpu: cpuNs(pids) - cpu0 };
}

async function idleMem(srv, ca) {
  const out = {};
  for (const [kind, url] of [
    ['plain', srv.wsUrl],
    ['tls', srv.wssUrl],
  ]) {
    await sleep(500);
    const before = srv.pids().reduce((a, p) => a + pss(p), 0);
    const socks = [];
    for (let i = 0; i < IDLE; i += 200) {
      const ps = [];
      for (let j = i; j < Math.min(IDLE, i + 200); j++) {
        ps.push(
          new Promise((res, rej) => {
            const ws = new WebSocket(url, { ca, localAddress: `127.0.0.${2 + (j % 40)}`, perMessageDeflate: false });
            ws.on('open', res);
            ws.on('error', rej);
            ws.on('message', () => {});
            socks.push(ws);
          }),
        );
      }
      await Promise.all(ps);
    }
    await sleep(1500);
    const after = srv.pids().reduce((a, p) => a + pss(p), 0);
    out[kind] = (after - before) / IDLE;
    for (const s of socks) s.terminate();
    await sleep(1000);
  }
  return out;
}

async function startWsd(c) {
  const d = fs.mkdtempSync(path.join(dir, 'wsd-'));
  const [port, tport] = [await freePort(), await freePort()];
  const conf = path.join(d, 'wsd.conf');
  fs.writeFileSync(
    conf,
    `listeners = ( { listen = "127.0.0.1:${port}"; }, { listen = "127.0.0.1:${tport}"; tls = { cert = "${c.cert}"; key = "${c.key}"; }; } );\n` +
      `run_dir = "${d}";\nadmin_listen = "";\nworkers = 1;\nlog_level = "warn";\n` +
      `limits = { max_connections_per_user = 0; max_connections_per_address = 0; rate_msgs = 0; connect_rate = 0; };\n`,
  );
  const p = spawn(process.env.WSD_BIN || path.join(root, 'bin/wsd'), ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(p);
  const ctl = (args) => JSON.parse(execFileSync(process.env.WSCTL_BIN || path.join(root, 'bin/wsctl'), ['-s', path.join(d, 'wsctl.sock'), '--json', ...args]).toString());
  for (let i = 0; i < 50; i++) {
    await sleep(100);
    try {
      const s = ctl(['status']);
      if (s.workers_ready === s.workers_total) break;
    } catch (e) {
      /* starting */
    }
  }
  return {
    port: tport,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    wssUrl: `wss://127.0.0.1:${tport}/ws`,
    pids: () => [p.pid, ...ctl(['workers']).workers.map((w) => w.pid)],
    stop: () => p.kill('SIGTERM'),
  };
}

async function startNode(c) {
  const [port, tport] = [await freePort(), await freePort()];
  const src =
    `const fs=require('fs'),https=require('https');const {WebSocketServer}=require(${JSON.stringify(path.join(root, 'tests/node_modules/ws'))});` +
    `const h=https.createServer({key:fs.readFileSync(${JSON.stringify(c.key)}),cert:fs.readFileSync(${JSON.stringify(c.cert)}),ALPNProtocols:['http/1.1']});` +
    `new WebSocketServer({server:h,perMessageDeflate:false}).on('connection',s=>s.on('message',d=>s.send(d)));h.listen(${tport},'127.0.0.1');` +
    `new WebSocketServer({host:'127.0.0.1',port:${port},perMessageDeflate:false}).on('connection',s=>s.on('message',d=>s.send(d)));`;
  const p = spawn(process.execPath, ['-e', src], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(p);
  await sleep(500);
  return { port: tport, wsUrl: `ws://127.0.0.1:${port}/`, wssUrl: `wss://127.0.0.1:${tport}/`, pids: () => [p.pid], stop: () => p.kill('SIGKILL') };
}

(async () => {
  console.log(`tls: ${os.cpus().length} cores, ${new Date().toISOString()}, ${CONC} clients, ${SECS} s per measure, ${IDLE} idle connections`);
  const c = makeCert();
  const res = {};
  const servers = (process.env.BENCH_TLS_SERVERS || 'wsd node').split(' ');
  for (const [name, start] of [
    ['wsd', startWsd],
    ['node', startNode],
  ].filter(([n]) => servers.includes(n))) {
    const srv = await start(c);
    const full = await handshakes(srv.port, srv.pids(), c.ca, false);
    const resumed = await handshakes(srv.port, srv.pids(), c.ca, true);
    const mem = await idleMem(srv, c.ca);
    srv.stop();
    await sleep(500);
    const r = {
      full_per_s: full.count / SECS,
      full_per_cpu_s: full.count / (full.cpu / 1e9),
      resumed_share: resumed.count ? resumed.reused / resumed.count : 0,
      resumed_per_cpu_s: resumed.reused / (resumed.cpu / 1e9),
      idle_plain_bytes: mem.plain,
      idle_tls_bytes: mem.tls,
    };
    res[name] = r;
    console.log(
      `${name.padEnd(5)} full ${r.full_per_s.toFixed(0)}/s, ${r.full_per_cpu_s.toFixed(0)} per server CPU-s; ` +
        `resumed ${(r.resumed_share * 100).toFixed(0)}% of ${resumed.count}, ${r.resumed_per_cpu_s.toFixed(0)} per server CPU-s; ` +
        `idle plain ${r.idle_plain_bytes.toFixed(0)} B, tls ${r.idle_tls_bytes.toFixed(0)} B per connection`,
    );
  }
  const w = res.wsd;
  const n = res.node;
  if (!w || !n) process.exit(0);
  console.log(
    `ratios wsd/node: full handshakes per CPU-s ${(w.full_per_cpu_s / n.full_per_cpu_s).toFixed(2)}, ` +
      `resumed per CPU-s ${(w.resumed_per_cpu_s / n.resumed_per_cpu_s).toFixed(2)}, idle TLS bytes ${(w.idle_tls_bytes / n.idle_tls_bytes).toFixed(2)}; ` +
      `wsd TLS/plain idle bytes ${(w.idle_tls_bytes / w.idle_plain_bytes).toFixed(2)}`,
  );
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
