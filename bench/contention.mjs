// CPU contention probe: how much CPU other processes (and the hypervisor, "steal") used while a
// case ran. Reads the machine-wide counters in /proc/stat and subtracts this process's own CPU
// time (all its threads, so V8 GC helper threads do not count as contention). Linux only;
// elsewhere every figure is null.
import { readFileSync } from 'node:fs';

const HZ = 100; // USER_HZ: /proc/stat ticks per second on Linux

function readStat() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = f;
    return { busy: (user + nice + system + irq + softirq) / HZ, steal: (steal ?? 0) / HZ };
  } catch {
    return null;
  }
}

function snapshot() {
  const u = process.cpuUsage();
  return { t: performance.now() / 1e3, stat: readStat(), self: (u.user + u.system) / 1e6 };
}

/** Returns `lap()`: contention since the previous lap, in CPU cores (1.0 = one full core). */
export function contentionProbe() {
  let prev = snapshot();
  return function lap() {
    const now = snapshot();
    const wall = now.t - prev.t;
    let out = { otherCores: null, stealCores: null };
    if (now.stat && prev.stat && wall > 0) {
      const other = now.stat.busy - prev.stat.busy - (now.self - prev.self);
      out = { otherCores: +Math.max(0, other / wall).toFixed(2), stealCores: +((now.stat.steal - prev.stat.steal) / wall).toFixed(2) };
    }
    prev = now;
    return out;
  };
}

/** A case counts as contended when others took over a quarter of a core while it ran. */
export const CONTENDED_CORES = 0.25;
export const isContended = (row) => (row.otherCores ?? 0) + (row.stealCores ?? 0) > CONTENDED_CORES;
