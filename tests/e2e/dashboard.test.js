'use strict';
/*
 * The dashboard (GET / on the admin listener) in a real browser: Debian's
 * chromium, headless, driven by playwright-core. The page must show the
 * daemon's real connection count as clients come and go, and a row per
 * worker; it must load nothing from anywhere but the listener. A
 * screenshot is saved to tests/artifacts/dashboard.png.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');
const { startWsd, connectWelcomed, waitFor, trackPid, REPO } = require('./harness');

const CHROMIUM = process.env.WSD_CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO, 'tests', 'artifacts');
const T = { timeout: 60000 };

describe('the dashboard in headless Chromium', () => {
  let d;
  let server;
  let browser;
  let page;
  const clients = [];
  const requests = [];

  before(async () => {
    d = await startWsd({ workers: 2 });
    server = await chromium.launchServer({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    trackPid(server.process().pid);
    browser = await chromium.connect(server.wsEndpoint());
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('request', (r) => requests.push(r.url()));
  });
  after(async () => {
    for (const c of clients) c.terminate();
    if (browser) await browser.close().catch(() => {});
    if (server) await server.close().catch(() => {});
    if (d) await d.stop();
  });

  const shown = (id) => page.textContent(`#${id}`);
  const real = () => d.ctl(['status']).connections;

  async function showsReal(what) {
    let last = '';
    await waitFor(
      async () => {
        last = await shown('connections');
        return last === String(real());
      },
      { timeoutMs: 10000, intervalMs: 200, what: `${what}: the page shows ${real()} (it shows ${last})` },
    );
  }

  it('shows the real connection count as clients connect and leave', T, async () => {
    const res = await page.goto(`http://127.0.0.1:${d.adminPort}/`);
    assert.equal(res.status(), 200);
    assert.match(res.headers()['content-type'], /^text\/html/);
    await showsReal('at start');
    assert.equal(await shown('connections'), '0');
    for (let i = 0; i < 7; i++) clients.push(await connectWelcomed(d.url));
    await showsReal('after 7 connect');
    assert.equal(await shown('connections'), '7');
    for (const c of clients.splice(0, 3)) c.close();
    await waitFor(() => real() === 4, { what: 'the daemon down to 4' });
    await showsReal('after 3 leave');
    assert.equal(await shown('connections'), '4');
    /* A row per worker, each ready, and their connections add up. */
    const rows = await page.$$eval('#workers tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    assert.equal(rows.length, 2);
    assert.deepEqual(
      rows.map((r) => r[2]),
      ['ready', 'ready'],
    );
    assert.equal(
      rows.reduce((t, r) => t + Number(r[3]), 0),
      4,
    );
    assert.equal(await shown('error'), '');
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const shot = path.join(ARTIFACTS, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(fs.statSync(shot).size > 1000);
    console.log(`# screenshot: ${shot}`);
  });

  it('fetched nothing but its own listener', T, async () => {
    const origin = `http://127.0.0.1:${d.adminPort}/`;
    assert.ok(requests.length > 4, `${requests.length} requests`);
    for (const u of requests) assert.ok(u.startsWith(origin), u);
  });
});

describe('the dashboard with admin.key set', () => {
  const KEY = 'e2e-dashboard-key-4c2e8a';
  let d;
  let server;
  let browser;
  const clients = [];

  before(async () => {
    d = await startWsd({ workers: 2, config: { admin: { key: KEY } } });
    server = await chromium.launchServer({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    trackPid(server.process().pid);
    browser = await chromium.connect(server.wsEndpoint());
  });
  after(async () => {
    for (const c of clients) c.terminate();
    if (browser) await browser.close().catch(() => {});
    if (server) await server.close().catch(() => {});
    if (d) await d.stop();
  });

  it('asks for the key, then shows the real count with it', T, async () => {
    const page = await browser.newPage();
    for (let i = 0; i < 3; i++) clients.push(await connectWelcomed(d.url));
    await page.goto(`http://127.0.0.1:${d.adminPort}/`);
    await page.waitForSelector('#login', { state: 'visible', timeout: 10000 });
    assert.equal(await page.textContent('#connections'), '?');
    await page.fill('#key', 'a-wrong-key-0000000000');
    await page.click('#key-submit');
    await page.waitForFunction(() => /key/.test(document.getElementById('error').textContent), null, { timeout: 10000 });
    assert.equal(await page.textContent('#connections'), '?');
    await page.fill('#key', KEY);
    await page.click('#key-submit');
    await waitFor(async () => (await page.textContent('#connections')) === '3', { timeoutMs: 10000, intervalMs: 200, what: 'the page shows 3' });
    assert.equal(await page.isVisible('#login'), false);
    clients.pop().close();
    await waitFor(async () => (await page.textContent('#connections')) === '2', { timeoutMs: 10000, intervalMs: 200, what: 'the page shows 2' });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-key.png') });
  });
});
