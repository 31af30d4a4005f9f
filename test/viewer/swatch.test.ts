/**
 * Colours from data reach the viewer's style attributes only as hex colours (a worker's
 * stats.json made the viewer fetch a URL of its choosing through "red;background-image:url(…)").
 */
import { describe, expect, it } from 'vitest';
import { cssColor } from '../../web/src/swatch.ts';

describe('cssColor', () => {
  it('passes hex colours and turns anything else transparent', () => {
    for (const ok of ['#1f78b4', '#ABC', '#1f78b480']) expect(cssColor(ok)).toBe(ok);
    for (const bad of ['red;background-image:url(http://127.0.0.1:9/leak)', 'url(x)', 'red', '#12345', '#1f78b4;x', '', null, undefined, 42 as unknown as string]) {
      expect(cssColor(bad)).toBe('transparent');
    }
  });
});
