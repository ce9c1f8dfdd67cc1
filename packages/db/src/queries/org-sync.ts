/**
 * Organisation → Mattermost team sync (issue 4; seeds/equa-mattermost-endpoints.md
 * "POST /api/v1/mattermost/sync-org/:orgId"): who should be in the team, which Mattermost users
 * Parley manages, the team-membership cache, and the `org_sync_runs` record.
 */
import { and, count, desc, eq, inArray, ne, sql } from 'drizzle-orm'
import type { Executor } from '../client.js'
import { mattermostAccounts } from '../schema/mattermost-accounts.js'
import { mattermostTeamMembers } from '../schema/mattermost-teams.js'
import { orgSyncRuns, type OrgSyncFailure, type OrgSyncRun } from '../schema/org-sync-runs.js'

/** One member the team should contain; `mmUserId` null when the Mattermost user is not provisioned yet. */
export interface DesiredTeamMember { userId: string, mmUserId: string | null }

/**
 * The members an org's team should hold: org members whose Parley user is active and not deleted,
 * with their Mattermost user id when they have one. One statement, any org size.
 */
export async function listDesiredTeamMembers (db: Executor, orgId: string): Promise<DesiredTeamMember[]> {
  const rows = await db.execute<{ user_id: string, mm_user_id: string | null }>(sql`
    select m.user_id, a.mm_user_id
    from org_members m
    join users u on u.id = m.user_id and u.status = 'active' and u.deleted_at is null
    left join mattermost_accounts a on a.user_id = m.user_id
    where m.org_id = ${orgId}`)
  return rows.map(r => ({ userId: r.user_id, mmUserId: r.mm_user_id }))
}

/** Parley users mapped to the given Mattermost user ids (the users Parley provisioned). */
export async function findAccountsByMmUserIds (db: Executor, mmUserIds: string[]): Promise<Array<{ userId: string, mmUserId: string }>> {
  if (mmUserIds.length === 0) return []
  return db.select({ userId: mattermostAccounts.userId, mmUserId: mattermostAccounts.mmUserId })
    .from(mattermostAccounts).where(inArray(mattermostAccounts.mmUserId, mmUserIds))
}

/** Records team memberships known to exist in Mattermost (idempotent, one statement per 1000). */
export async function recordTeamMemberships (db: Executor, orgId: string, mmTeamId: string, members: Array<{ userId: string, mmUserId: string }>): Promise<void> {
  for (let i = 0; i < members.length; i += 1000) {
    const rows = members.slice(i, i + 1000).map(m => ({ orgId, mmTeamId, userId: m.userId, mmUserId: m.mmUserId }))
    await db.insert(mattermostTeamMembers).values(rows).onConflictDoNothing()
  }
}

/** Forgets the cached team memberships of `userIds` in the org (they were removed from the team). */
export async function forgetTeamMemberships (db: Executor, orgId: string, userIds: string[]): Promise<void> {
  if (userIds.length === 0) return
  await db.delete(mattermostTeamMembers).where(and(eq(mattermostTeamMembers.orgId, orgId), inArray(mattermostTeamMembers.userId, userIds)))
}

/**
 * Drops cached memberships of the org whose Mattermost user is not in `inTeam` (the team as a
 * finished sync saw it), so a session request re-joins such a user instead of trusting the cache.
 */
export async function pruneTeamMembershipCache (db: Executor, orgId: string, inTeam: string[]): Promise<number> {
  const rows = await db.execute<{ user_id: string }>(sql`
    delete from mattermost_team_members
    where org_id = ${orgId} and mm_user_id not in (select jsonb_array_elements_text(${JSON.stringify(inTeam)}::jsonb))
    returning user_id`)
  return rows.length
}

/** Ids of organisations worth a scheduled sync: those with members or a team already. */
export async function listOrgIdsToSync (db: Executor): Promise<string[]> {
  const rows = await db.execute<{ id: string }>(sql`
    select o.id from organizations o
    where exists (select 1 from org_members m where m.org_id = o.id)
       or exists (select 1 from mattermost_teams t where t.org_id = o.id)
    order by o.id`)
  return rows.map(r => r.id)
}

// --- runs ---

/**
 * Starts (or, after a crash or an outage, resumes) run `id`: status `running`, one more attempt.
 * Any other run of the org still marked `running` belonged to a dead worker (the caller holds the
 * org's sync lock): it is marked `interrupted`, and this run finishes its work.
 */
export async function startOrgSyncRun (db: Executor, run: { id: string, orgId: string, trigger: OrgSyncRun['trigger'], requestedBy?: string | null }): Promise<OrgSyncRun> {
  await db.update(orgSyncRuns)
    .set({ status: 'interrupted', finishedAt: sql`now()`, errorCode: 'interrupted', error: sql`'The worker running this sync stopped; run ' || ${run.id}::text || ' finished the work'` })
    .where(and(eq(orgSyncRuns.orgId, run.orgId), eq(orgSyncRuns.status, 'running'), ne(orgSyncRuns.id, run.id)))
  const [row] = await db.insert(orgSyncRuns)
    .values({ id: run.id, orgId: run.orgId, trigger: run.trigger, requestedBy: run.requestedBy ?? null, status: 'running', attempts: 1, startedAt: sql`now()` })
    .onConflictDoUpdate({
      target: orgSyncRuns.id,
      set: { status: 'running', attempts: sql`${orgSyncRuns.attempts} + 1`, startedAt: sql`coalesce(${orgSyncRuns.startedAt}, now())`, finishedAt: null, errorCode: null, error: null }
    })
    .returning()
  return row
}

export interface OrgSyncProgress {
  added: number
  removed: number
  unchanged: number
  provisioned: number
  failures: OrgSyncFailure[]
  mattermostCalls: number
}

/** Saves a running run's counters (after each Mattermost batch). */
export async function saveOrgSyncProgress (db: Executor, id: string, p: OrgSyncProgress): Promise<void> {
  await db.update(orgSyncRuns)
    .set({ added: p.added, removed: p.removed, unchanged: p.unchanged, provisioned: p.provisioned, failed: p.failures.length, failures: p.failures, mattermostCalls: p.mattermostCalls })
    .where(eq(orgSyncRuns.id, id))
}

/** Records what the run is about to add and remove (before calling Mattermost; see `orgSyncRuns.pending`). */
export async function setOrgSyncPending (db: Executor, id: string, pending: { add: string[], remove: string[] }): Promise<void> {
  await db.update(orgSyncRuns).set({ pending }).where(eq(orgSyncRuns.id, id))
}

/** Finishes a run with its final counters and status. @returns the row. */
export async function finishOrgSyncRun (db: Executor, id: string, outcome: OrgSyncProgress & { status: 'succeeded' | 'partial' | 'failed', synced: number, errorCode?: string | null, error?: string | null }): Promise<OrgSyncRun> {
  const [row] = await db.update(orgSyncRuns)
    .set({
      status: outcome.status, finishedAt: sql`now()`, synced: outcome.synced, added: outcome.added, removed: outcome.removed, unchanged: outcome.unchanged,
      provisioned: outcome.provisioned, failed: outcome.failures.length, failures: outcome.failures, mattermostCalls: outcome.mattermostCalls,
      errorCode: outcome.errorCode ?? null, error: outcome.error ?? null, pending: null
    })
    .where(eq(orgSyncRuns.id, id)).returning()
  return row
}

/** Marks a run failed as a whole (e.g. Mattermost not configured, attempts exhausted) without touching its counters. */
export async function failOrgSyncRun (db: Executor, run: { id: string, orgId: string, trigger: OrgSyncRun['trigger'] }, errorCode: string, error: string): Promise<void> {
  await db.insert(orgSyncRuns)
    .values({ id: run.id, orgId: run.orgId, trigger: run.trigger, status: 'failed', finishedAt: sql`now()`, errorCode, error })
    .onConflictDoUpdate({ target: orgSyncRuns.id, set: { status: 'failed', finishedAt: sql`now()`, errorCode, error } })
}

export const findOrgSyncRun = async (db: Executor, orgId: string, id: string): Promise<OrgSyncRun | undefined> =>
  (await db.select().from(orgSyncRuns).where(and(eq(orgSyncRuns.orgId, orgId), eq(orgSyncRuns.id, id))).limit(1))[0]

/** One page of an org's runs, newest first, and the total. */
export async function listOrgSyncRuns (db: Executor, orgId: string, { limit, offset }: { limit: number, offset: number }): Promise<{ items: OrgSyncRun[], total: number }> {
  const [items, [{ total }]] = await Promise.all([
    db.select().from(orgSyncRuns).where(eq(orgSyncRuns.orgId, orgId)).orderBy(desc(orgSyncRuns.createdAt), desc(orgSyncRuns.id)).limit(limit).offset(offset),
    db.select({ total: count() }).from(orgSyncRuns).where(eq(orgSyncRuns.orgId, orgId))
  ])
  return { items, total }
}

/** Deletes finished runs older than `days` days (the scheduled fan-out calls it). @returns how many. */
export async function pruneOrgSyncRuns (db: Executor, days: number): Promise<number> {
  const rows = await db.delete(orgSyncRuns)
    .where(and(ne(orgSyncRuns.status, 'running'), sql`${orgSyncRuns.createdAt} < now() - make_interval(days => ${days})`))
    .returning({ id: orgSyncRuns.id })
  return rows.length
}
