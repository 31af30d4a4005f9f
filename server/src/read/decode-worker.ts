/**
 * A thread of the decode pool (decode-pool.ts): blocks in, decoded blocks (predictor applied) out,
 * with the same bounded decoders as the calling thread.
 */
import { parentPort } from 'node:worker_threads';
import { decoderFor } from './block-decoders.ts';
import { BlockOverrun } from './block-overrun.ts';
import type { DecodeReply, DecodeTask } from './decode-pool.ts';

parentPort!.on('message', async ({ id, compression, params, maxBytes, buffer }: DecodeTask & { id: number }) => {
  let reply: DecodeReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const data = await decoderFor(compression, params as never, maxBytes, false).decode(buffer);
    reply = { id, data };
    transfer = [data];
  } catch (err) {
    reply = err instanceof BlockOverrun ? { id, overrun: err.maxBytes } : { id, error: err instanceof Error ? err.message : String(err) };
  }
  parentPort!.postMessage(reply, transfer);
});
