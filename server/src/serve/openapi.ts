/**
 * The OpenAPI app: routes are declared with @hono/zod-openapi's createRoute, so the zod schemas of
 * api-schemas.ts both validate each request and document it; a request that fails its schema gets
 * our JSON error body with the reason. /openapi.json is generated from those same routes.
 */
import { OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../runtime-paths.ts';
import { ErrorBody } from './api-schemas.ts';

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
  403: 'not allowed (a read-only item)',
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

export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { 'application/json': { schema } } };
}

/** Mutating routes carry the bearer scheme (enforced only when SATSEG_API_KEY is set). */
export const bearer = [{ bearerAuth: [] as string[] }];

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

/**
 * Says explicitly what every operation leaves implicit: reads are open (`security: []`, the key
 * guards changes only), and any operation may answer a client error with the JSON error body.
 */
function completeOperations<T extends { paths?: Record<string, unknown> }>(doc: T): T {
  for (const item of Object.values(doc.paths ?? {}) as Array<Record<string, { security?: unknown[]; responses?: Record<string, unknown> }>>) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      op.security ??= [];
      op.responses ??= {};
      if (!Object.keys(op.responses).some((code) => code.startsWith('4'))) {
        op.responses['4XX'] = { description: 'a client error (e.g. an unknown route)', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
      }
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
