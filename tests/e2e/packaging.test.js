'use strict';
/*
 * Packaging: `make install DESTDIR=<tmp> PREFIX=/usr` from the repository
 * root (with SANITIZE=1 when the binaries under test are bin/san's, so
 * that it installs them and rebuilds nothing), then the installed tree:
 * the files and their modes, the binaries are the ones under test, the
 * installed config loads (`wsd -t`) and differs from conf/wsd.conf only
 * in its run and state paths, the unit names the installed paths and
 * gives a drain its time, `systemd-analyze verify` accepts the unit
 * without a word, each man page renders with `man --warnings -l`
 * without a warning, the pages name the keys, commands and options the
 * code has, and `make uninstall` removes everything but the config.
 *
 * systemd-analyze verify checks that ExecStart's binary exists and runs
 * `man` for every Documentation= page. It is run with --root on a copy
 * of the installed tree, so it finds /usr/sbin/wsd there (the installed
 * file, not one on this machine), with the host's own units (the
 * targets wsd.service is ordered after) and /bin/kill (ExecReload) added
 * to the copy, and MANPATH pointing at the installed man pages.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { REPO, WSD_BIN, WSCTL_BIN } = require('./harness');

const T = { timeout: 300000 };

function run(cmd, args, opts = {}) {
  return childProcess.spawnSync(cmd, args, { encoding: 'utf8', timeout: 240000, ...opts });
}

/* SANITIZE=1 when the binaries under test are the sanitizer build's. */
function makeFlags() {
  if (path.resolve(WSD_BIN) === path.join(REPO, 'bin', 'san', 'wsd')) return ['SANITIZE=1'];
  return [];
}

const EXPECTED = {
  'usr/sbin/wsd': 0o755,
  'usr/sbin/wsctl': 0o755,
  'etc/wsd/wsd.conf': 0o644,
  'usr/lib/systemd/system/wsd.service': 0o644,
  'usr/share/man/man8/wsd.8': 0o644,
  'usr/share/man/man8/wsctl.8': 0o644,
  'usr/share/man/man5/wsd.conf.5': 0o644,
};

function filesUnder(root) {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(path.relative(root, p));
    }
  };
  walk(root);
  return out.sort();
}

/* Every config key of the two settings tables, as "group.key", and `listeners`. */
function settingKeys() {
  const keys = new Set();
  for (const f of ['proto/settings.c', 'supervisor/sv_config.c']) {
    const src = fs.readFileSync(path.join(REPO, f), 'utf8');
    for (const m of src.matchAll(/^\s*\{"([a-z_.]+)", SETTING_[A-Z]+/gm)) keys.add(m[1]);
  }
  /* A list of groups, read by sv_config.c's parse_listeners, not a row. */
  if (/parse_listeners/.test(fs.readFileSync(path.join(REPO, 'supervisor/sv_config.c'), 'utf8'))) keys.add('listeners');
  return keys;
}

describe('make install', () => {
  let tmp, dest;

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wsd-pkg-'));
    dest = path.join(tmp, 'dest');
    const r = run('make', ['-C', REPO, 'install', `DESTDIR=${dest}`, 'PREFIX=/usr', ...makeFlags()]);
    assert.equal(r.status, 0, `make install failed:\n${r.stdout}\n${r.stderr}`);
  });
  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('installs exactly the expected files, with their modes', T, () => {
    assert.deepEqual(filesUnder(dest), Object.keys(EXPECTED).sort());
    for (const [f, mode] of Object.entries(EXPECTED))
      assert.equal(fs.statSync(path.join(dest, f)).mode & 0o777, mode, `mode of ${f}`);
    /* The binaries are the ones the other tests run. */
    const same = (a, b) => fs.readFileSync(a).equals(fs.readFileSync(b));
    if (path.dirname(path.resolve(WSD_BIN)).startsWith(path.join(REPO, 'bin'))) {
      assert.ok(same(path.join(dest, 'usr/sbin/wsd'), WSD_BIN), 'installed wsd is the tested one');
      assert.ok(same(path.join(dest, 'usr/sbin/wsctl'), WSCTL_BIN), 'installed wsctl is the tested one');
    }
    const v = run(path.join(dest, 'usr/sbin/wsd'), ['--version']);
    assert.equal(v.status, 0);
    assert.match(v.stdout, /^wsd \d+\.\d+\.\d+ \(git /);
  });

  it('installs a config that loads, with the run and state paths of the unit', T, () => {
    const conf = path.join(dest, 'etc/wsd/wsd.conf');
    const t = run(path.join(dest, 'usr/sbin/wsd'), ['-t', '-c', conf]);
    assert.equal(t.status, 0, `wsd -t: ${t.stdout}${t.stderr}`);
    assert.match(t.stdout, /configuration ok/);
    /* Only three lines differ from the repository's config. */
    const a = fs.readFileSync(path.join(REPO, 'conf/wsd.conf'), 'utf8').split('\n');
    const b = fs.readFileSync(conf, 'utf8').split('\n');
    assert.equal(a.length, b.length);
    const diff = b.filter((l, i) => l !== a[i]);
    assert.deepEqual(diff, [
      'run_dir = "/run/wsd";',
      'state_dir = "/var/lib/wsd";',
      '  key_file = "/var/lib/wsd/session.keys";',
    ]);
    /* wsctl checkconfig finds the wsd next to it. */
    const c = run(path.join(dest, 'usr/sbin/wsctl'), ['checkconfig', conf], { env: { ...process.env, PATH: '/nonexistent' } });
    assert.equal(c.status, 0, `wsctl checkconfig: ${c.stdout}${c.stderr}`);
  });

  it('installs a unit with the installed paths and a stop timeout above the drain timeout', T, () => {
    const unit = fs.readFileSync(path.join(dest, 'usr/lib/systemd/system/wsd.service'), 'utf8');
    assert.doesNotMatch(unit, /\/usr\/local/);
    assert.match(unit, /^ExecStart=\/usr\/sbin\/wsd -c \/etc\/wsd\/wsd\.conf$/m);
    assert.match(unit, /^Type=notify$/m);
    assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    /* The installed config's run_dir is the unit's RuntimeDirectory. */
    assert.match(unit, /^RuntimeDirectory=wsd$/m);
    assert.match(unit, /^StateDirectory=wsd$/m);
    const settings = fs.readFileSync(path.join(REPO, 'proto/settings.c'), 'utf8');
    const drainMs = Number(/\{"drain\.timeout_ms", SETTING_UINT, [^,]+, \d+, \d+,\s*(\d+),/.exec(settings)[1]);
    const stopS = Number(/^TimeoutStopSec=(\d+)$/m.exec(unit)[1]);
    assert.ok(stopS * 1000 >= drainMs + 5000, `TimeoutStopSec=${stopS} covers drain.timeout_ms=${drainMs} with a margin`);
  });

  it('passes systemd-analyze verify without a warning', T, () => {
    const root = path.join(tmp, 'verify-root');
    const unitDir = path.join(root, 'usr/lib/systemd/system');
    fs.cpSync(dest, root, { recursive: true });
    fs.mkdirSync(path.join(root, 'usr/bin'), { recursive: true });
    fs.copyFileSync(fs.realpathSync('/bin/kill'), path.join(root, 'usr/bin/kill'));
    fs.chmodSync(path.join(root, 'usr/bin/kill'), 0o755);
    fs.symlinkSync('usr/bin', path.join(root, 'bin'));
    for (const f of fs.readdirSync('/usr/lib/systemd/system'))
      if (f !== 'wsd.service') fs.cpSync(path.join('/usr/lib/systemd/system', f), path.join(unitDir, f), { recursive: true, verbatimSymlinks: true });
    const env = { ...process.env, MANPATH: path.join(root, 'usr/share/man'), SYSTEMD_LOG_COLOR: '0' };
    const verify = () => run('systemd-analyze', ['verify', `--root=${root}`, 'wsd.service'], { env });
    let r = verify();
    assert.equal(r.status, 0, `systemd-analyze verify: ${r.stdout}${r.stderr}`);
    assert.equal(`${r.stdout}${r.stderr}`, '', 'systemd-analyze verify says nothing');

    /* The check can fail: an unknown key, and a missing binary, are reported. */
    const unitPath = path.join(unitDir, 'wsd.service');
    const good = fs.readFileSync(unitPath, 'utf8');
    fs.writeFileSync(unitPath, good.replace('ProtectHome=yes', 'ProtectHomee=yes'));
    r = verify();
    assert.match(`${r.stdout}${r.stderr}`, /Unknown key 'ProtectHomee'/);
    fs.writeFileSync(unitPath, good);
    fs.renameSync(path.join(root, 'usr/sbin/wsd'), path.join(root, 'usr/sbin/wsd.gone'));
    r = verify();
    assert.notEqual(r.status, 0);
    assert.match(`${r.stdout}${r.stderr}`, /\/usr\/sbin\/wsd is not executable/);
  });

  it('installs man pages that render without a warning', T, () => {
    for (const f of Object.keys(EXPECTED).filter((x) => x.startsWith('usr/share/man/'))) {
      const r = run('man', ['--warnings', '-l', path.join(dest, f)], { env: { ...process.env, MANWIDTH: '80', MAN_KEEP_FORMATTING: '' } });
      assert.equal(r.status, 0, `man -l ${f}: ${r.stderr}`);
      assert.equal(r.stderr, '', `warnings for ${f}`);
      assert.ok(r.stdout.length > 1000, `${f} renders`);
    }
  });

  it('the man pages name the config keys, wsctl commands and wsd options there are', T, () => {
    const page = (f) => fs.readFileSync(path.join(dest, 'usr/share/man', f), 'utf8');
    /* wsd.conf(5): one ".TP" entry "\fBkey\fR = default" per key, no other. */
    const conf5 = page('man5/wsd.conf.5');
    const inPage = new Set([...conf5.matchAll(/^\\fB([a-z_.]+)\\fR = /gm)].map((m) => m[1]));
    assert.deepEqual([...inPage].sort(), [...settingKeys()].sort());

    /* wsctl(8): every command of `wsctl help`. */
    const help = run(WSCTL_BIN, ['help']).stdout;
    const cmds = [...help.matchAll(/^ {2}([a-z]+)(?= |$)/gm)].map((m) => m[1]);
    assert.ok(cmds.length >= 20, `commands in wsctl help: ${cmds}`);
    const wsctl8 = page('man8/wsctl.8');
    for (const c of new Set(cmds))
      assert.match(wsctl8, new RegExp(`^\\.(TP\\n\\.)?(B|BI) "?${c}\\b`, 'm'), `wsctl(8) has ${c}`);

    /* wsd(8): every option of the usage text. */
    const usage = run(WSD_BIN, ['-h']).stdout;
    const optsUsed = [...usage.matchAll(/^ {2}-([a-zA-Z])/gm)].map((m) => m[1]);
    assert.ok(optsUsed.length >= 8, `options in wsd -h: ${optsUsed}`);
    const wsd8 = page('man8/wsd.8');
    for (const o of optsUsed) assert.match(wsd8, new RegExp(`^\\.(BI|BR|B) \\\\-${o}\\b`, 'm'), `wsd(8) has -${o}`);
  });

  it('make uninstall removes all of it but the config', T, () => {
    const r = run('make', ['-C', REPO, 'uninstall', `DESTDIR=${dest}`, 'PREFIX=/usr', ...makeFlags()]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(filesUnder(dest), ['etc/wsd/wsd.conf']);
  });
});
