import { index, integer, jsonb, pgEnum, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { sql } from 'drizzle-orm'
import { timestamps } from './columns.js'
import { organizations } from './organizations.js'

/** What started a run: the `sync-org` endpoint, a membership change (debounced), the job scheduler. */
export const orgSyncTrigger = pgEnum('org_sync_trigger', ['manual', 'membership', 'schedule'])

/**
 * `running` while a worker holds it; `succeeded` (no member failed), `partial` (some members
 * failed, the rest were synced), `failed` (the run as a whole could not finish, see `error`),
 * `interrupted` (its worker died and a later run of the org finished the work).
 */
export const orgSyncStatus = pgEnum('org_sync_status', ['queued', 'running', 'succeeded', 'partial', 'failed', 'interrupted'])

/** One member the run could not add, remove or provision (`code` is Parley's, `mattermostErrorId` Mattermost's). */
export interface OrgSyncFailure {
  userId: string | null
  mmUserId: string | null
  action: 'provision' | 'add' | 'remove'
  code: string
  mattermostErrorId?: string
  message: string
}

/**
 * Organisation → Mattermost team sync runs (issue 4, seeds/equa-mattermost-endpoints.md
 * "POST /api/v1/mattermost/sync-org/:orgId"). The id is chosen by whoever enqueues the `org-sync`
 * job and travels in the job (ids only), so the endpoint can answer 202 with it before the worker
 * starts. Counters are written after every Mattermost batch, so a run resumed after a crash goes
 * on counting from where the dead worker stopped. At most one run per org is `running`.
 */
export const orgSyncRuns = pgTable('org_sync_runs', {
  id: uuid('id').primaryKey(),
  orgId: uuid('org_id').notNull().references(() => organizations.id, { onDelete: 'cascade' }),
  trigger: orgSyncTrigger('trigger').notNull(),
  status: orgSyncStatus('status').notNull().default('queued'),
  /** Parley user who asked (manual runs by a user); null for API keys, membership changes and the schedule. */
  requestedBy: uuid('requested_by'),
  /** Worker attempts that started this run (more than one after a crash or an outage). */
  attempts: integer('attempts').notNull().default(0),
  startedAt: timestamp('started_at', { withTimezone: true }),
  finishedAt: timestamp('finished_at', { withTimezone: true }),
  /** Org members who are team members when the run finished (the seed's `synced`). */
  synced: integer('synced').notNull().default(0),
  added: integer('added').notNull().default(0),
  removed: integer('removed').notNull().default(0),
  unchanged: integer('unchanged').notNull().default(0),
  /** Mattermost users created for members who had none. */
  provisioned: integer('provisioned').notNull().default(0),
  failed: integer('failed').notNull().default(0),
  failures: jsonb('failures').$type<OrgSyncFailure[]>().notNull().default([]),
  /** Run-level problem (team full: names TeamSettings.MaxUsersPerTeam; Mattermost unavailable; …). */
  errorCode: text('error_code'),
  error: text('error'),
  /**
   * Mattermost user ids this run set out to add and remove (union over its attempts), written
   * before it calls Mattermost: a resumed attempt counts what a dead attempt did but never
   * recorded (in the team now / gone now) as this run's work, not as "unchanged". Cleared at the end.
   */
  pending: jsonb('pending').$type<{ add: string[], remove: string[] }>(),
  /** Mattermost calls the run made (all attempts). */
  mattermostCalls: integer('mattermost_calls').notNull().default(0),
  ...timestamps
}, (t) => [
  index('org_sync_runs_org_created_idx').on(t.orgId, t.createdAt),
  uniqueIndex('org_sync_runs_one_running_key').on(t.orgId).where(sql`status = 'running'`)
])

export type OrgSyncRun = typeof orgSyncRuns.$inferSelect
