/**
 * Block decoding off the event loop for the codecs that run on the calling thread: LZW and
 * PackBits (JavaScript), ZSTD (WebAssembly), LERC (JavaScript), and JPEG of four components
 * (geotiff.js's JavaScript decoder, see block-decoders.ts). zlib, libjpeg and libwebp
 * already run on libuv's or libvips' threads.
 *
 * Measured on this project's 2-core machine: our LZW decodes about 100 MiB/s, so a 4 MiB block
 * holds the event loop 40 ms and a 256 MiB block (the largest SATSEG_MAX_BLOCK_MB admits) 2.5 s,
 * during which no other request is answered. Blocks from OFF_THREAD_BYTES up go to a small pool of
 * worker threads (the compressed bytes and the decoded block are transferred, not copied); smaller
 * ones decode in place, where a round trip to a worker would cost more than the decode.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { siblingModule, workerBoot } from '../runtime-paths.ts';
import { BlockOverrun } from './block-overrun.ts';

/** Decoded blocks from this size up are decoded in a worker. */
export const OFF_THREAD_BYTES = 1 << 20;
/** Idle workers are stopped after this long, returning their memory. */
const IDLE_MS = 30_000;

export interface DecodeTask {
  compression: number;
  /** The decoder's parameters (block size, predictor, LERC parameters...). */
  params: Record<string, unknown>;
  maxBytes: number;
  buffer: ArrayBuffer;
}

export type DecodeReply = { id: number; data: ArrayBuffer } | { id: number; overrun: number } | { id: number; error: string };

interface Pending {
  resolve: (data: ArrayBuffer) => void;
  reject: (err: Error) => void;
}

class PoolWorker {
  readonly pending = new Map<number, Pending>();
  private idle: NodeJS.Timeout | null = null;
  readonly worker: Worker;

  constructor(private readonly onGone: (w: PoolWorker) => void) {
    this.worker = new Worker(workerBoot, { workerData: { entry: siblingModule(import.meta.url, './decode-worker') } });
    this.worker.on('message', (m: DecodeReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if ('data' in m) p.resolve(m.data);
      else if ('overrun' in m) p.reject(new BlockOverrun(m.overrun));
      else p.reject(new Error(m.error));
      this.armIdle();
    });
    const fail = (err: Error) => {
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      this.onGone(this);
    };
    this.worker.on('error', (err) => fail(new Error(`the decoding thread failed: ${err.message}`)));
    this.worker.on('exit', () => fail(new Error('the decoding thread stopped')));
    // An idle worker must not keep the process alive (a CLI run ended 30 s late, waiting for the
    // idle timer). Unref'd after the listeners, since adding a 'message' listener refs the port
    // again in Node 20; a worker with blocks to decode is ref'd, so the process waits for them.
    this.worker.unref();
  }

  post(id: number, task: DecodeTask, pending: Pending): void {
    if (this.idle) { clearTimeout(this.idle); this.idle = null; }
    // Posted first: a post that throws must leave no pending entry and no ref behind.
    this.worker.postMessage({ id, ...task }, [task.buffer]);
    if (this.pending.size === 0) this.worker.ref();
    this.pending.set(id, pending);
  }

  private armIdle(): void {
    if (this.pending.size === 0) this.worker.unref();
    if (this.pending.size || this.idle) return;
    this.idle = setTimeout(() => {
      // Out of the pool before it stops, so no block is handed to a worker on its way out.
      this.onGone(this);
      void this.worker.terminate();
    }, IDLE_MS);
    this.idle.unref();
  }
}

class DecodePool {
  private readonly workers: PoolWorker[] = [];
  private nextId = 1;

  constructor(private readonly size: number) {}

  decode(task: DecodeTask): Promise<ArrayBuffer> {
    const id = this.nextId++;
    return new Promise<ArrayBuffer>((resolve, reject) => this.pick().post(id, task, { resolve, reject }));
  }

  /** The least busy worker, starting one while the pool is not full. */
  private pick(): PoolWorker {
    const free = this.workers.find((w) => w.pending.size === 0);
    if (free) return free;
    if (this.workers.length < this.size) {
      const w = new PoolWorker((gone) => { const i = this.workers.indexOf(gone); if (i >= 0) this.workers.splice(i, 1); });
      this.workers.push(w);
      return w;
    }
    return this.workers.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
  }
}

let pool: DecodePool | null | undefined;

/**
 * The process's decode pool: SATSEG_DECODE_THREADS workers (default: the cores but one, 1 to 4);
 * null with SATSEG_DECODE_THREADS=0, which decodes every block in place.
 */
export function decodePool(): DecodePool | null {
  if (pool === undefined) {
    const setting = process.env.SATSEG_DECODE_THREADS;
    const size = setting === undefined || setting === '' ? Math.min(4, Math.max(1, os.availableParallelism() - 1)) : Number(setting);
    pool = size >= 1 ? new DecodePool(Math.floor(size)) : null;
  }
  return pool;
}
