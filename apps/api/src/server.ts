/**
 * The API process: config, connections, migrations, first admin, listen, graceful close.
 */
import argon2 from 'argon2'
import closeWithGrace from 'close-with-grace'
import { QueueEvents } from 'bullmq'
import { ApiConfigSchema, ConfigError, loadConfig } from '@parley/config'
import { createDb, createTokenCipher, ensureAdminUser, runMigrations } from '@parley/db'
import { MATTERMOST_QUEUE, NOTIFICATIONS_QUEUE, ORG_SYNC_QUEUE, createMattermostQueue, createNotificationsQueue, createOrgSyncQueue, producerConnection, redisReady, workerConnection } from '@parley/queue'
import { buildApp, redactPaths } from './app.js'

let config
try {
  config = loadConfig(ApiConfigSchema)
} catch (err) {
  console.error(`parley-api: ${err instanceof ConfigError ? err.message : String(err)}`)
  process.exit(1)
}
let tokenCipher
try {
  tokenCipher = config.TOKEN_ENCRYPTION_KEYS ? createTokenCipher(config.TOKEN_ENCRYPTION_KEYS) : undefined
  // Personal access tokens are stored encrypted: with Mattermost on, the key is required (issue 3).
  if (config.MATTERMOST_URL && !tokenCipher) throw new Error('TOKEN_ENCRYPTION_KEYS is required when MATTERMOST_URL is set')
} catch (err) {
  console.error(`parley-api: ${(err as Error).message}`)
  process.exit(1)
}

await runMigrations(config.DATABASE_URL)
const { db, close: closeDb } = createDb(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE })
const redis = producerConnection(config.REDIS_URL)
await redisReady(redis)
const eventsConnection = workerConnection(config.REDIS_URL)
const notifications = createNotificationsQueue(redis, config.QUEUE_PREFIX)
const notificationsEvents = new QueueEvents(NOTIFICATIONS_QUEUE, { connection: eventsConnection, prefix: config.QUEUE_PREFIX })
const mattermost = createMattermostQueue(redis, config.QUEUE_PREFIX)
const mattermostEventsConnection = workerConnection(config.REDIS_URL)
const mattermostEvents = new QueueEvents(MATTERMOST_QUEUE, { connection: mattermostEventsConnection, prefix: config.QUEUE_PREFIX })
const orgSync = createOrgSyncQueue(redis, config.QUEUE_PREFIX)
const orgSyncEventsConnection = workerConnection(config.REDIS_URL)
const orgSyncEvents = new QueueEvents(ORG_SYNC_QUEUE, { connection: orgSyncEventsConnection, prefix: config.QUEUE_PREFIX })

const app = await buildApp({ config, db, redis, queues: { notifications, notificationsEvents, mattermost, mattermostEvents, orgSync, orgSyncEvents }, tokenCipher }, {
  logger: {
    level: config.LOG_LEVEL,
    redact: { paths: redactPaths, censor: '[redacted]' },
    ...(process.stdout.isTTY && config.NODE_ENV === 'development' ? { transport: { target: 'pino-pretty' } } : {})
  }
})

if (config.PARLEY_ADMIN_USERNAME && config.PARLEY_ADMIN_PASSWORD) {
  const password = config.PARLEY_ADMIN_PASSWORD
  const { created } = await ensureAdminUser(db, config.PARLEY_ADMIN_USERNAME, () => argon2.hash(password, { type: argon2.argon2id }))
  app.log.info({ username: config.PARLEY_ADMIN_USERNAME, created }, 'first admin ensured')
}

closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'closing after error')
  else app.log.info({ signal }, 'closing')
  await app.close() // stops accepting, drains in-flight requests
  await notificationsEvents.close()
  await mattermostEvents.close()
  await orgSyncEvents.close()
  await orgSync.close()
  await orgSyncEventsConnection.quit()
  await mattermost.close()
  await notifications.close()
  await Promise.allSettled([redis.quit(), eventsConnection.quit(), mattermostEventsConnection.quit()])
  await closeDb()
})

await app.listen({ host: config.HOST, port: config.PORT })
