/**
 * Repairing a self-intersecting area within a budget. Splitting a ring at its crossings (turf's
 * kinks/unkink/union) costs about the square of its crossings: a 2001-vertex star has a million of
 * them and took the server down. Small areas are repaired here; larger ones in a worker thread with
 * a memory cap and a deadline, so one request's geometry never blocks the event loop or exhausts
 * the heap, and an area that cannot be repaired in budget is refused with the reason.
 */
import { repairArea, vertexCount, type Area } from './segment-area.ts';
import { siblingModule } from '../runtime-paths.ts';
import { runCappedThread } from '../capped-thread.ts';
import { AreaError } from '../errors.ts';

/** Up to this many vertices, a repair is cheap enough for the calling thread (well under 100 ms). */
const INLINE_VERTICES = 256;

export interface RepairBudget {
  timeoutMs?: number;
  maxMemoryMb?: number;
}

export async function repairAreaBounded(area: Area, budget: RepairBudget = {}): Promise<{ area: Area; repaired: boolean }> {
  if (vertexCount(area) <= INLINE_VERTICES) return repairArea(area);
  const timeoutMs = budget.timeoutMs ?? 3000;
  // Both the crossings and the vertices cost: a 2M-vertex circle, which crosses nothing, was
  // reported as "too many self-intersections". The message names the count and both ways out.
  const vertices = vertexCount(area).toLocaleString('en-US');
  const tooComplex = (what: string) => new AreaError(`the area (${vertices} vertices) could not be checked and repaired ${what}: simplify it to fewer vertices, or draw it again without crossing edges`, 'too-complex');
  return runCappedThread<{ ok: true; area: Area; repaired: boolean } | { ok: false; message: string }, { area: Area; repaired: boolean }>({
    entry: siblingModule(import.meta.url, './area-repair-worker'),
    data: { area },
    heapMb: budget.maxMemoryMb ?? 384,
    timeoutMs,
    timedOut: () => tooComplex(`within ${timeoutMs / 1000} s`),
    answer: (m) => {
      if (m.ok) return { area: m.area, repaired: m.repaired };
      throw new AreaError(m.message);
    },
    outOfMemory: () => tooComplex('within the memory budget'),
    stopped: () => new AreaError('the area could not be repaired (the repair stopped)', 'too-complex'),
    failed: (err) => new AreaError(`the area could not be repaired: ${err.message}`, 'too-complex'),
  });
}
