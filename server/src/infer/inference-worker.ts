/**
 * The inference thread: owns one onnxruntime session and answers batches in order, so the thread
 * that reads, blends and serves HTTP never waits on a forward pass.
 */
import { parentPort, workerData } from 'node:worker_threads';
import fs from 'node:fs';
import ort from 'onnxruntime-node';
import { openSession } from './ort-session.ts';
import type { DeviceRequest } from './model.ts';
import { DeviceError, oneLine } from '../errors.ts';

export type WorkerRequest =
  | { type: 'run'; id: number; input: Float32Array; dims: [number, number, number, number]; spare?: Float32Array }
  | { type: 'close' };

export type WorkerReply =
  | { type: 'ready'; device: 'cpu' | 'cuda'; notice: string | null }
  | { type: 'failed'; message: string; kind: 'device' | 'model' }
  | { type: 'result'; id: number; output: Float32Array; dims: number[]; input: Float32Array }
  | { type: 'error'; id: number; message: string };

interface InitData {
  entry: string;
  modelPath: string;
  inputName: string;
  outputName: string;
  device: DeviceRequest;
  threads?: number;
}

const port = parentPort!;
const init = workerData as InitData;

async function main(): Promise<void> {
  let opened;
  try {
    opened = await openSession(fs.readFileSync(init.modelPath), init.device, init.threads);
  } catch (err) {
    port.postMessage({ type: 'failed', message: oneLine(err), kind: err instanceof DeviceError ? 'device' : 'model' } satisfies WorkerReply);
    return;
  }
  const { session } = opened;
  port.postMessage({ type: 'ready', device: opened.device, notice: opened.notice } satisfies WorkerReply);

  // Requests are handled one at a time: onnxruntime already uses every core for one batch.
  let chain = Promise.resolve();
  let closing = false;
  port.on('message', (msg: WorkerRequest) => {
    if (msg.type === 'close') {
      // Terminating a thread while onnxruntime is inside run() aborts the whole process, so the
      // owner asks instead: the batch in flight finishes, queued ones are dropped, and the
      // thread ends on its own once the session is released and the port is closed.
      closing = true;
      chain = chain.then(async () => {
        await session.release().catch(() => undefined);
        port.close();
      });
      return;
    }
    chain = chain.then(async () => {
      // Let a 'close' that arrived during the previous pass be seen before starting this one.
      await new Promise((resolve) => setImmediate(resolve));
      if (closing) {
        port.postMessage({ type: 'error', id: msg.id, message: 'model is closed' } satisfies WorkerReply);
        return;
      }
      try {
        const feeds = { [init.inputName]: new ort.Tensor('float32', msg.input, msg.dims) };
        const out = (await session.run(feeds))[init.outputName]!;
        const data = out.data as Float32Array;
        // Into the spare the owner sent back, when it fits: onnxruntime's own buffer then stays in
        // this thread's small heap, and the owner's collector sees no new 21 MB a batch. Otherwise
        // out of onnxruntime's buffer, so it can be transferred without a second copy later.
        let output: Float32Array;
        if (msg.spare && msg.spare.length === data.length) {
          output = msg.spare;
          output.set(data);
        } else output = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
        // The input goes back too, for the next batch to be written into.
        port.postMessage({ type: 'result', id: msg.id, output, dims: [...out.dims], input: msg.input } satisfies WorkerReply, [output.buffer as ArrayBuffer, msg.input.buffer as ArrayBuffer]);
      } catch (err) {
        port.postMessage({ type: 'error', id: msg.id, message: oneLine(err) } satisfies WorkerReply);
      }
    });
  });
}

void main();
