/**
 * Queue transport: the producer shares Parley's Redis and puts `send` jobs on the `notifications`
 * BullMQ queue itself, with no HTTP hop and no Postgres.
 *
 * Each send is two Redis round trips: an atomic claim of the idempotency key
 * (`<prefix>:parley:notification-key:<key>`, the same gate the HTTP API takes, for the window the
 * server publishes) and, when the claim is won, `Queue.add('send', {v: 1, notificationId,
 * acceptedAt, notification})` with job id `send-<notificationId>`. A claim held by another
 * notification answers `duplicate` with its id. The worker records the notification in the Postgres
 * ledger on first sight (a duplicate there too when Redis lost the key), then delivers it.
 */
import { randomUUID } from 'node:crypto'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import {
  DEFAULT_WINDOW_SECONDS, NOTIFICATIONS_QUEUE, SEND_JOB_VERSION, claimNotificationKey, notificationJobOptions, notificationKey,
  releaseNotificationKey, sendJobId, type SendJob, type SendNotification
} from './contract.js'
import type { SendResult } from './types.js'

export interface QueueTransportOptions {
  transport: 'queue'
  /**
   * Parley's Redis: a URL (`redis://…`; the client opens and closes its own connection) or an
   * ioredis client you own (the client neither closes nor reconfigures it).
   */
  redis: string | Redis
  /** Parley's QUEUE_PREFIX; default `{parley}`. A wrong prefix puts jobs where no worker looks. */
  prefix?: string
  /**
   * Duplicate window used only until a Parley API or worker has published its own
   * (NOTIFY_IDEMPOTENCY_WINDOW_SECONDS) in this Redis; default 3600.
   */
  idempotencyWindowSeconds?: number
}

export class QueueTransport {
  readonly #redis: Redis
  readonly #owned: boolean
  readonly #queue: Queue<SendJob, unknown, 'send'>
  readonly #prefix: string
  readonly #fallbackWindowMs: number

  constructor (opts: QueueTransportOptions) {
    this.#owned = typeof opts.redis === 'string'
    // Commands wait while (re)connecting, then fail after one retry instead of hanging a request.
    this.#redis = typeof opts.redis === 'string' ? new Redis(opts.redis, { maxRetriesPerRequest: 1 }) : opts.redis
    this.#prefix = opts.prefix ?? '{parley}'
    this.#fallbackWindowMs = (opts.idempotencyWindowSeconds ?? DEFAULT_WINDOW_SECONDS) * 1000
    this.#queue = new Queue<SendJob, unknown, 'send'>(NOTIFICATIONS_QUEUE, { connection: this.#redis, prefix: this.#prefix, defaultJobOptions: notificationJobOptions })
  }

  /** Sends a validated body. @throws the Redis client's error when Redis cannot be reached (the claim is given back). */
  async send (notification: SendNotification): Promise<SendResult> {
    const idempotencyKey = notificationKey(notification)
    const candidate = randomUUID()
    const gate = await claimNotificationKey(this.#redis, this.#prefix, idempotencyKey, candidate, { fallbackWindowMs: this.#fallbackWindowMs })
    if (!gate.claimed) return { notificationId: gate.notificationId, status: 'duplicate', idempotencyKey }
    try {
      await this.#queue.add('send', { v: SEND_JOB_VERSION, notificationId: candidate, acceptedAt: gate.acceptedAt, notification }, { jobId: sendJobId(candidate) })
    } catch (err) {
      // Nothing was enqueued: free the key so a retry of this send is admitted rather than a duplicate.
      await releaseNotificationKey(this.#redis, this.#prefix, idempotencyKey, candidate).catch(() => {})
      throw err
    }
    return { notificationId: candidate, status: 'queued', idempotencyKey }
  }

  async close (): Promise<void> {
    await this.#queue.close()
    if (this.#owned) await this.#redis.quit().catch(() => this.#redis.disconnect())
  }
}
