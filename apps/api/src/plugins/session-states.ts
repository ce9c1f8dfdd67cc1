/**
 * An in-process cache of ready Mattermost session states, so the warm
 * `POST /api/v1/mattermost/session` (seeds/equa-mattermost-endpoints.md, "everything already
 * exists") costs no Postgres round trip. Postgres stays the source of truth:
 *
 * - Only ready states are kept: the user active at the JWT's session version, a member, the
 *   account, token, team and team membership present. Entries hold what Postgres holds (the
 *   token's ciphertext; the session service keeps the decrypted token beside a cached state only as
 *   long as the state lives here); the token's expiry is still checked per request.
 * - Triggers (drizzle/0006_session_state_notify.sql) notify channel `parley_session_state` after
 *   any statement that could make a ready state wrong, whichever process runs it (API replica,
 *   worker, CLI, psql). Every replica listens and empties its whole cache on a notification.
 * - The replica that makes such a change itself calls `invalidate()` at once, and so does a route
 *   that waited for a worker job that made one (token health found a revoked token, an org sync
 *   ran), so that read-after-write holds without waiting for the notification.
 * - Nothing is cached until LISTEN is established; the cache is emptied whenever postgres.js
 *   re-establishes it after a dropped connection (notifications sent meanwhile are lost). An entry
 *   lives at most `SESSION_CACHE_TTL_MS` (0 turns the cache off), which bounds that window.
 * - A read that started before an invalidation is not stored (a generation counter).
 *
 * The LISTEN connection is postgres.js's own (`sql.listen`), one per database handle, closed with it.
 */
import fp from 'fastify-plugin'
import { readSessionState, type SessionState } from '@parley/db'

export const SESSION_STATE_CHANNEL = 'parley_session_state'
const MAX_ENTRIES = 10_000

export interface SessionStates {
  /**
   * The session state of `userId` in `orgId` for a JWT at `sessionVersion`: from memory when a
   * ready one is cached, else from Postgres (`readSessionState`), stored when ready.
   */
  read: (userId: string, orgId: string, sessionVersion: number) => Promise<SessionState>
  /** Forgets every cached state; call after this process changed users, memberships or Mattermost mappings. */
  invalidate: () => void
}

declare module 'fastify' {
  interface FastifyInstance { sessionStates: SessionStates }
}

/**
 * Whether the warm session can answer from `s`: user valid, organisation and membership present,
 * account, token (not condemned), team and team membership present. The token's expiry is the
 * caller's to check, per request. Only such states are cached.
 */
export const isReady = (s: SessionState) => s.userValid && s.orgExists && s.isMember && s.teamMember &&
  s.mmUserId !== null && s.teamName !== null && s.tokenEnc !== null && s.tokenInvalidAt === null

export default fp(async (app) => {
  const { db, config } = app
  const ttlMs = config.SESSION_CACHE_TTL_MS
  const entries = new Map<string, { state: SessionState, sessionVersion: number, at: number }>()
  let generation = 0
  let listening = false

  const invalidate = () => { generation++; entries.clear() }

  async function read (userId: string, orgId: string, sessionVersion: number): Promise<SessionState> {
    const key = `${userId}/${orgId}`
    const hit = entries.get(key)
    if (hit && hit.sessionVersion === sessionVersion && Date.now() - hit.at < ttlMs) return hit.state
    const before = generation
    const state = await readSessionState(db, userId, orgId, sessionVersion)
    if (listening && generation === before && isReady(state)) {
      if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!)
      entries.set(key, { state, sessionVersion, at: Date.now() })
    }
    return state
  }

  app.decorate('sessionStates', { read, invalidate })
  if (ttlMs === 0) return

  const { unlisten } = await db.$client.listen(SESSION_STATE_CHANNEL, invalidate, () => { invalidate(); listening = true })
  app.addHook('onClose', async () => {
    listening = false
    invalidate()
    await unlisten().catch(() => {})
  })
}, { name: 'session-states', dependencies: ['deps'] })
