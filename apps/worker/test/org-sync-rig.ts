/**
 * Test rig for organisation → Mattermost team sync (issue 4): the Mattermost simulator (OpenAPI
 * validation on) with an admin bot, the API built in-process, and a worker started in-process with
 * `startWorkers` (every queue, job schedulers off unless asked) on real Postgres and Redis under
 * the API's fresh queue prefix.
 */
import type { Test } from 'tap'
import { WorkerConfigSchema, loadConfig, type WorkerConfig } from '@parley/config'
import { insertMattermostTeam, insertOrganization, upsertMattermostAccount, upsertOrgMember } from '@parley/db'
import { startSimulator, type SimConfig, type Simulator } from '@parley/mattermost-sim'
import { build } from '../../api/test/helper.js'
import type { StartOptions } from '../src/workers.js'
import { runWorker } from './harness.js'
import { TEST_DATABASE_URL, TEST_REDIS_URL, TEST_TOKEN_KEYS, uniq } from '../../../test/env.js'

export interface OrgSyncRigOptions {
  sim?: Partial<SimConfig>
  latencyMs?: number
  apiEnv?: Record<string, string>
  workerEnv?: Record<string, string>
  /** false: start no worker now (call `startWorker()` later). */
  worker?: (StartOptions & { env?: Record<string, string> }) | false
}

export async function orgSyncRig (t: Test, opts: OrgSyncRigOptions = {}) {
  const sim: Simulator = await startSimulator({ port: 0, validate: true, latencyMs: opts.latencyMs ?? 0, config: { EnableUserAccessTokens: true, MaxUsersPerTeam: 10_000, ...opts.sim } })
  t.teardown(() => sim.close())
  const bot = sim.createBot({ username: `parley-admin-${uniq()}`, roles: 'system_admin system_user' })
  const api = await build(t, { MATTERMOST_URL: sim.url, ORG_SYNC_WAIT_MS: '15000', ORG_SYNC_DEBOUNCE_MS: '60000', ...opts.apiEnv })
  const prefix = api.config.QUEUE_PREFIX

  const workerConfig = (env: Record<string, string> = {}): WorkerConfig => loadConfig(WorkerConfigSchema, {
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: prefix,
    TOKEN_ENCRYPTION_KEYS: TEST_TOKEN_KEYS,
    MATTERMOST_URL: sim.url,
    MATTERMOST_BOT_TOKEN: bot.token,
    WORKER_CONCURRENCY: '10',
    LOG_LEVEL: 'silent',
    ...opts.workerEnv,
    ...env
  })

  /** Starts a worker in-process (closed at teardown). */
  async function startWorker (o: StartOptions & { env?: Record<string, string> } = {}) {
    return runWorker(t, workerConfig(o.env), { listener: false, lockDurationMs: 2_000, ...o }, { timeoutMs: 5_000 })
  }
  const worker = opts.worker === false ? undefined : await startWorker(opts.worker)

  /** A fresh org; with `team`, its Mattermost team exists already (created by the bot, who is its first member). */
  async function org ({ team = true }: { team?: boolean } = {}) {
    const o = (await insertOrganization(api.db, { name: 'Acme', slug: `acme-${uniq()}` }))!
    let mmTeamId: string | undefined
    if (team) {
      const created = sim.createTeam({ name: `acme-${uniq()}`, displayName: 'Acme', type: 'I' })
      sim.addTeamMember(created.id, bot.user.id)
      await insertMattermostTeam(api.db, { orgId: o.id, mmTeamId: created.id, teamName: created.name })
      mmTeamId = created.id
    }
    return { id: o.id, mmTeamId }
  }

  /** A Parley user in `orgId` whose Mattermost user exists and is mapped (Parley-provisioned). */
  async function member (orgId: string, role: 'member' | 'admin' = 'member') {
    const user = await api.createUser()
    const mm = sim.createUser({ username: `mm${uniq()}` })
    await upsertMattermostAccount(api.db, { userId: user.id, mmUserId: mm.id, mmUsername: mm.username, mmEmail: mm.email })
    await upsertOrgMember(api.db, orgId, user.id, role)
    return { user, mmUserId: mm.id, headers: { authorization: `Bearer ${api.tokenFor(user)}` } }
  }

  /** A Parley-provisioned user who is NOT an org member (e.g. left the org). */
  async function formerMember () {
    const user = await api.createUser()
    const mm = sim.createUser({ username: `mm${uniq()}` })
    await upsertMattermostAccount(api.db, { userId: user.id, mmUserId: mm.id, mmUsername: mm.username, mmEmail: mm.email })
    return { user, mmUserId: mm.id }
  }

  const headersOf = (h: { headers: Record<string, string> }) => h.headers
  const admin = await api.admin()
  const post = (orgId: string, headers: Record<string, string> = admin.headers) =>
    api.app.inject({ method: 'POST', url: `/api/v1/mattermost/sync-org/${orgId}`, headers })
  const get = (url: string, headers: Record<string, string> = admin.headers) => api.app.inject({ method: 'GET', url, headers })
  /** Team member ids in the simulator. */
  const teamMembers = (mmTeamId: string) => new Set(sim.getTeamMembers(mmTeamId))

  return { sim, bot, api, prefix, worker, startWorker, workerConfig, org, member, formerMember, admin, post, get, teamMembers, headersOf }
}

export { until } from './harness.js'
