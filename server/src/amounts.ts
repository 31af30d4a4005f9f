/**
 * Sizes and counts in messages: whole numbers from 100 up, three significant digits below. Limits
 * set low (a test's, or an operator's 0.01 Mpx) read "over the 0 Mpx" when rounded to units.
 */
export function amount(n: number): string {
  if (!Number.isFinite(n) || Math.abs(n) >= 100) return String(Math.round(n));
  return String(Number(n.toPrecision(3)));
}

/** Bytes in MB (2^20). */
export function megabytes(bytes: number): string {
  return `${amount(bytes / 2 ** 20)} MB`;
}
