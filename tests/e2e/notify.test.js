'use strict';
/*
 * sd_notify: the real wsd, started with NOTIFY_SOCKET pointing at a unix
 * datagram socket this test listens on, tells it READY=1 (with MAINPID
 * and STATUS) once every worker is ready, RELOADING=1 (with
 * MONOTONIC_USEC) and READY=1 around a reload by SIGHUP or `wsctl
 * reload`, also a refused one, READY=1 only when a reload that moves the
 * listener has rolled every worker, and STOPPING=1 when SIGTERM starts
 * the drain.
 *
 * node cannot open an AF_UNIX SOCK_DGRAM socket, so the listener is a
 * perl one-liner: perl-base (with Socket and IO::Socket::UNIX) is an
 * Essential package of Debian, present on every install. It prints each
 * datagram on one line, its newlines turned into tabs.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startWsd, waitFor, stopCleanly, freePorts } = require('./harness');

const T = { timeout: 60000 };

const SINK = `
use strict; use Socket; use IO::Socket::UNIX;
$| = 1;
my $s = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $ARGV[0]) or die "bind: $!";
print "listening\\n";
while (defined $s->recv(my $b, 65536)) { $b =~ s/\\n/\\t/g; print "$b\\n"; }
`;

/* The datagram socket, and every message it got as { KEY: VALUE }. */
function startSink(sockPath) {
  const child = childProcess.spawn('perl', ['-e', SINK, sockPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const sink = { child, msgs: [], listening: false, err: '' };
  let buf = '';
  child.stdout.on('data', (chunk) => {
    buf += chunk.toString('utf8');
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line === 'listening') {
        sink.listening = true;
        continue;
      }
      const m = {};
      for (const kv of line.split('\t')) {
        const eq = kv.indexOf('=');
        if (eq > 0) m[kv.slice(0, eq)] = kv.slice(eq + 1);
      }
      sink.msgs.push(m);
    }
  });
  child.stderr.on('data', (chunk) => (sink.err += chunk));
  return sink;
}

describe('sd_notify', () => {
  let dir, sink, d;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsd-notify-'));
    const sockPath = path.join(dir, 'notify.sock');
    sink = startSink(sockPath);
    await waitFor(() => sink.listening, { what: `the notify socket (${sink.err})` });
    d = await startWsd({ workers: 2, env: { NOTIFY_SOCKET: sockPath } });
  });
  after(async () => {
    if (d) await stopCleanly(d).catch(() => {});
    if (sink) sink.child.kill('SIGTERM');
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /* The messages after index from that have key, waited for. */
  async function next(from, key, what) {
    let i = -1;
    await waitFor(
      () => {
        i = sink.msgs.findIndex((m, j) => j >= from && m[key] === '1');
        return i >= 0;
      },
      { timeoutMs: 10000, what: `${what}; got ${JSON.stringify(sink.msgs.slice(from))}` },
    );
    return i;
  }

  it('sends READY=1 with MAINPID and STATUS once every worker is ready', T, async () => {
    const i = await next(0, 'READY', 'READY=1 at start');
    assert.equal(i, 0, 'READY=1 is the first message');
    const m = sink.msgs[i];
    assert.equal(Number(m.MAINPID), d.pid);
    assert.match(m.STATUS, /^2 workers ready; listening on ws:\/\/127\.0\.0\.1:\d+\/ws$/);
    /* Workers that die and come back do not say READY=1 again. */
    const before = sink.msgs.length;
    const w = d.workers()[0];
    process.kill(w.pid, 'SIGKILL');
    await waitFor(() => d.workers().filter((x) => x.state === 'ready' && x.pid !== w.pid).length === 2, {
      what: 'the worker restarted',
    });
    assert.equal(sink.msgs.length, before, `no message for a worker restart: ${JSON.stringify(sink.msgs.slice(before))}`);
  });

  it('sends RELOADING=1 with MONOTONIC_USEC, then READY=1, around a SIGHUP reload', T, async () => {
    const from = sink.msgs.length;
    const gen = d.ctl(['status']).generation;
    process.kill(d.pid, 'SIGHUP');
    const r = await next(from, 'RELOADING', 'RELOADING=1 after SIGHUP');
    assert.equal(r, from, 'RELOADING=1 comes first');
    assert.match(sink.msgs[r].MONOTONIC_USEC, /^\d+$/);
    /* MONOTONIC_USEC is CLOCK_MONOTONIC, the clock of /proc/uptime. */
    const up = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    assert.ok(Math.abs(Number(sink.msgs[r].MONOTONIC_USEC) / 1e6 - up) < 30, 'MONOTONIC_USEC is near the uptime');
    const y = await next(r + 1, 'READY', 'READY=1 after the reload');
    assert.equal(sink.msgs[y].STATUS, `generation ${gen + 1}`);
    assert.equal(d.ctl(['status']).generation, gen + 1);
  });

  it('sends RELOADING=1 and READY=1 for `wsctl reload`, and for a refused one', T, async () => {
    let from = sink.msgs.length;
    assert.equal(d.ctlResult(['reload']).status, 0);
    let r = await next(from, 'RELOADING', 'RELOADING=1 after wsctl reload');
    await next(r + 1, 'READY', 'READY=1 after wsctl reload');

    const good = fs.readFileSync(d.confPath, 'utf8');
    const gen = d.ctl(['status']).generation;
    fs.writeFileSync(d.confPath, `${good}\nworkers = "not a number";\n`);
    try {
      from = sink.msgs.length;
      process.kill(d.pid, 'SIGHUP');
      r = await next(from, 'RELOADING', 'RELOADING=1 for a refused reload');
      const y = await next(r + 1, 'READY', 'READY=1 for a refused reload');
      assert.equal(sink.msgs[y].STATUS, `generation ${gen}`, 'the old generation runs on');
      assert.equal(d.ctl(['status']).generation, gen);
    } finally {
      fs.writeFileSync(d.confPath, good);
    }
  });

  it('sends READY=1 after a new listener only when every worker has rolled onto it', T, async () => {
    const [port] = await freePorts(1);
    const conf = fs.readFileSync(d.confPath, 'utf8').replace(/^listen = .*$/m, `listen = "127.0.0.1:${port}";`);
    assert.notEqual(conf, fs.readFileSync(d.confPath, 'utf8'), 'the config has a listen line');
    const oldPids = d.workers().map((w) => w.pid);
    fs.writeFileSync(d.confPath, conf);
    const from = sink.msgs.length;
    process.kill(d.pid, 'SIGHUP');
    const r = await next(from, 'RELOADING', 'RELOADING=1 for the roll');
    const y = await next(r + 1, 'READY', 'READY=1 after the roll');
    /* By then no worker of before runs and the roll is logged done. */
    const pids = d.workers().map((w) => w.pid);
    assert.deepEqual(
      pids.filter((p) => oldPids.includes(p)),
      [],
      'every worker was replaced before READY=1',
    );
    assert.match(d.log(), /"event":"roll_done"/);
    assert.equal(y, r + 1, 'nothing between RELOADING=1 and READY=1');
  });

  it('sends STOPPING=1 when SIGTERM starts the drain', T, async () => {
    const from = sink.msgs.length;
    const dd = d;
    d = null;
    await stopCleanly(dd);
    const s = await next(from, 'STOPPING', 'STOPPING=1 at SIGTERM');
    assert.match(sink.msgs[s].STATUS, /^draining: \d+ connections$/);
    assert.equal(
      sink.msgs.slice(from).filter((m) => m.READY === '1').length,
      0,
      'no READY=1 after the drain began',
    );
  });
});
