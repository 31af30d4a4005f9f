/**
 * Following a job: Server-Sent Events from /jobs/{id}/events, and polling GET /jobs/{id} if the
 * stream breaks (a proxy that buffers SSE, a dropped connection), so progress never just stops.
 */
import type { ApiClient } from './api-client.ts';
import { TERMINAL_STATUSES, type Job } from './api-types.ts';

const POLL_MS = 1000;

export interface JobWatch {
  /** Resolves with the job in its final state. */
  done: Promise<Job>;
  stop(): void;
}

export function watchJob(api: ApiClient, jobId: string, onUpdate: (job: Job) => void): JobWatch {
  let stopped = false;
  let source: EventSource | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let settle!: (job: Job) => void;
  let fail!: (err: unknown) => void;
  const done = new Promise<Job>((resolve, reject) => { settle = resolve; fail = reject; });

  const stop = () => {
    stopped = true;
    source?.close();
    if (timer) clearTimeout(timer);
  };

  const receive = (job: Job) => {
    if (stopped) return;
    onUpdate(job);
    if (TERMINAL_STATUSES.has(job.status)) { stop(); settle(job); }
  };

  const poll = async () => {
    if (stopped) return;
    try {
      receive(await api.get<Job>(`/jobs/${encodeURIComponent(jobId)}`));
      if (!stopped) timer = setTimeout(() => void poll(), POLL_MS);
    } catch (err) {
      stop();
      fail(err);
    }
  };

  if (typeof EventSource === 'undefined') {
    void poll();
  } else {
    source = new EventSource(`/jobs/${encodeURIComponent(jobId)}/events`);
    const onMessage = (e: MessageEvent<string>) => {
      try {
        receive(JSON.parse(e.data) as Job);
      } catch {
        // A malformed event is skipped; the next one (or polling) carries the same state.
      }
    };
    source.addEventListener('status', onMessage);
    source.addEventListener('progress', onMessage);
    source.onerror = () => {
      if (stopped) return;
      // EventSource would reconnect forever on its own; poll instead, which reports real errors.
      source?.close();
      source = null;
      void poll();
    };
  }
  return { done, stop };
}
