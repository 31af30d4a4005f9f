/**
 * The HTTP application: JSON API, map tiles, files and the viewer, on Hono.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import { cors } from 'hono/cors';
import type { ServerContext } from './server-context.ts';
import { toHttpError } from './http-error.ts';
import { registerDatasetRoutes } from './routes/dataset-routes.ts';
import { registerResultRoutes } from './routes/result-routes.ts';
import { registerModelRoutes } from './routes/model-routes.ts';
import { registerViewerRoutes } from './routes/viewer-routes.ts';
import { registerJobRoutes } from './routes/job-routes.ts';
import { documentApi } from './openapi-doc.ts';

export interface AppOptions {
  /** Called for 5xx errors (logging). */
  onServerError?: (err: unknown, path: string) => void;
  /** Extra routes (jobs) registered by the caller. */
  extend?: (app: OpenAPIHono) => void;
}

export function createApp(ctx: ServerContext, options: AppOptions = {}): OpenAPIHono {
  const app = new OpenAPIHono();
  // COG clients in the browser read these to do ranged reads.
  const exposeHeaders = ['Content-Range', 'Accept-Ranges', 'ETag', 'Content-Length', 'Last-Modified', 'Content-Disposition'];
  const preflight = cors({
    origin: '*',
    allowMethods: ['GET', 'HEAD', 'POST', 'DELETE', 'OPTIONS'],
    allowHeaders: ['Authorization', 'Content-Type', 'Range', 'If-None-Match', 'If-Modified-Since', 'X-Filename'],
    exposeHeaders,
    maxAge: 86400,
  });
  // Preflights go to Hono's CORS middleware. Other requests get the same two headers after the
  // handler: set before it (as that middleware does), they make Hono rebuild every response
  // around a body stream, which cost a fifth of a millisecond per tile.
  app.use('*', async (c, next) => {
    if (c.req.method === 'OPTIONS') return preflight(c, next);
    await next();
    c.res.headers.set('Access-Control-Allow-Origin', '*');
    c.res.headers.set('Access-Control-Expose-Headers', exposeHeaders.join(','));
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
  registerJobRoutes(app, ctx, ctx.maxAreaKm2);
  options.extend?.(app);
  documentApi(app);
  registerViewerRoutes(app, ctx);
  return app;
}
