/**
 * Turning a closed region into rings: walk its half-arcs from node to node.
 *
 * Every region of a 4-connected mask has exactly one outer boundary, so there is no point-in-polygon
 * test: the ring with positive area (in column/row space) is the shell and every other ring is a
 * hole.
 */
import { NONE, type ArcStore } from './arc-store.ts';
import { ringArea2 } from '../read/geodesy.ts';
import type { RegionLabels } from './region-labels.ts';

export interface RegionPolygon {
  /** The class code of the region. */
  value: number;
  /**
   * Rings as pixel-corner coordinates [col0, row0, col1, row1, ...], not closed (the last vertex is
   * not repeated). The shell comes first with a positive shoelace area in (col, row) space, then
   * the holes with negative areas. Vertices on a straight line are dropped, except nodes that
   * another ring of the same polygon touches.
   */
  rings: Int32Array[];
}

export class RingAssembler {
  private emission = 0;
  private ring = new Int32Array(1 << 12);
  private pinned = new Uint8Array(1 << 11);
  private reversed = new Int32Array(1 << 12);
  private saddleMark = new Int32Array(1 << 10);

  constructor(private readonly arcs: ArcStore, private readonly labels: RegionLabels) {}

  /** The polygon of a closed region; recycles its arcs, saddles and label. */
  assemble(root: number): RegionPolygon {
    const arcs = this.arcs;
    const labels = this.labels;
    const em = ++this.emission;
    const mark = arcs.mark;
    const regionNext = arcs.regionNext;

    for (let h = labels.arcHead[root]!; h !== NONE; h = regionNext[h]!) {
      if (!arcs.isDead(h >> 1)) mark[h] = em;
    }
    for (let e = labels.saddleHead[root]!; e !== NONE;) {
      const next = labels.saddleNext[e]!;
      const s = e >> 1;
      if (s >= this.saddleMark.length) {
        const grown = new Int32Array(Math.max(s + 1, this.saddleMark.length * 2));
        grown.set(this.saddleMark);
        this.saddleMark = grown;
      }
      if (this.saddleMark[s] === em) this.rejoinSaddle(s);
      else this.saddleMark[s] = em;
      labels.settleSaddle(s);
      e = next;
    }

    let shell: Int32Array | null = null;
    const holes: Int32Array[] = [];
    for (let h = labels.arcHead[root]!; h !== NONE; h = regionNext[h]!) {
      if (mark[h] !== em) continue;
      const ring = this.traceRing(h, em);
      if (ring.length < 6) continue;
      if (ringArea2(ring) > 0) {
        if (shell) throw new Error('internal: region with two outer rings');
        shell = ring;
      } else {
        holes.push(ring);
      }
    }
    const value = labels.value[root]!;
    for (let h = labels.arcHead[root]!; h !== NONE;) {
      const next = regionNext[h]!;
      arcs.release(h >> 1);
      h = next;
    }
    labels.release(root);
    if (!shell) throw new Error('internal: region without an outer ring');
    return { value, rings: [shell, ...holes] };
  }

  /** Both diagonal pixels of a saddle turned out to be one region: pair each side's edges together. */
  private rejoinSaddle(s: number): void {
    const arcs = this.arcs;
    const labels = this.labels;
    const half = (h: number) => arcs.resolve(h >> 1) * 2 + (h & 1);
    const a1 = half(labels.saddleArr1[s]!);
    const d1 = half(labels.saddleDep1[s]!);
    const a2 = half(labels.saddleArr2[s]!);
    const d2 = half(labels.saddleDep2[s]!);
    arcs.link(a1, d2);
    arcs.link(a2, d1);
  }

  private traceRing(start: number, em: number): Int32Array {
    const arcs = this.arcs;
    const { vx, vy, vnext, vcut, head, tail, succ, mark } = arcs;
    let n = 0;
    let h = start;
    do {
      if (mark[h] !== em) throw new Error('internal: broken ring');
      mark[h] = -em;
      const arc = h >> 1;
      // Consecutive arcs share their node vertex: keep it once (loops have no node to share).
      const loop = arcs.isLoop(arc);
      if ((h & 1) === 0) {
        let v = head[arc]!;
        if (!loop) v = vnext[v]!;
        for (; v !== NONE; v = vnext[v]!) {
          if (v === tail[arc]) { this.push(n, vx[v]!, vy[v]!, loop || vcut[v] ? 0 : 1); n += 2; break; }
          this.push(n, vx[v]!, vy[v]!, 0);
          n += 2;
        }
      } else {
        let m = 0;
        for (let v = head[arc]!; ; v = vnext[v]!) {
          if (m + 2 > this.reversed.length) {
            const grown = new Int32Array(this.reversed.length * 2);
            grown.set(this.reversed);
            this.reversed = grown;
          }
          this.reversed[m++] = vx[v]!;
          this.reversed[m++] = vy[v]!;
          if (v === tail[arc]) break;
        }
        for (let i = m - 2 - (loop ? 0 : 2); i >= 0; i -= 2) {
          this.push(n, this.reversed[i]!, this.reversed[i + 1]!, i === 0 && !loop && !vcut[head[arc]!] ? 1 : 0);
          n += 2;
        }
      }
      h = succ[h]!;
      if (h === NONE) throw new Error('internal: open ring');
    } while (h !== start);
    return dropCollinear(this.ring, this.pinned, n);
  }

  /** Append a vertex; `pinned` = a node shared with other rings, kept even where it lies on a straight line. */
  private push(n: number, x: number, y: number, pinned: number): void {
    if (n + 2 > this.ring.length) {
      const grown = new Int32Array(this.ring.length * 2);
      grown.set(this.ring);
      this.ring = grown;
      const pins = new Uint8Array(grown.length >> 1);
      pins.set(this.pinned);
      this.pinned = pins;
    }
    this.ring[n] = x;
    this.ring[n + 1] = y;
    this.pinned[n >> 1] = pinned;
  }
}


/**
 * Copy out a ring without vertices that lie on a straight line through their neighbours, except
 * pinned nodes: where two rings of one polygon touch, the point must be a vertex of both, or
 * rounding the output coordinates could turn the touch into a sliver of overlap.
 */
function dropCollinear(ring: Int32Array, pinned: Uint8Array, n: number): Int32Array {
  const count = n >> 1;
  const keep = (i: number) => {
    if (pinned[i]) return true;
    const p = ((i + count - 1) % count) * 2;
    const c = i * 2;
    const q = ((i + 1) % count) * 2;
    return (ring[c]! - ring[p]!) * (ring[q + 1]! - ring[c + 1]!) - (ring[c + 1]! - ring[p + 1]!) * (ring[q]! - ring[c]!) !== 0;
  };
  let kept = 0;
  for (let i = 0; i < count; i++) if (keep(i)) kept++;
  const out = new Int32Array(kept * 2);
  let m = 0;
  for (let i = 0; i < count; i++) {
    if (!keep(i)) continue;
    out[m++] = ring[i * 2]!;
    out[m++] = ring[i * 2 + 1]!;
  }
  return out;
}
