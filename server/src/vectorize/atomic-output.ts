/**
 * An output file that appears only when complete: written to a temporary file beside the target
 * (same filesystem, so the final rename is atomic) and renamed into place on commit. A failed or
 * aborted run leaves nothing at the target path.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { VectorizeError } from './vectorize-error.ts';

/** Strings are gathered into writes of about this size; one syscall per feature would dominate. */
const FLUSH_BYTES = 1 << 20;

export function checkOutputPath(file: string): void {
  const dir = path.dirname(path.resolve(file));
  if (!fs.existsSync(dir)) throw new VectorizeError('bad-output', `output folder does not exist: ${dir}`);
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new VectorizeError('bad-output', `${file} is a folder, not a file path`);
}

export function temporaryPathBeside(file: string, suffix = ''): string {
  const resolved = path.resolve(file);
  return path.join(path.dirname(resolved), `.${path.basename(resolved)}.satseg-tmp-${crypto.randomBytes(4).toString('hex')}${suffix}`);
}

export class AtomicOutput {
  private pending: Array<string | Uint8Array> = [];
  private pendingBytes = 0;
  private done = false;

  private constructor(readonly target: string, readonly tempPath: string, private readonly fh: fs.promises.FileHandle) {}

  static async open(target: string): Promise<AtomicOutput> {
    checkOutputPath(target);
    const tempPath = temporaryPathBeside(target);
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
    try {
      await this.flush();
      await this.fh.close();
      await fs.promises.rename(this.tempPath, this.target);
    } catch (err) {
      await fs.promises.rm(this.tempPath, { force: true });
      throw err;
    }
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.fh.close().catch(() => undefined);
    await fs.promises.rm(this.tempPath, { force: true });
  }
}
