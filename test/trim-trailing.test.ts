/**
 * Trimming the end of texts from files and flags, and capping messages before their paths are
 * redacted: each in one pass, where the regular expressions they replaced took time growing with
 * the square of the text on inputs like 100 KB of NULs and a letter, or ';/' repeated.
 */
import { describe, expect, it } from 'vitest';
import { trimTrailing } from '../server/src/trim-trailing.ts';
import { redactPaths } from '../server/src/errors.ts';

describe('trimTrailing', () => {
  it('removes the run of the character at the end only', () => {
    expect(trimTrailing('http://h/a///', '/')).toBe('http://h/a');
    expect(trimTrailing('PROJCS["x"]|||', '|')).toBe('PROJCS["x"]');
    expect(trimTrailing('WGS 84\0\0', '\0')).toBe('WGS 84');
    expect(trimTrailing('////', '/')).toBe('');
    expect(trimTrailing('', '/')).toBe('');
    expect(trimTrailing('a/b', '/')).toBe('a/b');
  });

  it('passes a megabyte of the character followed by another at once (quadratic as /\\0+$/)', () => {
    const text = `${'\0'.repeat(1 << 20)}x`;
    expect(trimTrailing(text, '\0')).toBe(text);
  });
});

describe('redactPaths', () => {
  it('still turns absolute paths into base names', () => {
    expect(redactPaths('cannot open /srv/data/results/ab12/mask.tif: ENOENT')).toBe('cannot open mask.tif: ENOENT');
  });

  it('caps what it is given at 2000 characters: a 1 MB ";/;/…" (from a query or an uploaded class list) took minutes', () => {
    const out = redactPaths(`rescale must be "min,max" (got "${';/'.repeat(500_000)}")`);
    expect(out.length).toBeLessThanOrEqual(2001);
    expect(out.endsWith('…')).toBe(true);
  });
});
