// Entry point of every worker thread: lets a TypeScript worker module run whether the parent
// process was started by tsx, by vitest or by plain node.
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.entry);
