/**
 * Presence (seeds/secure-chat-server-plugin-api.md, "PUT /api/users/me/profile", "presence:updated").
 * Decorates `app.presence`.
 *
 * Rules:
 * - A user the profile set to `away`, `dnd` or `offline` keeps that status (`users.presence_override`)
 *   whatever its sockets do, as Mattermost keeps a manual status. Setting `online` returns to automatic
 *   and counts as activity; setting `idle` returns to automatic and marks the user inactive now.
 * - Automatic: `offline` with no live socket on any replica, `online` on the first socket and on
 *   activity, `idle` once the user was inactive for its `idleTimeoutMinutes` (1–240, default 5).
 *   Activity = any client frame except `ping` (keep-alives are not a person), and sending a message
 *   through REST.
 * - `users.presence_status` holds the effective status; each change is announced as
 *   `{type: "presence:updated", user}` to the user and everyone sharing a conversation with it —
 *   through conversations of at most `presenceRoomLimit` members (default 200). Members of larger
 *   rooms read presence from `GET /api/conversations` and `GET /api/users` instead, as Mattermost
 *   clients poll statuses rather than receive every change in a large team: otherwise N members
 *   reconnecting after a deploy would cost N² events.
 *
 * Across replicas, Redis holds per user a sorted set of live socket ids scored by a heartbeat
 * expiry (a replica that dies stops refreshing, and its sockets stop counting) and the time of the
 * last activity. A timer (`idleCheckIntervalMs`, default 15 s) refreshes the heartbeats of this
 * replica's sockets and moves inactive users to idle.
 */
import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import { and, eq, inArray, ne } from 'drizzle-orm'
import { findUserById, listConversationPeers, users, type User } from '@parley/db'

type Presence = User['presenceStatus']

export interface PresenceOptions {
  /** How often this replica refreshes heartbeats and checks for idle users, ms (default 15 000). */
  idleCheckIntervalMs?: number
  /** Clock in ms since the epoch (default `Date.now`); tests inject one to skip minutes. */
  now?: () => number
  /** Rooms with more members than this do not carry `presence:updated` events (default 200). */
  presenceRoomLimit?: number
}

export interface PresenceService {
  /** Registers a new socket of `userId` on this replica. @returns its connection id. */
  connect: (userId: string) => Promise<string>
  /** Unregisters a socket; the user goes offline when it was its last one anywhere. */
  disconnect: (userId: string, connId: string) => Promise<void>
  /** Records activity of `userId` (a client frame or a REST send); brings an idle user back online. */
  touch: (userId: string) => void
  /**
   * Recomputes and stores `userId`'s status now (after a profile or account change).
   * `activity: 'now'` counts as activity (the user chose `online`); `'none'` marks it inactive (chose `idle`).
   */
  refresh: (userId: string, opts?: { activity?: 'now' | 'none' }) => Promise<Presence | undefined>
  /** Runs one heartbeat + idle check now (the timer calls this). */
  check: () => Promise<void>
  /** Sockets on this replica. */
  localSockets: () => number
}

declare module 'fastify' {
  interface FastifyInstance { presence: PresenceService }
}

/** Publishable user summary in `presence:updated`. */
export const presenceUser = (u: User) => ({
  id: u.id, username: u.username, displayName: u.displayName, manager: u.manager,
  avatarUrl: u.avatarUrl, presenceStatus: u.presenceStatus
})

export default fp<PresenceOptions>(async (app, opts) => {
  const interval = opts.idleCheckIntervalMs ?? 15_000
  const now = opts.now ?? Date.now
  const roomLimit = opts.presenceRoomLimit ?? 200
  const livenessMs = Math.max(3 * interval, 45_000)
  const prefix = app.queues.notifications.opts.prefix ?? app.config.QUEUE_PREFIX
  const connsKey = (u: string) => `${prefix}:chat:conns:${u}`
  const activeKey = (u: string) => `${prefix}:chat:active:${u}`
  const KEY_TTL_MS = 24 * 3600_000
  const { db, redis } = app

  /** userId → this replica's connection ids. */
  const local = new Map<string, Set<string>>()
  /** userId → effective status last seen here (avoids DB reads on every frame). */
  const known = new Map<string, Presence>()
  /** userId → when this replica last wrote its activity. */
  const lastWrite = new Map<string, number>()
  /** Per-user chain so one replica never interleaves two recomputations of a user. */
  const chains = new Map<string, Promise<unknown>>()
  const pending = new Set<Promise<unknown>>()

  function serial<T> (userId: string, fn: () => Promise<T>): Promise<T> {
    const prev = chains.get(userId) ?? Promise.resolve()
    const next = prev.catch(() => {}).then(fn)
    chains.set(userId, next)
    const tracked = next.finally(() => { if (chains.get(userId) === next) chains.delete(userId); pending.delete(tracked) })
    tracked.catch(() => {}) // the caller handles `next`'s failure; this copy only tracks completion
    pending.add(tracked)
    return next
  }

  async function compute (user: User): Promise<Presence> {
    if (user.presenceOverride) return user.presenceOverride
    const t = now()
    const [live, last] = await Promise.all([redis.zcount(connsKey(user.id), `(${t}`, '+inf'), redis.get(activeKey(user.id))])
    // This replica's own sockets count even if a stalled heartbeat let their Redis entries lapse.
    if (live === 0 && !local.has(user.id)) return 'offline'
    return t - Number(last ?? 0) >= user.idleTimeoutMinutes * 60_000 ? 'idle' : 'online'
  }

  /** Stores `status` if it changed and announces it. Only the replica whose update changed the row publishes. */
  async function store (user: User, status: Presence): Promise<Presence> {
    known.set(user.id, status)
    if (user.presenceStatus === status) return status
    const [row] = await db.update(users).set({ presenceStatus: status })
      .where(and(eq(users.id, user.id), ne(users.presenceStatus, status))).returning()
    if (row) {
      const peers = await listConversationPeers(db, user.id, roomLimit)
      await app.events.publishToUsers(peers, { type: 'presence:updated', user: presenceUser(row) })
    }
    return status
  }

  const recompute = (userId: string) => serial(userId, async () => {
    const user = await findUserById(db, userId)
    if (!user) { known.delete(userId); return undefined }
    return store(user, await compute(user))
  })

  function writeActivity (userId: string, at = now()) {
    lastWrite.set(userId, at)
    return redis.set(activeKey(userId), String(at), 'PX', KEY_TTL_MS)
  }

  const service: PresenceService = {
    async connect (userId) {
      const connId = randomUUID()
      let set = local.get(userId)
      if (!set) local.set(userId, set = new Set())
      set.add(connId)
      const t = now()
      await redis.multi().zadd(connsKey(userId), t + livenessMs, connId).pexpire(connsKey(userId), KEY_TTL_MS)
        .set(activeKey(userId), String(t), 'PX', KEY_TTL_MS).exec()
      lastWrite.set(userId, t)
      await recompute(userId)
      return connId
    },
    async disconnect (userId, connId) {
      const set = local.get(userId)
      // Already unregistered (by the shutdown below, or twice): nothing left to do.
      if (!set?.has(connId)) return
      set.delete(connId)
      if (set.size === 0) { local.delete(userId); lastWrite.delete(userId) }
      await redis.zrem(connsKey(userId), connId).catch(() => {})
      await recompute(userId)
      if (!local.has(userId)) known.delete(userId)
    },
    touch (userId) {
      const t = now()
      const status = known.get(userId)
      if (status === 'idle') {
        void writeActivity(userId, t).then(() => recompute(userId)).catch((err) => app.log.warn({ err: err.message }, 'presence: activity update failed'))
      } else if (t - (lastWrite.get(userId) ?? 0) > 5_000) {
        // Throttled: the idle timeout is at least a minute, so 5 s of staleness cannot matter.
        void writeActivity(userId, t).catch(() => {})
      }
    },
    async refresh (userId, { activity } = {}) {
      if (activity === 'none') await redis.set(activeKey(userId), '0', 'PX', KEY_TTL_MS)
      if (activity === 'now') await writeActivity(userId)
      return recompute(userId)
    },
    async check () {
      const ids = [...local.keys()]
      if (ids.length === 0) return
      const t = now()
      const heartbeat = redis.pipeline()
      for (const [userId, set] of local) for (const connId of set) heartbeat.zadd(connsKey(userId), t + livenessMs, connId)
      await heartbeat.exec()
      const candidates = ids.filter(id => known.get(id) === 'online')
      if (candidates.length === 0) return
      const [rows, actives] = await Promise.all([
        db.select({ id: users.id, idle: users.idleTimeoutMinutes, override: users.presenceOverride }).from(users).where(inArray(users.id, candidates)),
        redis.mget(candidates.map(activeKey))
      ])
      const lastActive = new Map(candidates.map((id, i) => [id, Number(actives[i] ?? 0)]))
      await Promise.all(rows
        .filter(r => !r.override && t - (lastActive.get(r.id) ?? 0) >= r.idle * 60_000)
        .map(r => recompute(r.id)))
    },
    localSockets: () => { let n = 0; for (const s of local.values()) n += s.size; return n }
  }
  app.decorate('presence', service)

  const timer = setInterval(() => {
    service.check().catch((err) => app.log.warn({ err: (err as Error).message }, 'presence: idle check failed'))
  }, interval)
  timer.unref()

  app.addHook('onClose', async () => {
    clearInterval(timer)
    // Sockets of this replica stop counting now; users with no socket elsewhere go offline.
    const closing = [...local.entries()].flatMap(([userId, set]) => [...set].map(connId => service.disconnect(userId, connId)))
    await Promise.race([Promise.allSettled([...closing, ...pending]), new Promise(resolve => setTimeout(resolve, 2_000).unref())])
  })
}, { name: 'presence', dependencies: ['deps', 'events'] })
