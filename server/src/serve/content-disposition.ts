/**
 * Content-Disposition values for downloads named after user data (dataset and result names).
 *
 * A header may carry only ASCII safely (fetch's Headers rejects anything above U+00FF outright, so a
 * raw "湖.tif" is a 500). RFC 6266 gives the portable answer: a plain ASCII `filename="..."` for
 * old clients and, when the name is not plain ASCII, `filename*=UTF-8''...` (RFC 5987 encoding)
 * that current browsers and curl prefer.
 */

// Longer names are cut (keeping the extension): browsers and file systems stop at about 255 bytes.
const MAX_NAME_CHARS = 180;

// RFC 5987 attr-char: what may stand unencoded in filename*.
const ATTR_CHAR = /[A-Za-z0-9!#$&+\-.^_`|~]/;

/** The name without control characters or path separators (a client must never see a path), and not too long. */
function cleanName(filename: string): string {
  let name = filename.replace(/[\u0000-\u001F\u007F-\u009F]/g, '').replace(/[/\\]/g, '_').trim();
  const chars = [...name];
  if (chars.length > MAX_NAME_CHARS) {
    const ext = /\.[A-Za-z0-9]{1,10}$/.exec(name)?.[0] ?? '';
    name = chars.slice(0, MAX_NAME_CHARS - ext.length).join('') + ext;
  }
  return name || 'download';
}

/**
 * The ASCII stand-in: accents dropped (é → e), other non-ASCII characters, quotes, backslashes and
 * '%' (which some clients percent-decode) replaced by '_'.
 */
function asciiFallback(name: string): string {
  return name.normalize('NFKD').replace(/[\u0300-\u036F]/g, '').replace(/[^\x20-\x7E]|["\\%]/gu, '_');
}

function encodeRfc5987(value: string): string {
  const bytes = new TextEncoder().encode(value);
  let out = '';
  for (const b of bytes) {
    const ch = String.fromCharCode(b);
    out += b < 0x80 && ATTR_CHAR.test(ch) ? ch : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** `attachment; filename="..."` plus `filename*=UTF-8''...` when the name is not plain ASCII; always pure ASCII. */
export function contentDisposition(filename: string, disposition: 'attachment' | 'inline' = 'attachment'): string {
  const name = cleanName(filename);
  const fallback = asciiFallback(name);
  const value = `${disposition}; filename="${fallback}"`;
  return fallback === name ? value : `${value}; filename*=UTF-8''${encodeRfc5987(name)}`;
}
