/**
 * A binary min-heap (by `before`) whose entries remember their own position, so any entry can be
 * removed in O(log n) instead of by a linear search. Positions are kept in `entry.slots[slot]`,
 * which lets one entry sit in several heaps at once (the queue keeps a global and a per-device heap).
 */
export interface HeapEntry {
  /** Position in each heap that holds the entry; -1 when it is not there. */
  slots: number[];
}

export class IndexedHeap<E extends HeapEntry> {
  private readonly items: E[] = [];

  constructor(
    /** True when `a` must come out before `b`. */
    private readonly before: (a: E, b: E) => boolean,
    /** Which index of `entry.slots` this heap owns. */
    private readonly slot: number,
  ) {}

  get size(): number {
    return this.items.length;
  }

  peek(): E | undefined {
    return this.items[0];
  }

  push(entry: E): void {
    entry.slots[this.slot] = this.items.length;
    this.items.push(entry);
    this.siftUp(this.items.length - 1);
  }

  pop(): E | undefined {
    const top = this.items[0];
    if (top) this.removeAt(0);
    return top;
  }

  /** Removes `entry` if this heap holds it; returns whether it did. */
  remove(entry: E): boolean {
    const index = entry.slots[this.slot] ?? -1;
    if (index < 0 || this.items[index] !== entry) return false;
    this.removeAt(index);
    return true;
  }

  /** Entries in heap order (not sorted); for inspection only. */
  values(): readonly E[] {
    return this.items;
  }

  clear(): void {
    for (const entry of this.items) entry.slots[this.slot] = -1;
    this.items.length = 0;
  }

  private removeAt(index: number): void {
    const items = this.items;
    const removed = items[index]!;
    const last = items.pop()!;
    removed.slots[this.slot] = -1;
    if (index === items.length) return;
    items[index] = last;
    last.slots[this.slot] = index;
    // The moved entry may belong above or below its new place.
    if (index > 0 && this.before(last, items[(index - 1) >> 1]!)) this.siftUp(index);
    else this.siftDown(index);
  }

  private siftUp(index: number): void {
    const items = this.items;
    const entry = items[index]!;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = items[parentIndex]!;
      if (!this.before(entry, parent)) break;
      items[index] = parent;
      parent.slots[this.slot] = index;
      index = parentIndex;
    }
    items[index] = entry;
    entry.slots[this.slot] = index;
  }

  private siftDown(index: number): void {
    const items = this.items;
    const length = items.length;
    const entry = items[index]!;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && this.before(items[right]!, items[left]!) ? right : left;
      if (!this.before(items[child]!, entry)) break;
      items[index] = items[child]!;
      items[index]!.slots[this.slot] = index;
      index = child;
    }
    items[index] = entry;
    entry.slots[this.slot] = index;
  }
}
