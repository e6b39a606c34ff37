// `make run` end to end, browser-less: scripts/run.sh (what `make run`
// executes) is started on a copy of conf/wsd.conf whose addresses are moved
// to free ports, and the test follows what it prints: the demo page URL
// (fetched over HTTP), the WebSocket URL (a ws client joins a room and gets
// its own publish back), the admin URL (/health) and the wsctl line (run
// as printed). Everything started here is stopped by PID.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert');
const { spawn, execSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');

const root = path.join(__dirname, '..', '..');
const wsdBin = process.env.WSD_BIN || path.join(root, 'bin', 'wsd');

function freePort() {
  return new Promise((res) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
}

function get(url) {
  return new Promise((res, rej) => {
    http.get(url, (r) => {
      let body = '';
      r.on('data', (d) => { body += d; });
      r.on('end', () => res({ status: r.statusCode, type: r.headers['content-type'], body }));
    }).on('error', rej);
  });
}

describe('make run', () => {
  let proc;
  let dir;
  let out = '';
  const printed = {};

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsd-run-'));
    const [port, admin] = [await freePort(), await freePort()];
    const conf = fs.readFileSync(path.join(root, 'conf', 'wsd.conf'), 'utf8')
      .replace(/^listen = .*$/m, `listen = "127.0.0.1:${port}";`)
      .replace(/^admin_listen = .*$/m, `admin_listen = "127.0.0.1:${admin}";`)
      .replace(/^run_dir = .*$/m, `run_dir = "${dir}/run";`);
    fs.writeFileSync(path.join(dir, 'wsd.conf'), conf);
    proc = spawn(path.join(root, 'scripts', 'run.sh'), [wsdBin, path.join(dir, 'wsd.conf')],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout.on('data', (d) => { out += d; });
    proc.stderr.on('data', (d) => { out += d; });
    for (let i = 0; i < 100 && !/ready \(pid .*\n[\s\S]*ready \(pid/.test(out); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    printed.page = /demo page:\s+(\S+)/.exec(out)?.[1];
    printed.ws = /WebSocket:\s+(\S+)/.exec(out)?.[1];
    printed.admin = /admin:\s+(\S+)/.exec(out)?.[1];
    printed.wsctl = /try:\s+(.+)$/m.exec(out)?.[1];
  });

  after(async () => {
    if (proc && proc.exitCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => { proc.once('exit', r); setTimeout(r, 5000); });
      if (proc.exitCode === null) proc.kill('SIGKILL');
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('prints where to connect', () => {
    assert.ok(printed.page && printed.ws && printed.admin && printed.wsctl, `output:\n${out}`);
  });

  it('serves the demo page at the printed URL', async () => {
    const r = await get(printed.page);
    assert.equal(r.status, 200);
    assert.match(r.type, /^text\/html/);
    assert.match(r.body, /id="rooms"/);
    assert.match(r.body, /from '\/wsd-client\.js'/);
    const lib = await get(printed.page.replace(/\/?$/, '/wsd-client.js'));
    assert.equal(lib.status, 200);
    assert.match(lib.body, /wsd\.v1/);
  });

  it('answers /health at the printed admin URL', async () => {
    const r = await get(printed.admin);
    assert.equal(r.status, 200);
  });

  it('a WebSocket client at the printed URL joins a room and gets its publish', async () => {
    const ws = new WebSocket(printed.ws, 'wsd.v1');
    const got = [];
    const next = (type) => new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error(`no ${type}; got ${JSON.stringify(got)}`)), 5000);
      const check = () => {
        const m = got.find((x) => x.type === type);
        if (m) { clearTimeout(t); got.splice(got.indexOf(m), 1); res(m); } else setTimeout(check, 10);
      };
      check();
    });
    ws.on('message', (d) => got.push(JSON.parse(d)));
    await new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); });
    assert.equal(ws.protocol, 'wsd.v1');
    const welcome = await next('welcome');
    ws.send(JSON.stringify({ type: 'subscribe', room: 'lobby' }));
    assert.equal((await next('subscribed')).room, 'lobby');
    ws.send(JSON.stringify({ type: 'publish', room: 'lobby', data: { text: 'hi' }, id: 'x1' }));
    const m = await next('message');
    assert.deepEqual([m.room, m.seq, m.from, m.data.text], ['lobby', 1, welcome.user, 'hi']);
    assert.equal((await next('ack')).seq, 1);
    ws.close();
  });

  it('the printed wsctl line works', () => {
    const status = execSync(printed.wsctl.replace(/ status$/, ' --json status'), { cwd: root }).toString();
    const s = JSON.parse(status);
    assert.equal(s.workers_ready, 2);
    assert.equal(s.state, 'running');
  });
});
