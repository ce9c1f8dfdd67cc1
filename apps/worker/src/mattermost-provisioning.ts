/**
 * Provisioning of Mattermost users, personal access tokens, teams, team memberships and project
 * channels — the worker side of seeds/equa-mattermost-endpoints.md ("POST /api/v1/mattermost/session",
 * steps 2–5) and seeds/personal-token-implementation.md ("Token Flow", "Token Usage by Method").
 *
 * Every operation is idempotent: it reads Postgres first, and only calls Mattermost for what is
 * missing. Per-subject work (one user's account and token; one org's team) runs under a Postgres
 * advisory transaction lock, so concurrent jobs for the same subject — from different job ids or
 * worker processes — create exactly one user, one token, one team. Anything created in Mattermost
 * but not yet recorded (a crash in between) is recognised and adopted on the next attempt:
 * users by username + email, teams by the `parley-org:{orgId}` marker in their description,
 * channels by name in the org's team; orphaned tokens from an interrupted issue are revoked.
 *
 * Token usage (seed table): the admin/bot client for users, teams, channels, team membership and
 * issuing tokens; the user's own token for joining a channel and for checking the token, with the
 * admin token as the fallback when the user has none.
 *
 * Tokens exist in plaintext only in this process's memory between Mattermost and the cipher:
 * never logged, never in a job result or error message.
 */
import { randomBytes } from 'node:crypto'
import { sql } from 'drizzle-orm'
import type { Logger } from 'pino'
import type { WorkerConfig } from '@parley/config'
import {
  advisoryKey, findMattermostAccount, findMattermostAccountByMmUserId, findMattermostChannel, findMattermostTeam,
  findMattermostTeamByName, findOrgMember, findOrganization, findUserById, hasTeamMembership, insertMattermostTeam, listExpiringTokens,
  markAccessTokenInvalid, markChannelArchived, markChannelCreated, recordTeamMembership, storeAccessToken,
  upsertMattermostAccount, type Db, type Executor, type MattermostAccount, type MattermostTeam, type TokenCipher, type User
} from '@parley/db'
import { isMattermostError, type MattermostClient, type MattermostError } from '@parley/mattermost'
import { channelNameProblem, formatFailure, mattermostUsernameFor, teamNameFromSlug, type ProvisioningErrorCode, type TokenHealth } from '@parley/queue'

/** A failure a retry cannot fix; `message` never contains a secret. */
export class ProvisioningError extends Error {
  override name = 'ProvisioningError'
  constructor (readonly code: ProvisioningErrorCode, message: string) { super(message) }
  /** The job's `failedReason` text. */
  get reason () { return formatFailure(this.code, this.message) }
}

export interface ProvisioningDeps {
  config: WorkerConfig
  db: Db
  logger: Logger
  /** Acts with the admin/bot token (system operations). */
  admin?: MattermostClient
  tokenCipher?: TokenCipher
}

export interface EnsureOptions {
  /** Update the Mattermost profile from the Parley user (sync-user). */
  sync?: boolean
  /** This is a retry of an attempt that may have issued a token before failing: revoke orphans. */
  retry?: boolean
}

export interface AccountOutcome {
  account: MattermostAccount
  userCreated: boolean
  userUpdated: boolean
  tokenIssued: boolean
}

const TEAM_MARKER = (orgId: string) => `parley-org:${orgId}`
const USERNAME_TAKEN = 'app.user.save.username_exists.app_error'
const EMAIL_TAKEN = 'app.user.save.email_exists.app_error'
const TEAM_TAKEN = ['app.team.save.existing.app_error', 'store.sql_team.save_team.existing.app_error']
const CHANNEL_TAKEN = 'store.sql_channel.save_channel.exists.app_error'
const TOKENS_DISABLED = 'app.user_access_token.disabled'
const TEAM_FULL = 'app.team.join_user_to_team.max_accounts.app_error'
const MAX_TEAM_NAME_TRIES = 20

const is = (err: unknown, status: number, ...ids: string[]): err is MattermostError =>
  isMattermostError(err) && err.status === status && (ids.length === 0 || ids.includes(err.id ?? ''))
const runes = (s: string, max: number) => [...s].slice(0, max).join('')
/** A password Mattermost's complexity rules accept; never stored (users sign in with tokens). */
const throwawayPassword = () => `${randomBytes(24).toString('base64url')}Aa1!`

export function createProvisioner (deps: ProvisioningDeps) {
  const { config, db, logger } = deps

  function admin (): MattermostClient {
    if (!config.MATTERMOST_URL) throw new ProvisioningError('not_configured', 'Mattermost is not configured: MATTERMOST_URL is not set')
    if (!deps.admin) throw new ProvisioningError('not_configured', 'Mattermost is not configured: MATTERMOST_ADMIN_BOT_TOKEN (or MATTERMOST_BOT_TOKEN) is not set')
    return deps.admin
  }
  function cipher (): TokenCipher {
    if (!deps.tokenCipher) throw new ProvisioningError('not_configured', 'Token encryption is not configured: TOKEN_ENCRYPTION_KEYS is not set')
    return deps.tokenCipher
  }

  /** Runs `fn` in a transaction holding the advisory lock of `subject` (released at commit). */
  const withLock = <T>(subject: string, fn: (tx: Executor) => Promise<T>): Promise<T> =>
    db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${advisoryKey(subject)})`)
      return fn(tx)
    })

  /** The profile Mattermost should hold for `user`. */
  function desiredProfile (user: User) {
    const username = mattermostUsernameFor(user.username)
    const email = (user.email ?? `${username}@${config.MATTERMOST_USER_EMAIL_DOMAIN}`).toLowerCase()
    return { username, email, first_name: runes(user.displayName, 64) }
  }

  /** Does the stored token need (re-)issuing: none, marked invalid, unreadable, or expiring soon. */
  function needsToken (a: MattermostAccount | undefined): boolean {
    if (!a?.tokenEnc || a.tokenInvalidAt) return true
    if (a.tokenExpiresAt && a.tokenExpiresAt.getTime() - Date.now() < config.TOKEN_REFRESH_BEFORE_SECONDS * 1000) return true
    if (deps.tokenCipher && a.tokenKeyId && a.tokenKeyId !== deps.tokenCipher.currentKeyId) {
      try { deps.tokenCipher.decrypt(a.tokenEnc) } catch { return true } // key withdrawn: only a new token helps
    }
    return false
  }

  /** Creates the Mattermost user, or adopts one a crashed attempt created (same username and email). */
  async function createOrAdoptUser (tx: Executor, user: User): Promise<{ id: string, username: string, email: string }> {
    const mm = admin()
    const want = desiredProfile(user)
    try {
      const created = await mm.createUser({ ...want, password: throwawayPassword() })
      return { id: created.id, username: created.username, email: created.email }
    } catch (err) {
      if (is(err, 400, USERNAME_TAKEN)) {
        const existing = await mm.getUserByUsername(want.username)
        const mappedTo = await findMattermostAccountByMmUserId(tx, existing.id)
        if (existing.email.toLowerCase() === want.email && (!mappedTo || mappedTo.userId === user.id)) {
          logger.info({ userId: user.id, mmUserId: existing.id }, 'adopting existing Mattermost user with our username and email')
          return { id: existing.id, username: existing.username, email: existing.email }
        }
        throw new ProvisioningError('username_taken', `Mattermost username "${want.username}" is taken by another Mattermost user; change the username`)
      }
      if (is(err, 400, EMAIL_TAKEN)) throw new ProvisioningError('email_taken', `Mattermost already has a user with the email of this user (${want.username}); change the email`)
      if (is(err, 400)) throw new ProvisioningError('invalid_name', `Mattermost rejected user "${want.username}": ${err.id ?? err.message}`)
      throw err
    }
  }

  /** Issues a token for the account's Mattermost user and stores it encrypted. */
  async function issueToken (tx: Executor, account: MattermostAccount, retry: boolean): Promise<MattermostAccount> {
    const mm = admin()
    const c = cipher()
    let issued
    try {
      issued = await mm.createUserAccessToken(account.mmUserId, config.MATTERMOST_TOKEN_DESCRIPTION)
    } catch (err) {
      if (is(err, 501, TOKENS_DISABLED) || is(err, 501)) {
        throw new ProvisioningError('tokens_disabled', 'Mattermost has personal access tokens disabled: enable ServiceSettings.EnableUserAccessTokens (System Console → Integrations → Integration Management → Enable Personal Access Tokens)')
      }
      if (is(err, 403)) throw new ProvisioningError('mattermost_rejected', 'The Mattermost admin token may not create personal access tokens for other users (needs create_user_access_token and edit_other_users)')
      throw err
    }
    const expiresAtMs = (issued as { expires_at?: number }).expires_at
    const expiresAt = expiresAtMs && expiresAtMs > 0 ? new Date(expiresAtMs) : null
    await storeAccessToken(tx, account.userId, { tokenEnc: c.encrypt(issued.token), tokenKeyId: c.currentKeyId, tokenId: issued.id, expiresAt })
    // The previous token (expiring, or found revoked) is no longer used: revoke it, best effort.
    if (account.tokenId && account.tokenId !== issued.id) await mm.revokeUserAccessToken(account.tokenId).catch(() => {})
    if (retry) {
      // An earlier attempt may have issued a token and died before storing it: revoke such orphans.
      const tokens = await mm.getUserAccessTokens(account.mmUserId, { perPage: 200 }).catch(() => [])
      for (const t of tokens) {
        if (t.id !== issued.id && t.description === config.MATTERMOST_TOKEN_DESCRIPTION) await mm.revokeUserAccessToken(t.id).catch(() => {})
      }
    }
    logger.info({ userId: account.userId, mmUserId: account.mmUserId, tokenId: issued.id, keyId: c.currentKeyId }, 'personal access token issued')
    return (await findMattermostAccount(tx, account.userId))!
  }

  /**
   * ensureUser + issueSessionToken of the seed: the user's Mattermost account exists, is mapped,
   * (with `sync`) carries the Parley profile, and has a usable token.
   * @throws ProvisioningError (`not_found`, `username_taken`, `email_taken`, `tokens_disabled`, …) or MattermostError.
   */
  async function ensureAccount (userId: string, opts: EnsureOptions = {}): Promise<AccountOutcome> {
    const known = await findMattermostAccount(db, userId)
    if (known && !opts.sync && !needsToken(known)) return { account: known, userCreated: false, userUpdated: false, tokenIssued: false }
    admin()
    cipher()
    const outcome = await withLock(`mm-user:${userId}`, async (tx) => {
      const user = await findUserById(tx, userId)
      if (!user) throw new ProvisioningError('not_found', `No user with id ${userId}`)
      let account = await findMattermostAccount(tx, userId)
      let userCreated = false
      let userUpdated = false
      if (!account) {
        const mmUser = await createOrAdoptUser(tx, user)
        account = await upsertMattermostAccount(tx, { userId, mmUserId: mmUser.id, mmUsername: mmUser.username, mmEmail: mmUser.email.toLowerCase(), syncedAt: new Date() })
        userCreated = true
      } else if (opts.sync && (!account.syncedAt || account.syncedAt < user.updatedAt)) {
        const want = desiredProfile(user)
        try {
          const patched = await admin().patchUser(account.mmUserId, want)
          account = await upsertMattermostAccount(tx, { userId, mmUserId: account.mmUserId, mmUsername: patched.username, mmEmail: patched.email.toLowerCase(), syncedAt: new Date() })
          userUpdated = true
        } catch (err) {
          if (is(err, 400, USERNAME_TAKEN)) throw new ProvisioningError('username_taken', `Mattermost username "${want.username}" is taken by another Mattermost user; change the username`)
          if (is(err, 400, EMAIL_TAKEN)) throw new ProvisioningError('email_taken', `Mattermost already has another user with this email (user ${want.username})`)
          if (is(err, 404)) throw new ProvisioningError('not_found', `Mattermost user ${account.mmUserId} no longer exists`)
          throw err
        }
      }
      let tokenIssued = false
      let tokenError: unknown
      if (needsToken(account)) {
        // A failed issue must not roll back the user mapping made above: keep it, fail after commit.
        try {
          account = await issueToken(tx, account, opts.retry === true)
          tokenIssued = true
        } catch (err) {
          tokenError = err
        }
      }
      return { account, userCreated, userUpdated, tokenIssued, tokenError }
    })
    if (outcome.tokenError !== undefined) throw outcome.tokenError
    return { account: outcome.account, userCreated: outcome.userCreated, userUpdated: outcome.userUpdated, tokenIssued: outcome.tokenIssued }
  }

  /**
   * ensureTeam of the seed: the org's team exists (invite-only, named from the slug, suffixed when
   * the name belongs to someone else) with the configured default channels, and is mapped.
   */
  async function ensureTeam (orgId: string): Promise<{ team: MattermostTeam, created: boolean }> {
    const known = await findMattermostTeam(db, orgId)
    if (known) return { team: known, created: false }
    const mm = admin()
    return withLock(`mm-team:${orgId}`, async (tx) => {
      const again = await findMattermostTeam(tx, orgId)
      if (again) return { team: again, created: false }
      const org = await findOrganization(tx, orgId)
      if (!org) throw new ProvisioningError('not_found', `No organisation with id ${orgId}`)
      let mmTeam: { id: string, name: string } | undefined
      for (let i = 0; i < MAX_TEAM_NAME_TRIES && !mmTeam; i++) {
        const name = teamNameFromSlug(org.slug, i === 0 ? undefined : i + 1)
        if (await findMattermostTeamByName(tx, name)) continue // another org of ours has it
        try {
          mmTeam = await mm.createTeam({ name, display_name: runes(org.name, 64), type: 'I', description: TEAM_MARKER(orgId) })
        } catch (err) {
          if (!is(err, 400, ...TEAM_TAKEN)) {
            if (is(err, 400)) throw new ProvisioningError('invalid_name', `Mattermost rejected team "${name}": ${err.id ?? err.message}`)
            throw err
          }
          const existing = await mm.getTeamByName(name).catch(() => undefined)
          if (existing?.description === TEAM_MARKER(orgId)) mmTeam = existing // ours, from a crashed attempt
        }
      }
      if (!mmTeam) throw new ProvisioningError('invalid_name', `No free Mattermost team name derived from slug "${org.slug}" after ${MAX_TEAM_NAME_TRIES} tries`)
      for (const channel of defaultChannels()) {
        await mm.createChannel({ team_id: mmTeam.id, name: channel, display_name: channel, type: 'O' }).catch((err) => {
          if (!is(err, 400, CHANNEL_TAKEN)) throw err
        })
      }
      const team = await insertMattermostTeam(tx, { orgId, mmTeamId: mmTeam.id, teamName: mmTeam.name })
      logger.info({ orgId, mmTeamId: team.mmTeamId, teamName: team.teamName }, 'Mattermost team ensured')
      return { team, created: true }
    })
  }

  function defaultChannels (): string[] {
    return config.MATTERMOST_TEAM_DEFAULT_CHANNELS.split(',').map(s => s.trim()).filter(Boolean)
      .filter(name => name !== 'town-square' && name !== 'off-topic' && !channelNameProblem(name))
  }

  /**
   * The whole session provisioning (seed steps 2–5): account and token, team, team membership.
   * @throws ProvisioningError `not_member` when the user is not (any more) in the organisation.
   */
  async function ensureMembership (orgId: string, userId: string, opts: EnsureOptions = {}) {
    if (!await findOrgMember(db, orgId, userId)) {
      if (!await findOrganization(db, orgId)) throw new ProvisioningError('not_found', `No organisation with id ${orgId}`)
      throw new ProvisioningError('not_member', `User ${userId} is not a member of organisation ${orgId}`)
    }
    const [acc, t] = await Promise.all([ensureAccount(userId, opts), ensureTeam(orgId)])
    let joined = false
    if (!await hasTeamMembership(db, orgId, userId)) {
      try {
        await admin().addTeamMember(t.team.mmTeamId, acc.account.mmUserId)
      } catch (err) {
        if (is(err, 400, TEAM_FULL)) throw new ProvisioningError('team_full', `Mattermost team "${t.team.teamName}" is full (TeamSettings.MaxUsersPerTeam)`)
        throw err
      }
      await recordTeamMembership(db, { orgId, userId, mmTeamId: t.team.mmTeamId, mmUserId: acc.account.mmUserId })
      joined = true
    }
    return {
      mmUserId: acc.account.mmUserId,
      teamName: t.team.teamName,
      mmTeamId: t.team.mmTeamId,
      created: { user: acc.userCreated, token: acc.tokenIssued, team: t.created, membership: joined }
    }
  }

  /** createChannelForProject (admin token): creates or adopts the channel of a pending row. */
  async function createChannel (channelId: string) {
    const row = await findMattermostChannel(db, channelId)
    if (!row) throw new ProvisioningError('not_found', `No channel with id ${channelId}`)
    if (row.status === 'archived') throw new ProvisioningError('channel_archived', `Channel ${row.name} is archived`)
    if (row.status === 'active' && row.mmChannelId) return { mmChannelId: row.mmChannelId, created: false }
    const { team } = await ensureTeam(row.orgId)
    const mm = admin()
    let mmChannelId: string
    let created = true
    try {
      mmChannelId = (await mm.createChannel({ team_id: team.mmTeamId, name: row.name, display_name: runes(row.displayName, 64), type: row.type })).id
    } catch (err) {
      if (is(err, 400, CHANNEL_TAKEN)) {
        mmChannelId = (await mm.getChannelByName(team.mmTeamId, row.name)).id // a crashed attempt's, or made by hand in the team
        created = false
      } else if (is(err, 400)) {
        throw new ProvisioningError('invalid_name', `Mattermost rejected channel "${row.name}": ${err.id ?? err.message}`)
      } else throw err
    }
    await markChannelCreated(db, channelId, mmChannelId)
    return { mmChannelId, created }
  }

  /** archiveChannelForProject (admin token). Archiving twice is fine. */
  async function archiveChannel (channelId: string) {
    const row = await findMattermostChannel(db, channelId)
    if (!row) throw new ProvisioningError('not_found', `No channel with id ${channelId}`)
    if (row.status !== 'archived' && row.mmChannelId) {
      await admin().deleteChannel(row.mmChannelId).catch((err) => {
        if (!is(err, 404) && !is(err, 400)) throw err // 404 gone, 400 already archived
      })
    }
    await markChannelArchived(db, channelId)
    return { archived: true }
  }

  /**
   * addUserToChannel: the user joins with their own token (seed: "User joining their own channel");
   * the admin token stands in when the user has no token, when Mattermost rejects the user's token
   * (401: it is marked invalid for re-issue), or when the user may not add themselves (403: a
   * private channel needs a channel admin).
   */
  async function addChannelMember (channelId: string, userId: string, opts: EnsureOptions = {}) {
    const row = await findMattermostChannel(db, channelId)
    if (!row) throw new ProvisioningError('not_found', `No channel with id ${channelId}`)
    if (row.status === 'archived') throw new ProvisioningError('channel_archived', `Channel ${row.name} is archived`)
    if (!row.mmChannelId) await createChannel(channelId)
    const mmChannelId = row.mmChannelId ?? (await findMattermostChannel(db, channelId))!.mmChannelId!
    const membership = await ensureMembership(row.orgId, userId, opts)
    const account = (await findMattermostAccount(db, userId))!
    const userToken = readToken(account)
    let usedToken: 'user' | 'admin' = userToken ? 'user' : 'admin'
    try {
      await admin().addChannelMember(mmChannelId, membership.mmUserId, userToken ? { token: userToken } : undefined)
    } catch (err) {
      if (!userToken || !(is(err, 401) || is(err, 403))) throw err
      if (is(err, 401) && account.tokenId) await markAccessTokenInvalid(db, userId, account.tokenId)
      usedToken = 'admin'
      await admin().addChannelMember(mmChannelId, membership.mmUserId)
    }
    return { mmChannelId, mmUserId: membership.mmUserId, usedToken }
  }

  /** Decrypts the stored token, or undefined when there is none usable. */
  function readToken (account: MattermostAccount | undefined): string | undefined {
    if (!account?.tokenEnc || account.tokenInvalidAt || !deps.tokenCipher) return undefined
    try { return deps.tokenCipher.decrypt(account.tokenEnc) } catch { return undefined }
  }

  /**
   * Token health (seed "GET /api/v1/mattermost/token-health"): `GET /users/me` with the user's own
   * token. A 401 means revoked (marked for re-issue at the next session request).
   */
  async function tokenHealth (userId: string): Promise<TokenHealth> {
    const account = await findMattermostAccount(db, userId)
    if (!account?.tokenEnc) return { valid: false, reason: 'no_token' }
    if (account.tokenInvalidAt) return { valid: false, reason: 'revoked' }
    const token = readToken(account)
    if (!token) return { valid: false, reason: 'check_failed' }
    try {
      const me = await admin().getMe({ token })
      return me.id === account.mmUserId ? { valid: true } : { valid: false, reason: 'check_failed' }
    } catch (err) {
      if (is(err, 401)) {
        if (account.tokenId) await markAccessTokenInvalid(db, userId, account.tokenId)
        return { valid: false, reason: 'revoked' }
      }
      if (err instanceof ProvisioningError) throw err
      logger.warn({ userId, status: isMattermostError(err) ? err.status : undefined }, 'token health check failed')
      return { valid: false, reason: 'check_failed' }
    }
  }

  /**
   * Token sweep (scheduled): re-issues, ahead of time, tokens that expire within
   * TOKEN_REFRESH_BEFORE_SECONDS (a server enforcing a maximum token lifetime), `limit` per run.
   * @returns how many were renewed and how many failed (ids only).
   */
  async function renewExpiringTokens (limit = 500): Promise<{ renewed: number, failed: number }> {
    const userIds = await listExpiringTokens(db, config.TOKEN_REFRESH_BEFORE_SECONDS, limit)
    let renewed = 0
    let failed = 0
    for (const userId of userIds) {
      try {
        if ((await ensureAccount(userId)).tokenIssued) renewed++
      } catch (err) {
        failed++
        logger.warn({ userId, reason: err instanceof ProvisioningError ? err.reason : (err as Error).message }, 'token renewal failed')
      }
    }
    if (userIds.length > 0) logger.info({ renewed, failed }, 'token sweep done')
    return { renewed, failed }
  }

  return { ensureAccount, ensureTeam, ensureMembership, createChannel, archiveChannel, addChannelMember, tokenHealth, renewExpiringTokens, readToken, needsToken }
}

export type Provisioner = ReturnType<typeof createProvisioner>
