/**
 * Decorates the app with the dependencies `buildApp` receives: `db`, `redis`, `gateRedis`, `queues`, `config`.
 * They are created by the caller (server.ts or a test) and closed by it, not by the app.
 */
import fp from 'fastify-plugin'
import type { Redis } from 'ioredis'
import type { QueueEvents } from 'bullmq'
import type { Db, TokenCipher } from '@parley/db'
import type { ApiConfig } from '@parley/config'
import type { MattermostQueue, NotificationsQueue, OrgSyncQueue } from '@parley/queue'

export interface Queues {
  /** Its events are read only while `POST /api/notifications/initialize` waits (`addAndWait`): the queue carries every delivery. */
  notifications: NotificationsQueue
  /** Provisioning jobs (users, tokens, teams, channels); absent where no route needs them. */
  mattermost?: MattermostQueue
  /** Lets endpoints that must answer synchronously wait for a provisioning job's result. */
  mattermostEvents?: QueueEvents
  /** Organisation → Mattermost team sync runs and dry runs (issue 4). */
  orgSync?: OrgSyncQueue
  orgSyncEvents?: QueueEvents
}

export interface AppDeps {
  config: ApiConfig
  db: Db
  /** Producer connection: commands fail fast while Redis is down. */
  redis: Redis
  /**
   * Producer connection with ioredis auto-pipelining, for the notification idempotency gate's claims
   * (concurrent sends' claims leave in one write). BullMQ stays on `redis`. When absent, `redis` is used.
   */
  gateRedis?: Redis
  queues: Queues
  /** Encrypts secrets at rest; absent when TOKEN_ENCRYPTION_KEYS is unset. */
  tokenCipher?: TokenCipher
  /** Chat presence tuning (idle check interval, clock); tests shorten it. */
  chat?: import('./presence.js').PresenceOptions
}

declare module 'fastify' {
  interface FastifyInstance extends AppDeps {}
}

export default fp<AppDeps>(async (app, deps) => {
  app.decorate('config', deps.config)
  app.decorate('db', deps.db)
  app.decorate('redis', deps.redis)
  app.decorate('gateRedis', deps.gateRedis)
  app.decorate('queues', deps.queues)
  app.decorate('tokenCipher', deps.tokenCipher)
}, { name: 'deps' })
