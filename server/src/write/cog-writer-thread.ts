/**
 * A CogWriter on a thread of its own, for callers whose own thread is the busy one.
 *
 * Building the overview pyramid (a mode or mean per 2 x 2 block), copying rows into tiles,
 * compressing and spilling them cost about as much CPU as working out what is written: writing the
 * 8128 x 8064 change mask of bench:change takes 0.26 s of one core, comparing the masks ~0.5 s.
 * On the calling thread the two queue one behind the other; here they run side by side. The thread
 * deflates in place (CogOptions.syncDeflate), sparing the trips to libuv's pool, which the caller's
 * reads use.
 *
 * Rows are copied into each message (the caller may reuse its buffer as soon as writeRows resolves,
 * as with CogWriter) and at most MAX_QUEUED messages wait, so memory stays bounded. The first
 * failure is kept and every later call rejects with it; abort() still cleans up.
 */
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { siblingModule, workerBoot } from '../runtime-paths.ts';
import { temporaryPathBeside, trackTemporary, untrackTemporary } from './atomic-file.ts';
import type { CogOptions, CogRowWriter } from './cog-writer.ts';

/** Row messages that may wait for the thread (each a strip of the caller's). */
const MAX_QUEUED = 3;

type WriterMessage =
  | { op: 'create'; outPath: string; opts: CogOptions; workDir: string }
  | { op: 'rows'; rows: Uint8Array; count: number }
  | { op: 'finish' }
  | { op: 'abort' };

/** A message to the thread, numbered so its answer finds the caller. */
export type WriterRequest = WriterMessage & { seq: number };

/** A request done; 'create' also says the overview count. */
type WriterDone = { seq: number; overviewCount?: number };

export type WriterReply = WriterDone | { seq: number; error: string; code?: string };

interface Pending {
  resolve: (reply: WriterDone) => void;
  reject: (err: Error) => void;
}

function replyError(reply: { error: string; code?: string }): Error {
  return Object.assign(new Error(reply.error), reply.code ? { code: reply.code } : {});
}

export class CogWriterThread implements CogRowWriter {
  private readonly pending = new Map<number, Pending>();
  /** Row messages not yet answered, oldest first. */
  private readonly queued: Array<Promise<WriterDone>> = [];
  private seq = 0;
  private failure: Error | null = null;
  private closed = false;
  private overviews = 0;
  /**
   * The writer's temporary folder until the COG is in place: removed from here when the thread
   * died before cleaning it.
   */
  private workDir: string | null = null;

  private constructor(private readonly worker: Worker, private readonly width: number) {
    worker.on('message', (reply: WriterReply) => {
      const p = this.pending.get(reply.seq);
      if (!p) return;
      this.pending.delete(reply.seq);
      if ('error' in reply) {
        const err = replyError(reply);
        this.failure ??= err;
        p.reject(err);
      } else {
        p.resolve(reply);
      }
    });
    const gone = (err: Error) => {
      this.failure ??= err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      this.closed = true;
    };
    worker.on('error', (err) => gone(new Error(`the COG writing thread failed: ${err.message}`)));
    worker.on('exit', () => gone(new Error('the COG writing thread stopped')));
  }

  /** Start a COG at `outPath` on a new thread; nothing appears there until finish() succeeds. */
  static async create(outPath: string, opts: CogOptions): Promise<CogWriterThread> {
    const worker = new Worker(workerBoot, { workerData: { entry: siblingModule(import.meta.url, './cog-writer-worker') } });
    const writer = new CogWriterThread(worker, opts.width);
    // Named here and tracked before the thread makes it: the thread's own list of temporaries dies
    // with it, so an interrupted command removes the folder from this side.
    writer.workDir = temporaryPathBeside(outPath);
    trackTemporary(writer.workDir);
    try {
      const reply = await writer.request({ op: 'create', outPath, opts, workDir: writer.workDir });
      writer.overviews = reply.overviewCount ?? 0;
    } catch (err) {
      writer.closed = true;
      await worker.terminate();
      await writer.removeLeftovers();
      throw err;
    }
    return writer;
  }

  get overviewCount(): number {
    return this.overviews;
  }

  /** Append `count` rows of `width` pixels each, top to bottom; `rows` may be reused once this resolves. */
  async writeRows(rows: Uint8Array, count: number): Promise<void> {
    if (this.failure) throw this.failure;
    if (rows.length < count * this.width) throw new Error('row buffer shorter than count * width');
    // A copy of its own (slice() of a Node Buffer is a view: moving its buffer would empty the caller's).
    const copy = new Uint8Array(count * this.width);
    copy.set(rows.subarray(0, count * this.width));
    const answered = this.request({ op: 'rows', rows: copy, count }, [copy.buffer as ArrayBuffer]);
    // Failures are kept in `failure` and thrown by the next call; this only keeps them from going unhandled.
    answered.catch(() => undefined);
    this.queued.push(answered);
    while (this.queued.length > MAX_QUEUED) await this.queued.shift();
  }

  /** Assemble the COG and move it into place; the thread ends, and on failure drops what it wrote first. */
  async finish(): Promise<void> {
    try {
      if (this.failure) throw this.failure;
      await this.request({ op: 'finish' });
      if (this.workDir) untrackTemporary(this.workDir);
      this.workDir = null; // renamed into place by the thread, nothing left to remove
    } catch (err) {
      // A row that failed while queued is the cause; the finish only found its consequence.
      const cause = this.failure ?? err;
      await this.request({ op: 'abort' }).catch(() => undefined);
      await this.removeLeftovers();
      throw cause;
    } finally {
      await this.close();
    }
  }

  /** Drop everything written so far (nothing is left at the output path); the thread ends. */
  async abort(): Promise<void> {
    if (!this.closed) {
      try {
        await this.request({ op: 'abort' });
      } catch {
        // The thread failed: the failure was reported where it happened.
      } finally {
        await this.close();
      }
    }
    await this.removeLeftovers();
  }

  /** After a thread that died before cleaning up: its temporary folder goes (nothing once finished). */
  private async removeLeftovers(): Promise<void> {
    if (!this.workDir) return;
    await fs.promises.rm(this.workDir, { recursive: true, force: true }).catch(() => undefined);
    untrackTemporary(this.workDir);
    this.workDir = null;
  }

  private request(message: WriterMessage, transfer: ArrayBuffer[] = []): Promise<WriterDone> {
    if (this.closed) return Promise.reject(this.failure ?? new Error('the COG writing thread has ended'));
    const seq = ++this.seq;
    return new Promise<WriterDone>((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      this.worker.postMessage({ ...message, seq }, transfer);
    });
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Said to any later call, rather than the 'stopped' the thread's exit would report.
    this.failure ??= new Error('the COG writing thread has ended');
    await this.worker.terminate();
  }
}
