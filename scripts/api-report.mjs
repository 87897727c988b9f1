// The public API report (API Extractor): for every package entry, the declarations a user can
// reach, written to api/<entry>.api.md. A change to the public surface shows up as a diff of those
// files in review; `--check` (CI) fails when a committed report is stale, when an entry exposes a
// declaration marked @internal, or when a declaration is missing from the entry that uses it.
// Declarations come from `tsc -p tsconfig.build.json` (stripInternal: @internal members are not
// published).
//   node scripts/api-report.mjs          rewrite the reports
//   node scripts/api-report.mjs --check  fail if they differ from the committed ones
import { Extractor, ExtractorConfig } from '@microsoft/api-extractor';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const types = join(root, 'dist/types');

/** Report name → declaration entry (the "types" of each package.json export). */
const ENTRIES = {
  pqe2ee: 'src/index.d.ts',
  'pqe2ee-crypto': 'src/crypto/index.d.ts',
  'pqe2ee-protocol': 'src/protocol/index.d.ts',
  'pqe2ee-node': 'src/node.d.ts',
};

if (!process.argv.includes('--no-emit')) {
  rmSync(types, { recursive: true, force: true });
  execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
}
mkdirSync(join(root, 'api'), { recursive: true });

const packageJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
let failed = false;
for (const [name, entry] of Object.entries(ENTRIES)) {
  const mainEntryPointFilePath = join(types, entry);
  if (!existsSync(mainEntryPointFilePath)) throw new Error(`api-report: ${mainEntryPointFilePath} was not emitted`);
  const config = ExtractorConfig.prepare({
    configObject: {
      projectFolder: root,
      mainEntryPointFilePath,
      compiler: {
        overrideTsconfig: {
          compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022', 'DOM'], types: ['node'], strict: true, skipLibCheck: true },
          include: [join(types, '**/*.d.ts')],
        },
      },
      apiReport: { enabled: true, reportFileName: `${name}.api.md`, reportFolder: join(root, 'api'), reportTempFolder: join(root, 'dist/api-temp') },
      docModel: { enabled: false },
      dtsRollup: { enabled: false },
      tsdocMetadata: { enabled: false },
      messages: {
        extractorMessageReporting: {
          default: { logLevel: 'warning' },
          // Names starting with "_" are the API Extractor convention for internal exports; we mark
          // internals with @internal and strip them instead.
          'ae-internal-missing-underscore': { logLevel: 'none' },
          'ae-missing-release-tag': { logLevel: 'none' },
          // Documentation coverage is reviewed in the report itself (undocumented items are marked
          // there); links are checked by the TypeScript build.
          'ae-undocumented': { logLevel: 'none', addToApiReportFile: true },
          'ae-unresolved-link': { logLevel: 'none' },
          // An exported declaration referring to one that the entry does not export.
          'ae-forgotten-export': { logLevel: 'warning', addToApiReportFile: true },
        },
        tsdocMessageReporting: { default: { logLevel: 'none' } },
      },
    },
    configObjectFullPath: undefined,
    packageJsonFullPath: join(root, 'package.json'),
    packageJson,
  });
  const result = Extractor.invoke(config, { localBuild: !check, showVerboseMessages: false });
  if (!result.succeeded) {
    failed = true;
    console.error(`api-report: ${name}: ${result.apiReportChanged ? 'the API changed; run `node scripts/api-report.mjs` and review api/' : `${result.errorCount} errors`}`);
  }
}
if (failed) process.exit(1);
console.log(`api-report: ${check ? 'public API matches api/*.api.md' : 'wrote api/*.api.md'}`);
