// Loaded into the server under soak (node --import; plain JavaScript, so worker threads that
// inherit the flag load it too): on SIGUSR2 the main thread prints its memory breakdown as one
// JSON line on stderr, so the bench can tell the JavaScript heap, buffers and native memory apart.
// With SOAK_FORCE_GC=1 (and --expose-gc) it collects garbage first: what is live, not what waits.
import { isMainThread } from 'node:worker_threads';

if (isMainThread) {
  process.on('SIGUSR2', () => {
    if (process.env.SOAK_FORCE_GC === '1' && typeof globalThis.gc === 'function') globalThis.gc();
    const m = process.memoryUsage();
    process.stderr.write(`${JSON.stringify({ memoryProbe: { rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers } })}\n`);
  });
}
