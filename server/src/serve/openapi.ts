/**
 * The OpenAPI app: routes are declared with @hono/zod-openapi's createRoute, so the zod schemas of
 * api-schemas.ts both validate each request and document it; a request that fails its schema gets
 * our JSON error body with the reason. /openapi.json is generated from those same routes.
 */
import pLimit from 'p-limit';
import { OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../runtime-paths.ts';
import { ErrorBody } from './api-schemas.ts';
import { encodeCursor, type PageKey, type PageRequest } from '../catalog/page.ts';

const VERSION = (JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;

export function describeZodError(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ');
}

const TARGETS: Record<string, string> = { json: 'request body', form: 'form', param: 'path', query: 'query', header: 'header' };

export function createApiApp(): OpenAPIHono {
  return new OpenAPIHono({
    defaultHook: (result, c) => {
      if (!result.success) return c.json({ error: 'bad request', detail: `invalid ${TARGETS[result.target] ?? result.target}: ${describeZodError(result.error)}` }, 400);
      return undefined;
    },
  });
}

const ERROR_TEXT: Record<number, string> = {
  400: 'invalid request (the detail says what)',
  401: 'an API key is required (Authorization: Bearer <key>)',
  403: 'not allowed (a read-only item, or a change sent by a page of another origin that SATSEG_CORS_ORIGINS does not list)',
  404: 'no such item',
  409: 'conflict with the current state',
  413: 'over a size limit',
  416: 'the Range cannot be served from this file',
  422: 'the file exists but cannot be read',
  429: 'too many at once (queued jobs, or uploads being received)',
  502: 'a remote server failed',
  504: 'a remote server did not answer in time',
  503: 'the server is busy',
  507: 'not enough free disk space',
};

/** Error responses for a route, each with the JSON error body. */
export function errors(...statuses: number[]) {
  return Object.fromEntries(statuses.map((s) => [s, { description: ERROR_TEXT[s] ?? 'error', content: { 'application/json': { schema: ErrorBody } } }]));
}

/** The link to the page after this one (its last item's key as the cursor), or null on the last. */
export function nextPage(listUrl: string, limit: number, last: PageKey | null, more: boolean): string | null {
  return more && last ? `${listUrl}?limit=${limit}&after=${encodeCursor(last)}` : null;
}

/** The page a list's query asks for. */
export function pageOf(query: { limit?: number; offset?: number; after?: PageKey }): PageRequest {
  return { limit: query.limit ?? 100, ...(query.offset ? { offset: query.offset } : {}), ...(query.after ? { after: query.after } : {}) };
}

/**
 * A page of a catalog's list (results, datasets) for an answer: its records described eight at a
 * time (each opens its file and may compute statistics: all at once held a file per record), the
 * total, and the next page's link.
 */
export async function describePage<R, T>(
  catalog: { list(page: PageRequest): { items: R[]; more: boolean }; count(): number; pageKey(record: R): PageKey },
  query: { limit?: number; offset?: number; after?: PageKey },
  describe: (record: R) => Promise<T>,
  listUrl: string,
  late?: { ms: number; applies: (record: R) => boolean; describe: (record: R) => T },
): Promise<{ items: T[]; total: number; next: string | null }> {
  const page = pageOf(query);
  const { items: records, more } = catalog.list(page);
  const total = catalog.count();
  const opening = pLimit(8);
  // With `late`, the page answers by `ms` whatever the sources of the records it applies to do: one
  // not described by then (a remote dataset whose server does not answer) is described by
  // `late.describe`, and its open goes on in the background for the next request.
  const until = Date.now() + (late?.ms ?? 0);
  const inTime = (r: R) => {
    if (!late || !late.applies(r)) return describe(r);
    const left = until - Date.now();
    if (left <= 0) return Promise.resolve(late.describe(r));
    let timer: NodeJS.Timeout | undefined;
    const described = describe(r);
    described.catch(() => undefined);
    return Promise.race([described, new Promise<T>((resolve) => { timer = setTimeout(() => resolve(late.describe(r)), left); })]).finally(() => clearTimeout(timer));
  };
  const items = await Promise.all(records.map((r) => opening(() => inTime(r))));
  const last = records.at(-1);
  return { items, total, next: nextPage(listUrl, page.limit, last === undefined ? null : catalog.pageKey(last), more) };
}

/** 206 for a file served in ranges: its bytes for one range, multipart/byteranges for several. */
export function partialContent(type: string) {
  const binary = { schema: { type: 'string' as const, format: 'binary' } };
  return { description: 'partial content: the range asked for, or multipart/byteranges for several', content: { [type]: binary, 'multipart/byteranges': binary } };
}

export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { 'application/json': { schema } } };
}

/** Mutating routes carry the bearer scheme (enforced only when SATSEG_API_KEY is set). */
export const bearer = [{ bearerAuth: [] as string[] }];

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

/** What the middleware in app.ts answers for every change, and for every body read whole. */
const CHANGE_ERRORS = [401, 403];
const BODY_ERRORS = [413];

/**
 * Says explicitly what every operation leaves implicit: reads are open (`security: []`, the key
 * guards changes only), every change may be refused for its key or its origin, a JSON body for
 * its size, and any operation may answer a client error with the JSON error body.
 */
function completeOperations<T extends { paths?: Record<string, unknown> }>(doc: T): T {
  for (const item of Object.values(doc.paths ?? {}) as Array<Record<string, { security?: unknown[]; responses?: Record<string, unknown>; requestBody?: { content?: Record<string, unknown> } }>>) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      op.security ??= [];
      op.responses ??= {};
      const added = [...(method === 'get' || method === 'head' || method === 'options' ? [] : CHANGE_ERRORS), ...(op.requestBody?.content?.['application/json'] ? BODY_ERRORS : [])];
      // The document is generated by now: responses added here refer to the error schema.
      const errorBody = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
      for (const code of added) op.responses[code] ??= errorBody(ERROR_TEXT[code]!);
      if (!Object.keys(op.responses).some((code) => code.startsWith('4'))) op.responses['4XX'] = errorBody('a client error (e.g. an unknown route)');
    }
  }
  return doc;
}

export function documentApi(app: OpenAPIHono, base: (c: Context) => string): void {
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description: 'SATSEG_API_KEY, required for POST, PUT and DELETE when the server sets one',
  });
  app.get('/openapi.json', (c) => {
    const doc = app.getOpenAPI31Document({
      openapi: '3.1.0',
      info: {
        title: 'satseg',
        version: VERSION,
        description: 'Segment GeoTIFFs into class masks, vectors and map tiles; compare two dates; serve them to web maps and GIS.',
        license: { name: 'MIT', url: 'https://opensource.org/licenses/MIT' },
      },
      servers: [{ url: base(c), description: 'this server' }],
    });
    return c.json(completeOperations(doc));
  });
}
