/**
 * The FlatGeobuf writer's gather: features spilled in arrival order come out in the index's order,
 * read from the spill file a window at a time rather than one read per feature.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFeature } from 'flatgeobuf/lib/mjs/generic/feature.js';
import { ColumnType } from 'flatgeobuf/lib/mjs/flat-geobuf/column-type.js';
import { GeometryType } from 'flatgeobuf/lib/mjs/flat-geobuf/geometry-type.js';
import { encodeFeature, gatherInOrder } from '../../server/src/vectorize/flatgeobuf-writer.ts';
import { roundArea, type ClassPolygon } from '../../server/src/vectorize/class-polygon.ts';
import { seededRandom } from '../fixtures/seeded-random.ts';

let tmp: string;
beforeAll(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-fgb-gather-')); });
afterAll(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

describe('gatherInOrder', () => {
  it('writes every feature in the order asked, whole, with far fewer reads than features', async () => {
    const rand = seededRandom(7);
    // 20,000 features of 40-400 bytes, each filled with bytes of its own, and one of 9 MB (over a read window).
    const lengths = Array.from({ length: 20_000 }, () => 40 + Math.floor(rand() * 360));
    lengths[12_345] = 9 << 20;
    const offsets: number[] = [];
    const parts: Buffer[] = [];
    let at = 0;
    lengths.forEach((n, f) => {
      offsets.push(at);
      at += n;
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i += 4093) b[i] = (f * 31 + i) & 0xff;
      b.writeUInt32LE(f, 0);
      parts.push(b);
    });
    const spillPath = path.join(tmp, 'spill');
    fs.writeFileSync(spillPath, Buffer.concat(parts));
    // An order like the index's: mostly local, with jumps (sorted on a noisy key).
    const key = lengths.map((_, f) => f + rand() * 3000);
    const order = lengths.map((_, f) => f).sort((a, b) => key[a]! - key[b]!);

    const handle = await fs.promises.open(spillPath, 'r');
    let reads = 0;
    const counted = new Proxy(handle, {
      get(target, prop) {
        if (prop === 'read') return (...args: unknown[]) => { reads++; return (target.read as (...a: unknown[]) => unknown).apply(target, args); };
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const chunks: Buffer[] = [];
    try {
      await gatherInOrder(counted, order, offsets, lengths, async (chunk) => { chunks.push(Buffer.from(chunk)); });
    } finally {
      await handle.close();
    }
    expect(Buffer.concat(chunks).equals(Buffer.concat(order.map((f) => parts[f]!)))).toBe(true);
    // Several output chunks (the 9 MB feature alone fills a good part of one), few reads.
    expect(chunks.length).toBeGreaterThan(0);
    expect(reads).toBeLessThan(200);
  });

  it('writes nothing for no features', async () => {
    const spillPath = path.join(tmp, 'empty');
    fs.writeFileSync(spillPath, '');
    const handle = await fs.promises.open(spillPath, 'r');
    const chunks: Uint8Array[] = [];
    await gatherInOrder(handle, [], [], [], async (c) => { chunks.push(c); });
    await handle.close();
    expect(chunks).toHaveLength(0);
  });
});

describe('encodeFeature', () => {
  it('gives the bytes of the flatgeobuf package\'s buildFeature, feature after feature (one builder, reused)', () => {
    const column = (name: string, type: ColumnType) => ({ name, type, title: null, description: null, width: -1, precision: -1, scale: -1, nullable: false, unique: false, primary_key: false });
    const header = {
      geometryType: GeometryType.Polygon, columns: [column('class', ColumnType.String), column('class_id', ColumnType.Int), column('area_m2', ColumnType.Double)],
      envelope: null, featuresCount: 0, indexNodeSize: 0, crs: null, title: null, description: null, metadata: null,
    };
    const square = (x: number, y: number, s: number) => Float64Array.from([x, y, x + s, y, x + s, y + s, x, y + s]);
    const polygons: ClassPolygon[] = [
      { classId: 0, className: 'water', areaM2: 100, rings: [square(0, 0, 10)] },
      { classId: 7, className: 'zone bâtie → eau', areaM2: 1234.5678, rings: [square(0, 0, 100), square(10, 10, 5), square(50, 50, 20)] },
      { classId: 255, className: 'x'.repeat(300), areaM2: 0.004, rings: [Float64Array.from({ length: 4000 }, (_, i) => (i % 2 ? Math.sin(i) : Math.cos(i)) * 1e5)] },
      { classId: 1, className: 'water', areaM2: 1e12, rings: [square(-1e6, -1e6, 2e6)] },
    ];
    for (const p of polygons) {
      const rings = p.rings.map((r) => [...r, r[0]!, r[1]!]);
      const ends: number[] = [];
      rings.reduce((n, r) => { ends.push((n + r.length) / 2); return n + r.length; }, 0);
      const geometry = { xy: Float64Array.from(rings.flat()), ends: rings.length > 1 ? ends : undefined, type: GeometryType.Polygon };
      const expected = buildFeature(geometry as never, { class: p.className, class_id: p.classId, area_m2: roundArea(p.areaM2) }, header as never);
      expect(Buffer.from(encodeFeature(p)).equals(Buffer.from(expected)), p.className.slice(0, 20)).toBe(true);
    }
  });
});
