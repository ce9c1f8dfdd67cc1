/**
 * A real notification pipeline for one test file: the Mattermost simulator (validating every
 * request and response against the official OpenAPI documents), the API built in-process, and a
 * worker started in-process, all on real Postgres and Redis under a fresh queue prefix.
 */
import type { Test } from 'tap'
import { pino } from 'pino'
import { startSimulator, type Simulator } from '@parley/mattermost-sim'
import { WorkerConfigSchema, loadConfig, type WorkerConfig } from '@parley/config'
import { createDb, createTokenCipher } from '@parley/db'
import { createMattermostClient } from '@parley/mattermost'
import { createNotificationsQueue, workerConnection } from '@parley/queue'
import { build, until } from '../../api/test/helper.js'

export { until }
import { startWorkers, type StartOptions } from '../src/workers.js'
import type { WorkerDeps } from '../src/deps.js'
import { TEST_TOKEN_KEYS, uniq } from '../../../test/env.js'

export interface SeededMattermost {
  sim: Simulator
  bot: { id: string, token: string }
  teamId: string
  channelId: string
  /** Creates a fresh Mattermost user (team member, not channel member). */
  user: (opts?: { inChannel?: boolean }) => { id: string, username: string }
}

/** Starts a simulator seeded with an admin bot, a team and a notification channel. */
export async function seededSimulator (t: Test, opts: Parameters<typeof startSimulator>[0] = {}): Promise<SeededMattermost> {
  const sim = await startSimulator({ port: 0, validate: true, ...opts })
  t.teardown(() => sim.close())
  const { user: botUser, token } = sim.createBot({ username: `bot${uniq()}`, roles: 'system_admin system_user' })
  const team = sim.createTeam({ name: `team${uniq()}`, displayName: 'Devices' })
  sim.addTeamMember(team.id, botUser.id)
  const channel = sim.createChannel({ teamId: team.id, name: 'notifications', displayName: 'Notifications' })
  sim.addChannelMember(channel.id, botUser.id)
  return {
    sim,
    bot: { id: botUser.id, token },
    teamId: team.id,
    channelId: channel.id,
    user ({ inChannel = false } = {}) {
      const u = sim.createUser({ username: `user${uniq()}` })
      sim.addTeamMember(team.id, u.id)
      if (inChannel) sim.addChannelMember(channel.id, u.id)
      return { id: u.id, username: u.username }
    }
  }
}

/** Worker configuration pointing at `mm`, with the same prefix as the API `config`. */
export function workerConfig (mm: SeededMattermost, prefix: string, env: Record<string, string> = {}): WorkerConfig {
  return loadConfig(WorkerConfigSchema, {
    DATABASE_URL: process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/parley_test',
    REDIS_URL: process.env.TEST_REDIS_URL || 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: prefix,
    TOKEN_ENCRYPTION_KEYS: TEST_TOKEN_KEYS,
    MATTERMOST_URL: mm.sim.url,
    MATTERMOST_BOT_TOKEN: mm.bot.token,
    MATTERMOST_NOTIFICATION_CHANNEL_ID: mm.channelId,
    MATTERMOST_WS_RECONNECT_INTERVAL: '50',
    WORKER_CONCURRENCY: '10',
    LOG_LEVEL: 'silent',
    APP_BASE_URL: 'https://devices.example.com',
    ...env
  })
}

/** Starts a worker in-process; `close()` at teardown (or earlier by the test). */
export async function startWorker (t: Test, mm: SeededMattermost, prefix: string, opts: StartOptions & { env?: Record<string, string> } = {}) {
  return runWorker(t, workerConfig(mm, prefix, opts.env), { listener: { lockTtlMs: 1_000, pollMs: 200 }, ...opts })
}

/**
 * Starts a real worker in-process from a worker config (closed at teardown or by `close()`):
 * schedulers off and a 500 ms stalled-job check unless `opts` says otherwise.
 */
export async function runWorker (t: Test, config: WorkerConfig, opts: StartOptions = {}, client: { timeoutMs?: number } = {}) {
  const prefix = config.QUEUE_PREFIX
  const { db, close: closeDb } = createDb(config.DATABASE_URL, { max: 5 })
  const redis = workerConnection(config.REDIS_URL)
  const logger = pino({ level: 'silent' })
  const mattermost = createMattermostClient({ baseUrl: config.MATTERMOST_URL!, token: config.MATTERMOST_BOT_TOKEN!, retryBaseMs: 20, logger, ...client })
  const notifications = createNotificationsQueue(redis, prefix)
  const deps: WorkerDeps = { config, db, redis, prefix, mattermost, tokenCipher: createTokenCipher(TEST_TOKEN_KEYS), logger, queues: { notifications } }
  const running = await startWorkers(deps, { stalledIntervalMs: 500, schedulers: false, ...opts })
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await running.close()
    await notifications.close()
    await redis.quit()
    await closeDb()
  }
  t.teardown(close)
  return { ...running, deps, config, close }
}

/** API + simulator + worker. */
export async function pipeline (t: Test, opts: { sim?: Parameters<typeof startSimulator>[0], worker?: StartOptions & { env?: Record<string, string> }, apiEnv?: Record<string, string> } = {}) {
  const mm = await seededSimulator(t, opts.sim)
  const api = await build(t, { MATTERMOST_URL: mm.sim.url, MATTERMOST_NOTIFICATION_CHANNEL_ID: mm.channelId, ...opts.apiEnv })
  const worker = await startWorker(t, mm, api.config.QUEUE_PREFIX, opts.worker)
  const key = await api.apiKey(['notifications:send'])
  const send = (body: object) => api.app.inject({ method: 'POST', url: '/api/notifications/send', headers: key.headers, payload: body })
  const get = async (id: string) => (await api.app.inject({ method: 'GET', url: `/api/notifications/${id}`, headers: key.headers })).json()
  /** Resolves once the notification leaves `queued`. */
  const settled = (id: string, timeoutMs = 15_000) => until(async () => { const n = await get(id); return n.status === 'queued' ? undefined : n }, timeoutMs)
  return { mm, api, worker, key, send, get, settled }
}

/** Every request Parley sent, and every answer, validated against the OpenAPI documents. */
export function assertSpecValid (t: Test, sim: Simulator) {
  const bad = sim.calls.filter(c => (c.requestErrors?.length ?? 0) > 0 || (c.responseErrors?.length ?? 0) > 0)
  t.same(bad.map(c => ({ route: c.route, status: c.status, requestErrors: c.requestErrors, responseErrors: c.responseErrors })), [], 'all Mattermost traffic validates against the OpenAPI documents')
}
