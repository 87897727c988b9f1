// The import-layer rule of DESIGN.md §2, checked: every relative import in bindings/ and src/ must
// go to a layer the importing layer may use, and no module may import itself through a cycle.
// Static `import`/`export … from` and `import()` with a literal path are read; type-only imports
// count too (a type import still couples the layers).
//   node scripts/check-layers.mjs     prints each violation and exits 1 if there is one
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Layer of a file, by path prefix (first match wins), and the layers it may import. "errors" is
 * the dependency-free error module every layer shares; "shared" holds neutral definitions that
 * both the protocol and the server read (signed statements).
 */
const LAYERS = [
  ['src/proto/', 'proto'],
  ['src/errors', 'errors'],
  ['src/index.ts', 'entry'],
  ['src/node.ts', 'entry'],
  ['src/crypto/', 'crypto'],
  ['src/protocol/', 'protocol'],
  ['src/audit/', 'audit'],
  ['src/store/', 'store'],
  ['src/transport/', 'transport'],
  ['src/client/', 'client'],
  ['src/server/', 'server'],
  ['src/cli/', 'cli'],
  ['src/', 'shared'],
  ['bindings/', 'bindings'],
];
const MAY_IMPORT = {
  errors: [],
  bindings: ['errors'],
  proto: [],
  crypto: ['bindings', 'errors'],
  shared: ['crypto', 'bindings', 'proto', 'errors'],
  protocol: ['crypto', 'bindings', 'proto', 'shared', 'errors'],
  audit: ['crypto', 'bindings', 'proto', 'shared', 'errors'],
  store: ['crypto', 'bindings', 'errors'],
  transport: ['proto', 'errors'],
  client: ['protocol', 'audit', 'store', 'transport', 'crypto', 'bindings', 'proto', 'shared', 'errors'],
  server: ['audit', 'crypto', 'bindings', 'proto', 'shared', 'store', 'errors'],
  cli: ['client', 'server', 'protocol', 'audit', 'store', 'transport', 'crypto', 'bindings', 'proto', 'shared', 'errors', 'entry'],
  entry: ['client', 'server', 'protocol', 'audit', 'store', 'transport', 'crypto', 'bindings', 'proto', 'shared', 'errors'],
};

function layerOf(file) {
  const match = LAYERS.find(([prefix]) => file === prefix || file.startsWith(prefix));
  return match?.[1];
}

function sourceFiles(directory) {
  const out = [];
  for (const name of readdirSync(join(root, directory))) {
    const path = join(directory, name);
    if (statSync(join(root, path)).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.ts$/.test(name) && !/\.d\.ts$/.test(name)) out.push(path);
  }
  return out;
}

const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Relative imports of `file`, resolved to repository paths (.js specifiers name .ts sources). */
function importsOf(file) {
  const text = readFileSync(join(root, file), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, '');
  const targets = [];
  for (const match of text.matchAll(IMPORT)) {
    const specifier = match[1] ?? match[2] ?? match[3];
    if (!specifier?.startsWith('.')) continue;
    const base = join(dirname(file), specifier).replace(/\.js$/, '');
    const candidates = [`${base}.ts`, join(base, 'index.ts')];
    const target = candidates.find((c) => existsSync(join(root, c)));
    if (target) targets.push(relative(root, join(root, target)));
  }
  return targets;
}

const files = [...sourceFiles('bindings'), ...sourceFiles('src')];
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const problems = [];

for (const [file, targets] of graph) {
  const from = layerOf(file);
  for (const target of targets) {
    const to = layerOf(target);
    if (from === to) continue;
    if (!from || !to || !MAY_IMPORT[from]?.includes(to)) problems.push(`layer: ${file} (${from}) imports ${target} (${to})`);
  }
}

// Cycles: depth-first search; each back edge closes a cycle, reported once per strongly tied set.
const state = new Map();
const stack = [];
const reported = new Set();
function visit(file) {
  state.set(file, 'open');
  stack.push(file);
  for (const target of graph.get(file) ?? []) {
    if (state.get(target) === 'open') {
      const cycle = stack.slice(stack.indexOf(target));
      const key = [...cycle].sort().join(' ');
      if (!reported.has(key)) {
        reported.add(key);
        problems.push(`cycle: ${[...cycle, target].join(' -> ')}`);
      }
    } else if (!state.has(target)) visit(target);
  }
  stack.pop();
  state.set(file, 'done');
}
for (const file of files) if (!state.has(file)) visit(file);

for (const p of problems) console.error(p);
if (problems.length > 0) {
  console.error(`check-layers: ${problems.length} problem(s) in ${files.length} files`);
  process.exit(1);
}
console.log(`check-layers: ${files.length} files, imports follow the layers, no cycles`);
