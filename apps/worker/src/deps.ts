/**
 * What every processor of the worker receives. Built once in main.ts (or by a test).
 */
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { Db, TokenCipher } from '@parley/db'
import type { WorkerConfig } from '@parley/config'
import type { MattermostClient } from '@parley/mattermost'
import type { NotificationsQueue } from '@parley/queue'

export interface WorkerDeps {
  config: WorkerConfig
  db: Db
  /** Worker connection (blocking commands allowed). */
  redis: Redis
  /** BullMQ key prefix of every queue. */
  prefix: string
  /** Client acting with the bot/admin token; absent when Mattermost is not configured. */
  mattermost?: MattermostClient
  /** Client with MATTERMOST_ADMIN_BOT_TOKEN when it differs from the bot token (provisioning); shares the bot client's rate limiter. */
  mattermostAdmin?: MattermostClient
  tokenCipher?: TokenCipher
  logger: Logger
  queues: { notifications: NotificationsQueue }
}
