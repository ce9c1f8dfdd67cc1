/**
 * Processor of the `org-sync` queue (DESIGN.md "Queues"; issue 4): `sync-org` runs or resumes one
 * org's sync (../org-sync.ts), `plan-org` answers the dry run, `sync-all` (job scheduler, every
 * `ORG_SYNC_INTERVAL`) enqueues a scheduled `sync-org` for every org and prunes run records older
 * than `RUN_RETENTION_DAYS`.
 *
 * Outcomes: a finished sync returns `OrgSyncResult` (numbers and ids only). A Mattermost outage
 * or 429 beyond the client's patience fails the attempt; BullMQ retries it with backoff and the
 * next attempt resumes the same run (its row stays `running`). When the last attempt fails, or
 * for a failure no retry can fix (org gone, not configured), the run is marked `failed` with the
 * reason, and the job fails with `[code] message` (see `ProvisioningErrorCode`).
 */
import { UnrecoverableError, type Job } from 'bullmq'
import { Value } from 'typebox/value'
import { failOrgSyncRun, listOrgIdsToSync, pruneOrgSyncRuns } from '@parley/db'
import { isMattermostError, isPermanent, isRetryable } from '@parley/mattermost'
import {
  ORG_SYNC_JOB_SCHEMAS, enqueueOrgSync, formatFailure,
  type OrgSyncJobData, type OrgSyncJobName, type OrgSyncJobs, type OrgSyncQueue
} from '@parley/queue'
import { ProvisioningError, createProvisioner } from '../mattermost-provisioning.js'
import { OrgSyncBusy, OrgSyncError, createOrgSync } from '../org-sync.js'
import { adminClient, type MattermostJobDeps } from './mattermost.js'

export type OrgSyncJobDeps = MattermostJobDeps & { queue: OrgSyncQueue }

/** `sync-all` also deletes finished `org_sync_runs` older than this. */
export const RUN_RETENTION_DAYS = 30

/** Builds the processor of the `org-sync` queue. */
export function orgSyncProcessor (deps: OrgSyncJobDeps) {
  const { logger, db } = deps
  const admin = adminClient(deps)
  const provisioner = createProvisioner({ config: deps.config, db, logger, admin, tokenCipher: deps.tokenCipher })
  const orgSync = createOrgSync({ config: deps.config, db, logger, admin, provisioner })

  return async function processOrgSyncJob (job: Job<OrgSyncJobData, unknown, OrgSyncJobName>): Promise<unknown> {
    const schema = ORG_SYNC_JOB_SCHEMAS[job.name]
    if (!schema || !Value.Check(schema, job.data)) throw new UnrecoverableError(formatFailure('mattermost_rejected', `Job ${job.name} has an invalid payload`))
    if (job.name === 'sync-all') {
      const orgIds = await listOrgIdsToSync(db)
      for (const orgId of orgIds) await enqueueOrgSync(deps.queue, orgId, 'schedule')
      const pruned = await pruneOrgSyncRuns(db, RUN_RETENTION_DAYS)
      logger.info({ orgs: orgIds.length, prunedRuns: pruned }, 'scheduled organisation sync enqueued')
      return { orgs: orgIds.length, prunedRuns: pruned }
    }
    if (job.name === 'plan-org') {
      try {
        return await orgSync.plan((job.data as OrgSyncJobs['plan-org']).orgId)
      } catch (err) {
        throw permanentOr(err)
      }
    }
    const data = job.data as OrgSyncJobs['sync-org']
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1)
    try {
      return await orgSync.sync(data)
    } catch (err) {
      const mapped = permanentOr(err)
      if (mapped instanceof UnrecoverableError || lastAttempt) {
        const [, code, message] = /^\[([a-z_]+)\] ([\s\S]*)$/.exec(mapped.message) ?? [undefined, 'mattermost_rejected', mapped.message]
        if (!(err instanceof OrgSyncError && err.code === 'not_found')) await failOrgSyncRun(db, { id: data.runId, orgId: data.orgId, trigger: data.trigger }, code, message).catch(() => {})
        throw mapped instanceof UnrecoverableError ? mapped : new UnrecoverableError(mapped.message)
      }
      logger.warn({ jobId: job.id, orgId: data.orgId, attempt: job.attemptsMade + 1, reason: mapped.message }, 'organisation sync interrupted; will resume')
      throw mapped
    }
  }
}

/** A failure no retry fixes → UnrecoverableError `[code] message`; a transient one → Error to retry. */
function permanentOr (err: unknown): Error {
  if (err instanceof OrgSyncError || err instanceof ProvisioningError) return new UnrecoverableError(formatFailure(err.code as never, err.message))
  if (err instanceof OrgSyncBusy) return new Error(formatFailure('mattermost_unavailable', err.message))
  if (isMattermostError(err) && isPermanent(err)) {
    return new UnrecoverableError(formatFailure('mattermost_rejected', `Mattermost refused ${err.endpoint} (${err.status}${err.id ? ` ${err.id}` : ''})`))
  }
  if (isRetryable(err)) return new Error(formatFailure('mattermost_unavailable', (err as Error).message))
  return err instanceof Error ? err : new Error(String(err))
}
