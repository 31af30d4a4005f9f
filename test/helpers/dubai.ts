/**
 * The labelled Dubai imagery (../shared/data/training/dubai) as test and benchmark input: an image
 * written as a 1 m GeoTIFF (the model's resolution, so tiles are not resampled), and a mask scored
 * against the dataset's colour labels in the model's class order.
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { writeTestTiff } from '../fixtures/write-tiff.ts';
import { sharedRoot } from './shared-data.ts';

export const dubaiDir = path.join(sharedRoot, 'data/training/dubai');

// The dataset's mask colours, in aerial-landcover's class order; anything else (unlabeled grey,
// black) is ignored.
const LABEL_COLOURS: Array<[number, number, number]> = [
  [0x3c, 0x10, 0x98], // building
  [0x84, 0x29, 0xf6], // land
  [0x6e, 0xc1, 0xe4], // road
  [0xfe, 0xdd, 0x3a], // vegetation
  [0xe2, 0xa9, 0x29], // water
];
export const DUBAI_CLASSES = ['building', 'land', 'road', 'vegetation', 'water'];

export function dubaiImage(tile: number, part: number): { image: string; labels: string } {
  const name = `image_part_${String(part).padStart(3, '0')}`;
  return { image: path.join(dubaiDir, `tile_${tile}/images/${name}.jpg`), labels: path.join(dubaiDir, `tile_${tile}/masks/${name}.png`) };
}

export function hasDubaiImage(tile: number, part: number): boolean {
  const { image, labels } = dubaiImage(tile, part);
  return fs.existsSync(image) && fs.existsSync(labels);
}

async function rgb(file: string) {
  const { data, info } = await sharp(file).removeAlpha().toColorspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

/** The JPEG as a 3-band GeoTIFF at 1 m in UTM 40N (Dubai); returns its size. */
export async function dubaiScene(image: string, out: string): Promise<{ width: number; height: number }> {
  const img = await rgb(image);
  const plane = img.width * img.height;
  const bands = [0, 1, 2].map((b) => {
    const band = new Uint8Array(plane);
    for (let i = 0; i < plane; i++) band[i] = img.data[i * img.channels + b]!;
    return band;
  });
  writeTestTiff(out, { width: img.width, height: img.height, bands, epsg: 32640, geoTransform: [300000, 1, 0, 2780000, 0, -1] });
  return { width: img.width, height: img.height };
}

export interface Confusion {
  /** [truth][predicted] pixel counts over labelled pixels. */
  matrix: number[][];
  labelled: number;
  /** Labelled pixels the mask left as nodata (or an id outside the classes). */
  outOfRange: number;
  pixels: number;
}

/** Confusion of a class mask (the model's class order) against the colour labels. */
export async function scoreMask(maskFile: string, labels: string): Promise<Confusion> {
  const lab = await rgb(labels);
  const mask = await openRaster(maskFile);
  const { bands } = await mask.read({ x: 0, y: 0, width: lab.width, height: lab.height });
  await mask.close();
  const predicted = bands[0]!;
  const k = LABEL_COLOURS.length;
  const matrix = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let labelled = 0;
  let outOfRange = 0;
  for (let i = 0; i < lab.width * lab.height; i++) {
    const r = lab.data[i * lab.channels]!;
    const g = lab.data[i * lab.channels + 1]!;
    const b = lab.data[i * lab.channels + 2]!;
    const truth = LABEL_COLOURS.findIndex(([cr, cg, cb]) => cr === r && cg === g && cb === b);
    if (truth < 0) continue;
    labelled++;
    const p = predicted[i]!;
    if (p >= k) { outOfRange++; continue; }
    matrix[truth]![p]!++;
  }
  return { matrix, labelled, outOfRange, pixels: lab.width * lab.height };
}

/** Per-class IoU (null for classes absent from both truth and prediction), mIoU and accuracy. */
export function ious(matrix: number[][]): { iou: Array<number | null>; miou: number; accuracy: number } {
  const k = matrix.length;
  const iou: Array<number | null> = [];
  let correct = 0;
  let total = 0;
  for (let c = 0; c < k; c++) {
    const tp = matrix[c]![c]!;
    correct += tp;
    total += matrix[c]!.reduce((s, v) => s + v, 0);
    const fn = matrix[c]!.reduce((s, v) => s + v, 0) - tp;
    const fp = matrix.reduce((s, row) => s + row[c]!, 0) - tp;
    iou.push(tp + fn + fp > 0 ? tp / (tp + fn + fp) : null);
  }
  const present = iou.filter((v): v is number => v !== null);
  return { iou, miou: present.reduce((s, v) => s + v, 0) / present.length, accuracy: correct / Math.max(1, total) };
}

export function addInto(total: number[][], m: number[][]): void {
  for (let i = 0; i < m.length; i++) for (let j = 0; j < m.length; j++) total[i]![j]! += m[i]![j]!;
}
