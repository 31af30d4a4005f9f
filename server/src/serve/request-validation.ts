/**
 * Validating path ids and query strings once, at the edge, with the reason in the 400 body.
 */
import type { Context } from 'hono';
import { z } from 'zod';
import { ID_PATTERN } from '../catalog/catalog-db.ts';
import { HttpError } from './http-error.ts';

export function describeZodError(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ');
}

export function parseWith<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new HttpError(400, 'bad request', `invalid ${what}: ${describeZodError(r.error)}`);
  return r.data;
}

/** Ids are opaque tokens; anything else (paths, dots, slashes) is refused before any lookup. */
export function idParam(c: Context, name = 'id'): string {
  const id = c.req.param(name) ?? '';
  if (!ID_PATTERN.test(id)) throw new HttpError(404, 'not found', `no ${name === 'id' ? 'item' : name} with id ${JSON.stringify(id.slice(0, 60))}`);
  return id;
}

export function query(c: Context): Record<string, string> {
  return c.req.query();
}

export const lonLatQuery = z.object({
  lon: z.coerce.number().min(-180).max(180),
  lat: z.coerce.number().min(-90).max(90),
});
