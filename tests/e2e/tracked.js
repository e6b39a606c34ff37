'use strict';
/*
 * Clients that must lose nothing, for the tests that take workers away
 * under traffic (a SIGKILL, a reload that rolls them): each Tracked client
 * records every room delivery across all the connections it opens; when
 * its socket closes it reconnects (to whatever url() says now), waits the
 * `reconnect_after_ms` of a `shutdown` it got (capped), and resumes with
 * its latest token and, per room, the last seq it saw and the room's
 * epoch. verdict() then says, per client and room, whether it holds
 * exactly 1..LAST in order, once each.
 */

const http = require('node:http');
const WebSocket = require('ws');
const { connectWelcomed, sleep, withTimeout } = require('./harness');

const j = (x) => JSON.stringify(x);

/* POST /api/publish; resolves with the JSON reply, rejects unless 200 and ok:true. */
function adminPublish(port, room, data) {
  return new Promise((resolve, reject) => {
    const body = j({ room, data });
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/api/publish',
        agent: false,
        timeout: 3000,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), Connection: 'close' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          let r;
          try {
            r = JSON.parse(text);
          } catch (_) {
            reject(new Error(`HTTP ${res.statusCode}, body not JSON: ${text.slice(0, 200)}`));
            return;
          }
          if (res.statusCode === 200 && r.ok === true && Number.isSafeInteger(r.seq)) resolve(r);
          else reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 3 s')));
    req.on('error', reject);
    req.end(body);
  });
}

/*
 * Publish to rooms (round robin) through the admin API at about rate
 * messages a second for durationMs, at most 8 in flight; at each turn
 * (every 5 ms) tick(elapsedMs) may act (kill a worker, reload). Resolves
 * with { acked: room -> highest seq answered, errors, sent, ms } once the
 * last publish is answered.
 */
async function publishFor(port, { rooms, rate, durationMs, tick }) {
  const acked = Object.fromEntries(rooms.map((r) => [r, 0]));
  const errors = [];
  const inflight = new Set();
  let sent = 0;
  const t0 = Date.now();
  while (Date.now() - t0 < durationMs) {
    const due = Math.floor(((Date.now() - t0) * rate) / 1000);
    while (sent < due && inflight.size < 8) {
      const room = rooms[sent % rooms.length];
      const p = adminPublish(port, room, { n: sent })
        .then((r) => {
          if (r.seq > acked[room]) acked[room] = r.seq;
        })
        .catch((e) => errors.push(e.message))
        .finally(() => inflight.delete(p));
      inflight.add(p);
      sent++;
    }
    if (tick) await tick(Date.now() - t0);
    await sleep(5);
  }
  await withTimeout(Promise.all([...inflight]), 5000, 'the last publishes');
  return { acked, errors, sent, ms: Date.now() - t0 };
}

/* One simulated client, across all the connections it opens. */
class Tracked {
  /* url: () => the URL to connect to now; rooms: its rooms; label: for messages. */
  constructor(i, { url, rooms, label = '' }) {
    this.i = i;
    this.url = url;
    this.label = label;
    this.rooms = rooms;
    this.seen = Object.fromEntries(rooms.map((r) => [r, []]));
    this.epoch = {};
    this.token = null;
    this.session = null;
    this.user = null;
    this.c = null;
    this.connIds = [];
    this.closes = []; /* close codes, in order */
    this.resumes = []; /* { at, rooms: resumed.rooms, sent } */
    this.shutdowns = []; /* reconnect_after_ms of each `shutdown` */
    this.failure = null; /* why this client could not go on */
    this.connectErrors = 0;
    this.reconnecting = false;
    this.waitMs = 0; /* the delay the last `shutdown` asked for */
  }

  /* Connects for the first time. */
  async open() {
    const c = await connectWelcomed(this.url());
    this.c = c;
    this.token = c.welcome.resume_token;
    this.session = c.welcome.session;
    this.user = c.welcome.user;
    return c;
  }

  /* Takes c as the current connection; records every room delivery it carries. */
  attach(c) {
    this.c = c;
    this.connIds.push(c.welcome.conn);
    let idx = 0;
    const consume = () => {
      while (idx < c.all.length) {
        const m = c.all[idx++];
        if (m.type === 'message' && this.seen[m.room]) this.seen[m.room].push(m.seq);
        if (m.type === 'shutdown') {
          this.token = m.resume_token;
          this.waitMs = m.reconnect_after_ms;
          this.shutdowns.push(m.reconnect_after_ms);
        }
      }
      c.drain((m) => m.type === 'message' || m.type === 'shutdown');
    };
    consume();
    c.ws.on('message', consume);
  }

  /* Subscribes the current connection to every room (all new: seq 0). */
  async subscribeAll() {
    for (const r of this.rooms) this.c.send({ type: 'subscribe', room: r });
    for (const r of this.rooms) {
      const s = await this.c.nextMatching((m) => (m.type === 'subscribed' && m.room === r) || m.type === 'error', 5000, `subscribed ${r}`);
      if (s.type !== 'subscribed' || s.seq !== 0) throw new Error(`${this.name()}: ${j(s)}`);
      this.epoch[r] = s.epoch;
    }
  }

  last(room) {
    const s = this.seen[room];
    return s.length ? s[s.length - 1] : 0;
  }

  name() {
    return `client ${this.i} (${this.label}${this.user}, conns ${this.connIds.join('->')})`;
  }

  /* Reconnects and resumes until it works or the deadline; false with this.failure set. */
  async reconnect({ deadline, stopping, t0, maxWaitMs = 2000 }) {
    if (this.waitMs > 0) await sleep(Math.min(this.waitMs, maxWaitMs));
    this.waitMs = 0;
    for (let attempt = 1; !stopping() && Date.now() < deadline; attempt++) {
      let c;
      try {
        c = await connectWelcomed(this.url(), { timeoutMs: 3000 });
      } catch (e) {
        this.connectErrors++;
        await sleep(Math.min(25 * attempt, 250));
        continue;
      }
      this.attach(c);
      const rooms = {};
      for (const r of this.rooms) rooms[r] = { seq: this.last(r), epoch: this.epoch[r] };
      c.send({ type: 'resume', token: this.token, rooms });
      let reply;
      try {
        reply = await c.nextMatching((m) => m.type === 'resumed' || m.type === 'error', 5000, 'resumed or error');
      } catch (e) {
        /* Closed or silent before the answer: try again (a refusal of the token would show next). */
        this.closes.push(`no resume answer: ${e.message.slice(0, 120)}`);
        c.terminate();
        await sleep(Math.min(25 * attempt, 250));
        continue;
      }
      if (reply.type !== 'resumed') {
        this.failure = `resume refused: ${j(reply)} (sent ${j(rooms)})`;
        return false;
      }
      if (reply.session !== this.session) {
        this.failure = `resumed another session: ${reply.session}, expected ${this.session}`;
        return false;
      }
      if (reply.user !== this.user) {
        this.failure = `resumed as user ${reply.user}, expected ${this.user}`;
        return false;
      }
      this.resumes.push({ at: Date.now() - t0, rooms: reply.rooms, sent: rooms });
      this.token = reply.resume_token;
      for (const r of this.rooms) if (reply.rooms && reply.rooms[r] && reply.rooms[r].epoch) this.epoch[r] = reply.rooms[r].epoch;
      return true;
    }
    this.failure = this.failure || `could not reconnect before the deadline (${this.connectErrors} refused connects)`;
    return false;
  }

  /* Reconnects whenever the current socket closes, until stopping() or a failure. */
  async keepAlive(opts) {
    for (;;) {
      const info = await this.c.closed;
      if (opts.stopping()) return;
      this.closes.push(info.code);
      this.reconnecting = true;
      const ok = await this.reconnect(opts);
      this.reconnecting = false;
      if (!ok) return;
    }
  }

  /* Has it seen last[room] of each of its rooms, on an open connection? */
  caughtUp(last) {
    return this.failure || (!this.reconnecting && this.c.isOpen && this.rooms.every((r) => this.last(r) >= last[r]));
  }
}

/* Problems of clients against last (room -> its last seq): one line each. */
function verdict(clients, last) {
  const problems = [];
  for (const t of clients) {
    if (t.failure) problems.push(`${t.name()}: ${t.failure}`);
    for (const r of t.rooms) {
      const s = t.seen[r];
      let p = 0;
      while (p < s.length && s[p] === p + 1) p++;
      if (p === s.length && s.length === last[r]) continue;
      const around = s.slice(Math.max(0, p - 3), p + 3).join(',');
      const what =
        p < s.length
          ? `at position ${p}: expected seq ${p + 1}, got ${s[p]} (around: ${around})${s.length > last[r] ? ` [${s.length - last[r]} extra]` : ''}`
          : `stops at seq ${p} of ${last[r]}`;
      problems.push(
        `${t.name()} room ${r}: ${s.length} deliveries for 1..${last[r]}, first problem ${what}; ` +
          `closes ${j(t.closes)}, resumes ${j(t.resumes.map((x) => ({ at: x.at, sent: x.sent, got: x.rooms })))}`,
      );
    }
  }
  return problems;
}

/*
 * Opens, welcomes and closes connections to url() in a loop until stop();
 * resolves with { ok, failures, resets, retries }. A refusal (connection
 * refused, an HTTP answer other than 101 or 503, no welcome) is a failure;
 * a reset of a handshake in flight (the process holding it was killed) is
 * counted apart, as `resets`, and so is a 503 (`retries`: the handshake
 * ended on a worker that had begun to drain, which says to come back).
 */
async function connectLoop(url, stop) {
  const out = { ok: 0, failures: [], resets: [], retries: [] };
  while (!stop()) {
    try {
      const c = await connectWelcomed(url(), { timeoutMs: 3000 });
      out.ok++;
      c.close();
      await c.waitClose(3000).catch(() => {});
    } catch (e) {
      const m = e.message.slice(0, 160);
      if (/socket hang up|ECONNRESET/.test(m)) out.resets.push(m);
      else if (/HTTP 503/.test(m)) out.retries.push(m);
      else out.failures.push(m);
    }
    await sleep(5);
  }
  return out;
}

/*
 * Opens a WebSocket to url (options for the ws client: localAddress,
 * headers); resolves with { ws, msgs } once until(msgs) holds for the
 * messages so far, or with { status, retryAfter } when the upgrade is
 * refused.
 */
function openUntil(url, until, options = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    const msgs = [];
    ws.once('unexpected-response', (req, res) => {
      resolve({ status: res.statusCode, retryAfter: res.headers['retry-after'] });
      req.destroy();
    });
    ws.on('message', (data) => {
      msgs.push(JSON.parse(data.toString()));
      if (until(msgs)) resolve({ ws, msgs, welcome: msgs.find((m) => m.type === 'welcome') });
    });
    ws.once('error', (e) => {
      if (!/Unexpected server response/.test(e.message)) reject(e);
    });
  });
}

module.exports = { publishFor, Tracked, verdict, connectLoop, openUntil };
