/**
 * Opening an onnxruntime session on the requested device.
 *
 * onnxruntime-node throws when asked for CUDA on a machine without the CUDA execution provider, even
 * with CPU listed as a fallback, so "auto" catches that and retries on the CPU alone.
 */
import os from 'node:os';
import ort from 'onnxruntime-node';
import type { Device, DeviceRequest } from './model.ts';
import { DeviceError, oneLine } from '../errors.ts';
import { keepOnnxRuntimeOffline } from './ort-telemetry.ts';

export const CUDA_INSTALL_HINT = 'install the CUDA execution provider (README, "GPU") or use --device cpu';

export interface OpenedSession {
  session: ort.InferenceSession;
  device: Device;
  notice: string | null;
}

/** Session options shared by every device, for `threads` intra-op threads (default: one per core). */
export function baseSessionOptions(threads?: number): ort.InferenceSession.SessionOptions {
  const intraOpNumThreads = threads ?? os.availableParallelism();
  return {
    graphOptimizationLevel: 'all',
    intraOpNumThreads,
    interOpNumThreads: 1,
    logSeverityLevel: 4,
    // Between parallel sections onnxruntime's threads spin, waiting for the next one. When they
    // take every core, that spinning takes the cores the caller needs to read, cut and blend the
    // next batch meanwhile, and the pass that follows waits on them. Without it the model alone is
    // no slower here (2 cores: 7.1 s either way for 81 tiles of 512², aerial-landcover), and the
    // CLI segments 4096² sooner (bench:pipeline, README "Performance").
    ...(intraOpNumThreads >= os.availableParallelism() ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
  };
}

export async function openSession(model: Uint8Array, device: DeviceRequest = 'auto', threads?: number): Promise<OpenedSession> {
  keepOnnxRuntimeOffline();
  // Quiet the native logger: a missing CUDA library is reported by us, in one line.
  ort.env.logLevel = 'fatal';
  const base = baseSessionOptions(threads);
  if (device === 'cpu') {
    return { session: await ort.InferenceSession.create(model, { ...base, executionProviders: ['cpu'] }), device: 'cpu', notice: null };
  }
  try {
    const providers = device === 'cuda' ? ['cuda'] : ['cuda', 'cpu'];
    return { session: await ort.InferenceSession.create(model, { ...base, executionProviders: providers }), device: 'cuda', notice: null };
  } catch (err) {
    if (device === 'cuda') throw new DeviceError(`CUDA is not available (${oneLine(err)}); ${CUDA_INSTALL_HINT}`);
    const session = await ort.InferenceSession.create(model, { ...base, executionProviders: ['cpu'] });
    return { session, device: 'cpu', notice: `CUDA not available (${oneLine(err)}); running on CPU` };
  }
}
