/**
 * Builds the real API against real Postgres and Redis for one test file, with a fresh BullMQ
 * prefix so queues are the file's own, and closes everything at teardown (STYLE §10).
 */
import { hashPassword } from '../src/auth/passwords.js'
import type { Test } from 'tap'
import type { FastifyServerOptions } from 'fastify'
import { ApiConfigSchema, loadConfig, type ApiConfig } from '@parley/config'
import { insertApiKey, insertUser, type User } from '@parley/db'
import { buildApp } from '../src/app.js'
import { openApiDeps } from '../src/deps.js'
import type { Redis } from 'ioredis'
import type postgres from 'postgres'
import { redisReady } from '@parley/queue'
import { generateApiKey } from '../src/plugins/auth.js'
import { SESSION_STATE_CHANNEL } from '../src/plugins/session-states.js'
import { TEST_DATABASE_URL, TEST_JWT_SECRET, TEST_REDIS_URL, TEST_TOKEN_KEYS, testPrefix, uniq } from '../../../test/env.js'

export const PASSWORD = 'correct horse battery'
let passwordHash: Promise<string> | undefined

/** Test configuration; `env` overrides any variable (as strings, like the real environment). */
export function testConfig (env: Record<string, string | undefined> = {}): ApiConfig {
  return loadConfig(ApiConfigSchema, {
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    JWT_SECRET: TEST_JWT_SECRET,
    TOKEN_ENCRYPTION_KEYS: TEST_TOKEN_KEYS,
    QUEUE_PREFIX: testPrefix(),
    MATTERMOST_URL: 'http://127.0.0.1:1',
    MATTERMOST_NOTIFICATION_CHANNEL_ID: 'testchannelid',
    LOG_LEVEL: 'silent',
    ...env
  })
}

/** `appOpts` go to Fastify (e.g. a `logger` writing to a stream, to inspect logs). */
export async function build (t: Test, env: Record<string, string | undefined> = {}, appOpts: FastifyServerOptions = {}) {
  const config = testConfig(env)
  const { deps, sql, close } = await openApiDeps(config, { poolSize: 5 })
  const app = await buildApp(deps, appOpts)
  t.teardown(async () => {
    await app.close()
    await close({ obliterate: true })
  })
  const { db, redis, queues } = deps

  /** Inserts a fresh user (password `PASSWORD`). */
  async function createUser (fields: Partial<User> = {}): Promise<User> {
    passwordHash ??= hashPassword(PASSWORD)
    return insertUser(db, { username: `u${uniq()}`, displayName: 'Test User', passwordHash: await passwordHash, ...fields })
  }
  /** A session JWT for `user` (as login would give). */
  const tokenFor = (user: User) => app.signSession(user).token
  /** A fresh admin and its bearer header. */
  async function admin () {
    const user = await createUser({ role: 'admin' })
    return { user, headers: { authorization: `Bearer ${tokenFor(user)}` } }
  }
  /** A fresh API key with `scopes` and its bearer header. */
  async function apiKey (scopes: string[]) {
    const { key, keyHash, keyPrefix } = generateApiKey()
    const row = await insertApiKey(db, { name: `k${uniq()}`, scopes, keyHash, keyPrefix, createdBy: null })
    return { id: row.id, key, headers: { authorization: `Bearer ${key}` } }
  }
  /**
   * Runs `write` in a transaction of the test's own (as a worker, the CLI or psql would change users,
   * memberships or Mattermost mappings) and resolves once Postgres's notification of that
   * transaction reached this app. The app listens on the same connection and its listener runs
   * first, so its session-state cache has been emptied by then. `write` must touch a table with
   * the session-state trigger (drizzle/0006_session_state_notify.sql).
   */
  async function externalChange (write: (tx: postgres.TransactionSql) => Promise<unknown>) {
    const seen = new Set<string>()
    let waiting: { xid: string, resolve: () => void } | undefined
    const { unlisten } = await sql.listen(SESSION_STATE_CHANNEL, (xid) => {
      seen.add(xid)
      if (waiting?.xid === xid) waiting.resolve()
    })
    try {
      const xid = await sql.begin(async (tx) => {
        await write(tx)
        return (await tx`select pg_current_xact_id()::text as xid`)[0].xid as string
      })
      if (!seen.has(xid)) {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no ${SESSION_STATE_CHANNEL} notification for transaction ${xid} within 5 s: does the write touch a table with the trigger?`)), 5_000)
          waiting = { xid, resolve: () => { clearTimeout(timer); resolve() } }
        })
      }
    } finally {
      await unlisten()
    }
  }
  return { app, db, sql, redis, config, queues, createUser, tokenFor, admin, apiKey, externalChange }
}

/** Reconnects a Redis connection a test dropped (ioredis may already be reconnecting by itself). */
export async function reconnectRedis (redis: Redis): Promise<void> {
  if (redis.status === 'end' || redis.status === 'close') await redis.connect().catch(() => {})
  await redisReady(redis)
}

/** Polls `fn` every 25 ms until it returns a value (not undefined). */
export async function until<T> (fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise(r => setTimeout(r, 25))
  }
}
