/**
 * DM detection (seeds/devicehub-notification-system.md, "When user opens DM with bot"): one
 * WebSocket to Mattermost as the bot per deployment. Workers elect the holder through a Redis lock
 * (`SET NX PX`, renewed by its holder); when the holder dies its lock expires and another worker
 * takes over within `lockTtlMs` + `pollMs`.
 *
 * A `posted` event in a direct channel between a user and the bot marks the user DM-ready, stores
 * the channel id and enqueues the one-time welcome message. Events missed while the socket was down
 * are replayed by Mattermost when the connection resumes (PROTOCOL §9.4); when it cannot resume,
 * and when a listener starts, the bot's direct channels are reconciled through the REST API from
 * the last event time kept in Redis.
 */
import { randomUUID } from 'node:crypto'
import type { Post } from '@mattermost/types/posts'
import { findRecipient, markDmReady, setChannelMembership } from '@parley/db'
import { createMattermostSocket, isPostEvent, type MattermostEvent, type MattermostSocket } from '@parley/mattermost'
import { listenerLockKey, welcomeJobId, writeStatus } from '@parley/queue'
import type { WorkerDeps } from './deps.js'

export interface ListenerOptions {
  /** Lock lifetime; a dead holder is replaced within about this long. */
  lockTtlMs?: number
  /** How often holders renew and others try to take the lock. */
  pollMs?: number
  /** Socket settings (defaults from config). */
  pingIntervalMs?: number
  /** Identifies this worker in the status. */
  instanceId?: string
}

export interface MattermostListener {
  start (): Promise<void>
  stop (): Promise<void>
  /** True while this worker holds the lock and runs the socket. */
  isLeader (): boolean
}

const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`
const lastEventKey = (prefix: string) => `${prefix}:parley:mattermost-last-event`

export function createMattermostListener (deps: WorkerDeps, opts: ListenerOptions = {}): MattermostListener {
  const { config, redis, prefix, logger, db } = deps
  const lockTtlMs = opts.lockTtlMs ?? 20_000
  const pollMs = opts.pollMs ?? 5_000
  const instanceId = opts.instanceId ?? `${process.pid}-${randomUUID().slice(0, 8)}`
  const lockKey = listenerLockKey(prefix)
  let timer: NodeJS.Timeout | undefined
  let socket: MattermostSocket | undefined
  let botUserId: string | undefined
  let leader = false
  let stopped = true
  let lastStatusWrite = 0
  let tick: Promise<void> = Promise.resolve()

  async function botId (): Promise<string> {
    botUserId ??= config.MATTERMOST_BOT_USER_ID ?? (await deps.mattermost!.getMe()).id
    return botUserId
  }

  async function handlePost (post: Post, channelType: unknown): Promise<void> {
    const bot = await botId()
    if (channelType !== 'D' || post.user_id === bot) return
    const known = await findRecipient(db, post.user_id)
    if (known?.dmReady && known.dmChannelId === post.channel_id && known.welcomeSentAt) return // the usual case: nothing new
    const channel = await deps.mattermost!.getChannel(post.channel_id)
    if (!channel.name.split('__').includes(bot)) return // a DM between two other users
    const user = await deps.mattermost!.getUser(post.user_id)
    if (user.is_bot) return
    const { welcomeOwed } = await markDmReady(db, { mmUserId: user.id, username: user.username, dmChannelId: post.channel_id })
    logger.info({ mmUserId: user.id, welcomeOwed }, 'user opened a DM with the bot')
    if (welcomeOwed) await deps.queues.notifications.add('welcome', { v: 1, mmUserId: user.id }, { jobId: welcomeJobId(user.id) })
  }

  async function onEvent (e: MattermostEvent): Promise<void> {
    const now = Date.now()
    if (now - lastStatusWrite > 1_000) {
      lastStatusWrite = now
      await Promise.all([
        writeStatus(redis, prefix, { websocketLastEventAt: new Date(now).toISOString() }),
        redis.set(lastEventKey(prefix), String(now))
      ])
    }
    if (e.event === 'posted' && isPostEvent(e)) await handlePost(e.data.post, e.data.channel_type)
    else if (e.event === 'user_removed' && e.broadcast.channel_id === config.MATTERMOST_NOTIFICATION_CHANNEL_ID && typeof e.data.user_id === 'string') {
      await setChannelMembership(db, e.data.user_id, null)
    }
  }

  /** Finds DMs to the bot posted since the last event we saw, through REST (missed events). */
  async function reconcile (): Promise<void> {
    const mm = deps.mattermost!
    const bot = await botId()
    const stored = Number(await redis.get(lastEventKey(prefix)))
    if (!stored) { // a new deployment: nothing was missed yet; remember where we start
      await redis.set(lastEventKey(prefix), String(Date.now()))
      return
    }
    const since = stored
    const channels = await mm.getAllChannelsForUser(bot)
    for (const channel of channels) {
      if (channel.type !== 'D' || channel.last_post_at < since) continue
      const list = await mm.getPostsSince(channel.id, since)
      const fromUser = Object.values(list.posts ?? {}).find(p => p.user_id !== bot && !p.type)
      if (fromUser) await handlePost(fromUser, 'D')
    }
    await redis.set(lastEventKey(prefix), String(Date.now()))
  }

  async function becomeLeader (): Promise<void> {
    leader = true
    logger.info({ instanceId }, 'holding the Mattermost listener lock')
    await writeStatus(redis, prefix, { listenerHolder: instanceId })
    socket = createMattermostSocket({
      baseUrl: config.MATTERMOST_URL!,
      token: config.MATTERMOST_BOT_TOKEN!,
      reconnectIntervalMs: config.MATTERMOST_WS_RECONNECT_INTERVAL,
      maxReconnectAttempts: config.MATTERMOST_WS_MAX_RECONNECT_ATTEMPTS,
      ...(opts.pingIntervalMs ? { pingIntervalMs: opts.pingIntervalMs } : {}),
      logger
    })
    const s = socket
    s.on('event', (e) => { onEvent(e).catch(err => logger.warn({ err }, 'could not handle a Mattermost event')) })
    s.on('state', (state) => { writeStatus(redis, prefix, { websocketState: state }).catch(() => {}) })
    s.on('resync', () => { reconcile().catch(err => logger.warn({ err }, 'reconcile after a lost connection failed')) })
    s.on('error', (err) => logger.debug({ err }, 'mattermost socket'))
    let first = true
    s.on('hello', () => {
      if (!first) return
      first = false
      reconcile().catch(err => logger.warn({ err }, 'start-up reconcile failed'))
    })
    s.start()
  }

  async function resign (): Promise<void> {
    leader = false
    const s = socket
    socket = undefined
    await s?.stop()
  }

  async function poll (): Promise<void> {
    if (stopped) return
    try {
      if (leader) {
        const renewed = await redis.eval(RENEW, 1, lockKey, instanceId, String(lockTtlMs))
        if (renewed !== 1) {
          logger.warn({ instanceId }, 'lost the Mattermost listener lock')
          await resign()
        }
      } else if (await redis.set(lockKey, instanceId, 'PX', lockTtlMs, 'NX') === 'OK') {
        await becomeLeader()
      }
    } catch (err) {
      logger.warn({ err }, 'listener lock check failed')
    }
  }

  function schedule (): void {
    if (stopped) return
    timer = setTimeout(() => { tick = poll().finally(schedule) }, pollMs)
  }

  return {
    async start () {
      if (!deps.mattermost || !config.MATTERMOST_URL || !config.MATTERMOST_BOT_TOKEN) {
        logger.warn('Mattermost is not configured: DM detection is off')
        return
      }
      stopped = false
      tick = poll()
      await tick
      schedule()
    },
    async stop () {
      stopped = true
      clearTimeout(timer)
      await tick
      if (leader) {
        await resign()
        await redis.eval(RELEASE, 1, lockKey, instanceId).catch(() => {})
        await writeStatus(redis, prefix, { websocketState: 'stopped' }).catch(() => {})
      }
    },
    isLeader: () => leader
  }
}
