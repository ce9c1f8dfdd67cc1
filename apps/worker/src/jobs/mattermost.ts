/**
 * Processor of the `mattermost` queue (DESIGN.md "Queues"): ensure-user, issue-token, ensure-team,
 * ensure-membership (the whole session provisioning), sync-user, create-channel, archive-channel,
 * add-channel-member and token-health. The work itself is in ../mattermost-provisioning.ts.
 *
 * Outcomes: results hold ids and flags only (never a token). A failure a retry cannot fix is a
 * BullMQ `UnrecoverableError` whose message is `[code] text` (see `ProvisioningErrorCode`); a
 * transient Mattermost failure (network, 5xx, 429) first reports `UnavailableProgress` — so a
 * waiting API request can answer 503 with Retry-After — and is then retried with backoff.
 */
import { UnrecoverableError, type Job } from 'bullmq'
import { Value } from 'typebox/value'
import { createMattermostClient, isMattermostError, isPermanent, isRetryable, type MattermostClient } from '@parley/mattermost'
import {
  MATTERMOST_JOB_SCHEMAS, formatFailure, mattermostJobOptions,
  type MattermostJobData, type MattermostJobName, type MattermostJobs, type UnavailableProgress
} from '@parley/queue'
import type { WorkerDeps } from '../deps.js'
import { ProvisioningError, createProvisioner, type Provisioner } from '../mattermost-provisioning.js'

export type MattermostJobDeps = Pick<WorkerDeps, 'config' | 'db' | 'logger' | 'mattermost' | 'tokenCipher'> & {
  /** Client with the admin token; defaults to one built from MATTERMOST_ADMIN_BOT_TOKEN, else `mattermost`. */
  mattermostAdmin?: MattermostClient
}

/** The admin/bot client provisioning uses (seed token table: "Admin" rows). */
export function adminClient (deps: MattermostJobDeps): MattermostClient | undefined {
  if (deps.mattermostAdmin) return deps.mattermostAdmin
  const { config } = deps
  if (config.MATTERMOST_URL && config.MATTERMOST_ADMIN_BOT_TOKEN && config.MATTERMOST_ADMIN_BOT_TOKEN !== config.MATTERMOST_BOT_TOKEN) {
    return createMattermostClient({ baseUrl: config.MATTERMOST_URL, token: config.MATTERMOST_ADMIN_BOT_TOKEN, timeoutMs: config.MATTERMOST_REQUEST_TIMEOUT_MS, logger: deps.logger })
  }
  return deps.mattermost
}

/** Seconds to suggest in Retry-After for a transient failure: the server's own, else the next backoff. */
function retryAfterMs (err: unknown, attemptsMade: number): number {
  if (isMattermostError(err) && err.retryAfterMs !== undefined) return err.retryAfterMs
  return Math.min(60_000, mattermostJobOptions.backoff.delay * 2 ** Math.max(0, attemptsMade))
}

/** Runs one job's work; exported so tests and the CLI can call it without a queue. */
export async function runMattermostJob (p: Provisioner, name: MattermostJobName, data: MattermostJobData, retry: boolean): Promise<unknown> {
  switch (name) {
    case 'ensure-user':
    case 'issue-token': {
      const { userId } = data as MattermostJobs['ensure-user']
      const r = await p.ensureAccount(userId, { retry })
      return { mmUserId: r.account.mmUserId, userCreated: r.userCreated, tokenIssued: r.tokenIssued }
    }
    case 'sync-user': {
      const { userId } = data as MattermostJobs['sync-user']
      const r = await p.ensureAccount(userId, { sync: true, retry })
      return { mmUserId: r.account.mmUserId, userCreated: r.userCreated, userUpdated: r.userUpdated, tokenIssued: r.tokenIssued }
    }
    case 'ensure-team': {
      const r = await p.ensureTeam((data as MattermostJobs['ensure-team']).orgId)
      return { mmTeamId: r.team.mmTeamId, teamName: r.team.teamName, created: r.created }
    }
    case 'ensure-membership': {
      const { orgId, userId } = data as MattermostJobs['ensure-membership']
      return p.ensureMembership(orgId, userId, { retry })
    }
    case 'create-channel': return p.createChannel((data as MattermostJobs['create-channel']).channelId)
    case 'archive-channel': return p.archiveChannel((data as MattermostJobs['archive-channel']).channelId)
    case 'add-channel-member': {
      const { channelId, userId } = data as MattermostJobs['add-channel-member']
      return p.addChannelMember(channelId, userId, { retry })
    }
    case 'token-health': return p.tokenHealth((data as MattermostJobs['token-health']).userId)
    case 'token-sweep': return p.renewExpiringTokens()
    default: throw new ProvisioningError('mattermost_rejected', `Unknown job name ${String(name)}`)
  }
}

/** Builds the processor of the `mattermost` queue. */
export function mattermostProcessor (deps: MattermostJobDeps) {
  const { logger } = deps
  const provisioner = createProvisioner({ config: deps.config, db: deps.db, logger, admin: adminClient(deps), tokenCipher: deps.tokenCipher })

  return async function processMattermostJob (job: Job<MattermostJobData, unknown, MattermostJobName>): Promise<unknown> {
    const schema = MATTERMOST_JOB_SCHEMAS[job.name]
    if (!schema || !Value.Check(schema, job.data)) throw new UnrecoverableError(formatFailure('mattermost_rejected', `Job ${job.name} has an invalid payload`))
    try {
      return await runMattermostJob(provisioner, job.name, job.data, job.attemptsMade > 0)
    } catch (err) {
      if (err instanceof ProvisioningError) throw new UnrecoverableError(err.reason)
      if (isMattermostError(err) && isPermanent(err)) {
        throw new UnrecoverableError(formatFailure('mattermost_rejected', `Mattermost refused ${err.endpoint} (${err.status}${err.id ? ` ${err.id}` : ''})`))
      }
      if (isRetryable(err)) {
        const progress: UnavailableProgress = { unavailable: true, retryAfterMs: retryAfterMs(err, job.attemptsMade), reason: (err as Error).message }
        await job.updateProgress(progress as unknown as object).catch(() => {})
        logger.warn({ jobId: job.id, attempt: job.attemptsMade + 1, status: (err as { status?: number }).status }, 'Mattermost unavailable; job will retry')
        throw new Error(formatFailure('mattermost_unavailable', (err as Error).message))
      }
      throw err
    }
  }
}
