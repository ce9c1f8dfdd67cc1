/**
 * Queue transport: the producer shares Parley's Redis and puts `send` jobs on the `notifications`
 * BullMQ queue itself, with no HTTP hop and no Postgres.
 *
 * Each send is one BullMQ `add` (one atomic script): `Queue.add('send', {v: 1, notificationId,
 * acceptedAt, notification}, {jobId: 'send-<notificationId>', deduplication: {id: <idempotency key>,
 * ttl: <window>}})`. BullMQ's deduplication key `<prefix>:notifications:de:<key>` is the gate the
 * HTTP API takes too: when it is held, nothing is added and BullMQ names the holding job, so the
 * answer is `duplicate` with that notification's id. The worker records an added notification in
 * the Postgres ledger on first sight (refusing a duplicate there too when Redis lost the key), then
 * delivers it.
 *
 * The window is the one Parley's API and worker publish in `<prefix>:parley:notification-window`
 * (NOTIFY_IDEMPOTENCY_WINDOW_SECONDS), read at the first send and every 30 s after.
 */
import { randomUUID } from 'node:crypto'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import {
  DEFAULT_WINDOW_SECONDS, NOTIFICATIONS_QUEUE, SEND_JOB_VERSION, claimHolder, notificationJobOptions, notificationKey,
  notificationWindowKey, sendJobId, type SendJob, type SendNotification
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
   * Duplicate window used only while no Parley API or worker has published its own
   * (NOTIFY_IDEMPOTENCY_WINDOW_SECONDS) in this Redis; default 3600.
   */
  idempotencyWindowSeconds?: number
}

const WINDOW_REFRESH_MS = 30_000

export class QueueTransport {
  readonly #redis: Redis
  readonly #owned: boolean
  readonly #queue: Queue<SendJob, unknown, 'send'>
  readonly #prefix: string
  readonly #fallbackWindowMs: number
  #windowMs: number | undefined
  #windowReadAt = 0
  #windowReading: Promise<number> | undefined

  constructor (opts: QueueTransportOptions) {
    this.#owned = typeof opts.redis === 'string'
    // Commands wait while (re)connecting, then fail after one retry instead of hanging a request.
    this.#redis = typeof opts.redis === 'string' ? new Redis(opts.redis, { maxRetriesPerRequest: 1 }) : opts.redis
    this.#prefix = opts.prefix ?? '{parley}'
    this.#fallbackWindowMs = (opts.idempotencyWindowSeconds ?? DEFAULT_WINDOW_SECONDS) * 1000
    this.#queue = new Queue<SendJob, unknown, 'send'>(NOTIFICATIONS_QUEUE, { connection: this.#redis, prefix: this.#prefix, defaultJobOptions: notificationJobOptions })
  }

  /**
   * Sends a validated body: claim and job in one atomic `add`.
   * @throws the Redis client's error when Redis cannot be reached (nothing was claimed or added).
   */
  async send (notification: SendNotification): Promise<SendResult> {
    const windowMs = this.#currentWindow() ?? await this.#readWindow()
    const idempotencyKey = notificationKey(notification)
    const notificationId = randomUUID()
    const jobId = sendJobId(notificationId)
    const job = await this.#queue.add('send', { v: SEND_JOB_VERSION, notificationId, acceptedAt: Date.now(), notification }, {
      jobId, deduplication: { id: idempotencyKey, ttl: windowMs }
    })
    return job.id === jobId
      ? { notificationId, status: 'queued', idempotencyKey }
      : { notificationId: claimHolder(job.id!), status: 'duplicate', idempotencyKey }
  }

  /** The cached window, refreshed in the background once stale; undefined before the first read. */
  #currentWindow (): number | undefined {
    if (this.#windowMs !== undefined && Date.now() - this.#windowReadAt > WINDOW_REFRESH_MS) this.#readWindow().catch(() => {})
    return this.#windowMs
  }

  #readWindow (): Promise<number> {
    this.#windowReading ??= this.#redis.get(notificationWindowKey(this.#prefix)).then((published) => {
      this.#windowMs = Number(published) > 0 ? Number(published) : this.#fallbackWindowMs
      this.#windowReadAt = Date.now()
      return this.#windowMs
    }).finally(() => { this.#windowReading = undefined })
    return this.#windowReading
  }

  async close (): Promise<void> {
    await this.#queue.close()
    if (this.#owned) await this.#redis.quit().catch(() => this.#redis.disconnect())
  }
}
