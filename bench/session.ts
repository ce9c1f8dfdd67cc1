/**
 * `npm run bench:session` — `POST /api/v1/mattermost/session`, API and worker in their own processes,
 * the simulator with 20 ms latency on every Mattermost call.
 *
 * (a) Warm: a provisioned user asks for its session again and again (answered from the API's
 *     session-state cache, which Postgres notifications keep right; no job, no Mattermost call),
 *     beside `GET /healthz` in the same run at the same concurrency. Targets: rate ≥ 0.3 × healthz;
 *     p99 ≤ 15 ms.
 * (b) Cold: 1,000 members of one fresh organisation ask for their first session, 50 at a time:
 *     wall time, and Mattermost calls per user (create user, issue token, add to team; the team once).
 *     Target ≤ 5 calls per user. Reference: the ideal wall time if each user cost exactly 3
 *     sequential 20 ms calls at concurrency 50.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import autocannon from 'autocannon'
import postgres from 'postgres'
import { runMigrations } from '../packages/db/src/migrate.js'
import { REDIS_URL, buildDist, freePort, freshDatabase, percentile, report, round, startProcess, startServer } from './lib.js'

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 20)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const COLD_USERS = Number(process.env.BENCH_COLD_USERS ?? 1000)
const COLD_CONCURRENCY = 50
const LATENCY_MS = 20

const dbUrl = await freshDatabase('parley_bench_session')
await runMigrations(dbUrl)
const sql = postgres(dbUrl, { max: 5, onnotice: () => {} })
const runId = randomBytes(3).toString('hex')
const prefix = `{bench-session-${runId}}`

console.log(`starting the simulator (${LATENCY_MS} ms latency), the API and the worker`)
const sim = await startProcess('packages/mattermost-sim/src/main.ts', {}, () => true, ['--port', '0', '--seed-demo', '--latency', String(LATENCY_MS), '--config', JSON.stringify({ MaxUsersPerTeam: 100_000 })])
const seed = JSON.parse(sim.firstLine) as { url: string, botToken: string }
const apiPort = await freePort()
const api = `http://127.0.0.1:${apiPort}`
const common = {
  DATABASE_URL: dbUrl, REDIS_URL, QUEUE_PREFIX: prefix, MATTERMOST_URL: seed.url,
  TOKEN_ENCRYPTION_KEYS: `b:${randomBytes(32).toString('base64')}`, LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn', NODE_ENV: 'production'
}
const adminPassword = randomBytes(12).toString('hex')
buildDist() // the API and worker run as in production (bundles, start:* node flags)
const apiProc = await startServer('npm:start:api', { ...common, PORT: String(apiPort), HOST: '127.0.0.1', JWT_SECRET: randomBytes(32).toString('hex'), PARLEY_ADMIN_USERNAME: 'admin', PARLEY_ADMIN_PASSWORD: adminPassword, SESSION_WAIT_TIMEOUT_MS: '60000' }, `${api}/readyz`)
const worker = await startProcess('npm:start:worker', { ...common, LOG_LEVEL: 'info', MATTERMOST_BOT_TOKEN: seed.botToken, WORKER_CONCURRENCY: String(COLD_CONCURRENCY) }, (line) => line.includes('worker started'))

const json = async (path: string, init: RequestInit & { token?: string } = {}) => {
  const res = await fetch(`${api}${path}`, { ...init, headers: { ...(init.body ? { 'content-type': 'application/json' } : {}), ...(init.token ? { authorization: `Bearer ${init.token}` } : {}) } })
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${await res.text()}`)
  return res.json() as Promise<any>
}
const sim$ = (path: string, init: RequestInit = {}) => fetch(`${seed.url}${path}`, { ...init, headers: { 'content-type': 'application/json' } }).then(r => r.json() as Promise<any>)

const { token: adminJwt } = await json('/api/auth/login', { method: 'POST', body: JSON.stringify({ username: 'admin', password: adminPassword }) })
const { key } = await json('/api/admin/api-keys', { method: 'POST', token: adminJwt, body: JSON.stringify({ name: 'bench', scopes: ['directory:write'] }) })

/** Inserts `n` users as members of `orgId` and returns a session JWT for each (through the directory API). */
async function members (orgId: string, n: number): Promise<string[]> {
  const rows = Array.from({ length: n }, (_, i) => ({ id: randomUUID(), username: `b${runId}u${i}${orgId.slice(0, 4)}`, display_name: `Bench ${i}`, external_id: `bench-${runId}-${orgId.slice(0, 8)}-${i}` }))
  for (let i = 0; i < rows.length; i += 500) {
    await sql`insert into users ${sql(rows.slice(i, i + 500))}`
    await sql`insert into org_members ${sql(rows.slice(i, i + 500).map(r => ({ org_id: orgId, user_id: r.id, role: 'member' })))}`
  }
  const tokens: string[] = []
  for (let i = 0; i < rows.length; i += 50) {
    tokens.push(...await Promise.all(rows.slice(i, i + 50).map(async r => (await json(`/api/directory/users/${r.external_id}/sessions`, { method: 'POST', token: key })).token as string)))
  }
  return tokens
}

// ---------- (a) warm ----------
const warmOrg = await json('/api/orgs', { method: 'POST', token: key, body: JSON.stringify({ name: 'Warm Org', slug: `warm-${runId}` }) })
const [warmJwt] = await members(warmOrg.id, 1)
const firstSession = await json('/api/v1/mattermost/session', { method: 'POST', token: warmJwt, body: JSON.stringify({ organizationId: warmOrg.id }) })
console.log(`  first (cold) session for the warm user: team ${firstSession.teamName}`)
const callsBeforeWarm = (await sim$('/__sim/calls')).total as number

const cannon = (opts: autocannon.Options) => new Promise<autocannon.Result>((resolve, reject) =>
  autocannon({ connections: CONNECTIONS, duration: SECONDS, ...opts }, (err, result) => err ? reject(err) : resolve(result)))
console.log(`(a) GET /healthz, ${CONNECTIONS} connections, ${SECONDS} s`)
const health = await cannon({ url: `${api}/healthz` })
console.log(`(a) warm POST /api/v1/mattermost/session, ${CONNECTIONS} connections, ${SECONDS} s`)
const warm = await cannon({
  url: `${api}/api/v1/mattermost/session`,
  requests: [{ method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${warmJwt}` }, body: JSON.stringify({ organizationId: warmOrg.id }) }]
})
const warmMattermostCalls = ((await sim$('/__sim/calls')).total as number) - callsBeforeWarm

// ---------- (b) cold ----------
console.log(`(b) ${COLD_USERS} first sessions in one fresh organisation, ${COLD_CONCURRENCY} at a time`)
const coldOrg = await json('/api/orgs', { method: 'POST', token: key, body: JSON.stringify({ name: 'Cold Org', slug: `cold-${runId}` }) })
const coldJwts = await members(coldOrg.id, COLD_USERS)
await sim$('/__sim/calls/reset', { method: 'POST', body: '{}' })
const coldLatencies: number[] = []
let coldFailures = 0
const t0 = performance.now()
let next = 0
await Promise.all(Array.from({ length: COLD_CONCURRENCY }, async () => {
  while (next < coldJwts.length) {
    const jwt = coldJwts[next++]
    const s = performance.now()
    const res = await fetch(`${api}/api/v1/mattermost/session`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${jwt}` }, body: JSON.stringify({ organizationId: coldOrg.id }) })
    await res.arrayBuffer()
    if (res.status !== 200) coldFailures++
    coldLatencies.push(performance.now() - s)
  }
}))
const coldSeconds = (performance.now() - t0) / 1000
const coldCalls = await sim$('/__sim/calls') as { total: number, routes: Record<string, number> }
console.log('  mattermost calls by route:', JSON.stringify(coldCalls.routes))

await worker.stop()
await apiProc.stop()
await sim.stop()
await sql.end()

const warmRate = warm.requests.average
const figures = {
  'a.healthz_rps': round(health.requests.average, 0),
  'a.healthz_p99_ms': health.latency.p99,
  'a.session_warm_rps': round(warmRate, 0),
  'a.session_warm_p50_ms': warm.latency.p50,
  'a.session_warm_p99_ms': warm.latency.p99,
  'a.session_warm_non2xx': warm.non2xx,
  'a.session_warm_mattermost_calls': warmMattermostCalls,
  'a.session_vs_healthz_rate': round(warmRate / health.requests.average),
  'b.cold_users': COLD_USERS,
  'b.cold_wall_s': round(coldSeconds, 2),
  'b.cold_ideal_wall_s': round(COLD_USERS * 3 * LATENCY_MS / COLD_CONCURRENCY / 1000, 2),
  'b.cold_sessions_per_s': round(COLD_USERS / coldSeconds, 0),
  'b.cold_p50_ms': round(percentile(coldLatencies, 50), 0),
  'b.cold_p99_ms': round(percentile(coldLatencies, 99), 0),
  'b.cold_failures': coldFailures,
  'b.mattermost_calls_per_user': round(coldCalls.total / COLD_USERS, 3)
}
const targets = {
  'a.session_vs_healthz_rate': '>= 0.3',
  'a.session_warm_p99_ms': '<= 15',
  'a.session_warm_mattermost_calls': '== 0',
  'b.cold_failures': '== 0',
  'b.mattermost_calls_per_user': '<= 5'
}
const pass = figures['a.session_vs_healthz_rate'] >= 0.3 && warm.latency.p99 <= 15 && warm.non2xx === 0 && warmMattermostCalls === 0 &&
  coldFailures === 0 && figures['b.mattermost_calls_per_user'] <= 5
report('session', figures, targets, pass)
process.exit(0)
