/**
 * The base URL that links in answers (TileJSON, job results, styles, WMTS) start with.
 *
 * --public-url wins when set: behind a proxy or a CDN only the operator knows the outside name.
 * Otherwise the request's own URL; X-Forwarded-Proto / X-Forwarded-Host are believed only with
 * --trust-proxy, since any client can send them and would otherwise write the links other users get.
 */
import type { Context } from 'hono';
import { trimTrailing } from '../trim-trailing.ts';

export interface LinkSettings {
  publicUrl: string | null;
  trustProxy: boolean;
}

export function publicBase(c: Context, settings: LinkSettings): string {
  if (settings.publicUrl) return settings.publicUrl;
  const url = new URL(c.req.url);
  if (settings.trustProxy) {
    const proto = c.req.header('x-forwarded-proto')?.split(',')[0]?.trim();
    const host = c.req.header('x-forwarded-host')?.split(',')[0]?.trim();
    if (proto === 'http' || proto === 'https') url.protocol = `${proto}:`;
    if (host && /^[\w.-]+(:\d+)?$/.test(host)) {
      // The forwarded host is the whole authority: the URL's host setter keeps the old port when
      // the new host has none, and every link behind nginx on 443 came out as https://name:8080.
      url.port = '';
      url.host = host;
    }
  }
  return url.origin;
}

/** A --public-url value without its trailing slash; refuses anything but http(s) URLs. */
export function normalisePublicUrl(text: string): string {
  const url = new URL(text);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`--public-url must be an http(s) URL (got ${text})`);
  return trimTrailing(url.href, '/');
}
