/**
 * The README's Node example must run as written: extract it, run it against the built package
 * (self-reference `pqe2ee/crypto` resolves through package.json "exports"), and check its output.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');

let built = false;
/** Builds the package once per run (about 2 s), so the examples run against the current sources. */
function ensureBuilt(): void {
  if (built) return;
  execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'pipe' });
  built = true;
}

function codeBlockAfter(heading: string): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf(heading));
  const match = /```js\n([\s\S]*?)```/.exec(section);
  if (!match?.[1]) throw new Error(`no js block after ${heading}`);
  return match[1];
}

describe('README', () => {
  function runExample(heading: string): string {
    ensureBuilt();
    const directory = mkdtempSync(join(root, '.readme-example-'));
    try {
      const file = join(directory, 'example.mjs');
      writeFileSync(file, codeBlockAfter(heading));
      return execFileSync(process.execPath, [file], { cwd: root, encoding: 'utf8' }).trim();
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  }

  it('client runtime example runs: one-to-one and group messages arrive through the server', () => {
    expect(runExample('### Client runtime (Node)')).toBe('hi Bob\nhello group');
  });

  it('Node crypto example runs and prints true', () => {
    expect(runExample('### Crypto primitives (Node)')).toBe('true');
  });

  it('sessions example runs and both messages arrive', () => {
    expect(runExample('### Sessions')).toBe('hi Bob\nhi Alice');
  });

  it('groups example runs', () => {
    expect(runExample('### Groups')).toBe('alice hello group\nhi Carol');
  });
});
