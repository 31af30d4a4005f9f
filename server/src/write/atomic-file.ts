/**
 * Every output appears only when complete: it is written to a temporary file beside the target
 * (same filesystem, so the final rename is atomic) and renamed into place. A failed or aborted run
 * leaves nothing at the target path. One helper for all writers: replaceAtomically() for outputs
 * produced in one go, AtomicOutput for streamed ones.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { VectorizeError } from '../errors.ts';

/** Strings are gathered into writes of about this size; one syscall per feature would dominate. */
const FLUSH_BYTES = 1 << 20;

export function checkOutputPath(file: string): void {
  const dir = path.dirname(path.resolve(file));
  if (!fs.existsSync(dir)) throw new VectorizeError('bad-output', `output folder does not exist: ${dir}`);
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new VectorizeError('bad-output', `${file} is a folder, not a file path`);
  // The output is renamed into place: over a device or a fifo, that would replace the device itself.
  if (fs.existsSync(file) && !fs.statSync(file).isFile()) throw new VectorizeError('bad-output', `${file} is not a regular file; write to a file path`);
}

/** Marks every temporary output, so a restart can find and remove what a crash left behind. */
export const TEMP_MARK = '.satseg-tmp-';

/**
 * The temporary outputs of this thread that are neither in place nor removed yet: what a command
 * interrupted by Ctrl-C removes before it exits (removeLiveTemporaries).
 */
const liveTemporaries = new Set<string>();

export function trackTemporary(file: string): void {
  liveTemporaries.add(file);
}

export function untrackTemporary(file: string): void {
  liveTemporaries.delete(file);
}

/** Remove every temporary output still live (files and folders); returns how many were there. */
export function removeLiveTemporaries(): number {
  let n = 0;
  for (const file of liveTemporaries) {
    if (fs.existsSync(file)) n++;
    try {
      // A thread may still be writing into a folder: a second try catches what it added meanwhile.
      fs.rmSync(file, { recursive: true, force: true, maxRetries: 2 });
    } catch {
      // Left for removeStaleTemporaries (the server's start) to find.
    }
  }
  // Kept: a second pass retries them all (one created a moment later by an operation under way).
  return n;
}

export function temporaryPathBeside(file: string, suffix = ''): string {
  const resolved = path.resolve(file);
  return path.join(path.dirname(resolved), `.${path.basename(resolved)}${TEMP_MARK}${crypto.randomBytes(4).toString('hex')}${suffix}`);
}

/** Produce `target` by writing a temporary file (produce gets its path) and renaming it into place. */
export async function replaceAtomically(target: string, produce: (tempPath: string) => Promise<void>, tempPath = temporaryPathBeside(target)): Promise<void> {
  trackTemporary(tempPath);
  try {
    await produce(tempPath);
    await fs.promises.rename(tempPath, target);
  } catch (err) {
    await fs.promises.rm(tempPath, { force: true });
    throw err;
  } finally {
    untrackTemporary(tempPath);
  }
}

export function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  return replaceAtomically(target, (tmp) => fs.promises.writeFile(tmp, data));
}

export function copyFileAtomic(from: string, target: string): Promise<void> {
  return replaceAtomically(target, (tmp) => fs.promises.copyFile(from, tmp));
}

/** Remove what crashed writers left under `dir` (files and folders carrying TEMP_MARK), recursively. */
export function removeStaleTemporaries(dir: string, depth = 3): number {
  let removed = 0;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.name.includes(TEMP_MARK)) {
      fs.rmSync(full, { recursive: true, force: true });
      removed++;
    } else if (e.isDirectory() && depth > 0) {
      removed += removeStaleTemporaries(full, depth - 1);
    }
  }
  return removed;
}

export class AtomicOutput {
  private pending: Array<string | Uint8Array> = [];
  private pendingBytes = 0;
  private done = false;

  private constructor(readonly target: string, readonly tempPath: string, private readonly fh: fs.promises.FileHandle) {}

  static async open(target: string): Promise<AtomicOutput> {
    checkOutputPath(target);
    const tempPath = temporaryPathBeside(target);
    trackTemporary(tempPath);
    return new AtomicOutput(target, tempPath, await fs.promises.open(tempPath, 'w'));
  }

  async write(chunk: string | Uint8Array): Promise<void> {
    if (typeof chunk !== 'string' && chunk.length >= FLUSH_BYTES) {
      await this.flush();
      await this.writeBytes(chunk);
      return;
    }
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= FLUSH_BYTES) await this.flush();
  }

  private async flush(): Promise<void> {
    if (!this.pending.length) return;
    const chunks = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    const data = chunks.every((c) => typeof c === 'string')
      ? Buffer.from(chunks.join(''), 'utf8')
      : Buffer.concat(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c, 'utf8') : c)));
    await this.writeBytes(data);
  }

  private async writeBytes(data: Uint8Array): Promise<void> {
    for (let done = 0; done < data.length;) {
      const { bytesWritten } = await this.fh.write(data, done, data.length - done);
      done += bytesWritten;
    }
  }

  /** Flush, close and move into place. */
  async commit(): Promise<void> {
    if (this.done) throw new Error('output already closed');
    this.done = true;
    await replaceAtomically(this.target, async () => {
      await this.flush();
      await this.fh.close();
    }, this.tempPath);
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.fh.close().catch(() => undefined);
    await fs.promises.rm(this.tempPath, { force: true });
    untrackTemporary(this.tempPath);
  }
}
