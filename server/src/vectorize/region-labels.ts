/**
 * Connected regions as a union-find over row runs, with what each region owns: its half-arcs and
 * its saddle corners.
 *
 * Two runs of one class that touch across rows share a label; a run that later connects two labels
 * merges them, and their lists are concatenated in O(1). Labels are recycled as soon as nothing can
 * refer to them (absorbed at the end of each scanline, closed ones once emitted), so the label space
 * stays proportional to one row, however tall the mask.
 *
 * A saddle is a corner where a class touches itself only diagonally (NW+SE or NE+SW). Under
 * 4-connectivity the two pixels are separate unless some other path joins them, which may only be
 * known many rows later. The saddle is therefore listed in both pixels' regions; if union-find later
 * merges them, the region sees the saddle twice and re-pairs the boundary there so that its rings
 * touch at the corner instead of crossing themselves (an OGC-valid shell + hole touching at a point).
 */
import { NONE, type ArcStore } from './arc-store.ts';

function grown(a: Int32Array, size: number, fill = 0): Int32Array<ArrayBuffer> {
  const b = new Int32Array(size);
  b.set(a);
  if (fill !== 0) b.fill(fill, a.length);
  return b;
}

export class RegionLabels {
  parent = new Int32Array(1 << 12);
  value = new Int32Array(1 << 12);
  arcHead = new Int32Array(1 << 12);
  arcTail = new Int32Array(1 << 12);
  saddleHead = new Int32Array(1 << 12);
  saddleTail = new Int32Array(1 << 12);
  /** Scanline stamps: the region has a run in the current row / was found closed. */
  present = new Int32Array(1 << 12);
  closedAt = new Int32Array(1 << 12);
  private top = 0;
  private freeLabel = NONE;
  private absorbed = new Int32Array(1 << 10);
  private absorbedCount = 0;

  // Saddle records: the two boundary passages (arriving -> departing half-arc) of one corner.
  saddleArr1 = new Int32Array(1 << 10);
  saddleDep1 = new Int32Array(1 << 10);
  saddleArr2 = new Int32Array(1 << 10);
  saddleDep2 = new Int32Array(1 << 10);
  /** Two list entries per record (entry = record * 2 + k), one in each pixel's region. */
  saddleNext = new Int32Array(1 << 11);
  saddleSeen = new Int32Array(1 << 10);
  private saddleTop = 0;
  private freeSaddle = NONE;

  liveLabels = 0;

  constructor(private readonly arcs: ArcStore) {}

  newLabel(value: number): number {
    let l = this.freeLabel;
    if (l !== NONE) {
      this.freeLabel = this.parent[l]!;
    } else {
      l = this.top++;
      if (l >= this.parent.length) this.grow();
    }
    this.parent[l] = l;
    this.value[l] = value;
    this.arcHead[l] = NONE;
    this.arcTail[l] = NONE;
    this.saddleHead[l] = NONE;
    this.saddleTail[l] = NONE;
    this.present[l] = -1;
    this.closedAt[l] = -1;
    this.liveLabels++;
    return l;
  }

  private grow(): void {
    const size = this.parent.length * 2;
    this.parent = grown(this.parent, size);
    this.value = grown(this.value, size);
    this.arcHead = grown(this.arcHead, size);
    this.arcTail = grown(this.arcTail, size);
    this.saddleHead = grown(this.saddleHead, size);
    this.saddleTail = grown(this.saddleTail, size);
    this.present = grown(this.present, size);
    this.closedAt = grown(this.closedAt, size);
  }

  find(l: number): number {
    const parent = this.parent;
    let r = l;
    while (parent[r] !== r) r = parent[r]!;
    while (parent[l] !== r) {
      const next = parent[l]!;
      parent[l] = r;
      l = next;
    }
    return r;
  }

  /** Merge two regions; returns the surviving root. */
  union(a: number, b: number): number {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra === rb) return ra;
    this.parent[rb] = ra;
    const regionNext = this.arcs.regionNext;
    if (this.arcHead[rb] !== NONE) {
      if (this.arcHead[ra] === NONE) this.arcHead[ra] = this.arcHead[rb]!;
      else regionNext[this.arcTail[ra]!] = this.arcHead[rb]!;
      this.arcTail[ra] = this.arcTail[rb]!;
    }
    if (this.saddleHead[rb] !== NONE) {
      if (this.saddleHead[ra] === NONE) this.saddleHead[ra] = this.saddleHead[rb]!;
      else this.saddleNext[this.saddleTail[ra]!] = this.saddleHead[rb]!;
      this.saddleTail[ra] = this.saddleTail[rb]!;
    }
    if (this.absorbedCount === this.absorbed.length) this.absorbed = grown(this.absorbed, this.absorbed.length * 2);
    this.absorbed[this.absorbedCount++] = rb;
    return ra;
  }

  /** List half-arc h under the region of label l. */
  addHalfArc(l: number, h: number): void {
    const r = this.find(l);
    const regionNext = this.arcs.regionNext;
    regionNext[h] = NONE;
    if (this.arcHead[r] === NONE) this.arcHead[r] = h;
    else regionNext[this.arcTail[r]!] = h;
    this.arcTail[r] = h;
    this.arcs.refs[h >> 1]!++;
  }

  /** Record a saddle corner between the regions of labels l1 and l2 (the two diagonal pixels). */
  addSaddle(l1: number, l2: number, arr1: number, dep1: number, arr2: number, dep2: number): void {
    let s = this.freeSaddle;
    if (s !== NONE) {
      this.freeSaddle = this.saddleNext[s * 2]!;
    } else {
      s = this.saddleTop++;
      if (s >= this.saddleArr1.length) {
        const size = this.saddleArr1.length * 2;
        this.saddleArr1 = grown(this.saddleArr1, size);
        this.saddleDep1 = grown(this.saddleDep1, size);
        this.saddleArr2 = grown(this.saddleArr2, size);
        this.saddleDep2 = grown(this.saddleDep2, size);
        this.saddleSeen = grown(this.saddleSeen, size);
        this.saddleNext = grown(this.saddleNext, size * 2);
      }
    }
    this.saddleArr1[s] = arr1;
    this.saddleDep1[s] = dep1;
    this.saddleArr2[s] = arr2;
    this.saddleDep2[s] = dep2;
    this.saddleSeen[s] = 0;
    this.addSaddleEntry(l1, s * 2);
    this.addSaddleEntry(l2, s * 2 + 1);
  }

  private addSaddleEntry(l: number, entry: number): void {
    const r = this.find(l);
    this.saddleNext[entry] = NONE;
    if (this.saddleHead[r] === NONE) this.saddleHead[r] = entry;
    else this.saddleNext[this.saddleTail[r]!] = entry;
    this.saddleTail[r] = entry;
  }

  /** Count one of a record's two entries as processed; the second frees it. */
  settleSaddle(s: number): void {
    if (++this.saddleSeen[s]! < 2) return;
    this.saddleNext[s * 2] = this.freeSaddle;
    this.freeSaddle = s;
  }

  /** Labels merged away during this scanline are unreferenced once the row's runs are normalised. */
  releaseAbsorbed(): void {
    for (let i = 0; i < this.absorbedCount; i++) this.release(this.absorbed[i]!);
    this.absorbedCount = 0;
  }

  release(l: number): void {
    this.parent[l] = this.freeLabel;
    this.freeLabel = l;
    this.liveLabels--;
  }
}
