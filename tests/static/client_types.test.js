// The client library's TypeScript declarations (clients/js/wsd-client.d.ts)
// checked by `tsc --noEmit --strict` against a small program that uses
// the whole API (clients/js/example.ts), with the typescript compiler
// pinned in tests/package-lock.json; and a program with a type error,
// which tsc must refuse, so that the check cannot pass by checking
// nothing.
'use strict';
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const tsc = path.join(root, 'tests', 'node_modules', 'typescript', 'bin', 'tsc');
const flags = ['--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--skipLibCheck', 'false'];

function run(file) {
  return childProcess.spawnSync(process.execPath, [tsc, ...flags, file], { encoding: 'utf8', timeout: 60000 });
}

describe('wsd-client TypeScript declarations', () => {
  it('tsc --noEmit --strict accepts the example', { timeout: 90000 }, () => {
    const r = run(path.join(root, 'clients', 'js', 'example.ts'));
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  it('and refuses a program that misuses the API', { timeout: 90000 }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsd-ts-'));
    try {
      fs.copyFileSync(path.join(root, 'clients', 'js', 'wsd-client.d.ts'), path.join(dir, 'wsd-client.d.ts'));
      fs.writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}');
      const bad = path.join(dir, 'bad.ts');
      fs.writeFileSync(bad, "import { WsdClient } from './wsd-client.js';\nconst c = new WsdClient('ws://x');\nconst n: number = c.state;\nc.publish(42, 'x');\n");
      const r = run(bad);
      assert.notEqual(r.status, 0, 'tsc accepted a type error');
      assert.match(r.stdout, /bad\.ts\(3,7\).*TS2322/);
      assert.match(r.stdout, /bad\.ts\(4,11\).*TS2345/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
