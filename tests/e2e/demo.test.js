'use strict';
/*
 * The demo chat page (GET / on the client listener) in a real browser:
 * Debian's chromium, headless, driven by playwright-core, two pages in
 * two browser contexts (two people).
 *
 *   - each picks a name (a demo token from POST /demo/token); both land
 *     in #lobby, see what was published there before they came (the
 *     replay log, through subscribe since 0), see each other in the
 *     member list, and chat: each sees the other's message under the
 *     other's name;
 *   - the worker holding them is stopped (SIGSTOP: a message alice sends
 *     now shows as pending), then killed with SIGKILL (each page's, when
 *     they are on two) while the admin API publishes into the room; both
 *     pages show that they reconnect, come back connected on a new
 *     connection, still in #lobby, with every message published meanwhile
 *     exactly once (alice's pending message too, sent again by the
 *     library with the same id), and chat again both ways;
 *   - the daemon is drained and started again on the same port and state
 *     (with a new demo key): both pages mint new names, resume, and show
 *     what was published after the restart;
 *   - the page loads nothing from anywhere but its own listener;
 *   - through a proxy that refuses WebSocket upgrades (403), a page falls
 *     back to Server-Sent Events by itself (Chromium's fetch and
 *     EventSource-free stream reading), chats with a page on a WebSocket,
 *     and the daemon lists it with transport "sse";
 *   - against a daemon with allow_anonymous off, "join anonymously" ends
 *     in a visible refusal hint (401), and so does a name (no demo
 *     tokens there);
 *   - against a full daemon (limits.max_connections 1) a second page says
 *     the server does not take it (503) while it retries; a kick with
 *     4502 stops the first page with the reason; the second then gets in
 *     (and, presence being off there, says so and still chats).
 *
 * Screenshots go to tests/artifacts/demo-*.png.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');
const { startWsd, waitFor, sleep, trackPid, REPO, noUpgradeProxy } = require('./harness');

const CHROMIUM = process.env.WSD_CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO, 'tests', 'artifacts');
const KEYS = ['k1:0f1e2d3c4b5a69788796a5b4c3d2e1f0'];
const T = { timeout: 45000 };

async function adminPublish(port, room, data) {
  const res = await fetch(`http://127.0.0.1:${port}/api/publish`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ room, data }),
    signal: AbortSignal.timeout(3000),
  });
  const j = await res.json();
  assert.ok(j.ok, `admin publish: ${JSON.stringify(j)}`);
  return j.seq;
}

/* The texts of the messages the page shows, with their sender's name. */
const shownMessages = (page) =>
  page.$$eval('#messages li.msg', (lis) =>
    lis.map((li) => ({ who: li.querySelector('.who').textContent, text: li.querySelector('.body').textContent, pending: li.classList.contains('pending') })),
  );

const count = (list, text) => list.filter((m) => m.text === text).length;

async function waitShown(page, who, text, what) {
  let last = [];
  await waitFor(
    async () => {
      last = await shownMessages(page);
      return last.some((m) => m.who === who && m.text === text && !m.pending);
    },
    { timeoutMs: 10000, intervalMs: 100, what: `${what}: "${text}" from ${who} (shown: ${JSON.stringify(last).slice(0, 600)})` },
  );
}

async function waitConnected(page, what) {
  await page.waitForSelector('#conn-state[data-state="connected"]', { timeout: 10000 }).catch((e) => {
    throw new Error(`${what}: not connected: ${e.message}`);
  });
}

/* The name the page shows for the anonymous user of its pill's title. */
function displayedAnon(title) {
  const user = / user (anon-[0-9a-f]{16})$/.exec(title)[1];
  return `guest ${user.slice(-4)}`;
}

async function say(page, text) {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
}

/* Record every state the connection pill shows, from now on. */
async function recordStates(page) {
  await page.evaluate(() => {
    const el = document.getElementById('conn-state');
    window.seenStates = [el.dataset.state];
    new MutationObserver(() => window.seenStates.push(el.dataset.state)).observe(el, { attributes: true, attributeFilter: ['data-state'] });
  });
}

function launch() {
  return chromium.launchServer({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}

describe('the demo page in headless Chromium: two people chat through a worker kill and a restart', () => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsd-e2e-demo-'));
  let d;
  let server;
  let browser;
  const pages = {};
  const requests = [];

  const config = {
    state_dir: stateDir,
    sessions: { keys: KEYS },
    replay: { size: 512 },
    presence: { query: ['*'], announce: ['*'] },
    drain: { spread_ms: 300 },
  };

  let port; /* the client listener's, kept across the restart */

  before(async () => {
    d = await startWsd({ workers: 2, config });
    port = d.port;
    server = await launch();
    trackPid(server.process().pid);
    browser = await chromium.connect(server.wsEndpoint());
    for (const name of ['alice', 'bob']) {
      const ctx = await browser.newContext({ viewport: { width: 1100, height: 720 } });
      const page = await ctx.newPage();
      page.on('request', (r) => requests.push(r.url()));
      page.on('pageerror', (e) => process.stderr.write(`# ${name}'s page: ${e.message}\n`));
      pages[name] = page;
    }
  });
  after(
    async () => {
      if (browser) await browser.close().catch(() => {});
      if (server) await server.close().catch(() => {});
      if (d) {
        try {
          d.workers(); /* learn the respawned workers' pids for the cleanup */
        } catch (_) {
          /* the daemon may be gone */
        }
        await d.stop();
      }
      fs.rmSync(stateDir, { recursive: true, force: true });
    },
    { timeout: 20000 },
  );

  it('each picks a name, sees the history and the other, and they chat', T, async () => {
    await adminPublish(d.adminPort, 'lobby', { text: 'welcome to the lobby' });
    await adminPublish(d.adminPort, 'lobby', { text: 'be nice' });
    for (const [name, page] of Object.entries(pages)) {
      const res = await page.goto(`http://127.0.0.1:${port}/`);
      assert.equal(res.status(), 200);
      assert.match(res.headers()['content-type'], /^text\/html/);
      await page.waitForSelector('#login', { state: 'visible' });
      assert.equal(await page.isDisabled('#send'), true, 'no sending before joining');
      await page.fill('#name', name);
      await page.click('#join-named');
      await waitConnected(page, name);
      assert.equal(await page.isVisible('#login'), false);
      await page.waitForSelector('#rooms li.active.joined[data-room="lobby"]', { timeout: 5000 });
      /* The room's recent history, from the replay log. */
      await waitShown(page, 'server', 'welcome to the lobby', `${name}'s history`);
      await waitShown(page, 'server', 'be nice', `${name}'s history`);
      assert.match(await page.textContent('#me'), new RegExp(name));
    }
    /* The member list, from presence, on both pages. */
    for (const [name, page] of Object.entries(pages)) {
      let last = [];
      await waitFor(
        async () => {
          last = await page.$$eval('#members .member-name', (els) => els.map((e) => e.textContent).sort());
          return last.join() === 'alice,bob';
        },
        { timeoutMs: 10000, intervalMs: 100, what: `${name}'s member list shows alice and bob (it shows ${last})` },
      );
    }
    await say(pages.alice, 'hello from alice');
    await waitShown(pages.bob, 'alice', 'hello from alice', "bob's page");
    await say(pages.bob, 'hi alice, bob here');
    await waitShown(pages.alice, 'bob', 'hi alice, bob here', "alice's page");
    await waitShown(pages.alice, 'alice', 'hello from alice', "alice's own message, acknowledged");
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await pages.alice.screenshot({ path: path.join(ARTIFACTS, 'demo-before-kill.png') });
    await pages.bob.screenshot({ path: path.join(ARTIFACTS, 'demo-before-kill-bob.png') });
  });

  it('after a SIGKILL of their worker, both come back in #lobby with every message published meanwhile, once', T, async () => {
    const conns = d.ctl(['conns', '--limit', '1000']).conns;
    const oldConn = {};
    const victims = new Set();
    for (const name of Object.keys(pages)) {
      const c = conns.find((x) => x.user === `demo:${name}`);
      assert.ok(c, `${name}'s connection in ${JSON.stringify(conns)}`);
      oldConn[name] = c.id;
      assert.equal(await pages[name].getAttribute('#conn-state', 'data-conn'), String(c.id));
      victims.add(c.worker);
    }
    for (const page of Object.values(pages)) await recordStates(page);
    const workers = d.workers();
    const pids = [...victims].map((id) => workers.find((w) => w.id === id).pid);
    /* Stopped first: what alice sends now reaches no one and stays
     * pending, until the library sends it again after the reconnect. */
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
    await say(pages.alice, 'sent while the worker was stopped');
    await pages.alice.waitForSelector('#messages li.msg.pending', { timeout: 3000 });
    await sleep(300);
    assert.equal((await shownMessages(pages.alice)).filter((m) => m.pending).length, 1, 'one message pending');
    await pages.alice.screenshot({ path: path.join(ARTIFACTS, 'demo-pending.png') });
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    const meanwhile = [];
    for (let i = 1; i <= 5; i++) {
      const text = `published meanwhile ${i}`;
      await adminPublish(d.adminPort, 'lobby', { text });
      meanwhile.push(text);
    }
    for (const [name, page] of Object.entries(pages)) {
      await waitFor(
        async () => {
          const now = await page.getAttribute('#conn-state', 'data-conn');
          return now !== String(oldConn[name]) && (await page.getAttribute('#conn-state', 'data-state')) === 'connected';
        },
        { timeoutMs: 15000, intervalMs: 100, what: `${name}'s page connected again on a new connection` },
      );
      const states = await page.evaluate(() => window.seenStates);
      assert.ok(states.includes('reconnecting') || states.includes('connecting'), `${name} showed the drop: ${states}`);
      for (const text of meanwhile) await waitShown(page, 'server', text, `${name} after the kill`);
    }
    /* A new connection, and the pages are still where they were. */
    const after = d.ctl(['conns', '--limit', '1000']).conns;
    for (const [name, page] of Object.entries(pages)) {
      const c = after.find((x) => x.user === `demo:${name}`);
      assert.ok(c && c.id !== oldConn[name], `${name} reconnected: ${JSON.stringify(after)}`);
      await page.waitForSelector('#rooms li.active.joined[data-room="lobby"]', { timeout: 2000 });
      assert.equal(await page.isDisabled('#send'), false);
    }
    await waitShown(pages.bob, 'alice', 'sent while the worker was stopped', "bob's page after recovery");
    await waitShown(pages.alice, 'alice', 'sent while the worker was stopped', "alice's page: no longer pending");
    await say(pages.alice, 'alice is back');
    await waitShown(pages.bob, 'alice', 'alice is back', "bob's page after recovery");
    await say(pages.bob, 'bob too');
    await waitShown(pages.alice, 'bob', 'bob too', "alice's page after recovery");
    for (const [name, page] of Object.entries(pages)) {
      await waitShown(page, name, name === 'alice' ? 'alice is back' : 'bob too', `${name}'s own message acknowledged`);
      const shown = await shownMessages(page);
      for (const text of [...meanwhile, 'sent while the worker was stopped', 'welcome to the lobby', 'be nice', 'hello from alice', 'hi alice, bob here', 'alice is back', 'bob too']) {
        assert.equal(count(shown, text), 1, `${name} shows "${text}" ${count(shown, text)} times`);
      }
      assert.equal(shown.filter((m) => m.pending).length, 0, `${name} has nothing pending`);
    }
    await pages.alice.screenshot({ path: path.join(ARTIFACTS, 'demo-after-recovery.png') });
    await pages.bob.screenshot({ path: path.join(ARTIFACTS, 'demo-after-recovery-bob.png') });
  });

  it('after a restart (drain, then a new daemon on the same port and state), both come back with fresh names', T, async () => {
    for (const page of Object.values(pages)) await recordStates(page);
    const old = d;
    d = null;
    await old.stop();
    /* The new daemon draws another demo key: the pages' tokens get 401,
     * and the library asks the page for new ones. */
    d = await startWsd({ workers: 2, config: { ...config, listen: `127.0.0.1:${port}` } });
    await adminPublish(d.adminPort, 'lobby', { text: 'published after the restart' });
    for (const [name, page] of Object.entries(pages)) {
      await waitShown(page, 'server', 'published after the restart', `${name} after the restart`);
      await waitConnected(page, `${name} after the restart`);
      const states = await page.evaluate(() => window.seenStates);
      assert.ok(states.includes('reconnecting'), `${name} showed the restart: ${states}`);
      await page.waitForSelector('#rooms li.active.joined[data-room="lobby"]', { timeout: 2000 });
    }
    const users = d.ctl(['conns', '--limit', '1000']).conns.map((c) => c.user).sort();
    assert.deepEqual(users, ['demo:alice', 'demo:bob']);
    await say(pages.bob, 'bob after the restart');
    await waitShown(pages.alice, 'bob', 'bob after the restart', "alice's page after the restart");
    for (const [name, page] of Object.entries(pages)) {
      const shown = await shownMessages(page);
      for (const text of ['hello from alice', 'alice is back', 'published after the restart', 'bob after the restart'])
        assert.equal(count(shown, text), 1, `${name} shows "${text}" ${count(shown, text)} times`);
    }
    await pages.alice.screenshot({ path: path.join(ARTIFACTS, 'demo-after-restart.png') });
  });

  it('fetched nothing but its own listener', T, async () => {
    const origin = `http://127.0.0.1:${port}/`;
    assert.ok(requests.some((u) => u === `${origin}wsd-client.js`), 'the page imported /wsd-client.js');
    assert.ok(requests.some((u) => u === `${origin}demo/token`), 'the page asked for a demo token');
    for (const u of requests) assert.ok(u.startsWith(origin), u);
  });
});

/*
 * For one describe block: a one-worker daemon with config and a Chromium,
 * started before its tests (then setup(env), if given) and stopped after.
 * Fills env with d, browser and what setup adds (a proxy is closed too).
 */
function daemonAndBrowser(config, setup) {
  const env = {};
  before(async () => {
    env.d = await startWsd({ workers: 1, config });
    env.server = await launch();
    trackPid(env.server.process().pid);
    env.browser = await chromium.connect(env.server.wsEndpoint());
    if (setup) await setup(env);
  });
  after(
    async () => {
      if (env.browser) await env.browser.close().catch(() => {});
      if (env.server) await env.server.close().catch(() => {});
      if (env.proxy) env.proxy.close();
      if (env.d) await env.d.stop();
    },
    { timeout: 20000 },
  );
  return env;
}

describe('the demo page against a daemon that refuses anonymous clients', () => {
  const env = daemonAndBrowser({ allow_anonymous: false });

  it('shows why it cannot connect, anonymously or with a name', T, async () => {
    const page = await env.browser.newPage();
    await page.goto(`http://127.0.0.1:${env.d.port}/`);
    await page.click('#join-anon');
    await page.waitForSelector('#conn-state[data-state="closed"]', { timeout: 15000 });
    const hint = await page.textContent('#hint');
    assert.match(hint, /401/);
    assert.match(hint, /anonymous connections are off/);
    assert.equal(await page.isVisible('#hint'), true);
    assert.equal(await page.isDisabled('#send'), true, 'no sending while refused');
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'demo-refused.png') });

    const named = await env.browser.newPage();
    await named.goto(`http://127.0.0.1:${env.d.port}/`);
    await named.fill('#name', 'carol');
    await named.click('#join-named');
    await named.waitForSelector('#conn-state[data-state="closed"]', { timeout: 15000 });
    assert.match(await named.textContent('#hint'), /hands out no demo names/);
  });
});

describe('the demo page at a full daemon, and kicked for good', () => {
  const env = daemonAndBrowser({ limits: { max_connections: 1 } });

  it('says when the server is full (503), and when it closed the connection with 4502', T, async () => {
    const first = await env.browser.newPage();
    await first.goto(`http://127.0.0.1:${env.d.port}/`);
    await first.click('#join-anon');
    await waitConnected(first, 'the first page');
    const second = await env.browser.newPage();
    await second.goto(`http://127.0.0.1:${env.d.port}/`);
    await second.click('#join-anon');
    await second.waitForFunction(() => /429 or 503/.test(document.getElementById('hint').textContent), null, { timeout: 15000 });
    assert.notEqual(await second.getAttribute('#conn-state', 'data-state'), 'connected');
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await second.screenshot({ path: path.join(ARTIFACTS, 'demo-full.png') });

    const conn = await first.getAttribute('#conn-state', 'data-conn');
    env.d.ctl(['kick', '--conn', conn, '--code', '4502', '--reason', 'banned']);
    await first.waitForSelector('#conn-state[data-state="closed"]', { timeout: 10000 });
    const hint = await first.textContent('#hint');
    assert.match(hint, /4502: you are banned/);
    assert.match(hint, /banned/);
    assert.equal(await first.isDisabled('#send'), true, 'no sending once closed for good');
    /* The place is free: the second page gets in and the hint goes. */
    await waitConnected(second, 'the second page');
    await second.waitForFunction(() => document.getElementById('hint').textContent === '', null, { timeout: 5000 }).catch(async () => {
      throw new Error(`the hint stays: ${await second.textContent('#hint')}`);
    });
    /* presence.query is empty here: the member list says so, and the room works. */
    assert.match(await second.textContent('#members-note'), /presence\.query/);
    await second.waitForSelector('#rooms li.active.joined[data-room="lobby"]', { timeout: 2000 });
    await say(second, 'in at last');
    await waitShown(second, displayedAnon(await second.getAttribute('#conn-state', 'title')), 'in at last', 'the second page');
  });
});

describe('the demo page in headless Chromium behind a proxy that refuses WebSocket', () => {
  const env = daemonAndBrowser({ presence: { query: ['*'], announce: ['*'] } }, async (e) => {
    e.proxy = noUpgradeProxy(() => e.d.port);
    await new Promise((resolve) => e.proxy.listen(0, '127.0.0.1', resolve));
  });

  it('falls back to SSE by itself and chats with a page on a WebSocket', T, async () => {
    const open = async (url, name) => {
      const page = await (await env.browser.newContext({ viewport: { width: 1100, height: 720 } })).newPage();
      page.on('pageerror', (e) => process.stderr.write(`# ${name}'s page: ${e.message}\n`));
      await page.goto(url);
      await page.waitForSelector('#login', { state: 'visible' });
      await page.fill('#name', name);
      await page.click('#join-named');
      await waitConnected(page, name);
      await page.waitForSelector('#rooms li.active.joined[data-room="lobby"]', { timeout: 10000 });
      return page;
    };
    const carol = await open(`http://127.0.0.1:${env.proxy.address().port}/`, 'carol');
    const dave = await open(`http://127.0.0.1:${env.d.port}/`, 'dave');
    const byUser = Object.fromEntries(env.d.ctl(['conns']).conns.map((c) => [c.user, c.transport]));
    assert.deepEqual(byUser, { 'demo:carol': 'sse', 'demo:dave': 'websocket' });
    await say(carol, 'carol over SSE');
    await waitShown(dave, 'carol', 'carol over SSE', "dave's page");
    await waitShown(carol, 'carol', 'carol over SSE', "carol's own message, acknowledged");
    await say(dave, 'dave over a WebSocket');
    await waitShown(carol, 'dave', 'dave over a WebSocket', "carol's page");
    await adminPublish(env.d.adminPort, 'lobby', { text: 'from the server' });
    await waitShown(carol, 'server', 'from the server', "carol's page");
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await carol.screenshot({ path: path.join(ARTIFACTS, 'demo-sse.png') });
  });
});
