/**
 * The worker process: consumes the queues, runs the job schedulers and the Mattermost listener.
 * Scale it apart from the API; run as many as needed (one of them holds the listener).
 * On SIGTERM/SIGINT it stops taking jobs, lets active ones finish (BullMQ `close`), then exits.
 */
import closeWithGrace from 'close-with-grace'
import { pino } from 'pino'
import { WorkerConfigSchema, ConfigError, loadConfig } from '@parley/config'
import { createDb, createTokenCipher, runMigrations } from '@parley/db'
import { createMattermostClient, createRateLimiter } from '@parley/mattermost'
import { createNotificationsQueue, workerConnection } from '@parley/queue'
import { startWorkers } from './workers.js'

let config
try {
  config = loadConfig(WorkerConfigSchema)
} catch (err) {
  console.error(`parley-worker: ${err instanceof ConfigError ? err.message : String(err)}`)
  process.exit(1)
}
const logger = pino({
  level: config.LOG_LEVEL,
  base: { app: 'parley-worker' },
  redact: { paths: ['*.token', '*.password', '*.authorization', '*.key', 'err.config.headers'], censor: '[redacted]' }
})
let tokenCipher
try {
  tokenCipher = config.TOKEN_ENCRYPTION_KEYS ? createTokenCipher(config.TOKEN_ENCRYPTION_KEYS) : undefined
  // Personal access tokens are stored encrypted: with Mattermost on, the key is required (issue 3).
  if (config.MATTERMOST_URL && !tokenCipher) throw new Error('TOKEN_ENCRYPTION_KEYS is required when MATTERMOST_URL is set')
} catch (err) {
  console.error(`parley-worker: ${(err as Error).message}`)
  process.exit(1)
}

await runMigrations(config.DATABASE_URL)
const { db, close: closeDb } = createDb(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE })
const redis = workerConnection(config.REDIS_URL)
// One request limiter for every client of this process: MATTERMOST_RATE_LIMIT_PER_SEC is worker-wide.
const limiter = config.MATTERMOST_RATE_LIMIT_PER_SEC > 0 ? createRateLimiter(config.MATTERMOST_RATE_LIMIT_PER_SEC, config.MATTERMOST_RATE_LIMIT_PER_SEC * 10) : undefined
const client = (token: string) => createMattermostClient({ baseUrl: config.MATTERMOST_URL!, token, timeoutMs: config.MATTERMOST_REQUEST_TIMEOUT_MS, limiter, logger })
const mattermost = config.MATTERMOST_URL && config.MATTERMOST_BOT_TOKEN ? client(config.MATTERMOST_BOT_TOKEN) : undefined
const mattermostAdmin = config.MATTERMOST_URL && config.MATTERMOST_ADMIN_BOT_TOKEN && config.MATTERMOST_ADMIN_BOT_TOKEN !== config.MATTERMOST_BOT_TOKEN
  ? client(config.MATTERMOST_ADMIN_BOT_TOKEN)
  : undefined
if (!mattermost) logger.warn('Mattermost is not configured (MATTERMOST_URL, MATTERMOST_BOT_TOKEN): notifications wait in the queue')

const notifications = createNotificationsQueue(redis, config.QUEUE_PREFIX)
const running = await startWorkers({ config, db, redis, prefix: config.QUEUE_PREFIX, mattermost, mattermostAdmin, tokenCipher, logger, queues: { notifications } })
logger.info({ concurrency: config.WORKER_CONCURRENCY }, 'worker started')

closeWithGrace({ delay: 30_000 }, async ({ signal, err }) => {
  if (err) logger.error({ err }, 'closing after error')
  else logger.info({ signal }, 'closing: finishing active jobs')
  await running.close()
  await notifications.close()
  await redis.quit()
  await closeDb()
})
