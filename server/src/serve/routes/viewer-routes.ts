/**
 * The viewer: web/index.html, its TypeScript compiled by esbuild on first request (no build step
 * for `npm start`), and MapLibre from node_modules (no CDN: the map works offline).
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { ServerContext } from '../server-context.ts';
import { repoRoot } from '../../runtime-paths.ts';

const require = createRequire(import.meta.url);
const repoWeb = path.join(repoRoot, 'web');

let bundle: Promise<string> | null = null;
let bundleStamp = '';

function sourceStamp(dir: string): string {
  const src = path.join(dir, 'src');
  if (!fs.existsSync(src)) return '';
  return fs.readdirSync(src, { recursive: true }).map((f) => {
    const st = fs.statSync(path.join(src, String(f)));
    return `${f}:${st.mtimeMs}`;
  }).join('|');
}

async function buildBundle(dir: string): Promise<string> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [path.join(dir, 'src/main.ts')],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    write: false,
    sourcemap: 'inline',
    external: ['maplibre-gl'],
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

export function registerViewerRoutes(app: OpenAPIHono, ctx: ServerContext): void {
  const dir = ctx.webDir ?? repoWeb;
  const maplibreDist = path.dirname(require.resolve('maplibre-gl/package.json')) + '/dist';

  app.get('/', (c) => {
    const index = path.join(dir, 'index.html');
    if (!fs.existsSync(index)) return c.json({ error: 'not found', detail: 'the viewer is not installed (web/index.html missing)' }, 404);
    return c.html(fs.readFileSync(index, 'utf8'));
  });

  app.get('/app.js', async (c) => {
    // Rebuild when a source file changed, so editing the viewer needs only a reload.
    const stamp = sourceStamp(dir);
    if (!bundle || stamp !== bundleStamp) {
      bundleStamp = stamp;
      bundle = buildBundle(dir);
      bundle.catch(() => { bundle = null; });
    }
    return c.body(await bundle, 200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-cache' });
  });

  // Browsers ask for it on any page of the server (a JSON document opened in a tab, say).
  app.get('/favicon.ico', (c) => c.body(null, 204, { 'Cache-Control': 'public, max-age=86400' }));

  app.get('/app.css', (c) => {
    const css = path.join(dir, 'app.css');
    if (!fs.existsSync(css)) return c.body('', 200, { 'Content-Type': 'text/css' });
    return c.body(fs.readFileSync(css, 'utf8'), 200, { 'Content-Type': 'text/css; charset=utf-8', 'Cache-Control': 'no-cache' });
  });

  app.get('/vendor/:file', (c) => {
    const file = c.req.param('file');
    const m = /^maplibre-gl[\w-]*\.(mjs|css|map)$/.exec(file);
    const full = path.join(maplibreDist, file);
    if (!m || !fs.existsSync(full)) return c.json({ error: 'not found', detail: `no vendor file ${file}` }, 404);
    const type = { mjs: 'text/javascript', css: 'text/css', map: 'application/json' }[m[1] as 'mjs' | 'css' | 'map'];
    return c.body(fs.readFileSync(full), 200, { 'Content-Type': `${type}; charset=utf-8`, 'Cache-Control': 'public, max-age=86400' });
  });

  app.get('/assets/:file', (c) => {
    const file = c.req.param('file');
    if (!/^[\w.-]+$/.test(file)) return c.json({ error: 'not found', detail: 'no such asset' }, 404);
    const full = path.join(dir, 'assets', file);
    if (!fs.existsSync(full)) return c.json({ error: 'not found', detail: `no asset ${file}` }, 404);
    const type = file.endsWith('.json') || file.endsWith('.geojson') ? 'application/json' : file.endsWith('.png') ? 'image/png' : 'application/octet-stream';
    return c.body(fs.readFileSync(full), 200, { 'Content-Type': type, 'Cache-Control': 'public, max-age=3600' });
  });
}
