/**
 * Waiting for a job's outcome in a process that rarely waits.
 *
 * A running `QueueEvents` reads and decodes every event of its queue (added, waiting, active,
 * completed … for every job), whoever produced it. The API waits on the `notifications` queue only
 * for the admin's `initialize`, while that queue carries every delivery of the deployment, so it
 * opens the event stream for the wait alone instead of keeping one open.
 */
import { QueueEvents, type Job, type JobsOptions, type Queue } from 'bullmq'
import type { Redis } from 'ioredis'

/**
 * Adds a job to `queue` and resolves with its return value once a worker completed it, reading the
 * queue's events through a `QueueEvents` opened on `connection` for this wait only (closed, and the
 * connection quit, before returning). Events are read from the stream's last entry before the add,
 * so an outcome reached before the reader's first `XREAD` is not missed.
 * @param connection a new blocking-capable connection (`workerConnection`); this function owns it.
 * @param timeoutMs how long to wait for the outcome (ms).
 * @throws the job's failure (`Error` with its failedReason), BullMQ's "timed out" error after
 *   `timeoutMs`, or the Redis client's error when Redis cannot be reached.
 */
export async function addAndWait<Data, Result, Name extends string> (
  queue: Queue<Data, Result, Name>, connection: Redis, name: Name, data: Data, opts: JobsOptions, timeoutMs: number
): Promise<Result> {
  let events: QueueEvents | undefined
  try {
    const [last] = await connection.xrevrange(queue.keys.events, '+', '-', 'COUNT', 1) as [string, string[]][]
    events = new QueueEvents(queue.name, { connection, prefix: queue.opts.prefix, lastEventId: last?.[0] ?? '0-0' })
    await events.waitUntilReady()
    const job = await queue.add(name as never, data as never, opts) as unknown as Job<Data, Result, Name>
    return await job.waitUntilFinished(events, timeoutMs)
  } finally {
    await events?.close().catch(() => {})
    await connection.quit().catch(() => {})
  }
}
