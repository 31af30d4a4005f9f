/**
 * errors.ts's job failure text: a full disk names the folder the job writes in (Node's ENOSPC on a
 * write names no file), other failures are their first line.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { jobFailure, redactPaths } from '../server/src/errors.ts';

describe('jobFailure', () => {
  it('names the folder for a real ENOSPC (a write to /dev/full), and is the first line otherwise', () => {
    let full: unknown = null;
    if (fs.existsSync('/dev/full')) {
      const fd = fs.openSync('/dev/full', 'w');
      try { fs.writeSync(fd, Buffer.alloc(16)); } catch (err) { full = err; } finally { fs.closeSync(fd); }
    } else {
      full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    }
    expect(jobFailure(full, '/data/results/abc')).toBe('the disk is full where the job writes (/data/results/abc): ENOSPC: no space left on device, write');
    expect(jobFailure(Object.assign(new Error('EDQUOT: disk quota exceeded, write'), { code: 'EDQUOT' }), 'x')).toMatch(/^the disk is full where the job writes \(x\): EDQUOT/);
    expect(jobFailure(new Error('the model failed\nstack'), '/data/results/abc')).toBe('the model failed');
  });
});

describe('redactPaths', () => {
  it('turns server paths into file names and leaves the API\'s own paths', () => {
    expect(redactPaths('cannot read /srv/data/results/abc/mask.tif: gone')).toBe('cannot read mask.tif: gone');
    expect(redactPaths("the catalog '/var/lib/satseg/satseg.sqlite' is locked")).toBe("the catalog 'satseg.sqlite' is locked");
    expect(redactPaths('too many event streams; close one, or poll GET /jobs/{id} instead')).toBe('too many event streams; close one, or poll GET /jobs/{id} instead');
    expect(redactPaths('see GET /results/{id}/stats.json')).toBe('see GET /results/{id}/stats.json');
    expect(redactPaths('https://example.org/a/b.tif and 3/4')).toBe('https://example.org/a/b.tif and 3/4');
  });
});

describe('redactPaths on paths with braces', () => {
  it('still redacts a file path that holds braces', () => {
    expect(redactPaths('cannot read /home/alice/{proj}/scene.tif')).toBe('cannot read scene.tif');
    expect(redactPaths('cannot read /srv/data/${HOME}/x.tif')).toBe('cannot read x.tif');
  });
});
