// Small summaries shared by the wire and rate rows.

/** Mean, min, max and total of a list of byte counts. */
export function sizeStats(sizes) {
  let total = 0,
    min = Infinity,
    max = -Infinity;
  for (const n of sizes) {
    total += n;
    if (n < min) min = n;
    if (n > max) max = n;
  }
  return { count: sizes.length, mean: +(total / sizes.length).toFixed(1), min, max, total };
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
