// Child process of coldstart.mjs: measures, in a fresh Node process, the time from just before
// importing an implementation to just after its first ML-KEM-1024 key generation.
// argv: <target> [moduleUrl]   target = pqe2ee | noble | liboqs
const [target, moduleUrl] = process.argv.slice(2);

const t0 = performance.now();
let pkLen;
if (target === 'pqe2ee') {
  const m = await import(moduleUrl);
  let kp;
  try {
    kp = m.mlkem1024.keygen(); // Node: the core initialises synchronously on first use
  } catch (err) {
    if (err?.code !== 'ERR_CORE_NOT_READY') throw err;
    await m.ready();
    kp = m.mlkem1024.keygen();
  }
  pkLen = kp.publicKey.length;
} else if (target === 'noble') {
  const { ml_kem1024 } = await import('@noble/post-quantum/ml-kem.js');
  pkLen = ml_kem1024.keygen().publicKey.length;
} else if (target === 'liboqs') {
  const { createMLKEM1024 } = await import('@oqs/liboqs-js/kem');
  const kem = await createMLKEM1024();
  pkLen = kem.generateKeyPair().publicKey.length;
} else {
  throw new Error(`unknown target ${target}`);
}
const t1 = performance.now();
if (pkLen !== 1568) throw new Error(`unexpected public key length ${pkLen}`);
// performance.now() counts from process start, so t1 also gives start-of-process → keygen.
process.stdout.write(JSON.stringify({ ms: t1 - t0, sinceProcessStartMs: t1 }) + '\n');
