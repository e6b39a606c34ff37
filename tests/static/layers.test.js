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

// The problems of one directory: layers (file -> layer) and text (file ->
// source) are given, so the check itself can be tried on made-up files.
function problemsOf(dir, layers, text) {
  const owner = new Map();
  for (const [f, src] of text) for (const name of definitions(src)) owner.set(name, f);
  const problems = [];
  for (const f of text.keys()) if (!layers.has(f)) problems.push(`${dir}/${f} is in no table of docs/architecture.md`);
  for (const f of layers.keys()) if (!text.has(f)) problems.push(`docs/architecture.md names ${dir}/${f}, which does not exist`);
  for (const [f, src] of text) {
    if (!layers.has(f)) continue;
    const body = stripped(src);
    for (const [name, g] of owner) {
      if (g === f || !layers.has(g) || layers.get(g) <= layers.get(f)) continue;
      if (new RegExp('\\b' + name + '\\b').test(body))
        problems.push(`${dir}/${f} (layer ${layers.get(f)}) names ${name} of ${g} (layer ${layers.get(g)})`);
    }
  }
  return { owner, problems };
}

function check(dir) {
  const layers = layersOf(dir);
  const files = fs.readdirSync(path.join(root, dir)).filter((f) => f.endsWith('.c'));
  const text = new Map(files.map((f) => [f, fs.readFileSync(path.join(root, dir, f), 'utf8')]));
  return { layers, ...problemsOf(dir, layers, text) };
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

  it('the check finds an upward call, a table named upward, and files missing from the tables', () => {
    const layers = new Map([['wk_low.c', 1], ['wk_high.c', 2], ['wk_gone.c', 1]]);
    const text = new Map([
      ['wk_high.c', 'void\nwk_high_run(void)\n{\n\twk_low_do();\n}\n' +
        'const struct wk_handler wk_high_handler = {0};\n'],
      // Calls up by name and names a table; a comment and a string do not count.
      ['wk_low.c', 'int\nwk_low_do(void)\n{\n\t/* wk_high_run */ f("wk_high_run");\n' +
        '\twk_high_run();\n\treturn g(&wk_high_handler);\n}\n' +
        'static void\nwk_low_private(void)\n{\n}\n'],
      ['wk_new.c', 'void\nwk_new_x(void)\n{\n}\n'],
    ]);
    const { owner, problems } = problemsOf('worker', layers, text);
    assert.equal(owner.get('wk_high_run'), 'wk_high.c');
    assert.equal(owner.get('wk_high_handler'), 'wk_high.c');
    assert.equal(owner.has('wk_low_private'), false, 'a static function is not a definition for others');
    assert.deepEqual(problems.sort(), [
      'docs/architecture.md names worker/wk_gone.c, which does not exist',
      'worker/wk_low.c (layer 1) names wk_high_handler of wk_high.c (layer 2)',
      'worker/wk_low.c (layer 1) names wk_high_run of wk_high.c (layer 2)',
      'worker/wk_new.c is in no table of docs/architecture.md',
    ]);
    // The real tables put the connection below the upgrade.
    const real = layersOf('worker');
    assert.ok(real.get('wk_conn.c') < real.get('wk_http.c'));
  });
});
