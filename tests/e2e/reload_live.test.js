'use strict';
/*
 * A reload that changes the heartbeat reaches the connections already
 * open at once: with the interval cut from 20 s to 400 ms, an open
 * client gets a protocol ping within about one new interval (not when
 * its old 20 s timer fires), and is not closed (the ws client answers).
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { startWsd, connectWelcomed, renderConfig, waitFor, sleep, stopCleanly } = require('./harness');

const T = { timeout: 20000 };

describe('reload: heartbeat on open connections', () => {
  let d;

  before(async () => {
    d = await startWsd({ config: { heartbeat: { interval_ms: 20000, timeout_ms: 10000 } } });
  });
  after(async () => {
    if (d) await stopCleanly(d);
  });

  it('applies a new interval to open connections at once', T, async () => {
    const c = await connectWelcomed(d.url);
    let pings = 0;
    let firstPingAt = 0;
    c.ws.on('ping', () => {
      if (pings++ === 0) firstPingAt = Date.now();
    });
    await sleep(300);
    assert.equal(pings, 0);
    const gen = d.ctl(['status']).generation;
    fs.writeFileSync(
      d.confPath,
      renderConfig(d.base, { heartbeat: { interval_ms: 400, timeout_ms: 10000 } }),
    );
    const reloadAt = Date.now();
    assert.equal(d.ctlResult(['reload']).status, 0);
    await waitFor(() => d.ctl(['status']).generation > gen, { what: 'the new generation' });
    await waitFor(() => pings >= 1, { timeoutMs: 3000, what: 'a ping at the new interval' });
    assert.ok(firstPingAt - reloadAt < 1500, `first ping ${firstPingAt - reloadAt} ms after the reload`);
    assert.ok(c.isOpen, 'not closed');
    c.close();
  });
});

/*
 * The log follows a reload in every process: a new log_level applies to
 * the workers too, and after the file was moved away (rotation) the
 * supervisor and every worker write to a new file at the same path.
 */
describe('reload: log level and log file', () => {
  let d;

  after(async () => {
    if (d) await d.stop();
  });

  it('reopens the log in the supervisor and the workers, at the new level', T, async () => {
    const { startWsd: start } = require('./harness');
    const path = require('node:path');
    d = await start({ workers: 2, config: { log_level: 'info' } });
    const file = path.join(d.dir, 'wsd.log.file');
    fs.writeFileSync(d.confPath, renderConfig(d.base, { log_file: file }));
    assert.equal(d.ctlResult(['reload']).status, 0);
    await waitFor(() => fs.existsSync(file) && /"level":"info","process":"supervisor","pid":\d+,"event":"reloaded","generation":2,/.test(fs.readFileSync(file, 'utf8')), {
      what: 'the supervisor logging to log_file',
    });
    fs.renameSync(file, `${file}.1`);
    fs.writeFileSync(d.confPath, renderConfig(d.base, { log_file: file, log_level: 'debug' }));
    assert.equal(d.ctlResult(['reload']).status, 0);
    for (const id of [0, 1])
      await waitFor(() => fs.existsSync(file) && new RegExp(`"level":"debug","process":"worker","worker":${id},"pid":\\d+,"event":"config_applied","generation":3\\}`).test(fs.readFileSync(file, 'utf8')), {
        what: `worker ${id} logging at debug to the new file`,
      });
    assert.match(fs.readFileSync(file, 'utf8'), /"process":"supervisor","pid":\d+,"event":"reload_change","change":"log_level info -> debug: live"\}/);
    assert.doesNotMatch(fs.readFileSync(`${file}.1`, 'utf8'), /generation 3/);
  });
});

/* A heartbeat interval shorter than the pong timeout is kept: a client
 * that answers is pinged every interval, not every timeout. */
describe('heartbeat: an interval shorter than the timeout', () => {
  let d;

  after(async () => {
    if (d) await d.stop();
  });

  it('pings every interval', T, async () => {
    const { startWsd: start } = require('./harness');
    d = await start({ config: { heartbeat: { interval_ms: 200, timeout_ms: 3000 } } });
    const c = await connectWelcomed(d.url);
    let pings = 0;
    c.ws.on('ping', () => pings++);
    await sleep(1500);
    /* About 7 at 200 ms; every 3 s it would be none. */
    assert.ok(pings >= 4, `${pings} pings in 1.5 s`);
    assert.ok(c.isOpen);
    c.close();
  });
});

/* A peer that vanishes without FIN or RST (its process stopped) is out of
 * the registry within about one interval and timeout. */
describe('heartbeat: a peer that vanishes', () => {
  let d;
  let child;

  after(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    if (d) await d.stop();
  });

  it('is dropped within interval + timeout', T, async () => {
    const childProcess = require('node:child_process');
    const path = require('node:path');
    const { startWsd: start } = require('./harness');
    d = await start({ config: { heartbeat: { interval_ms: 300, timeout_ms: 300 } } });
    const wsPath = require.resolve('ws', { paths: [path.join(__dirname, '..')] });
    child = childProcess.spawn(
      process.execPath,
      ['-e', `const W=require(${JSON.stringify(wsPath)});const w=new W(process.argv[1]);w.on('message',(m)=>{console.log(JSON.parse(m).conn)});`, d.url],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const id = await new Promise((resolve) => child.stdout.once('data', (b) => resolve(Number(String(b).trim()))));
    assert.ok(d.ctl(['conns']).conns.some((x) => x.id === id));
    process.kill(child.pid, 'SIGSTOP');
    const t0 = Date.now();
    await waitFor(() => !d.ctl(['conns']).conns.some((x) => x.id === id), { timeoutMs: 5000, what: 'the stopped peer gone' });
    const ms = Date.now() - t0;
    assert.ok(ms < 3000, `gone after ${ms} ms`);
    child.kill('SIGKILL');
  });
});

/* wsctl conn and top show the last ping's round trip. */
describe('heartbeat: the round trip', () => {
  let d;

  after(async () => {
    if (d) await d.stop();
  });

  it('is measured and shown', T, async () => {
    const { startWsd: start } = require('./harness');
    d = await start({ workers: 1, config: { heartbeat: { interval_ms: 200, timeout_ms: 2000 } } });
    const c = await connectWelcomed(d.url);
    await waitFor(() => d.ctl(['conn', c.welcome.conn]).conn.rtt_ms !== null, { timeoutMs: 4000, what: 'an rtt' });
    const rtt = d.ctl(['conn', c.welcome.conn]).conn.rtt_ms;
    assert.ok(rtt >= 0 && rtt < 1000, `rtt ${rtt} ms`);
    const top = d.ctl(['top', '--by', 'rtt']);
    assert.equal(top.conns[0].id, c.welcome.conn);
    c.close();
  });
});
