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
 * The four phases run ROUNDS times (default 3); each phase's median p99
 * is reported against the quiet phase's (a ratio, in the same run), with
 * the worker's and the supervisor's RSS. The noisy clients run in
 * processes of their own at nice NOISY_NICE (default 19): they stand for
 * clients on other machines, whose CPU is not this host's, so that the
 * figures say what the noise costs wsd and its other clients rather than
 * how the kernel shares 2 cores with the load generator. NOISY_NICE=0
 * runs them as peers of everything else. Loopback only; it stops by
 * itself. Usage: [ROUNDS=N] [NOISY_NICE=N] node bench/noisy.js [BIN].
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
const ROUNDS = Number(process.env.ROUNDS || 3);
const NICE = Number(process.env.NOISY_NICE ?? 19);

/* Milliseconds with a fraction: the publisher and the subscribers share
 * this process, so one clock serves both ends. */
const now = () => performance.timeOrigin + performance.now();

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

/* CPU milliseconds (user + system) pid has used so far. */
function cpuMs(pid) {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; /* USER_HZ is 100 on Linux */
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
 * delay the quiet clients' event loop here. It connects as p, says
 * "ready", and runs code (its noise) when go() is called: the phase is
 * measured from then, so starting a process here is not part of it.
 * Killed at the phase's end. */
async function spawnNoise(url, code) {
  const wsPath = require.resolve('ws', { paths: [path.join(__dirname, '..', 'tests')] });
  const js =
    `const W=require(${JSON.stringify(wsPath)});const p=new W(${JSON.stringify(url)});` +
    `p.on('open',()=>{process.stdin.once('data',()=>{${code}});process.stdout.write('ready');});` +
    `p.on('close',()=>process.exit(0));p.on('error',()=>process.exit(1));`;
  const child = childProcess.spawn('nice', ['-n', String(NICE), process.execPath, '-e', js], { stdio: ['pipe', 'pipe', 'ignore'] });
  await new Promise((resolve, reject) => {
    child.stdout.once('data', resolve);
    child.once('exit', () => reject(new Error('a noisy client did not connect')));
  });
  child.go = () => child.stdin.write('go');
  return child;
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
      if (m.type === 'message' && m.room === 'q') lat.push(now() - m.data.t);
    });
    subs.push(ws);
  }
  const pub = await open(url);
  const tick = setInterval(() => pub.send(JSON.stringify({ type: 'publish', room: 'q', data: { t: now() } })), 10);
  const results = [];
  const phase = async (name, start, stop) => {
    const extra = start ? await start() : null;
    lat.length = 0;
    const cpu0 = [cpuMs(workerPid), cpuMs(wsd.pid)];
    if (extra && extra.child) extra.child.go();
    await sleep(PHASE_MS);
    const cpu = [cpuMs(workerPid) - cpu0[0], cpuMs(wsd.pid) - cpu0[1]];
    const r = { name, p50: pct(lat, 50), p99: pct(lat, 99), n: lat.length, worker_cpu: cpu[0], supervisor_cpu: cpu[1], worker_kb: rssKb(workerPid), supervisor_kb: rssKb(wsd.pid) };
    if (stop) await stop(extra);
    await sleep(1000); /* what the noise left behind settles */
    results.push(r);
  };
  for (let round = 0; round < ROUNDS; round++) {
    await phase('quiet');
    await phase(
      'flood',
      async () => ({
        child: await spawnNoise(url, `const m=JSON.stringify({type:'ping'});(function b(){if(p.readyState!==1)return;if(p.bufferedAmount<(1<<20))for(let i=0;i<500;i++)p.send(m);setImmediate(b);})();`),
      }),
      (x) => x.child.kill('SIGKILL'),
    );
    await phase(
      'stalled',
      async () => {
        const s = await open(url);
        await subscribe(s, 's');
        s._socket.pause();
        const child = await spawnNoise(
          url,
          `const m=JSON.stringify({type:'publish',room:'s',data:{pad:'x'.repeat(1000)}});setInterval(()=>{for(let i=0;i<20;i++)p.send(m);},10);`,
        );
        return { s, child };
      },
      (x) => {
        x.child.kill('SIGKILL');
        x.s.terminate();
      },
    );
    await phase(
      'fed',
      async () => {
        const s = await open(url);
        await subscribe(s, 'fed');
        s._socket.pause();
        const child = await spawnNoise(
          url,
          `const m=JSON.stringify({type:'publish',room:'fed',data:{pad:'y'.repeat(60000)}});let sent=0;const t=setInterval(()=>{for(let i=0;i<10&&sent<${FED_BYTES}&&p.bufferedAmount<(4<<20);i++,sent+=60000)p.send(m);if(sent>=${FED_BYTES})clearInterval(t);},5);`,
        );
        return { s, child };
      },
      (x) => {
        x.child.kill('SIGKILL');
        x.s.terminate();
      },
    );
  }
  clearInterval(tick);
  const med = (v) => pct(v, 50);
  const names = [...new Set(results.map((r) => r.name))];
  const of = (name, k) => results.filter((r) => r.name === name).map((r) => r[k]);
  const quietP99 = med(of('quiet', 'p99'));
  console.log(`${ROUNDS} rounds, noisy clients at nice ${NICE}; medians over the rounds (p99 of each round in brackets)`);
  console.log('phase    deliveries  p50 ms  p99 ms  p99/quiet  worker RSS MB  supervisor RSS MB  worker/supervisor CPU ms  p99 per round');
  for (const name of names) {
    const p99 = med(of(name, 'p99'));
    console.log(
      `${name.padEnd(8)} ${String(med(of(name, 'n'))).padStart(10)}  ${med(of(name, 'p50')).toFixed(2).padStart(6)}  ${p99.toFixed(2).padStart(6)}  ${(p99 / quietP99).toFixed(2).padStart(9)}  ${(Math.max(...of(name, 'worker_kb')) / 1024).toFixed(1).padStart(13)}  ${(Math.max(...of(name, 'supervisor_kb')) / 1024).toFixed(1).padStart(17)}  ${`${med(of(name, 'worker_cpu'))}/${med(of(name, 'supervisor_cpu'))}`.padStart(24)}  [${of(name, 'p99').map((x) => x.toFixed(2)).join(', ')}]`,
    );
  }
  for (const ws of [...subs, pub]) ws.terminate();
  wsd.kill('SIGTERM');
  await new Promise((r) => wsd.once('exit', r));
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
