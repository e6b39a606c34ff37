'use strict';
/*
 * Noisy neighbours, measured (bench/README.md, "Noisy neighbours"): one
 * wsd worker, QUIET subscribers of a room that a publisher feeds every
 * 10 ms with a timestamp, and the delivery latency they see (p50, p99)
 * in four phases of PHASE_MS each:
 *
 *   quiet    nothing else;
 *   flood    one more client sends pings as fast as it can (flow control
 *            pauses it, then 4002);
 *   stalled  a subscriber of another room stops reading while a second
 *            publisher sends that room 1 KB messages (2,000 a second)
 *            until it is closed (4001, the default policy);
 *   fed      one subscriber of a drop_oldest room stops reading while
 *            100 MB are published to it (it stays, its queue capped).
 *
 * Each phase's p99 is reported against the quiet phase's (a ratio, in the
 * same run), with the worker's and the supervisor's RSS. Loopback only;
 * it stops by itself. Usage: node bench/noisy.js [BIN]  (BIN: bin/wsd).
 */

const childProcess = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require(require.resolve('ws', { paths: [path.join(__dirname, '..', 'tests')] }));

const BIN = process.argv[2] || path.join(__dirname, '..', 'bin', 'wsd');
const QUIET = 50;
const PHASE_MS = 5000;
const FED_BYTES = 100 << 20;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function rssKb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch (_) {
    return 0;
  }
}

function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('message', () => resolve(ws));
    ws.once('error', reject);
  });
}

async function subscribe(ws, room) {
  ws.send(JSON.stringify({ type: 'subscribe', room }));
  await new Promise((resolve) => {
    const on = (d) => {
      if (JSON.parse(d.toString()).type === 'subscribed') {
        ws.off('message', on);
        resolve();
      }
    };
    ws.on('message', on);
  });
}

/* A noisy client in a process of its own, so that its work does not
 * delay the quiet clients' event loop here; killed at the phase's end. */
function spawnNoise(url, code) {
  const wsPath = require.resolve('ws', { paths: [path.join(__dirname, '..', 'tests')] });
  return childProcess.spawn(process.execPath, ['-e', `const W=require(${JSON.stringify(wsPath)});const url=${JSON.stringify(url)};${code}`], {
    stdio: 'ignore',
  });
}

function pct(v, p) {
  if (v.length === 0) return NaN;
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsd-noisy-'));
  const port = await freePort();
  const conf = path.join(dir, 'wsd.conf');
  fs.writeFileSync(
    conf,
    `listen = "127.0.0.1:${port}";\nrun_dir = "${dir}/run";\nadmin_listen = "";\nworkers = 1;\nlog_level = "warn";\n` +
      `room_policies = [ "fed=drop_oldest" ];\nlimits = { rate_grace_ms = 2000; rate_msgs = 200; rate_msgs_burst = 400; };\n`,
  );
  const wsd = childProcess.spawn(BIN, ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `ws://127.0.0.1:${port}/ws`;
  let workerPid = 0;
  for (let i = 0; i < 100 && !workerPid; i++) {
    await sleep(50);
    try {
      const out = childProcess.execFileSync('pgrep', ['-P', String(wsd.pid)], { encoding: 'utf8' }).trim();
      workerPid = Number(out.split('\n')[0]) || 0;
    } catch (_) {
      /* not yet */
    }
  }
  await sleep(300);
  const lat = [];
  const subs = [];
  for (let i = 0; i < QUIET; i++) {
    const ws = await open(url);
    await subscribe(ws, 'q');
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      if (m.type === 'message' && m.room === 'q') lat.push(Date.now() - m.data.t);
    });
    subs.push(ws);
  }
  const pub = await open(url);
  const tick = setInterval(() => pub.send(JSON.stringify({ type: 'publish', room: 'q', data: { t: Date.now() } })), 10);
  const results = [];
  const phase = async (name, start, stop) => {
    const extra = start ? await start() : null;
    lat.length = 0;
    await sleep(PHASE_MS);
    const r = { name, p50: pct(lat, 50), p99: pct(lat, 99), n: lat.length, worker_kb: rssKb(workerPid), supervisor_kb: rssKb(wsd.pid) };
    if (stop) await stop(extra);
    results.push(r);
  };
  await phase('quiet');
  await phase(
    'flood',
    async () =>
      spawnNoise(
        url,
        `const f=new W(url);const p=JSON.stringify({type:'ping'});f.on('open',function b(){if(f.readyState!==1)return;for(let i=0;i<500;i++)f.send(p);setImmediate(b);});f.on('close',()=>process.exit(0));`,
      ),
    (child) => child.kill('SIGKILL'),
  );
  await phase(
    'stalled',
    async () => {
      const s = await open(url);
      await subscribe(s, 's');
      s._socket.pause();
      const p2 = await open(url);
      const pad = 'x'.repeat(1000);
      const feed = setInterval(() => {
        for (let i = 0; i < 20; i++) p2.send(JSON.stringify({ type: 'publish', room: 's', data: { t: Date.now(), pad } }));
      }, 10);
      return { s, p2, feed };
    },
    (x) => {
      clearInterval(x.feed);
      x.s.terminate();
      x.p2.terminate();
    },
  );
  await phase(
    'fed',
    async () => {
      const s = await open(url);
      await subscribe(s, 'fed');
      s._socket.pause();
      const child = spawnNoise(
        url,
        `const p=new W(url);const m=JSON.stringify({type:'publish',room:'fed',data:{pad:'y'.repeat(60000)}});let sent=0;p.on('open',()=>{const t=setInterval(()=>{for(let i=0;i<10&&sent<${FED_BYTES};i++,sent+=60000)p.send(m);if(sent>=${FED_BYTES})clearInterval(t);},5);});`,
      );
      return { s, child };
    },
    (x) => {
      x.child.kill('SIGKILL');
      x.s.terminate();
    },
  );
  clearInterval(tick);
  const quiet = results[0];
  console.log('phase    deliveries  p50 ms  p99 ms  p99/quiet  worker RSS MB  supervisor RSS MB');
  for (const r of results)
    console.log(
      `${r.name.padEnd(8)} ${String(r.n).padStart(10)}  ${String(r.p50).padStart(6)}  ${String(r.p99).padStart(6)}  ${(r.p99 / quiet.p99).toFixed(2).padStart(9)}  ${(r.worker_kb / 1024).toFixed(1).padStart(13)}  ${(r.supervisor_kb / 1024).toFixed(1).padStart(17)}`,
    );
  for (const ws of [...subs, pub]) ws.terminate();
  wsd.kill('SIGTERM');
  await new Promise((r) => wsd.once('exit', r));
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
