/**
 * The `mattermost` queue: provisioning of users, personal access tokens, teams, team
 * memberships and project channels, plus token health checks (DESIGN.md "Queues").
 *
 * Jobs carry ids only — never a token (job data and results sit in Redis in clear text). Job ids
 * are per subject (`ensure-user-{userId}`), so concurrent requests for one subject share one job;
 * the processors are idempotent besides (they check Postgres and Mattermost before creating).
 * A job that fails for good carries `failedReason` = `[code] message`, see `ProvisioningErrorCode`.
 */
import { Type, type Static } from 'typebox'
import { Queue, type ConnectionOptions } from 'bullmq'

export const MATTERMOST_QUEUE = 'mattermost'

const Uuid = Type.String({ format: 'uuid' })
const v1 = Type.Literal(1)

export const EnsureUserJobSchema = Type.Object({ v: v1, userId: Uuid }, { additionalProperties: false })
export const IssueTokenJobSchema = Type.Object({ v: v1, userId: Uuid }, { additionalProperties: false })
export const EnsureTeamJobSchema = Type.Object({ v: v1, orgId: Uuid }, { additionalProperties: false })
export const EnsureMembershipJobSchema = Type.Object({ v: v1, orgId: Uuid, userId: Uuid }, { additionalProperties: false })
export const SyncUserJobSchema = Type.Object({ v: v1, userId: Uuid }, { additionalProperties: false })
export const ChannelJobSchema = Type.Object({ v: v1, channelId: Uuid }, { additionalProperties: false })
export const AddChannelMemberJobSchema = Type.Object({ v: v1, channelId: Uuid, userId: Uuid }, { additionalProperties: false })
export const TokenHealthJobSchema = Type.Object({ v: v1, userId: Uuid }, { additionalProperties: false })
export const TokenSweepJobSchema = Type.Object({ v: v1 }, { additionalProperties: false })

export interface MattermostJobs {
  'ensure-user': Static<typeof EnsureUserJobSchema>
  'issue-token': Static<typeof IssueTokenJobSchema>
  'ensure-team': Static<typeof EnsureTeamJobSchema>
  /** Everything a session needs: user, token, team, team membership. */
  'ensure-membership': Static<typeof EnsureMembershipJobSchema>
  'sync-user': Static<typeof SyncUserJobSchema>
  'create-channel': Static<typeof ChannelJobSchema>
  'archive-channel': Static<typeof ChannelJobSchema>
  'add-channel-member': Static<typeof AddChannelMemberJobSchema>
  'token-health': Static<typeof TokenHealthJobSchema>
  /** Scheduled: re-issues tokens that expire within TOKEN_REFRESH_BEFORE_SECONDS. */
  'token-sweep': Static<typeof TokenSweepJobSchema>
}
export type MattermostJobName = keyof MattermostJobs
export type MattermostJobData = MattermostJobs[MattermostJobName]

/** Payload schema of each job name, for the worker to validate what it takes off the queue. */
export const MATTERMOST_JOB_SCHEMAS = {
  'ensure-user': EnsureUserJobSchema,
  'issue-token': IssueTokenJobSchema,
  'ensure-team': EnsureTeamJobSchema,
  'ensure-membership': EnsureMembershipJobSchema,
  'sync-user': SyncUserJobSchema,
  'create-channel': ChannelJobSchema,
  'archive-channel': ChannelJobSchema,
  'add-channel-member': AddChannelMemberJobSchema,
  'token-health': TokenHealthJobSchema,
  'token-sweep': TokenSweepJobSchema
} as const

/** Job scheduler id of the token sweep, and its period (ms). */
export const TOKEN_SWEEP_SCHEDULER_ID = 'token-sweep'
export const TOKEN_SWEEP_EVERY_MS = 3_600_000

/** Result of `token-health` (seeds/equa-mattermost-endpoints.md, "GET /api/v1/mattermost/token-health"). */
export const TokenHealthSchema = Type.Union([
  Type.Object({ valid: Type.Literal(true) }),
  Type.Object({ valid: Type.Literal(false), reason: Type.Union([Type.Literal('no_token'), Type.Literal('check_failed'), Type.Literal('revoked')]) })
])
export type TokenHealth = Static<typeof TokenHealthSchema>

/** Job ids (BullMQ refuses `:` and all-digit ids, DESIGN.md "Queues"). */
export const mattermostJobId = {
  ensureUser: (userId: string) => `ensure-user-${userId}`,
  issueToken: (userId: string) => `issue-token-${userId}`,
  ensureTeam: (orgId: string) => `ensure-team-${orgId}`,
  ensureMembership: (orgId: string, userId: string) => `ensure-membership-${orgId}-${userId}`,
  /** `revision` (e.g. the user's `updated_at` in ms) lets a later change enqueue while an earlier sync runs. */
  syncUser: (userId: string, revision: number | string) => `sync-user-${userId}-${revision}`,
  createChannel: (channelId: string) => `create-channel-${channelId}`,
  archiveChannel: (channelId: string) => `archive-channel-${channelId}`,
  addChannelMember: (channelId: string, userId: string) => `add-channel-member-${channelId}-${userId}`,
  tokenHealth: (userId: string) => `token-health-${userId}`
}

/**
 * Why a job failed for good. The API maps them to statuses: `username_taken`/`email_taken`/
 * `team_full`/`channel_archived` → 409, `not_found` → 404, `not_member` → 403, `invalid_name` → 400,
 * `tokens_disabled`/`not_configured`/`mattermost_rejected` → 500 naming the cause.
 * `mattermost_unavailable` is the reason of an attempt that will be retried.
 */
export type ProvisioningErrorCode =
  | 'not_configured' | 'not_found' | 'not_member' | 'username_taken' | 'email_taken' | 'tokens_disabled'
  | 'team_full' | 'invalid_name' | 'channel_archived' | 'mattermost_rejected' | 'mattermost_unavailable'

/** `failedReason` text for `code`. The message must never contain a secret. */
export const formatFailure = (code: ProvisioningErrorCode, message: string) => `[${code}] ${message}`

/** Splits a `failedReason` into code and message; unknown shapes come back as `mattermost_rejected`. */
export function parseFailure (reason: string | undefined): { code: ProvisioningErrorCode, message: string } {
  const m = /^\[([a-z_]+)\] ([\s\S]*)$/.exec(reason ?? '')
  if (m) return { code: m[1] as ProvisioningErrorCode, message: m[2] }
  return { code: 'mattermost_rejected', message: reason || 'provisioning failed' }
}

/**
 * Progress a processor reports when an attempt failed transiently (Mattermost down, 5xx, 429) and
 * will be retried: a waiting API request answers 503 with `Retry-After` instead of waiting on.
 */
export interface UnavailableProgress { unavailable: true, retryAfterMs: number, reason: string }
export const isUnavailableProgress = (data: unknown): data is UnavailableProgress =>
  typeof data === 'object' && data !== null && (data as { unavailable?: unknown }).unavailable === true

/**
 * Defaults: 8 attempts with exponential backoff from 1 s (≈ 4 min in all) ride out a Mattermost
 * restart. Completed jobs are removed at once so a later request for the same subject enqueues a
 * fresh (idempotent) job rather than finding a stale result; failed ones are kept a day for
 * inspection (producers remove a failed job before re-adding its id).
 */
export const mattermostJobOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 1_000, jitter: 0.5 },
  removeOnComplete: true,
  removeOnFail: { count: 5_000, age: 24 * 3600 }
} as const

export type MattermostQueue = Queue<MattermostJobData, unknown, MattermostJobName>

/** The `mattermost` queue with Parley's default job options. */
export function createMattermostQueue (connection: ConnectionOptions, prefix: string): MattermostQueue {
  return new Queue<MattermostJobData, unknown, MattermostJobName>(MATTERMOST_QUEUE, { connection, prefix, defaultJobOptions: mattermostJobOptions })
}
