/**
 * How a change mask codes a transition: `from * N + to` for N classes, nodata 255.
 *
 * Unchanged pixels keep their own code `c * N + c` rather than one shared "no change" value: the
 * mask then holds both dates' classes everywhere (a stable lake stays distinguishable from a stable
 * field, and every statistic can be recomputed from the mask alone), at no cost in the byte. The
 * colour table draws those diagonal codes grey, and each changed code in the colour of the class
 * it changed to, so a map of the mask reads as "what appeared where".
 */
import { hexToRgb } from '../infer/model-spec.ts';
import type { ChangeClasses } from './change-classes.ts';

export const CHANGE_NODATA = 255;

/** Unchanged pixels, whatever their class. */
export const UNCHANGED_RGB: [number, number, number] = [190, 190, 190];

export interface Transition {
  code: number;
  from: string;
  to: string;
  from_id: number;
  to_id: number;
}

export function transitionOf(code: number, classes: ChangeClasses): Transition {
  const n = classes.names.length;
  const fromId = Math.floor(code / n);
  const toId = code % n;
  return { code, from: classes.names[fromId]!, to: classes.names[toId]!, from_id: fromId, to_id: toId };
}

/** The coding in words, for the mask's metadata and the statistics. */
export function codingDescription(classCount: number): string {
  const n = classCount;
  return `from * ${n} + to; unchanged pixels keep c * ${n} + c; ${CHANGE_NODATA} = nodata`;
}

export function transitionName(t: Pick<Transition, 'from' | 'to'>): string {
  return `${t.from} → ${t.to}`;
}

/** Every code in order, unchanged ones included. */
export function allTransitions(classes: ChangeClasses): Transition[] {
  const n = classes.names.length;
  return Array.from({ length: n * n }, (_, code) => transitionOf(code, classes));
}

/** The codes of changed pixels (off the diagonal). */
export function changedCodes(classCount: number): number[] {
  const codes: number[] = [];
  for (let code = 0; code < classCount * classCount; code++) if (Math.floor(code / classCount) !== code % classCount) codes.push(code);
  return codes;
}

/** Grey for unchanged codes, the "to" class's colour for changed ones, black for unused values. */
export function changeColorTable(classes: ChangeClasses): Array<[number, number, number]> {
  const table: Array<[number, number, number]> = Array.from({ length: 256 }, () => [0, 0, 0]);
  for (const t of allTransitions(classes)) {
    const to = classes.colors[t.to_id];
    table[t.code] = t.from_id === t.to_id ? UNCHANGED_RGB : to ? hexToRgb(to) : [255, 0, 255];
  }
  return table;
}

/** JSON with every non-ASCII character escaped: TIFF's ASCII tags hold bytes, not UTF-8 text. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * The change mask's metadata, like a class mask's: the source classes, what each code means, the
 * model and the two masks compared. No CLASS_COLORS: its entries are indexed by class id, while
 * this raster's values are transition codes (the palette carries the colours instead).
 */
export function changeMetadata(classes: ChangeClasses, beforeName: string, afterName: string): Record<string, string> {
  return {
    CLASS_NAMES: asciiJson(classes.names),
    TRANSITION_NAMES: asciiJson(allTransitions(classes).map(transitionName)),
    TRANSITION_CODING: codingDescription(classes.names.length),
    ...(classes.model ? { MODEL: classes.model } : {}),
    CHANGE_OF: `${beforeName}|${afterName}`,
  };
}
