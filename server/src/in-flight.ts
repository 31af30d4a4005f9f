/**
 * Work that concurrent callers asking for the same key share while it runs, and that is
 * forgotten once it settles (success or failure), so the next caller after that starts afresh.
 */
export class InFlight<V> {
  private readonly running = new Map<string, Promise<V>>();
  private readonly abortable = new Map<string, { work: Promise<V>; controller: AbortController; waiting: number }>();

  run(key: string, start: () => Promise<V>): Promise<V> {
    let work = this.running.get(key);
    if (!work) {
      work = start().finally(() => this.running.delete(key));
      this.running.set(key, work);
    }
    return work;
  }

  /**
   * The same for work that can be given up, each caller with its own `signal` (its deadline, its
   * client leaving): a caller whose signal ends gets its abort reason at once, and the shared work
   * is aborted only when every caller waiting on it has gone. Under the first caller's signal
   * alone, that caller leaving failed everyone else who had asked for the same key.
   */
  runAbortable(key: string, signal: AbortSignal | undefined, start: (signal: AbortSignal) => Promise<V>): Promise<V> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    let entry = this.abortable.get(key);
    if (!entry) {
      const controller = new AbortController();
      const created: { work: Promise<V>; controller: AbortController; waiting: number } = { work: Promise.resolve() as Promise<V>, controller, waiting: 0 };
      created.work = start(controller.signal).finally(() => { if (this.abortable.get(key) === created) this.abortable.delete(key); });
      // Every caller may have gone by the time it settles.
      created.work.catch(() => undefined);
      this.abortable.set(key, created);
      entry = created;
    }
    const shared = entry;
    shared.waiting++;
    if (!signal) return shared.work.finally(() => { shared.waiting--; });
    return new Promise<V>((resolve, reject) => {
      let left = false;
      const leave = () => {
        if (left) return;
        left = true;
        shared.waiting--;
        signal.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        leave();
        reject(signal.reason);
        if (shared.waiting === 0) {
          shared.controller.abort(signal.reason);
          // Forgotten now, so a caller coming after does not join work that is being given up.
          if (this.abortable.get(key) === shared) this.abortable.delete(key);
        }
      };
      signal.addEventListener('abort', onAbort, { once: true });
      shared.work.then((v) => { leave(); resolve(v); }, (e: unknown) => { leave(); reject(e); });
    });
  }
}
