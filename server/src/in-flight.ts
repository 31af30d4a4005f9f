/**
 * Work that concurrent callers asking for the same key share while it runs, and that is
 * forgotten once it settles (success or failure), so the next caller after that starts afresh.
 */
export class InFlight<V> {
  private readonly running = new Map<string, Promise<V>>();

  run(key: string, start: () => Promise<V>): Promise<V> {
    let work = this.running.get(key);
    if (!work) {
      work = start().finally(() => this.running.delete(key));
      this.running.set(key, work);
    }
    return work;
  }
}
