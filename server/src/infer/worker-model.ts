/**
 * The embedded Model: onnxruntime-node in a worker thread.
 */
import { Worker } from 'node:worker_threads';
import { MODEL_CLOSE_GRACE_MS, type Device, type Model, type ModelOptions } from './model.ts';
import type { ModelSpec } from './model-spec.ts';
import type { WorkerReply, WorkerRequest } from './inference-worker.ts';
import { siblingModule, workerBoot } from '../runtime-paths.ts';
import { DeviceError, InferenceError } from '../errors.ts';
import { keepOnnxRuntimeOffline } from './ort-telemetry.ts';
import { threadsBeforeModel, yieldCoresTo } from '../thread-priority.ts';

export class WorkerModel implements Model {
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: Float32Array) => void; reject: (e: Error) => void; plane: number }>();
  private closed = false;
  private readonly spares: Float32Array[] = [];
  /** Outputs the caller has finished with, sent back with the next batches to be filled again. */
  private readonly outputSpares: Float32Array[] = [];
  private readonly exited: Promise<void>;
  private hasExited = false;

  private constructor(readonly spec: ModelSpec, readonly device: Device, private readonly worker: Worker) {
    worker.on('message', (msg: WorkerReply) => {
      if (msg.type !== 'result' && msg.type !== 'error') return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.type === 'error') p.reject(new InferenceError(`inference failed: ${msg.message}`));
      else {
        if (this.spares.length < 2) this.spares.push(msg.input);
        p.resolve(this.spec.outputChannels === 1 ? sigmoidToTwoClasses(msg.output, p.plane) : msg.output);
      }
    });
    worker.on('error', (err) => this.failAll(new InferenceError(`inference worker crashed: ${err.message}`)));
    this.exited = new Promise((resolve) => worker.once('exit', () => { this.hasExited = true; resolve(); }));
    worker.on('exit', () => this.failAll(new InferenceError('inference worker stopped')));
  }

  static async open(spec: ModelSpec, options: ModelOptions = {}): Promise<WorkerModel> {
    // Every thread but the model's, which start next (the worker's, then onnxruntime's from it).
    const threadsBefore = options.yieldCores ? threadsBeforeModel() : [];
    keepOnnxRuntimeOffline();
    const worker = new Worker(workerBoot, {
      workerData: {
        entry: siblingModule(import.meta.url, './inference-worker'),
        modelPath: spec.path,
        inputName: spec.inputName,
        outputName: spec.outputName,
        device: options.device ?? 'auto',
        threads: options.threads,
      },
    });
    const ready = await new Promise<Extract<WorkerReply, { type: 'ready' }>>((resolve, reject) => {
      const onMessage = (msg: WorkerReply) => {
        if (msg.type === 'ready') { cleanup(); resolve(msg); }
        if (msg.type === 'failed') {
          cleanup();
          void worker.terminate();
          reject(msg.kind === 'device' ? new DeviceError(msg.message) : new InferenceError(`model ${spec.id} failed to load: ${msg.message}`));
        }
      };
      const onError = (err: Error) => { cleanup(); reject(new InferenceError(`inference worker failed to start: ${err.message}`)); };
      const cleanup = () => { worker.off('message', onMessage); worker.off('error', onError); };
      worker.on('message', onMessage);
      worker.on('error', onError);
    });
    if (ready.notice) options.onNotice?.(ready.notice);
    if (options.yieldCores) yieldCoresTo(ready.device, threadsBefore);
    return new WorkerModel(spec, ready.device, worker);
  }

  inputBuffer(length: number): Float32Array {
    const i = this.spares.findIndex((b) => b.length === length);
    return i >= 0 ? this.spares.splice(i, 1)[0]! : new Float32Array(length);
  }

  run(batch: Float32Array, n: number, height: number, width: number): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new InferenceError('model is closed'));
    // The batch's buffer moves to the thread. Posting one that has moved already (a batch passed
    // twice) does not throw: Node drops the message, and the pass would never answer.
    const expected = n * this.spec.inputChannels * height * width;
    if (batch.length !== expected) {
      return Promise.reject(new InferenceError(batch.byteLength === 0 && expected > 0
        ? 'the batch was handed to the model already (its buffer moved to the inference thread): pass a fresh one, or one from inputBuffer()'
        : `a batch of ${n} x ${this.spec.inputChannels} x ${height} x ${width} needs ${expected} values, not ${batch.length}`));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, plane: height * width });
      let spare = this.outputSpares.pop();
      if (spare && spare.byteLength === 0) spare = undefined; // moved meanwhile (detached)
      const msg: WorkerRequest = { type: 'run', id, input: batch, dims: [n, this.spec.inputChannels, height, width], spare };
      this.worker.postMessage(msg, spare ? [batch.buffer as ArrayBuffer, spare.buffer as ArrayBuffer] : [batch.buffer as ArrayBuffer]);
    });
  }

  recycle(output: Float32Array): void {
    // A sigmoid model's two planes are made here from its one (not the thread's buffer), and a
    // view of part of a buffer cannot be moved: neither goes back.
    if (this.closed || this.spec.outputChannels === 1 || this.outputSpares.length >= 2) return;
    // Handed back twice, it would be moved twice: Node drops a message whose buffer moved already.
    if (output.byteOffset !== 0 || output.byteLength !== output.buffer.byteLength || output.length === 0 || this.outputSpares.includes(output)) return;
    this.outputSpares.push(output);
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /**
   * Ends the thread without interrupting onnxruntime: a forward pass cannot be stopped, and
   * terminating the thread during one aborts the process. The thread finishes the batch in
   * flight and exits itself; only if it has not after `graceMs` is it terminated.
   */
  async close(graceMs = MODEL_CLOSE_GRACE_MS): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.hasExited) return;
    try {
      this.worker.postMessage({ type: 'close' } satisfies WorkerRequest);
    } catch {
      await this.worker.terminate();
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), graceMs); });
    const how = await Promise.race([this.exited.then(() => 'exited' as const), timedOut]);
    clearTimeout(timer);
    if (how === 'timeout') await this.worker.terminate();
  }
}

/** A binary model's foreground probability p becomes two planes per image: 1 - p, then p. */
function sigmoidToTwoClasses(p: Float32Array, plane: number): Float32Array {
  const images = p.length / plane;
  const out = new Float32Array(p.length * 2);
  for (let k = 0; k < images; k++) {
    const src = k * plane;
    const dst = 2 * k * plane;
    for (let i = 0; i < plane; i++) {
      const v = p[src + i]!;
      out[dst + i] = 1 - v;
      out[dst + plane + i] = v;
    }
  }
  return out;
}
