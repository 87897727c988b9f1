// Code-size figures: raw and gzip -9 bytes.
//  - pqe2ee: wasm/pqe2ee_core.wasm (the target), a minified esbuild bundle of the whole
//    dist/crypto.js entry (JS with the wasm embedded), and one importing only mlkem1024 + mldsa87
//  - @oqs/liboqs-js: the ML-KEM-1024 and ML-DSA-87 wasm modules (captured from
//    WebAssembly.instantiate, since the package embeds them in its .min.js glue) and those glue files
//  - @noble/post-quantum: minified esbuild bundle of ml_kem1024 + ml_dsa87 (pure JS, no wasm)
import { readFileSync, existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { ROOT_DIR } from './config.mjs';

const measure = (buf) => ({ raw: buf.length, gzip: gzipSync(buf, { level: 9 }).length });
const attempt = async (fn) => {
  try {
    return await fn();
  } catch (err) {
    return { reason: `${err?.name ?? 'Error'}: ${err?.message ?? err}` };
  }
};

function fileSize(p) {
  if (!existsSync(p)) return { reason: `${path.relative(ROOT_DIR, p)} not found` };
  return { file: path.relative(ROOT_DIR, p), ...measure(readFileSync(p)) };
}

async function bundleSize(contents, label) {
  const { build } = await import('esbuild');
  const r = await build({
    stdin: { contents, resolveDir: ROOT_DIR, sourcefile: `${label}.mjs`, loader: 'js' },
    bundle: true,
    minify: true,
    write: false,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    external: ['node:*'],
    mainFields: ['module', 'main'],
    logLevel: 'silent',
  });
  return { entry: contents, ...measure(Buffer.from(r.outputFiles[0].contents)) };
}

/** Instantiate a liboqs module with WebAssembly.instantiate hooked to capture the wasm bytes. */
async function captureLiboqsWasm(factory) {
  const oqs = await import('@oqs/liboqs-js');
  const orig = WebAssembly.instantiate;
  let bytes = null;
  WebAssembly.instantiate = function (src, imports) {
    if (src instanceof ArrayBuffer) bytes = Buffer.from(src.slice(0));
    else if (ArrayBuffer.isView(src)) bytes = Buffer.from(src.buffer.slice(src.byteOffset, src.byteOffset + src.byteLength));
    return orig.call(this, src, imports);
  };
  try {
    const inst = await oqs[factory]();
    inst.destroy?.();
  } finally {
    WebAssembly.instantiate = orig;
  }
  if (!bytes) throw new Error(`could not capture the wasm of ${factory}`);
  return bytes;
}

export async function measureSizes() {
  const distEntry = path.join(ROOT_DIR, 'dist', 'crypto.js');
  const pqe2ee = {
    wasm: fileSize(path.join(ROOT_DIR, 'wasm', 'pqe2ee_core.wasm')),
    // the whole pqe2ee/crypto entry: dist/crypto.js may import shared chunks, so bundle it
    cryptoEntryBundle: existsSync(distEntry) ? await attempt(() => bundleSize("export * from './dist/crypto.js';", 'pqe2ee-all')) : { reason: 'dist/crypto.js not built' },
    bundleKemDsa: existsSync(distEntry)
      ? await attempt(() => bundleSize("export { mlkem1024, mldsa87 } from './dist/crypto.js';", 'pqe2ee'))
      : { reason: 'dist/crypto.js not built' },
  };

  const liboqs = await attempt(async () => {
    const kem = await captureLiboqsWasm('createMLKEM1024');
    const dsa = await captureLiboqsWasm('createMLDSA87');
    // the package exports no ./package.json; its entry is <pkg>/src/index.js
    const distDir = path.join(path.dirname(fileURLToPath(import.meta.resolve('@oqs/liboqs-js'))), '..', 'dist');
    const glue = Buffer.concat([readFileSync(path.join(distDir, 'ml-kem-1024.min.js')), readFileSync(path.join(distDir, 'ml-dsa-87.min.js'))]);
    return {
      wasmMlKem1024: measure(kem),
      wasmMlDsa87: measure(dsa),
      wasm: { ...measure(Buffer.concat([kem, dsa])), note: 'ml-kem-1024 + ml-dsa-87 wasm (two separate modules; gzip of the concatenation)' },
      jsWithEmbeddedWasm: { ...measure(glue), note: 'dist/ml-kem-1024.min.js + dist/ml-dsa-87.min.js' },
    };
  });

  const noble = {
    bundleKemDsa: await attempt(() => bundleSize("export { ml_kem1024 } from '@noble/post-quantum/ml-kem.js'; export { ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';", 'noble')),
  };
  return { unit: 'bytes', pqe2ee, '@oqs/liboqs-js': liboqs, '@noble/post-quantum': noble };
}
