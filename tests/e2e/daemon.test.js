// `wsd -d`: daemonizes (the command returns at once with status 0 and lets
// go of the caller's stdio), logs to log_file, writes
// the pidfile with the supervisor's pid, serves as usual, and on SIGTERM
// exits, takes its workers with it and removes the pidfile. The daemon is
// found and stopped through the pidfile, and killed by PID if anything
// fails.
'use strict';
const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const wsd = process.env.WSD_BIN || path.join(root, 'bin', 'wsd');
const wsctl = process.env.WSCTL_BIN || path.join(root, 'bin', 'wsctl');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch (e) { return false; } };

function freePort() {
  return new Promise((res) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
}

describe('wsd -d', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsd-daemon-'));
  const pidfile = path.join(dir, 'wsd.pid');
  const sock = path.join(dir, 'run', 'wsctl.sock');
  let pids = [];

  after(() => {
    for (const p of pids) if (alive(p)) process.kill(p, 'SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('returns at once, writes the pidfile, serves, and stops on SIGTERM', { timeout: 20000 }, async () => {
    const port = await freePort();
    const conf = path.join(dir, 'wsd.conf');
    const logFile = path.join(dir, 'wsd.log');
    fs.writeFileSync(conf, `listen = "127.0.0.1:${port}";\nrun_dir = "${dir}/run";\n` +
      `pidfile = "${pidfile}";\nadmin_listen = "";\nlog_file = "${logFile}";\n`);
    // A daemon lets go of the caller's stdio: spawnSync returns only when
    // the pipes close, so a slow return here means a held descriptor.
    const t0 = Date.now();
    const r = spawnSync(wsd, ['-d', '-c', conf], { timeout: 5000, stdio: ['ignore', 'pipe', 'pipe'] });
    assert.ok(Date.now() - t0 < 2000, `wsd -d returned after ${Date.now() - t0} ms`);
    assert.equal(r.status, 0, `wsd -d exited ${r.status}: ${r.stderr}`);
    for (let i = 0; i < 50 && !fs.existsSync(pidfile); i++) await sleep(100);
    const pid = parseInt(fs.readFileSync(pidfile, 'utf8'), 10);
    pids.push(pid);
    assert.ok(alive(pid), `pid ${pid} from the pidfile is alive`);
    let status;
    for (let i = 0; i < 50; i++) {
      try {
        status = JSON.parse(execFileSync(wsctl, ['-s', sock, '--json', 'status']).toString());
        if (status.workers_ready === status.workers_total) break;
      } catch (e) { /* starting */ }
      await sleep(100);
    }
    assert.equal(status.workers_ready, 2);
    const workers = JSON.parse(execFileSync(wsctl, ['-s', sock, '--json', 'workers']).toString()).workers.map((w) => w.pid);
    pids = pids.concat(workers);
    assert.match(fs.readFileSync(logFile, 'utf8'), /"event":"worker_ready","worker":1,/, 'the log goes to log_file');
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 50 && (alive(pid) || workers.some(alive)); i++) await sleep(100);
    assert.ok(!alive(pid), 'the supervisor exited');
    assert.deepEqual(workers.filter(alive), [], 'no worker left');
    assert.ok(!fs.existsSync(pidfile), 'the pidfile is removed');
  });
});
