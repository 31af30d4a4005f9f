/**
 * The thread a large area is repaired in (see area-repair.ts): one area in, one answer out.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { repairArea, type Area } from './segment-area.ts';

const { area } = workerData as { area: Area };
try {
  const result = repairArea(area);
  parentPort!.postMessage({ ok: true, area: result.area, repaired: result.repaired });
} catch (err) {
  parentPort!.postMessage({ ok: false, message: (err as Error).message });
}
