/**
 * The viewer bundle as the server builds it (GET /app.js, esbuild at run time): it holds no server
 * code (the viewer shares the server's types only), it holds the compare plugin, and its bundler
 * is installed by `npm install --omit=dev`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/shared-data.ts';
import { createTestServer, type TestServer } from '../helpers/test-server.ts';

let s: TestServer;
beforeAll(() => { s = createTestServer({}); });
afterAll(async () => { await s?.close(); });

/** The source files esbuild put in the bundle, from its inline source map. */
function bundledSources(bundle: string): string[] {
  const m = /\/\/# sourceMappingURL=data:application\/json;base64,([A-Za-z0-9+/=]+)\s*$/.exec(bundle);
  if (!m) throw new Error('the bundle has no inline source map');
  return (JSON.parse(Buffer.from(m[1]!, 'base64').toString('utf8')) as { sources: string[] }).sources;
}

describe('the viewer bundle', () => {
  it('holds the viewer and its browser libraries but no server code', async () => {
    const res = await s.get('/app.js');
    expect(res.status).toBe(200);
    const sources = bundledSources(await res.text());
    expect(sources.some((f) => f.endsWith('web/src/main.ts'))).toBe(true);
    expect(sources.some((f) => f.includes('@maplibre/maplibre-gl-compare/'))).toBe(true);
    const server = sources.filter((f) => /(^|\/)server\/src\//.test(f));
    expect(server).toEqual([]);
  }, 60_000);

  it('is built by a runtime dependency, so `npm install --omit=dev` keeps /app.js working', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    for (const name of ['esbuild', '@maplibre/maplibre-gl-compare', 'events']) {
      expect(pkg.dependencies[name], name).toBeDefined();
      expect(pkg.devDependencies[name], name).toBeUndefined();
    }
  });
});
