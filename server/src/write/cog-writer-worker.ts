/**
 * The thread behind CogWriterThread: one CogWriter, fed the caller's messages in order, deflating
 * on this thread. Every message is answered, with the overview count for 'create' or the error.
 */
import { parentPort } from 'node:worker_threads';
import { CogWriter } from './cog-writer.ts';
import type { WriterReply, WriterRequest } from './cog-writer-thread.ts';

let writer: CogWriter | null = null;
let chain: Promise<void> = Promise.resolve();
/** The first failure: once rows went missing, no later write or finish may succeed. */
let failed: Error | null = null;

async function handle(m: WriterRequest): Promise<WriterReply> {
  switch (m.op) {
    case 'create':
      writer = await CogWriter.create(m.outPath, { ...m.opts, syncDeflate: true }, m.workDir);
      return { seq: m.seq, overviewCount: writer.overviewCount };
    case 'rows':
      if (failed) throw failed;
      if (!writer) throw new Error('no COG is being written');
      await writer.writeRows(m.rows, m.count);
      return { seq: m.seq };
    case 'finish':
      if (failed) throw failed;
      if (!writer) throw new Error('no COG is being written');
      await writer.finish();
      return { seq: m.seq };
    case 'abort':
      await writer?.abort();
      return { seq: m.seq };
  }
}

parentPort!.on('message', (m: WriterRequest) => {
  chain = chain.then(async () => {
    let reply: WriterReply;
    try {
      reply = await handle(m);
    } catch (err) {
      if (m.op !== 'abort') failed ??= err as Error;
      const e = err as NodeJS.ErrnoException;
      reply = { seq: m.seq, error: e instanceof Error ? e.message : String(err), ...(e?.code ? { code: e.code } : {}) };
    }
    parentPort!.postMessage(reply);
  });
});
