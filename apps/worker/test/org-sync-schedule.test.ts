/**
 * Org sync (issue 4): the job scheduler runs a full sync of every org every ORG_SYNC_INTERVAL.
 * On a database of its own: the scheduled fan-out acts on every organisation, so it must not see
 * other test files' orgs.
 */
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { sql } from 'drizzle-orm'
import { pino } from 'pino'
import { WorkerConfigSchema, loadConfig } from '@parley/config'
import {
  createDb, createTokenCipher, insertMattermostTeam, insertOrganization, insertUser, listOrgSyncRuns, runMigrations, upsertMattermostAccount, upsertOrgMember
} from '@parley/db'
import { createMattermostClient } from '@parley/mattermost'
import { startSimulator } from '@parley/mattermost-sim'
import { createNotificationsQueue, createOrgSyncQueue, workerConnection } from '@parley/queue'
import { startWorkers } from '../src/workers.js'
import { TEST_REDIS_URL, TEST_TOKEN_KEYS, privateTestDatabase, testPrefix, uniq } from '../../../test/env.js'
import { until } from './org-sync-rig.js'

t.test('the job scheduler syncs every org on its interval, without any request', async (t) => {
  const url = privateTestDatabase(t, 'orgsync')
  await runMigrations(url)
  const { db, close } = createDb(url, { max: 5 })
  const sim = await startSimulator({ port: 0, validate: true, config: { MaxUsersPerTeam: 1000 } })
  const prefix = testPrefix()
  t.teardown(async () => {
    await close()
    await sim.close()
  })
  const bot = sim.createBot({ username: `bot${uniq()}`, roles: 'system_admin system_user' })

  // Two orgs with teams; members whose Mattermost users exist.
  const orgs = []
  for (let i = 0; i < 2; i++) {
    const org = (await insertOrganization(db, { name: `Org ${i}`, slug: `org-${uniq()}` }))!
    const team = sim.createTeam({ name: `team-${uniq()}`, displayName: `Org ${i}`, type: 'I' })
    sim.addTeamMember(team.id, bot.user.id)
    await insertMattermostTeam(db, { orgId: org.id, mmTeamId: team.id, teamName: team.name })
    const mmIds: string[] = []
    for (let j = 0; j < 3; j++) {
      const user = await insertUser(db, { username: `u${uniq()}`, displayName: 'U' })
      const mm = sim.createUser({ username: `mm${uniq()}` })
      await upsertMattermostAccount(db, { userId: user.id, mmUserId: mm.id, mmUsername: mm.username, mmEmail: mm.email })
      await upsertOrgMember(db, org.id, user.id, 'member')
      mmIds.push(mm.id)
    }
    orgs.push({ org, team, mmIds })
  }

  // A finished run from 40 days ago: the scheduled fan-out prunes it (RUN_RETENTION_DAYS = 30).
  const oldRunId = randomUUID()
  await db.execute(sql`insert into org_sync_runs (id, org_id, trigger, status, created_at) values (${oldRunId}, ${orgs[0].org.id}, 'schedule', 'succeeded', now() - interval '40 days')`)

  const config = loadConfig(WorkerConfigSchema, {
    DATABASE_URL: url, REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: prefix, TOKEN_ENCRYPTION_KEYS: TEST_TOKEN_KEYS,
    MATTERMOST_URL: sim.url, MATTERMOST_BOT_TOKEN: bot.token, LOG_LEVEL: 'silent', ORG_SYNC_INTERVAL: '400'
  })
  const redis = workerConnection(TEST_REDIS_URL)
  const notifications = createNotificationsQueue(redis, prefix)
  const running = await startWorkers({
    config, db, redis, prefix, logger: pino({ level: 'silent' }), tokenCipher: createTokenCipher(TEST_TOKEN_KEYS), queues: { notifications },
    mattermost: createMattermostClient({ baseUrl: sim.url, token: bot.token, retryBaseMs: 20 })
  }, { listener: false, schedulers: false, orgSyncScheduler: true })
  const orgSync = createOrgSyncQueue(redis, prefix)
  t.teardown(async () => {
    await running.close()
    await orgSync.obliterate({ force: true }).catch(() => {})
    await orgSync.close()
    await notifications.obliterate({ force: true }).catch(() => {})
    await notifications.close()
    await redis.quit()
  })

  const schedulers = await orgSync.getJobSchedulers()
  t.match(schedulers, [{ key: 'org-sync-all', every: 400 }], 'scheduler registered with ORG_SYNC_INTERVAL')
  for (const { team, mmIds } of orgs) {
    await until(() => mmIds.every(id => sim.getTeamMembers(team.id).includes(id)) || undefined, 10_000)
    t.pass(`team ${team.name} holds its org's members`)
  }
  // A member leaves between two scheduled runs: the next run removes them.
  const [first] = orgs
  const leaver = first.mmIds[0]
  await db.execute(sql`delete from org_members where org_id = ${first.org.id} and user_id = (select user_id from mattermost_accounts where mm_user_id = ${leaver})`)
  await until(() => sim.getTeamMembers(first.team.id).includes(leaver) ? undefined : true, 10_000)
  t.pass('a later scheduled run removed the leaver')
  const runs = await listOrgSyncRuns(db, first.org.id, { limit: 50, offset: 0 })
  t.ok(runs.total >= 2, `${runs.total} scheduled runs`)
  t.ok(runs.items.every(r => r.trigger === 'schedule'), 'all triggered by the schedule')
  t.notOk(runs.items.some(r => r.id === oldRunId), 'run records older than 30 days pruned')
  t.same(sim.specErrors(), [])
})
