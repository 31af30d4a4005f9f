/**
 * The classes two masks are compared in. A transition is only meaningful between masks that use
 * the same class list from the same model: "class 1" of one model is not "class 1" of another,
 * and comparing them would report change that is only a change of legend.
 */
import path from 'node:path';
import type { RasterInfo } from '../read/raster.ts';
import { classCatalog } from '../vectorize/class-names.ts';
import { jsonList } from '../write/class-mask.ts';
import { ChangeError } from '../errors.ts';

/** from * N + to must fit a uint8 below the nodata value 255: N = 15 gives codes 0..224. */
export const MAX_CHANGE_CLASSES = 15;

export interface ChangeClasses {
  names: string[];
  /** '#rrggbb' per class, or null where the mask has no colour for it. */
  colors: Array<string | null>;
  /** The MODEL both masks name, or null when neither names one. */
  model: string | null;
}

interface MaskClasses {
  file: string;
  names: string[];
  colors: Array<string | null>;
  model: string | null;
}

/** Why a mask's CLASS_NAMES does not do, where it has one: said, so a user can mend the file. */
function classListProblem(info: RasterInfo): string {
  const text = info.metadata.CLASS_NAMES;
  if (text === undefined) return '';
  const names = jsonList(text);
  if (!names) return `: its CLASS_NAMES is not a JSON list of strings (${JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text)})`;
  if (info.nodata !== null && Number.isInteger(info.nodata) && info.nodata >= 0 && info.nodata < names.length) {
    return `: its nodata value ${info.nodata} is the id of its class "${names[info.nodata]}"`;
  }
  return '';
}

function maskClasses(file: string, info: RasterInfo): MaskClasses {
  const name = path.basename(file);
  if (info.metadata.TRANSITION_NAMES !== undefined) {
    throw new ChangeError('not-a-mask', `${name} is a change mask; compare the class masks it was made from`);
  }
  if (info.bandCount !== 1 || info.dtype !== 'uint8') {
    throw new ChangeError('not-a-mask', `${name} is not a class mask: it has ${info.bandCount} band${info.bandCount === 1 ? '' : 's'} of ${info.dtype}; change needs one uint8 band of class ids (satseg segment output)`);
  }
  const catalog = classCatalog(info);
  const ids = catalog.declared.map((c) => c.id);
  if (catalog.source !== 'satseg' || ids.length === 0 || ids.some((id, i) => id !== i)) {
    throw new ChangeError('not-a-mask', `${name} does not list its classes (CLASS_NAMES metadata with ids 0..N-1)${classListProblem(info)}; change needs masks written by satseg segment`);
  }
  return {
    file: name,
    names: catalog.declared.map((c) => c.name),
    colors: catalog.declared.map((c) => c.color),
    model: info.metadata.MODEL ?? null,
  };
}

function describe(m: MaskClasses): string {
  return `${m.file} is ${m.model ? `model ${m.model}` : 'from an unnamed model'} (${m.names.join(', ')})`;
}

/** The shared classes of two masks; throws a ChangeError naming both when they differ. */
export function changeClasses(beforeFile: string, before: RasterInfo, afterFile: string, after: RasterInfo): ChangeClasses {
  const a = maskClasses(beforeFile, before);
  const b = maskClasses(afterFile, after);
  const sameNames = a.names.length === b.names.length && a.names.every((n, i) => n === b.names[i]);
  if (a.model !== b.model || !sameNames) {
    throw new ChangeError('class-mismatch', `the masks use different ${a.model !== b.model ? 'models' : 'class lists'}: ${describe(a)}, ${describe(b)}; segment both scenes with the same model`);
  }
  if (a.names.length > MAX_CHANGE_CLASSES) {
    throw new ChangeError('too-many-classes', `${a.names.length} classes is more than change can code: a transition code (from x N + to) must fit in one byte, so at most ${MAX_CHANGE_CLASSES} classes`);
  }
  return { names: a.names, colors: a.colors.map((c, i) => c ?? b.colors[i] ?? null), model: a.model };
}

/** The source classes of a change mask (written by compareMasks), from its metadata. */
export function changeMaskClasses(file: string, info: RasterInfo): ChangeClasses {
  const names = info.metadata.TRANSITION_NAMES !== undefined ? jsonList(info.metadata.CLASS_NAMES) : null;
  if (!names?.length || names.length > MAX_CHANGE_CLASSES) {
    throw new ChangeError('not-a-mask', `${path.basename(file)} is not a change mask (no TRANSITION_NAMES and CLASS_NAMES metadata); make one with satseg change`);
  }
  return { names, colors: names.map(() => null), model: info.metadata.MODEL ?? null };
}
