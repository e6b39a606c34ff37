'use strict';
/*
 * A real redis-server (Debian's package, installed by
 * scripts/install-deps.sh) for the Redis engine's tests: on a free
 * loopback port, its data in a private temp dir as an append-only file
 * written through on every command, so a restart (kill -9, then start
 * again on the same dir) has every write it acknowledged. The process is
 * killed by PID with the harness's others, whatever ends the test.
 */

const childProcess = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { trackPid, freePorts, waitFor, pidAlive, sleep } = require('./harness');

const REDIS_SERVER = process.env.REDIS_SERVER || '/usr/bin/redis-server';
const REDIS_CLI = process.env.REDIS_CLI || '/usr/bin/redis-cli';

/* Does a PING on port get +PONG? */
function ping(port) {
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
      buf += d.toString('latin1');
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

async function startRedis() {
  const [port] = await freePorts(1);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsd-redis-'));
  let child = null;
  let log = '';

  async function spawnIt() {
    child = childProcess.spawn(
      REDIS_SERVER,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes',
        '--appendfsync', 'always', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning',
        /* DEBUG SLEEP makes a busy Redis for the tests (loopback only). */
        '--enable-debug-command', 'local'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    trackPid(child.pid);
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    const c = child;
    c.exited = new Promise((resolve) => c.on('exit', resolve));
    await waitFor(() => ping(port), { timeoutMs: 5000, what: `redis-server on ${port} to answer PING` }).catch((e) => {
      throw new Error(`${e.message}; log: ${log}`);
    });
  }

  await spawnIt();
  return {
    port,
    address: `127.0.0.1:${port}`,
    get pid() {
      return child.pid;
    },
    /* kill -9: no goodbye, data as its append-only file has it. */
    async kill() {
      const c = child;
      if (pidAlive(c.pid)) process.kill(c.pid, 'SIGKILL');
      await c.exited;
    },
    /* Start again on the same port and data. */
    async restart() {
      await spawnIt();
    },
    /* Redis busy (DEBUG SLEEP) for ms, from now; resolves when it is over. */
    busy(ms) {
      return new Promise((resolve) => {
        childProcess.execFile(REDIS_CLI, ['-p', String(port), 'DEBUG', 'SLEEP', String(ms / 1000)], () => resolve());
      });
    },
    /* redis-cli's output (--raw) for one command. */
    cli(...args) {
      return childProcess.execFileSync(REDIS_CLI, ['-p', String(port), '--raw', ...args], { encoding: 'utf8' });
    },
    async stop() {
      const c = child;
      if (pidAlive(c.pid)) process.kill(c.pid, 'SIGTERM');
      await Promise.race([c.exited, sleep(3000)]);
      if (pidAlive(c.pid)) process.kill(c.pid, 'SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/*
 * A TCP proxy on a free loopback port in front of redis (for the nodes
 * to connect through). freezeSubscribers() stops passing Redis's bytes
 * to every connection that has sent a SUBSCRIBE (a subscription link
 * whose path went silent: no FIN, no RST), and thaw() lets them through
 * again. close() ends it. It runs in the test's process: a test that
 * waits for a node through it must not block that process (wsctl with
 * ctlAsync, not ctl).
 */
async function startProxy(redis) {
  const [port] = await freePorts(1);
  const pairs = new Set();
  let frozen = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(redis.port, '127.0.0.1');
    const pair = { client, upstream, sub: false };
    pairs.add(pair);
    client.on('data', (d) => {
      if (/SUBSCRIBE/i.test(d.toString('latin1'))) pair.sub = true;
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!(frozen && pair.sub)) client.write(d);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    address: `127.0.0.1:${port}`,
    freezeSubscribers() {
      frozen = true;
    },
    thaw() {
      frozen = false;
    },
    subscribers() {
      return [...pairs].filter((p) => p.sub).length;
    },
    close() {
      for (const p of pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

module.exports = { startRedis, startProxy };
