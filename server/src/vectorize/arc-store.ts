/**
 * The boundary graph under construction, in typed arrays.
 *
 * An arc is a polyline of pixel corners between two nodes (or a closed loop with no node). Each
 * boundary edge belongs to exactly one arc, so the boundary between two regions is stored once and
 * simplified once, and neighbours can never drift apart. Arcs are directed so that the side with the
 * lower class code lies on the left; at a corner where two arcs meet, both separate the same pair of
 * codes, so their directions always agree and joining them never needs a reversal.
 *
 * Each arc has two half-arcs (arc * 2 + side): side 0 is the region on its left (traversed forward),
 * side 1 the region on its right (traversed backward). A region's rings are cycles of half-arcs
 * linked by `succ` at the nodes.
 *
 * Vertices and arcs live in growable pools with free lists: a streamed 36000 x 36000 mask creates
 * far more of both than are ever alive at once.
 */

export const NONE = -1;

// Starting capacities (about 7 MB) cover a 4096-px-wide mask's open boundary without growing:
// every growth replaces arrays that optimised code has baked in, and re-optimising costs more than
// the memory.
const VERTICES = 1 << 18;
const ARCS = 1 << 16;

const DEAD = 1;
/** A closed loop with no node: its vertex list does not repeat its first vertex. */
const LOOP = 2;

function grown(a: Int32Array, size: number, fill = 0): Int32Array<ArrayBuffer> {
  const b = new Int32Array(size);
  b.set(a);
  if (fill !== 0) b.fill(fill, a.length);
  return b;
}

export class ArcStore {
  // Vertices: a singly linked list per arc, head to tail.
  vx = new Int32Array(VERTICES);
  vy = new Int32Array(VERTICES);
  vnext = new Int32Array(VERTICES);
  /** 1 for a vertex made only because a boundary crosses a band line (a node no other ring shares). */
  vcut = new Uint8Array(VERTICES);
  private vertexTop = 0;
  private freeVertex = NONE;

  // Arcs.
  head = new Int32Array(ARCS);
  tail = new Int32Array(ARCS);
  /** The arc that absorbed this one when two open arcs were joined (NONE while alive). */
  parent = new Int32Array(ARCS).fill(NONE);
  flags = new Int32Array(ARCS);
  /** Regions (1 or 2) that still list this arc; the arc is released when the last one is emitted. */
  refs = new Int32Array(ARCS);
  private arcTop = 0;
  private freeArc = NONE;

  // Half-arcs.
  succ = new Int32Array(ARCS * 2).fill(NONE);
  pred = new Int32Array(ARCS * 2).fill(NONE);
  /** Next half-arc in its region's list. */
  regionNext = new Int32Array(ARCS * 2).fill(NONE);
  /** Scratch stamps for ring assembly. */
  mark = new Int32Array(ARCS * 2);

  liveArcs = 0;
  liveVertices = 0;

  private newVertex(x: number, y: number, cut: number): number {
    let v = this.freeVertex;
    if (v !== NONE) {
      this.freeVertex = this.vnext[v]!;
    } else {
      v = this.vertexTop++;
      if (v >= this.vx.length) {
        const size = this.vx.length * 2;
        this.vx = grown(this.vx, size);
        this.vy = grown(this.vy, size);
        this.vnext = grown(this.vnext, size);
        const flags = new Uint8Array(size);
        flags.set(this.vcut);
        this.vcut = flags;
      }
    }
    this.vx[v] = x;
    this.vy[v] = y;
    this.vnext[v] = NONE;
    this.vcut[v] = cut;
    this.liveVertices++;
    return v;
  }

  /** A new arc holding the single vertex (x, y). */
  newArc(x: number, y: number, cut = 0): number {
    let a = this.freeArc;
    if (a !== NONE) {
      this.freeArc = this.parent[a]!;
    } else {
      a = this.arcTop++;
      if (a >= this.head.length) this.growArcs();
    }
    const v = this.newVertex(x, y, cut);
    this.head[a] = v;
    this.tail[a] = v;
    this.parent[a] = NONE;
    this.flags[a] = 0;
    this.refs[a] = 0;
    const h = a * 2;
    this.succ[h] = NONE; this.succ[h + 1] = NONE;
    this.pred[h] = NONE; this.pred[h + 1] = NONE;
    this.regionNext[h] = NONE; this.regionNext[h + 1] = NONE;
    this.mark[h] = 0; this.mark[h + 1] = 0;
    this.liveArcs++;
    return a;
  }

  private growArcs(): void {
    const size = this.head.length * 2;
    this.head = grown(this.head, size);
    this.tail = grown(this.tail, size);
    this.parent = grown(this.parent, size, NONE);
    this.flags = grown(this.flags, size);
    this.refs = grown(this.refs, size);
    this.succ = grown(this.succ, size * 2, NONE);
    this.pred = grown(this.pred, size * 2, NONE);
    this.regionNext = grown(this.regionNext, size * 2, NONE);
    this.mark = grown(this.mark, size * 2);
  }

  append(arc: number, x: number, y: number, cut = 0): void {
    const v = this.newVertex(x, y, cut);
    this.vnext[this.tail[arc]!] = v;
    this.tail[arc] = v;
  }

  prepend(arc: number, x: number, y: number, cut = 0): void {
    const v = this.newVertex(x, y, cut);
    this.vnext[v] = this.head[arc]!;
    this.head[arc] = v;
  }

  /** The live arc an arm record now belongs to (arcs absorbed by joins forward to their absorber). */
  resolve(arc: number): number {
    let r = arc;
    while (this.parent[r] !== NONE) r = this.parent[r]!;
    while (this.parent[arc] !== NONE) {
      const next = this.parent[arc]!;
      this.parent[arc] = r;
      arc = next;
    }
    return r;
  }

  isDead(arc: number): boolean {
    return (this.flags[arc]! & DEAD) !== 0;
  }

  isLoop(arc: number): boolean {
    return (this.flags[arc]! & LOOP) !== 0;
  }

  /**
   * Continue `into` (whose tail reaches the shared corner) with `from` (whose head starts there).
   * Returns true when they were the same arc, which is then a closed loop without nodes.
   */
  join(into: number, from: number): boolean {
    if (into === from) {
      this.flags[into]! |= LOOP;
      const h = into * 2;
      this.succ[h] = h; this.pred[h] = h;
      this.succ[h + 1] = h + 1; this.pred[h + 1] = h + 1;
      return true;
    }
    this.vnext[this.tail[into]!] = this.head[from]!;
    this.tail[into] = this.tail[from]!;
    this.parent[from] = into;
    this.flags[from]! |= DEAD;
    // `from` may already end at a node: its links there now belong to `into`.
    const hf = from * 2;
    const hi = into * 2;
    const s = this.succ[hf]!;
    if (s !== NONE) { this.succ[hi] = s; this.pred[s] = hi; }
    const p = this.pred[hf + 1]!;
    if (p !== NONE) { this.pred[hi + 1] = p; this.succ[p] = hi + 1; }
    return false;
  }

  link(arriving: number, departing: number): void {
    this.succ[arriving] = departing;
    this.pred[departing] = arriving;
  }

  /** Replace an arc's vertices by the listed subset (kept in order), recycling the rest. */
  keepVertices(arc: number, ids: Int32Array, keep: Uint8Array, from: number, count: number): void {
    let prev = NONE;
    for (let i = 0; i < count; i++) {
      const v = ids[from + i]!;
      if (keep[from + i]) {
        if (prev === NONE) this.head[arc] = v; else this.vnext[prev] = v;
        prev = v;
      } else {
        this.vnext[v] = this.freeVertex;
        this.freeVertex = v;
        this.liveVertices--;
      }
    }
    this.vnext[prev] = NONE;
    this.tail[arc] = prev;
  }

  /** Drop one region's claim on an arc; the last claim recycles the arc and (if live) its vertices. */
  release(arc: number): void {
    if (--this.refs[arc]! > 0) return;
    if (!this.isDead(arc)) {
      let count = 1;
      for (let v = this.head[arc]!; v !== this.tail[arc]; v = this.vnext[v]!) count++;
      this.vnext[this.tail[arc]!] = this.freeVertex;
      this.freeVertex = this.head[arc]!;
      this.liveVertices -= count;
    }
    this.parent[arc] = this.freeArc;
    this.freeArc = arc;
    this.liveArcs--;
  }
}
