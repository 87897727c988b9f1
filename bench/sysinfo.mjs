// Machine / runtime metadata recorded with every result.
import os from 'node:os';

export function sysinfo() {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform} ${os.release()}`,
    arch: process.arch,
    cpu: { model: cpus[0]?.model?.trim() ?? 'unknown', cores: cpus.length, speedMHz: cpus[0]?.speed ?? null },
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    loadavgAtStart: os.loadavg().map((x) => +x.toFixed(2)),
  };
}
