/**
 * A FIFO over one array and a head index: O(1) amortised push and shift, no per-item
 * allocation. The array is compacted when the consumed prefix dominates it, so a
 * long-lived mailbox does not hold on to memory it has already delivered.
 */
export class Fifo<A> {
  items: Array<A | undefined> = []
  head = 0

  get size(): number {
    return this.items.length - this.head
  }

  push(item: A): void {
    this.items.push(item)
  }

  shift(): A | undefined {
    const items = this.items
    const head = this.head
    if (head === items.length) return undefined
    const item = items[head]
    items[head] = undefined
    const next = head + 1
    if (next === items.length) {
      items.length = 0
      this.head = 0
    } else if (next >= 4096 && next * 2 >= items.length) {
      items.splice(0, next)
      this.head = 0
    } else {
      this.head = next
    }
    return item
  }

  /** Puts an item back at the front (used to redeliver a message after a restart). */
  unshift(item: A): void {
    if (this.head > 0) {
      this.head--
      this.items[this.head] = item
    } else {
      this.items.unshift(item)
    }
  }

  /** Removes and returns every item, oldest first. */
  drain(): Array<A> {
    const out = this.items.slice(this.head) as Array<A>
    this.items = []
    this.head = 0
    return out
  }
}
