// Idle memory per connection: wsd against a node `ws` server, same run.
//
//   node bench/idle_mem.js [CONNECTIONS]      (default 10000)
//
// Starts each server on loopback, samples the proportional set size (PSS,
// /proc/PID/smaps_rollup) of all its processes, opens CONNECTIONS idle
// WebSocket connections from 127.0.0.2-127.0.0.41 (so ephemeral ports never
// run out), waits until the server counts them all, samples again, and
// prints bytes per connection for each server and the ratio wsd/peer.
// Kernel socket memory is not included (it is the same for both). The
// clients run in this process; every process started here is killed by
// PID at the end.
'use strict';
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const WebSocket = require(path.join(__dirname, '../tests/node_modules/ws'));

const N = parseInt(process.argv[2] || '10000', 10);
const root = path.join(__dirname, '..');
const children = [];
process.on('exit', () => { for (const c of children) { try { process.kill(c.pid, 'SIGKILL'); } catch (e) { /* gone */ } } });

function pss(pid) {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? parseInt(m[1], 10) * 1024 : 0;
  } catch (e) { return 0; }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function freePort() {
  return new Promise((res) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
}

async function openAll(url, n) {
  const socks = [];
  let open = 0;
  const batch = 500;
  for (let i = 0; i < n; i += batch) {
    const ps = [];
    for (let j = i; j < Math.min(n, i + batch); j++) {
      ps.push(new Promise((res, rej) => {
        const ws = new WebSocket(url, { localAddress: `127.0.0.${2 + (j % 40)}`, perMessageDeflate: false });
        ws.on('open', () => { open++; res(); });
        ws.on('error', rej);
        ws.on('message', () => {});
        socks.push(ws);
      }));
    }
    await Promise.all(ps);
  }
  return { socks, open };
}

async function measure(name, start, count, pids) {
  const srv = await start();
  await sleep(500);
  const before = pids(srv).reduce((a, p) => a + pss(p), 0);
  const { socks } = await openAll(srv.url, N);
  for (let t = 0; t < 100 && (await count(srv)) < N; t++) await sleep(100);
  await sleep(parseInt(process.env.BENCH_SETTLE_MS || "1500", 10)); // let per-connection timers and stats settle
  const after = pids(srv).reduce((a, p) => a + pss(p), 0);
  if (process.env.BENCH_VERBOSE) for (const p of pids(srv)) console.log(`  pid ${p}: ${(pss(p) / 1048576).toFixed(1)} MB`);
  for (const s of socks) s.terminate();
  srv.stop();
  await sleep(300);
  const per = (after - before) / N;
  console.log(`${name.padEnd(10)} ${N} connections: PSS ${(before / 1048576).toFixed(1)} MB -> ${(after / 1048576).toFixed(1)} MB, ${per.toFixed(0)} bytes/connection`);
  return per;
}

async function startWsd() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsd-bench-'));
  const port = await freePort();
  const conf = path.join(dir, 'wsd.conf');
  fs.writeFileSync(conf, `listen = "127.0.0.1:${port}";\nrun_dir = "${dir}";\nadmin_listen = "";\nworkers = 2;\nlog_level = "warn";\nlimits = { max_connections_per_user = 0; max_connections_per_address = 0; rate_msgs = 0; ${process.env.BENCH_LIMITS || ""} };\n`);
  const p = spawn(process.env.WSD_BIN || path.join(root, 'bin/wsd'), ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(p);
  const ctl = (args) => JSON.parse(execFileSync(process.env.WSCTL_BIN || path.join(root, 'bin/wsctl'), ['-s', path.join(dir, 'wsctl.sock'), '--json', ...args]).toString());
  for (let i = 0; i < 50; i++) { await sleep(100); try { const s = ctl(['status']); if (s.workers_ready === s.workers_total) break; } catch (e) { /* starting */ } }
  const workers = ctl(['workers']).workers.map((w) => w.pid);
  return { url: `ws://127.0.0.1:${port}/ws`, ctl, pids: [p.pid, ...workers], stop: () => { p.kill('SIGTERM'); fs.rmSync(dir, { recursive: true, force: true }); } };
}

async function startNode() {
  const port = await freePort();
  const src = `const {WebSocketServer}=require(${JSON.stringify(path.join(root, 'tests/node_modules/ws'))});` +
    `const w=new WebSocketServer({host:'127.0.0.1',port:${port},perMessageDeflate:false});` +
    `w.on('connection',s=>s.on('message',d=>s.send(d)));process.on('message',()=>process.send(w.clients.size));`;
  const p = spawn(process.execPath, ['-e', src], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  children.push(p);
  await sleep(300);
  const count = () => new Promise((r) => { p.once('message', r); p.send(0); });
  return { url: `ws://127.0.0.1:${port}/`, count, pids: [p.pid], stop: () => p.kill('SIGKILL') };
}

(async () => {
  console.log(`idle memory per connection, ${os.cpus().length} cores, ${new Date().toISOString()}`);
  const w = await measure('wsd', startWsd, async (s) => s.ctl(['status']).connections, (s) => s.pids);
  const n = await measure('node ws', startNode, (s) => s.count(), (s) => s.pids);
  console.log(`ratio wsd/node-ws: ${(w / n).toFixed(3)}`);
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
