/**
 * The optional API key: when SATSEG_API_KEY is set, requests that change state need
 * `Authorization: Bearer <key>`; reads stay open so maps and GIS clients keep working.
 */
import crypto from 'node:crypto';
import type { Context } from 'hono';
import { HttpError } from './http-error.ts';

export function requireApiKey(c: Context, ctx: { apiKey: string | null }): void {
  if (!ctx.apiKey) return;
  const header = c.req.header('authorization') ?? '';
  const m = /^Bearer\s+(.+)$/i.exec(header);
  const given = Buffer.from(m?.[1]?.trim() ?? '');
  const want = Buffer.from(ctx.apiKey);
  if (!m || given.length !== want.length || !crypto.timingSafeEqual(given, want)) {
    throw new HttpError(401, 'unauthorized', m ? 'wrong API key' : 'this server needs an API key for changes: send "Authorization: Bearer <key>"');
  }
}
