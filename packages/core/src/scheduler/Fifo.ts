/**
 * A first-in-first-out queue with O(1) amortized `push` and `shift` (an array and a head index,
 * compacted when the consumed prefix grows). Internal to the scheduler.
 *
 * @example
 * ```ts
 * const q = new Fifo<number>();
 * q.push(1); q.push(2);
 * q.shift(); // 1
 * ```
 */
export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  /** Number of elements in the queue. */
  get size(): number {
    return this.items.length - this.head;
  }

  /**
   * Appends `value` at the tail.
   *
   * @example
   * ```ts
   * q.push(entry);
   * ```
   */
  push(value: T): void {
    this.items.push(value);
  }

  /**
   * The element at the head, without removing it.
   *
   * @example
   * ```ts
   * const next = q.peek();
   * ```
   */
  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  /**
   * Removes and returns the element at the head.
   *
   * @example
   * ```ts
   * while (q.size > 0) handle(q.shift()!);
   * ```
   */
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const value = this.items[this.head];
    this.items[this.head] = undefined;
    this.head++;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return value;
  }

  /**
   * Keeps only the elements for which `keep` returns true, in order (O(n)).
   *
   * @example
   * ```ts
   * q.retain((tq) => !tq.dead);
   * ```
   */
  retain(keep: (value: T) => boolean): void {
    const kept: T[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const v = this.items[i] as T;
      if (keep(v)) kept.push(v);
    }
    this.items = kept;
    this.head = 0;
  }

  /**
   * The elements from head to tail, as a new array.
   *
   * @example
   * ```ts
   * for (const e of q.toArray()) inspect(e);
   * ```
   */
  toArray(): T[] {
    return this.items.slice(this.head) as T[];
  }
}
