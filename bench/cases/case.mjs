// The unit the harness measures. A case is one operation (`op`) run by one implementation
// (`impl`). Rows of the implementation under test may name `compareTo`, the peer operation they
// are ratioed against (e.g. suite1.kem.keygen is compared with peers' mlkem1024.keygen).
//
//   op         canonical operation id, e.g. "mlkem1024.encaps", "aes256gcm.encrypt.1MiB"
//   impl       "pqe2ee" or a peer name ("@noble/post-quantum", "node:crypto", ...)
//   fn         the measured function; for async cases it returns a Promise
//   async      true → benchmark.js deferred mode
//   bytes      payload bytes per call (rows with bytes also get MB/s)
//   check      () => boolean | Promise<boolean>: correctness check run once before timing
//   note       free text kept in the results
export const OURS = 'pqe2ee';

export function makeCase({ op, impl, fn, async = false, bytes, check, compareTo, note }) {
  if (!op || !impl || typeof fn !== 'function') throw new Error(`bad case ${op} ${impl}`);
  return { id: `${op} ${impl}`, op, impl, fn, async, bytes, check, compareTo: compareTo ?? op, note };
}

/** Case builder bound to one implementation name. */
export const caseFactory = (impl) => (op, fn, extra = {}) => makeCase({ op, impl, fn, ...extra });
