/**
 * Test rig for the Mattermost routes: the real API (helper `build`), a Mattermost simulator with an
 * admin bot, and a real BullMQ worker running the `mattermost` processor in-process against the
 * test's queue prefix. Worker logs are captured (for the "token never logged" assertions).
 */
import { Writable } from 'node:stream'
import { Worker } from 'bullmq'
import { pino } from 'pino'
import type { Test } from 'tap'
import { WorkerConfigSchema, loadConfig } from '@parley/config'
import { createDb, createTokenCipher, insertOrganization, upsertOrgMember, type User } from '@parley/db'
import { createMattermostClient } from '@parley/mattermost'
import { startSimulator, type SimConfig } from '@parley/mattermost-sim'
import { MATTERMOST_QUEUE, workerConnection } from '@parley/queue'
import { mattermostProcessor } from '../../../worker/src/jobs/mattermost.js'
import { build } from '../helper.js'
import { redactPaths } from '../../src/app.js'
import { TEST_DATABASE_URL, TEST_REDIS_URL, TEST_TOKEN_KEYS, uniq } from '../../../../test/env.js'

export interface RigOptions {
  /** API environment overrides. */
  env?: Record<string, string | undefined>
  /** Worker environment overrides. */
  workerEnv?: Record<string, string | undefined>
  sim?: Partial<SimConfig>
  latencyMs?: number
  /** Start no worker (jobs wait). */
  noWorker?: boolean
  /** Have the simulator check every request and response body against the OpenAPI spec. */
  validate?: boolean
}

export async function rig (t: Test, opts: RigOptions = {}) {
  const sim = await startSimulator({ config: { EnableUserAccessTokens: true, MaxUsersPerTeam: 100_000, ...opts.sim }, latencyMs: opts.latencyMs ?? 0, validate: opts.validate ?? false })
  const { user: adminUser, token: adminToken } = sim.createBot({ username: `parley-admin-${uniq()}`, roles: 'system_admin system_user' })
  const apiLogs: string[] = []
  const apiLogger = { level: 'trace', redact: { paths: redactPaths, censor: '[redacted]' }, stream: { write: (line: string) => { apiLogs.push(line) } } }
  const h = await build(t, { MATTERMOST_URL: sim.url, ...opts.env }, { logger: apiLogger })
  const prefix = h.config.QUEUE_PREFIX

  const logs: string[] = []
  const logger = pino({ level: 'trace' }, new Writable({ write (chunk, _enc, cb) { logs.push(String(chunk)); cb() } }))
  const workerConfig = loadConfig(WorkerConfigSchema, {
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: prefix,
    MATTERMOST_URL: sim.url,
    MATTERMOST_BOT_TOKEN: adminToken,
    TOKEN_ENCRYPTION_KEYS: TEST_TOKEN_KEYS,
    MATTERMOST_TEAM_DEFAULT_CHANNELS: 'general,random',
    ...opts.workerEnv
  })
  const dbHandle = createDb(TEST_DATABASE_URL, { max: 10 })
  const mattermost = createMattermostClient({ baseUrl: sim.url, token: adminToken, retryBaseMs: 20, maxRetries: 2, timeoutMs: 5_000, logger })
  const tokenCipher = workerConfig.TOKEN_ENCRYPTION_KEYS ? createTokenCipher(workerConfig.TOKEN_ENCRYPTION_KEYS) : undefined
  const connection = workerConnection(TEST_REDIS_URL)
  const worker = opts.noWorker
    ? undefined
    : new Worker(MATTERMOST_QUEUE, mattermostProcessor({ config: workerConfig, db: dbHandle.db, logger, mattermost, tokenCipher }), { connection, prefix, concurrency: 20 })
  t.teardown(async () => {
    await worker?.close()
    await connection.quit()
    await dbHandle.close()
    await sim.close()
  })

  /** A fresh organisation (slug unique unless given). */
  async function org (fields: { slug?: string, name?: string } = {}) {
    return (await insertOrganization(h.db, { name: fields.name ?? 'Acme Corp', slug: fields.slug ?? `acme-${uniq()}` }))!
  }
  /** A fresh user who is a member (or `role`) of `orgId`, and its bearer headers. */
  async function member (orgId: string, role: 'member' | 'admin' = 'member', fields: Partial<User> = {}) {
    const user = await h.createUser(fields)
    await upsertOrgMember(h.db, orgId, user.id, role)
    return { user, headers: { authorization: `Bearer ${h.tokenFor(user)}` } }
  }
  /** `POST /api/v1/mattermost/session`. */
  const session = (headers: Record<string, string>, organizationId: string) =>
    h.app.inject({ method: 'POST', url: '/api/v1/mattermost/session', headers, payload: { organizationId } })

  return { ...h, sim, adminUser, adminToken, worker, workerConfig, logs, apiLogs, org, member, session, mattermost }
}
