/**
 * Mattermost identity mappings and personal access tokens in Postgres
 * (seeds/equa-mattermost-endpoints.md; seeds/personal-token-implementation.md "Database Schema").
 * Tokens are stored only as token-cipher ciphertext; these functions never see plaintext.
 */
import { and, asc, eq, gt, isNull, ne, or, sql } from 'drizzle-orm'
import type { Executor } from '../client.js'
import { mattermostAccounts, type MattermostAccount } from '../schema/mattermost-accounts.js'
import { mattermostTeamMembers, mattermostTeams, type MattermostTeam } from '../schema/mattermost-teams.js'
import { mattermostChannels, type MattermostChannel } from '../schema/mattermost-channels.js'
import { orgMembers } from '../schema/organizations.js'
import { users, type User } from '../schema/users.js'

/** Everything `POST /api/v1/mattermost/session` needs, read in one statement. */
export interface SessionState {
  /** The user exists, is active, not deleted, and still at `sessionVersion`. */
  userValid: boolean
  orgExists: boolean
  isMember: boolean
  mmUserId: string | null
  tokenEnc: string | null
  tokenExpiresAt: Date | null
  tokenInvalidAt: Date | null
  teamName: string | null
  mmTeamId: string | null
  teamMember: boolean
}

interface SessionRow {
  user_valid: boolean, org_exists: boolean, is_member: boolean, mm_user_id: string | null, token_enc: string | null,
  token_expires_at: string | Date | null, token_invalid_at: string | Date | null, team_name: string | null, mm_team_id: string | null, team_member: boolean
}

/**
 * Reads the user's validity (active, not deleted, `sessionVersion` current), org existence,
 * membership, the account and token, the team and the team membership in one statement — the hot
 * path of the warm session, prepared once per connection like every statement from `createDb`.
 */
export async function readSessionState (db: Executor, userId: string, orgId: string, sessionVersion: number): Promise<SessionState> {
  const rows = await db.execute<Record<string, unknown> & SessionRow>(sql`
    select exists(select 1 from users where id = ${userId} and status = 'active' and deleted_at is null and session_version = ${sessionVersion}) as user_valid,
      exists(select 1 from organizations where id = ${orgId}) as org_exists,
      exists(select 1 from org_members where org_id = ${orgId} and user_id = ${userId}) as is_member,
      a.mm_user_id, a.token_enc, a.token_expires_at, a.token_invalid_at, t.team_name, t.mm_team_id,
      exists(select 1 from mattermost_team_members where org_id = ${orgId} and user_id = ${userId}) as team_member
    from (select 1) one
    left join mattermost_accounts a on a.user_id = ${userId}
    left join mattermost_teams t on t.org_id = ${orgId}`)
  const r = rows[0]
  return {
    userValid: r.user_valid,
    orgExists: r.org_exists,
    isMember: r.is_member,
    mmUserId: r.mm_user_id,
    tokenEnc: r.token_enc,
    tokenExpiresAt: r.token_expires_at ? new Date(r.token_expires_at) : null,
    tokenInvalidAt: r.token_invalid_at ? new Date(r.token_invalid_at) : null,
    teamName: r.team_name,
    mmTeamId: r.mm_team_id,
    teamMember: r.team_member
  }
}

export const findMattermostAccount = async (db: Executor, userId: string): Promise<MattermostAccount | undefined> =>
  (await db.select().from(mattermostAccounts).where(eq(mattermostAccounts.userId, userId)).limit(1))[0]

export const findMattermostAccountByMmUserId = async (db: Executor, mmUserId: string): Promise<MattermostAccount | undefined> =>
  (await db.select().from(mattermostAccounts).where(eq(mattermostAccounts.mmUserId, mmUserId)).limit(1))[0]

/** Records the Mattermost user of `userId` (idempotent; an existing mapping is updated). */
export async function upsertMattermostAccount (db: Executor, row: { userId: string, mmUserId: string, mmUsername: string, mmEmail: string, syncedAt?: Date }): Promise<MattermostAccount> {
  const [account] = await db.insert(mattermostAccounts).values(row)
    .onConflictDoUpdate({ target: mattermostAccounts.userId, set: { mmUserId: row.mmUserId, mmUsername: row.mmUsername, mmEmail: row.mmEmail, ...(row.syncedAt ? { syncedAt: row.syncedAt } : {}) } })
    .returning()
  return account
}

/** Stores a freshly issued token (ciphertext) and clears any invalid mark. */
export async function storeAccessToken (db: Executor, userId: string, t: { tokenEnc: string, tokenKeyId: string, tokenId: string, expiresAt: Date | null }): Promise<void> {
  await db.update(mattermostAccounts)
    .set({ tokenEnc: t.tokenEnc, tokenKeyId: t.tokenKeyId, tokenId: t.tokenId, tokenExpiresAt: t.expiresAt, tokenIssuedAt: sql`now()`, tokenInvalidAt: null })
    .where(eq(mattermostAccounts.userId, userId))
}

/**
 * Marks the stored token invalid (Mattermost answered 401 to it) — only if it is still the token
 * `tokenId`, so a token issued meanwhile is not condemned. @returns whether a row changed.
 */
export async function markAccessTokenInvalid (db: Executor, userId: string, tokenId: string): Promise<boolean> {
  const rows = await db.update(mattermostAccounts).set({ tokenInvalidAt: sql`now()` })
    .where(and(eq(mattermostAccounts.userId, userId), eq(mattermostAccounts.tokenId, tokenId), isNull(mattermostAccounts.tokenInvalidAt)))
    .returning({ userId: mattermostAccounts.userId })
  return rows.length === 1
}

/** Accounts whose token was written with a key other than `keyId`, in user-id order after `afterUserId`. */
export const listTokensNotOnKey = (db: Executor, keyId: string, { afterUserId, limit }: { afterUserId?: string, limit: number }) =>
  db.select({ userId: mattermostAccounts.userId, tokenEnc: mattermostAccounts.tokenEnc, tokenKeyId: mattermostAccounts.tokenKeyId })
    .from(mattermostAccounts)
    .where(and(sql`${mattermostAccounts.tokenEnc} is not null`, or(isNull(mattermostAccounts.tokenKeyId), ne(mattermostAccounts.tokenKeyId, keyId)),
      afterUserId ? gt(mattermostAccounts.userId, afterUserId) : undefined))
    .orderBy(asc(mattermostAccounts.userId)).limit(limit)

/** Replaces a ciphertext if it is still `oldEnc` (a concurrent re-issue wins). @returns whether it changed. */
export async function replaceTokenCiphertext (db: Executor, userId: string, oldEnc: string, newEnc: string, keyId: string): Promise<boolean> {
  const rows = await db.update(mattermostAccounts).set({ tokenEnc: newEnc, tokenKeyId: keyId })
    .where(and(eq(mattermostAccounts.userId, userId), eq(mattermostAccounts.tokenEnc, oldEnc))).returning({ userId: mattermostAccounts.userId })
  return rows.length === 1
}

/**
 * Users to synchronise with Mattermost, in id order after `afterId`: active, not deleted;
 * `missing` keeps only those without a usable token; `orgId` limits to one organisation's members.
 */
export async function listUsersToSync (db: Executor, { mode, orgId, afterId, limit }: { mode: 'all' | 'missing', orgId?: string, afterId?: string, limit: number }): Promise<User[]> {
  const rows = await db.select({ user: users }).from(users)
    .leftJoin(mattermostAccounts, eq(mattermostAccounts.userId, users.id))
    .where(and(
      eq(users.status, 'active'), isNull(users.deletedAt),
      afterId ? gt(users.id, afterId) : undefined,
      orgId ? sql`exists (select 1 from ${orgMembers} where ${orgMembers.orgId} = ${orgId} and ${orgMembers.userId} = ${users.id})` : undefined,
      mode === 'missing' ? or(isNull(mattermostAccounts.tokenEnc), sql`${mattermostAccounts.tokenInvalidAt} is not null`) : undefined))
    .orderBy(asc(users.id)).limit(limit)
  return rows.map(r => r.user)
}

/** Users of active accounts whose token expires within `withinSeconds` (oldest expiry first). */
export async function listExpiringTokens (db: Executor, withinSeconds: number, limit: number): Promise<string[]> {
  const rows = await db.select({ userId: mattermostAccounts.userId }).from(mattermostAccounts)
    .innerJoin(users, eq(users.id, mattermostAccounts.userId))
    .where(and(sql`${mattermostAccounts.tokenExpiresAt} < now() + make_interval(secs => ${withinSeconds})`,
      isNull(mattermostAccounts.tokenInvalidAt), eq(users.status, 'active'), isNull(users.deletedAt)))
    .orderBy(asc(mattermostAccounts.tokenExpiresAt)).limit(limit)
  return rows.map(r => r.userId)
}

// --- teams ---

export const findMattermostTeam = async (db: Executor, orgId: string): Promise<MattermostTeam | undefined> =>
  (await db.select().from(mattermostTeams).where(eq(mattermostTeams.orgId, orgId)).limit(1))[0]

export const findMattermostTeamByMmTeamId = async (db: Executor, mmTeamId: string): Promise<MattermostTeam | undefined> =>
  (await db.select().from(mattermostTeams).where(eq(mattermostTeams.mmTeamId, mmTeamId)).limit(1))[0]

export const findMattermostTeamByName = async (db: Executor, teamName: string): Promise<MattermostTeam | undefined> =>
  (await db.select().from(mattermostTeams).where(eq(mattermostTeams.teamName, teamName)).limit(1))[0]

export async function insertMattermostTeam (db: Executor, row: { orgId: string, mmTeamId: string, teamName: string }): Promise<MattermostTeam> {
  const inserted = (await db.insert(mattermostTeams).values(row).onConflictDoNothing({ target: mattermostTeams.orgId }).returning())[0]
  return inserted ?? (await findMattermostTeam(db, row.orgId))!
}

/** Records that `userId` is a member of the org's team in Mattermost (idempotent). */
export async function recordTeamMembership (db: Executor, row: { orgId: string, userId: string, mmTeamId: string, mmUserId: string }): Promise<void> {
  await db.insert(mattermostTeamMembers).values(row).onConflictDoNothing()
}

export const hasTeamMembership = async (db: Executor, orgId: string, userId: string): Promise<boolean> =>
  (await db.select({ one: sql`1` }).from(mattermostTeamMembers).where(and(eq(mattermostTeamMembers.orgId, orgId), eq(mattermostTeamMembers.userId, userId))).limit(1)).length === 1

// --- channels ---

/** Inserts a pending channel row. @returns undefined when the org already has a channel of that name. */
export const insertMattermostChannel = async (db: Executor, row: { orgId: string, name: string, displayName: string, type: 'O' | 'P' }): Promise<MattermostChannel | undefined> =>
  (await db.insert(mattermostChannels).values(row).onConflictDoNothing().returning())[0]

export const findMattermostChannel = async (db: Executor, id: string): Promise<MattermostChannel | undefined> =>
  (await db.select().from(mattermostChannels).where(eq(mattermostChannels.id, id)).limit(1))[0]

export const findMattermostChannelByName = async (db: Executor, orgId: string, name: string): Promise<MattermostChannel | undefined> =>
  (await db.select().from(mattermostChannels).where(and(eq(mattermostChannels.orgId, orgId), eq(mattermostChannels.name, name))).limit(1))[0]

export async function markChannelCreated (db: Executor, id: string, mmChannelId: string): Promise<void> {
  await db.update(mattermostChannels).set({ mmChannelId, status: 'active' }).where(and(eq(mattermostChannels.id, id), eq(mattermostChannels.status, 'pending')))
}

export async function markChannelArchived (db: Executor, id: string): Promise<void> {
  await db.update(mattermostChannels).set({ status: 'archived', archivedAt: sql`coalesce(${mattermostChannels.archivedAt}, now())` }).where(eq(mattermostChannels.id, id))
}

/** Session-level advisory lock key for a provisioning subject (`mm-user:{id}`, `mm-team:{orgId}`). */
export const advisoryKey = (subject: string) => sql`hashtextextended(${subject}, 0)`

/** Deletes a channel row that never got its Mattermost channel (its name was refused). */
export async function deletePendingChannel (db: Executor, id: string): Promise<void> {
  await db.delete(mattermostChannels).where(and(eq(mattermostChannels.id, id), eq(mattermostChannels.status, 'pending')))
}

/** The first organisation of `userId` that has a Mattermost team (for the magic link), else the first one. */
export async function firstOrgOfUser (db: Executor, userId: string): Promise<string | undefined> {
  const rows = await db.execute<{ org_id: string }>(sql`
    select m.org_id from org_members m left join mattermost_teams t on t.org_id = m.org_id
    where m.user_id = ${userId} order by (t.org_id is null), m.created_at limit 1`)
  return rows[0]?.org_id
}
