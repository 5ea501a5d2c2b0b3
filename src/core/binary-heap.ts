/** A min-heap on (time, seq): seq breaks ties, so equal times pop in insertion order (determinism). */
export interface Timed {
  readonly time: number;
  readonly seq: number;
}

/**
 * The keys live in typed arrays beside the items: comparisons read contiguous
 * memory instead of following a pointer to each event object, which is most
 * of a large queue's cost (cache misses).
 */
export class BinaryHeap<T extends Timed> {
  private items: T[] = [];
  private times = new Float64Array(1024);
  private seqs = new Float64Array(1024);

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const a = this.items;
    let i = a.length;
    if (i === this.times.length) this.grow();
    const times = this.times;
    const seqs = this.seqs;
    const t = item.time;
    const s = item.seq;
    a.push(item);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pt = times[p] as number;
      if (pt < t || (pt === t && (seqs[p] as number) < s)) break;
      a[i] = a[p] as T;
      times[i] = pt;
      seqs[i] = seqs[p] as number;
      i = p;
    }
    a[i] = item;
    times[i] = t;
    seqs[i] = s;
  }

  pop(): T | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (top === undefined || last === undefined || a.length === 0) return top;
    const n = a.length;
    const times = this.times;
    const seqs = this.seqs;
    const lt = times[n] as number;
    const ls = seqs[n] as number;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      let ct = times[l] as number;
      let cs = seqs[l] as number;
      if (r < n) {
        const rt = times[r] as number;
        const rs = seqs[r] as number;
        if (rt < ct || (rt === ct && rs < cs)) {
          c = r;
          ct = rt;
          cs = rs;
        }
      }
      if (lt < ct || (lt === ct && ls < cs)) break;
      a[i] = a[c] as T;
      times[i] = ct;
      seqs[i] = cs;
      i = c;
    }
    a[i] = last;
    times[i] = lt;
    seqs[i] = ls;
    return top;
  }

  toArray(): readonly T[] {
    return this.items;
  }

  private grow(): void {
    const times = new Float64Array(this.times.length * 2);
    times.set(this.times);
    this.times = times;
    const seqs = new Float64Array(this.seqs.length * 2);
    seqs.set(this.seqs);
    this.seqs = seqs;
  }
}
