/**
 * A local file as a ByteSource: positional reads on one open descriptor.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ByteSource } from './byte-source.ts';
import { RasterError } from '../errors.ts';

/**
 * Size, modification time and change time: a file written over in place with its old modification
 * time put back (`cp -p`, `rsync --inplace -t`, `touch -r`) still gets a new change time, which no
 * tool sets (probe: such a copy mid-job gave a mixed mask).
 */
function versionOf(stat: fs.Stats): string {
  return `${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
}

export class FileByteSource implements ByteSource {
  private constructor(
    private readonly handle: fs.promises.FileHandle,
    readonly label: string,
    readonly size: number,
    readonly version: string,
  ) {}

  static async open(file: string): Promise<FileByteSource> {
    let handle: fs.promises.FileHandle;
    try {
      // Looked at before opening: opening a fifo waits for a writer, for ever.
      const before = await fs.promises.stat(file);
      if (!before.isFile()) throw new RasterError('not-found', 'not a file');
      handle = await fs.promises.open(file, 'r');
    } catch (err) {
      if (err instanceof RasterError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      throw new RasterError('not-found', code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'not a file' : `cannot open the file (${code ?? 'error'})`);
    }
    const stat = await handle.stat();
    if (!stat.isFile()) {
      await handle.close();
      throw new RasterError('not-found', 'not a file');
    }
    return new FileByteSource(handle, path.basename(file), stat.size, versionOf(stat));
  }

  /** Of the open file: a file written over in place changes it; one replaced by a rename does not (this one is still read whole). */
  async currentVersion(): Promise<string> {
    return versionOf(await this.handle.stat());
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    signal?.throwIfAborted();
    const n = Math.max(0, Math.min(length, this.size - offset));
    const out = new Uint8Array(n);
    let done = 0;
    while (done < n) {
      const { bytesRead } = await this.handle.read(out, done, n - done, offset + done);
      if (bytesRead === 0) break; // shrunk under us; the caller sees a short read
      done += bytesRead;
    }
    return done === n ? out : out.subarray(0, done);
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}
