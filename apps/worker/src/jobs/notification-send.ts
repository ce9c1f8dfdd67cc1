/**
 * Jobs that queue producers (packages/client) put on the `notifications` queue, and the payload
 * version check every job of that queue goes through.
 *
 * `send` (payload v1, packages/queue/src/notification-contract.ts `SendJobSchema`): the producer's
 * Redis claim (BullMQ's deduplication key, taken by the same atomic `add`) admitted the
 * notification and answered `queued`; here it is recorded in the Postgres ledger on first sight
 * (`recordQueuedNotification`: idempotent, so a stalled or retried job never makes two rows; a
 * duplicate when Redis had lost the key), then handed to a `deliver` job like an HTTP-accepted one,
 * so the sweep, the admin retry and `GET /api/notifications/:id` treat both alike.
 *
 * A job this worker cannot read (unknown payload version, malformed body) fails at once with an
 * `UnrecoverableError` naming the problem (the failed set keeps it as `failedReason`), and is
 * recorded as a `failed` ledger row when it names a notification. Other jobs are not held up.
 */
import { UnrecoverableError, type Job } from 'bullmq'
import { Type } from 'typebox'
import { Value } from 'typebox/value'
import { findNotification, recordDeliveryError, recordQueuedNotification, recordRejectedNotification } from '@parley/db'
import {
  NotificationActionSchema, SEND_JOB_VERSION, deliverJobId, notificationKey, payloadVersion, publishNotificationWindow, repointNotificationKey,
  sendJobErrors, type SendJob
} from '@parley/queue'
import type { WorkerDeps } from '../deps.js'

/** Payload versions this worker understands, per job name. */
const KNOWN_VERSIONS: Record<string, readonly unknown[]> = { send: [SEND_JOB_VERSION], deliver: [1], welcome: [1] }

/** Just enough of a refused notification to give it a ledger row. */
const LedgerFieldsSchema = Type.Object({
  action: NotificationActionSchema,
  requestId: Type.Union([Type.Integer({ minimum: 0 }), Type.String({ minLength: 1, maxLength: 64 })]),
  userId: Type.Union([Type.Integer({ minimum: 0 }), Type.String({ minLength: 1, maxLength: 64 })]),
  mattermostUsername: Type.String({ minLength: 1, maxLength: 64 })
})
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export type SendResult =
  | { notificationId: string, recorded: 'now' | 'earlier', deliverJobId: string }
  | { skipped: 'duplicate', duplicateOf: string }

export function queueProducerJobs (deps: WorkerDeps) {
  const { db, redis, prefix, config, logger } = deps
  // Queue producers claim keys for the window the server publishes (the API publishes it too).
  publishNotificationWindow(redis, prefix, config.NOTIFY_IDEMPOTENCY_WINDOW_SECONDS).catch(err => logger.warn({ err }, 'could not publish the idempotency window'))

  /** Records `reason` in the ledger when the job names a notification (best effort: the job fails regardless). */
  async function recordRejection (job: Job, reason: string): Promise<void> {
    const data = job.data as { notificationId?: unknown, notification?: Record<string, unknown> } | null
    const id = typeof data?.notificationId === 'string' && UUID.test(data.notificationId) ? data.notificationId : undefined
    if (!id) return
    if (await findNotification(db, id)) {
      await recordDeliveryError(db, id, { message: reason, final: true })
      return
    }
    const n = data?.notification
    if (!Value.Check(LedgerFieldsSchema, n)) return
    const { action, requestId, userId, mattermostUsername, ...rest } = n
    const payload = JSON.stringify(rest).length <= 16_384 ? rest : {}
    await recordRejectedNotification(db, {
      notificationId: id, idempotencyKey: notificationKey(n), action, requestId: String(requestId), userId: String(userId),
      mattermostUsername: mattermostUsername.toLowerCase(), payload, reason
    })
  }

  /** Fails `job` for good: recorded where possible, then an `UnrecoverableError` (no retry). */
  async function reject (job: Job, reason: string): Promise<never> {
    await recordRejection(job, reason).catch(err => logger.warn({ err, jobId: job.id }, 'could not record the refused job in the ledger'))
    logger.warn({ jobId: job.id, name: job.name, reason }, 'job refused')
    throw new UnrecoverableError(reason)
  }

  /**
   * Fails a job whose payload carries a version this worker does not know (a newer producer),
   * before anything reads it. Jobs without `v` go on to their own shape check.
   */
  async function checkVersion (job: Job): Promise<void> {
    const known = KNOWN_VERSIONS[job.name]
    const v = payloadVersion(job.data)
    if (!known || v === undefined || known.includes(v)) return
    await reject(job, `${job.name} job payload version ${JSON.stringify(v)} is not supported by this worker (it understands v${known.join(', v')}); upgrade the Parley worker to process it`)
  }

  /** The `send` job: record on first sight, then hand over to `deliver`. */
  async function send (job: Job): Promise<SendResult> {
    const problem = sendJobErrors(job.data)
    if (problem) return reject(job, `malformed send job: ${problem}`)
    const { notificationId, acceptedAt, notification } = job.data as SendJob
    const { action, requestId, userId, mattermostUsername, ...payload } = notification
    const idempotencyKey = notificationKey(notification)
    const r = await recordQueuedNotification(db, {
      notificationId, acceptedAt: new Date(acceptedAt), idempotencyKey, action, requestId: String(requestId), userId: String(userId),
      mattermostUsername: mattermostUsername.toLowerCase(), payload, windowSeconds: config.NOTIFY_IDEMPOTENCY_WINDOW_SECONDS
    })
    if (!r.recorded) {
      // Redis had lost the key and the ledger holds an earlier admission: make the gate answer with it.
      await repointNotificationKey(redis, prefix, idempotencyKey, notificationId, r.duplicateOf).catch(err => logger.warn({ err }, 'could not re-point the idempotency claim'))
      logger.info({ notificationId, duplicateOf: r.duplicateOf }, 'queued notification is a duplicate in the ledger; not delivered')
      return { skipped: 'duplicate', duplicateOf: r.duplicateOf }
    }
    const jobId = deliverJobId(notificationId)
    await deps.queues.notifications.add('deliver', { v: 1, notificationId }, { jobId })
    return { notificationId, recorded: r.created ? 'now' : 'earlier', deliverJobId: jobId }
  }

  return { checkVersion, send }
}
