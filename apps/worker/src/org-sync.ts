/**
 * Organisation → Mattermost team sync (issue 4; seeds/equa-mattermost-endpoints.md
 * "POST /api/v1/mattermost/sync-org/:orgId": adds missing members, removes members no longer in
 * the org). Diff, don't replay:
 *
 * 1. the team's members are read page by page (`GET /teams/{team_id}/members`, `per_page` 200 —
 *    the server's cap, PROTOCOL §2 — until a short page): ⌈members/200⌉ calls, +1 when the count
 *    is a multiple of 200;
 * 2. members without a Mattermost user are provisioned with the provisioning job's own logic
 *    (`Provisioner.ensureAccount`: user + personal access token), and an org without a team gets
 *    its team first (`Provisioner.ensureTeam`);
 * 3. missing members are added with `POST /teams/{team_id}/members/batch?graceful=true`, at most
 *    256 per call (`MaxAddMembersBatch`, PROTOCOL §8): one failing user does not fail the others;
 * 4. members who left are removed with `DELETE /teams/{team_id}/members/{user_id}` (Mattermost has
 *    no batch removal) — only users Parley provisioned (a `mattermost_accounts` row), never a bot
 *    or a system admin (checked with one `POST /users/ids` per 200 candidates);
 *    `ORG_SYNC_REMOVE_UNMANAGED` widens this to users Parley does not manage.
 *
 * A no-op sync of N members therefore costs ⌈N/200⌉(+1) calls; adding a new team's N members
 * 1 + ⌈N/256⌉. A full team (`TeamSettings.MaxUsersPerTeam`, PROTOCOL §1.2) is reported per member
 * and as the run's error, naming the setting.
 *
 * One sync per org at a time: a Postgres session advisory lock on a reserved connection (released
 * by Postgres if the worker dies). Crash-safe without double work: progress is written after each
 * Mattermost batch, and a resumed (or the next) run diffs again against what Mattermost holds,
 * so what the dead worker did is seen as done, not redone.
 */
import type { Logger } from 'pino'
import type { WorkerConfig } from '@parley/config'
import {
  findAccountsByMmUserIds, findMattermostTeam, findOrganization, finishOrgSyncRun, forgetTeamMemberships,
  listDesiredTeamMembers, pruneTeamMembershipCache, recordTeamMemberships, saveOrgSyncProgress, setOrgSyncPending, startOrgSyncRun,
  type Db, type OrgSyncFailure, type OrgSyncProgress, type OrgSyncRun
} from '@parley/db'
import { TEAM_BATCH_MAX, isMattermostError, isRetryable, type MattermostClient } from '@parley/mattermost'
import type { OrgSyncResult, OrgSyncTrigger } from '@parley/queue'
import { ProvisioningError, type Provisioner } from './mattermost-provisioning.js'

/** Page size of team member reads: Mattermost's maximum (larger values are silently cut to 200). */
export const MEMBERS_PER_PAGE = 200
/** Users per `POST /users/ids` when checking removal candidates for bots and system admins. */
const USERS_BY_IDS_MAX = 200
const TEAM_FULL = 'app.team.join_user_to_team.max_accounts.app_error'
/** Parallel removals / provisionings within one sync. */
const PARALLEL = 4
/** How long a run waits for another run of the same org before its job is retried later. */
const LOCK_WAIT_MS = 30_000

export interface OrgSyncDeps {
  config: Pick<WorkerConfig, 'MATTERMOST_URL' | 'ORG_SYNC_REMOVE_UNMANAGED'>
  db: Db
  logger: Logger
  /** Admin/bot client (needs to add and remove team members and read users). */
  admin?: MattermostClient
  provisioner: Provisioner
}

/** A member the plan would add (`mmUserId` null: the Mattermost user is provisioned first). */
export interface PlannedAdd { userId: string, mmUserId: string | null }
/** A team member the plan would remove (`userId` null for users Parley does not manage). */
export interface PlannedRemove { userId: string | null, mmUserId: string }
/** A team member the sync leaves alone although not an org member, and why. */
export interface KeptMember { userId: string | null, mmUserId: string, reason: 'unmanaged' | 'bot' | 'system_admin' }

export interface OrgSyncPlan {
  orgId: string
  team: { id: string, name: string } | null
  /** True when the org has no team yet: the sync would create it. */
  createTeam: boolean
  desired: number
  add: PlannedAdd[]
  remove: PlannedRemove[]
  kept: KeptMember[]
  unchanged: number
  mattermostCalls: number
}

/** The run could not proceed for a reason a retry will not fix (org gone, not configured, …). */
export class OrgSyncError extends Error {
  override name = 'OrgSyncError'
  constructor (readonly code: string, message: string) { super(message) }
}

/** Another run of the org holds the lock: the job is retried later. */
export class OrgSyncBusy extends Error {
  override name = 'OrgSyncBusy'
}

const teamFullMessage = (teamName: string, notAdded: number) =>
  `Mattermost team "${teamName}" is full: TeamSettings.MaxUsersPerTeam is reached, ${notAdded} member(s) could not be added; raise TeamSettings.MaxUsersPerTeam (System Console → Site Configuration → Users and Teams → Max Users Per Team) and sync again`

async function parallel<T> (items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) await fn(items[next++])
  }))
}

const errorId = (err: unknown) => isMattermostError(err) ? err.id : undefined
const describe = (err: unknown) => isMattermostError(err) ? `Mattermost answered ${err.status}${err.id ? ` ${err.id}` : ''} to ${err.endpoint}` : (err as Error).message

export function createOrgSync (deps: OrgSyncDeps) {
  const { db, logger, provisioner, config } = deps

  function admin (): MattermostClient {
    if (!config.MATTERMOST_URL || !deps.admin) throw new OrgSyncError('not_configured', 'Mattermost is not configured: MATTERMOST_URL and MATTERMOST_ADMIN_BOT_TOKEN (or MATTERMOST_BOT_TOKEN) must be set')
    return deps.admin
  }

  /** Every member of the team, reading pages of 200 until a short page. */
  async function readTeam (teamId: string, count: () => void): Promise<string[]> {
    const mm = admin()
    const ids: string[] = []
    for (let page = 0; ; page++) {
      count()
      const members = await mm.getTeamMembers(teamId, { page, perPage: MEMBERS_PER_PAGE })
      for (const m of members) if (!m.delete_at) ids.push(m.user_id)
      if (members.length < MEMBERS_PER_PAGE) return ids
    }
  }

  /**
   * Splits team members who are not (active) org members into those to remove and those kept:
   * only Parley-provisioned users are removed (all but bots and system admins with
   * `ORG_SYNC_REMOVE_UNMANAGED`); bots and system admins are always kept.
   */
  async function removals (extra: string[], count: () => void): Promise<{ remove: PlannedRemove[], kept: KeptMember[] }> {
    const kept: KeptMember[] = []
    if (extra.length === 0) return { remove: [], kept }
    const managed = new Map((await findAccountsByMmUserIds(db, extra)).map(a => [a.mmUserId, a.userId]))
    const candidates: string[] = []
    for (const mmUserId of extra) {
      if (managed.has(mmUserId) || config.ORG_SYNC_REMOVE_UNMANAGED) candidates.push(mmUserId)
      else kept.push({ userId: null, mmUserId, reason: 'unmanaged' })
    }
    const remove: PlannedRemove[] = []
    for (let i = 0; i < candidates.length; i += USERS_BY_IDS_MAX) {
      const chunk = candidates.slice(i, i + USERS_BY_IDS_MAX)
      count()
      const users = new Map((await admin().getUsersByIds(chunk)).map(u => [u.id, u]))
      for (const mmUserId of chunk) {
        const u = users.get(mmUserId)
        const userId = managed.get(mmUserId) ?? null
        if (u?.is_bot) kept.push({ userId, mmUserId, reason: 'bot' })
        else if (u && ` ${u.roles} `.includes(' system_admin ')) kept.push({ userId, mmUserId, reason: 'system_admin' })
        else remove.push({ userId, mmUserId }) // an unknown user is still removed from the team
      }
    }
    return { remove, kept }
  }

  /**
   * The dry run: what a sync would do now, changing nothing (no provisioning, no team creation).
   * @throws OrgSyncError `not_found` / `not_configured`; MattermostError when Mattermost fails.
   */
  async function plan (orgId: string): Promise<OrgSyncPlan> {
    if (!await findOrganization(db, orgId)) throw new OrgSyncError('not_found', `No organisation with id ${orgId}`)
    admin()
    let calls = 0
    const count = () => { calls++ }
    const team = await findMattermostTeam(db, orgId)
    const desired = await listDesiredTeamMembers(db, orgId)
    if (!team) {
      return { orgId, team: null, createTeam: true, desired: desired.length, add: desired, remove: [], kept: [], unchanged: 0, mattermostCalls: 0 }
    }
    const inTeam = new Set(await readTeam(team.mmTeamId, count))
    const wanted = new Set(desired.flatMap(d => d.mmUserId ? [d.mmUserId] : []))
    const add = desired.filter(d => !d.mmUserId || !inTeam.has(d.mmUserId))
    const { remove, kept } = await removals([...inTeam].filter(id => !wanted.has(id)), count)
    return { orgId, team: { id: team.mmTeamId, name: team.teamName }, createTeam: false, desired: desired.length, add, remove, kept, unchanged: desired.length - add.length, mattermostCalls: calls }
  }

  /**
   * Holds the org's sync lock (Postgres session advisory lock on a reserved connection) while
   * `fn` runs. @throws OrgSyncBusy when another run holds it for longer than `LOCK_WAIT_MS`.
   */
  async function withOrgLock<T> (orgId: string, fn: () => Promise<T>, waitMs = LOCK_WAIT_MS): Promise<T> {
    const conn = await db.$client.reserve()
    try {
      const end = Date.now() + waitMs
      for (;;) {
        const [row] = await conn<Array<{ locked: boolean }>>`select pg_try_advisory_lock(hashtextextended(${`org-sync:${orgId}`}, 0)) as locked`
        if (row.locked) break
        if (Date.now() > end) throw new OrgSyncBusy(`Another sync of organisation ${orgId} is running`)
        await new Promise(r => setTimeout(r, 100))
      }
      try {
        return await fn()
      } finally {
        await conn`select pg_advisory_unlock(hashtextextended(${`org-sync:${orgId}`}, 0))`.catch(() => {})
      }
    } finally {
      conn.release()
    }
  }

  /**
   * Runs (or resumes) sync run `runId` of `orgId`. Per-member failures are recorded and the rest
   * continue. @returns the finished run's figures.
   * @throws OrgSyncError (permanent: org unknown, not configured, team cannot be read),
   *   OrgSyncBusy, or a retryable MattermostError (outage, 5xx, 429 beyond the client's patience)
   *   after saving progress — the job's next attempt resumes the same run.
   */
  async function sync (job: { orgId: string, runId: string, trigger: OrgSyncTrigger, requestedBy?: string }): Promise<OrgSyncResult> {
    const { orgId, runId } = job
    if (!await findOrganization(db, orgId)) throw new OrgSyncError('not_found', `No organisation with id ${orgId}`)
    const mm = admin()
    return withOrgLock(orgId, async () => {
      const run: OrgSyncRun = await startOrgSyncRun(db, { id: runId, orgId, trigger: job.trigger, requestedBy: job.requestedBy })
      const resumed = run.attempts > 1
      // Work already done by an earlier attempt of this run counts (see `pending` below); its failures are tried again.
      const progress: OrgSyncProgress = { added: run.added, removed: run.removed, unchanged: 0, provisioned: run.provisioned, failures: [], mattermostCalls: run.mattermostCalls }
      const count = () => { progress.mattermostCalls++ }
      const fail = (f: OrgSyncFailure) => { progress.failures.push(f) }
      try {
        // An org without a team yet: the team is provisioned first (the provisioning job's logic).
        let team = await findMattermostTeam(db, orgId)
        if (!team) team = (await provisioner.ensureTeam(orgId)).team

        const desired = await listDesiredTeamMembers(db, orgId)
        const missing = desired.filter(d => !d.mmUserId)
        await parallel(missing, PARALLEL, async (d) => {
          try {
            d.mmUserId = (await provisioner.ensureAccount(d.userId)).account.mmUserId
            progress.provisioned++
          } catch (err) {
            if (isRetryable(err)) throw err
            const code = err instanceof ProvisioningError ? err.code : 'mattermost_rejected'
            fail({ userId: d.userId, mmUserId: null, action: 'provision', code, mattermostErrorId: errorId(err), message: err instanceof ProvisioningError ? err.message : describe(err) })
          }
        })

        const inTeam = new Set(await readTeam(team.mmTeamId, count))
        const byMm = new Map(desired.flatMap(d => d.mmUserId ? [[d.mmUserId, d.userId] as const] : []))
        const toAdd = [...byMm.keys()].filter(id => !inTeam.has(id))
        const alreadyIn = byMm.size - toAdd.length
        // Resumed: what an earlier attempt set out to do and Mattermost now shows done is this
        // run's work (its last batch may have landed without being recorded), not "unchanged".
        const before = resumed ? run.pending : null
        const doneAdds = before ? before.add.filter(id => byMm.has(id) && inTeam.has(id)).length : 0
        const doneRemoves = before ? before.remove.filter(id => !inTeam.has(id)).length : 0
        progress.added = Math.max(run.added, doneAdds)
        progress.removed = Math.max(run.removed, doneRemoves)
        progress.unchanged = Math.max(0, alreadyIn - progress.added)
        const { remove, kept } = await removals([...inTeam].filter(id => !byMm.has(id)), count)
        if (toAdd.length > 0 || remove.length > 0 || before) {
          const union = (a: string[] = [], b: string[]) => [...new Set([...a, ...b])]
          await setOrgSyncPending(db, runId, { add: union(before?.add, toAdd), remove: union(before?.remove, remove.map(r => r.mmUserId)) })
        }

        // Adds: one graceful batch call per 256; memberships cached as soon as Mattermost confirms them.
        let teamFull = 0
        for (let i = 0; i < toAdd.length; i += TEAM_BATCH_MAX) {
          const chunk = toAdd.slice(i, i + TEAM_BATCH_MAX)
          count()
          let results
          try {
            results = await mm.addTeamMembersBatch(team.mmTeamId, chunk)
          } catch (err) {
            if (isRetryable(err)) throw err
            for (const mmUserId of chunk) fail({ userId: byMm.get(mmUserId) ?? null, mmUserId, action: 'add', code: 'mattermost_rejected', mattermostErrorId: errorId(err), message: describe(err) })
            continue
          }
          const joined: Array<{ userId: string, mmUserId: string }> = []
          for (const r of results) {
            const userId = byMm.get(r.user_id) ?? null
            if (r.member && !r.error) {
              inTeam.add(r.user_id)
              if (userId) joined.push({ userId, mmUserId: r.user_id })
              continue
            }
            const id = r.error?.id
            if (id === TEAM_FULL) teamFull++
            fail({
              userId, mmUserId: r.user_id, action: 'add', code: id === TEAM_FULL ? 'team_full' : 'mattermost_rejected', mattermostErrorId: id,
              message: id === TEAM_FULL
                ? `Mattermost team "${team.teamName}" is full (TeamSettings.MaxUsersPerTeam)`
                : `Mattermost refused to add the user to team "${team.teamName}": ${id ?? 'unknown error'}${r.error?.message && r.error.message !== id ? ` (${r.error.message})` : ''}`
            })
          }
          progress.added += joined.length
          await recordTeamMemberships(db, orgId, team.mmTeamId, joined)
          await saveOrgSyncProgress(db, runId, progress)
        }

        // Removals: one call each (Mattermost has no batch removal).
        const gone: string[] = []
        await parallel(remove, PARALLEL, async (r) => {
          count()
          try {
            await mm.removeTeamMember(team.mmTeamId, r.mmUserId)
            progress.removed++
          } catch (err) {
            if (isMattermostError(err) && err.status === 404) { /* left meanwhile: nothing to do */ } else {
              if (isRetryable(err)) throw err
              fail({ userId: r.userId, mmUserId: r.mmUserId, action: 'remove', code: 'mattermost_rejected', mattermostErrorId: errorId(err), message: describe(err) })
              return
            }
          }
          inTeam.delete(r.mmUserId)
          if (r.userId) gone.push(r.userId)
        })
        await forgetTeamMemberships(db, orgId, gone)

        // The session warm path trusts the membership cache: make it match what Mattermost holds.
        const present = [...byMm].filter(([mmUserId]) => inTeam.has(mmUserId)).map(([mmUserId, userId]) => ({ userId, mmUserId }))
        await recordTeamMemberships(db, orgId, team.mmTeamId, present)
        await pruneTeamMembershipCache(db, orgId, [...inTeam])

        const finished = await finishOrgSyncRun(db, runId, {
          ...progress,
          status: progress.failures.length > 0 ? 'partial' : 'succeeded',
          synced: present.length,
          errorCode: teamFull > 0 ? 'team_full' : null,
          error: teamFull > 0 ? teamFullMessage(team.teamName, teamFull) : null
        })
        logger.info({ orgId, runId, trigger: job.trigger, added: finished.added, removed: finished.removed, unchanged: finished.unchanged, failed: finished.failed, kept: kept.length, calls: finished.mattermostCalls }, 'organisation synced to its Mattermost team')
        return { runId, status: finished.status as OrgSyncResult['status'], synced: finished.synced, added: finished.added, removed: finished.removed, unchanged: finished.unchanged, failed: finished.failed, errorCode: finished.errorCode }
      } catch (err) {
        await saveOrgSyncProgress(db, runId, progress).catch(() => {})
        throw err
      }
    })
  }

  return { plan, sync, withOrgLock }
}

export type OrgSync = ReturnType<typeof createOrgSync>
