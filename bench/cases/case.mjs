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
//   setup      (count) => void, sync cases only: run outside the timer before every timed loop of
//              benchmark.js, with the exact number of fn calls that loop will make (e.g. to top up
//              a pool of single-use inputs such as messages that decrypt only once)
//   note       free text kept in the results
export const OURS = 'pqe2ee';

export function makeCase({ op, impl, fn, async = false, bytes, check, setup, compareTo, note }) {
  if (!op || !impl || typeof fn !== 'function') throw new Error(`bad case ${op} ${impl}`);
  if (setup !== undefined && (typeof setup !== 'function' || async)) throw new Error(`bad case ${op} ${impl}: setup must be a function of a sync case`);
  return { id: `${op} ${impl}`, op, impl, fn, async, bytes, check, setup, compareTo: compareTo ?? op, note };
}

/** Case builder bound to one implementation name. */
export const caseFactory =
  (impl) =>
  (op, fn, extra = {}) =>
    makeCase({ op, impl, fn, ...extra });
