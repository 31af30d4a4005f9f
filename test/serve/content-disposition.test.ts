/**
 * Content-Disposition for user-named downloads: ASCII only on the wire, an ASCII fallback, and the
 * exact UTF-8 name in filename* (checked with Python's RFC 2231 parser, which reads RFC 5987 values).
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { contentDisposition } from '../../server/src/serve/content-disposition.ts';
import { gdalPython, gdalSkipReason, skipWithoutGdal } from '../helpers/shared-data.ts';

const NAMES = ['Lac Léman – 2020.geojson', '湖の地図.tif', 'crops 🌾 "north" field.fgb', '100% done "ok".tif', 'Ærø (ÆØÅ) *draft*.png'];

function starValue(header: string): string | null {
  const m = /filename\*=UTF-8''([^;]*)$/.exec(header);
  return m ? decodeURIComponent(m[1]!) : null;
}

describe('contentDisposition', () => {
  it('a plain ASCII name gets filename only', () => {
    expect(contentDisposition('lakes-2020_mask.tif')).toBe('attachment; filename="lakes-2020_mask.tif"');
    expect(contentDisposition('report.pdf', 'inline')).toBe('inline; filename="report.pdf"');
  });

  it('a non-ASCII name gets an ASCII fallback and the exact name in filename*', () => {
    expect(contentDisposition('Lac Léman – 2020.geojson')).toBe(
      'attachment; filename="Lac Leman _ 2020.geojson"; filename*=UTF-8\'\'Lac%20L%C3%A9man%20%E2%80%93%202020.geojson');
    for (const name of NAMES) {
      const header = contentDisposition(name);
      expect(header, name).toMatch(/^[\x20-\x7E]+$/);
      expect(starValue(header), name).toBe(name);
      // The fallback is a valid quoted-string with no escapes needed.
      expect(/filename="([^"\\]*)"/.exec(header)?.[1], name).toMatch(/^[\x20-\x7E]*$/);
    }
  });

  it('fetch\'s Headers accepts every value, where the raw name is refused', () => {
    expect(() => new Headers({ 'Content-Disposition': 'attachment; filename="湖の地図.tif"' })).toThrow();
    for (const name of NAMES) expect(() => new Headers({ 'Content-Disposition': contentDisposition(name) })).not.toThrow();
  });

  it('filename* leaves only RFC 5987 attr-chars unencoded', () => {
    const star = /filename\*=UTF-8''(.*)$/.exec(contentDisposition("Ærø (ÆØÅ) *draft*'s.png"))![1]!;
    expect(star).toMatch(/^(?:[A-Za-z0-9!#$&+\-.^_`|~]|%[0-9A-F]{2})+$/);
    expect(star).toContain('%28'); // '(' is not an attr-char although encodeURIComponent keeps it
    expect(star).toContain('%27'); // nor is "'"
  });

  it('drops control characters and path separators, and never names an empty file', () => {
    expect(contentDisposition('../etc/passwd')).toBe('attachment; filename=".._etc_passwd"');
    expect(contentDisposition('C:\\maps\\lakes.tif')).toBe('attachment; filename="C:_maps_lakes.tif"');
    expect(contentDisposition('a\r\nSet-Cookie: x=1.tif')).toBe('attachment; filename="aSet-Cookie: x=1.tif"');
    expect(contentDisposition('\u0000\u0007')).toBe('attachment; filename="download"');
  });

  it('cuts very long names, keeping the extension', () => {
    const header = contentDisposition(`${'é'.repeat(400)}.geojson`);
    const name = starValue(header)!;
    expect([...name]).toHaveLength(180);
    expect(name.endsWith('.geojson')).toBe(true);
  });
});

describe.skipIf(skipWithoutGdal)(`Python's email parser reads back the exact names ${gdalSkipReason}`, () => {
  // Python takes the first filename parameter, and RFC 6266 (appendix D) puts the fallback first; so
  // it is given filename* alone, which checks our RFC 5987 encoding against an independent decoder.
  it('get_filename() decodes each filename* to the original name', () => {
    const script = [
      'import sys, json, email',
      'out = []',
      'for line in sys.stdin.read().splitlines():',
      '    msg = email.message_from_string("Content-Disposition: " + line + "\\n\\n")',
      '    out.append(msg.get_filename())',
      'print(json.dumps(out))',
    ].join('\n');
    const names = JSON.parse(execFileSync(gdalPython, ['-c', script], { input: NAMES.map((n) => `attachment; ${/filename\*=.*$/.exec(contentDisposition(n))![0]}`).join('\n'), encoding: 'utf8' }));
    expect(names).toEqual(NAMES);
  });
});
