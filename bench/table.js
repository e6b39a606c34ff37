// The table of a bench run: for each measure, wsd's figure, each peer's,
// and the ratio wsd/peer, with the targets checked for wsd.
//
//   node bench/table.js MACHINE_FILE RESULTS_FILE
//
// RESULTS_FILE holds wsbench's key=value lines, each prefixed by run.sh
// with id=MEASURE (idle, echo, echo3, fanout, connect, idle_big). Prints
// the machine lines, then a Markdown table. A cost ratio (memory, CPU,
// latency) below 1 means wsd spends less; a rate ratio above 1 means wsd
// does more. "n/a" marks a measure a server was not run for.
'use strict';
const fs = require('fs');

const [machineFile, resultsFile] = process.argv.slice(2);
const runs = {};
for (const line of fs.readFileSync(resultsFile, 'utf8').split('\n')) {
  if (!line.trim()) continue;
  const kv = {};
  for (const w of line.trim().split(/\s+/)) {
    const i = w.indexOf('=');
    if (i > 0) kv[w.slice(0, i)] = w.slice(i + 1);
  }
  (runs[kv.id] = runs[kv.id] || {})[kv.server] = kv;
}

const peers = ['floor', 'node', 'lws'].filter((p) => Object.values(runs).some((r) => r[p]));
/* wsd with one worker, when it ran: its own column and its ratio to the floor. */
const one = Object.values(runs).some((r) => r.wsd1) ? ['wsd1'] : [];
const label = (p) => (p === 'node' ? 'node ws' : p === 'wsd1' ? 'wsd (1 worker)' : p);
const num = (r, k) => (r && r[k] !== undefined ? parseFloat(r[k]) : undefined);

function fmt(v) {
  if (v === undefined || Number.isNaN(v)) return 'n/a';
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/* The CPU target: wsd with one worker within 5 % of the floor. */
function floorCheck(w, n, r, set, key) {
  const one = set.wsd1 && parseFloat(set.wsd1[key]);
  const floor = set.floor && parseFloat(set.floor[key]);
  if (!one || !floor) return null;
  return [one <= floor * 1.05, '1 worker <= 1.05 x floor'];
}

// [measure id, key, label, scale, target check (given wsd, node, wsd's run, every server's run, key)]
const rows = [
  ['idle', 'connected', 'idle: connections held', 1],
  ['idle', 'pss_per_conn', 'idle: server PSS per connection (bytes)', 1,
    (w) => [w <= 400, '<= 400 B']],
  ['idle', 'slab_per_conn_both_ends', 'idle: kernel slab per connection, both ends (bytes)', 1],
  ['idle', 'connect_s', 'idle: time to connect all (s)', 1],
  ['echo', 'cpu_per_msg_us', 'echo: server CPU per message (us)', 1, floorCheck],
  ['echo', 'server_user_share', 'echo: user-space share of server CPU', 1],
  ['echo', 'throughput', 'echo: messages/s achieved', 1],
  ['echo', 'p50_us', 'echo: round trip p50 (us)', 1],
  ['echo', 'p99_us', 'echo: round trip p99 (us)', 1],
  ['echo', 'p999_us', 'echo: round trip p99.9 (us)', 1],
  ['echo3', 'cpu_per_msg_us', 'echo, 3 conns: server CPU per message (us)', 1],
  ['echo3', 'p50_us', 'echo, 3 conns: round trip p50 (us)', 1],
  ['echo3', 'p99_us', 'echo, 3 conns: round trip p99 (us)', 1],
  ['echo3', 'bad', 'echo, 3 conns: replies that were not whole messages', 1],
  ['fanout', 'cpu_per_delivery_us', 'fanout: server CPU per delivery (us)', 1, floorCheck],
  ['fanout', 'server_user_share', 'fanout: user-space share of server CPU', 1],
  ['fanout', 'deliveries_per_s', 'fanout: deliveries/s', 1],
  ['fanout', 'deliveries', 'fanout: deliveries received', 1],
  ['fanout', 'p50_us', 'fanout: publish-to-delivery p50 (ms)', 0.001],
  ['fanout', 'p99_us', 'fanout: publish-to-delivery p99 (ms)', 0.001],
  ['fanout', 'last_p50_ms', 'fanout: last receiver p50 (ms)', 1],
  ['fanout', 'last_p99_ms', 'fanout: last receiver p99 (ms)', 1,
    (w, n, r) => (parseInt(r.subs, 10) >= 10000 ? [w <= 30, '<= 30 ms at 10,000'] : null)],
  ['connect', 'connects_per_s', 'connect: connections/s', 1],
  ['connect', 'cpu_per_connect_us', 'connect: server CPU per connection (us)', 1],
  ['idle_big', 'connected', 'idle, wsd only: connections held', 1,
    (w, n, r) => [w >= 100000 && parseInt(r.still_up, 10) >= 100000, '100,000 held']],
  ['idle_big', 'pss_per_conn', 'idle, wsd only: server PSS per connection (bytes)', 1,
    (w) => [w <= 400, '<= 400 B']],
];

console.log(fs.readFileSync(machineFile, 'utf8').trim());
const sizes = [];
if (runs.idle) sizes.push(`idle ${(runs.idle.wsd || Object.values(runs.idle)[0]).conns} conns`);
if (runs.echo) { const r = runs.echo.wsd || Object.values(runs.echo)[0]; sizes.push(`echo ${r.conns} conns x ${r.size} B at ${r.rate}/s for ${r.secs} s`); }
if (runs.fanout) { const r = runs.fanout.wsd || Object.values(runs.fanout)[0]; sizes.push(`fanout ${r.subs} subscribers, ${r.publishes} publishes at ${r.rate}/s`); }
if (runs.connect) { const r = runs.connect.wsd || Object.values(runs.connect)[0]; sizes.push(`connect ${r.secs} s, ${r.inflight} in flight`); }
console.log(`sizes: ${sizes.join('; ')}`);
console.log('');
const oneFloor = one.length && peers.includes('floor') ? ['wsd1/floor'] : [];
const head = ['measure', 'wsd', ...one.map(label), ...peers.map(label),
  ...peers.map((p) => `wsd/${p}`), ...oneFloor, 'target (wsd)'];
console.log(`| ${head.join(' | ')} |`);
console.log(`|${head.map((h, i) => (i === 0 ? '---' : '---:')).join('|')}|`);
for (const [id, key, text, scale, check] of rows) {
  const set = runs[id];
  if (!set) continue;
  const w = num(set.wsd, key);
  const w1 = one.map((p) => num(set[p], key));
  const vals = peers.map((p) => num(set[p], key));
  const ratio = (a, b) => (a !== undefined && b && key !== 'server_user_share' ? a / b : undefined);
  const ratios = vals.map((v) => ratio(w, v));
  if (oneFloor.length) ratios.push(ratio(w1[0], num(set.floor, key)));
  let target = '';
  if (check && w !== undefined) {
    const res = check(w, num(set.node, key), set.wsd, set, key);
    if (res) target = `${res[1]}: ${res[0] ? 'met' : 'MISSED'}`;
  }
  const cells = [text, fmt(w !== undefined ? w * scale : undefined),
    ...w1.map((v) => fmt(v !== undefined ? v * scale : undefined)),
    ...vals.map((v) => fmt(v !== undefined ? v * scale : undefined)),
    ...ratios.map((x) => (x === undefined ? 'n/a' : x.toFixed(2))), target];
  console.log(`| ${cells.join(' | ')} |`);
}
