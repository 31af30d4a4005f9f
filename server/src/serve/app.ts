/**
 * The HTTP application: JSON API, map tiles, files and the viewer, on Hono.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import { cors } from 'hono/cors';
import type { ServerContext } from './server-context.ts';
import { bodyLimit } from 'hono/body-limit';
import { httpError, toHttpError } from './http-error.ts';
import { requireApiKey } from './api-key.ts';
import { createApiApp, documentApi } from './openapi.ts';
import { registerDatasetRoutes } from './routes/dataset-routes.ts';
import { registerResultRoutes } from './routes/result-routes.ts';
import { registerVectorRoutes } from './routes/vector-routes.ts';
import { registerModelRoutes } from './routes/model-routes.ts';
import { registerViewerRoutes } from './routes/viewer-routes.ts';
import { registerJobRoutes } from './routes/job-routes.ts';
import { registerWorkerRoutes } from './routes/worker-routes.ts';
import { registerInteropRoutes } from './routes/interop-routes.ts';

export interface AppOptions {
  /** Called for 5xx errors (logging). */
  onServerError?: (err: unknown, path: string) => void;
  /** Extra routes registered by the caller (before the API document is made). */
  extend?: (app: OpenAPIHono) => void;
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);
const JSON_BODY_LIMIT = 16 * 2 ** 20;

/**
 * Whether a body of this type is read whole by a validator: any type Hono's validator takes for
 * JSON (its expression: `application/vnd.x+json`, `Application/JSON`, which an exact
 * "application/json" test let through unbounded), and URL-encoded forms.
 */
function parsedInMemory(contentType: string | undefined): boolean {
  const media = (contentType ?? '').split(';')[0]!.trim();
  return /^application\/([\w.-]+\+)?json$/i.test(media) || /^application\/x-www-form-urlencoded$/i.test(media);
}
const jsonBodyLimit = bodyLimit({
  maxSize: JSON_BODY_LIMIT,
  onError: () => { throw httpError(413, `a JSON body may be up to ${JSON_BODY_LIMIT / 2 ** 20} MB`); },
});
// COG clients in the browser read these to do ranged reads.
const EXPOSE = ['Content-Range', 'Accept-Ranges', 'ETag', 'Content-Length', 'Last-Modified', 'Content-Disposition'];

export function createApp(ctx: ServerContext, options: AppOptions = {}): OpenAPIHono {
  const app = createApiApp();
  // Reads are open to any origin (maps and GIS clients need it). Changes (POST, PUT, DELETE) are
  // allowed cross-origin only for the origins the operator lists (SATSEG_CORS_ORIGINS): otherwise
  // any web page a user visits could upload to or delete from their server.
  const allowed = new Set(ctx.corsOrigins);
  const preflight = cors({
    origin: (origin, c) => {
      const method = c.req.header('access-control-request-method')?.toUpperCase() ?? 'GET';
      if (SAFE_METHODS.has(method)) return '*';
      return allowed.has(origin) || allowed.has('*') ? origin : null;
    },
    allowMethods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
    allowHeaders: ['Authorization', 'Content-Type', 'Range', 'If-None-Match', 'If-Modified-Since', 'X-Filename'],
    exposeHeaders: EXPOSE,
    maxAge: 86400,
  });
  // Preflights go to Hono's CORS middleware. Other requests get their headers after the handler:
  // set before it (as that middleware does), they make Hono rebuild every response around a body
  // stream, which cost a fifth of a millisecond per tile.
  app.use('*', async (c, next) => {
    if (c.req.method === 'OPTIONS') return preflight(c, next);
    // A browser sends some cross-origin changes without asking first: a multipart form POST is a
    // "simple" request, so CORS alone would let any page upload. Changes that carry another
    // page's Origin are refused unless it is listed; clients that send no Origin (curl, GDAL,
    // QGIS) and the viewer itself are unaffected. The browser's Sec-Fetch-Site (which pages
    // cannot set) recognises the viewer behind a proxy that rewrites Host.
    const origin = c.req.header('origin');
    if (!SAFE_METHODS.has(c.req.method) && origin && !allowed.has(origin) && !allowed.has('*')
      && c.req.header('sec-fetch-site') !== 'same-origin' && origin !== new URL(c.req.url).origin && origin !== ctx.base(c)) {
      throw httpError(403, `${c.req.method} from another origin (${origin.slice(0, 100)}) is not allowed; the server's operator can list it in SATSEG_CORS_ORIGINS (or set --public-url if that is this server's own address)`);
    }
    await next();
    if (SAFE_METHODS.has(c.req.method)) c.res.headers.set('Access-Control-Allow-Origin', '*');
    else if (origin && (allowed.has(origin) || allowed.has('*'))) { c.res.headers.set('Access-Control-Allow-Origin', origin); c.res.headers.append('Vary', 'Origin'); }
    c.res.headers.set('Access-Control-Expose-Headers', EXPOSE.join(','));
  });
  // Every change needs the key, checked before a byte of its body is read: in each handler, after
  // the body's validation, a client without one had a 500 MB body parsed (probe).
  app.use('*', async (c, next) => {
    if (!SAFE_METHODS.has(c.req.method) && c.req.method !== 'OPTIONS') requireApiKey(c, ctx);
    return next();
  });
  // Bodies parsed in memory are bounded (uploads stream to disk under their own limit): a
  // 100,000-vertex area is about 4 MB.
  app.use('*', async (c, next) => {
    if (SAFE_METHODS.has(c.req.method) || !parsedInMemory(c.req.header('content-type'))) return next();
    // And they arrive in time: with Node's own limit lifted for uploads (connection-limits.ts), a
    // body sent a byte every 5 s would hold its connection for ever.
    const incoming = (c.env as { incoming?: import('node:http').IncomingMessage } | undefined)?.incoming;
    const deadline = incoming && !incoming.complete
      ? setTimeout(() => { if (!incoming.complete) incoming.destroy(); }, ctx.limits.values.jsonBodyMs)
      : undefined;
    try {
      return await jsonBodyLimit(c, next);
    } finally {
      clearTimeout(deadline);
    }
  });
  app.onError((err, c) => {
    const h = toHttpError(err);
    if (h.status >= 500) options.onServerError?.(err, c.req.path);
    return c.json({ error: h.error, detail: h.detail }, h.status as 400);
  });
  app.notFound((c) => c.json({ error: 'not found', detail: `no route for ${c.req.method} ${c.req.path}` }, 404));

  registerModelRoutes(app, ctx);
  registerDatasetRoutes(app, ctx);
  registerResultRoutes(app, ctx);
  registerVectorRoutes(app, ctx);
  registerJobRoutes(app, ctx);
  registerWorkerRoutes(app, ctx);
  registerInteropRoutes(app, ctx);
  options.extend?.(app);
  documentApi(app, (c) => ctx.base(c));
  registerViewerRoutes(app, ctx);
  return app;
}
