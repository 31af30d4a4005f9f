/**
 * onnxruntime's telemetry, off unless the operator asks for it.
 *
 * onnxruntime-node 1.30 on Linux and macOS carries Microsoft's 1DS telemetry, on by default: the
 * first session of a process starts an uploader of process, session, model and error events, and
 * leaves a session file (`.ses`) and an empty `mat-debug-<pid>.log` in TMPDIR, one per process
 * (1,905 of them in this machine's /tmp after a week of tests). A server holding other people's
 * imagery should not call out, nor litter its temp folder. ORT_DISABLE_TELEMETRY=1 is
 * onnxruntime's full opt-out: read once, by the native library, from the process's environment
 * when its first session is made.
 */
import { isMainThread } from 'node:worker_threads';

/**
 * Sets ORT_DISABLE_TELEMETRY=1 unless the environment already says otherwise. Only the main
 * thread can: a worker thread's process.env is a copy the native library never reads, so this is
 * called on the main thread before any thread opens a session (the CLI at start, the model
 * registry, openSession).
 */
export function keepOnnxRuntimeOffline(): void {
  if (isMainThread) process.env.ORT_DISABLE_TELEMETRY ??= '1';
}
