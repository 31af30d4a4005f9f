/**
 * onnxruntime's session options: its threads stop spin-waiting when they take every core, so the
 * thread that prepares the next batch is not starved of CPU while the model runs.
 */
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { baseSessionOptions } from '../../server/src/infer/ort-session.ts';

const spinning = (o: ReturnType<typeof baseSessionOptions>) => (o.extra as { session?: { intra_op?: { allow_spinning?: string } } } | undefined)?.session?.intra_op?.allow_spinning;

describe('baseSessionOptions', () => {
  it('one thread per core by default, and then no spin-waiting', () => {
    const o = baseSessionOptions();
    expect(o.intraOpNumThreads).toBe(os.availableParallelism());
    expect(spinning(o)).toBe('0');
    expect(spinning(baseSessionOptions(os.availableParallelism() + 2))).toBe('0');
  });

  it.runIf(os.availableParallelism() > 1)('spin-waits as onnxruntime does by default when cores are left over', () => {
    const o = baseSessionOptions(1);
    expect(o.intraOpNumThreads).toBe(1);
    expect(spinning(o)).toBeUndefined();
  });
});
