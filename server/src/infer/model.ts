/**
 * The seam between the pipeline and an inference engine. The embedded implementation is
 * onnxruntime-node in a worker thread; a remote inference server would implement the same.
 */
import type { ModelSpec } from './model-spec.ts';

/** How long closing a model lets a forward pass in flight finish before stopping it by force. */
export const MODEL_CLOSE_GRACE_MS = 120_000;

export type DeviceRequest = 'auto' | 'cpu' | 'cuda';
export type Device = 'cpu' | 'cuda';

export interface Model {
  readonly spec: ModelSpec;
  /** Where inference actually runs after any fallback. */
  readonly device: Device;
  /**
   * Class probabilities [n, classes, height, width] for a normalised batch [n, channels, height, width].
   * A one-channel (sigmoid) output is returned as two channels: background, foreground.
   */
  run(batch: Float32Array, n: number, height: number, width: number): Promise<Float32Array>;
  /**
   * A buffer of `length` floats to fill with the next batch: one handed back by an earlier run()
   * where the model can, so a long scene does not allocate (and collect) one per batch. Its old
   * contents are not cleared.
   */
  inputBuffer?(length: number): Float32Array;
  /**
   * An output of run() the caller has finished with (nothing reads it any more): the model may
   * fill it with a later output instead of handing over a new buffer each batch, whose churn
   * otherwise drives the caller's garbage collector (21 MB a batch of four 512 px tiles of five
   * classes).
   */
  recycle?(output: Float32Array): void;
  close(): Promise<void>;
}

export interface ModelOptions {
  device?: DeviceRequest;
  /** Intra-op threads for the engine; defaults to the machine's cores. */
  threads?: number;
  /** Called once with a one-line notice (for example the CPU fallback). */
  onNotice?: (message: string) => void;
  /**
   * Once open on the CPU, give the process's threads that were there before the model's the lowest
   * priority, so that the model's threads get the cores first (thread-priority.ts). For a command
   * that ends with its work: never in a server.
   */
  yieldCores?: boolean;
}
