// The layering of docs/architecture.md, checked on the sources: inside
// supervisor/ and inside worker/, no C file calls (or names) a function or
// table defined in a file of a higher layer. The layers are read from the
// module tables of docs/architecture.md, so the page and the code cannot
// drift apart: every C file of the two directories must be in a table,
// and every file a table names must exist.
//
// A definition is found the way clang-format lays them out (the return
// type on its own line, the name at the start of the next): a line
// `name(` at column 0 whose previous line is not `static ...`; tables are
// `const struct T name = {` at column 0. Comments and strings are removed
// before a file is searched for the names.
'use strict';
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const doc = fs.readFileSync(path.join(root, 'docs', 'architecture.md'), 'utf8');

// Rows "| N | `file.c` | ..." of the module tables; a directory's files
// carry its prefix (sv_ in supervisor/, wk_ in worker/).
const prefix = { supervisor: 'sv_', worker: 'wk_' };

function layersOf(dir) {
  const layers = new Map();
  const re = /^\| (\d+) \| `([a-z_]+\.c)` \|/gm;
  let m;
  while ((m = re.exec(doc)) !== null)
    if (m[2].startsWith(prefix[dir])) layers.set(m[2], Number(m[1]));
  return layers;
}

function stripped(text) {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/\/\/.*$/gm, ' ')
    .replace(/"(?:[^"\\\n]|\\.)*"/g, '""')
    .replace(/'(?:[^'\\\n]|\\.)*'/g, "''");
}

// The functions and tables a file defines for other files.
function definitions(text) {
  const names = [];
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const fn = /^([a-z_][a-z0-9_]*)\(/.exec(lines[i]);
    if (fn && !/^static\b/.test(lines[i - 1]) && !/^#/.test(lines[i - 1])) names.push(fn[1]);
    const table = /^const struct [a-z_]+ ([a-z_][a-z0-9_]*)(\[\])? =/.exec(lines[i]);
    if (table) names.push(table[1]);
  }
  return names;
}

function check(dir) {
  const layers = layersOf(dir);
  const files = fs.readdirSync(path.join(root, dir)).filter((f) => f.endsWith('.c'));
  const text = new Map(files.map((f) => [f, fs.readFileSync(path.join(root, dir, f), 'utf8')]));
  const owner = new Map();
  for (const f of files) for (const name of definitions(text.get(f))) owner.set(name, f);
  const problems = [];
  for (const f of files) if (!layers.has(f)) problems.push(`${dir}/${f} is in no table of docs/architecture.md`);
  for (const f of layers.keys()) if (!text.has(f)) problems.push(`docs/architecture.md names ${dir}/${f}, which does not exist`);
  for (const f of files) {
    if (!layers.has(f)) continue;
    const body = stripped(text.get(f));
    for (const [name, g] of owner) {
      if (g === f || !layers.has(g) || layers.get(g) <= layers.get(f)) continue;
      if (new RegExp('\\b' + name + '\\b').test(body))
        problems.push(`${dir}/${f} (layer ${layers.get(f)}) names ${name} of ${g} (layer ${layers.get(g)})`);
    }
  }
  return { layers, owner, problems };
}

describe('the layering of docs/architecture.md', () => {
  for (const dir of ['supervisor', 'worker']) {
    it(`no file in ${dir}/ calls a layer above it by name`, () => {
      const { layers, owner, problems } = check(dir);
      // The check must have something to check.
      assert.ok(layers.size >= 8, `only ${layers.size} ${dir} modules found in the tables`);
      assert.ok(owner.size >= 20, `only ${owner.size} ${dir} definitions found`);
      assert.deepEqual(problems, []);
    });
  }

  it('the check finds an upward call when there is one', () => {
    // wk_conn.c calling wk_http_on_read, as it did before the handler.
    const { owner } = check('worker');
    assert.equal(owner.get('wk_http_on_read'), 'wk_http.c');
    assert.equal(owner.get('wk_http_handler'), 'wk_http.c');
    const layers = layersOf('worker');
    assert.ok(layers.get('wk_conn.c') < layers.get('wk_http.c'));
    assert.ok(/\bwk_http_on_read\b/.test(stripped('void f(void) { wk_http_on_read(c); }')));
    assert.ok(!/\bwk_http_on_read\b/.test(stripped('/* wk_http_on_read */ x = "wk_http_on_read";')));
  });
});
