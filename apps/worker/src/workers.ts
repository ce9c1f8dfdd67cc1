/**
 * Creates the BullMQ workers, job schedulers and the Mattermost listener from `WorkerDeps`;
 * used by main.ts and by tests that run a real worker in-process.
 */
import { Worker, type Job } from 'bullmq'
import { MATTERMOST_QUEUE, NOTIFICATIONS_QUEUE, TOKEN_SWEEP_EVERY_MS, TOKEN_SWEEP_SCHEDULER_ID, createMattermostQueue, ORG_SYNC_QUEUE, ORG_SYNC_SCHEDULER_ID, createOrgSyncQueue, workerConnection } from '@parley/queue'
import type { WorkerDeps } from './deps.js'
import { notificationsProcessor } from './jobs/notifications.js'
import { mattermostProcessor } from './jobs/mattermost.js'
import { orgSyncProcessor } from './jobs/org-sync.js'
import { createMattermostListener, type ListenerOptions } from './mattermost-listener.js'

export interface StartOptions {
  listener?: ListenerOptions | false
  /** BullMQ stalled-job check period (ms): how soon a dead worker's jobs are picked up again. */
  stalledIntervalMs?: number
  /** BullMQ job lock duration (ms): how long a job of a dead worker stays locked. */
  lockDurationMs?: number
  /** Set false to skip upserting the job schedulers (tests sharing one database). */
  schedulers?: boolean
  /** Upsert the org-sync job scheduler even when `schedulers` is false (its own test). */
  orgSyncScheduler?: boolean
}

export interface RunningWorkers {
  workers: Worker[]
  close (): Promise<void>
}

/** Starts every worker and scheduler. `close()` stops taking jobs and waits for active ones. */
export async function startWorkers (deps: WorkerDeps, opts: StartOptions = {}): Promise<RunningWorkers> {
  const { config, logger, prefix } = deps
  const connections = [] as ReturnType<typeof workerConnection>[]
  const connection = () => { const c = workerConnection(config.REDIS_URL); connections.push(c); return c }
  const common = { prefix, stalledInterval: opts.stalledIntervalMs ?? 30_000, lockDuration: opts.lockDurationMs ?? 30_000, maxStalledCount: 3 }
  const limiter = config.MATTERMOST_RATE_LIMIT_PER_SEC > 0 ? { max: config.MATTERMOST_RATE_LIMIT_PER_SEC, duration: 1_000 } : undefined

  const notificationWorker = new Worker(NOTIFICATIONS_QUEUE, notificationsProcessor(deps), {
    ...common, connection: connection(), concurrency: config.WORKER_CONCURRENCY, ...(limiter ? { limiter } : {})
  })
  const mattermostWorker = new Worker(MATTERMOST_QUEUE, mattermostProcessor(deps), {
    ...common, connection: connection(), concurrency: config.WORKER_CONCURRENCY, ...(limiter ? { limiter } : {})
  })
  // org-sync: the worker enqueues too (the scheduled fan-out), so it has a queue of its own.
  const orgSyncQueue = createOrgSyncQueue(connection(), prefix)
  const orgSyncWorker = new Worker(ORG_SYNC_QUEUE, orgSyncProcessor({ ...deps, queue: orgSyncQueue }), {
    ...common, connection: connection(), concurrency: Math.min(config.WORKER_CONCURRENCY, 10), ...(limiter ? { limiter } : {})
  })
  const workers: Worker<any, any, string>[] = [notificationWorker as unknown as Worker, mattermostWorker as unknown as Worker, orgSyncWorker as unknown as Worker]
  for (const w of workers) {
    w.on('error', (err) => logger.error({ err, queue: w.name }, 'worker error'))
    w.on('failed', (job: Job | undefined, err) => logger.warn({ queue: w.name, jobId: job?.id, attempt: job?.attemptsMade, reason: err.message }, 'job failed'))
  }

  // Job schedulers: re-enqueue lost rows every minute; drop expired idempotency keys every 10 minutes (seed).
  if (opts.schedulers !== false) {
    await deps.queues.notifications.upsertJobScheduler('sweep', { every: 60_000 }, { name: 'sweep', data: {} })
    await deps.queues.notifications.upsertJobScheduler('cleanup-keys', { every: 10 * 60_000 }, { name: 'cleanup-keys', data: {} })
    // Renew personal access tokens ahead of a server-enforced expiry, hourly (issue 3).
    const mattermostQueue = createMattermostQueue(connection(), prefix)
    await mattermostQueue.upsertJobScheduler(TOKEN_SWEEP_SCHEDULER_ID, { every: TOKEN_SWEEP_EVERY_MS }, { name: 'token-sweep', data: { v: 1 } })
    await mattermostQueue.close()
  }
  // Full sync of every organisation to its Mattermost team every ORG_SYNC_INTERVAL (issue 4).
  if (opts.schedulers !== false || opts.orgSyncScheduler === true) {
    await orgSyncQueue.upsertJobScheduler(ORG_SYNC_SCHEDULER_ID as 'sync-all', { every: config.ORG_SYNC_INTERVAL }, { name: 'sync-all', data: { v: 1 } })
  }

  const listener = opts.listener === false ? undefined : createMattermostListener(deps, opts.listener)
  await listener?.start()

  return {
    workers,
    async close () {
      await listener?.stop()
      await Promise.all(workers.map(w => w.close()))
      await orgSyncQueue.close()
      await Promise.allSettled(connections.map(c => c.quit()))
    }
  }
}
