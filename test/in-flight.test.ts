/**
 * InFlight: concurrent callers of one key share a single run; once it settles (either way) the
 * next caller starts a new one.
 */
import { describe, expect, it } from 'vitest';
import { InFlight } from '../server/src/in-flight.ts';

describe('InFlight', () => {
  it('shares a running job by key and forgets it once it has settled', async () => {
    const work = new InFlight<number>();
    let starts = 0;
    const start = () => { const n = ++starts; return new Promise<number>((r) => setTimeout(() => r(n), 10)); };
    const [a, b, c] = await Promise.all([work.run('k', start), work.run('k', start), work.run('other', start)]);
    expect(starts).toBe(2);
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    await work.run('k', start);
    expect(starts).toBe(3);
  });

  it('shares a failure, then tries again', async () => {
    const work = new InFlight<number>();
    let starts = 0;
    const fail = () => { starts++; return Promise.reject(new Error(`failure ${starts}`)); };
    const results = await Promise.allSettled([work.run('k', fail), work.run('k', fail)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(starts).toBe(1);
    await expect(work.run('k', fail)).rejects.toThrow('failure 2');
  });
});
