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

  it('runs shared work that can be given up until every caller waiting on it has gone', async () => {
    const work = new InFlight<string>();
    const signals: AbortSignal[] = [];
    let finish: (v: string) => void = () => undefined;
    const start = (signal: AbortSignal) => { signals.push(signal); return new Promise<string>((resolve, reject) => { finish = resolve; signal.addEventListener('abort', () => reject(signal.reason)); }); };
    const first = new AbortController();
    const second = new AbortController();
    const a = work.runAbortable('url', first.signal, start);
    const b = work.runAbortable('url', second.signal, start);
    expect(signals).toHaveLength(1);
    // The first client leaves: it gets its reason at once, and the check goes on for the second
    // (it used to run under the first client's signal, and the second failed with it).
    first.abort(new Error('client gone'));
    await expect(a).rejects.toThrow('client gone');
    expect(signals[0]!.aborted).toBe(false);
    finish('registered');
    await expect(b).resolves.toBe('registered');

    // Both leave: the shared work is aborted, and the next caller starts afresh.
    const c1 = new AbortController();
    const c2 = new AbortController();
    const c = work.runAbortable('url', c1.signal, start);
    const d = work.runAbortable('url', c2.signal, start);
    c1.abort(new Error('gone 1'));
    c2.abort(new Error('gone 2'));
    await expect(c).rejects.toThrow('gone 1');
    await expect(d).rejects.toThrow('gone 2');
    expect(signals[1]!.aborted).toBe(true);
    const e = work.runAbortable('url', undefined, start);
    expect(signals).toHaveLength(3);
    finish('again');
    await expect(e).resolves.toBe('again');
    // An already-ended signal is refused before anything starts.
    await expect(work.runAbortable('url', AbortSignal.abort(new Error('late')), start)).rejects.toThrow('late');
    expect(signals).toHaveLength(3);
  });
});
