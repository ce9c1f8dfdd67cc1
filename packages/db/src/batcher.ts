/**
 * Coalesces concurrent calls into one batched call (the DataLoader pattern): with 50 jobs in
 * flight, the delivery reads and outcome writes of many jobs share one statement and one commit.
 * Each caller's promise settles when its batch does, so durability is unchanged.
 */
export interface BatchOptions {
  /** Flush at this many queued items. */
  maxSize?: number
  /** Or this long (ms) after the first queued item; 0 flushes at the end of the current event-loop turn (setImmediate). */
  waitMs?: number
}

/**
 * @param run receives the queued items in order and resolves with one result per item (same order);
 *   if it rejects, every caller of that batch rejects with the same error.
 */
export function createBatcher<I, O> (run: (items: I[]) => Promise<O[]>, { maxSize = 100, waitMs = 2 }: BatchOptions = {}) {
  let queue: { item: I, resolve: (o: O) => void, reject: (e: unknown) => void }[] = []
  let timer: NodeJS.Timeout | NodeJS.Immediate | undefined

  function flush (): void {
    if (waitMs === 0) clearImmediate(timer as NodeJS.Immediate)
    else clearTimeout(timer as NodeJS.Timeout)
    timer = undefined
    const batch = queue
    queue = []
    run(batch.map(b => b.item)).then(
      (results) => batch.forEach((b, i) => b.resolve(results[i])),
      (err) => batch.forEach(b => b.reject(err))
    )
  }

  return (item: I): Promise<O> => new Promise<O>((resolve, reject) => {
    queue.push({ item, resolve, reject })
    if (queue.length >= maxSize) flush()
    else timer ??= waitMs === 0 ? setImmediate(flush) : setTimeout(flush, waitMs)
  })
}
