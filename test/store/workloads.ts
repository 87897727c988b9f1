// Workloads shared by the Node store tests and the in-browser page (no vitest imports here, so the
// page bundle can include it).
import type { DatabaseHandler } from '../../src/store/database.js';

/**
 * Two workers each increment one counter 100 times, yielding inside every transaction; returns the
 * final count (200 when transactions are serialised, less when updates are lost, -1 if missing).
 */
export async function interleavedIncrements(db: DatabaseHandler): Promise<number> {
  const increment = (): Promise<void> =>
    db.transaction(async (tx) => {
      const current = await tx.get('counters', 'n');
      const value = current ? new DataView(current.buffer, current.byteOffset).getUint32(0) : 0;
      await new Promise((resolve) => setTimeout(resolve, 0)); // yield: an unserialised handler loses updates here
      const next = new Uint8Array(4);
      new DataView(next.buffer).setUint32(0, value + 1);
      await tx.put('counters', 'n', next);
    });
  const worker = async (): Promise<void> => {
    for (let i = 0; i < 100; i++) await increment();
  };
  await Promise.all([worker(), worker()]);
  const stored = await db.transaction(async (tx) => tx.get('counters', 'n'));
  return stored ? new DataView(stored.buffer, stored.byteOffset).getUint32(0) : -1;
}
