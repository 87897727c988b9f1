// Operation rates by a plain timed loop. `calibrate` grows a count until one loop lasts the
// warm-up time (which also warms the code), giving the count for a round of about `roundMs`;
// `round` times one round of that count. Work that must not be timed (e.g. generating the messages
// a decrypt row consumes, since a message decrypts once) goes in `prepare(count)`, called before
// each loop outside the timer. libsignal's calls are async (promises resolved on this thread), so
// async ops are awaited one at a time, as an app calls them.

async function timeCount({ op, async: isAsync = false, prepare = () => {} }, count) {
  await prepare(count);
  const t0 = performance.now();
  if (isAsync) for (let i = 0; i < count; i++) await op();
  else for (let i = 0; i < count; i++) op();
  return performance.now() - t0;
}

/** The per-round count for `spec` ({ op, async?, prepare? }). */
export async function calibrate(spec, { roundMs, warmupMs }) {
  let count = 8;
  for (;;) {
    const ms = await timeCount(spec, count);
    if (ms >= warmupMs) return Math.max(4, Math.round((count / ms) * roundMs));
    count *= ms > 0 ? Math.min(8, Math.max(2, Math.ceil(warmupMs / ms))) : 8;
  }
}

/** Operations per second of one round of `count`. */
export async function round(spec, count) {
  return (count / (await timeCount(spec, count))) * 1e3;
}
