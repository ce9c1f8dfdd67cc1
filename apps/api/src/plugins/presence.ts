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
 * Across replicas, Redis holds per user the set of its sockets as `<replica id>|<socket id>`, one
 * liveness key per replica (refreshed every `idleCheckIntervalMs`, expiring after 3 intervals or
 * 45 s: a replica that dies stops refreshing and its sockets stop counting), and the time of the
 * user's last activity. The timer (default every 15 s) refreshes this replica's key and moves users
 * to idle; it costs one Redis command plus one MGET for the users whose activity this replica has
 * not seen lately, whatever the number of sockets.
 */
import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import { and, eq, ne, sql } from 'drizzle-orm'
import { findUserById, listConversationPeers, preparedFor, users, type User } from '@parley/db'

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
  const replicaKey = (r: string) => `${prefix}:chat:replica:${r}`
  const replicaId = randomUUID()
  const KEY_TTL_MS = 24 * 3600_000
  const { db, redis } = app

  /** userId → this replica's connection ids. */
  const local = new Map<string, Set<string>>()
  /** userId → effective status last seen here (avoids DB reads on every frame). */
  const known = new Map<string, Presence>()
  /** userId → when this replica last wrote its activity. */
  const lastWrite = new Map<string, number>()
  /** userId → its idle timeout in ms, as of its last recomputation here. */
  const idleMs = new Map<string, number>()
  /** Per-user chain so one replica never interleaves two recomputations of a user. */
  const chains = new Map<string, Promise<unknown>>()
  const pending = new Set<Promise<unknown>>()
  /** Set once shutdown has taken this replica's sockets out: late socket events then touch neither Redis nor Postgres, whose connections are closing. */
  let stopped = false

  function serial<T> (userId: string, fn: () => Promise<T>): Promise<T> {
    const prev = chains.get(userId) ?? Promise.resolve()
    const next = prev.catch(() => {}).then(fn)
    chains.set(userId, next)
    const tracked = next.finally(() => { if (chains.get(userId) === next) chains.delete(userId); pending.delete(tracked) })
    tracked.catch(() => {}) // the caller handles `next`'s failure; this copy only tracks completion
    pending.add(tracked)
    return next
  }

  /** Whether `userId` has a socket on a live replica (this one counts from memory). */
  async function hasLiveSocket (userId: string): Promise<boolean> {
    if (local.has(userId)) return true
    const members = await redis.smembers(connsKey(userId))
    const replicas = [...new Set(members.map(m => m.split('|')[0]).filter(r => r !== replicaId))]
    if (replicas.length === 0) return false
    const alive = await redis.mget(replicas.map(replicaKey))
    const dead = replicas.filter((_, i) => alive[i] === null)
    if (dead.length > 0) {
      const stale = members.filter(m => dead.includes(m.split('|')[0]))
      void redis.srem(connsKey(userId), ...stale).catch(() => {})
    }
    return dead.length < replicas.length
  }

  async function compute (user: User): Promise<Presence> {
    if (user.presenceOverride) return user.presenceOverride
    const t = now()
    const [live, last] = await Promise.all([hasLiveSocket(user.id), redis.get(activeKey(user.id))])
    if (!live) return 'offline'
    return t - Number(last ?? 0) >= user.idleTimeoutMinutes * 60_000 ? 'idle' : 'online'
  }

  /** Stores `status` if it changed and announces it. Only the replica whose update changed the row publishes. */
  async function store (user: User, status: Presence): Promise<Presence> {
    known.set(user.id, status)
    if (user.presenceStatus === status) return status
    const [row] = await preparedFor(db, 'store_presence', d => d.update(users).set({ presenceStatus: sql`${sql.placeholder('status')}` })
      .where(and(eq(users.id, sql.placeholder('id')), ne(users.presenceStatus, sql.placeholder('status')))).returning()
      .prepare('store_presence')).execute({ id: user.id, status })
    if (row) {
      const peers = await listConversationPeers(db, user.id, roomLimit)
      await app.events.publishToUsers(peers, { type: 'presence:updated', user: presenceUser(row) })
    }
    return status
  }

  const recompute = (userId: string) => serial(userId, async () => {
    if (stopped) return known.get(userId)
    const user = await findUserById(db, userId)
    if (!user) { known.delete(userId); return undefined }
    if (local.has(userId)) idleMs.set(userId, user.idleTimeoutMinutes * 60_000)
    return store(user, await compute(user))
  })

  function writeActivity (userId: string, at = now()) {
    lastWrite.set(userId, at)
    return redis.set(activeKey(userId), String(at), 'PX', KEY_TTL_MS)
  }

  const service: PresenceService = {
    async connect (userId) {
      if (stopped) throw new Error('The server is shutting down')
      const connId = randomUUID()
      let set = local.get(userId)
      if (!set) local.set(userId, set = new Set())
      set.add(connId)
      const t = now()
      await redis.multi().set(replicaKey(replicaId), '1', 'PX', livenessMs)
        .sadd(connsKey(userId), `${replicaId}|${connId}`).pexpire(connsKey(userId), KEY_TTL_MS)
        .set(activeKey(userId), String(t), 'PX', KEY_TTL_MS).exec()
      lastWrite.set(userId, t)
      await recompute(userId)
      return connId
    },
    async disconnect (userId, connId) {
      const set = local.get(userId)
      // Already unregistered (by the shutdown below, or twice): nothing left to do.
      if (!set?.has(connId) || stopped) return
      set.delete(connId)
      if (set.size === 0) { local.delete(userId); lastWrite.delete(userId); idleMs.delete(userId) }
      await redis.srem(connsKey(userId), `${replicaId}|${connId}`).catch(() => {})
      await recompute(userId)
      if (!local.has(userId)) known.delete(userId)
    },
    touch (userId) {
      if (stopped) return
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
      if (local.size === 0 || stopped) return
      await redis.set(replicaKey(replicaId), '1', 'PX', livenessMs)
      const t = now()
      // Online users this replica has not seen active within their timeout; another replica may have.
      const candidates = [...local.keys()].filter(id => known.get(id) === 'online' && t - (lastWrite.get(id) ?? 0) >= (idleMs.get(id) ?? 0))
      if (candidates.length === 0) return
      const actives = await redis.mget(candidates.map(activeKey))
      // recompute re-reads the user (override, timeout) before anything changes.
      await Promise.all(candidates.filter((id, i) => t - Number(actives[i] ?? 0) >= (idleMs.get(id) ?? 0)).map(id => recompute(id)))
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
    stopped = true
    await redis.del(replicaKey(replicaId)).catch(() => {})
  })
}, { name: 'presence', dependencies: ['deps', 'events'] })
