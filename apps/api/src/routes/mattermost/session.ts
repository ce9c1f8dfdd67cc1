/**
 * The session provisioning shared by `POST /api/v1/mattermost/session` and the magic link
 * (seeds/equa-mattermost-endpoints.md, "POST /api/v1/mattermost/session", Behavior 1–6).
 *
 * Warm path: no Mattermost call, no job; the state comes from the replica's session-state cache
 * (../../plugins/session-states.ts), else from one Postgres statement (`readSessionState`), and
 * its token is decrypted once per state read. Cold path (anything missing, the token marked
 * revoked, or expiring): an `ensure-membership` job — shared by concurrent requests through its
 * job id — then Postgres again.
 */
import type { FastifyInstance } from 'fastify'
import { findMattermostAccount, readSessionState, type SessionState } from '@parley/db'
import { mattermostPublicUrl } from '@parley/config'
import { mattermostJobId } from '@parley/queue'
import { Forbidden, GatewayTimeout, NotFound } from '../../errors.js'
import { ServerMisconfigured, runMattermostJob } from './jobs.js'
import { isReady } from '../../plugins/session-states.js'

export interface MattermostSession { token: string, baseUrl: string, teamName: string, mmUserId: string }

export function createSessionService (app: FastifyInstance) {
  const { db, config, queues, tokenCipher, sessionStates } = app
  const baseUrl = mattermostPublicUrl(config)
  const refreshMs = config.TOKEN_REFRESH_BEFORE_SECONDS * 1000

  /** @throws ServerMisconfigured (500) naming the missing setting. */
  function requireConfigured (): { baseUrl: string } {
    if (!config.MATTERMOST_URL || !baseUrl) throw new ServerMisconfigured('PARLEY_MATTERMOST_NOT_CONFIGURED', 'Mattermost is not configured: MATTERMOST_URL is not set')
    if (!tokenCipher) throw new ServerMisconfigured('PARLEY_MATTERMOST_NOT_CONFIGURED', 'Token encryption is not configured: TOKEN_ENCRYPTION_KEYS is not set')
    return { baseUrl }
  }

  /** Whether a token expiring at `expiresAt` is due for renewal (TOKEN_REFRESH_BEFORE_SECONDS). */
  const expiring = (expiresAt: Date | null) => expiresAt !== null && expiresAt.getTime() - Date.now() < refreshMs

  /** The stored token in clear, or undefined when it is missing, condemned, expiring or unreadable. */
  function usableToken (tokenEnc: string | null, invalidAt: Date | null, expiresAt: Date | null): string | undefined {
    if (!tokenEnc || invalidAt || !tokenCipher || expiring(expiresAt)) return undefined
    try { return tokenCipher.decrypt(tokenEnc) } catch { return undefined }
  }

  // The decrypted token of a session state, kept as long as the state object lives: for a state in
  // the session-state cache that is until the cache forgets it (any change, at most
  // SESSION_CACHE_TTL_MS). Memory gains no secret by it: this process holds the keys that decrypt it.
  // Postgres, Redis, logs and jobs still see only ciphertext. Expiry is checked on every request.
  const decrypted = new WeakMap<SessionState, string>()

  function ready (s: SessionState): MattermostSession | undefined {
    if (!s.mmUserId || !s.teamName || !s.teamMember || expiring(s.tokenExpiresAt)) return undefined
    let token = decrypted.get(s)
    if (token === undefined) {
      token = usableToken(s.tokenEnc, s.tokenInvalidAt, s.tokenExpiresAt)
      if (token !== undefined) decrypted.set(s, token)
    }
    return token ? { token, baseUrl: baseUrl!, teamName: s.teamName, mmUserId: s.mmUserId } : undefined
  }

  /**
   * Ensures user, token, team and team membership for `userId` in `orgId` and returns the session.
   * @throws NotFound (unknown org), Forbidden (not a member), ServerMisconfigured (500), and the
   *   job outcomes of `runMattermostJob` (409, 503 + Retry-After, 504).
   */
  async function sessionFor (user: { id: string, sessionVersion: number }, orgId: string): Promise<MattermostSession> {
    const userId = user.id
    let state = await readSessionState(db, userId, orgId, user.sessionVersion)
    if (!state.orgExists) throw new NotFound(`No organisation with id ${orgId}`)
    if (!state.isMember) throw new Forbidden(`You are not a member of organisation ${orgId}`)
    requireConfigured()
    const warm = ready(state)
    if (warm) return warm
    // Twice at most: a job that finished (and was removed) before we listened tells us nothing.
    for (let i = 0; i < 2; i++) {
      await runMattermostJob(queues.mattermost, queues.mattermostEvents, 'ensure-membership', { v: 1, orgId, userId },
        mattermostJobId.ensureMembership(orgId, userId), config.SESSION_WAIT_TIMEOUT_MS)
      state = await readSessionState(db, userId, orgId, user.sessionVersion)
      const session = ready(state)
      if (session) return session
    }
    throw new GatewayTimeout('Mattermost provisioning finished without a usable session; retry the request')
  }

  /** The user's account and token without a team (a user in no organisation). */
  async function accountFor (userId: string): Promise<{ token: string, mmUserId: string }> {
    requireConfigured()
    for (let i = 0; i < 3; i++) {
      const a = await findMattermostAccount(db, userId)
      const token = a && usableToken(a.tokenEnc, a.tokenInvalidAt, a.tokenExpiresAt)
      if (a && token) return { token, mmUserId: a.mmUserId }
      if (i < 2) await runMattermostJob(queues.mattermost, queues.mattermostEvents, 'ensure-user', { v: 1, userId }, mattermostJobId.ensureUser(userId), config.SESSION_WAIT_TIMEOUT_MS)
    }
    throw new GatewayTimeout('Mattermost provisioning finished without a usable token; retry the request')
  }

  /**
   * The warm session from the session-state cache or one statement, for a request whose session
   * JWT (`sub`, `sv`) was verified but whose user was not loaded: undefined unless the user is valid, a member, and everything is
   * provisioned — the caller then takes the full path (`requireUser`, `sessionFor`), which also
   * produces the errors.
   */
  async function warmSession (userId: string, sessionVersion: number, orgId: string): Promise<MattermostSession | undefined> {
    if (!baseUrl || !config.MATTERMOST_URL) return undefined
    const state = await sessionStates.read(userId, orgId, sessionVersion)
    return isReady(state) ? ready(state) : undefined
  }

  return { baseUrl, requireConfigured, sessionFor, accountFor, warmSession }
}
