/**
 * The `org-sync` queue (DESIGN.md "Queues"): keeps an organisation's Mattermost team membership
 * equal to its members (issue 4; seeds/equa-mattermost-endpoints.md "POST /api/v1/mattermost/sync-org/:orgId").
 *
 * Jobs:
 * - `sync-org` `{v, orgId, runId, trigger, requestedBy?}` — one sync of one org. `runId` is the
 *   `org_sync_runs` row the worker writes; the job id is `org-sync-{orgId}-{runId}`.
 * - `plan-org` `{v, orgId}` — the dry run: its result is the plan (nothing changes).
 * - `sync-all` `{v}` — added by the job scheduler every `ORG_SYNC_INTERVAL`: enqueues a
 *   `sync-org` (trigger `schedule`) for every org.
 *
 * Coalescing: every `sync-org` carries the BullMQ deduplication id `org-sync-{orgId}` with
 * `replace` + `keepLastIfActive`, so per org there is at most one job running and one waiting:
 * a job still delayed (debounce) is replaced by a newer one, a job added while one runs is kept
 * as the single next job (latest data wins) and enqueued when the running one finishes. Membership
 * changes add with a delay (`ORG_SYNC_DEBOUNCE_MS`): a burst of 500 changes ends in one or two runs.
 * Jobs carry ids only.
 */
import { randomUUID } from 'node:crypto'
import { Type, type Static } from 'typebox'
import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq'

export const ORG_SYNC_QUEUE = 'org-sync'

const Uuid = Type.String({ format: 'uuid' })

export const OrgSyncTriggerSchema = Type.Union([Type.Literal('manual'), Type.Literal('membership'), Type.Literal('schedule')])
export type OrgSyncTrigger = Static<typeof OrgSyncTriggerSchema>

export const SyncOrgJobSchema = Type.Object({
  v: Type.Literal(1),
  orgId: Uuid,
  runId: Uuid,
  trigger: OrgSyncTriggerSchema,
  /** Parley user who asked (manual runs). */
  requestedBy: Type.Optional(Uuid)
}, { additionalProperties: false })
export const SyncAllJobSchema = Type.Object({ v: Type.Literal(1) }, { additionalProperties: false })
export const PlanOrgJobSchema = Type.Object({ v: Type.Literal(1), orgId: Uuid }, { additionalProperties: false })

export interface OrgSyncJobs {
  'sync-org': Static<typeof SyncOrgJobSchema>
  'sync-all': Static<typeof SyncAllJobSchema>
  /** The dry run: what `sync-org` would do now; its result is the plan. */
  'plan-org': Static<typeof PlanOrgJobSchema>
}
export type OrgSyncJobName = keyof OrgSyncJobs
export type OrgSyncJobData = OrgSyncJobs[OrgSyncJobName]

export const ORG_SYNC_JOB_SCHEMAS = { 'sync-org': SyncOrgJobSchema, 'sync-all': SyncAllJobSchema, 'plan-org': PlanOrgJobSchema } as const

/** Job id of a dry run. */
export const orgSyncPlanJobId = (orgId: string) => `org-sync-plan-${orgId}-${randomUUID()}`

/** The deduplication id shared by every sync job of one org. */
export const orgSyncDedupId = (orgId: string) => `org-sync-${orgId}`
/** Job id of one run (BullMQ refuses `:` in custom ids). */
export const orgSyncJobId = (orgId: string, runId: string) => `org-sync-${orgId}-${runId}`
const JOB_ID = /^org-sync-([0-9a-f-]{36})-([0-9a-f-]{36})$/
/** `{orgId, runId}` of a `sync-org` job id, or undefined for another id. */
export function parseOrgSyncJobId (jobId: string | undefined): { orgId: string, runId: string } | undefined {
  const m = JOB_ID.exec(jobId ?? '')
  return m ? { orgId: m[1], runId: m[2] } : undefined
}

/** Id of the job scheduler that runs `sync-all`. */
export const ORG_SYNC_SCHEDULER_ID = 'org-sync-all'

/** Result of a finished `sync-org` job (numbers and ids only). */
export interface OrgSyncResult {
  runId: string
  status: 'succeeded' | 'partial' | 'failed'
  synced: number
  added: number
  removed: number
  unchanged: number
  failed: number
  errorCode: string | null
}

/**
 * 8 attempts with exponential backoff from 2 s (≈ 8 min in all) ride out a Mattermost restart;
 * every attempt resumes the same run. Finished jobs are dropped (the run row is the record).
 */
export const orgSyncJobOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 2_000, jitter: 0.5 },
  removeOnComplete: { count: 1_000, age: 3600 },
  removeOnFail: { count: 1_000, age: 24 * 3600 }
} as const

export type OrgSyncQueue = Queue<OrgSyncJobData, unknown, OrgSyncJobName>

export function createOrgSyncQueue (connection: ConnectionOptions, prefix: string): OrgSyncQueue {
  return new Queue<OrgSyncJobData, unknown, OrgSyncJobName>(ORG_SYNC_QUEUE, { connection, prefix, defaultJobOptions: orgSyncJobOptions })
}

/** Options of a `sync-org` job: its id, the per-org deduplication, and the debounce delay. */
export function syncOrgJobOptions (orgId: string, runId: string, delayMs = 0): JobsOptions {
  return {
    jobId: orgSyncJobId(orgId, runId),
    delay: delayMs > 0 ? delayMs : undefined,
    deduplication: { id: orgSyncDedupId(orgId), replace: true, keepLastIfActive: true }
  }
}

/**
 * Enqueues a sync of `orgId`. @returns the run id of the job that will do it: a new one, or the
 * one already waiting for the org (deduplicated), and the id of the job the add ended up in
 * (the running job when the sync was queued behind it, see module doc).
 */
export async function enqueueOrgSync (queue: OrgSyncQueue, orgId: string, trigger: OrgSyncTrigger, opts: { delayMs?: number, requestedBy?: string } = {}): Promise<{ runId: string, jobId: string, deduplicated: boolean }> {
  const runId = randomUUID()
  const data: OrgSyncJobs['sync-org'] = { v: 1, orgId, runId, trigger, ...(opts.requestedBy ? { requestedBy: opts.requestedBy } : {}) }
  const job = await queue.add('sync-org', data, syncOrgJobOptions(orgId, runId, opts.delayMs))
  const jobId = job.id ?? orgSyncJobId(orgId, runId)
  const actual = parseOrgSyncJobId(jobId)
  return { runId: actual?.runId ?? runId, jobId, deduplicated: actual !== undefined && actual.runId !== runId }
}
