// Entry point of every worker thread: a TypeScript worker module runs through tsx (whether the
// parent was started by tsx, vitest or plain node); compiled JavaScript runs as it is.
import { workerData } from 'node:worker_threads';

if (workerData.entry.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(workerData.entry);
