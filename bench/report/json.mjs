// bench/results/latest.json: the machine-readable record of the run.
export function renderJson(results) {
  return JSON.stringify(results, (_k, v) => (typeof v === 'number' && !Number.isInteger(v) ? +v.toPrecision(6) : v), 2) + '\n';
}
