/**
 * The OpenAPI document is generated from the schemas that validate requests, so it must be clean
 * by Redocly's recommended rules, and the server's real answers must match what it promises.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';
import { createTestServer, type TestServer } from '../helpers/test-server.ts';
import { repoRoot } from '../helpers/shared-data.ts';

const run = promisify(execFile);
let s: TestServer;
let doc: any;
let datasetId: string;
let resultId: string;

beforeAll(async () => {
  s = createTestServer({
    'scene.tif': (f) => writeTestTiff(f, { width: 300, height: 200, bands: syntheticScene(300, 200), geoTransform: [390000, 5, 0, 5820000, 0, -5], epsg: 32633 }),
  });
  datasetId = s.datasetId('scene.tif');
  resultId = await s.addResult('scene.tif');
  doc = await (await s.get('/openapi.json')).json();
});
afterAll(async () => { await s?.close(); });

describe('OpenAPI', () => {
  it('passes Redocly\'s recommended rules with no error and no warning', async () => {
    const file = path.join(s.dir, 'openapi.json');
    fs.writeFileSync(file, JSON.stringify(doc));
    const bin = path.join(repoRoot, 'node_modules/.bin/redocly');
    const r = await run(bin, ['lint', '--extends', 'recommended', '--format', 'summary', file]).catch((e: { stdout: string; stderr: string }) => e);
    const out = `${r.stdout}${r.stderr}`;
    expect(out).toMatch(/Your API description is valid/);
    // Summary lines look like "error   security-defined: 27" (Redocly's own Node 20 banner aside).
    expect(out).not.toMatch(/^(error|warning)\s+[\w-]+: \d+/m);
  });

  it('documents servers, the bearer scheme on every change, and an operationId everywhere', () => {
    expect(doc.servers[0].url).toBe('http://satseg.test');
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    for (const [p, item] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        expect(op.operationId, `${method} ${p}`).toMatch(/^\w+$/);
        if (['post', 'put', 'delete'].includes(method)) {
          expect(op.security, `${method} ${p}`).toEqual([{ bearerAuth: [] }]);
          expect(op.responses['401'], `${method} ${p}`).toBeDefined();
          // The Origin check (app.ts) answers any change from a page of another origin.
          expect(op.responses['403'], `${method} ${p}`).toBeDefined();
        }
        if (op.requestBody?.content?.['application/json']) expect(op.responses['413'], `${method} ${p}`).toBeDefined();
      }
    }
  });

  it('answers an id that breaks the spec\'s own pattern with the documented 400', async () => {
    const res = await s.get('/datasets/NOT..an-id');
    expect(res.status).toBe(400);
    expect(doc.paths['/datasets/{id}'].get.responses['400']).toBeDefined();
  });

  it('validates five real answers against their response schemas', async () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    ajv.addSchema({ $id: 'satseg', components: doc.components });
    const check = async (url: string, pathKey: string) => {
      const res = await s.get(url);
      expect(res.status, url).toBe(200);
      const schema = doc.paths[pathKey].get.responses['200'].content['application/json'].schema;
      // Refs point into the document's components.
      const validate = ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"satseg#/components/')));
      const body = await res.json();
      const ok = validate(body);
      expect(ok, `${url}: ${JSON.stringify(validate.errors?.slice(0, 3))}`).toBe(true);
    };
    await check('/datasets', '/datasets');
    await check(`/datasets/${datasetId}`, '/datasets/{id}');
    await check(`/models?dataset=${datasetId}`, '/models');
    await check(`/results/${resultId}`, '/results/{id}');
    await check(`/results/${resultId}/tilejson.json`, '/results/{id}/tilejson.json');
    await check(`/results/${resultId}/vector/tilejson.json`, '/results/{id}/vector/tilejson.json');
  });
});
