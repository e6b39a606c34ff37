'use strict';
/*
 * The daemon's log (docs/logs.md): one JSON object per line by default,
 * with time, level, process, worker, pid and event first and the event's
 * fields after; or text with log_format = "text". Checked here against a
 * real daemon and real clients:
 *
 *   - rotation: after `mv wsd.log wsd.log.1` and SIGUSR1 to the
 *     supervisor, the supervisor and every worker write to a new
 *     wsd.log, and nothing more goes to the moved file;
 *   - content: a run at log_level debug with a JWT, resume tokens,
 *     publishes, a kick, a malformed frame, a refused handshake, a
 *     reload and a SIGTERM to one worker writes only lines that parse,
 *     with the documented fields and types, and none of them holds a
 *     token, the secret or a body;
 *   - the text format, and a reload that switches to it.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const {
  startWsd,
  connect,
  connectWelcomed,
  rawHttp,
  RawWs,
  mintToken,
  renderConfig,
  waitFor,
} = require('./harness');

const T = { timeout: 60000 };

const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const LEVELS = ['error', 'warn', 'info', 'debug'];
const EVENT = /^[a-z][a-z0-9_]*$/;
/* Fields that are numbers wherever they appear. */
const NUMERIC = ['conn', 'code', 'status', 'worker_pid', 'generation', 'conns', 'rooms', 'signal', 'lived_ms'];

/* Parse every line of text as a log object, asserting its shape. */
function parseJsonLog(text) {
  const lines = text.split('\n').filter((l) => l !== '');
  assert.ok(lines.length > 0, 'the daemon logged something');
  return lines.map((l) => {
    let o;
    assert.doesNotThrow(() => (o = JSON.parse(l)), `not JSON: ${l}`);
    assert.equal(typeof o, 'object', l);
    const keys = Object.keys(o);
    const head = o.process === 'worker' ? ['time', 'level', 'process', 'worker', 'pid', 'event'] : ['time', 'level', 'process', 'pid', 'event'];
    assert.deepEqual(keys.slice(0, head.length), head, `the fields a line starts with: ${l}`);
    assert.match(o.time, TIME, l);
    assert.ok(Math.abs(Date.parse(o.time) - Date.now()) < 600000, `time near now: ${l}`);
    assert.ok(LEVELS.includes(o.level), l);
    assert.ok(['supervisor', 'worker'].includes(o.process), l);
    if (o.process === 'worker') assert.ok(Number.isInteger(o.worker) && o.worker >= 0, l);
    assert.ok(Number.isInteger(o.pid) && o.pid > 0, l);
    assert.match(o.event, EVENT, l);
    assert.ok(!('msg' in o), `every field is key=value: ${l}`);
    assert.ok(!('truncated' in o), `no line is cut: ${l}`);
    for (const k of NUMERIC) if (k in o) assert.equal(typeof o[k], 'number', `${k} is a number: ${l}`);
    if (o.process === 'supervisor' && 'worker' in o) assert.equal(typeof o.worker, 'number', l);
    /* Nothing but the one line: no raw control characters. */
    assert.doesNotMatch(l, /[\x00-\x1f]/, l);
    return o;
  });
}

describe('log_file reopened on SIGUSR1', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsd-e2e-logs-'));
  const log = path.join(dir, 'wsd.log');
  let d;
  const clients = [];

  before(async () => {
    d = await startWsd({ workers: 2, config: { log_file: log } });
  });
  after(async () => {
    for (const c of clients) c.terminate();
    if (d) await d.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /* The pids that wrote lines to file. */
  const writers = (file) => new Set(parseJsonLog(fs.readFileSync(file, 'utf8')).map((o) => o.pid));

  it('the supervisor and every worker write to the new file', T, async () => {
    const workers = d.ctl(['workers']).workers.map((w) => w.pid);
    assert.equal(workers.length, 2);
    await waitFor(() => fs.existsSync(log) && writers(log).has(d.pid), { what: 'the first lines' });
    fs.renameSync(log, `${log}.1`);
    process.kill(d.pid, 'SIGUSR1');
    await waitFor(() => fs.existsSync(log), { what: 'a new wsd.log' });
    const oldSize = fs.statSync(`${log}.1`).size;
    /* A kick makes a worker log: one connection kicked on each worker. */
    const seen = new Map();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const c = await connectWelcomed(d.url);
      clients.push(c);
      const w = d.ctl(['conn', c.welcome.conn]).conn.worker;
      if (!seen.has(w)) seen.set(w, c);
    }
    assert.equal(seen.size, 2, 'connections on both workers');
    for (const c of seen.values()) {
      d.ctl(['kick', '--conn', String(c.welcome.conn)]);
      await c.waitClose(5000);
    }
    await waitFor(
      () => {
        const w = writers(log);
        return w.has(d.pid) && workers.every((p) => w.has(p));
      },
      { what: `lines of the supervisor (${d.pid}) and of workers ${workers.join(', ')} in the new file` },
    );
    const lines = parseJsonLog(fs.readFileSync(log, 'utf8'));
    assert.ok(lines.some((o) => o.pid === d.pid && o.event === 'log_reopened' && o.path === log));
    for (const p of workers) assert.ok(lines.some((o) => o.pid === p && o.event === 'kicked'), `worker ${p} logged its kick`);
    assert.equal(fs.statSync(`${log}.1`).size, oldSize, 'nothing more went to the moved file');
    /* The daemon still serves. */
    assert.equal(d.ctl(['status']).workers_ready, 2);
  });
});

describe('log content: fields, types, and no secrets', () => {
  const SECRET = 'log-test-secret-9d2b7e1f40c3';
  /* sub is a room-name-like id; hostile values are quoted (unit tests). */
  const USER = 'eve.log-user_1';
  const BODY = 'distinctive-body-5c81e0aa';
  const BODY2 = 'second-body-77ab31fe';
  let d;

  after(async () => {
    if (d) await d.stop();
  });

  it('every line parses, with the documented fields, and no token or body', T, async () => {
    d = await startWsd({ workers: 2, config: { log_level: 'debug', jwt_secret: SECRET } });
    const jwt = mintToken(SECRET, { sub: USER });
    const userUrl = `${d.url}?token=${encodeURIComponent(jwt)}`;
    const secrets = [SECRET, jwt, jwt.split('.')[2], BODY, BODY2];

    const sub = await connectWelcomed(userUrl);
    assert.equal(sub.welcome.user, USER);
    secrets.push(sub.welcome.resume_token);
    sub.send({ type: 'subscribe', room: 'logs.room' });
    await sub.next('subscribed');
    const pub = await connectWelcomed(d.url);
    secrets.push(pub.welcome.resume_token);
    pub.send({ type: 'publish', room: 'logs.room', data: BODY });
    assert.equal((await sub.nextIn('logs.room')).data, BODY);
    d.ctl(['publish', 'logs.room', JSON.stringify({ note: BODY2 })]);
    assert.deepEqual((await sub.nextIn('logs.room')).data, { note: BODY2 });

    /* Away, then resumed with its token; a second resume with the old
     * token is refused. */
    const sid = sub.welcome.conn;
    sub.ws._socket.destroy();
    await sub.waitClose(3000);
    await waitFor(() => !d.ctl(['conns']).conns.some((x) => x.id === sid), { what: 'the subscriber gone' });
    const back = await connectWelcomed(userUrl);
    back.send({ type: 'resume', token: sub.welcome.resume_token, rooms: { 'logs.room': 0 } });
    const resumed = await back.next('resumed');
    secrets.push(resumed.resume_token);
    const again = await connectWelcomed(d.url);
    again.send({ type: 'resume', token: `${sub.welcome.resume_token}x` });
    await again.nextMatching((m) => m.type === 'error' || m.type === 'resumed', 5000, 'the refusal');

    /* A kick, a malformed frame, a refused handshake. */
    d.ctl(['kick', '--conn', String(back.welcome.conn)]);
    await back.waitClose(5000);
    const rw = await RawWs.open(d.port, '/ws');
    rw.send({ opcode: 0x3, payload: Buffer.from(`{"type":"publish","data":"${BODY}"}`) });
    await rw.waitEnd(5000).catch(() => {});
    rw.destroy();
    const bad = mintToken(`${SECRET}-wrong`, { sub: 'mallory' });
    await assert.rejects(connect(`${d.url}?token=${encodeURIComponent(bad)}`), /HTTP 401/);
    secrets.push(bad);
    const junk = await rawHttp(d.port, `GET /ws HTTP/1.1\r\nHost: x\r\nUser-Agent: "evil" =\x01\r\n\r\n`);
    assert.ok(junk.status >= 400, `refused: ${junk.statusLine}`);

    /* A reload, which also rolls nothing but logs its changes. */
    fs.writeFileSync(d.confPath, renderConfig(d.base, { log_level: 'debug', jwt_secret: SECRET, heartbeat: { interval_ms: 20000 } }));
    assert.equal(d.ctlResult(['reload']).status, 0);
    await waitFor(() => /"event":"reloaded"/.test(d.log()), { what: 'the reload logged' });
    /* A SIGTERM to one worker drains it: an expected exit, at info. */
    const victim = d.ctl(['workers']).workers.find((w) => w.id === 1).pid;
    process.kill(victim, 'SIGTERM');
    await waitFor(() => d.log().includes(`"event":"worker_exit","worker":1,"worker_pid":${victim},`), { what: 'worker 1 exit logged' });
    await waitFor(() => d.ctl(['status']).workers_ready === 2, { what: 'worker 1 back' });
    for (const c of [pub, again]) c.close();
    await d.stop();

    const text = d.log();
    const lines = parseJsonLog(text);
    for (const s of secrets) assert.ok(!text.includes(s), `the log holds ${s}`);
    /* Nor a resume token's session id, nonce or MAC ("v1.KID.SID.CONN.EXP.NONCE.USER.MAC"). */
    for (const t of secrets.filter((x) => x.startsWith('v1.')))
      for (const part of t.split('.').filter((p) => p.length >= 16)) assert.ok(!text.includes(part), `the log holds ${part} of a resume token`);
    /* A JWT's header and payload are base64url; no long base64url run. */
    assert.doesNotMatch(text, /eyJ[A-Za-z0-9_-]{10,}/, 'no JWT part in the log');
    const events = new Set(lines.map((o) => o.event));
    for (const e of ['started', 'worker_ready', 'kicked', 'resumed', 'resume_refused', 'handshake_refused', 'reloaded', 'reload_change', 'config_applied', 'worker_exit', 'drained'])
      assert.ok(events.has(e), `event ${e} logged; got ${[...events].join(' ')}`);
    const r = lines.find((o) => o.event === 'resumed');
    assert.equal(r.user, USER, 'the user of the resumed session');
    assert.equal(typeof r.rooms, 'number');
    const k = lines.find((o) => o.event === 'kicked');
    assert.equal(k.conn, back.welcome.conn);
    assert.equal(k.code, 4003);
    assert.equal(k.process, 'worker');
    /* Both workers logged, and each line's worker matches its pid. */
    const slotOf = new Map();
    for (const o of lines.filter((x) => x.process === 'worker')) {
      if (slotOf.has(o.pid)) assert.equal(slotOf.get(o.pid), o.worker);
      slotOf.set(o.pid, o.worker);
    }
    assert.deepEqual([...new Set(slotOf.values())].sort(), [0, 1]);
    /* The workers stopped with the daemon: clean exits are info. */
    const exits = lines.filter((o) => o.event === 'worker_exit');
    assert.equal(exits.length, 3, 'the SIGTERMed worker, then both at the stop');
    for (const e of exits) assert.equal(e.level, 'info');
    assert.ok(!lines.some((o) => o.event === 'worker_crash'));
  });
});

describe('log_format = "text"', () => {
  const LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (error|warn|info|debug) (supervisor|worker\.\d+)\[(\d+)\] ([a-z][a-z0-9_]*)((?: [a-z0-9_.]+=(?:"(?:[^"\\]|\\.)*"|[^ "]\S*))*)$/;
  let d;

  after(async () => {
    if (d) await d.stop();
  });

  it('writes TIME LEVEL process[pid] event key=value lines, and a reload switches back', T, async () => {
    d = await startWsd({ workers: 2, config: { log_format: 'text' } });
    const c = await connectWelcomed(d.url);
    d.ctl(['kick', '--conn', String(c.welcome.conn)]);
    await c.waitClose(5000);
    await waitFor(() => / kicked conn=\d+ code=4003$/m.test(d.log()), { what: 'the kick in text' });
    const text = d.log();
    const lines = text.split('\n').filter((l) => l !== '');
    for (const l of lines) assert.match(l, LINE);
    assert.match(text, new RegExp(` info supervisor\\[${d.pid}\\] started version="[^"]+" `));
    assert.match(text, / info worker\.[01]\[\d+\] kicked conn=\d+ code=4003$/m);

    /* Live: a reload to json makes every process write JSON. */
    const before = text.length;
    fs.writeFileSync(d.confPath, renderConfig(d.base, { log_format: 'json' }));
    assert.equal(d.ctlResult(['reload']).status, 0);
    await waitFor(() => /"event":"reloaded"/.test(d.log()), { what: 'the reload in JSON' });
    const c2 = await connectWelcomed(d.url);
    d.ctl(['kick', '--conn', String(c2.welcome.conn)]);
    await c2.waitClose(5000);
    await waitFor(() => /"event":"kicked"/.test(d.log()), { what: 'a worker writing JSON' });
    const tail = d.log().slice(before).split('\n').filter((l) => l !== '');
    const json = tail.filter((l) => l.startsWith('{'));
    parseJsonLog(json.join('\n'));
    /* The reload's own text lines come first, then only JSON. */
    const firstJson = tail.findIndex((l) => l.startsWith('{'));
    for (const l of tail.slice(firstJson)) assert.ok(l.startsWith('{'), `after the switch: ${l}`);
  });
});
