// wsd-client: the client library for wsd's wsd.v1 protocol (docs/protocol.md
// in the wsd repository describes every message used here).
//
// One WsdClient keeps one logical connection to a wsd daemon over
// reconnects: it resumes its session with the newest resume token and the
// last seq and epoch of each room, so that a room handler sees every
// message of the room exactly once and in seq order, across dropped
// connections, worker crashes and daemon restarts, or is told, through
// onRecovery, that some could not be recovered. Publishes carry ids, so
// one resent after a reconnect is not delivered twice. No runtime
// dependencies: in a browser it uses the global WebSocket, in Node 20 the
// caller passes one (the `ws` package's WebSocket class). Where a
// WebSocket cannot be opened (a proxy that refuses upgrades), the same
// protocol runs over Server-Sent Events (GET /sse, read with fetch) and
// POST /sse/send: see SseSocket below and the `transport` option.
//
//   import { WsdClient } from 'wsd-client';
//   const c = new WsdClient('wss://example.com/ws', { getToken: () => fetchToken() });
//   c.subscribe('chat', (m) => show(m.from, m.data));
//   await c.publish('chat', { text: 'hi' });

/** Close codes after which the client does not reconnect. */
const TERMINAL = (code) => code === 1000 || code === 1002 || code === 1003 || code === 1007 || code === 1008 || code === 1009 || (code >= 4500 && code <= 4999);

const DEFAULTS = {
  backoff: { baseMs: 500, capMs: 30000, maxAttempts: Infinity },
  offlineQueue: 1000,
  requestTimeoutMs: 10000,
};

let idCounter = 0;

const utf8 = new TextEncoder();

/**
 * The SSE fallback with the part of the WebSocket interface the client
 * uses (readyState, send, close, onopen, onmessage, onerror, onclose), so
 * that everything above it is the same for both transports. The stream
 * is read with fetch (in browsers and Node 20), which lets the client
 * choose when to reconnect, with its own backoff, instead of EventSource.
 * Client messages are POSTed in order, one request at a time, each with
 * what has queued meanwhile (one JSON message per line, at most the
 * welcome's max_message_bytes), with the stream's conn and send_key. A
 * POST that fails ends the stream: the client reconnects and resends
 * what was not acknowledged.
 */
export class SseSocket {
  constructor(wsUrl, protocol, options = {}) {
    this.readyState = 0;
    this.onopen = this.onclose = this.onerror = this.onmessage = this.onactivity = null;
    /* A browser's fetch must be called on the window, not as a method
     * of this object ("Illegal invocation"). */
    this.fetch = options.fetch || globalThis.fetch.bind(globalThis);
    const u = new URL(wsUrl);
    u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
    const base = options.sseUrl ? new URL(options.sseUrl) : new URL('/sse', u);
    for (const [k, v] of u.searchParams) base.searchParams.set(k, v);
    this.url = base;
    this.out = [];
    this.posting = false;
    this.maxBytes = 65536;
    this.ctrl = new AbortController();
    this._start();
  }

  async _start() {
    let res;
    try {
      res = await this.fetch(this.url.href, { headers: { Accept: 'text/event-stream' }, cache: 'no-store', signal: this.ctrl.signal });
    } catch (e) {
      this._fail(e && e.message ? e.message : 'the event stream could not be opened');
      return;
    }
    if (res.status !== 200 || !res.body) {
      this._fail(`Unexpected server response: ${res.status}`);
      return;
    }
    if (this.readyState !== 0) return;
    this.readyState = 1;
    if (this.onopen) this.onopen();
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    let data = [];
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        /* Lines end in LF (wsd never sends a CR; one before the LF, as a
         * proxy might write, is dropped). */
        let from = 0;
        let i;
        while ((i = buf.indexOf('\n', from)) >= 0) {
          const line = buf.slice(from, i > from && buf[i - 1] === '\r' ? i - 1 : i);
          from = i + 1;
          if (line === '') {
            if (data.length) this._event(data.join('\n'));
            data = [];
          } else if (line.startsWith(':')) {
            if (this.onactivity) this.onactivity();
          } else if (line.startsWith('data:')) {
            data.push(line.slice(line[5] === ' ' ? 6 : 5));
          }
        }
        buf = buf.slice(from);
      }
    } catch (e) {
      /* aborted, or the connection broke */
    }
    this._end(this.closeCode || 1006, this.closeReason || '');
  }

  _event(text) {
    if (this.readyState !== 1) return;
    let m;
    try {
      m = JSON.parse(text);
    } catch (e) {
      m = null;
    }
    if (m && m.type === 'welcome') {
      this.conn = m.conn;
      this.key = m.send_key;
      if (m.max_message_bytes) this.maxBytes = m.max_message_bytes;
      this._pump();
    } else if (m && m.type === 'close') {
      /* The stream's last event: the close code a WebSocket would get. */
      this.closeCode = m.code;
      this.closeReason = m.reason;
      return;
    }
    if (this.onmessage) this.onmessage({ data: text });
  }

  send(text) {
    if (this.readyState !== 1) throw new Error('the event stream is not open');
    this.out.push(text);
    this._pump();
  }

  async _pump() {
    if (this.posting || !this.out.length || this.key === undefined || this.readyState !== 1) return;
    /* Sized in UTF-8 bytes, as the server counts them. */
    const bytes = (t) => utf8.encode(t).length;
    const batch = [this.out.shift()];
    let size = bytes(batch[0]);
    if (size > this.maxBytes) {
      /* What a WebSocket would be closed with for it. */
      this._end(1009, 'message too big');
      return;
    }
    while (this.out.length) {
      const n = bytes(this.out[0]);
      if (size + 1 + n > this.maxBytes) break;
      size += 1 + n;
      batch.push(this.out.shift());
    }
    this.posting = true;
    const to = new URL('/sse/send', this.url);
    to.searchParams.set('conn', String(this.conn));
    to.searchParams.set('key', this.key);
    let status = 0;
    try {
      const res = await this.fetch(to.href, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: batch.join('\n'), cache: 'no-store' });
      status = res.status;
      await res.text().catch(() => '');
    } catch (e) {
      status = 0;
    }
    this.posting = false;
    if (status !== 202) {
      /* Not taken: the stream ends, and the client resends after it
       * reconnected. A body the server refuses as a WebSocket would
       * refuse the message ends it with that close code. */
      this._end(status === 413 ? 1009 : status === 400 ? 1007 : 1006, `a POST to /sse/send got ${status || 'no answer'}`);
      return;
    }
    this._pump();
  }

  close(code = 1000, reason = '') {
    this._end(code, reason);
  }

  _fail(message) {
    if (this.readyState === 3) return;
    if (this.onerror) this.onerror({ message });
    this._end(1006, '');
  }

  _end(code, reason) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.ctrl.abort();
    setTimeout(() => {
      if (this.onclose) this.onclose({ code, reason });
    }, 0);
  }
}

/** A small event emitter that works the same in browsers and Node. */
class Emitter {
  constructor() {
    this._handlers = new Map();
  }

  on(event, fn) {
    if (!this._handlers.has(event)) this._handlers.set(event, new Set());
    this._handlers.get(event).add(fn);
    return this;
  }

  off(event, fn) {
    const s = this._handlers.get(event);
    if (s) s.delete(fn);
    return this;
  }

  emit(event, ...args) {
    const s = this._handlers.get(event);
    if (!s) return false;
    for (const fn of [...s]) {
      try {
        fn(...args);
      } catch (e) {
        if (event !== 'error') this.emit('error', e);
      }
    }
    return s.size > 0;
  }
}

/** An error the client reports: `code` is a close code, an HTTP status or a wsd error code. */
export class WsdError extends Error {
  constructor(message, code, extra = {}) {
    super(message);
    this.name = 'WsdError';
    this.code = code;
    Object.assign(this, extra);
  }
}

export class WsdClient extends Emitter {
  /**
   * url: ws:// or wss:// address of wsd's ws_path. options: see
   * wsd-client.d.ts.
   */
  constructor(url, options = {}) {
    super();
    this.url = url;
    this.options = options;
    this.WebSocket = options.WebSocket || globalThis.WebSocket;
    this.transport = options.transport || 'auto';
    if (!['auto', 'websocket', 'sse'].includes(this.transport)) throw new TypeError(`transport must be auto, websocket or sse, not ${this.transport}`);
    if (this.transport !== 'sse' && typeof this.WebSocket !== 'function') throw new TypeError('no WebSocket implementation: pass options.WebSocket');
    if (this.transport !== 'websocket' && typeof (options.fetch || globalThis.fetch) !== 'function') throw new TypeError('no fetch for the SSE transport: pass options.fetch');
    /* auto: WebSocket until one fails before it opened without ever having opened (below). */
    this.useSse = this.transport === 'sse';
    this.everOpened = false;
    this.backoff = { ...DEFAULTS.backoff, ...(options.backoff || {}) };
    this.offlineMax = options.offlineQueue === undefined ? DEFAULTS.offlineQueue : options.offlineQueue;
    this.requestTimeoutMs = options.requestTimeoutMs || DEFAULTS.requestTimeoutMs;
    this.random = options.random || Math.random;
    this.state = 'disconnected';
    this.token = options.token;
    this.ws = null;
    this.session = null; // { id, user, resumeToken }
    this.rooms = new Map(); // room -> { handler, onRecovery, seq, epoch, joined, waiters: [] }
    this.pending = new Map(); // publish id -> { frame, resolve, reject, sent }
    this.requests = []; // presence requests: { room, resolve, reject, timer, sent }
    this.attempt = 0;
    this.paused = false;
    this.timer = null;
    this.watchdog = null;
    this.prefix = `${Date.now().toString(36)}-${Math.floor(this.random() * 1e9).toString(36)}`;
    this.stopped = false;
    if (options.autoConnect !== false) this.connect();
  }

  /** Open (or reopen after close()) the connection. */
  connect() {
    this.stopped = false;
    if (this.ws || this.timer) return;
    this._open(false);
  }

  /** Close for good: no reconnect; pending publishes are rejected. */
  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
    this._stopWatchdog();
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      try {
        ws.close(1000);
      } catch (e) {
        /* already gone */
      }
    }
    this._failAll(new WsdError('the client was closed', 'closed'));
    this._setState('closed');
  }

  /**
   * Join room; handler(message) gets each of its messages once, in seq
   * order. Resolves with the first `subscribed` ({room, seq, epoch,
   * recovered}). options.since / options.epoch start from a known point;
   * options.onRecovery({room, recovered, seq, epoch}) hears when messages
   * could not be recovered.
   */
  subscribe(room, handler, options = {}) {
    let r = this.rooms.get(room);
    if (!r) {
      r = { handler, onRecovery: options.onRecovery, seq: options.since, epoch: options.epoch, joined: false, waiters: [] };
      this.rooms.set(room, r);
    } else {
      r.handler = handler;
      if (options.onRecovery) r.onRecovery = options.onRecovery;
    }
    const p = new Promise((resolve, reject) => r.waiters.push({ resolve, reject }));
    if (this.state === 'connected' && !this.resuming) this._sendSubscribe(room, r);
    return p;
  }

  /** Leave room; its handler gets nothing more. */
  unsubscribe(room) {
    if (!this.rooms.delete(room)) return;
    if (this.state === 'connected') this._send({ type: 'unsubscribe', room });
    this._flushPresence(room);
  }

  /**
   * Publish data to room. Resolves with {id, seq} when the server's
   * `ack` comes; a publish not acknowledged before a reconnect is sent
   * again with the same id, which the server does not deliver twice.
   */
  publish(room, data, options = {}) {
    const frame = { type: 'publish', room, data, id: options.id || this._newId() };
    if (options.key !== undefined) frame.key = options.key;
    if (options.trace !== undefined) frame.trace = options.trace;
    return this._request(frame);
  }

  /** Send data to every connection of user (through its personal room). */
  send(user, data, options = {}) {
    const frame = { type: 'send', user, data, id: options.id || this._newId() };
    if (options.trace !== undefined) frame.trace = options.trace;
    return this._request(frame);
  }

  /**
   * Who is in room: resolves with the users array of `presence`. For a
   * room of this client whose subscribe is not answered yet, the request
   * waits until it is: an error for either would name the room as its
   * `ref`, and which of the two it answers could not be told.
   */
  presence(room) {
    return new Promise((resolve, reject) => {
      if (this.state !== 'connected') {
        reject(new WsdError('not connected', 'offline'));
        return;
      }
      const req = { room, resolve, reject, sent: false };
      req.timer = setTimeout(() => {
        this.requests = this.requests.filter((x) => x !== req);
        reject(new WsdError('no presence answer in time', 'timeout'));
      }, this.requestTimeoutMs);
      this.requests.push(req);
      if (this._presenceClear(room)) this._sendPresence(req);
    });
  }

  // ---- internals -------------------------------------------------------

  /** No subscribe of room is waiting for its answer. */
  _presenceClear(room) {
    const r = this.rooms.get(room);
    return !r || (r.joined && !r.filling);
  }

  _sendPresence(req) {
    req.sent = true;
    this._send({ type: 'presence', room: req.room });
  }

  /** Send the presence requests that waited for room's subscribe. */
  _flushPresence(room) {
    if (!this._presenceClear(room)) return;
    for (const req of this.requests) if (req.room === room && !req.sent) this._sendPresence(req);
  }

  _newId() {
    idCounter += 1;
    return `${this.prefix}-${idCounter}`;
  }

  _setState(state, detail = {}) {
    if (this.state === state && !detail.force) return;
    this.state = state;
    this.emit('state', state, detail);
  }

  async _token(refresh) {
    if (this.options.getToken && (refresh || this.token === undefined)) {
      this.token = await this.options.getToken();
    }
    return this.token;
  }

  async _open(refreshToken) {
    this._setState('connecting', { attempt: this.attempt });
    let token;
    try {
      token = await this._token(refreshToken);
    } catch (e) {
      this._retry(new WsdError(`the token callback failed: ${e.message}`, 'token'));
      return;
    }
    if (this.stopped) return;
    let url = this.url;
    if (token) url += `${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
    let ws;
    try {
      ws = this.useSse
        ? new SseSocket(url, 'wsd.v1', { fetch: this.options.fetch, sseUrl: this.options.sseUrl })
        : new this.WebSocket(url, 'wsd.v1', this.options.wsOptions);
    } catch (e) {
      this._retry(e);
      return;
    }
    this.ws = ws;
    this.opened = false;
    this.refused = null;
    this.resuming = false;
    ws.onopen = () => {
      this.opened = true;
      this.everOpened = true;
      this._touch();
    };
    ws.onactivity = () => this._touch();
    ws.onmessage = (ev) => this._onFrame(ev.data);
    this.errorText = null;
    ws.onerror = (ev) => {
      /* The ws package says why an upgrade was refused: "Unexpected server response: 401". */
      this.errorText = (ev && (ev.message || (ev.error && ev.error.message))) || '';
      const m = /Unexpected server response: (\d+)/.exec(this.errorText);
      if (m) this.refused = parseInt(m[1], 10);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this._onClose(ev.code, ev.reason);
    };
  }

  _onClose(code, reason) {
    this.ws = null;
    this._stopWatchdog();
    const wasConnected = this.state === 'connected';
    for (const r of this.rooms.values()) r.joined = false;
    for (const req of this.requests) {
      clearTimeout(req.timer);
      req.reject(new WsdError('the connection closed', 'offline'));
    }
    this.requests = [];
    for (const p of this.pending.values()) p.sent = false;
    if (this.stopped) return;
    if (this.transport === 'auto' && !this.opened && !this.everOpened && ![401, 429, 503].includes(this.refused)) {
      /* Nothing has opened yet and wsd did not refuse it. After a
       * WebSocket, a proxy on the way may not pass upgrades: SSE at
       * once. After SSE too, the daemon may just be down: WebSocket
       * again, after the backoff below. The first that opens is kept. */
      this.useSse = !this.useSse;
      this.emit('transport', this.useSse ? 'sse' : 'websocket', { code, reason, refused: this.refused });
      if (this.useSse) {
        this._setState('disconnected', { code, reason, fallback: 'sse' });
        this._open(false);
        return;
      }
    }
    if (this.refused === 401 && this.options.getToken && !this.refreshedFor401) {
      /* An expired or refused token: ask for a new one, once, and come straight back. */
      this.refreshedFor401 = true;
      this.emit('error', new WsdError('the server refused the token (401); asking for a new one', 401));
      this._setState('disconnected', { code, reason, refused: 401 });
      this._open(true);
      return;
    }
    if (this.refused === 401 || (this.refused >= 400 && this.refused < 500 && this.refused !== 429)) {
      this._stop(new WsdError(`the server refused the connection (HTTP ${this.refused})`, this.refused));
      return;
    }
    if (this.opened && TERMINAL(code)) {
      this._stop(new WsdError(`closed by the server with ${code}${reason ? ` (${reason})` : ''}`, code, { reason }));
      return;
    }
    /* A browser does not say why an upgrade failed: the token may have
     * expired, so the next attempt asks for a fresh one. */
    this.refreshNext = !this.opened && !this.errorText && !!this.options.getToken;
    this._setState('disconnected', { code, reason, wasConnected });
    const after = this.shutdownDelay;
    this.shutdownDelay = undefined;
    this._retry(null, after);
  }

  _stop(err) {
    this.stopped = true;
    this._failAll(err);
    this.emit('error', err);
    this._setState('closed', { error: err });
  }

  _failAll(err) {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    for (const r of this.rooms.values()) {
      for (const w of r.waiters) w.reject(err);
      r.waiters = [];
    }
  }

  /** Schedule the next attempt: `after` ms when the server said so, else full-jitter backoff. */
  _retry(err, after) {
    if (err) this.emit('error', err);
    if (this.stopped) return;
    if (this.attempt >= this.backoff.maxAttempts) {
      this._stop(new WsdError(`gave up after ${this.attempt} attempts`, 'attempts'));
      return;
    }
    let delay;
    if (after !== undefined) {
      delay = after;
    } else {
      const cap = Math.min(this.backoff.capMs, this.backoff.baseMs * 2 ** this.attempt);
      delay = Math.floor(this.random() * cap);
    }
    this.attempt += 1;
    this.emit('reconnecting', { attempt: this.attempt, delayMs: delay });
    this.timer = setTimeout(() => {
      this.timer = null;
      this._open(this.refreshNext);
    }, delay);
  }

  _touch() {
    this.lastRx = Date.now();
  }

  /** An application ping when the server has been silent for a heartbeat, and a drop when it stays silent. */
  _startWatchdog(heartbeatMs) {
    this._stopWatchdog();
    const every = Math.max(1000, heartbeatMs || 25000);
    this.watchdog = setInterval(() => {
      const idle = Date.now() - this.lastRx;
      if (idle > 2 * every && this.ws) {
        const ws = this.ws;
        this._onClose(4000, 'no answer from the server');
        try {
          ws.close(4000);
        } catch (e) {
          /* gone */
        }
      } else if (idle > every) {
        this._send({ type: 'ping' });
      }
    }, every / 2);
    if (this.watchdog.unref) this.watchdog.unref();
  }

  _stopWatchdog() {
    clearInterval(this.watchdog);
    this.watchdog = null;
  }

  _send(frame) {
    if (!this.ws || this.ws.readyState !== 1) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  _request(frame) {
    return new Promise((resolve, reject) => {
      if (this.stopped && this.state === 'closed') {
        reject(new WsdError('the client is closed', 'closed'));
        return;
      }
      if (this.pending.size >= this.offlineMax) {
        reject(new WsdError(`queue full: ${this.offlineMax} publishes wait for their ack`, 'queue_full'));
        return;
      }
      const p = { frame, resolve, reject, sent: false };
      this.pending.set(frame.id, p);
      this._flushPending();
    });
  }

  /** Send what waits, unless offline, resuming or paused by `flow`. */
  _flushPending() {
    if (this.state !== 'connected' || this.resuming || this.paused) return;
    for (const p of this.pending.values()) {
      if (!p.sent && this._send(p.frame)) p.sent = true;
    }
  }

  _sendSubscribe(room, r) {
    const f = { type: 'subscribe', room };
    if (r.seq !== undefined) {
      f.since = r.seq;
      if (r.epoch) f.epoch = r.epoch;
    }
    this._send(f);
  }

  _onFrame(data) {
    this._touch();
    let m;
    try {
      m = JSON.parse(typeof data === 'string' ? data : data.toString());
    } catch (e) {
      this.emit('error', new WsdError('a frame that is not JSON', 'bad_json'));
      return;
    }
    switch (m.type) {
      case 'welcome':
        return this._onWelcome(m);
      case 'resumed':
        return this._onResumed(m);
      case 'subscribed':
        return this._onSubscribed(m);
      case 'message':
        return this._onMessage(m);
      case 'ack':
        return this._onAck(m);
      case 'error':
        return this._onError(m);
      case 'presence': {
        const i = this.requests.findIndex((x) => x.room === m.room && x.sent);
        if (i >= 0) {
          const [req] = this.requests.splice(i, 1);
          clearTimeout(req.timer);
          req.resolve(m.users);
        }
        return undefined;
      }
      case 'shutdown':
        /* The server drains: come back after its delay, resuming with this token. */
        if (this.session) this.session.resumeToken = m.resume_token;
        this.shutdownDelay = m.reconnect_after_ms;
        this.emit('shutdown', m);
        return undefined;
      case 'flow':
        this.paused = m.state === 'pause';
        this.emit('flow', m);
        if (!this.paused) this._flushPending();
        return undefined;
      default:
        this.emit('event', m); // pong, join, leave, ...
        return undefined;
    }
  }

  _onWelcome(m) {
    this.attempt = 0;
    this.refreshedFor401 = false;
    this._startWatchdog(m.heartbeat_ms);
    const old = this.session;
    this.session = { id: m.session, user: m.user, resumeToken: m.resume_token, conn: m.conn };
    if (old && old.resumeToken) {
      /* Take the old session back, with where each room stood. */
      const rooms = {};
      for (const [name, r] of this.rooms) if (r.seq !== undefined) rooms[name] = r.epoch ? { seq: r.seq, epoch: r.epoch } : r.seq;
      this.resuming = true;
      this._setState('connected', { welcome: m, resuming: true, force: true });
      this._send({ type: 'resume', token: old.resumeToken, rooms });
      return;
    }
    this._setState('connected', { welcome: m, force: true });
    this._joinAll();
  }

  /** A fresh session: subscribe to every room, from where each stood. */
  _joinAll() {
    this.resuming = false;
    for (const [name, r] of this.rooms) if (!r.joined) this._sendSubscribe(name, r);
    this._flushPending();
  }

  _onResumed(m) {
    this.session = { id: m.session, user: m.user, resumeToken: m.resume_token, conn: this.session && this.session.conn };
    this.resuming = false;
    for (const [name, info] of Object.entries(m.rooms || {})) {
      const r = this.rooms.get(name);
      if (!r) continue;
      this._roomAt(name, r, info);
    }
    /* Rooms the session did not have (joined since, or refused): subscribe. */
    for (const [name, r] of this.rooms) if (!r.joined) this._sendSubscribe(name, r);
    this.emit('resumed', m);
    this._flushPending();
  }

  /** Where room stands now (a subscribed or a resumed entry). */
  _roomAt(name, r, info) {
    r.joined = true;
    const sameEpoch = !r.epoch || r.epoch === info.epoch;
    if (info.recovered === false || !sameEpoch) {
      const note = { room: name, recovered: false, seq: info.seq, epoch: info.epoch, lastSeen: r.seq, lastEpoch: r.epoch };
      if (!sameEpoch || r.seq === undefined || r.seq > info.seq) r.seq = info.seq;
      /* Messages were lost, or the replay was cut short: the first one
       * that follows may skip seqs, and is taken as it is. */
      else r.expectLoss = true;
      r.epoch = info.epoch;
      if (r.onRecovery) r.onRecovery(note);
      this.emit('recovery', note);
    } else {
      r.epoch = info.epoch;
      if (r.seq === undefined) r.seq = info.seq;
    }
    const ws = r.waiters;
    r.waiters = [];
    for (const w of ws) w.resolve({ room: name, seq: info.seq, epoch: info.epoch, recovered: info.recovered !== false });
    this._flushPresence(name);
  }

  _onSubscribed(m) {
    const r = this.rooms.get(m.room);
    if (!r) return;
    if (r.filling) {
      /* The answer to a gap's subscribe: the replay follows it, or, when
       * the log no longer has it, what is held goes on with a note. */
      r.filling = false;
      if (m.recovered === false) this._release(m.room, r, true);
      this._flushPresence(m.room);
      return;
    }
    this._roomAt(m.room, r, m);
  }

  _onMessage(m) {
    const r = m.room !== undefined ? this.rooms.get(m.room) : undefined;
    if (!r || m.seq === undefined) {
      this.emit('message', m); // a direct delivery, the broadcast room, or a personal room not subscribed
      return;
    }
    /* Exactly once, in order: a replay may repeat what was seen. */
    if (r.seq !== undefined && m.seq <= r.seq) return;
    if (r.expectLoss) {
      r.expectLoss = false;
      this._deliver(r, m);
      return;
    }
    if (r.seq !== undefined && m.seq > r.seq + 1) {
      /* A gap (a queue policy dropped messages for this client): hold
       * what comes, and ask the room's replay log for the missing ones. */
      this._hold(m.room, r, m);
      return;
    }
    this._deliver(r, m);
    if (r.held) this._release(m.room, r, false);
  }

  _deliver(r, m) {
    r.seq = m.seq;
    if (r.handler) r.handler(m);
  }

  _hold(name, r, m) {
    if (!r.held) {
      r.held = new Map();
      r.fillTimer = setTimeout(() => this._release(name, r, true), this.requestTimeoutMs);
      const f = { type: 'subscribe', room: name, since: r.seq };
      if (r.epoch) f.epoch = r.epoch;
      r.filling = true;
      this._send(f);
    }
    r.held.set(m.seq, m);
  }

  /** Deliver held messages that are next in order; with force, the rest too, after saying what is missing. */
  _release(name, r, force) {
    if (!r.held) return;
    for (;;) {
      const next = r.held.get(r.seq + 1);
      if (next) {
        r.held.delete(next.seq);
        this._deliver(r, next);
        continue;
      }
      if (!force || r.held.size === 0) break;
      const first = Math.min(...r.held.keys());
      const note = { room: name, recovered: false, seq: first, epoch: r.epoch, lastSeen: r.seq, gap: first - r.seq - 1 };
      if (r.onRecovery) r.onRecovery(note);
      this.emit('recovery', note);
      r.seq = first - 1;
    }
    if (r.held.size === 0) {
      clearTimeout(r.fillTimer);
      r.held = null;
      r.filling = false;
      this._flushPresence(name);
    }
  }

  _onAck(m) {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    p.resolve({ id: m.id, seq: m.seq });
  }

  _onError(m) {
    if (m.code === 'resume_failed' && this.resuming) {
      /* A fresh session after all: join every room from where it stood. */
      const note = { reason: m.reason };
      this.emit('resume_failed', note);
      this._joinAll();
      return;
    }
    const ref = m.ref;
    if (ref !== undefined && this.pending.has(ref)) {
      const p = this.pending.get(ref);
      this.pending.delete(ref);
      if (m.code === 'unavailable') {
        /* The worker could not reach the supervisor: try once more shortly. */
        setTimeout(() => {
          this.pending.set(ref, { ...p, sent: false });
          this._flushPending();
        }, 200);
        return;
      }
      p.reject(new WsdError(m.reason, m.code, { ref }));
      return;
    }
    const pi = ref !== undefined ? this.requests.findIndex((x) => x.room === ref && x.sent) : -1;
    if (pi >= 0 && this._presenceClear(ref)) {
      /* No subscribe of the room is unanswered: the error is the presence's. */
      const [req] = this.requests.splice(pi, 1);
      clearTimeout(req.timer);
      req.reject(new WsdError(m.reason, m.code, { ref }));
      return;
    }
    if (ref !== undefined && this.rooms.has(ref)) {
      const r = this.rooms.get(ref);
      const ws = r.waiters;
      r.waiters = [];
      const err = new WsdError(m.reason, m.code, { ref });
      for (const w of ws) w.reject(err);
      if (['forbidden', 'bad_room', 'too_many_rooms', 'room_limit'].includes(m.code)) {
        this.rooms.delete(ref);
        this._flushPresence(ref);
      }
      this.emit('error', err);
      return;
    }
    this.emit('error', new WsdError(m.reason, m.code, { ref }));
  }
}

export default WsdClient;
