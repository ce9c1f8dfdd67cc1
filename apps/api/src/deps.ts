/**
 * Opens everything `buildApp` depends on from a validated config — the database pool, the producer
 * Redis connection, the queues and the QueueEvents an endpoint waits on — and closes it again.
 * Used by server.ts and by the tests, so both run the API over the same wiring.
 */
import { QueueEvents } from 'bullmq'
import type { ApiConfig } from '@parley/config'
import { createDb, createTokenCipher } from '@parley/db'
import {
  MATTERMOST_QUEUE, ORG_SYNC_QUEUE, createMattermostQueue, createNotificationsQueue, createOrgSyncQueue,
  producerConnection, redisReady, workerConnection
} from '@parley/queue'
import type { AppDeps, Queues } from './plugins/deps.js'

export interface OpenedDeps {
  deps: AppDeps & { queues: Required<Queues> }
  /** The raw postgres.js client (tests use it for fixtures). */
  sql: ReturnType<typeof createDb>['sql']
  /** Closes queues, connections and the pool; `obliterate` also empties the queues (tests). */
  close: (opts?: { obliterate?: boolean }) => Promise<void>
}

/**
 * @throws Error from `createTokenCipher` when TOKEN_ENCRYPTION_KEYS is malformed, or when Redis does
 *   not become ready within 10 s.
 */
export async function openApiDeps (config: ApiConfig, { poolSize = config.DATABASE_POOL_SIZE }: { poolSize?: number } = {}): Promise<OpenedDeps> {
  const tokenCipher = config.TOKEN_ENCRYPTION_KEYS ? createTokenCipher(config.TOKEN_ENCRYPTION_KEYS) : undefined
  const { db, sql, close: closeDb } = createDb(config.DATABASE_URL, { max: poolSize })
  const redis = producerConnection(config.REDIS_URL)
  const gateRedis = producerConnection(config.REDIS_URL, { enableAutoPipelining: true })
  await Promise.all([redisReady(redis), redisReady(gateRedis)])
  const prefix = config.QUEUE_PREFIX
  // QueueEvents read with blocking commands: each needs a connection of its own.
  // (The notifications queue has none: see addAndWait.)
  const eventConnections = [workerConnection(config.REDIS_URL), workerConnection(config.REDIS_URL)]
  const notifications = createNotificationsQueue(redis, prefix)
  const mattermost = createMattermostQueue(redis, prefix)
  const orgSync = createOrgSyncQueue(redis, prefix)
  const mattermostEvents = new QueueEvents(MATTERMOST_QUEUE, { connection: eventConnections[0], prefix })
  const orgSyncEvents = new QueueEvents(ORG_SYNC_QUEUE, { connection: eventConnections[1], prefix })
  const queues = [notifications, mattermost, orgSync]
  return {
    deps: { config, db, redis, gateRedis, tokenCipher, queues: { notifications, mattermost, mattermostEvents, orgSync, orgSyncEvents } },
    sql,
    async close ({ obliterate = false } = {}) {
      await Promise.allSettled([mattermostEvents.close(), orgSyncEvents.close()])
      if (obliterate) await Promise.allSettled(queues.map(q => q.obliterate({ force: true })))
      await Promise.allSettled(queues.map(q => q.close()))
      await Promise.allSettled([redis.quit(), gateRedis.quit(), ...eventConnections.map(c => c.quit())])
      await closeDb()
    }
  }
}
