/**
 * `text` without the run of `char` it ends with, by a loop: /x+$/ takes time growing with the
 * square of the text when a long run of x is followed by anything else (each start is tried, and
 * each scans to the end), and these texts come from files and flags (a GeoAsciiParams of 100 KB of
 * NULs and one letter held a job 7 s, 10 MB would have held it for hours).
 */
export function trimTrailing(text: string, char: string): string {
  let end = text.length;
  while (end > 0 && text[end - 1] === char) end--;
  return end === text.length ? text : text.slice(0, end);
}
