'use strict';
/*
 * `wsd -V`, `wsd --version` and `wsctl --version`: exit 0, the first line
 * names the program, the release of supervisor/sv.h's WSD_VERSION (read
 * from proto/version.h here) and the git revision, and one line follows
 * per linked library, each with a version that is not empty.
 */

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { REPO, WSD_BIN, WSCTL_BIN } = require('./harness');

const LIBS = ['libev', 'nng', 'wslay', 'msgpack-c', 'jansson', 'libjwt', 'libconfig', 'http-parser', 'OpenSSL', 'zlib', 'libsystemd'];
const VERSION = /#define WSD_VERSION "([^"]+)"/.exec(fs.readFileSync(path.join(REPO, 'proto', 'version.h'), 'utf8'))[1];

function check(bin, args, prog) {
  const r = childProcess.spawnSync(bin, args, { encoding: 'utf8', timeout: 5000 });
  assert.equal(r.status, 0, `${prog} ${args.join(' ')} exits 0: ${r.stderr}`);
  assert.equal(r.stderr, '');
  const lines = r.stdout.trimEnd().split('\n');
  const esc = VERSION.replace(/\./g, '\\.');
  assert.match(lines[0], new RegExp(`^${prog} ${esc} \\(git ([0-9a-f]{7,}(-dirty)?|[\\w.-]+|unknown)\\)$`));
  /* Inside this git checkout the revision is the checkout's. */
  const rev = childProcess.spawnSync('git', ['-C', REPO, 'rev-parse', '--short=7', 'HEAD'], { encoding: 'utf8' });
  if (rev.status === 0) assert.ok(lines[0].includes(rev.stdout.trim().slice(0, 7)), `revision of HEAD in ${lines[0]}`);
  const seen = lines.slice(1).map((l) => /^ {2}(\S+) (\S.*)$/.exec(l));
  assert.ok(seen.every(Boolean), `every library line is "  NAME VERSION": ${r.stdout}`);
  assert.deepEqual(seen.map((m) => m[1]), LIBS);
  for (const m of seen) assert.match(m[2], /^\d+(\.\d+)*\S*( \((headers|pkg-config)\))?$/, `${m[1]} has a version`);
  return lines;
}

describe('version', () => {
  it('wsd -V and wsd --version print the same report', () => {
    const a = check(WSD_BIN, ['-V'], 'wsd');
    const b = check(WSD_BIN, ['--version'], 'wsd');
    assert.deepEqual(a, b);
  });

  it('wsctl --version prints the same versions as wsd', () => {
    const a = check(WSCTL_BIN, ['--version'], 'wsctl');
    const b = check(WSD_BIN, ['-V'], 'wsd');
    assert.deepEqual(a.slice(1), b.slice(1));
  });

  it('the versions are those of the libraries loaded, not constants', () => {
    /* zlib's run-time zlibVersion() and OpenSSL's own report agree with the line. */
    const lines = check(WSD_BIN, ['-V'], 'wsd');
    const ssl = childProcess.spawnSync('openssl', ['version'], { encoding: 'utf8' });
    if (ssl.status === 0) {
      const v = /^OpenSSL (\S+)/.exec(ssl.stdout)[1];
      assert.ok(lines.includes(`  OpenSSL ${v}`), `OpenSSL ${v} in ${lines}`);
    }
    const pc = childProcess.spawnSync('pkg-config', ['--modversion', 'libjwt'], { encoding: 'utf8' });
    assert.equal(pc.status, 0);
    assert.ok(lines.includes(`  libjwt ${pc.stdout.trim()} (pkg-config)`));
  });
});
