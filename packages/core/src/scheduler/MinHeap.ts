/**
 * A binary min-heap ordered by `less`. Internal to the scheduler (it keeps queued work by expiry).
 *
 * @example
 * ```ts
 * const h = new MinHeap<number>((a, b) => a < b);
 * h.push(3); h.push(1);
 * h.pop(); // 1
 * ```
 */
export class MinHeap<T> {
  private a: T[] = [];

  constructor(private readonly less: (x: T, y: T) => boolean) {}

  /** Number of elements. */
  get size(): number {
    return this.a.length;
  }

  /**
   * Adds `value`.
   *
   * @example
   * ```ts
   * h.push(entry);
   * ```
   */
  push(value: T): void {
    const a = this.a;
    a.push(value);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  /**
   * The smallest element, without removing it.
   *
   * @example
   * ```ts
   * const first = h.peek();
   * ```
   */
  peek(): T | undefined {
    return this.a[0];
  }

  /**
   * Removes and returns the smallest element.
   *
   * @example
   * ```ts
   * const first = h.pop();
   * ```
   */
  pop(): T | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      this.down(0);
    }
    return top;
  }

  /**
   * Keeps only the elements for which `keep` returns true (O(n)).
   *
   * @example
   * ```ts
   * h.retain((e) => !e.settled);
   * ```
   */
  retain(keep: (value: T) => boolean): void {
    this.a = this.a.filter(keep);
    for (let i = (this.a.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  private down(i: number): void {
    const a = this.a;
    const n = a.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(a[l]!, a[m]!)) m = l;
      if (r < n && this.less(a[r]!, a[m]!)) m = r;
      if (m === i) return;
      [a[i], a[m]] = [a[m]!, a[i]!];
      i = m;
    }
  }
}
