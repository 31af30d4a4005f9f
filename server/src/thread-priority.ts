/**
 * Letting a model's threads have the cores first.
 *
 * onnxruntime on the CPU keeps every core busy, and its parallel sections wait for their slowest
 * thread: each CPU-second another thread of the process takes (reading, cutting and blending the
 * next batch, V8's collector and compiler, libuv's pool) is taken from the model. A command that
 * ends with its scene can give those threads the lowest priority once the model's threads exist:
 * they then run in the model's pauses. `satseg segment` at 4096² on 2 cores, runs in ABBA order:
 * 8.16 s without, 7.71 s with (nice 19 beat nice 10 by 0.19 s; all those threads beat the calling
 * one alone by 0.1 s).
 *
 * Linux only: there a pid names one thread, so the model's threads keep their priority. Elsewhere a
 * priority belongs to the whole process, the model's threads included (and on Windows the lowest
 * one means "only when the machine is idle"), so nothing is changed. Never in a server: a priority
 * lowered cannot be raised again without privileges, and its threads answer requests.
 */
import fs from 'node:fs';
import os from 'node:os';
import type { Device } from './infer/model.ts';

const LOWEST = 19;

/** The process's threads now: call it just before the model's thread is started. */
export function threadsBeforeModel(): number[] {
  if (process.platform !== 'linux') return [];
  try {
    return fs.readdirSync('/proc/self/task').map(Number);
  } catch {
    return [];
  }
}

/**
 * Once the model is open on `device`: the lowest priority for `threads` (from threadsBeforeModel)
 * and the calling thread, when that is the CPU (on a GPU this thread is what the model waits for).
 * Best effort: a thread gone meanwhile, or a change not permitted, is left as it is.
 */
export function yieldCoresTo(device: Device, threads: number[]): void {
  if (process.platform !== 'linux' || device !== 'cpu') return;
  for (const tid of new Set([0, ...threads])) {
    try {
      if (os.getPriority(tid) < LOWEST) os.setPriority(tid, LOWEST);
    } catch {
      // Gone, or not permitted.
    }
  }
}
