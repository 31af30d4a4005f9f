/**
 * A job's Server-Sent Events (`GET /jobs/{id}/events`), read until the stream ends with the job.
 */
import { expect } from 'vitest';
import type { TestServer } from './test-server.ts';

export async function watchJob(s: TestServer, id: string): Promise<Array<{ event: string; data: any }>> {
  const res = await s.get(`/jobs/${id}/events`);
  expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const events: Array<{ event: string; data: any }> = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let idx;
    while ((idx = buffer.indexOf('\n\n')) >= 0) {
      const chunk = buffer.slice(0, idx);
      buffer = buffer.slice(idx + 2);
      const event = /^event: (.*)$/m.exec(chunk)?.[1];
      const data = /^data: (.*)$/m.exec(chunk)?.[1];
      if (event && data) events.push({ event, data: JSON.parse(data) });
    }
  }
  return events;
}
