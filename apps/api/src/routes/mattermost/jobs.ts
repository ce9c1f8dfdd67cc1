/**
 * How the API has the worker do Mattermost work and waits for it (DESIGN.md "Mattermost boundary":
 * the API never calls Mattermost). `runMattermostJob` enqueues a job under its per-subject id —
 * concurrent requests for one subject share the job — and waits for its outcome through
 * `QueueEvents`, turning it into an HTTP error from the catalogue:
 * - completed → the job's result (ids and flags, never a token);
 * - failed for good → the failure code's status (`username_taken` 409, `not_found` 404, …);
 * - an attempt failed transiently (Mattermost down) → 503 with Retry-After; the job keeps retrying
 *   (a request finding it waiting out its backoff promotes it, so a retry is tried at once);
 * - no outcome within `timeoutMs` → 504 (safe to retry: the job goes on and is idempotent).
 */
import type { FastifyReply } from 'fastify'
import type { QueueEvents } from 'bullmq'
import { isUnavailableProgress, parseFailure, type MattermostJobData, type MattermostJobName, type MattermostQueue, type ProvisioningErrorCode } from '@parley/queue'
import { BadRequest, Conflict, Forbidden, GatewayTimeout, NotFound, Unavailable } from '../../errors.js'

/** A 500 whose message must reach the caller (the error handler hides other 5xx messages). */
export class ServerMisconfigured extends Error {
  readonly statusCode = 500
  constructor (readonly code: string, message: string) { super(message) }
}

/** Sends a `ServerMisconfigured` in the standard envelope. */
export const sendMisconfigured = (reply: FastifyReply, err: ServerMisconfigured) =>
  reply.code(500).send({ statusCode: 500, error: 'Internal Server Error', code: err.code, message: err.message })

const STATUS: Record<ProvisioningErrorCode, (m: string) => Error> = {
  not_found: m => new NotFound(m),
  not_member: m => new Forbidden(m),
  username_taken: m => new Conflict(m),
  email_taken: m => new Conflict(m),
  team_full: m => new Conflict(m),
  channel_archived: m => new Conflict(m),
  invalid_name: m => new BadRequest(m),
  tokens_disabled: m => new ServerMisconfigured('PARLEY_MATTERMOST_TOKENS_DISABLED', m),
  not_configured: m => new ServerMisconfigured('PARLEY_MATTERMOST_NOT_CONFIGURED', m),
  mattermost_rejected: m => new ServerMisconfigured('PARLEY_MATTERMOST_REJECTED', `Mattermost refused the provisioning: ${m}`),
  mattermost_unavailable: m => unavailable(m, 5_000)
}

function unavailable (reason: string, retryAfterMs: number): Error {
  const err = new Unavailable(`Mattermost is unavailable; provisioning is being retried (${reason.slice(0, 200)})`) as Error & { retryAfter?: number }
  err.retryAfter = Math.max(1, Math.ceil(retryAfterMs / 1000))
  return err
}

/** The HTTP error for a job's `failedReason`. */
export const errorForFailure = (reason: string | undefined): Error => {
  const { code, message } = parseFailure(reason)
  return (STATUS[code] ?? STATUS.mattermost_rejected)(message)
}

type Outcome = { state: 'completed', value: unknown } | { state: 'gone' }

/**
 * Enqueues `name` with `data` under `jobId` (a failed job of that id is removed first so a retry
 * runs again) and waits for it.
 * @returns the job's result, or `{state: 'gone'}` when it finished and was removed before we
 *   looked (the caller re-reads Postgres).
 * @throws the catalogue error for the outcome (see module doc).
 */
export async function runMattermostJob (queue: MattermostQueue | undefined, events: QueueEvents | undefined, name: MattermostJobName, data: MattermostJobData, jobId: string, timeoutMs: number): Promise<Outcome> {
  if (!queue || !events) throw new Unavailable('Mattermost provisioning is not available in this process')
  try {
    const previous = await queue.getJob(jobId)
    if (previous && await previous.isFailed()) await previous.remove().catch(() => {})
    await queue.add(name, data, { jobId })
  } catch (err) {
    // Redis is down (the producer connection fails fast): nothing was provisioned, retry later.
    const e = new Unavailable(`The job queue is unavailable (${(err as Error).message.slice(0, 100)}); retry shortly`) as Error & { retryAfter?: number }
    e.retryAfter = 5
    throw e
  }
  return waitForJob(queue, events, jobId, timeoutMs)
}

/** Waits for job `jobId` (see `runMattermostJob`). */
export function waitForJob (queue: MattermostQueue, events: QueueEvents, jobId: string, timeoutMs: number): Promise<Outcome> {
  // QueueEvents also emits per-job `completed:{id}` / `failed:{id}`, which its typings do not list.
  const emitter = events as unknown as NodeJS.EventEmitter
  return new Promise<Outcome>((resolve, reject) => {
    let done = false
    const finish = (fn: () => void) => {
      if (done) return
      done = true
      clearTimeout(timer)
      emitter.off(`completed:${jobId}`, onCompleted)
      emitter.off(`failed:${jobId}`, onFailed)
      emitter.off('progress', onProgress)
      fn()
    }
    const onCompleted = (args: { returnvalue: unknown }) => finish(() => resolve({ state: 'completed', value: args.returnvalue }))
    const onFailed = (args: { failedReason: string }) => finish(() => reject(errorForFailure(args.failedReason)))
    const onProgress = (args: { jobId: string, data: unknown }) => {
      const data = args.data
      if (args.jobId === jobId && isUnavailableProgress(data)) finish(() => reject(unavailable(data.reason, data.retryAfterMs)))
    }
    const timer = setTimeout(() => finish(() => reject(new GatewayTimeout(`Mattermost provisioning did not finish within ${timeoutMs} ms; it continues in the background, retry the request`))), timeoutMs)
    emitter.on(`completed:${jobId}`, onCompleted)
    emitter.on(`failed:${jobId}`, onFailed)
    emitter.on('progress', onProgress)

    // The job may have finished before we listened: look at its state once the listener is live.
    events.waitUntilReady().then(async () => {
      const job = await queue.getJob(jobId)
      if (!job) return finish(() => resolve({ state: 'gone' }))
      const state = await job.getState()
      if (state === 'completed') return finish(() => resolve({ state: 'completed', value: job.returnvalue }))
      if (state === 'failed') return finish(() => reject(errorForFailure(job.failedReason)))
      // A retry waiting out its backoff: this request is a reason to try now (the next failed
      // attempt reports progress again, which answers 503 with Retry-After).
      if (state === 'delayed' && job.attemptsMade > 0) await job.promote().catch(() => {})
    }).catch((err: unknown) => finish(() => reject(err)))
  })
}
