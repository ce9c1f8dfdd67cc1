/**
 * `/api/v1/mattermost/sync-org/:orgId` (seeds/equa-mattermost-endpoints.md "POST
 * /api/v1/mattermost/sync-org/:orgId"; issue 4): organisation → Mattermost team sync.
 *
 * - `POST /:orgId` runs a sync as an `org-sync` job and waits for it (`ORG_SYNC_WAIT_MS`):
 *   200 `{synced, added, removed, unchanged, failed, …}`; still running then → 202 with the run id
 *   to poll at `GET /:orgId/runs/:runId`. A full team (TeamSettings.MaxUsersPerTeam), Mattermost
 *   not configured or a sync that failed → 500 naming the cause (the seed's 500).
 * - `GET /:orgId/plan`: the dry run (who would be added, who removed), changing nothing.
 * - `GET /:orgId/runs`, `GET /:orgId/runs/:runId`: the `org_sync_runs` record.
 *
 * Who: Parley admins, API keys with `directory:write`, and the org's own admins (401 without a
 * credential, 403 otherwise). The API never calls Mattermost: the worker does, this waits.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { QueueEvents } from 'bullmq'
import { findOrgMember, findOrgSyncRun, findOrganization, listOrgSyncRuns, type OrgSyncRun } from '@parley/db'
import {
  enqueueOrgSync, orgSyncDedupId, orgSyncJobId, orgSyncPlanJobId, parseOrgSyncJobId,
  type OrgSyncQueue, type OrgSyncResult, type OrgSyncTrigger
} from '@parley/queue'
import { Forbidden, GatewayTimeout, NotFound, Unavailable, errorHandler } from '../../errors.js'
import { ErrorSchema, PageQuerySchema, errorResponses } from '../../schemas/common.js'
import { ServerMisconfigured, errorForFailure, sendMisconfigured } from './jobs.js'
import { OrgParamsSchema, PlanSchema, RunAcceptedSchema, RunPageSchema, RunParamsSchema, RunSchema, SyncResultSchema } from './sync-org-schemas.js'

type Outcome = { state: 'completed', value: unknown } | { state: 'failed', reason: string } | { state: 'timeout' } | { state: 'gone' }

/**
 * Waits until job `jobId` completes or fails for good (a retry after an outage is not an outcome),
 * or `timeoutMs` passes.
 */
function waitForJob (queue: OrgSyncQueue, events: QueueEvents, jobId: string, timeoutMs: number): Promise<Outcome> {
  const emitter = events as unknown as NodeJS.EventEmitter
  return new Promise<Outcome>((resolve, reject) => {
    let done = false
    const finish = (o: Outcome | Error) => {
      if (done) return
      done = true
      clearTimeout(timer)
      emitter.off(`completed:${jobId}`, onCompleted)
      emitter.off(`failed:${jobId}`, onFailed)
      if (o instanceof Error) reject(o); else resolve(o)
    }
    const onCompleted = (args: { returnvalue: unknown }) => finish({ state: 'completed', value: args.returnvalue })
    const onFailed = (args: { failedReason: string }) => finish({ state: 'failed', reason: args.failedReason })
    const timer = setTimeout(() => finish({ state: 'timeout' }), Math.max(0, timeoutMs))
    emitter.on(`completed:${jobId}`, onCompleted)
    emitter.on(`failed:${jobId}`, onFailed)
    // It may have finished before we listened: look once the listener is live.
    events.waitUntilReady().then(async () => {
      const job = await queue.getJob(jobId)
      if (!job) return finish({ state: 'gone' })
      const state = await job.getState()
      if (state === 'completed') finish({ state: 'completed', value: job.returnvalue })
      else if (state === 'failed') finish({ state: 'failed', reason: job.failedReason })
    }).catch((err: unknown) => finish(err as Error))
  })
}

const iso = (d: Date | null) => d?.toISOString() ?? null

export const runView = (r: OrgSyncRun) => ({
  runId: r.id, organizationId: r.orgId, trigger: r.trigger, status: r.status, attempts: r.attempts,
  createdAt: r.createdAt.toISOString(), startedAt: iso(r.startedAt), finishedAt: iso(r.finishedAt),
  synced: r.synced, added: r.added, removed: r.removed, unchanged: r.unchanged, provisioned: r.provisioned, failed: r.failed,
  failures: r.failures.map(f => ({ userId: f.userId, mmUserId: f.mmUserId, action: f.action, code: f.code, mattermostErrorId: f.mattermostErrorId ?? null, message: f.message })),
  errorCode: r.errorCode, error: r.error, mattermostCalls: r.mattermostCalls
})

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { db, config, queues } = app
  const directoryWriter = app.requireScope('directory:write')
  ;(queues.orgSyncEvents as unknown as NodeJS.EventEmitter | undefined)?.setMaxListeners(0)

  // A 500 here must say what failed (the seed's "Mattermost not configured or sync failed").
  app.setErrorHandler((err, request, reply) => err instanceof ServerMisconfigured ? sendMisconfigured(reply, err) : errorHandler(err as never, request, reply))

  /** preHandler: a Parley admin, an API key with `directory:write`, or an admin of `params.orgId`. */
  async function orgAdmin (request: FastifyRequest, reply: FastifyReply) {
    try {
      await directoryWriter.call(app, request, reply)
    } catch (err) {
      const p = request.principal
      if ((err as { statusCode?: number }).statusCode !== 403 || p?.kind !== 'user') throw err
      const orgId = (request.params as { orgId: string }).orgId
      if ((await findOrgMember(db, orgId, p.user.id))?.role !== 'admin') {
        throw new Forbidden('Requires a Parley admin, an API key with directory:write, or an admin of this organisation')
      }
    }
  }

  async function ready (orgId: string) {
    if (!await findOrganization(db, orgId)) throw new NotFound(`No organisation with id ${orgId}`)
    if (!config.MATTERMOST_URL) throw new ServerMisconfigured('PARLEY_MATTERMOST_NOT_CONFIGURED', 'Mattermost is not configured: MATTERMOST_URL is not set')
    if (!queues.orgSync || !queues.orgSyncEvents) throw new Unavailable('Organisation sync is not available in this process')
    return { queue: queues.orgSync, events: queues.orgSyncEvents }
  }

  app.post('/:orgId', {
    preHandler: orgAdmin,
    schema: {
      tags: ['mattermost'], params: OrgParamsSchema,
      response: { 200: SyncResultSchema, 202: RunAcceptedSchema, 404: ErrorSchema, 500: ErrorSchema, 503: ErrorSchema, ...errorResponses }
    }
  }, async (request, reply) => {
    const { orgId } = request.params
    const { queue, events } = await ready(orgId)
    const p = request.principal
    const deadline = Date.now() + config.ORG_SYNC_WAIT_MS
    const queued = await enqueueOrgSync(queue, orgId, 'manual', { requestedBy: p?.kind === 'user' ? p.user.id : undefined })
    let jobId = queued.jobId
    let runId = queued.runId
    // Added while a run of the org was active: our sync is the one queued after it (keepLastIfActive).
    const behindActive = queued.deduplicated && (await (await queue.getJob(jobId))?.getState()) === 'active'
    let outcome = await waitForJob(queue, events, jobId, deadline - Date.now())
    if (behindActive && outcome.state !== 'timeout') {
      const next = await queue.getDeduplicationJobId(orgSyncDedupId(orgId))
      const parsed = parseOrgSyncJobId(next ?? undefined)
      if (next && parsed && next !== jobId) {
        jobId = next
        runId = parsed.runId
        outcome = await waitForJob(queue, events, jobId, deadline - Date.now())
      }
    }
    if (outcome.state === 'timeout') {
      return reply.code(202).header('location', `/api/v1/mattermost/sync-org/${orgId}/runs/${runId}`)
        .send({ runId, status: 'running', message: `The sync is still running; poll GET /api/v1/mattermost/sync-org/${orgId}/runs/${runId}` })
    }
    // The worker changed team memberships: do not wait for Postgres's notification to forget them.
    app.sessionStates.invalidate()
    if (outcome.state === 'failed') throw syncFailed(outcome.reason)
    const result = outcome.state === 'completed' ? outcome.value as OrgSyncResult : undefined
    const run = await findOrgSyncRun(db, orgId, result?.runId ?? runId)
    if (!run) throw new ServerMisconfigured('PARLEY_ORG_SYNC_FAILED', 'The sync finished but its run record is missing')
    if (run.errorCode === 'team_full') throw new ServerMisconfigured('PARLEY_MATTERMOST_TEAM_FULL', run.error ?? 'The Mattermost team is full (TeamSettings.MaxUsersPerTeam)')
    const view = runView(run)
    return { synced: view.synced, added: view.added, removed: view.removed, unchanged: view.unchanged, failed: view.failed, runId: view.runId, status: view.status, failures: view.failures }
  })

  app.get('/:orgId/plan', {
    preHandler: orgAdmin,
    schema: { tags: ['mattermost'], params: OrgParamsSchema, response: { 200: PlanSchema, 404: ErrorSchema, 500: ErrorSchema, 503: ErrorSchema, 504: ErrorSchema, ...errorResponses } }
  }, async (request) => {
    const { orgId } = request.params
    const { queue, events } = await ready(orgId)
    const jobId = orgSyncPlanJobId(orgId)
    await queue.add('plan-org', { v: 1, orgId }, { jobId, attempts: 1, removeOnComplete: { age: 60 }, removeOnFail: { age: 600 } })
    const outcome = await waitForJob(queue, events, jobId, config.ORG_SYNC_WAIT_MS)
    if (outcome.state === 'timeout') {
      await queue.remove(jobId).catch(() => {})
      throw new GatewayTimeout(`The dry run did not finish within ${config.ORG_SYNC_WAIT_MS} ms (is Mattermost reachable?); retry`)
    }
    if (outcome.state === 'failed') throw syncFailed(outcome.reason)
    if (outcome.state === 'gone') throw new GatewayTimeout('The dry run finished but its answer expired; retry')
    return outcome.value as never
  })

  app.get('/:orgId/runs', {
    preHandler: orgAdmin,
    schema: { tags: ['mattermost'], params: OrgParamsSchema, querystring: PageQuerySchema, response: { 200: RunPageSchema, 404: ErrorSchema, ...errorResponses } }
  }, async (request) => {
    const { orgId } = request.params
    if (!await findOrganization(db, orgId)) throw new NotFound(`No organisation with id ${orgId}`)
    const { limit, offset } = request.query
    const { items, total } = await listOrgSyncRuns(db, orgId, { limit, offset })
    return { items: items.map(runView), total, limit, offset }
  })

  app.get('/:orgId/runs/:runId', {
    preHandler: orgAdmin,
    schema: { tags: ['mattermost'], params: RunParamsSchema, response: { 200: RunSchema, 404: ErrorSchema, ...errorResponses } }
  }, async (request) => {
    const { orgId, runId } = request.params
    const run = await findOrgSyncRun(db, orgId, runId)
    if (run) return runView(run)
    if (!await findOrganization(db, orgId)) throw new NotFound(`No organisation with id ${orgId}`)
    // Not started yet: the job is waiting (or queued behind the org's running sync).
    const job = await queues.orgSync?.getJob(orgSyncJobId(orgId, runId))
    if (!job) throw new NotFound(`No sync run ${runId} for organisation ${orgId}`)
    return {
      runId, organizationId: orgId, trigger: (job.data as { trigger?: OrgSyncTrigger }).trigger ?? 'manual', status: 'queued' as const, attempts: 0,
      createdAt: new Date(job.timestamp).toISOString(), startedAt: null, finishedAt: null,
      synced: 0, added: 0, removed: 0, unchanged: 0, provisioned: 0, failed: 0, failures: [], errorCode: null, error: null, mattermostCalls: 0
    }
  })
}

/** The HTTP error for a failed sync job (`[code] message`): 404 unknown org, else 500 naming the cause (503 while Mattermost is down). */
function syncFailed (reason: string): Error {
  const err = errorForFailure(reason)
  if (err instanceof ServerMisconfigured && err.code === 'PARLEY_MATTERMOST_REJECTED') return new ServerMisconfigured('PARLEY_ORG_SYNC_FAILED', `The sync failed: ${err.message}`)
  return err
}

export default routes
