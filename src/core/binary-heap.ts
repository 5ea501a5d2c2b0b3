/** A min-heap on (time, seq): seq breaks ties, so equal times pop in insertion order (determinism). */
export interface Timed {
  readonly time: number;
  readonly seq: number;
}

export class BinaryHeap<T extends Timed> {
  private items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const a = this.items;
    let i = a.length;
    a.push(item);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = a[p] as T;
      if (parent.time < item.time || (parent.time === item.time && parent.seq < item.seq)) break;
      a[i] = parent;
      i = p;
    }
    a[i] = item;
  }

  pop(): T | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (top === undefined || last === undefined || a.length === 0) return top;
    const n = a.length;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      let child = a[l] as T;
      if (r < n) {
        const right = a[r] as T;
        if (right.time < child.time || (right.time === child.time && right.seq < child.seq)) {
          c = r;
          child = right;
        }
      }
      if (last.time < child.time || (last.time === child.time && last.seq < child.seq)) break;
      a[i] = child;
      i = c;
    }
    a[i] = last;
    return top;
  }

  toArray(): readonly T[] {
    return this.items;
  }
}
