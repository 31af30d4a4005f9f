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

export const CUDA_INSTALL_HINT = 'install the CUDA execution provider (README, "GPU") or use --device cpu';

export interface OpenedSession {
  session: ort.InferenceSession;
  device: Device;
  notice: string | null;
}

export async function openSession(model: Uint8Array, device: DeviceRequest = 'auto', threads?: number): Promise<OpenedSession> {
  // Quiet the native logger: a missing CUDA library is reported by us, in one line.
  ort.env.logLevel = 'fatal';
  const base: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads ?? os.availableParallelism(),
    interOpNumThreads: 1,
    logSeverityLevel: 4,
  };
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
