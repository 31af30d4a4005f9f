/**
 * Text and attribute values inside XML we write by hand (GDAL PAM, QGIS styles, WMTS capabilities).
 * Names come from model metadata and uploads, so characters XML 1.0 cannot hold at all (C0 controls
 * other than tab and newlines, U+FFFE/U+FFFF, lone surrogates) are dropped rather than breaking the file.
 */
export function xmlEscape(s: string): string {
  return s
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '')
    .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}
