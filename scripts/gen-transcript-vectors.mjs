// Regenerates the fixed-seed protocol transcript, test/vectors/transcript-v2.json, and then checks
// it (the same test in its normal mode). The transcript is made by test/support/transcript.ts with
// the platform random source replaced by a seeded SHAKE256 generator, so it changes only when the
// protocol does: run this for a deliberate protocol change (wire format, key schedule, primitives,
// the order randomness is drawn in), review the diff, and say why in the commit.
//   node scripts/gen-transcript-vectors.mjs
// It runs through vitest because the generator imports the TypeScript sources directly.
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const vitest = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'vitest.cmd' : 'vitest');
const test = 'test/protocol/transcript-vectors.test.ts';

function run(env) {
  const result = spawnSync(vitest, ['run', test], { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (result.error) throw result.error;
  if (result.status !== 0) process.exit(result.status ?? 1);
}

run({ PQE2EE_WRITE_VECTORS: '1' });
run({ PQE2EE_WRITE_VECTORS: '' });
console.log('test/vectors/transcript-v2.json regenerated and checked');
