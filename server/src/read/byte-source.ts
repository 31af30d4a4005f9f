/**
 * The bottom seam of the reader: bytes by offset, wherever they live. Decoding (geotiff-source.ts)
 * knows nothing of files or HTTP, as in geotiff.js and PMTiles; a new place to keep rasters is one
 * small class.
 */

export interface ByteSource {
  /** What to call the source in messages: a file name or a URL without its query, never a server path. */
  readonly label: string;
  /** Size in bytes. */
  readonly size: number;
  /** Changes whenever the bytes do (size+mtime of a file, ETag or Last-Modified of a URL). */
  readonly version: string;
  /**
   * `length` bytes from `offset`, fewer only at the end of the source, in an array the caller owns
   * (never a view of a cache: the decoder may hand its buffer to a worker thread).
   */
  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;
  /**
   * The version the bytes have now, where asking is cheap (a file's size and mtime); undefined
   * where the source checks it on every read itself (a URL's ETag).
   */
  currentVersion?(): Promise<string>;
  close(): Promise<void>;
}
