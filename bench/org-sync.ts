/**
 * `npm run bench:org-sync` — organisation → Mattermost team sync (issue 4) at 10,000 members.
 *
 * An org of N = 10,000 members whose Mattermost users exist (mapped in `mattermost_accounts`),
 * the Mattermost simulator with 5 ms latency per call, the real `org-sync` queue and worker
 * (in-process `startWorkers`) on a database of its own:
 *   1. initial sync into an empty team (only the bot that created it),
 *   2. a no-op re-sync,
 *   3. a re-sync after 100 joins and 100 leaves.
 * Each prints the Mattermost calls (counted by the simulator) and the wall time from enqueue to
 * the finished run. Targets: initial ≤ ⌈N/256⌉ + 5 calls; no-op ≤ ⌈N/200⌉ + 2 calls and ≤ 3 s;
 * change ≤ ⌈N/200⌉ + 105 calls.
 *
 * Baseline in the same run: the naive per-member approach — one membership check per member
 * (`GET /teams/{team_id}/members/{user_id}`), adding each missing one with
 * `POST /teams/{team_id}/members` — at 10 requests in flight, for the initial sync (into a second
 * empty team) and the no-op; the ratios of calls and of wall time are printed.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { pino } from 'pino'
import postgres from 'postgres'
import { QueueEvents } from 'bullmq'
import { WorkerConfigSchema, loadConfig } from '@parley/config'
import { createDb, createTokenCipher, runMigrations } from '@parley/db'
import { createMattermostClient, type MattermostClient } from '@parley/mattermost'
import { startSimulator } from '@parley/mattermost-sim'
import { ORG_SYNC_QUEUE, createNotificationsQueue, createOrgSyncQueue, enqueueOrgSync, workerConnection } from '@parley/queue'
import { startWorkers } from '../apps/worker/src/workers.js'
import { REDIS_URL, freshDatabase, report, round } from './lib.js'

const N = Number(process.env.BENCH_MEMBERS ?? 10_000)
const CHANGES = 100
const LATENCY_MS = 5
const NAIVE_IN_FLIGHT = 10

const dbUrl = await freshDatabase('parley_bench_org_sync')
await runMigrations(dbUrl)
const sql = postgres(dbUrl, { max: 4, onnotice: () => {} })
const prefix = `{bench-orgsync-${randomBytes(3).toString('hex')}}`

console.log(`seeding ${N} members (Parley users, Mattermost users, mappings) and the simulator (${LATENCY_MS} ms latency)`)
const sim = await startSimulator({ port: 0, latencyMs: 0, config: { MaxUsersPerTeam: N * 3, EnableUserAccessTokens: true } })
const bot = sim.createBot({ username: 'parley-bench-admin', roles: 'system_admin system_user' })
const tag = randomBytes(2).toString('hex')

/** Creates `n` Parley users with Mattermost users and mappings; @returns their ids. */
async function seedUsers (n: number, label: string): Promise<Array<{ userId: string, mmUserId: string }>> {
  const rows = Array.from({ length: n }, (_, i) => {
    const username = `${label}${tag}${i}`
    const mm = sim.createUser({ username: `mm${username}` })
    return { userId: randomUUID(), username, mmUserId: mm.id, mmUsername: mm.username, mmEmail: mm.email }
  })
  for (let i = 0; i < rows.length; i += 2_000) {
    const chunk = rows.slice(i, i + 2_000)
    await sql`insert into users ${sql(chunk.map(r => ({ id: r.userId, username: r.username, display_name: r.username })))}`
    await sql`insert into mattermost_accounts ${sql(chunk.map(r => ({ user_id: r.userId, mm_user_id: r.mmUserId, mm_username: r.mmUsername, mm_email: r.mmEmail })))}`
  }
  return rows.map(r => ({ userId: r.userId, mmUserId: r.mmUserId }))
}
async function addToOrg (orgId: string, members: Array<{ userId: string }>) {
  for (let i = 0; i < members.length; i += 2_000) {
    await sql`insert into org_members ${sql(members.slice(i, i + 2_000).map(m => ({ org_id: orgId, user_id: m.userId })))}`
  }
}

const members = await seedUsers(N, 'm')
const joiners = await seedUsers(CHANGES, 'j')
const [org] = await sql<Array<{ id: string }>>`insert into organizations (name, slug) values ('Bench Org', ${`bench-${tag}`}) returning id`
await addToOrg(org.id, members)
const team = sim.createTeam({ name: `bench-${tag}`, displayName: 'Bench', type: 'I' })
sim.addTeamMember(team.id, bot.user.id) // the bot created the team: its first member
await sql`insert into mattermost_teams (org_id, mm_team_id, team_name) values (${org.id}, ${team.id}, ${team.name})`
sim.faults.latencyMs = LATENCY_MS

// The real worker, in-process, with the org-sync queue.
const config = loadConfig(WorkerConfigSchema, {
  DATABASE_URL: dbUrl, REDIS_URL, QUEUE_PREFIX: prefix, MATTERMOST_URL: sim.url, MATTERMOST_BOT_TOKEN: bot.token,
  TOKEN_ENCRYPTION_KEYS: `b:${randomBytes(32).toString('base64')}`, LOG_LEVEL: 'silent'
})
const { db, close: closeDb } = createDb(dbUrl, { max: 10 })
const redis = workerConnection(REDIS_URL)
const mattermost = createMattermostClient({ baseUrl: sim.url, token: bot.token })
const notifications = createNotificationsQueue(redis, prefix)
const running = await startWorkers({ config, db, redis, prefix, mattermost, tokenCipher: createTokenCipher(config.TOKEN_ENCRYPTION_KEYS!), logger: pino({ level: 'silent' }), queues: { notifications } },
  { listener: false, schedulers: false })
const queue = createOrgSyncQueue(redis, prefix)
const eventsConnection = workerConnection(REDIS_URL)
const events = new QueueEvents(ORG_SYNC_QUEUE, { connection: eventsConnection, prefix })
await events.waitUntilReady()

/** One sync through the queue: Mattermost calls and wall time (enqueue → finished run). */
async function syncOnce (label: string) {
  sim.resetCalls()
  const start = performance.now()
  const { jobId } = await enqueueOrgSync(queue, org.id, 'manual')
  const job = (await queue.getJob(jobId))!
  const result = await job.waitUntilFinished(events, 180_000) as { added: number, removed: number, unchanged: number, synced: number, failed: number }
  const ms = performance.now() - start
  const calls = sim.callCount()
  console.log(`${label}: ${calls} Mattermost calls, ${round(ms / 1000, 2)} s — added ${result.added}, removed ${result.removed}, unchanged ${result.unchanged}, synced ${result.synced}, failed ${result.failed}`)
  return { calls, ms, result }
}

/** The naive approach: one membership check per member, a single add for each missing one. */
async function naive (label: string, mm: MattermostClient, teamId: string, ids: string[]) {
  sim.resetCalls()
  const start = performance.now()
  let next = 0
  let added = 0
  await Promise.all(Array.from({ length: NAIVE_IN_FLIGHT }, async () => {
    while (next < ids.length) {
      const id = ids[next++]
      try {
        // The client has no single-member read; the naive check is GET /teams/{team_id}/members/{user_id}.
        const res = await fetch(`${sim.url}/api/v4/teams/${teamId}/members/${id}`, { headers: { authorization: `Bearer ${bot.token}` } })
        await res.arrayBuffer()
        if (res.status === 404) { await mm.addTeamMember(teamId, id); added++ }
      } catch (err) { throw new Error(`naive ${label}: ${(err as Error).message}`) }
    }
  }))
  const ms = performance.now() - start
  const calls = sim.callCount()
  console.log(`naive ${label}: ${calls} Mattermost calls, ${round(ms / 1000, 2)} s (${NAIVE_IN_FLIGHT} in flight, ${added} added)`)
  return { calls, ms }
}

console.log(`\norg of ${N} members, team ${team.name}`)
const initial = await syncOnce('1. initial sync into an empty team')
const noop = await syncOnce('2. no-op re-sync')
await addToOrg(org.id, joiners)
await sql`delete from org_members where org_id = ${org.id} and user_id in ${sql(members.slice(0, CHANGES).map(m => m.userId))}`
const change = await syncOnce(`3. re-sync after ${CHANGES} joins and ${CHANGES} leaves`)

console.log('\nbaseline: the naive per-member approach')
const naiveTeam = sim.createTeam({ name: `naive-${tag}`, displayName: 'Naive', type: 'I' })
const orgIds = [...members.slice(CHANGES), ...joiners].map(m => m.mmUserId)
const naiveInitial = await naive('initial (checks + single adds, empty team)', mattermost, naiveTeam.id, orgIds)
const naiveNoop = await naive('no-op (checks only)', mattermost, naiveTeam.id, orgIds)

const teamNow = new Set(sim.getTeamMembers(team.id))
const correct = orgIds.every(id => teamNow.has(id)) && members.slice(0, CHANGES).every(m => !teamNow.has(m.mmUserId)) && teamNow.has(bot.user.id) && teamNow.size === N + 1

const targets = {
  initial_calls: `<= ${Math.ceil(N / 256) + 5}`,
  noop_calls: `<= ${Math.ceil(N / 200) + 2}`,
  noop_s: '<= 3',
  change_calls: `<= ${Math.ceil(N / 200) + 105}`,
  team_correct: 'true'
}
const figures = {
  members: N,
  initial_calls: initial.calls,
  initial_s: round(initial.ms / 1000, 2),
  noop_calls: noop.calls,
  noop_s: round(noop.ms / 1000, 2),
  change_calls: change.calls,
  change_s: round(change.ms / 1000, 2),
  naive_initial_calls: naiveInitial.calls,
  naive_initial_s: round(naiveInitial.ms / 1000, 2),
  naive_noop_calls: naiveNoop.calls,
  naive_noop_s: round(naiveNoop.ms / 1000, 2),
  initial_calls_ratio_naive_over_sync: round(naiveInitial.calls / initial.calls, 1),
  initial_time_ratio_naive_over_sync: round(naiveInitial.ms / initial.ms, 1),
  noop_calls_ratio_naive_over_sync: round(naiveNoop.calls / noop.calls, 1),
  noop_time_ratio_naive_over_sync: round(naiveNoop.ms / noop.ms, 1),
  team_correct: String(correct)
}
const pass = initial.calls <= Math.ceil(N / 256) + 5 && noop.calls <= Math.ceil(N / 200) + 2 && noop.ms <= 3_000 &&
  change.calls <= Math.ceil(N / 200) + 105 && correct && initial.result.failed === 0 && change.result.failed === 0

await running.close()
await events.close()
await eventsConnection.quit()
await queue.obliterate({ force: true }).catch(() => {})
await queue.close()
await notifications.obliterate({ force: true }).catch(() => {})
await notifications.close()
await redis.quit()
await closeDb()
await sql.end()
await sim.close()
console.log('')
report('org-sync', figures, targets, pass)
process.exit(0)
